"""What-if allocations (contract §6): many rule packs over the same validated inputs, at once.

A scenario is the official rule pack of a year with some parameters changed
(`policies.with_changes`). Its allocation is, by definition, what the engine computes with that
pack (`transforms.engine.baselines_of` → `allocation_of`). Computing 1,000 scenarios that way
costs 1,000 allocations (~0.3 s each on the sample); this module computes the same numbers for
many packs in one statement instead:

- baselines depend only on the baseline parameters (`baseline_params`): scenarios are grouped by
  them and each group's baselines are computed once, by the engine;
- the enterprise allocation of every scenario of a group is one SQL statement over the lines ×
  a frame of the scenarios' parameters (one row per scenario, the exact integers of
  `allocation_params`), joined instead of bound: the arithmetic below is the numeric part of
  `transforms.allocate` (LINES_SQL, ENTERPRISES_SQL, CAP_SQL) with `$x` replaced by `p.x`;
  explanations are not produced.

`tests/test_scenarios.py` proves with Hypothesis that every row equals the engine's for random
parameter changes; keep both in step when a rule changes.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import polars as pl

from model import catalog
from policies import Policy, PolicyError, with_changes
from transforms import CoreFrames, register
from transforms.allocate import _benchmarks, allocation_params, co2_allocation_sql, incentive_grades
from transforms.baselines import baseline_params, exact_connection, reasons_frame
from transforms.engine import baselines_of

MAX_SCENARIOS = 100_000
# the parameters of allocation_params the SQL below reads, per scenario (integers as text → HUGEINT)
INT_PARAMS = (
    "f", "ki_n", "ki_d", "kt_n", "kt_d", "bc_n", "bc_d", "gap_n", "gap_d", "gap_max4", "sur_n", "sur_d", "sur_max4", "adj_d",
    "ee_n", "ee_d", "inc_max4", "bor_n", "bor_d", "pre_n", "pre_d", "res_n",
    "res_d",
)  # fmt: skip
BOOL_PARAMS = (
    "gap_on", "sur_on", "incentive_on", "borrow_on", "pre_on", "res_prov", "prov_always", "prov_ee",
)  # fmt: skip
ENTERPRISE_COLUMNS = [
    c.name for c in catalog.ALLOCATION_ENTERPRISE.columns if c.name not in ("compliance_year", "explanation")
]


class ScenarioError(ValueError):
    """A scenario request that cannot be computed; the message names the parameter (exit 2)."""


# ---- the scenarios of a request -------------------------------------------------------------------
def parse_set(text: str) -> tuple[str, str]:
    """`KEY=VALUE` → (key, value text)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(f"--set {text!r}: expected KEY=VALUE, e.g. k_intensity=0.93")
    return key.strip(), value.strip()


def parse_sweep(text: str) -> tuple[str, list[str]]:
    """`KEY=START:STOP:STEP` → (key, values): START, START+STEP, … STOP, both ends included,
    in Decimal arithmetic (`0.90:0.95:0.01` is 0.90, 0.91, … 0.95: six values)."""
    key, value = parse_set(text)
    parts = value.split(":")
    if len(parts) != 3:
        raise ScenarioError(
            f"--sweep {text!r}: expected KEY=START:STOP:STEP, e.g. k_intensity=0.90:0.95:0.01"
        )
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise ScenarioError(f"--sweep {text!r}: START, STOP and STEP must be numbers") from None
    if not step > 0:
        raise ScenarioError(f"--sweep {text!r}: STEP must be > 0")
    if stop < start:
        raise ScenarioError(f"--sweep {text!r}: STOP is below START")
    n = (stop - start) / step
    if n != n.to_integral_value():
        raise ScenarioError(
            f"--sweep {text!r}: STOP is not START + a whole number of STEPs (both ends are included)"
        )
    if n + 1 > MAX_SCENARIOS:
        raise ScenarioError(f"--sweep {text!r}: {n + 1} values, more than {MAX_SCENARIOS:,}")
    return key, [str(start + i * step) for i in range(int(n) + 1)]


