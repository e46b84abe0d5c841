"""Boundaries of the allocation rules (rules.md §2–§4): each test sits on one edge of one rule."""

from __future__ import annotations

from datetime import date

import pytest

from policies import policy_for_year
from tests.test_allocation_frames import (
    D,
    attribute,
    core,
    enterprise,
    enterprise_year,
    line,
    line_year,
    one_total_enterprise,
    row,
    run_year,
    total_line_rows,
)
from transforms import CoreFrames


# ---- §3.2 intensity outliers: inclusive 20 % ---------------------------------------------------
@pytest.mark.parametrize(
    ("e_2018", "kept", "allocation"),
    [
        ("60000", [2019, 2020], "42300.0000"),  # +20 % exactly: outlier, dropped
        ("59999.9999", [2018, 2019, 2020], "47000.0000"),  # +19.9999999 %: kept, I = 0.5000
    ],
)
def test_outlier_threshold_is_inclusive_and_exact(e_2018, kept, allocation):
    frames = core(
        [enterprise()],
        [line("L1", intensity=True)],
        [
            line_year("L1", 2018, e_2018, output=100_000),
            line_year("L1", 2019, 45_000, output=100_000),
            line_year("L1", 2020, 45_000, output=100_000),
            line_year("L1", 2021, 45_000, output=100_000),
        ],
    )
    _, a = run_year(frames, 2021)
    ln = row(a.lines, line_id="L1")
    assert ln["kept_years"] == kept and ln["allocation_t"] == D(allocation)


def test_zero_output_year_is_unusable_and_disables_the_outlier_test():
    frames = core(
        [enterprise()],
        [line("L1", intensity=True)],
        [
            line_year("L1", 2019, 1_000, output=0),
            line_year("L1", 2020, 30_000, output=100_000),
            line_year("L1", 2021, 70_000, output=100_000),  # would be an outlier among three
            line_year("L1", 2022, 45_000, output=100_000),
        ],
    )
    b, a = run_year(frames, 2022)
    bl = row(b, line_id="L1")
    assert bl["usable_years"] == [2020, 2021] and bl["dropped_years"] == [2019]
    assert [(r["year"], r["reason"]) for r in bl["dropped_reasons"]] == [(2019, "zero_output")]
    assert "2019年产量为0" in row(a.lines, line_id="L1")["explanation"]
    assert "dropped: 2019 zero output" in row(a.lines, line_id="L1")["explanation"]
    assert row(a.lines, line_id="L1")["baseline"] == D("0.5000")


# ---- §3.3 total: strict 183 line shutdown days, leap years --------------------------------------
@pytest.mark.parametrize(("days_2019", "dropped"), [(182, []), (181, [2019])])  # 183 kept, 184 dropped
def test_line_shutdown_183_kept_184_dropped(days_2019, dropped):
    frames = core(
        [enterprise()],
        [line("L1")],
        [
            line_year("L1", 2018, 36_500, output=1),
            line_year("L1", 2019, 18_000, output=1, days=days_2019),
            line_year("L1", 2020, 36_600, output=1),
            line_year("L1", 2021, 30_000, output=1, days=300),
        ],
    )
    _, a = run_year(frames, 2021)
    assert row(a.lines, line_id="L1")["dropped_years"] == dropped


@pytest.mark.parametrize(("days_2020", "dropped"), [(183, []), (182, [2020])])
def test_leap_year_2020_has_366_calendar_days(days_2020, dropped):
    """366 − 183 = 183 shutdown days (kept); 366 − 182 = 184 (dropped)."""
    frames = core(
        [enterprise()],
        [line("L1")],
        [
            line_year("L1", 2019, 36_500, output=1),
            line_year("L1", 2020, 100 * days_2020, output=1, days=days_2020),
            line_year("L1", 2021, 36_500, output=1),
            line_year("L1", 2022, 10_000, output=1, days=100),
        ],
    )
    _, a = run_year(frames, 2022)
    ln = row(a.lines, line_id="L1")
    assert ln["dropped_years"] == dropped
    assert ln["baseline"] == D("100.0000") and ln["allocation_t"] == D("10000.0000")


def test_daily_baseline_divides_by_366_days_in_2020():
    frames = core(
        [enterprise()],
        [line("L1")],
        [
            line_year("L1", 2018, 36_500, output=1),
            line_year("L1", 2019, 36_500, output=1),
            line_year("L1", 2020, 36_600, output=1),
            line_year("L1", 2021, 1, output=1, days=365),
        ],
    )
    _, a = run_year(frames, 2021)
    assert row(a.lines, line_id="L1")["baseline"] == D("100.0000")  # 109,600 / 1,096


