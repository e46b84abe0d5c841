"""Tiny inline input frames for the allocation tests (imported by the other test_allocation_* files).

`core(...)` builds a CoreFrames from a few dicts, filling defaults: a line-year's production days
default to the whole year, non-CO2 to 0, and every enterprise-year that has line data gets an
`enterprise_years` row with 0 shutdown days unless one is given.
"""

from __future__ import annotations

import calendar
from decimal import Decimal

import polars as pl

from model import catalog
from policies import Policy, policy_for_year
from transforms import CoreFrames
from transforms.allocate import Allocation, allocate
from transforms.baselines import compute_baselines

D = Decimal


def dec(v) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def enterprise(eid="E1", sector="其他行业", listed="2021,2022,2023", name=None) -> dict:
    return {
        "enterprise_id": eid,
        "name": name or f"单位{eid}",
        "district": "渝中区",
        "sector_label": sector,
        "listed_years": listed,
    }


def line(
    lid,
    eid="E1",
    activity="other",
    intensity=False,
    commissioned_on=None,
    reduction_project_on=None,
    major_change_on=None,
    stopped_on=None,
) -> dict:
    return {
        "line_id": lid,
        "enterprise_id": eid,
        "line_name": lid,
        "product": "p",
        "output_unit": "t",
        "activity": activity,
        "intensity_eligible": intensity,
        "commissioned_on": commissioned_on,
        "reduction_project_on": reduction_project_on,
        "major_change_on": major_change_on,
        "stopped_on": stopped_on,
    }


def line_year(lid, year, co2, output=0, days=None, non_co2=0, eid="E1", mwh=None, ef=None) -> dict:
    full = 366 if calendar.isleap(year) else 365
    return {
        "enterprise_id": eid,
        "line_id": lid,
        "year": year,
        "verified_co2_t": dec(co2),
        "verified_non_co2_t": dec(non_co2),
        "output": dec(output),
        "production_days": full if days is None else days,
        "purchased_electricity_mwh": dec(mwh),
        "grid_ef_t_per_mwh": dec(ef),
    }


def enterprise_year(eid, year, shutdown=0) -> dict:
    return {"enterprise_id": eid, "year": year, "shutdown_days": shutdown, "verified_total_t": None}


def attribute(
    eid, year, penalized=False, grade=None, cancelled=False, investigated=None, efficient=None
) -> dict:
    return {
        "enterprise_id": eid,
        "year": year,
        "preallocation_cancelled": cancelled,
        "penalized": penalized,
        "weather_grade": grade,
        "under_investigation": investigated,
        "energy_efficiency_benchmark_met": efficient,
    }


def _frame(table: catalog.Table, rows: list[dict]) -> pl.DataFrame:
    rows = [{c: r.get(c) for c in table.names} for r in rows]
    return (
        pl.DataFrame(rows, schema=table.polars_schema, orient="row")
        if rows
        else pl.DataFrame(schema=table.polars_schema)
    )


def core(enterprises, lines, line_years, enterprise_years=(), attributes=()) -> CoreFrames:
    given = {(r["enterprise_id"], r["year"]) for r in enterprise_years}
    implied = sorted({(r["enterprise_id"], r["year"]) for r in line_years} - given)
    eys = list(enterprise_years) + [enterprise_year(e, y) for e, y in implied]
    return CoreFrames.from_tables(
        {
            "enterprises": _frame(catalog.ENTERPRISES, list(enterprises)),
            "lines": _frame(catalog.LINES, list(lines)),
            "line_years": _frame(catalog.LINE_YEARS, list(line_years)),
            "enterprise_years": _frame(catalog.ENTERPRISE_YEARS, eys),
            "attributes": _frame(catalog.ATTRIBUTES, list(attributes)),
        }
    )


def run_year(frames: CoreFrames, year: int, policy: Policy | None = None) -> tuple[pl.DataFrame, Allocation]:
    policy = policy or policy_for_year(year)
    baselines = compute_baselines(frames, policy)
    return baselines, allocate(baselines, frames, policy)


def total_line_history(lid, base_years, daily, eid="E1") -> list[dict]:
    """Base-year records of a 'total' line emitting `daily` t on every day of every base year."""
    out = []
    for y in base_years:
        days = 366 if calendar.isleap(y) else 365
        out.append(line_year(lid, y, D(daily) * days, output=1, eid=eid))
    return out


def total_line_rows(lid, year, a_raw, e, eid="E1", days=200) -> list[dict]:
    """Records of a 'total' line whose allocation in `year` is exactly `a_raw` (D × N_Y with k = 1,
    D = a_raw / days on every base-year day) and whose verified CO2 of `year` is `e`."""
    base = policy_for_year(year).base_years.value
    return [
        *total_line_history(lid, base, D(a_raw) / days, eid=eid),
        line_year(lid, year, e, output=1, days=days, eid=eid),
    ]


def one_total_enterprise(year, a_raw, e, eid="E1", sector="其他行业", attributes=()) -> CoreFrames:
    """An enterprise with one 'total' line (see total_line_rows)."""
    return core(
        [enterprise(eid, sector)],
        [line("L1", eid)],
        total_line_rows("L1", year, a_raw, e, eid),
        attributes=attributes,
    )


def row(df: pl.DataFrame, **key) -> dict:
    hit = df.filter(*[pl.col(k) == v for k, v in key.items()])
    assert hit.height == 1, f"expected one row for {key}, got {hit.height}"
    return hit.row(0, named=True)


def test_builders_follow_the_catalog():
    frames = core([enterprise()], [line("L1")], [line_year("L1", 2020, 10)])
    assert frames.line_years.schema == catalog.LINE_YEARS.polars_schema
    assert frames.line_years["production_days"].to_list() == [366]
    assert frames.enterprise_years.row(0, named=True)["shutdown_days"] == 0