def combinations(sets: dict[str, str], sweeps: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """Every combination of the sweeps (the first sweep varies slowest), each with the sets."""
    keys = [k for k, _ in sweeps]
    if len(set(keys)) != len(keys) or set(keys) & sets.keys():
        raise ScenarioError("a parameter is given twice (--set and --sweep, or two --sweep)")
    total = 1
    for _, values in sweeps:
        total *= len(values)
    if total > MAX_SCENARIOS:
        raise ScenarioError(f"the sweeps make {total:,} scenarios, more than {MAX_SCENARIOS:,}")
    return [
        dict(sets) | dict(zip(keys, combo, strict=True))
        for combo in itertools.product(*(v for _, v in sweeps))
    ]


@dataclass(frozen=True)
class Scenario:
    index: int  # 1, 2, … in sweep order
    changes: dict[str, str]
    policy: Policy

    @property
    def parameters(self) -> str:
        return json.dumps(self.changes, ensure_ascii=False, sort_keys=True)


def scenarios_of(base: Policy, changes: list[dict[str, str]], origin: str = "scenario") -> list[Scenario]:
    """The scenarios' rule packs, each checked as a pack file is and as the engine would
    (`baseline_params`, `allocation_params`); the first problem is raised naming the key."""
    out = []
    for i, ch in enumerate(changes, start=1):
        try:
            policy = with_changes(
                base, ch, f"{origin} ({', '.join(f'{k}={v}' for k, v in ch.items()) or 'no change'})"
            )
            baseline_params(policy)
            allocation_params(policy)
        except (PolicyError, ValueError) as e:
            raise ScenarioError(str(e)) from None
        if policy.cost_control_enabled.value:
            raise ScenarioError(
                "cost_control_enabled = true: the 2023 compliance-cost control has no recoverable formula "
                "(transforms/allocate.py); scenarios cannot use it"
            )
        out.append(Scenario(i, ch, policy))
    return out


def _reads(policy: Policy) -> str:
    """Everything of a pack the allocation reads (the rule-pack version aside)."""
    alloc = {k: v for k, v in allocation_params(policy).items() if k != "version"}
    reasons = reasons_frame(policy).select("method_reason", "provisional").rows()
    grades = incentive_grades(policy).rows()
    return json.dumps(
        [baseline_params(policy), alloc, reasons, _benchmarks(policy).rows(), grades], default=str
    )


def unused_keys(base: Policy, scenarios: list[Scenario]) -> list[str]:
    """The changed parameters that change nothing the allocation reads, in any scenario (e.g. a
    clearance parameter: scenarios allocate only), so that the user is told."""
    keys = sorted({k for s in scenarios for k in s.changes})
    base_reads = _reads(base)
    out = []
    for k in keys:
        values = {s.changes[k] for s in scenarios if k in s.changes}
        if all(_reads(with_changes(base, {k: v}, "check")) == base_reads for v in values):
            out.append(k)
    return out


def baseline_key(policy: Policy) -> str:
    """Scenarios with equal keys have equal baselines (everything `compute_baselines` reads)."""
    return json.dumps(baseline_params(policy), sort_keys=True, default=str)


# ---- many allocations in one statement -------------------------------------------------------------
def params_frame(scenarios: list[Scenario]) -> pl.DataFrame:
    """One row per scenario: index, the integers (as text) and switches of `allocation_params`."""
    rows = []
    for s in scenarios:
        p = allocation_params(s.policy)
        rows.append(
            {"scenario_index": s.index, "pre_excluded": p["pre_excluded"]}
            | {k: str(p[k]) for k in INT_PARAMS}
            | {k: bool(p[k]) for k in BOOL_PARAMS}
        )
    schema = (
        {"scenario_index": pl.Int64, "pre_excluded": pl.List(pl.String)}
        | {k: pl.String for k in INT_PARAMS}
        | {k: pl.Boolean for k in BOOL_PARAMS}
    )
    return pl.DataFrame(rows, schema=schema)


def _per_scenario(scenarios: list[Scenario], frame) -> pl.DataFrame:
    return pl.concat(
        [frame(s.policy).with_columns(scenario_index=pl.lit(s.index, pl.Int64)) for s in scenarios],
        how="vertical",
    )


SCENARIO_SQL = r"""
WITH
p AS (
    SELECT scenario_index, pre_excluded, gap_on, sur_on, incentive_on, borrow_on, pre_on, res_prov,
           prov_always, prov_ee,
           COLUMNS(lambda c: c IN ({int_params})) :: HUGEINT
    FROM params
),
l AS (
    SELECT b.line_id, b.enterprise_id, b.activity, b.method, b.method_reason, b.production_days_y,
           i4(b.baseline) AS baseline4, i4(b.output_y) AS q4, i4(b.co2_y_t) AS co2_4,
           i4(b.non_co2_y_t) AS non_co2_4, pr.line_id IS NOT NULL AS has_prior,
           i4(pr.verified_co2_t) + i4(pr.verified_non_co2_t) AS prior_e4, i4(pr.output) AS prior_q4
    FROM baselines AS b LEFT JOIN prior AS pr ON pr.line_id = b.line_id
),
line_alloc AS (  -- transforms.allocate LINES_SQL, per scenario
    SELECT p.scenario_index, l.enterprise_id, r.provisional,
           {co2_allocation}
           + CASE WHEN l.method = 'excluded' THEN 0 ELSE rhu(non_co2_4, p.f) * p.f END AS a4,
           co2_4 + non_co2_4 AS e4,
           CASE WHEN NOT p.incentive_on OR l.method NOT IN ('benchmark', 'intensity', 'total') THEN NULL
                WHEN NOT has_prior THEN false
                WHEN l.method = 'total' THEN co2_4 + non_co2_4 < prior_e4
                ELSE q4 > 0 AND prior_q4 > 0 AND (co2_4 + non_co2_4) * prior_q4 < prior_e4 * q4
           END AS is_improved_on_prior_year
    FROM l CROSS JOIN p
    JOIN reasons AS r ON r.scenario_index = p.scenario_index AND r.method_reason = l.method_reason
    LEFT JOIN benchmarks AS m
        ON m.scenario_index = p.scenario_index AND m.activity = l.activity AND l.method = 'benchmark'
),
agg AS (
    SELECT scenario_index, enterprise_id, sum(e4) AS e4, sum(a4) AS araw4, bool_or(provisional) AS lines_provisional,
           count(is_improved_on_prior_year) AS n_compared,
           count(*) FILTER (WHERE is_improved_on_prior_year) AS n_improved
    FROM line_alloc GROUP BY scenario_index, enterprise_id
),
facts AS (
    SELECT a.*, e.name, e.sector_label,
           coalesce(t.penalized, false) AS is_penalized, t.weather_grade,
           g.weather_grade IS NOT NULL AS is_incentive_grade, g.grade_n, g.grade_d, g.grade_provisional,
           coalesce(t.under_investigation, false) AS is_under_investigation,
           coalesce(t.energy_efficiency_benchmark_met, false) AS is_energy_efficiency_met,
           coalesce(t.preallocation_cancelled, false) AS is_preallocation_cancelled
    FROM agg AS a
    JOIN enterprises AS e USING (enterprise_id)
    LEFT JOIN attributes AS t ON t.enterprise_id = a.enterprise_id AND t.year = {year}
    LEFT JOIN grades AS g ON g.scenario_index = a.scenario_index AND g.weather_grade = t.weather_grade
),
candidates AS (  -- transforms.allocate ENTERPRISES_SQL, per scenario
    SELECT f.*, p.* EXCLUDE (scenario_index),
           araw4 * p.gap_d * p.sur_d AS raw_n,
           CASE WHEN p.gap_on THEN e4 * (p.gap_d - p.gap_n) * p.sur_d END AS gap_share_n,
           CASE WHEN p.gap_on THEN (e4 - p.gap_max4) * p.gap_d * p.sur_d END AS gap_max_n,
           CASE WHEN p.sur_on THEN e4 * (p.sur_d + p.sur_n) * p.gap_d END AS sur_share_n,
           CASE WHEN p.sur_on THEN (e4 + p.sur_max4) * p.gap_d * p.sur_d END AS sur_max_n
    FROM facts AS f JOIN p USING (scenario_index)
),
adjusted AS (
    SELECT *,
           least(greatest(raw_n, gap_share_n, gap_max_n), sur_share_n, sur_max_n) AS adj_n,
           CASE WHEN adj_n = raw_n THEN NULL
                WHEN adj_n = gap_share_n THEN 'gap_exemption_share'
                WHEN adj_n = gap_max_n THEN 'gap_exemption_max'
                WHEN adj_n = sur_share_n THEN 'surplus_cap_share'
                WHEN adj_n = sur_max_n THEN 'surplus_cap_max' END AS adj_rule,
           rhu(adj_n, adj_d) AS a_base,
           incentive_on AND NOT is_penalized AND NOT is_under_investigation AS is_incentive_open,
           is_incentive_open AND is_incentive_grade
               AND n_compared > 0 AND n_improved = n_compared AS is_incentive_eligible,
           is_incentive_open AND is_energy_efficiency_met AS is_energy_efficiency_eligible,
           CASE WHEN is_incentive_eligible THEN grade_n ELSE 0 END AS pct_n,
           CASE WHEN is_incentive_eligible THEN grade_d ELSE 1 END AS pct_d,
           CASE WHEN is_energy_efficiency_eligible THEN ee_n ELSE 0 END AS ee_share_n
    FROM candidates
),
incentive AS (
    SELECT *,
           CASE WHEN is_incentive_eligible OR is_energy_efficiency_eligible
                THEN rhu(least(adj_n * (pct_n * ee_d + ee_share_n * pct_d),
                               inc_max4 * gap_d * sur_d * pct_d * ee_d), adj_d * pct_d * ee_d)
                ELSE 0 END AS incentive
    FROM adjusted
),
final AS (
    SELECT *,
           a_base + incentive AS a_final,
           CASE WHEN borrow_on
                THEN fdiv(greatest(0, (e4 - (a_base + incentive) * 10000) * bor_d - e4 * bor_n), 10000 * bor_d)
                ELSE 0 END AS borrowable,
           CASE WHEN pre_on AND NOT is_preallocation_cancelled AND NOT list_contains(pre_excluded, sector_label)
                THEN rhu((a_base + incentive) * pre_n, pre_d) ELSE 0 END AS preallocation,
           lines_provisional OR prov_always
               OR (is_incentive_eligible AND grade_provisional)
               OR (is_energy_efficiency_eligible AND prov_ee) AS provisional,
           coalesce(nullif(concat_ws('+', adj_rule,
               CASE WHEN a_base * adj_d <> adj_n THEN 'rounding' END,
               CASE WHEN incentive > 0 AND pct_n > 0 THEN 'incentive_grade_' || weather_grade END,
               CASE WHEN incentive > 0 AND ee_share_n > 0 THEN 'incentive_energy_efficiency' END), ''), 'none')
               AS adjustment_rule
    FROM incentive
)
SELECT
    scenario_index, enterprise_id, name, sector_label,
    d4(e4) AS verified_emissions_t, d4(araw4) AS allocation_raw_t,
    d4(a_final * 10000 - araw4) AS adjustment_t, adjustment_rule,
    CAST(incentive AS BIGINT) AS incentive_t, CAST(a_final AS BIGINT) AS allocation_final_t,
    d4(e4 - a_final * 10000) AS gap_t, CAST(borrowable AS BIGINT) AS borrowable_t,
    CAST(preallocation AS BIGINT) AS preallocation_next_t, provisional
FROM final
ORDER BY scenario_index, enterprise_id
""".replace("{co2_allocation}", co2_allocation_sql("l.method", "p."))

SUMMARY_SQL = r"""
WITH e AS (
    SELECT scenario_index, count(*) AS enterprise_count,
           CAST(coalesce(sum(allocation_final_t), 0) AS HUGEINT) AS enterprise_total,
           count(*) FILTER (WHERE gap_t > 0) AS units_with_gap,
           coalesce(sum(gap_t) FILTER (WHERE gap_t > 0), 0) AS gap_total_t,
           count(*) FILTER (WHERE adjustment_rule LIKE 'gap_exemption%') AS exempted_units,
           coalesce(bool_or(provisional), false) AS ent_provisional
    FROM ents GROUP BY scenario_index
),
s AS (
    SELECT p.scenario_index, CAST(p.res_n AS HUGEINT) AS res_n, CAST(p.res_d AS HUGEINT) AS res_d, p.res_prov,
           coalesce(e.enterprise_count, 0) AS enterprise_count,
           coalesce(e.enterprise_total, 0) AS enterprise_total,
           coalesce(e.units_with_gap, 0) AS units_with_gap,
           CAST(coalesce(e.gap_total_t, 0) AS DECIMAL(18, 4)) AS gap_total_t,
           coalesce(e.exempted_units, 0) AS exempted_units,
           coalesce(e.ent_provisional, false) AS ent_provisional
    FROM params AS p LEFT JOIN e USING (scenario_index)
)
SELECT scenario_index, CAST(enterprise_count AS BIGINT) AS enterprise_count,
       CAST(enterprise_total AS BIGINT) AS enterprise_total_t,
       CAST(rhu(enterprise_total * res_d, res_d - res_n) - enterprise_total AS BIGINT) AS reserve_t,
       CAST(rhu(enterprise_total * res_d, res_d - res_n) AS BIGINT) AS total_cap_t,
       CAST(units_with_gap AS BIGINT) AS units_with_gap, gap_total_t,
       CAST(exempted_units AS BIGINT) AS exempted_units,
       ent_provisional OR res_prov AS provisional
FROM s ORDER BY scenario_index
"""


@dataclass(frozen=True)
class ScenarioResults:
    """`enterprises`: scenario_index + the columns of mart.allocation_enterprise but year and
    explanation; `summary`: scenario_index + the columns of scenario.summary's figures."""

    enterprises: pl.DataFrame
    summary: pl.DataFrame


def allocate_many(baselines: pl.DataFrame, core: CoreFrames, scenarios: list[Scenario]) -> ScenarioResults:
    """The enterprise allocation and cap of every scenario; `baselines` are the engine's for
    each scenario's pack (all scenarios must share `baseline_key`)."""
    if not scenarios:
        raise ScenarioError("no scenario to compute")
    year = scenarios[0].policy.year
    keys = {baseline_key(s.policy) for s in scenarios}
    if len(keys) != 1 or any(s.policy.year != year for s in scenarios):
        raise ScenarioError("allocate_many: the scenarios do not share their baselines")
    params = params_frame(scenarios)
    con = exact_connection()
    try:
        register(
            con,
            baselines=baselines,
            prior=core.line_years.filter(pl.col("year") == year - 1),
            enterprises=core.enterprises,
            attributes=core.attributes,
            params=params,
            reasons=_per_scenario(
                scenarios, lambda p: reasons_frame(p).select("method_reason", "provisional")
            ),
            benchmarks=_per_scenario(scenarios, _benchmarks),
            grades=_per_scenario(scenarios, incentive_grades),
        )
        sql = SCENARIO_SQL.format(int_params=", ".join(f"'{k}'" for k in INT_PARAMS), year=int(year))
        ents = con.sql(sql).pl()
        register(con, ents=ents)
        summary = con.sql(SUMMARY_SQL).pl()
    finally:
        con.close()
    ents = ents.select(
        "scenario_index",
        *[pl.col(c).cast(catalog.ALLOCATION_ENTERPRISE.column(c).polars_type) for c in ENTERPRISE_COLUMNS],
    )
    return ScenarioResults(enterprises=ents, summary=summary)


def allocate_scenarios(core: CoreFrames, scenarios: list[Scenario]) -> ScenarioResults:
    """Every scenario, baselines computed once per group of scenarios that share them."""
    groups: dict[str, list[Scenario]] = {}
    for s in scenarios:
        groups.setdefault(baseline_key(s.policy), []).append(s)
    parts = [allocate_many(baselines_of(core, g[0].policy), core, g) for g in groups.values()]
    return ScenarioResults(
        enterprises=pl.concat([p.enterprises for p in parts]).sort("scenario_index", "enterprise_id"),
        summary=pl.concat([p.summary for p in parts]).sort("scenario_index"),
    )