def test_two_long_shutdown_years_keep_all_and_flag_the_line():
    frames = core(
        [enterprise()],
        [line("L1"), line("L2")],
        [
            line_year("L1", 2019, 10_000, output=1, days=100),
            line_year("L1", 2020, 10_000, output=1, days=100),
            line_year("L1", 2021, 36_500, output=1),
            line_year("L1", 2022, 1, output=1, days=365),
            line_year("L2", 2022, 1, output=1),
        ],
    )
    b, _ = run_year(frames, 2022)
    bl = row(b, line_id="L1")
    assert bl["method"] == "total" and bl["kept_years"] == [2019, 2020, 2021]
    assert bl["flags"] == "multiple_long_shutdowns"


# ---- §2 rule 2: enterprise-wide shutdown ≥ 183 days in ≥ 2 base years -----------------------------
@pytest.mark.parametrize(("shutdowns", "method"), [((182, 190, 0), "benchmark"), ((183, 183, 0), "equal")])
def test_enterprise_shutdown_182_vs_183(shutdowns, method):
    frames = core(
        [enterprise()],
        [line("C1", activity="cement_clinker")],
        [line_year("C1", 2021, 900, output=1_000)],
        enterprise_years=[
            enterprise_year("E1", y, s) for y, s in zip((2018, 2019, 2020), shutdowns, strict=True)
        ],
    )
    _, a = run_year(frames, 2021)
    assert row(a.lines, line_id="C1")["method"] == method


# ---- §2 rule 4: new builds ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("activity", "commissioned", "year", "method"),
    [
        ("other", date(2020, 1, 1), 2022, "total"),  # 2020 counts: 2 full years
        ("other", date(2020, 1, 2), 2022, "equal"),  # first full year 2021: 1 full year
        ("cement_clinker", date(2021, 1, 1), 2022, "benchmark"),  # 1 full year suffices
        ("cement_clinker", date(2021, 1, 2), 2022, "equal"),
    ],
)
def test_commissioning_on_1_vs_2_january(activity, commissioned, year, method):
    frames = core(
        [enterprise()],
        [line("L1", activity=activity, commissioned_on=commissioned)],
        [
            line_year("L1", 2020, 30_000, output=30_000),
            line_year("L1", 2021, 36_500, output=40_000),
            line_year("L1", year, 36_500, output=40_000),
        ],
    )
    b, a = run_year(frames, year)
    ln = row(a.lines, line_id="L1")
    assert ln["method"] == method
    if method == "equal":
        assert ln["method_reason"] == "new_build"
    if method == "total":
        assert ln["kept_years"] == [2020, 2021] and ln["dropped_years"] == [2019]


# ---- §2 rule 8: fallbacks ------------------------------------------------------------------------
def test_intensity_without_output_falls_back_to_total():
    frames = core(
        [enterprise()],
        [line("L1", intensity=True)],
        [
            *[line_year("L1", y, 36_500, output=0) for y in (2019, 2021)],
            line_year("L1", 2020, 36_600, output=0),
            line_year("L1", 2022, 20_000, output=0, days=200),
        ],
    )
    _, a = run_year(frames, 2022)
    ln = row(a.lines, line_id="L1")
    assert (ln["method"], ln["method_reason"]) == ("total", "fallback_intensity_to_total")
    assert ln["baseline"] == D("100.0000") and ln["allocation_t"] == D("20000.0000")


def test_no_base_year_record_falls_back_to_equal():
    frames = core([enterprise()], [line("L1", intensity=True)], [line_year("L1", 2022, 20_000, output=5)])
    b, a = run_year(frames, 2022)
    ln = row(a.lines, line_id="L1")
    assert (ln["method"], ln["method_reason"]) == ("equal", "fallback_total_to_equal")
    assert ln["baseline"] is None and ln["allocation_t"] == D("20000")
    assert ln["dropped_years"] == [2019, 2020, 2021]
    assert [r["reason"] for r in row(b, line_id="L1")["dropped_reasons"]] == ["no_record"] * 3
    assert "2019年无核查数据；2020年无核查数据" in ln["explanation"]
    assert "2019 no verified record; 2020 no verified record" in ln["explanation"]


