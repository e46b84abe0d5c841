"""The allocation cycle through the real CLI and flow (rules.md §9, contract §5), on a copy of the
sample inbox with files added as the regulator's year goes on, in one warehouse:

v1 notified → two review requests (one in time, one late) → a corrected report of one unit →
v2 with exactly that unit changed, its re-issued notice and the diff naming the changed row →
the window closes → v2 final → issuance `ready`. Reruns change nothing."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pytest

from model.workdays import add_working_days
from policies import policy_for_year
from warehouse import read_published

from .conftest import SAMPLE

YEAR = 2022
UNIT = "CQ004"  # a workbook report (reports/2022/CQ004.xlsx), line CQ004-L1 cement clinker (benchmark)
LATE_UNIT = "CQ013"
NOTIFIED_V1 = date(2023, 6, 1)
NOTIFIED_V2 = date(
    2023, 6, 21
)  # the day before the Dragon Boat Festival 2023 (22–24 June off, Sunday 25 worked)
OUTPUT_CUT = Decimal("10000")
CYCLE_TABLES = (
    "mart.allocation_version",
    "mart.review_request",
    "mart.allocation_change",
    "mart.issuance",
    "history.allocation_enterprise",
    "history.allocation_line",
    "history.cap_summary",
    "history.allocation_input",
    "mart.allocation_enterprise",
)


def q(wh, sql, *params):
    return read_published(wh, sql, list(params) or None)


def snapshot(wh) -> dict:
    return {t: q(wh, f"SELECT * FROM {t} ORDER BY ALL").rows() for t in CYCLE_TABLES}


def write_reviews(inbox, rows):
    (inbox / "reviews").mkdir(exist_ok=True)
    head = "request_id,enterprise_id,compliance_year,received_on,claim,decision,decided_on\n"
    (inbox / "reviews" / f"{YEAR}.csv").write_text(head + "".join(",".join(r) + "\n" for r in rows), "utf-8")


@pytest.mark.slow
def test_review_cycle_versions_notices_and_issuance(cli, tmp_path):
    inbox, wh = tmp_path / "inbox", tmp_path / "wh" / "warehouse.duckdb"
    # without the ledger: the cycle does not read surrenders (clearance then finds nothing
    # surrendered, so the release of the pre-allocation waits for clearance)
    shutil.copytree(SAMPLE, inbox, ignore=shutil.ignore_patterns("*.py", "*.md", "roster.csv", "ledger"))

    def run(as_of: date, notified_on: date | None = None):
        args = ["run", "--year", YEAR, "--inbox", inbox, "--warehouse", wh, "--as-of", as_of]
        r = cli(*args, *(["--notified-on", notified_on] if notified_on else []))
        assert r.exit_code == 0, r.output
        return r.output

    # 1. version 1, notified on 1 June 2023: review until 12 June (7 working days)
    run(date(2023, 6, 2), NOTIFIED_V1)
    v = q(wh, "SELECT * FROM mart.allocation_version WHERE compliance_year = $1", YEAR)
    assert v.height == 1
    v1 = v.row(0, named=True)
    assert (v1["version"], v1["notified_on"], v1["status"]) == (1, NOTIFIED_V1, "in_review")
    assert v1["review_deadline"] == add_working_days(NOTIFIED_V1, 7).day == date(2023, 6, 12)
    allocated = q(wh, "SELECT count(*) n FROM mart.allocation_enterprise WHERE compliance_year = $1", YEAR)[
        "n"
    ][0]
    assert v1["enterprises_changed"] == allocated
    before = q(
        wh,
        "SELECT * FROM mart.allocation_enterprise WHERE compliance_year = $1 AND enterprise_id = $2",
        YEAR,
        UNIT,
    ).row(0, named=True)
    # every listed unit gets a notice, also those without an allocation (missing verification)
    r = cli("export", "--year", YEAR, "--warehouse", wh)
    assert r.exit_code == 0, r.output
    notices = sorted(p.stem for p in (wh.parent / "out" / str(YEAR) / "notices").glob("*.xlsx"))
    listed = q(
        wh, "SELECT enterprise_id FROM mart.clearance_status WHERE compliance_year = $1 ORDER BY 1", YEAR
    )
    assert notices == listed["enterprise_id"].to_list() and len(notices) > allocated
    missing = q(
        wh,
        "SELECT enterprise_id FROM mart.clearance_status WHERE status = 'missing_verification' AND compliance_year = $1",
        YEAR,
    )["enterprise_id"][0]
    ws = openpyxl.load_workbook(wh.parent / "out" / str(YEAR) / "notices" / f"{missing}.xlsx").worksheets[0]
    cells = [c.value for row in ws.iter_rows() for c in row if c.value is not None]
    assert any("missing verification" in str(c) for c in cells) and NOTIFIED_V1 in [
        c.date() if hasattr(c, "date") else c for c in cells
    ]

    # 2. two review requests: one in time (still pending), one received after the window closed
    write_reviews(
        inbox,
        [
            ("R-2022-001", UNIT, str(YEAR), "2023-06-09", "line CQ004-L1 output over-reported", "", ""),
            ("R-2022-002", LATE_UNIT, str(YEAR), "2023-06-13", "benchmark disputed", "", ""),
            ("R-2022-003", missing, str(YEAR), "2023-06-05", "report was sent", "rejected", "2023-06-08"),
        ],
    )
    run(date(2023, 6, 14))
    rr = {r["request_id"]: r for r in q(wh, "SELECT * FROM mart.review_request").iter_rows(named=True)}
    assert rr["R-2022-001"]["admitted"] and not rr["R-2022-002"]["admitted"]
    assert rr["R-2022-002"]["window_closes_on"] == date(2023, 6, 12)
    assert rr["R-2022-001"]["decision_due_on"] == add_working_days(date(2023, 6, 9), 10).day
    # a unit without an allocation was notified too (its notice says why): its request is admitted
    assert (rr["R-2022-003"]["admitted"], rr["R-2022-003"]["version_at_receipt"]) == (True, 1)
    v = q(wh, "SELECT version, status FROM mart.allocation_version").rows()
    assert v == [(1, "in_review")]  # window closed, but the admitted request is undecided

    # 3. the corrected report of the unit: 10,000 t less clinker on CQ004-L1 in 2022 → version 2
    book = inbox / "reports" / str(YEAR) / f"{UNIT}.xlsx"
    wb = openpyxl.load_workbook(book)
    ws = wb["lines"]
    header = [c.value for c in ws[1]]
    row = next(
        r for r in range(2, ws.max_row + 1) if ws.cell(r, header.index("line_id") + 1).value == f"{UNIT}-L1"
    )
    cell = ws.cell(row, header.index("output") + 1)
    old_output = Decimal(str(cell.value))
    cell.value = float(old_output - OUTPUT_CUT)
    wb.save(book)
    write_reviews(
        inbox,
        [
            (
                "R-2022-001",
                UNIT,
                str(YEAR),
                "2023-06-09",
                "line CQ004-L1 output over-reported",
                "changed",
                "2023-06-20",
            ),
            ("R-2022-002", LATE_UNIT, str(YEAR), "2023-06-13", "benchmark disputed", "", ""),
            ("R-2022-003", missing, str(YEAR), "2023-06-05", "report was sent", "rejected", "2023-06-08"),
        ],
    )
    out = run(date(2023, 6, 21), NOTIFIED_V2)
    assert "2022 version 2 (published by run" in " ".join(out.split())
    vs = q(wh, "SELECT * FROM mart.allocation_version ORDER BY version")
    assert vs["version"].to_list() == [1, 2] and vs["status"].to_list() == ["superseded", "in_review"]
    v2 = vs.row(1, named=True)
    # across the Dragon Boat Festival: 22–24 June off, Sunday 25 June a working day
    assert v2["review_deadline"] == add_working_days(NOTIFIED_V2, 7).day == date(2023, 7, 3)
    assert v2["enterprises_changed"] == 1
    changes = q(wh, "SELECT * FROM mart.allocation_change")
    assert changes["enterprise_id"].to_list() == [UNIT]
    ch = changes.row(0, named=True)
    bm = policy_for_year(YEAR).benchmarks.value["cement_clinker"]
    raw_new = before["allocation_raw_t"] - OUTPUT_CUT * bm
    expected = int(raw_new.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert (ch["previous_final_t"], ch["allocation_final_t"]) == (before["allocation_final_t"], expected)
    assert ch["delta_t"] == expected - before["allocation_final_t"] < 0
    assert f"reports/{YEAR}/{UNIT}.xlsx sheet lines row {row}" in ch["changed_inputs"]
    assert f"output {old_output:.4f} → {old_output - OUTPUT_CUT:.4f}" in ch["changed_inputs"]
    assert f"line {UNIT}-L1: activity_value" in ch["changed_rules"]
    assert ch["review_request_id"] == "R-2022-001"
    assert (
        q(wh, "SELECT resulting_version FROM mart.review_request WHERE request_id = 'R-2022-001'").item() == 2
    )
    # the history keeps version 1 as it was; mart shows version 2
    # BI tools see Chinese and English column comments on history and cycle tables too
    comment = q(
        wh,
        "SELECT comment FROM duckdb_columns() WHERE schema_name = 'history' "
        "AND table_name = 'allocation_enterprise' AND column_name = 'version'",
    ).item()
    assert comment.startswith("版本 — Allocation version")
    hist = q(
        wh,
        "SELECT version, allocation_final_t FROM history.allocation_enterprise WHERE enterprise_id = $1 ORDER BY 1",
        UNIT,
    ).rows()
    assert hist == [(1, before["allocation_final_t"]), (2, expected)]
    # the diff names the changed row
    r = cli("diff", "--year", YEAR, "--warehouse", wh)
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    assert UNIT in flat and "version 1" in flat and "version 2" in flat and f"{expected:,}" in flat
    assert "CQ004.xlsx" in flat.replace(" ", "") and "output" in flat
    r = cli("explain", UNIT, "--year", YEAR, "--warehouse", wh)
    flat = " ".join(r.output.split())
    assert (
        r.exit_code == 0
        and "version 2 版本: notified 2023-06-21" in flat
        and "changed since version 1" in flat
    )
    # re-issued notices: the changed unit only, with previous and new figures
    r = cli("export", "--year", YEAR, "--warehouse", wh)
    assert r.exit_code == 0, r.output
    changed_dir = wh.parent / "out" / str(YEAR) / "v2" / "changed"
    assert [p.name for p in changed_dir.glob("*.xlsx")] == [f"{UNIT}.xlsx"]
    ws = openpyxl.load_workbook(changed_dir / f"{UNIT}.xlsx").worksheets[0]
    cells = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
    assert cells["原年度配额 Previous final allocation"] == before["allocation_final_t"]
    assert cells["新年度配额 New final allocation"] == expected
    assert "output" in cells["变化的输入数据 Input rows that changed"]
    # the report shows the version and the change
    html = (wh.parent / "out" / str(YEAR) / f"report-{YEAR}.html").read_text(encoding="utf-8")
    assert "Allocation version 2" in html and 'id="version-changes"' in html
    assert f"{ch['delta_t']:+,}" in html and f"reports/{YEAR}/{UNIT}.xlsx" in html
    assert q(wh, "SELECT DISTINCT status FROM mart.issuance WHERE source_year = $1", YEAR).rows() == [
        ("waiting_final",)
    ]

    # 4. the window of version 2 closes (3 July): final, issuance ready
    run(date(2023, 7, 4))
    assert q(wh, "SELECT version, status FROM mart.allocation_version ORDER BY 1").rows() == [
        (1, "superseded"),
        (2, "final"),
    ]
    issue = q(
        wh,
        "SELECT enterprise_id, quantity_t, status FROM mart.issuance WHERE compliance_year = $1 "
        "AND instruction = 'issue_free' ORDER BY 1",
        YEAR,
    )
    assert issue.height == allocated and set(issue["status"]) == {"ready"}
    assert issue.filter(issue["enterprise_id"] == UNIT)["quantity_t"].item() == expected
    frozen = q(
        wh, "SELECT DISTINCT status FROM mart.issuance WHERE instruction = 'issue_preallocation_frozen'"
    ).rows()
    assert frozen == [("ready",)]
    # release waits for the clearance of 2021 (not published in this warehouse)
    assert q(
        wh, "SELECT DISTINCT status FROM mart.issuance WHERE instruction = 'release_preallocation'"
    ).rows() == [("waiting_clearance",)]

    # rerunning the last step changes nothing
    state = snapshot(wh)
    out = run(date(2023, 7, 4))
    assert "publish skipped" in out
    assert snapshot(wh) == state
