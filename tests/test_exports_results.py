"""The YearResults bundle, and the hand-made 2022 fixture every export and checkpoint test uses.

The fixture is consistent (every number adds up, per rules.md of 2022):
- E001 cement, two lines — T14 of rules.md: clinker 1,000,000 t × 0.8244 = 824,400 and an
  intensity line 0.0200 × 1,500,000 × 0.9450 = 28,350; E 900,000, no exemption, pre-alloc 596,925.
- E002 chemicals, a total line (2020 dropped: 200 shutdown days) D 1,000 × 300 d = 300,000 and an
  intensity line 75,600 CO2 + 4,400 non-CO2 = 80,000; A_raw 380,000, E 500,000 → T7: gap exemption
  to 400,000, borrowable 50,000, pre-alloc 280,000.
- E003 waste incineration, equal: 120,000.25 → 120,000 after rounding; pre-alloc 84,000.
- Σ A_final 1,372,750 → total cap 1,445,000, reserve 72,250 (5%).
- Six ledger rows: E001 cleared on time; E002 offsets cut at 8% (40,000 of 60,000), not cleared;
  E003 cleared late.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import duckdb
import polars as pl
import pytest

from model import catalog
from model.results import YearResults, conform
from policies import policy_for_year
from warehouse.read import year_results

YEAR = 2022
AS_OF = date(2024, 4, 15)
DEADLINE = date(2024, 3, 31)


def _frame(table: catalog.Table, rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=table.polars_schema, orient="row")


def _line(eid, lid, method, reason, baseline, kept, dropped, coef, activity, co2, non_co2, expl):
    return {
        "compliance_year": YEAR,
        "enterprise_id": eid,
        "line_id": lid,
        "method": method,
        "method_reason": reason,
        "baseline": baseline,
        "kept_years": kept,
        "dropped_years": dropped,
        "coefficient": coef,
        "activity_value": activity,
        "allocation_co2_t": co2,
        "allocation_non_co2_t": non_co2,
        "allocation_t": co2 + non_co2,
        "explanation": expl,
        "provisional": False,
    }


# fmt: off
LINES = [
    _line("E001", "L001", "benchmark", "§2.5 熟料 benchmark", None, [], [], D("0.8244"), D("1000000"),
          D("824400"), D("0"), "熟料基准线法：0.8244 × 1,000,000 = 824,400"),
    _line("E001", "L002", "intensity", "§2.6 intensity_eligible", D("0.0200"), [2019, 2020, 2021], [],
          D("0.9450"), D("1500000"), D("28350"), D("0"), "强度法：0.0200 × 1,500,000 × 0.9450 = 28,350"),
    _line("E002", "L003", "total", "§2.7 other line", D("1000.0000"), [2019, 2021], [2020], D("1"),
          D("300"), D("300000"), D("0"), "总量法：2020年停产天数200天>183，剔除；D = 1,000 × 300 × 1"),
    _line("E002", "L004", "intensity", "§2.6 intensity_eligible", D("0.8000"), [2019, 2020, 2021], [],
          D("0.9450"), D("100000"), D("75600"), D("4400"), "强度法：0.8000 × 100,000 × 0.9450 = 75,600"),
    _line("E003", "L005", "equal", "§2.3 waste_incineration", None, [], [], None, D("120000.2500"),
          D("120000.2500"), D("0"), "等量法：生活垃圾焚烧"),
]
# fmt: on


def _ent(eid, name, sector, e, raw, rule, final, borrowable, pre):
    return {
        "compliance_year": YEAR,
        "enterprise_id": eid,
        "name": name,
        "sector_label": sector,
        "verified_emissions_t": e,
        "allocation_raw_t": raw,
        "adjustment_t": D(final) - raw,
        "adjustment_rule": rule,
        "incentive_t": 0,
        "allocation_final_t": final,
        "gap_t": e - D(final),
        "borrowable_t": borrowable,
        "preallocation_next_t": pre,
        "provisional": False,
    }


# fmt: off
ENTERPRISES = [
    _ent("E001", "重庆某水泥有限公司", "水泥制造行业", D("900000"), D("852750"), "none", 852750, 0, 596925),
    _ent("E002", "重庆某化工有限公司 <&>", "化工行业", D("500000"), D("380000"), "gap_exemption_share", 400000,
         50000, 280000),
    _ent("E003", "重庆某环保发电有限公司", "生活垃圾焚烧行业", D("120000.2500"), D("120000.2500"), "rounding",
         120000, 0, 84000),
]
# fmt: on


def _status(eid, e, allow, offsets, borrowed, status):
    surrendered = allow + offsets + borrowed
    return {
        "compliance_year": YEAR,
        "enterprise_id": eid,
        "as_of": AS_OF,
        "deadline": DEADLINE,
        "obligation_t": e,
        "allowances_t": allow,
        "offsets_accepted_t": offsets,
        "green_power_accepted_t": D("0"),
        "borrowed_accepted_t": borrowed,
        "surrendered_t": surrendered,
        "shortfall_t": max(D("0"), e - surrendered),
        "status": status,
        "provisional": False,
    }


# fmt: off
STATUS = [
    _status("E001", D("900000"), D("860000"), D("40000"), D("0"), "cleared_on_time"),
    _status("E002", D("500000"), D("400000"), D("40000"), D("50000"), "not_cleared"),
    _status("E003", D("120000.2500"), D("120001"), D("0"), D("0"), "cleared_late"),
]
# fmt: on


def _item(txn, eid, instrument, on, qty, accepted, reason="accepted"):
    return {
        "compliance_year": YEAR,
        "txn_id": txn,
        "enterprise_id": eid,
        "instrument": instrument,
        "surrendered_on": on,
        "quantity_t": qty,
        "accepted_t": D(accepted),
        "refused_t": D(qty - accepted),
        "reason": reason,
        "as_of": AS_OF,
    }


# fmt: off
ITEMS = [
    _item("T001", "E001", "allowance", date(2024, 3, 1), 860000, 860000),
    _item("T002", "E001", "ccer", date(2024, 3, 2), 40000, 40000),
    _item("T003", "E002", "allowance", date(2024, 3, 5), 400000, 400000),
    _item("T004", "E002", "borrowed_preallocation", date(2024, 3, 5), 50000, 50000),
    _item("T005", "E002", "ccer", date(2024, 3, 6), 60000, 40000, "超过抵消上限8% / offset limit 8% of E"),
    _item("T006", "E003", "allowance", date(2024, 4, 10), 120001, 120001),
]
# fmt: on


def make_results(**changes) -> YearResults:
    """The consistent fixture; keyword arguments replace fields (e.g. a broken frame)."""
    results = YearResults(
        year=YEAR,
        allocation_line=_frame(catalog.ALLOCATION_LINE, LINES),
        allocation_enterprise=_frame(catalog.ALLOCATION_ENTERPRISE, ENTERPRISES),
        cap_summary=_frame(
            catalog.CAP_SUMMARY,
            [
                {
                    "compliance_year": YEAR,
                    "enterprise_count": 3,
                    "enterprise_total_t": 1372750,
                    "reserve_t": 72250,
                    "total_cap_t": 1445000,
                    "provisional": False,
                    "partial": False,
                    "enterprises_left_out": 0,
                }
            ],
        ),
        clearance_status=_frame(catalog.CLEARANCE_STATUS, STATUS),
        clearance_item=_frame(catalog.CLEARANCE_ITEM, ITEMS),
        policy=policy_for_year(YEAR),
        listed_enterprise_ids=["E001", "E002", "E003"],
        ledger_rows=len(ITEMS),
    )
    return results.replace(**changes)


@pytest.fixture
def results() -> YearResults:
    return make_results()


def test_fixture_adds_up(results: YearResults) -> None:
    """Guard the fixture itself: Σ lines = raw, Σ final = total, total + reserve = cap."""
    sums = results.allocation_line.group_by("enterprise_id").agg(pl.col("allocation_t").sum())
    joined = results.allocation_enterprise.join(sums, on="enterprise_id")
    assert (joined["allocation_t"] == joined["allocation_raw_t"]).all()
    cap = results.cap_summary.row(0, named=True)
    assert cap["enterprise_total_t"] == results.allocation_enterprise["allocation_final_t"].sum()
    assert cap["enterprise_total_t"] + cap["reserve_t"] == cap["total_cap_t"]
    assert results.clearance_item.height == results.ledger_rows
    assert not results.is_provisional


def test_year_results_reads_one_year_with_catalog_types(results: YearResults) -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA mart; CREATE SCHEMA core")
    for name, df in results.marts.items():
        other_year = df.with_columns(pl.lit(YEAR - 1, pl.Int64).alias("compliance_year"))
        both = pl.concat([df, other_year]).with_columns(pl.lit("x").alias("added_by_someone"))
        con.register("df", both)
        con.execute(f"CREATE TABLE mart.{name} AS SELECT * FROM df")
        con.unregister("df")
    enterprises = pl.DataFrame(
        {
            "enterprise_id": ["E001", "E002", "E003", "E004", "E005"],
            "listed_years": ["2021,2022", "2022", "2022, 2023", "2022", "2021"],
        }
    )
    line_years = pl.DataFrame({"enterprise_id": ["E001", "E002", "E003", "E005"], "year": [YEAR] * 4})
    ledger = pl.DataFrame({"txn_id": [f"T{i}" for i in range(8)], "compliance_year": [YEAR] * 6 + [2021] * 2})
    for name, df in {"enterprises": enterprises, "line_years": line_years, "ledger": ledger}.items():
        con.register("df", df)
        con.execute(f"CREATE TABLE core.{name} AS SELECT * FROM df")
        con.unregister("df")

    got = year_results(con, YEAR, results.policy)

    for name, df in results.marts.items():
        assert got.marts[name].columns == [*df.columns, "added_by_someone"]
        assert got.marts[name].drop("added_by_someone").equals(df), name
    # E004 is listed but has no verified data (missing verification); E005 is not listed in 2022.
    assert got.listed_enterprise_ids == ["E001", "E002", "E003"]
    assert got.ledger_rows == 6
    explicit = year_results(con, YEAR, results.policy, listed_enterprise_ids=["E001"], ledger_rows=1)
    assert (explicit.listed_enterprise_ids, explicit.ledger_rows) == (["E001"], 1)


def test_conform_names_missing_columns(results: YearResults) -> None:
    with pytest.raises(ValueError, match=r"mart\.cap_summary: missing column\(s\) reserve_t"):
        conform(results.cap_summary.drop("reserve_t"), catalog.CAP_SUMMARY)