def test_kept_years_without_production_days_fall_back_to_equal():
    frames = core(
        [enterprise()],
        [line("L1")],
        [
            *[line_year("L1", y, 0, output=0, days=0) for y in (2019, 2020, 2021)],
            line_year("L1", 2022, 20_000, output=1),
        ],
    )
    _, a = run_year(frames, 2022)
    ln = row(a.lines, line_id="L1")
    assert ln["method_reason"] == "fallback_total_to_equal" and ln["allocation_t"] == D("20000")


# ---- §3.1 corrections ---------------------------------------------------------------------------
def _restated(ef_2022):
    return core(
        [enterprise()],
        [line("L1")],
        [
            line_year("L1", 2019, 365_000, output=1, mwh=1_000, ef="0.5703"),
            line_year("L1", 2020, "366010.7", output=1, mwh=1_000, ef="0.5810"),  # restated by −10.7 t
            line_year("L1", 2021, 365_000, output=1),
            line_year("L1", 2022, 365_000, output=1, mwh=1_000, ef=ef_2022),
        ],
    )


def test_electricity_factor_restatement():
    b, a = run_year(_restated("0.5703"), 2022)
    ln = row(a.lines, line_id="L1")
    assert ln["baseline"] == D("1000.0000") and ln["allocation_t"] == D("365000.0000")
    assert "CO2 restated by -10.7 t" in ln["explanation"]
    assert "0.581000→0.570300" in ln["explanation"]
    assert [r["restatement_t"] for r in row(b, line_id="L1")["restatements"]] == [D("-10.7")]


def test_no_restatement_without_the_factor_of_the_year():
    _, a = run_year(_restated(None), 2022)
    assert row(a.lines, line_id="L1")["baseline"] == D("1000.0098")  # 1,096,010.7 / 1,096


@pytest.mark.parametrize(
    ("field", "on", "kept"),
    [
        ("reduction_project_on", date(2020, 1, 1), [2020, 2021]),  # 2020 starts on the date: usable
        ("reduction_project_on", date(2020, 1, 2), [2021]),
        ("major_change_on", date(2019, 7, 1), [2020, 2021]),
    ],
)
def test_reduction_project_and_major_change_dates(field, on, kept):
    frames = core(
        [enterprise()],
        [line("L1", **{field: on})],
        [
            line_year("L1", 2019, 73_000, output=1),
            line_year("L1", 2020, 36_600, output=1),
            line_year("L1", 2021, 36_500, output=1),
            line_year("L1", 2022, 100, output=1, days=1),
        ],
    )
    b, a = run_year(frames, 2022)
    ln = row(a.lines, line_id="L1")
    assert ln["kept_years"] == kept and ln["baseline"] == D("100.0000")
    assert {r["reason"] for r in row(b, line_id="L1")["dropped_reasons"]} == {
        "before_reduction_project" if field == "reduction_project_on" else "before_major_change"
    }
    assert (
        f"before the {'reduction project' if field == 'reduction_project_on' else 'major change'} ({on})"
        in (ln["explanation"])
    )


# ---- §2 rule 1: stopped lines (2023) -------------------------------------------------------------
@pytest.mark.parametrize(
    ("days", "stopped_on", "method"),
    [(0, None, "excluded"), (10, date(2023, 1, 1), "excluded"), (10, date(2023, 1, 2), "benchmark")],
)
def test_stopped_line_2023(days, stopped_on, method):
    frames = core(
        [enterprise()],
        [
            line("C1", activity="cement_clinker", stopped_on=stopped_on),
            line("W1", activity="waste_incineration"),
        ],
        [line_year("C1", 2023, 800, output=1_000, days=days, non_co2=5), line_year("W1", 2023, 10_000)],
    )
    _, a = run_year(frames, 2023)
    ln = row(a.lines, line_id="C1")
    assert ln["method"] == method
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["verified_emissions_t"] == D("10805")  # E still counts the stopped line
    if method == "excluded":
        assert ln["allocation_t"] == 0 and ln["method_reason"] == "stopped"
        assert ent["allocation_raw_t"] == D("10000")


