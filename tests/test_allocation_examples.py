"""The worked examples T1–T18 of rules.md §7 through compute_baselines + allocate.

T10 (offset locality) and the green-power part of T12 belong to clearance (tests/test_clearance.py);
only T12's allocation part is here.
"""

from __future__ import annotations

from datetime import date

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


def test_t1_2021_clinker_benchmark():
    frames = core(
        [enterprise()],
        [line("C1", activity="cement_clinker")],
        [line_year("C1", 2021, 1_050_000, output=1_200_000)],
    )
    _, a = run_year(frames, 2021)
    ln = row(a.lines, line_id="C1")
    assert (ln["method"], ln["method_reason"]) == ("benchmark", "benchmark")
    assert ln["coefficient"] == D("0.8289") and ln["activity_value"] == D("1200000")
    assert ln["allocation_t"] == D("994680.0000")
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_final_t"] == 994_680 and ent["adjustment_rule"] == "none"
    assert ent["preallocation_next_t"] == 0  # no pre-allocation from 2021


def test_t2_2022_intensity_drops_the_2020_outlier():
    frames = core(
        [enterprise()],
        [line("L1", intensity=True)],
        [
            line_year("L1", 2019, 50_000, output=100_000),
            line_year("L1", 2020, 52_000, output=80_000),
            line_year("L1", 2021, 60_000, output=120_000),
            line_year("L1", 2022, 55_000, output=110_000),
        ],
    )
    b, a = run_year(frames, 2022)
    bl = row(b, line_id="L1")
    assert bl["kept_years"] == [2019, 2021] and bl["dropped_years"] == [2020]
    assert [(r["year"], r["reason"], r["deviation_bp"]) for r in bl["dropped_reasons"]] == [
        (2020, "intensity_outlier", 2037)
    ]
    ln = row(a.lines, line_id="L1")
    assert "剔除：2020年强度偏离加权平均值 +20.37% ≥ 20%；" in ln["explanation"]
    assert "dropped: 2020 intensity +20.37% ≥ ±20% of the weighted mean; " in ln["explanation"]
    assert ln["baseline"] == D("0.5000") and ln["coefficient"] == D("0.9450")
    assert ln["allocation_t"] == D("51975.0000")
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_final_t"] == 51_975 and ent["preallocation_next_t"] == 36_383  # 36382.5 → up


def test_t3_exactly_20_percent_is_an_outlier():
    frames = core(
        [enterprise()],
        [line("L1", intensity=True)],
        [
            line_year("L1", 2018, 60_000, output=100_000),
            line_year("L1", 2019, 45_000, output=100_000),
            line_year("L1", 2020, 45_000, output=100_000),
            line_year("L1", 2021, 45_000, output=100_000),
        ],
    )
    _, a = run_year(frames, 2021)
    ln = row(a.lines, line_id="L1")
    assert ln["dropped_years"] == [2018] and ln["kept_years"] == [2019, 2020]
    assert ln["baseline"] == D("0.4500")
    assert ln["allocation_t"] == D("42300.0000")  # float comparison would keep 2018 and give 47,000


def test_t4_two_outliers_keep_all_three_years():
    frames = core(
        [enterprise()],
        [line("L1", intensity=True)],
        [
            line_year("L1", 2019, 30_000, output=100_000),
            line_year("L1", 2020, 50_000, output=100_000),
            line_year("L1", 2021, 70_000, output=100_000),
            line_year("L1", 2022, 45_000, output=90_000),
        ],
    )
    b, a = run_year(frames, 2022)
    ln = row(a.lines, line_id="L1")
    assert ln["kept_years"] == [2019, 2020, 2021] and ln["dropped_years"] == []
    assert ln["baseline"] == D("0.5000") and ln["allocation_t"] == D("42525.0000")
    bl = row(b, line_id="L1")
    assert bl["base_year_note"] == "all_outliers" and bl["note_years"] == [2019, 2021]
    assert "剔除：2019、2021年强度均偏离加权平均值 ≥ 20%，基准年保持不变" in ln["explanation"]
    assert (
        "dropped: 2019, 2021 all deviate ≥ ±20% from the weighted mean: all years kept" in ln["explanation"]
    )


def _t5(e_2019, days_2019):
    return core(
        [enterprise()],
        [line("L1")],
        [
            line_year("L1", 2018, 36_500, output=1, days=365),
            line_year("L1", 2019, e_2019, output=1, days=days_2019),
            line_year("L1", 2020, 36_600, output=1, days=366),
            line_year("L1", 2021, 30_000, output=1, days=300),
        ],
    )


def test_t5a_total_drops_the_year_with_more_than_183_shutdown_days():
    b, a = run_year(_t5(10_000, 165), 2021)
    ln = row(a.lines, line_id="L1")
    assert ln["method"] == "total" and ln["dropped_years"] == [2019]
    assert [
        (r["year"], r["reason"], r["shutdown_days"]) for r in row(b, line_id="L1")["dropped_reasons"]
    ] == [(2019, "long_shutdown", 200)]
    assert "2019年生产线停产200天 > 183天" in ln["explanation"]
    assert "2019 line shut down 200 days > 183" in ln["explanation"]
    assert ln["baseline"] == D("100.0000") and ln["activity_value"] == D("300")
    assert ln["allocation_t"] == D("30000.0000")
    assert row(a.enterprises, enterprise_id="E1")["allocation_final_t"] == 30_000


