"""The bad-input corpus (tests/data/bad/, written by make_bad.py): every inbox exits 2 through
the real CLI and flow, names file, row and column, and keeps the rejected row in audit.quarantine
of the served warehouse. The valid base passes validation."""

from __future__ import annotations

import pytest

from warehouse import read_published

from .conftest import BAD

# kind → (table, source_file, row_number, column_name, value, message fragment) of the FIRST quarantine row
EXPECTED = {
    "missing_column": (
        "line_years",
        "reports/2021/line_years.csv",
        1,
        "verified_co2_t",
        None,
        "required column verified_co2_t (经核查二氧化碳排放量) is missing",
    ),
    "text_in_number": ("line_years", "reports/2021/line_years.csv", 3, "output", "十万", "not a number"),
    "negative_emissions": (
        "line_years",
        "reports/2020/line_years.csv",
        4,
        "verified_co2_t",
        "-20000.0000",
        "must be ≥ 0",
    ),
    "duplicate_key": (
        "line_years",
        "reports/2021/line_years.csv",
        4,
        "line_id",
        "B2-L2",
        "duplicate key (line_id, year) = (B2-L2, 2021)",
    ),
    "unknown_line": (
        "line_years",
        "reports/2021/line_years.csv",
        5,
        "line_id",
        "B2-L9",
        "unknown line B2-L9",
    ),
    "line_of_another_enterprise": (
        "line_years",
        "reports/2019/line_years.csv",
        4,
        "enterprise_id",
        "B1",
        "line B2-L2 belongs to enterprise B2, not B1",
    ),
    "production_days_over_year": (
        "line_years",
        "reports/2021/line_years.csv",
        4,
        "production_days",
        "366",
        "exceed the 365 days of 2021",
    ),
    "missing_base_year": (
        "lines",
        "lines.csv",
        3,
        "year",
        "2019",
        "line B2-L1 has no verified data for 2019 (a base year of compliance year 2021)",
    ),
    "unreadable_workbook": (
        "reports",
        "reports/2021/B3.xlsx",
        None,
        None,
        None,
        "cannot be read as an Excel workbook",
    ),
    "empty_file": ("reports", "reports/2021/enterprise_years.csv", None, None, None, "the file is empty"),
    "unreconciled_total": (
        "enterprise_years",
        "reports/2020/enterprise_years.csv",
        3,
        "verified_total_t",
        "81202.2500",
        "differs from the sum of its lines 81200.2500 by more than 1 t",
    ),
}