def test_line_stopped_before_the_year_without_a_record_is_published_as_excluded():
    # stopped 2022-11-01: no 2023 record at all, but it produced in the base years
    frames = core(
        [enterprise()],
        [
            line("C1", activity="cement_clinker", stopped_on=date(2022, 11, 1)),
            line("W1", activity="waste_incineration"),
        ],
        [
            line_year("C1", 2022, 800, output=1_000),
            line_year("W1", 2023, 10_000),
            line_year("W1", 2022, 9_000),
        ],
    )
    _, a = run_year(frames, 2023)
    ln = row(a.lines, line_id="C1")
    assert (ln["method"], ln["method_reason"], ln["allocation_t"]) == ("excluded", "stopped", 0)
    assert "§2.1" in ln["explanation"]
    assert row(a.enterprises, enterprise_id="E1")["allocation_raw_t"] == D("10000")
    # before 2023 there is no stopped-line rule: a line without a record for Y has no row
    _, a22 = run_year(frames, 2022)
    assert set(a22.lines["line_id"]) == {"C1", "W1"}
    _, a21 = run_year(
        core(
            [enterprise()],
            [line("C1", activity="cement_clinker", stopped_on=date(2020, 6, 1))],
            [line_year("C1", 2020, 800, output=1_000)],
        ),
        2021,
    )
    assert a21.lines.height == 0


def test_zero_day_line_is_not_stopped_before_2023():
    frames = core(
        [enterprise()], [line("W1", activity="waste_incineration")], [line_year("W1", 2022, 50, days=0)]
    )
    _, a = run_year(frames, 2022)
    assert row(a.lines, line_id="W1")["method"] == "equal"


# ---- §4 incentive (2023): each condition failing on its own --------------------------------------
def _incentive_case(
    grade="A",
    penalized=False,
    clinker_2022=(100_000, 80_000),
    clinker_2023=75_000,
    investigated=None,
    efficient=None,
    policy=None,
):
    rows = total_line_rows("L1", 2023, 400_000, 300_000)
    if clinker_2022 is not None:
        rows.append(line_year("C2", 2022, clinker_2022[1], output=clinker_2022[0]))
    rows.append(line_year("C2", 2023, clinker_2023, output=100_000))
    frames = core(
        [enterprise()],
        [line("L1"), line("C2", activity="cement_clinker")],
        rows,
        attributes=[
            attribute(
                "E1", 2023, grade=grade, penalized=penalized, investigated=investigated, efficient=efficient
            )
        ],
    )
    return run_year(frames, 2023, policy)[1]


def test_incentive_when_every_condition_holds():
    a = _incentive_case()
    ent = row(a.enterprises, enterprise_id="E1")
    # A_raw = 400,000 + 82,440; E = 375,000; cap 1.2E = 450,000; 0.5 % = 2,250 → 2,000 max
    assert ent["incentive_t"] == 2_000 and ent["allocation_final_t"] == 452_000
    assert a.lines["is_improved_on_prior_year"].to_list() == [True, True]


@pytest.mark.parametrize(
    ("case", "capped"),
    [
        ({"penalized": True}, 450_000),  # 1.2 × E, E = 375,000
        ({"grade": "C"}, 450_000),
        ({"grade": None}, 450_000),
        ({"clinker_2023": 85_000}, 462_000),  # E/Q rose on the clinker line; E = 385,000
        ({"clinker_2023": 80_000}, 456_000),  # E/Q equal: did not fall; E = 380,000
        ({"clinker_2022": None}, 450_000),  # a line without a 2022 record did not improve
        ({"investigated": True}, 450_000),  # v2: suspected violation under investigation
    ],
)
def test_incentive_fails_on_each_condition(case, capped):
    a = _incentive_case(**case)
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["incentive_t"] == 0 and ent["adjustment_rule"] == "surplus_cap_share"
    assert ent["allocation_final_t"] == capped
    assert "协同激励" in ent["explanation"] and "synergy incentive" in ent["explanation"]


def test_under_investigation_is_named_and_empty_means_false():
    ent = row(_incentive_case(investigated=True).enterprises, enterprise_id="E1")
    assert "涉嫌生态环境违法" in ent["explanation"] and "under investigation" in ent["explanation"]
    assert row(_incentive_case(investigated=False).enterprises, enterprise_id="E1")["incentive_t"] == 2_000
    assert row(_incentive_case(investigated=None).enterprises, enterprise_id="E1")["incentive_t"] == 2_000


def _ee_pack(tmp_path, pct: str):
    from policies import load_policy
    from tests.test_allocation_packs import edit_pack

    return load_policy(edit_pack(tmp_path, 2023, {"energy_efficiency_incentive_pct": {"value": f'"{pct}"'}}))


def test_energy_efficiency_criterion_with_the_bundled_placeholder_gives_nothing():
    ent = row(_incentive_case(grade="C", efficient=True).enterprises, enterprise_id="E1")
    assert ent["incentive_t"] == 0 and ent["provisional"]  # 0 % is a placeholder (rules.md §6a)
    assert "能效达到标杆水平" in ent["explanation"]