def test_t5b_exactly_183_shutdown_days_is_kept():
    _, a = run_year(_t5(20_000, 182), 2021)
    ln = row(a.lines, line_id="L1")
    assert ln["kept_years"] == [2018, 2019, 2020] and ln["dropped_years"] == []
    assert ln["baseline"] == D("101.9715")  # 93,100 / 913 = 101.97152…
    assert ln["allocation_t"] == D("30591.4500")
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_final_t"] == 30_591 and ent["adjustment_rule"] == "rounding"
    assert ent["adjustment_t"] == D("-0.4500")


def test_t6_enterprise_shut_down_two_base_years_takes_equal():
    frames = core(
        [enterprise()],
        [line("C1", activity="cement_clinker"), line("L2", intensity=True)],
        [line_year("C1", 2021, 20_000, output=30_000), line_year("L2", 2021, 5_000, output=10_000)],
        enterprise_years=[
            enterprise_year("E1", 2018, 183),
            enterprise_year("E1", 2019, 190),
            enterprise_year("E1", 2020, 0),
        ],
    )
    _, a = run_year(frames, 2021)
    assert a.lines["method"].to_list() == ["equal", "equal"]
    assert a.lines["method_reason"].to_list() == ["enterprise_shutdown"] * 2
    assert row(a.enterprises, enterprise_id="E1")["allocation_final_t"] == 25_000


def test_t7_gap_exemption_to_80_percent_and_borrowing():
    _, a = run_year(one_total_enterprise(2022, 380_000, 500_000), 2022)
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_raw_t"] == D("380000")
    assert ent["allocation_final_t"] == 400_000 and ent["adjustment_rule"] == "gap_exemption_share"
    assert ent["adjustment_t"] == D("20000") and ent["gap_t"] == D("100000")
    assert ent["borrowable_t"] == 50_000 and ent["preallocation_next_t"] == 280_000


def test_t8_gap_exemption_capped_at_200kt():
    _, a = run_year(one_total_enterprise(2022, 1_700_000, 2_000_000), 2022)
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_final_t"] == 1_800_000 and ent["adjustment_rule"] == "gap_exemption_max"
    assert ent["borrowable_t"] == 0


def test_t9_gap_of_exactly_20_percent_is_not_exempted_further():
    _, a = run_year(one_total_enterprise(2022, 80_000, 100_000), 2022)
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_final_t"] == 80_000 and ent["adjustment_rule"] == "none"
    assert ent["borrowable_t"] == 10_000


def test_t11_2023_surplus_cap_and_grade_a_incentive():
    attrs = [attribute("E1", 2023, grade="A")]
    _, a = run_year(one_total_enterprise(2023, 400_000, 300_000, attributes=attrs), 2023)
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_raw_t"] == D("400000")
    assert ent["incentive_t"] == 1_800 and ent["allocation_final_t"] == 361_800
    assert ent["adjustment_rule"] == "surplus_cap_share+incentive_grade_A"
    assert ent["preallocation_next_t"] == 253_260
    assert ent["borrowable_t"] == 0  # no borrowing in 2023
    assert ent["provisional"]  # 2023 base years and coefficients are placeholders
    assert row(a.lines, line_id="L1")["is_improved_on_prior_year"] is True


def test_t11_cement_unit_gets_no_2024_preallocation():
    attrs = [attribute("E1", 2023, grade="A")]
    frames = one_total_enterprise(2023, 400_000, 300_000, sector="水泥制造行业", attributes=attrs)
    _, a = run_year(frames, 2023)
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_final_t"] == 361_800 and ent["preallocation_next_t"] == 0


def test_t12_2023_gap_is_not_exempted():
    _, a = run_year(one_total_enterprise(2023, 280_000, 300_000), 2023)
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_final_t"] == 280_000 and ent["gap_t"] == D("20000")
    assert ent["adjustment_rule"] == "none" and ent["borrowable_t"] == 0


def test_t13_total_cap_and_reserve():
    ents = [enterprise(f"E{i}") for i in range(5)]
    lines = [line(f"W{i}", f"E{i}", activity="waste_incineration") for i in range(5)]
    lys = [line_year(f"W{i}", 2022, 19_000_000, eid=f"E{i}") for i in range(5)]
    _, a = run_year(core(ents, lines, lys), 2022)
    cap = a.cap.row(0, named=True)
    assert cap["enterprise_count"] == 5 and cap["enterprise_total_t"] == 95_000_000
    assert cap["total_cap_t"] == 100_000_000 and cap["reserve_t"] == 5_000_000