def test_corpus_is_complete():
    on_disk = {p.name for p in BAD.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert on_disk == set(EXPECTED) | set(READING_REJECTED) | set(READING_PASSES)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_bad_inbox_exits_2_and_names_the_row(kind, cli, tmp_path):
    table, source_file, row, column, value, fragment = EXPECTED[kind]
    wh = tmp_path / "wh.duckdb"
    result = cli("run", "--year", 2021, "--inbox", BAD / kind, "--warehouse", wh, "--as-of", "2024-01-01")
    assert result.exit_code == 2, result.output
    # one paragraph on stderr naming the file (and row and column when there is one)
    message = result.stderr
    assert message.startswith("Invalid input:") and message.count("\n") <= 1
    assert source_file in message and fragment in message
    if row is not None:
        assert f"row {row} column {column}" in message
    q = read_published(wh, "SELECT * FROM audit.quarantine ORDER BY seq")
    first = q.row(0, named=True)
    assert (
        first["table_name"],
        first["source_file"],
        first["row_number"],
        first["column_name"],
        first["value"],
    ) == (table, source_file, row, column, value)
    assert fragment in first["message"]
    runs = read_published(wh, "SELECT status FROM audit.pipeline_run")
    assert runs["status"].to_list() == ["invalid_input"]
    stages = dict(read_published(wh, "SELECT stage, status FROM audit.stage_run").iter_rows())
    assert stages == {
        "ingest": "succeeded",
        "validate": "failed",
        "baselines": "not_run",
        "allocate": "not_run",
        "clearance": "not_run",
        "publish": "not_run",
    }
    # nothing was published
    assert read_published(wh, "SELECT count(*) n FROM mart.allocation_line")["n"][0] == 0


# ---- reading: what real offices send (issue #14; make_bad.READING_KINDS) --------------------------
# kind → (table, source_file, sheet, row_number, column_name, value, message fragment) of the FIRST
# quarantine row; the one-paragraph message names the file (and sheet, row, column when given)
READING_REJECTED = {
    "hidden_sheet_only": (
        "reports",
        "reports/2021/line_years.xlsx",
        None,
        None,
        None,
        None,
        "the workbook's only data is on hidden sheet(s) '2021'",
    ),
    "ragged_row_short": (
        "line_years",
        "reports/2021/line_years.csv",
        None,
        4,
        "output",
        "B2,B2-L2,2021,20000,0",
        "the row has 5 fields, the header has 7: output, production_days missing",
    ),
    "ragged_row_thousands": (
        "line_years",
        "reports/2021/line_years.csv",
        None,
        3,
        "output",
        "B2,B2-L1,2021,60000,1200.25,100,000,340",
        "the row has 8 fields, the header has 7: probably an unquoted thousands separator in output ('100,000')",
    ),
    "excel_error_cells": (
        "line_years",
        "reports/2021/line_years.xlsx",
        "lines",
        2,
        "output",
        "=1000*1000",
        "cell F2 holds a formula that was never calculated",
    ),
    "unrecognised_sheet": (
        "reports",
        "reports/2021/B2.xlsx",
        "基本情况",
        1,
        None,
        None,
        "sheet '基本情况' is not recognised as a report (the workbook's sheets: '基本情况', '排放')",
    ),
    "unreadable_format": (
        "reports",
        "reports/2021/B3.pdf",
        None,
        None,
        None,
        None,
        ".pdf is not a data format",
    ),
    "misplaced_report": (
        "reports",
        "reports/B3.csv",
        None,
        None,
        None,
        None,
        "no table lives in this place",
    ),
}
# kinds read exactly like the valid base (same published rows), with what raw.files must say
READING_PASSES = {
    "hidden_draft_sheet": (
        "reports/2021/line_years.xlsx",
        "草稿",
        "not read: hidden sheets are never read as data; the visible sheet '2021' with the same table was read",
    ),
    "xls_report": ("reports/2021/B2.xls", "lines", None),
    "chinese_sheet_names": ("reports/2021/B2.xlsx", "生产线", None),
}
MART_QUERY = (
    "SELECT line_id, method, baseline, allocation_t FROM mart.allocation_line ORDER BY line_id",
    "SELECT enterprise_id, allocation_final_t, verified_emissions_t FROM mart.allocation_enterprise "
    "ORDER BY enterprise_id",
    "SELECT * FROM mart.cap_summary",
)


def _run(cli, inbox, wh):
    return cli("run", "--year", 2021, "--inbox", inbox, "--warehouse", wh, "--as-of", "2024-01-01")


@pytest.fixture(scope="module")
def valid_marts(cli, tmp_path_factory):
    wh = tmp_path_factory.mktemp("valid") / "wh.duckdb"
    result = _run(cli, BAD / "_valid", wh)
    assert result.exit_code == 0, result.output
    return [read_published(wh, q) for q in MART_QUERY]


@pytest.mark.parametrize("kind", sorted(READING_REJECTED))
def test_reading_rejects_by_file_sheet_row_column(kind, cli, tmp_path):
    table, source_file, sheet, row, column, value, fragment = READING_REJECTED[kind]
    wh = tmp_path / "wh.duckdb"
    result = _run(cli, BAD / kind, wh)
    assert result.exit_code == 2, result.output
    message = result.stderr
    assert message.startswith("Invalid input:") and message.count("\n") <= 1
    where = source_file + (f" sheet {sheet}" if sheet else "") + (f" row {row}" if row is not None else "")
    assert where in message and fragment in message
    if column:
        assert f"row {row} column {column}" in message
    q = read_published(wh, "SELECT * FROM audit.quarantine ORDER BY seq")
    first = q.row(0, named=True)
    assert (
        first["table_name"],
        first["source_file"],
        first["sheet"],
        first["row_number"],
        first["column_name"],
        first["value"],
    ) == (table, source_file, sheet, row, column, value)
    assert fragment in first["message"]
    assert read_published(wh, "SELECT count(*) n FROM mart.allocation_line")["n"][0] == 0


def test_every_excel_error_cell_and_uncalculated_formula_is_quarantined(cli, tmp_path):
    """#DIV/0!, #N/A and a formula without a stored value: each its own row, none read as empty."""
    wh = tmp_path / "wh.duckdb"
    assert _run(cli, BAD / "excel_error_cells", wh).exit_code == 2
    q = read_published(
        wh,
        "SELECT enterprise_id, sheet, row_number, column_name, value FROM audit.quarantine "
        "WHERE source_file = 'reports/2021/line_years.xlsx' ORDER BY row_number",
    )
    assert q.rows() == [
        ("B1", "lines", 2, "output", "=1000*1000"),
        ("B2", "lines", 3, "verified_non_co2_t", "#DIV/0!"),
        ("B2", "lines", 4, "verified_non_co2_t", "#N/A"),
    ]


def test_allow_quarantine_leaves_out_the_enterprise_of_a_ragged_row(cli, tmp_path):
    wh = tmp_path / "wh.duckdb"
    result = cli(
        "run", "--year", 2021, "--inbox", BAD / "ragged_row_short", "--warehouse", wh,
        "--as-of", "2024-01-01", "--allow-quarantine", "--allow-partial",  # 1 of 2 left out: > 5 %
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ents = read_published(wh, "SELECT enterprise_id FROM mart.allocation_enterprise ORDER BY 1")
    assert ents["enterprise_id"].to_list() == ["B1"]  # B2 is not allocated from a shifted row
    cap = read_published(wh, "SELECT partial, enterprises_left_out FROM mart.cap_summary").row(0)
    assert cap == (True, 1)


@pytest.mark.parametrize("kind", sorted(READING_PASSES))
def test_reading_what_offices_send_gives_the_valid_figures(kind, cli, tmp_path, valid_marts):
    source_file, sheet, note = READING_PASSES[kind]
    wh = tmp_path / "wh.duckdb"
    result = _run(cli, BAD / kind, wh)
    assert result.exit_code == 0, result.output
    for q, expected in zip(MART_QUERY, valid_marts, strict=True):
        assert read_published(wh, q).equals(expected), q
    files = read_published(
        wh, "SELECT sheet, rows, error, note FROM raw.files WHERE source_file = $1", [source_file]
    )
    entry = files.filter(files["sheet"] == sheet).row(0, named=True)
    assert entry["error"] is None and entry["note"] == note
    if note:  # what was not read is said in the run's summary too
        assert sheet in result.output and "not read" in result.output
    else:
        assert entry["rows"] > 0


def test_file_names_in_gbk_bytes_are_read_and_stored_readably(cli, tmp_path):
    """A zip unpacked on Linux leaves GBK bytes in names: read the file, store the name decoded."""
    import os
    import shutil

    inbox = tmp_path / "inbox"
    shutil.copytree(BAD / "_valid", inbox)
    folder = os.fsencode(inbox / "reports" / "2021")
    os.rename(folder + b"/line_years.csv", folder + b"/" + "核查数据_生产线.csv".encode("gbk"))
    (inbox / "reports").joinpath(os.fsdecode(b"\xff\xfe.txt")).write_bytes(b"x")  # no encoding at all
    wh = tmp_path / "wh.duckdb"
    result = _run(cli, inbox, wh)
    assert result.exit_code == 2, result.output  # the undecodable .txt under reports/ is named
    assert "reports/\\xff\\xfe.txt" in result.stderr
    files = read_published(wh, "SELECT source_file, rows, error FROM raw.files ORDER BY 1")
    assert ("reports/2021/核查数据_生产线.csv", 3, None) in files.rows()
    runs = read_published(wh, "SELECT inbox, input_hashes FROM audit.pipeline_run")
    assert "核查数据_生产线.csv" in runs["input_hashes"][0]


def test_an_inbox_folder_named_in_gbk_bytes_is_refused_in_one_paragraph(cli, tmp_path):
    """The folder given on the command line must be recordable: refused, named readably, exit 2."""
    import os
    import shutil

    inbox = tmp_path / os.fsdecode("收件箱".encode("gbk"))
    shutil.copytree(BAD / "_valid", inbox)
    result = _run(cli, inbox, tmp_path / "wh.duckdb")
    assert result.exit_code == 2
    assert "收件箱: the path's name is not UTF-8" in result.stderr and result.stderr.count("\n") <= 1
    assert not (tmp_path / "wh.duckdb").exists()


# ---------------------------------------------------------------------------------------------
# A partial year never looks complete (--allow-quarantine): the enterprises a quarantined row could
# belong to are left out whole, the year says it is partial, and beyond PARTIAL_MAX_PERCENT of the
# listed enterprises the publication is refused without --allow-partial.
# ---------------------------------------------------------------------------------------------
EXPECTED["partial_line_typo"] = (
    "line_years",
    "reports/2021/line_years.csv",
    4,
    "enterprise_id",
    "BZ",
    "line B2-L2 belongs to enterprise B2, not BZ",
)
# B1 alone (2021): clinker 1,000,000 t × 0.8289 = 828,900 t (E 850,000.5: gap under 20 %, no
# exemption); cap round_half_up(828,900 / 0.95) = 872,526 (872,526.3…), reserve 43,626.
B1_ONLY = {"enterprise_count": 1, "enterprise_total_t": 828_900, "reserve_t": 43_626, "total_cap_t": 872_526}


def test_partial_line_typo_exits_2_without_allow_quarantine(cli, tmp_path):
    # (added to EXPECTED after the parametrised test above took its cases)
    test_bad_inbox_exits_2_and_names_the_row("partial_line_typo", cli, tmp_path)


def _run_partial(cli, kind, wh, *flags):
    return cli(
        "run", "--year", 2021, "--inbox", BAD / kind, "--warehouse", wh, "--as-of", "2024-01-01", *flags
    )


def _published(wh):
    cap = read_published(wh, "SELECT * FROM mart.cap_summary WHERE compliance_year = 2021")
    ents = read_published(wh, "SELECT enterprise_id FROM mart.allocation_enterprise ORDER BY 1")
    status = dict(read_published(wh, "SELECT enterprise_id, status FROM mart.clearance_status").iter_rows())
    return cap.row(0, named=True), ents["enterprise_id"].to_list(), status


def test_line_with_a_mistyped_enterprise_leaves_its_owner_out_whole(cli, tmp_path):
    """B2's line B2-L2 names BZ: B2 is not published from its other line (before: B2 published
    from B2-L1 alone, looking complete)."""
    wh = tmp_path / "wh.duckdb"
    refused = _run_partial(cli, "partial_line_typo", wh, "--allow-quarantine")
    assert refused.exit_code == 2, refused.output  # 1 of 2 listed enterprises is over the limit
    assert refused.stderr.startswith("Partial publication refused") and "1 of the 2" in refused.stderr
    assert "B2" in refused.stderr and "--allow-partial" in refused.stderr
    assert read_published(wh, "SELECT count(*) n FROM mart.cap_summary")["n"][0] == 0  # nothing published

    done = _run_partial(cli, "partial_line_typo", wh, "--allow-quarantine", "--allow-partial")
    assert done.exit_code == 0, done.output
    assert "PARTIAL" in done.output and "B2" in done.output
    cap, ents, status = _published(wh)
    assert {k: cap[k] for k in B1_ONLY} == B1_ONLY
    assert cap["partial"] is True and cap["enterprises_left_out"] == 1
    assert ents == ["B1"] and status["B2"] == "not_allocated"
    assert (
        read_published(wh, "SELECT count(*) n FROM mart.allocation_line WHERE enterprise_id = 'B2'")["n"][0]
        == 0
    )
    run = read_published(wh, "SELECT message FROM audit.pipeline_run ORDER BY started_at DESC LIMIT 1")
    assert "PARTIAL publication of 2021: 1 of 2 listed enterprises left out" in run["message"][0]
    assert "ids on no list of 2021: BZ" in run["message"][0]
    explained = cli("explain", "B2", "--year", 2021, "--warehouse", wh)
    assert explained.exit_code == 1 and "was left out of the 2021 publication" in explained.stderr


def test_missing_column_refuses_a_partial_year_without_allow_partial(cli, tmp_path):
    """The rejected 2021 line-year file leaves every listed enterprise out: refused (exit 2) rather
    than a published cap of 0; with --allow-partial the year is published as partial."""
    wh = tmp_path / "wh.duckdb"
    refused = _run_partial(cli, "missing_column", wh, "--allow-quarantine")
    assert refused.exit_code == 2 and "2 of the 2 enterprises listed for 2021" in refused.stderr
    assert read_published(wh, "SELECT count(*) n FROM mart.cap_summary")["n"][0] == 0

    done = _run_partial(cli, "missing_column", wh, "--allow-quarantine", "--allow-partial")
    assert done.exit_code == 0, done.output
    cap, ents, status = _published(wh)
    assert (cap["enterprise_count"], cap["total_cap_t"], cap["partial"], cap["enterprises_left_out"]) == (
        0,
        0,
        True,
        2,
    )
    assert ents == [] and status == {"B1": "not_allocated", "B2": "not_allocated"}


@pytest.mark.parametrize(
    ("left", "listed", "refused"),
    [(5, 100, False), (6, 100, True), (15, 307, False), (16, 307, True), (1, 2, True), (0, 2, False)],
)
def test_partial_limit_is_exact(left, listed, refused):
    from flows.stages import InvalidInput, refuse_partial

    ids = [f"E{i}" for i in range(left)]
    if refused:
        with pytest.raises(InvalidInput, match="Partial publication refused"):
            refuse_partial(ids, listed, 2022, allowed=False)
        refuse_partial(ids, listed, 2022, allowed=True)  # --allow-partial
    else:
        refuse_partial(ids, listed, 2022, allowed=False)