@pytest.mark.parametrize(
    ("grade", "efficient", "pct", "incentive"),
    [
        # A_adj = 450,000 (1.2 E, E = 375,000)
        ("C", True, "0.2", 900),  # energy efficiency alone: 0.2 % × 450,000
        ("C", False, "0.2", 0),
        ("C", True, "0.4444", 2_000),  # 1,999.8 → 2,000 (half-up), at the cap
        ("C", True, "0.4445", 2_000),  # 2,000.25 → capped at 2,000
        ("A", True, "0.1", 2_000),  # 0.5 % + 0.1 % = 2,700 → 2,000 in all, not 2,000 + 450
        ("A", None, "0.1", 2_000),  # grade A alone: 2,250 → 2,000
    ],
)
def test_energy_efficiency_criterion_sums_under_the_shared_cap(tmp_path, grade, efficient, pct, incentive):
    a = _incentive_case(grade=grade, efficient=efficient, policy=_ee_pack(tmp_path, pct))
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["incentive_t"] == incentive and ent["allocation_final_t"] == 450_000 + incentive
    if efficient and grade == "C":
        assert ent["adjustment_rule"] == "surplus_cap_share+incentive_energy_efficiency"


def test_energy_efficiency_criterion_is_refused_under_investigation(tmp_path):
    a = _incentive_case(grade="C", efficient=True, investigated=True, policy=_ee_pack(tmp_path, "0.2"))
    assert row(a.enterprises, enterprise_id="E1")["incentive_t"] == 0


def test_unit_with_only_equal_lines_gets_no_grade_incentive():
    frames = core(
        [enterprise()],
        [line("W1", activity="waste_incineration")],
        [line_year("W1", 2022, 10_000), line_year("W1", 2023, 9_000)],
        attributes=[attribute("E1", 2023, grade="A")],
    )
    ent = row(run_year(frames, 2023)[1].enterprises, enterprise_id="E1")
    assert ent["incentive_t"] == 0 and ent["allocation_final_t"] == 9_000
    assert "no benchmark, intensity or total line" in ent["explanation"]


def test_grade_b_uses_the_provisional_grade_b_share():
    ent = row(_incentive_case(grade="B").enterprises, enterprise_id="E1")
    assert ent["incentive_t"] == 0 and ent["provisional"]


def test_no_incentive_before_2023():
    frames = one_total_enterprise(2022, 100_000, 90_000, attributes=[attribute("E1", 2022, grade="A")])
    _, a = run_year(frames, 2022)
    assert row(a.enterprises, enterprise_id="E1")["incentive_t"] == 0
    assert row(a.lines, line_id="L1")["is_improved_on_prior_year"] is None


# ---- §4 surplus cap (2023) -----------------------------------------------------------------------
def test_surplus_cap_200kt():
    _, a = run_year(one_total_enterprise(2023, 1_500_000, 1_100_000), 2023)
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_final_t"] == 1_300_000 and ent["adjustment_rule"] == "surplus_cap_max"


# ---- §4 pre-allocation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sector", "cancelled", "expected"),
    [("钢铁行业", False, 0), ("电解铝行业", False, 0), ("化工行业", False, 70_000), ("化工行业", True, 0)],
)
def test_preallocation_2024_sectors_and_cancellation(sector, cancelled, expected):
    frames = one_total_enterprise(
        2023, 100_000, 100_000, sector=sector, attributes=[attribute("E1", 2023, cancelled=cancelled)]
    )
    _, a = run_year(frames, 2023)
    assert row(a.enterprises, enterprise_id="E1")["preallocation_next_t"] == expected


def test_preallocation_2023_cancelled_and_steel_still_preallocated_from_2022():
    frames = core(
        [enterprise("E1", "钢铁行业"), enterprise("E2")],
        [line("W1", "E1", activity="waste_incineration"), line("W2", "E2", activity="waste_incineration")],
        [line_year("W1", 2022, 1_000, eid="E1"), line_year("W2", 2022, 1_000, eid="E2")],
        attributes=[attribute("E2", 2022, cancelled=True)],
    )
    _, a = run_year(frames, 2022)
    assert a.enterprises["preallocation_next_t"].to_list() == [700, 0]