def test_t14_two_lines_two_methods():
    frames = core(
        [enterprise()],
        [line("C1", activity="cement_clinker"), line("L2", intensity=True)],
        [
            line_year("C1", 2022, 870_000, output=1_000_000),
            *[line_year("L2", y, 2_000, output=100_000) for y in (2019, 2020, 2021)],
            line_year("L2", 2022, 30_000, output=1_500_000),
        ],
    )
    _, a = run_year(frames, 2022)
    assert a.lines["allocation_t"].to_list() == [D("824400"), D("28350")]
    assert row(a.lines, line_id="L2")["baseline"] == D("0.0200")
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["verified_emissions_t"] == D("900000") and ent["allocation_final_t"] == 852_750
    assert ent["preallocation_next_t"] == 596_925


def test_t15_new_line_equal_until_two_full_years_then_historical():
    frames = core(
        [enterprise()],
        [line("L1", commissioned_on=date(2020, 3, 1))],
        [
            line_year("L1", 2020, 25_000, output=1, days=306),
            line_year("L1", 2021, 36_500, output=1),
            line_year("L1", 2022, 36_500, output=1),
            line_year("L1", 2023, 30_000, output=1, days=300),
        ],
    )
    for year in (2021, 2022):
        b, a = run_year(frames, year)
        ln = row(a.lines, line_id="L1")
        assert (ln["method"], ln["method_reason"]) == ("equal", "new_build"), year
        assert ln["allocation_t"] == row(b, line_id="L1")["co2_y_t"]
    b, a = run_year(frames, 2023)
    ln = row(a.lines, line_id="L1")
    assert ln["method"] == "total" and ln["kept_years"] == [2021, 2022] and ln["dropped_years"] == [2020]
    r = row(b, line_id="L1")["dropped_reasons"]
    assert [(x["year"], x["reason"], x["first_full_year"]) for x in r] == [
        (2020, "before_first_full_year", 2021)
    ]
    assert "2020年早于新建生产线首个完整生产年度2021" in ln["explanation"]
    assert ln["baseline"] == D("100.0000") and ln["allocation_t"] == D("30000.0000")


def test_t11_line_helper_is_exact():
    """The helper used by T7–T12 builds a line whose allocation is exactly the requested A_raw."""
    rows = total_line_rows("L1", 2022, 380_000, 500_000)
    assert sum(r["production_days"] for r in rows[:3]) == 365 + 366 + 365


# ---- v2 examples (rules.md §7 T16–T20; T19 and T20 are clearance, in tests/test_clearance.py) ----
def _intensity_2019_2021(**dates):
    return core(
        [enterprise()],
        [line("L1", intensity=True, **dates)],
        [
            line_year("L1", 2019, 50_000, output=100_000),
            line_year("L1", 2020, 45_000, output=100_000),
            line_year("L1", 2021, 55_000, output=100_000),
            line_year("L1", 2022, 50_000, output=100_000),
        ],
    )


def test_t16_reduction_project_outside_the_window_changes_nothing():
    _, a = run_year(_intensity_2019_2021(reduction_project_on=date(2021, 3, 1)), 2022)
    ln = row(a.lines, line_id="L1")
    assert ln["method"] == "intensity" and ln["kept_years"] == [2019, 2020, 2021]
    assert ln["baseline"] == D("0.5000") and ln["allocation_t"] == D("47250.0000")  # 0.5 × 100k × 0.945
    assert "reduction project completed 2021-03-01, outside the window 2018–2020" in ln["explanation"]
    # the same line without a date gives the same numbers
    _, plain = run_year(_intensity_2019_2021(), 2022)
    assert row(plain.lines, line_id="L1")["allocation_t"] == ln["allocation_t"]


def _total_line(year, **dates):
    """A 'total' line, daily 300/200/100/50 t in 2018–2021, 10,000 t in 100 days in `year`."""
    daily = {2018: 300 * 365, 2019: 200 * 365, 2020: 100 * 366, 2021: 50 * 365}
    history = [line_year("L1", y, e, output=1) for y, e in daily.items() if y < year]
    return core(
        [enterprise()],
        [line("L1", **dates)],
        [*history, line_year("L1", year, 10_000, output=1, days=100)],
    )


def test_t17_major_change_inside_the_base_years():
    _, a = run_year(_total_line(2021, major_change_on=date(2019, 7, 1)), 2021)
    ln = row(a.lines, line_id="L1")
    assert ln["method"] == "total" and ln["kept_years"] == [2020] and ln["dropped_years"] == [2018, 2019]
    assert ln["baseline"] == D("100.0000") and ln["allocation_t"] == D("10000.0000")
    assert (
        "major change on 2019-07-01, inside the base years 2018–2020: 2018, 2019 unusable"
        in ln["explanation"]
    )


def test_t18_major_change_after_the_base_years_changes_nothing():
    _, a = run_year(_total_line(2022, major_change_on=date(2022, 5, 1)), 2022)
    ln = row(a.lines, line_id="L1")
    assert ln["kept_years"] == [2019, 2020, 2021]
    assert ln["baseline"] == D("116.6515")  # (73,000 + 36,600 + 18,250) / 1,096
    assert "major change on 2022-05-01, outside the base years 2019–2021" in ln["explanation"]
