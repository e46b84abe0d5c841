"""Rule packs drive the allocation: user packs, the 2023 pack, provisional flags, the cost-control switch,
and the shape of the outputs."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from model import catalog
from policies import default_policy_path, load_policy, policy_for_year
from tests.test_allocation_frames import (
    D,
    attribute,
    core,
    enterprise,
    line,
    line_year,
    one_total_enterprise,
    row,
    run_year,
)
from transforms import CoreFrames
from transforms.allocate import allocate
from transforms.baselines import compute_baselines


def edit_pack(tmp_path: Path, year: int, edits: dict[str, dict[str, str]], text: str | None = None) -> Path:
    """A copy of the bundled pack of `year` with `edits` = {key: {field: TOML literal}} applied."""
    text = text or default_policy_path(year).read_text(encoding="utf-8")
    for key, fields in edits.items():
        for field, literal in fields.items():
            pattern = rf"(\[{re.escape(key)}\]\n(?:.*\n)*?){field} = .*\n"
            text, n = re.subn(pattern, rf"\g<1>{field} = {literal}\n", text, count=1)
            assert n == 1, (key, field)
    path = tmp_path / f"user-{year}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _t14() -> CoreFrames:
    return core(
        [enterprise()],
        [line("C1", activity="cement_clinker"), line("L2", intensity=True)],
        [
            line_year("C1", 2022, 870_000, output=1_000_000),
            *[line_year("L2", y, 2_000, output=100_000) for y in (2019, 2020, 2021)],
            line_year("L2", 2022, 30_000, output=1_500_000),
        ],
    )


def test_user_pack_with_another_benchmark_changes_the_result(tmp_path):
    path = edit_pack(
        tmp_path,
        2022,
        {"benchmarks": {"value": '{ cement_clinker = "0.8500", electrolytic_aluminium = "7.7557" }'}},
    )
    user = load_policy(path)
    _, bundled = run_year(_t14(), 2022)
    _, mine = run_year(_t14(), 2022, user)
    assert row(bundled.lines, line_id="C1")["allocation_t"] == D("824400")
    clinker = row(mine.lines, line_id="C1")
    assert clinker["allocation_t"] == D("850000") and clinker["coefficient"] == D("0.8500")
    assert user.version in clinker["explanation"] and user.version != policy_for_year(2022).version
    assert row(mine.enterprises, enterprise_id="E1")["allocation_final_t"] == 878_350


def test_user_pack_with_other_coefficient_and_base_years(tmp_path):
    path = edit_pack(
        tmp_path, 2022, {"k_intensity": {"value": '"0.9000"'}, "base_years": {"value": "[2020, 2021]"}}
    )
    _, a = run_year(_t14(), 2022, load_policy(path))
    ln = row(a.lines, line_id="L2")
    assert ln["kept_years"] == [2020, 2021] and ln["allocation_t"] == D("27000")


def test_cost_control_switch_is_refused_with_the_parameter_name(tmp_path):
    path = edit_pack(tmp_path, 2023, {"cost_control_enabled": {"value": "true"}})
    frames = one_total_enterprise(2023, 1_000, 1_000)
    policy = load_policy(path)
    with pytest.raises(NotImplementedError, match="cost_control_enabled"):
        allocate(compute_baselines(frames, policy), frames, policy)


def test_2023_pack_values_and_placeholders():
    p = policy_for_year(2023)
    assert p.stopped_lines_excluded.value and not p.gap_exemption_enabled.value
    assert (p.surplus_cap_share.value, p.surplus_cap_max_t.value) == (Decimal("0.20"), Decimal(200_000))
    assert (p.incentive_grade_a_pct.value, p.incentive_max_t.value) == (Decimal("0.5"), Decimal(2_000))
    assert not p.borrowing_enabled.value and p.preallocation_share.value == Decimal("0.70")
    assert set(p.preallocation_excluded_sectors.value) == {"水泥制造行业", "钢铁行业", "电解铝行业"}
    assert p.reserve_share.value == Decimal("0.05")
    assert (p.offset_types.value, p.offset_limit_share.value) == (("cqcer",), Decimal("0.05"))
    assert not p.offset_locality_enabled.value
    assert (p.green_power_share.value, p.green_power_max_t.value) == (Decimal("0.08"), Decimal(2_000))
    p22 = policy_for_year(2022)
    assert p.base_years.value == (2020, 2021, 2022)
    assert (p.benchmarks.value, p.k_intensity.value, p.k_total.value) == (
        p22.benchmarks.value,
        p22.k_intensity.value,
        p22.k_total.value,
    )
    assert sorted(p.provisional_params()) == sorted(
        [
            "base_years",
            "benchmarks",
            "k_intensity",
            "k_total",
            "incentive_grade_b_pct",
            "cost_control_enabled",
            "deadline",
            # rules.md §6a v2: unsourced in the 2023 text too
            "equal_enterprise_shutdown_days",
            "equal_enterprise_min_years",
            "equal_activities",
            "new_build_full_years_benchmark",
            "new_build_full_years_other",
            "intensity_outlier_share",
            "total_drop_shutdown_days",
            "reduction_project_window",
            "energy_efficiency_incentive_pct",
            "offset_hydro_refused",
        ]
    )
    for key, param in p.params().items():  # verified = read in S4; placeholders point to rules.md §6a
        if param.confidence == "verified":
            assert "S4" in param.source or "not used" in param.source, key
        if param.provisional:
            assert "R §6a" in param.source, key


def _mixed_2023() -> CoreFrames:
    return core(
        [enterprise("E1"), enterprise("E2")],
        [line("C1", "E1", activity="cement_clinker"), line("W2", "E2", activity="waste_incineration")],
        [line_year("C1", 2023, 800, output=1_000, eid="E1"), line_year("W2", 2023, 500, eid="E2")],
    )


def test_provisional_follows_the_parameters_each_row_used(tmp_path):
    _, a22 = run_year(
        core(
            [enterprise()],
            [line("C1", activity="cement_clinker")],
            [line_year("C1", 2022, 800, output=1_000)],
        ),
        2022,
    )
    assert not a22.lines["provisional"].any() and not a22.enterprises["provisional"].any()
    assert not a22.cap["provisional"].any()

    _, a23 = run_year(_mixed_2023(), 2023)
    assert row(a23.lines, line_id="C1")["provisional"]  # the 2023 benchmark is a placeholder
    # v2: the industries on the equal method are a 2023 placeholder too (rules.md §6a)
    assert row(a23.lines, line_id="W2")["provisional"]
    # … and only that one: confirmed, the equal-by-activity line uses no placeholder
    user = edit_pack(tmp_path, 2023, {"equal_activities": {"confidence": '"verified"'}})
    _, confirmed = run_year(_mixed_2023(), 2023, load_policy(user))
    assert not row(confirmed.lines, line_id="W2")["provisional"]
    assert row(confirmed.lines, line_id="C1")["provisional"]
    # every 2023 enterprise depends on the cost-control placeholder being off
    assert a23.enterprises["provisional"].all() and a23.cap["provisional"].all()


def test_grade_b_share_marks_only_grade_b_units_provisional(tmp_path):
    text = (
        default_policy_path(2023)
        .read_text(encoding="utf-8")
        .replace('confidence = "provisional"', 'confidence = "verified"')
    )
    path = edit_pack(
        tmp_path,
        2023,
        {"incentive_grade_b_pct": {"value": '"0.3"', "confidence": '"provisional"'}},
        text=text,
    )
    policy = load_policy(path)
    assert policy.provisional_params() == ["incentive_grade_b_pct"]
    results = {}
    for grade in ("A", "B"):
        frames = one_total_enterprise(2023, 400_000, 300_000, attributes=[attribute("E1", 2023, grade=grade)])
        _, a = run_year(frames, 2023, policy)
        results[grade] = row(a.enterprises, enterprise_id="E1")
        assert a.cap["provisional"].to_list() == [grade == "B"]
    assert (results["A"]["incentive_t"], results["A"]["provisional"]) == (1_800, False)
    assert (results["B"]["incentive_t"], results["B"]["provisional"]) == (1_080, True)  # 0.3 % × 360,000


def test_outputs_follow_the_catalog_and_baselines_persist(tmp_path):
    b, a = run_year(_mixed_2023(), 2023)
    for out, table in (
        (a.lines, catalog.ALLOCATION_LINE),
        (a.enterprises, catalog.ALLOCATION_ENTERPRISE),
        (a.cap, catalog.CAP_SUMMARY),
    ):
        assert out.columns == table.names and out.schema == pl.Schema(table.polars_schema)
    assert not any(dtype == pl.Object for dtype in b.schema.values())
    b.write_parquet(tmp_path / "baselines.parquet")
    assert pl.read_parquet(tmp_path / "baselines.parquet").equals(b)
    for column in (
        "compliance_year",
        "enterprise_id",
        "line_id",
        "activity",
        "method",
        "method_reason",
        "baseline",
        "kept_years",
        "dropped_years",
        "dropped_reasons",
        "usable_years",
    ):
        assert column in b.columns
    assert b.schema["kept_years"] == pl.List(pl.Int32) and b.schema["baseline"] == pl.Decimal(18, 4)


def test_nothing_to_allocate_gives_an_empty_year():
    frames = CoreFrames.empty()
    policy = policy_for_year(2022)
    a = allocate(compute_baselines(frames, policy), frames, policy)
    assert a.lines.is_empty() and a.enterprises.is_empty()
    assert a.cap.row(0, named=True) == {
        "compliance_year": 2022,
        "enterprise_count": 0,
        "enterprise_total_t": 0,
        "reserve_t": 0,
        "total_cap_t": 0,
        "provisional": False,
        "partial": False,  # contract v2: nothing left out, nothing to allocate
        "enterprises_left_out": 0,
    }


def test_cap_summary_says_partial_when_enterprises_were_left_out():
    frames = _t14()
    policy = policy_for_year(2022)
    a = allocate(compute_baselines(frames, policy), frames, policy, left_out=2)
    cap = a.cap.row(0, named=True)
    assert (cap["partial"], cap["enterprises_left_out"], cap["enterprise_total_t"]) == (True, 2, 852_750)
    whole = allocate(compute_baselines(frames, policy), frames, policy).cap.row(0, named=True)
    assert (whole["partial"], whole["enterprises_left_out"]) == (False, 0)