# ---- population ---------------------------------------------------------------------------------
def test_only_enterprises_listed_for_the_year_with_a_record_are_allocated():
    frames = core(
        [enterprise("E1", listed="2021"), enterprise("E2", listed="2021, 2022"), enterprise("E3")],
        [
            line("L1", "E1", activity="shale_gas"),
            line("L2", "E2", activity="shale_gas"),
            line("L3", "E3", activity="shale_gas"),
        ],
        [
            line_year("L1", 2022, 10, eid="E1"),
            line_year("L2", 2022, 20, eid="E2"),
            line_year("L3", 2021, 30, eid="E3"),
        ],
    )
    b, a = run_year(frames, 2022)
    assert b["line_id"].to_list() == ["L2"]
    assert a.enterprises["enterprise_id"].to_list() == ["E2"]
    assert a.lines["method_reason"].to_list() == ["activity_equal"]


def test_non_co2_is_always_an_equal_component():
    frames = core(
        [enterprise()],
        [line("C1", activity="cement_clinker")],
        [line_year("C1", 2022, 800, output=1_000, non_co2="12.3456")],
    )
    _, a = run_year(frames, 2022)
    ln = row(a.lines, line_id="C1")
    assert ln["allocation_co2_t"] == D("824.4") and ln["allocation_non_co2_t"] == D("12.3456")
    assert ln["allocation_t"] == D("836.7456")


# ---- §3.1 (v2): the reduction-project window and the major-change window -------------------------
def _dated_total_line(field: str, on: date) -> CoreFrames:
    """A 'total' line with a different daily emission in each year 2018–2022 (D 300/200/100/50),
    so that the baseline tells which base years were kept."""
    return core(
        [enterprise()],
        [line("L1", **{field: on})],
        [
            line_year("L1", 2018, 300 * 365, output=1),
            line_year("L1", 2019, 200 * 365, output=1),
            line_year("L1", 2020, 100 * 366, output=1),
            line_year("L1", 2021, 50 * 365, output=1),
            line_year("L1", 2022, 100, output=1, days=1),
        ],
    )


@pytest.mark.parametrize(
    ("year", "field", "on", "kept", "inside"),
    [
        # reduction project, window 2018–2020 (S0 words, 2021 and 2022)
        (2021, "reduction_project_on", date(2018, 1, 1), [2018, 2019, 2020], True),  # first day
        (2021, "reduction_project_on", date(2017, 12, 31), [2018, 2019, 2020], False),  # day before
        (2022, "reduction_project_on", date(2020, 12, 31), [2021], True),  # last day: 2019, 2020 out
        (2022, "reduction_project_on", date(2021, 1, 1), [2019, 2020, 2021], False),  # day after (T16)
        # major change, window = the base years (2022: 2019–2021)
        (2022, "major_change_on", date(2019, 1, 1), [2019, 2020, 2021], True),  # first day
        (2022, "major_change_on", date(2018, 12, 31), [2019, 2020, 2021], False),  # day before
        (2021, "major_change_on", date(2020, 12, 31), [], True),  # last day: every base year out
        (2021, "major_change_on", date(2021, 1, 1), [2018, 2019, 2020], False),  # day after
    ],
)
def test_dates_count_only_inside_their_window(year, field, on, kept, inside):
    b, a = run_year(_dated_total_line(field, on), year)
    ln = row(a.lines, line_id="L1")
    expl = ln["explanation"]
    assert str(on) in expl
    if kept:
        assert ln["method"] == "total" and ln["kept_years"] == kept
    else:  # nothing usable: falls back to equal, every base year listed as dropped
        assert ln["method_reason"] == "fallback_total_to_equal" and ln["kept_years"] == []
    window = "2018–2020" if field == "reduction_project_on" or year == 2021 else "2019–2021"
    if inside:
        assert f"inside the {'window' if field == 'reduction_project_on' else 'base years'} {window}" in expl
        unusable = [y for y in policy_for_year(year).base_years.value if y not in kept]
        if unusable:
            assert ", ".join(map(str, unusable)) + " unusable" in expl
        else:
            assert "no base year starts before it" in expl
    else:
        assert "outside the" in expl and "no base year made unusable" in expl
        assert not row(b, line_id="L1")["dropped_reasons"] and "早于" not in expl


def test_2023_reduction_window_is_the_base_years_and_provisional():
    p = policy_for_year(2023)
    assert p.reduction_project_window.value == (2020, 2022) and p.reduction_project_window.provisional
    assert policy_for_year(2021).reduction_project_window.confidence == "verified"
