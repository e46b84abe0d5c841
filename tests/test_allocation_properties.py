"""Hypothesis properties of the allocation engine on small random enterprises (rules.md §3–§5)."""

from __future__ import annotations

import calendar
from decimal import Decimal

import polars as pl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from model import catalog
from policies import policy_for_year
from tests.test_allocation_frames import (
    attribute,
    core,
    enterprise,
    enterprise_year,
    line,
    line_year,
    row,
    run_year,
)

POLICIES = {y: policy_for_year(y) for y in (2021, 2022, 2023)}
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}


def bounded(n: int) -> settings:
    """Modest example counts: every example runs the whole engine (a few hundred ms)."""
    return settings(max_examples=n, **_COMMON)


KINDS = ("cement_clinker", "electrolytic_aluminium", "intensity", "total", "waste_incineration")

tonnes = st.integers(0, 2_000_000_000).map(lambda n: Decimal(n).scaleb(-4))  # 0 … 200,000 t, 4 places
small = st.one_of(st.just(Decimal(0)), st.integers(0, 50_000_000).map(lambda n: Decimal(n).scaleb(-4)))
outputs = st.one_of(st.just(Decimal(0)), st.integers(1, 3_000_000_000).map(lambda n: Decimal(n).scaleb(-4)))


def days_in(year):
    full = 366 if calendar.isleap(year) else 365
    return st.one_of(st.just(full), st.integers(0, full), st.sampled_from([full - 183, full - 184, 0]))


@st.composite
def scenarios(draw, year=None):
    year = year or draw(st.sampled_from(sorted(POLICIES)))
    base = list(POLICIES[year].base_years.value)
    ents, lines, records, eys, attrs = [], [], [], [], []
    for i in range(draw(st.integers(1, 3))):
        eid = f"E{i}"
        ents.append(enterprise(eid, sector=draw(st.sampled_from(["其他行业", "水泥制造行业"]))))
        eys += [enterprise_year(eid, y, draw(st.sampled_from([0, 0, 100, 182, 183, 200]))) for y in base]
        attrs.append(
            attribute(
                eid,
                year,
                penalized=draw(st.booleans()),
                grade=draw(st.sampled_from("AB C")),
                cancelled=draw(st.booleans()),
            )
        )
        for j in range(draw(st.integers(1, 3))):
            lid, kind = f"L{i}{j}", draw(st.sampled_from(KINDS))
            activity = (
                kind
                if kind in ("cement_clinker", "electrolytic_aluminium", "waste_incineration")
                else "other"
            )
            lines.append(line(lid, eid, activity=activity, intensity=kind == "intensity"))
            for y in [*base, year]:
                if y == year or draw(st.integers(0, 4)) > 0:
                    records.append(
                        line_year(
                            lid,
                            y,
                            draw(tonnes),
                            output=draw(outputs),
                            days=draw(days_in(y)),
                            non_co2=draw(small),
                            eid=eid,
                        )
                    )
    return year, core(ents, lines, records, eys, attrs)


def _sorted_by_key(df: pl.DataFrame, table: catalog.Table) -> bool:
    return df.select(table.key).equals(df.select(table.key).sort(table.key))


@bounded(25)
@given(scenarios())
def test_sums_gap_bounds_and_cap(case):
    year, frames = case
    policy = POLICIES[year]
    _, a = run_year(frames, year)
    for out, table in (
        (a.lines, catalog.ALLOCATION_LINE),
        (a.enterprises, catalog.ALLOCATION_ENTERPRISE),
        (a.cap, catalog.CAP_SUMMARY),
    ):
        assert out.schema == pl.Schema(table.polars_schema) and _sorted_by_key(out, table)

    sums = a.lines.group_by("enterprise_id").agg(pl.col("allocation_t").sum().alias("s"))
    for ent in a.enterprises.iter_rows(named=True):
        e, a_final = ent["verified_emissions_t"], Decimal(ent["allocation_final_t"])
        # Σ line allocations = A_raw, exactly
        assert row(sums, enterprise_id=ent["enterprise_id"])["s"] == ent["allocation_raw_t"]
        assert ent["adjustment_t"] == a_final - ent["allocation_raw_t"] and ent["gap_t"] == e - a_final
        assert ent["borrowable_t"] >= 0 and ent["preallocation_next_t"] >= 0
        if policy.gap_exemption_enabled.value:  # gap after exemption ≤ min(20 % E, 200 kt) (+ rounding)
            assert ent["gap_t"] < min(Decimal("0.2") * e, Decimal(200_000)) + Decimal("0.5")
        if policy.surplus_cap_enabled.value:  # surplus ≤ min(20 % E, 200 kt) (+ rounding + incentive)
            assert -ent["gap_t"] < (
                min(Decimal("0.2") * e, Decimal(200_000)) + Decimal("0.5") + ent["incentive_t"]
            )

    cap = a.cap.row(0, named=True)
    assert cap["enterprise_count"] == a.enterprises.height
    assert cap["enterprise_total_t"] == a.enterprises["allocation_final_t"].sum()
    assert cap["reserve_t"] == cap["total_cap_t"] - cap["enterprise_total_t"]
    assert abs(Decimal(cap["reserve_t"]) - Decimal("0.05") * cap["total_cap_t"]) <= 1


benchmark_lines = st.lists(
    st.tuples(st.sampled_from(["cement_clinker", "electrolytic_aluminium"]), outputs, outputs, tonnes),
    min_size=1,
    max_size=6,
)


@bounded(10)
@given(st.sampled_from(sorted(POLICIES)), benchmark_lines)
def test_raising_benchmark_output_never_lowers_the_allocation(year, specs):
    def allocations(raised: bool) -> list[Decimal]:
        frames = core(
            [enterprise(f"E{i}") for i in range(len(specs))],
            [line(f"C{i}", f"E{i}", activity=act) for i, (act, *_) in enumerate(specs)],
            [
                line_year(f"C{i}", year, co2, output=q + extra if raised else q, days=300, eid=f"E{i}")
                for i, (_, q, extra, co2) in enumerate(specs)
            ],
        )
        return run_year(frames, year)[1].lines.sort("line_id")["allocation_t"].to_list()

    assert all(after >= before for before, after in zip(allocations(False), allocations(True), strict=True))


@bounded(6)
@given(scenarios(), st.randoms(use_true_random=False))
def test_deterministic_and_independent_of_row_order(case, rnd):
    year, frames = case
    _, first = run_year(frames, year)
    shuffled = type(frames)(
        **{
            name: df.sample(fraction=1.0, shuffle=True, seed=rnd.randrange(2**32))
            for name, df in vars(frames).items()
        }
    )
    _, second = run_year(shuffled, year)
    for x, y in (
        (first.lines, second.lines),
        (first.enterprises, second.enterprises),
        (first.cap, second.cap),
    ):
        assert_frame_equal(x, y)


@bounded(6)
@given(scenarios())
def test_explanations_written_in_slices_are_the_words_written_at_once(case):
    """`model.labels.explained` writes a large year's explanations a slice of rows at a time (for
    memory): every row's words come from its own columns, so one row per slice gives the same
    frames as the whole year at once."""
    from unittest import mock

    from model import labels

    year, frames = case
    _, whole = run_year(frames, year)
    assume(whole.lines.height > 1)  # one slice per row, several slices
    with mock.patch.object(labels, "EXPLAINED_AT_ONCE", 1):
        _, sliced = run_year(frames, year)
    assert_frame_equal(whole.lines, sliced.lines)
    assert_frame_equal(whole.enterprises, sliced.enterprises)
