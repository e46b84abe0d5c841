"""The seams of the rule packs: sections, defaults, `extends`, line methods, another jurisdiction.

`tests/jurisdictions/testland/` is a made-up jurisdiction (allocation = benchmark × output × a
correction factor, every other line its emissions, a surplus cap, no reserve, no offsets; in 2023
an incentive for weather grade A only; no ledger origin inside it) found through
ETSFLOW_POLICY_PATH: it runs end to end through the real CLI with no Chongqing file or rule touched.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from policies import POLICY_PATH_ENV, PolicyError, load_policy, policy_for_year

from .conftest import REPO, SAMPLE

JURISDICTIONS = REPO / "tests" / "jurisdictions"

MINIMAL = """
[pack]
id = "mini-2022"
jurisdiction = "mini"
compliance_year = 2022
version = "1"
title = "a pack with only what its methods need"
sources = {}

[benchmarks]
value = { cement_clinker = "0.8" }
source = "s"
confidence = "verified"
"""


def _param(name: str, value: str) -> str:
    return f'\n[{name}]\nvalue = {value}\nsource = "s"\nconfidence = "verified"\n'


def test_a_pack_with_pack_and_benchmarks_names_only_what_its_methods_need(tmp_path):
    f = tmp_path / "2022.toml"
    f.write_text(MINIMAL + _param("line_methods", '["benchmark", "equal"]'), encoding="utf-8")
    with pytest.raises(PolicyError) as e:
        load_policy(f)
    # what its methods need and what nothing can switch off, by name — not 44 keys
    assert str(e.value).count("missing key") == 4
    for key in (
        "line_allocation_decimals",
        "deadline",
        "review_window_working_days",
        "review_decision_working_days",
    ):
        assert f"missing key '{key}'" in str(e.value)
    f.write_text(
        f.read_text()
        + _param("line_allocation_decimals", "4")
        + _param("deadline", "2023-12-31")
        + _param("review_window_working_days", "7")
        + _param("review_decision_working_days", "10"),
        encoding="utf-8",
    )
    p = load_policy(f)
    assert p.line_methods.value == ("benchmark", "equal")
    assert not p.gap_exemption_enabled.value and p.reserve_share.value == 0
    assert "reserve_share" in p.defaulted and p.reserve_share.source.startswith("default")


def test_a_listed_method_needs_its_parameters(tmp_path):
    f = tmp_path / "2022.toml"
    f.write_text(MINIMAL + _param("line_methods", '["intensity", "equal"]'), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"missing key 'k_intensity' \(needed by line method intensity\)"):
        load_policy(f)
    f.write_text(MINIMAL + _param("line_methods", '["benchmark"]'), encoding="utf-8")
    with pytest.raises(PolicyError, match="'equal' must be listed"):
        load_policy(f)


def test_extends_and_sections(monkeypatch):
    monkeypatch.setenv(POLICY_PATH_ENV, str(JURISDICTIONS))
    p22 = policy_for_year(2022, jurisdiction="testland")
    p23 = policy_for_year(2023, jurisdiction="testland")
    assert p22.benchmark_correction.value == Decimal("0.95")  # written in its section
    assert p23.benchmark_correction.value == Decimal("0.90")  # its own value …
    assert p23.surplus_cap_share.value == Decimal("0.10")  # … and 2022's, inherited
    assert p23.benchmarks.value == {
        "cement_clinker": Decimal("0.8000"),
        "electrolytic_aluminium": Decimal("7.5000"),
    }
    assert p23.pack.jurisdiction == "testland" and p23.place.name_en == "Testland"
    assert p23.version.startswith("testland-2023@t.2#")


def test_an_unknown_jurisdiction_is_named(monkeypatch):
    monkeypatch.setenv(POLICY_PATH_ENV, str(JURISDICTIONS))
    with pytest.raises(PolicyError, match="jurisdiction 'atlantis'"):
        policy_for_year(2022, jurisdiction="atlantis")


def test_testland_runs_end_to_end(cli, tmp_path, monkeypatch):
    monkeypatch.setenv(POLICY_PATH_ENV, str(JURISDICTIONS))
    wh = tmp_path / "wh.duckdb"
    r = cli("run", "--year", 2022, "--jurisdiction", "testland", "--inbox", SAMPLE, "--warehouse", wh,
            "--as-of", "2024-04-01")  # fmt: skip
    assert r.exit_code == 0, r.output
    con = duckdb.connect(str(wh), read_only=True)
    try:
        lines = con.sql("SELECT method, method_reason, coefficient, activity_value, allocation_co2_t, explanation "
                        "FROM mart.allocation_line").fetchall()  # fmt: skip
        cap = con.sql("SELECT enterprise_total_t, reserve_t, total_cap_t FROM mart.cap_summary").fetchall()[0]
        versions = con.sql("SELECT DISTINCT policy_version FROM mart.allocation_version").fetchall()
    finally:
        con.close()
    assert {m for m, *_ in lines} == {"benchmark", "equal"}
    assert {r for _, r, *_ in lines if _ == "equal"} <= {"equal_by_pack"}
    for method, _, bm, q, a, text in lines:
        if method == "benchmark":  # BM × Q × 0.95, half-up to 4 decimals
            assert a == (bm * q * Decimal("0.95")).quantize(Decimal("0.0001"), ROUND_HALF_UP)
            assert "× correction 0.95" in text
    assert cap[1] == 0 and cap[0] == cap[2]  # no reserve
    assert versions[0][0].startswith("testland-2022@")


@pytest.mark.parametrize(("grade", "incentive"), [("A", 720), ("B", 0), (None, 0)])
def test_testland_grades_come_from_its_pack(monkeypatch, grade, incentive):
    """Testland 2023 gives the incentive to grade A only (Chongqing: A and B): 1% × 72,000 t."""
    from tests.test_allocation_frames import attribute, core, enterprise, line, line_year, row, run_year

    monkeypatch.setenv(POLICY_PATH_ENV, str(JURISDICTIONS))
    policy = policy_for_year(2023, jurisdiction="testland")
    assert policy.incentive_grades.value == ("A",)
    frames = core(
        [enterprise()],
        [line("C1", activity="cement_clinker")],
        [line_year("C1", 2022, 100_000, output=100_000), line_year("C1", 2023, 90_000, output=100_000)],
        attributes=[attribute("E1", 2023, grade=grade)],
    )
    _, a = run_year(frames, 2023, policy)
    ent = row(a.enterprises, enterprise_id="E1")
    assert ent["allocation_raw_t"] == Decimal("72000") and ent["incentive_t"] == incentive
    if incentive:
        assert ent["adjustment_rule"] == "incentive_grade_A" and "weather grade A" in ent["explanation"]
    else:
        assert (
            "weather grade not A; " in ent["explanation"] and "重污染天气绩效分级非A级" in ent["explanation"]
        )


def test_testland_has_no_home_origin(monkeypatch):
    """Green power from `chongqing` is not "bought inside the city" in Testland, which names no
    home among the ledger's origins; its packs cannot switch the offset locality rule on."""
    from tests.test_clearance import P23, acc, green, ledger, obligations, run

    monkeypatch.setenv(POLICY_PATH_ENV, str(JURISDICTIONS))
    testland = policy_for_year(2023, jurisdiction="testland").place
    assert testland.origins.home is None and "chongqing" in testland.origins.elsewhere
    for place, reason in (
        (P23.place, "bought inside the city"),
        (testland, "green power origin not accepted"),
    ):
        policy = P23.model_copy(update={"place": place})
        c = run(
            ledger(green(5, "chongqing"), year=2023), obligations(("E1", 300_000, 280_000, 0)), policy=policy
        )
        assert acc(c, "t01") == (0, 5, reason)


def test_grades_without_a_percentage_and_locality_without_a_home_are_refused(tmp_path):
    f = tmp_path / "2022.toml"
    needed = _param("line_methods", '["benchmark", "equal"]') + _param("line_allocation_decimals", "4")
    needed += _param("deadline", "2023-12-31") + _param("review_window_working_days", "7")
    needed += _param("review_decision_working_days", "10")
    f.write_text(MINIMAL + needed + _param("incentive_grades", '["A", "C"]'), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"key 'incentive_grades'.*no parameter incentive_grade_c_pct"):
        load_policy(f)
    f.write_text(MINIMAL + needed + _param("offset_locality_enabled", "true"), encoding="utf-8")
    with pytest.raises(
        PolicyError, match=r"offset_locality_enabled is true, but the jurisdiction names no home"
    ):
        load_policy(f)
