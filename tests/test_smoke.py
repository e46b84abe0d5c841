"""Smoke: the real CLI and Prefect flow on the embedded sample, every year, into a temporary
warehouse; then the invariants of the publication, a rerun that publishes identical rows, and the
read-side commands (explain, export)."""

from __future__ import annotations

from decimal import Decimal

import openpyxl
import pytest

from warehouse import read_published

from .conftest import SAMPLE

AS_OF = {2021: "2024-01-01", 2022: "2024-04-01", 2023: "2025-01-01"}
MARTS = ("allocation_line", "allocation_enterprise", "cap_summary", "clearance_status", "clearance_item")


@pytest.fixture(scope="module")
def published(cli, tmp_path_factory):
    wh = tmp_path_factory.mktemp("smoke") / "warehouse.duckdb"
    outputs = {}
    for year in (2021, 2022, 2023):
        r = cli("run", "--year", year, "--inbox", SAMPLE, "--warehouse", wh, "--as-of", AS_OF[year])
        assert r.exit_code == 0, r.output
        outputs[year] = r.output
    return wh, outputs


def q(wh, sql, *params):
    return read_published(wh, sql, list(params) or None)


def test_every_year_published_without_quarantine(published):
    wh, outputs = published
    assert q(wh, "SELECT count(*) n FROM audit.quarantine")["n"][0] == 0
    runs = q(wh, "SELECT compliance_year, status FROM audit.pipeline_run ORDER BY started_at")
    assert runs.rows() == [(2021, "succeeded"), (2022, "succeeded"), (2023, "succeeded")]
    years = q(wh, "SELECT compliance_year FROM mart.cap_summary ORDER BY 1")["compliance_year"].to_list()
    assert years == [2021, 2022, 2023]
    assert "Provisional parameters" in outputs[2023] and "Provisional" not in outputs[2022]
    said = " ".join(outputs[2023].split())  # the placeholders in words, not parameter codes (§6a)
    assert "历史基准年度 / base years" in said and "base_years" not in said
    assert (
        q(wh, "SELECT count(*) n FROM mart.cap_summary WHERE partial OR enterprises_left_out <> 0")["n"][0]
        == 0
    )


def test_published_invariants(published):
    wh, _ = published
    # Σ line allocations = raw enterprise allocation (exact decimals)
    bad = q(
        wh,
        """SELECT e.compliance_year, e.enterprise_id FROM mart.allocation_enterprise e
                   JOIN (SELECT compliance_year, enterprise_id, sum(allocation_t) s FROM mart.allocation_line
                         GROUP BY ALL) l USING (compliance_year, enterprise_id)
                   WHERE l.s <> e.allocation_raw_t""",
    )
    assert bad.height == 0
    for row in q(wh, "SELECT * FROM mart.cap_summary").iter_rows(named=True):
        total = q(
            wh,
            "SELECT sum(allocation_final_t) s, count(*) n FROM mart.allocation_enterprise "
            "WHERE compliance_year = $1",
            row["compliance_year"],
        ).row(0, named=True)
        assert row["enterprise_total_t"] == total["s"] and row["enterprise_count"] == total["n"]
        assert row["total_cap_t"] == row["enterprise_total_t"] + row["reserve_t"]
        # reserve is 5% of the cap, to the tonne (total cap rounded half-up once)
        assert abs(Decimal(row["reserve_t"]) - Decimal("0.05") * row["total_cap_t"]) <= 1
    # 2021/2022: after the gap exemption no gap exceeds min(20% E, 200 kt)
    gaps = q(
        wh,
        """SELECT count(*) n FROM mart.allocation_enterprise WHERE compliance_year IN (2021, 2022)
                    AND gap_t > least(0.2 * verified_emissions_t, 200000)""",
    )
    assert gaps["n"][0] == 0
    # every listed enterprise with a report is allocated; the closed one is missing_verification
    counts = q(wh, "SELECT compliance_year, count(*) n FROM mart.allocation_enterprise GROUP BY 1 ORDER BY 1")
    assert counts.rows() == [(2021, 308), (2022, 307), (2023, 307)]
    # 2023 rows carry the provisional flag, 2021/2022 never
    prov = q(
        wh, "SELECT compliance_year, bool_or(provisional) p FROM mart.allocation_line GROUP BY 1 ORDER BY 1"
    )
    assert prov.rows() == [(2021, False), (2022, False), (2023, True)]
    # every ledger row of a year is a clearance item and nothing offered disappears
    rec = q(
        wh,
        """SELECT i.compliance_year, count(*) n, sum(accepted_t + refused_t) = sum(quantity_t) ok
                   FROM mart.clearance_item i GROUP BY 1 ORDER BY 1""",
    )
    ledger = q(wh, "SELECT compliance_year, count(*) n FROM core.ledger GROUP BY 1 ORDER BY 1")
    assert [(r[0], r[1]) for r in rec.rows()] == ledger.rows() and all(r[2] for r in rec.rows())


