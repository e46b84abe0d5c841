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
    assert on_disk == set(EXPECTED)


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
