"""Scenarios (contract §6): sweeps, changed packs, the vectorised allocation equal to the engine,
and the real CLI end to end (official reproduced by a scenario without change, mart.* untouched,
a local Dask cluster giving the same rows as this process, list/drop/report)."""

from __future__ import annotations

import json
import struct
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.read import read_inbox
from policies import PolicyError, policy_for_year, with_changes
from transforms.engine import allocation_of, baselines_of
from transforms.scenarios import (
    ENTERPRISE_COLUMNS,
    ScenarioError,
    allocate_scenarios,
    combinations,
    parse_sweep,
    scenarios_of,
    unused_keys,
)
from validations.inputs import validate_inbox
from warehouse import read_published

from .conftest import SAMPLE
from .test_exports_report import CHROMIUM, _chromium, _console_lines, _outline


# ---- the request -----------------------------------------------------------------------------------
def test_sweep_includes_both_ends_in_decimal_steps():
    assert parse_sweep("k_intensity=0.90:0.95:0.01") == (
        "k_intensity",
        ["0.90", "0.91", "0.92", "0.93", "0.94", "0.95"],
    )
    key, values = parse_sweep("k_intensity=0.900:0.999:0.001")
    assert len(values) == 100 and values[0] == "0.900" and values[-1] == "0.999"
    assert all(Decimal(b) - Decimal(a) == Decimal("0.001") for a, b in zip(values, values[1:], strict=False))
    assert parse_sweep("total_drop_shutdown_days=180:183:1")[1] == ["180", "181", "182", "183"]
    assert parse_sweep("reserve_share=0.05:0.05:0.01")[1] == ["0.05"]


@pytest.mark.parametrize(
    "text, words",
    [
        ("k_intensity=0.90:0.95:0.02", "whole number of STEPs"),
        ("k_intensity=0.95:0.90:0.01", "below START"),
        ("k_intensity=0.90:0.95:0", "STEP must be > 0"),
        ("k_intensity=0.90:0.95", "START:STOP:STEP"),
        ("k_intensity=a:b:c", "must be numbers"),
    ],
)
def test_bad_sweeps_are_refused_in_words(text, words):
    with pytest.raises(ScenarioError, match=words):
        parse_sweep(text)


def test_every_combination_with_the_sets():
    combos = combinations(
        {"reserve_share": "0.06"},
        [("k_intensity", ["0.93", "0.94"]), ("gap_exemption_share", ["0.15", "0.20", "0.25"])],
    )
    assert len(combos) == 6 and all(c["reserve_share"] == "0.06" for c in combos)
    assert combos[0] == {"reserve_share": "0.06", "k_intensity": "0.93", "gap_exemption_share": "0.15"}
    assert combos[-1]["k_intensity"] == "0.94" and combos[-1]["gap_exemption_share"] == "0.25"
    with pytest.raises(ScenarioError, match="twice"):
        combinations({"k_intensity": "0.9"}, [("k_intensity", ["0.93"])])


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"k_intensty": "0.9"}, "unknown rule-pack parameter 'k_intensty'"),
        ({"k_intensity": "abc"}, "key 'k_intensity'"),
        ({"benchmarks.cement": "0.8"}, "unknown key 'benchmarks.cement'"),
        ({"gap_exemption_enabled": "perhaps"}, "key 'gap_exemption_enabled'"),
        ({"total_drop_shutdown_days": "180.5"}, "key 'total_drop_shutdown_days'"),
    ],
)
def test_changed_packs_are_checked_like_pack_files(changes, words):
    with pytest.raises(PolicyError, match=words):
        with_changes(policy_for_year(2022), changes, "--set")


def test_values_the_engine_refuses_are_refused_before_computing():
    with pytest.raises(ScenarioError, match="reserve_share"):
        scenarios_of(policy_for_year(2022), [{"reserve_share": "1"}])
    with pytest.raises(ScenarioError, match="gap_exemption_max_t"):
        scenarios_of(policy_for_year(2022), [{"gap_exemption_max_t": "0.00001"}])


def test_parameters_the_allocation_does_not_read_are_named():
    base = policy_for_year(2022)
    scenarios = scenarios_of(
        base, [{"offset_limit_share": "0.05", "k_intensity": "0.93"}, {"k_intensity": "0.94"}]
    )
    assert unused_keys(base, scenarios) == ["offset_limit_share"]
    assert unused_keys(base, scenarios_of(base, [{"benchmarks.cement_clinker": "0.8"}])) == []


