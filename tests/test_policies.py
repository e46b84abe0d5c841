"""Rule packs: strict loading (unknown/missing keys named with the file), exact decimals, docs in sync."""

from __future__ import annotations

from decimal import Decimal

import pytest

from policies import PolicyError, default_policy_path, load_policy, policy_for_year, rule_pack_docs

from .conftest import REPO


@pytest.mark.parametrize("year", [2021, 2022, 2023])
def test_bundled_packs_load(year):
    p = policy_for_year(year)
    assert p.year == year and p.version.startswith(f"chongqing-{year}@")
    assert p.reserve_share.value == Decimal("0.05")


def test_2021_2022_values_from_the_plan():
    p21, p22 = policy_for_year(2021), policy_for_year(2022)
    assert p21.benchmarks.value == {
        "cement_clinker": Decimal("0.8289"),
        "electrolytic_aluminium": Decimal("7.7614"),
    }
    assert p22.benchmarks.value == {
        "cement_clinker": Decimal("0.8244"),
        "electrolytic_aluminium": Decimal("7.7557"),
    }
    assert (p21.k_intensity.value, p22.k_intensity.value) == (Decimal("0.9400"), Decimal("0.9450"))
    assert p21.base_years.value == (2018, 2019, 2020) and p22.base_years.value == (2019, 2020, 2021)
    assert str(p21.deadline.value) == "2023-12-31" and str(p22.deadline.value) == "2024-03-31"
    assert p21.provisional_params() == [] and p22.provisional_params() == []


def test_2023_placeholders_are_provisional():
    prov = set(policy_for_year(2023).provisional_params())
    assert {"base_years", "benchmarks", "k_intensity", "incentive_grade_b_pct", "deadline"} <= prov


def _pack_text() -> str:
    return default_policy_path(2022).read_text(encoding="utf-8")


def test_unknown_key_is_named_with_the_file(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text(
        _pack_text() + '\n[k_intensty]\nvalue = "0.9"\nsource = "typo"\nconfidence = "verified"\n',
        encoding="utf-8",
    )
    with pytest.raises(PolicyError, match=r"p\.toml: unknown key 'k_intensty'"):
        load_policy(f)


def test_missing_key_is_named_with_the_file(tmp_path):
    text = _pack_text()
    start = text.index("[k_total]")
    end = text.index("\n\n", start)
    f = tmp_path / "p.toml"
    f.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(PolicyError, match=r"p\.toml: missing key 'k_total'"):
        load_policy(f)


def test_float_values_are_refused(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text(_pack_text().replace('value = "0.9450"', "value = 0.9450"), encoding="utf-8")
    with pytest.raises(PolicyError, match="k_intensity.*strings"):
        load_policy(f)


def test_pack_of_another_year_is_refused():
    with pytest.raises(PolicyError, match="is for compliance year 2022, not 2021"):
        policy_for_year(2021, default_policy_path(2022))


def test_rule_pack_docs_in_sync():
    on_disk = (REPO / "docs" / "rule-packs.md").read_text(encoding="utf-8")
    assert on_disk.strip() == rule_pack_docs().strip(), "regenerate: python -m policies > docs/rule-packs.md"


def test_every_parameter_has_a_label_in_words():
    from policies import LABELS

    names = set(policy_for_year(2022).params())
    assert names == set(LABELS), f"label these parameters in policies.LABELS: {sorted(names ^ set(LABELS))}"
    assert all(" / " in v for v in LABELS.values())  # Chinese / English


def test_2023_marks_provisional_everything_of_rules_6a_v2():
    p = policy_for_year(2023)
    prov = set(p.provisional_params())
    assert {
        "equal_activities",  # method of each industry (Annex 3 missing), equal-method special cases
        "equal_enterprise_shutdown_days",
        "equal_enterprise_min_years",
        "total_drop_shutdown_days",  # the 183-day rule
        "intensity_outlier_share",  # the ±20% rule
        "new_build_full_years_benchmark",
        "new_build_full_years_other",
        "reduction_project_window",
        "offset_hydro_refused",
        "energy_efficiency_incentive_pct",
    } <= prov
    assert "行业基准值 / industry benchmarks" in p.provisional_labels()
    assert p.energy_efficiency_incentive_pct.value == Decimal("0")


def test_v2_clearance_parameters():
    for year in (2021, 2022, 2023):
        p = policy_for_year(year)
        assert p.later_vintages_accepted.value is False and p.later_vintages_accepted.confidence == "inferred"
    p = policy_for_year(2023)
    assert "chongqing" not in p.green_power_origins_accepted.value
    assert p.green_power_certificate_once.value is True