def test_2022_clearance_has_every_reachable_status(published):
    wh, _ = published
    st = dict(
        q(
            wh, "SELECT status, count(*) FROM mart.clearance_status WHERE compliance_year = 2022 GROUP BY 1"
        ).rows()
    )
    # as of 2024-04-01 the 2024-03-31 deadline has passed, so `pending` cannot occur (rules.md §6)
    assert set(st) == {"cleared_on_time", "cleared_late", "not_cleared", "missing_verification", "excluded"}
    assert st["missing_verification"] == 1 and st["excluded"] == 1


def test_worked_cases_in_the_sample(published):
    wh, _ = published
    line = q(wh, "SELECT * FROM mart.allocation_line WHERE compliance_year = 2022 AND line_id = 'CQ126-L2'")
    assert line["method"][0] == "equal"  # T15: commissioned 2020-03-01
    line = q(wh, "SELECT * FROM mart.allocation_line WHERE compliance_year = 2023 AND line_id = 'CQ126-L2'")
    assert line["method"][0] in ("total", "intensity") and line["kept_years"][0].to_list() == [2021, 2022]
    eq = q(
        wh,
        "SELECT DISTINCT method FROM mart.allocation_line WHERE compliance_year = 2021 AND enterprise_id = 'CQ253'",
    )
    assert eq["method"].to_list() == ["equal"]  # T6: enterprise shut down 183 and 190 days
    t10 = q(
        wh,
        """SELECT sum(accepted_t) a FROM mart.clearance_item WHERE compliance_year = 2022
                   AND enterprise_id = 'CQ277' AND instrument IN ('ccer', 'cqcer', 'other_offset')""",
    )
    assert t10["a"][0] == 8000  # T10


def test_rerun_publishes_identical_rows(cli, published):
    wh, _ = published
    before = {m: q(wh, f"SELECT * FROM mart.{m} WHERE compliance_year = 2022 ORDER BY ALL") for m in MARTS}
    r = cli("run", "--year", 2022, "--inbox", SAMPLE, "--warehouse", wh, "--as-of", AS_OF[2022])
    assert r.exit_code == 0, r.output
    for m in MARTS:
        after = q(wh, f"SELECT * FROM mart.{m} WHERE compliance_year = 2022 ORDER BY ALL")
        assert after.equals(before[m]), m
    assert q(wh, "SELECT count(*) n FROM mart.allocation_line WHERE compliance_year = 2021")["n"][0] > 600


def test_explain_and_export(cli, published, tmp_path):
    wh, _ = published
    r = cli("explain", "CQ013", "--year", 2022, "--warehouse", wh)
    assert r.exit_code == 0, r.output
    assert "CQ013-L1" in r.output and "benchmark" in r.output and "borrowable" in r.output
    r = cli("export", "--year", 2022, "--warehouse", wh, "--out", tmp_path)
    assert r.exit_code == 0, r.output
    notices = sorted(p.stem for p in (tmp_path / "notices").glob("*.xlsx"))
    # every unit of the year: the 307 allocated and those without an allocation (issue 18)
    units = q(wh, "SELECT enterprise_id FROM mart.clearance_status WHERE compliance_year = 2022 ORDER BY 1")
    assert notices == units["enterprise_id"].to_list() and len(notices) > 307
    wb = openpyxl.load_workbook(tmp_path / "notices" / "CQ013.xlsx")
    final = q(
        wh,
        "SELECT allocation_final_t FROM mart.allocation_enterprise WHERE compliance_year = 2022 "
        "AND enterprise_id = 'CQ013'",
    )["allocation_final_t"][0]
    defined = wb.defined_names["allocation_final_t"]
    ((sheet, ref),) = list(defined.destinations)
    assert wb[sheet][ref.replace("$", "")].value == final
    assert (tmp_path / "report-2022.html").stat().st_size > 10_000
    assert len(list((tmp_path / "parquet").glob("*.parquet"))) == 5