def test_a_value_set_by_the_user_is_no_longer_provisional():
    base = policy_for_year(2023)
    assert base.incentive_grade_b_pct.provisional
    changed = with_changes(base, {"incentive_grade_b_pct": "0.3"}, "scenario x")
    assert not changed.incentive_grade_b_pct.provisional
    assert changed.incentive_grade_b_pct.value == Decimal("0.3")
    assert "scenario x" in changed.incentive_grade_b_pct.source
    assert set(base.provisional_params()) - set(changed.provisional_params()) == {"incentive_grade_b_pct"}


# ---- the vectorised allocation is the engine's ----------------------------------------------------------
@pytest.fixture(scope="module")
def sample_core():
    result = validate_inbox(read_inbox(SAMPLE), policy_for_year(2022))
    assert result.quarantine.height == 0
    return result.core


def _engine(core, policy):
    a = allocation_of(baselines_of(core, policy), core, policy)
    return a.enterprises.select(ENTERPRISE_COLUMNS), a.cap.row(0, named=True)


def _dec(lo: str, hi: str, places: int):
    q = Decimal(1).scaleb(-places)
    return st.decimals(Decimal(lo), Decimal(hi), places=places).map(lambda d: str(d.quantize(q)))


CHANGES = {
    "k_intensity": _dec("0.80", "1.10", 4),
    "k_total": _dec("0.85", "1.05", 3),
    "benchmarks.cement_clinker": _dec("0.70", "0.95", 4),
    "benchmarks.electrolytic_aluminium": _dec("7.0", "8.5", 4),
    "gap_exemption_enabled": st.sampled_from(["true", "false"]),
    "gap_exemption_share": _dec("0", "0.5", 2),
    "gap_exemption_max_t": st.integers(0, 400_000).map(str),
    "surplus_cap_enabled": st.sampled_from(["true", "false"]),
    "surplus_cap_share": _dec("0", "0.5", 2),
    "surplus_cap_max_t": st.integers(0, 400_000).map(str),
    "incentive_grade_a_pct": _dec("0", "2", 2),
    "incentive_grade_b_pct": _dec("0", "2", 2),
    "incentive_enabled": st.sampled_from(["true", "false"]),
    "energy_efficiency_incentive_pct": _dec("0", "2", 2),
    "incentive_max_t": st.integers(0, 5_000).map(str),
    "preallocation_share": _dec("0", "1", 2),
    "borrowing_threshold_share": _dec("0", "0.3", 2),
    "reserve_share": _dec("0", "0.2", 3),
    "line_allocation_decimals": st.integers(0, 4).map(str),
    # baseline parameters: scenarios then fall into several baseline groups
    "intensity_outlier_share": _dec("0.05", "0.40", 2),
    "total_drop_shutdown_days": st.integers(100, 250).map(str),
    "baseline_decimals": st.integers(2, 4).map(str),
}
change_sets = st.lists(
    st.dictionaries(st.sampled_from(sorted(CHANGES)), st.none(), max_size=4).flatmap(
        lambda d: st.fixed_dictionaries({k: CHANGES[k] for k in d})
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(year=st.sampled_from([2021, 2022, 2023]), changes=change_sets)
def test_every_scenario_row_equals_the_engine_with_an_equivalent_pack(sample_core, year, changes):
    scenarios = scenarios_of(policy_for_year(year), changes)
    got = allocate_scenarios(sample_core, scenarios)
    for s in scenarios:
        # the equivalent pack, built independently: the base pack with the same values
        expected_ents, expected_cap = _engine(
            sample_core, with_changes(policy_for_year(year), s.changes, "x")
        )
        mine = got.enterprises.filter(pl.col("scenario_index") == s.index).drop("scenario_index")
        assert mine.equals(expected_ents), s.changes
        row = got.summary.filter(pl.col("scenario_index") == s.index).row(0, named=True)
        for k in ("enterprise_count", "enterprise_total_t", "reserve_t", "total_cap_t", "provisional"):
            assert row[k] == expected_cap[k], (s.changes, k)
        gaps = expected_ents.filter(pl.col("gap_t") > 0)
        assert row["units_with_gap"] == gaps.height
        assert row["gap_total_t"] == (gaps["gap_t"].sum() if gaps.height else Decimal(0))
        assert (
            row["exempted_units"]
            == expected_ents.filter(pl.col("adjustment_rule").str.starts_with("gap_exemption")).height
        )


def test_no_change_reproduces_the_engine_on_every_sample_year(sample_core):
    for year in (2021, 2022, 2023):
        got = allocate_scenarios(sample_core, scenarios_of(policy_for_year(year), [{}]))
        expected, cap = _engine(sample_core, policy_for_year(year))
        assert got.enterprises.drop("scenario_index").equals(expected)
        assert got.summary["total_cap_t"][0] == cap["total_cap_t"] and cap["total_cap_t"] > 0


# ---- the real CLI ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def warehouse(cli, tmp_path_factory):
    wh = tmp_path_factory.mktemp("scenarios") / "warehouse.duckdb"
    r = cli("run", "--year", 2022, "--inbox", SAMPLE, "--warehouse", wh, "--as-of", "2024-04-01")
    assert r.exit_code == 0, r.output
    return wh


def q(wh, sql, *params):
    return read_published(wh, sql, list(params) or None)


def test_scenario_without_change_reproduces_the_official_allocation(cli, warehouse):
    marts_before = {
        t: q(warehouse, f"SELECT * FROM mart.{t} ORDER BY ALL")
        for t in ("allocation_enterprise", "allocation_line", "cap_summary", "clearance_status")
    }
    r = cli("scenario", "run", "same", "--year", 2022, "--warehouse", warehouse, "--workers", 0)
    assert r.exit_code == 0, r.output
    official = q(
        warehouse,
        "SELECT * EXCLUDE (explanation, compliance_year) FROM mart.allocation_enterprise "
        "WHERE compliance_year = 2022 ORDER BY enterprise_id",
    )
    mine = q(
        warehouse,
        "SELECT * EXCLUDE (scenario_id, scenario_name, compliance_year, parameters, official_run_id, "
        "official_version) FROM scenario.allocation_enterprise WHERE scenario_name = 'same' ORDER BY enterprise_id",
    )
    assert official.height == 307 and mine.equals(official)
    summary = q(warehouse, "SELECT * FROM scenario.summary WHERE scenario_name = 'same'").row(0, named=True)
    cap = q(warehouse, "SELECT * FROM mart.cap_summary WHERE compliance_year = 2022").row(0, named=True)
    assert (summary["total_cap_t"], summary["reserve_t"]) == (cap["total_cap_t"], cap["reserve_t"])
    delta = q(warehouse, "SELECT * FROM scenario.delta_enterprise WHERE scenario_name = 'same'")
    assert delta.height == 307 and delta["delta_t"].abs().sum() == 0
    run = q(warehouse, "SELECT * FROM scenario.run WHERE name = 'same'").row(0, named=True)
    published_by = q(
        warehouse,
        "SELECT run_id FROM audit.pipeline_run WHERE compliance_year = 2022 AND status = 'succeeded'",
    )["run_id"].to_list()
    assert run["parameters"] == "{}" and run["official_run_id"] in published_by
    version = q(
        warehouse, "SELECT max(version) AS v FROM mart.allocation_version WHERE compliance_year = 2022"
    )
    assert run["official_version"] == version["v"][0] == 1  # the year's current version (contract §5)
    for t, before in marts_before.items():  # mart.* untouched
        assert q(warehouse, f"SELECT * FROM mart.{t} ORDER BY ALL").equals(before), t


def test_sweep_on_a_local_dask_cluster_equals_this_process(cli, warehouse, tmp_path):
    args = ["--year", 2022, "--warehouse", warehouse, "--sweep", "k_intensity=0.93:0.95:0.01"]
    args += ["--sweep", "gap_exemption_share=0.15:0.20:0.05", "--set", "reserve_share=0.06"]
    r = cli("scenario", "run", "local", *args, "--workers", 0)
    assert r.exit_code == 0, r.output
    r = cli("scenario", "run", "dask", *args, "--workers", 1, "--chunk-size", 2)
    assert r.exit_code == 0, r.output
    assert "local Dask cluster of 1" in r.output and "3 task(s)" in r.output
    cols = "* EXCLUDE (scenario_id, scenario_name)"
    for t in ("allocation_enterprise", "summary", "delta_enterprise"):
        a = q(warehouse, f"SELECT {cols} FROM scenario.{t} WHERE scenario_name = 'local' ORDER BY ALL")
        b = q(warehouse, f"SELECT {cols} FROM scenario.{t} WHERE scenario_name = 'dask' ORDER BY ALL")
        assert a.height and a.equals(b), t
    runs = q(warehouse, "SELECT * FROM scenario.run WHERE name = 'dask' ORDER BY scenario_id")
    assert runs.height == 6
    params = [json.loads(p) for p in runs["parameters"]]
    assert {p["k_intensity"] for p in params} == {"0.93", "0.94", "0.95"}
    assert all(p["reserve_share"] == "0.06" for p in params)
    summary = q(warehouse, "SELECT * FROM scenario.summary WHERE scenario_name = 'dask'")
    # a 6% reserve: reserve = round_half_up(total / 0.94) − total for every scenario
    for row in summary.iter_rows(named=True):
        total = Decimal(row["enterprise_total_t"])
        cap = int((total / Decimal("0.94")).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
        assert (row["total_cap_t"], row["reserve_t"]) == (cap, cap - row["enterprise_total_t"])

    r = cli("scenario", "list", "--warehouse", warehouse)
    assert r.exit_code == 0 and "dask 2022: 6 scenario(s)" in r.output
    page = tmp_path / "dask.html"
    r = cli("scenario", "report", "dask", "--warehouse", warehouse, "--out", page)
    assert r.exit_code == 0, r.output
    html = page.read_text(encoding="utf-8")
    outline = _outline(html)
    assert outline.loads == [] and "Content-Security-Policy" in html
    charts = {k for k in outline.svg_children if k.startswith("chart-")}
    assert charts == {
        f"chart-{c}-{k}"
        for c in ("total_cap_t", "reserve_t", "gap_total_t")
        for k in ("k_intensity", "gap_exemption_share")
    }
    assert all({"title", "desc", "polyline"} <= outline.svg_children[c] for c in charts)
    assert "dask:6" in html and f"{summary['total_cap_t'].max():,}" in html

    r = cli("scenario", "drop", "local", "--warehouse", warehouse)
    assert (
        r.exit_code == 0
        and q(warehouse, "SELECT count(*) AS n FROM scenario.run WHERE name = 'local'")["n"][0] == 0
    )
    r = cli("scenario", "drop", "local", "--warehouse", warehouse)
    assert r.exit_code == 2


@pytest.mark.parametrize(
    "args, words",
    [
        (["--set", "k_intensty=0.9"], "k_intensty"),
        (["--set", "k_intensity=abc"], "k_intensity"),
        (["--sweep", "gap_exemption_share=0.1:0.2:0.03"], "gap_exemption_share"),
        (["--year", 2021], "not published"),
    ],
)
def test_bad_requests_exit_2_naming_the_problem(cli, warehouse, args, words):
    year = [] if "--year" in args else ["--year", 2022]
    r = cli("scenario", "run", "bad", *year, *args, "--warehouse", warehouse, "--workers", 0)
    assert r.exit_code == 2 and words in r.output, r.output


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH")
def test_scenario_page_renders_in_headless_chromium(cli, warehouse, tmp_path):
    r = cli(
        "scenario", "run", "page", "--year", 2022, "--warehouse", warehouse, "--workers", 0,
        "--sweep", "k_intensity=0.90:0.99:0.01", "--sweep", "reserve_share=0.04:0.06:0.01",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    page = tmp_path / "page.html"
    assert cli("scenario", "report", "page", "--warehouse", warehouse, "--out", page).exit_code == 0
    html = page.read_text(encoding="utf-8")  # the Chinese renders without CJK system fonts
    assert html.count("url(data:font/woff;base64,") == 1 and "font-src data:" in html
    dom_run = _chromium(page, tmp_path / "p1", "--dump-dom")
    assert _console_lines(dom_run.stderr, page) == []
    # per figure: against k one line per reserve value (3); against the reserve one per k value,
    # 10 thinned to 6
    assert dom_run.stdout.count("<polyline") == 3 * (3 + 6)
    shot = tmp_path / "shot.png"
    _chromium(page, tmp_path / "p2", f"--screenshot={shot}", "--window-size=1280,2400")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 2400)
    assert len(data) > 30_000, "screenshot looks blank"


# ---- the engine is what the flow publishes ------------------------------------------------------------
def test_the_engine_alone_gives_the_published_marts(sample_core, warehouse):
    """run_year with the pool of pool_for, without Prefect or a warehouse, equals every mart row the
    flow published for 2022 (the borrowing pool included: 2021's borrowers reduce it)."""
    from datetime import date

    from model import catalog
    from transforms.engine import pool_for, run_year

    policies = {y: policy_for_year(y) for y in (2021, 2022)}
    pool = pool_for(sample_core, policies, 2022, date(2024, 4, 1))
    assert pool is not None and pool.source is None and pool.used.height > 0
    frames = run_year(sample_core, policies[2022], as_of=date(2024, 4, 1), pool=pool)
    for t in catalog.MARTS:
        mine = frames.marts()[t.name].select([pl.col(c.name).cast(c.polars_type) for c in t.columns])
        published = q(warehouse, f"SELECT * FROM {t.qualified} WHERE compliance_year = 2022").select(
            [pl.col(c.name).cast(c.polars_type) for c in t.columns]
        )
        keys = [c.name for c in t.columns if c.type != "int_list"]
        assert published.height > 0 and mine.sort(keys).equals(published.sort(keys)), t.name
