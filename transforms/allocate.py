"""Line, enterprise and cap allocation (rules.md §3.4, §4, §5).

`allocate(baselines, core, policy)` turns the methods and baselines of `compute_baselines` into
the three published tables `mart.allocation_line`, `mart.allocation_enterprise` and
`mart.cap_summary` (columns and types from `model/catalog.py`).

- Line: benchmark BM × Q_Y, intensity I × Q_Y × k, total D × N_Y × k, equal = CO2 of Y; plus the
  non-CO2 emissions of Y (always equal); each half-up to `line_allocation_decimals`.
- Enterprise: A_raw = Σ lines; the gap exemption (max(A_raw, (1 − s)·E, E − M)) and/or the
  surplus cap (min(A_raw, (1 + s)·E, E + M)) the pack switches on; A_final = round_half_up(A_adj)
  + the synergy incentive; borrowable part of the gap; pre-allocation of Y+1.
- Cap: total = round_half_up(Σ A_final / (1 − reserve share)), reserve = total − Σ A_final.

The arithmetic is the exact scaled-integer SQL of `transforms.baselines` (see its docstring):
`x4` = x × 10^4 as HUGEINT, `rhu`/`fdiv` the only divisions. A_adj is carried as the exact
fraction adj_n / ADJ_D, ADJ_D = 10^4 × gap share denominator × surplus share denominator.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from model import catalog
from model.labels import enterprise_explanation, explained, line_explanation
from policies import Policy
from policies.methods import LINE_METHODS
from transforms import CoreFrames, register
from transforms.baselines import exact_connection, ratio, reasons_frame, run, scaled

# Enterprise-level rule-pack parameters an enterprise's numbers use, by step (→ `provisional`).
# "always" is used by every enterprise; the others when their switch is on (incentive grade:
# when the enterprise is eligible with a grade of `incentive_grades`, with that grade's percentage).
ENTERPRISE_PARAMS: dict[str, tuple[str, ...]] = {
    "always": (
        "cost_control_enabled",
        "gap_exemption_enabled",
        "surplus_cap_enabled",
        "incentive_enabled",
        "preallocation_enabled",
        "borrowing_enabled",
    ),
    "gap_exemption": ("gap_exemption_share", "gap_exemption_max_t"),
    "surplus_cap": ("surplus_cap_share", "surplus_cap_max_t"),
    "preallocation": ("preallocation_share", "preallocation_excluded_sectors"),
    "borrowing": ("borrowing_threshold_share",),
    "incentive_grade": ("incentive_grades", "incentive_max_t"),
    "incentive_energy_efficiency": ("energy_efficiency_incentive_pct", "incentive_max_t"),
}
SWITCHES = {
    "gap_exemption": "gap_exemption_enabled",
    "surplus_cap": "surplus_cap_enabled",
    "preallocation": "preallocation_enabled",
    "borrowing": "borrowing_enabled",
    "incentive_grade": "incentive_enabled",
    "incentive_energy_efficiency": "incentive_enabled",
}


@dataclass(frozen=True)
class Allocation:
    lines: pl.DataFrame  # mart.allocation_line
    enterprises: pl.DataFrame  # mart.allocation_enterprise
    cap: pl.DataFrame  # mart.cap_summary


def co2_allocation_sql(method: str = "method", param: str = "$") -> str:
    """The CO2 allocation of a line by its method: the formulas of the registry, as one CASE.
    `param`: how the formulas' rule-pack values are written (`$x` bound, or `p.x` joined)."""
    whens = "\n".join(f"WHEN '{m}' THEN {r.co2_sql.replace('$', param)}" for m, r in LINE_METHODS.items())
    return f"CASE {method}\n{whens}\nELSE 0 END"


LINES_SQL = r"""
WITH
l AS (
    SELECT b.*, r.provisional, m.bm_n, m.bm_d, m.bm_text AS benchmark_text,
           i4(b.baseline) AS baseline4, i4(b.output_y) AS q4,
           i4(b.co2_y_t) AS co2_4, i4(b.non_co2_y_t) AS non_co2_4,
           p.line_id IS NOT NULL AS has_prior,
           i4(p.verified_co2_t) + i4(p.verified_non_co2_t) AS prior_e4, i4(p.output) AS prior_q4
    FROM baselines AS b
    JOIN reasons AS r USING (method_reason)
    LEFT JOIN benchmarks AS m ON m.activity = b.activity AND b.method = 'benchmark'
    LEFT JOIN prior AS p ON p.line_id = b.line_id
),
alloc AS (  -- line allocation in units of 10^-4 t, rounded half-up to 10^-d (f = 10^(4-d))
    SELECT *,
           {co2_allocation} AS a_co2_4,  -- the line methods (policies/methods.py)
           CASE WHEN method = 'excluded' THEN 0 ELSE rhu(non_co2_4, $f) * $f END AS a_non_co2_4,
           co2_4 + non_co2_4 AS e4,
           -- 2023 incentive: E/Q fell (benchmark, intensity) or E fell (total) against Y−1
           CASE WHEN NOT $incentive_on OR method NOT IN ('benchmark', 'intensity', 'total') THEN NULL
                WHEN NOT has_prior THEN false
                WHEN method = 'total' THEN co2_4 + non_co2_4 < prior_e4
                ELSE q4 > 0 AND prior_q4 > 0 AND (co2_4 + non_co2_4) * prior_q4 < prior_e4 * q4
           END AS is_improved_on_prior_year
    FROM l
),
texts AS (
    SELECT *, a_co2_4 + a_non_co2_4 AS a4 FROM alloc
)
SELECT
    compliance_year, enterprise_id, line_id, method, method_reason, baseline, kept_years, dropped_years,
    CASE method WHEN 'benchmark' THEN CAST(benchmark_text AS DECIMAL(18, 4))
                WHEN 'intensity' THEN CAST($ki_text AS DECIMAL(18, 4))
                WHEN 'total' THEN CAST($kt_text AS DECIMAL(18, 4)) END AS coefficient,
    CASE method WHEN 'benchmark' THEN output_y WHEN 'intensity' THEN output_y
                WHEN 'total' THEN CAST(production_days_y AS DECIMAL(18, 4))
                WHEN 'equal' THEN co2_y_t END AS activity_value,
    d4(a_co2_4) AS allocation_co2_t, d4(a_non_co2_4) AS allocation_non_co2_t, d4(a4) AS allocation_t,
    provisional, is_improved_on_prior_year,
    -- the facts the explanation cites (model.labels.line_explanation)
    benchmark_text, output_y, production_days_y, co2_y_t, enterprise_shutdown_years, commissioned_on,
    first_full_year, new_build_years, dropped_reasons, base_year_note, note_years, restatements,
    reduction_project_on, reduction_in_window, reduction_project_years, major_change_on,
    major_change_in_window, major_change_years,
    e4, a4
FROM texts
ORDER BY compliance_year, line_id
""".replace("{co2_allocation}", co2_allocation_sql())

ENTERPRISES_SQL = r"""
WITH
agg AS (
    SELECT enterprise_id, sum(e4) AS e4, sum(a4) AS araw4, bool_or(provisional) AS lines_provisional,
           count(is_improved_on_prior_year) AS n_compared,
           count(*) FILTER (WHERE is_improved_on_prior_year) AS n_improved
    FROM line_alloc GROUP BY enterprise_id
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
    LEFT JOIN attributes AS t ON t.enterprise_id = a.enterprise_id AND t.year = $year
    LEFT JOIN grades AS g ON g.weather_grade = t.weather_grade
),
candidates AS (  -- A_raw and the adjusted values, as numerators over ADJ_D
    SELECT *,
           araw4 * $gap_d * $sur_d AS raw_n,
           CASE WHEN $gap_on THEN e4 * ($gap_d - $gap_n) * $sur_d END AS gap_share_n,  -- (1 − s)·E
           CASE WHEN $gap_on THEN (e4 - $gap_max4) * $gap_d * $sur_d END AS gap_max_n,  -- E − M
           CASE WHEN $sur_on THEN e4 * ($sur_d + $sur_n) * $gap_d END AS sur_share_n,  -- (1 + s)·E
           CASE WHEN $sur_on THEN (e4 + $sur_max4) * $gap_d * $sur_d END AS sur_max_n  -- E + M
    FROM facts
),
adjusted AS (
    SELECT *,
           -- gap exemption: max(A_raw, (1 − s)·E, E − M); surplus cap: min(·, (1 + s)·E, E + M)
           least(greatest(raw_n, gap_share_n, gap_max_n), sur_share_n, sur_max_n) AS adj_n,
           CASE WHEN adj_n = raw_n THEN NULL
                WHEN adj_n = gap_share_n THEN 'gap_exemption_share'
                WHEN adj_n = gap_max_n THEN 'gap_exemption_max'
                WHEN adj_n = sur_share_n THEN 'surplus_cap_share'
                WHEN adj_n = sur_max_n THEN 'surplus_cap_max' END AS adj_rule,
           rhu(adj_n, $adj_d) AS a_base,
           -- §4 (v2): neither criterion for a unit penalized or under investigation
           $incentive_on AND NOT is_penalized AND NOT is_under_investigation AS is_incentive_open,
           -- criterion 1: a weather grade of the pack's incentive_grades and every benchmark/
           -- intensity/total line improved (a unit with none of those lines has nothing to compare)
           is_incentive_open AND is_incentive_grade
               AND n_compared > 0 AND n_improved = n_compared AS is_incentive_eligible,
           -- criterion 2: single-product energy efficiency at the benchmark level
           is_incentive_open AND is_energy_efficiency_met AS is_energy_efficiency_eligible,
           CASE WHEN is_incentive_eligible THEN grade_n ELSE 0 END AS pct_n,
           CASE WHEN is_incentive_eligible THEN grade_d ELSE 1 END AS pct_d,
           CASE WHEN is_energy_efficiency_eligible THEN $ee_n ELSE 0 END AS ee_n
    FROM candidates
),
incentive AS (
    SELECT *,
           -- round_half_up(min((pct + ee_pct) × A_adj, max)), the two criteria summed and capped
           -- once: both sides over ADJ_D × pct_d × ee_d
           CASE WHEN is_incentive_eligible OR is_energy_efficiency_eligible
                THEN rhu(least(adj_n * (pct_n * $ee_d + ee_n * pct_d),
                               $inc_max4 * $gap_d * $sur_d * pct_d * $ee_d), $adj_d * pct_d * $ee_d)
                ELSE 0 END AS incentive
    FROM adjusted
),
final AS (
    SELECT *,
           a_base + incentive AS a_final,
           CASE WHEN $borrow_on  -- floor(max(0, (E − A_final) − s·E))
                THEN fdiv(greatest(0, (e4 - (a_base + incentive) * 10000) * $bor_d - e4 * $bor_n),
                          10000 * $bor_d)
                ELSE 0 END AS borrowable,
           CASE WHEN $pre_on AND NOT is_preallocation_cancelled
                     AND NOT list_contains($pre_excluded, sector_label)
                THEN rhu((a_base + incentive) * $pre_n, $pre_d) ELSE 0 END AS preallocation,
           lines_provisional OR $prov_always
               OR (is_incentive_eligible AND grade_provisional)
               OR (is_energy_efficiency_eligible AND $prov_ee) AS provisional,
           coalesce(nullif(concat_ws('+', adj_rule,
               CASE WHEN a_base * $adj_d <> adj_n THEN 'rounding' END,
               CASE WHEN incentive > 0 AND pct_n > 0 THEN 'incentive_grade_' || weather_grade END,
               CASE WHEN incentive > 0 AND ee_n > 0 THEN 'incentive_energy_efficiency' END), ''), 'none')
               AS adjustment_rule
    FROM incentive
)
SELECT
    CAST($year AS BIGINT) AS compliance_year, enterprise_id, name, sector_label,
    d4(e4) AS verified_emissions_t, d4(araw4) AS allocation_raw_t,
    d4(a_final * 10000 - araw4) AS adjustment_t, adjustment_rule,
    CAST(incentive AS BIGINT) AS incentive_t, CAST(a_final AS BIGINT) AS allocation_final_t,
    d4(e4 - a_final * 10000) AS gap_t, CAST(borrowable AS BIGINT) AS borrowable_t,
    CAST(preallocation AS BIGINT) AS preallocation_next_t, provisional,
    -- the rules that fired and the facts the explanation cites (model.labels.enterprise_explanation)
    adj_rule AS adjustment_step, d4(rhu(adj_n, $gap_d * $sur_d)) AS allocation_adjusted_t,
    CASE WHEN NOT $incentive_on THEN NULL
         WHEN is_incentive_eligible THEN 'eligible'
         WHEN is_penalized THEN 'penalized'
         WHEN is_under_investigation THEN 'under_investigation'
         WHEN NOT is_incentive_grade THEN 'weather_grade'
         WHEN n_compared = 0 THEN 'no_comparable_line'
         ELSE 'not_improved' END AS incentive_reason,
    weather_grade, n_compared - n_improved AS lines_not_improved, is_energy_efficiency_eligible,
    CASE WHEN NOT $pre_on THEN NULL
         WHEN is_preallocation_cancelled THEN 'cancelled'
         WHEN list_contains($pre_excluded, sector_label) THEN 'excluded_sector'
         ELSE 'granted' END AS preallocation_reason
FROM final
ORDER BY compliance_year, enterprise_id
"""

CAP_SQL = r"""
SELECT
    CAST($year AS BIGINT) AS compliance_year,
    count(*) AS enterprise_count,
    CAST(coalesce(sum(allocation_final_t), 0) AS HUGEINT) AS enterprise_total,
    -- total cap = round_half_up(Σ A_final / (1 − r)) = Σ·r_d / (r_d − r_n)
    rhu(enterprise_total * $res_d, $res_d - $res_n) AS total_cap,
    CAST(enterprise_total AS BIGINT) AS enterprise_total_t,
    CAST(total_cap - enterprise_total AS BIGINT) AS reserve_t,
    CAST(total_cap AS BIGINT) AS total_cap_t,
    coalesce(bool_or(provisional), false) OR $res_prov AS provisional,
    $left_out > 0 AS partial,
    CAST($left_out AS INTEGER) AS enterprises_left_out
FROM enterprises_alloc
"""


def _provisional(policy: Policy, *keys: str) -> bool:
    params = policy.params()
    return any(params[k].provisional for k in keys)


def _step_provisional(policy: Policy, step: str) -> bool:
    """Whether a step of ENTERPRISE_PARAMS, when it applies, uses a provisional parameter."""
    switch = SWITCHES.get(step)
    if switch is not None and not getattr(policy, switch).value:
        return False
    return _provisional(policy, *ENTERPRISE_PARAMS[step])


def allocation_params(policy: Policy) -> dict:
    """The rule-pack values the allocation SQL uses, as exact integers, lists and texts."""
    p = policy
    ld = p.line_allocation_decimals.value
    if not 0 <= ld <= 4:
        raise ValueError(f"rule pack {p.source_path}: line_allocation_decimals = {ld}; 0 … 4 supported")
    ki_n, ki_d = ratio(p.k_intensity.value)
    kt_n, kt_d = ratio(p.k_total.value)
    bc_n, bc_d = ratio(p.benchmark_correction.value)
    gap_n, gap_d = ratio(p.gap_exemption_share.value)
    sur_n, sur_d = ratio(p.surplus_cap_share.value)
    ee_n, ee_d = ratio(p.energy_efficiency_incentive_pct.value.scaleb(-2))
    bor_n, bor_d = ratio(p.borrowing_threshold_share.value)
    pre_n, pre_d = ratio(p.preallocation_share.value)
    res_n, res_d = ratio(p.reserve_share.value)
    if not 0 <= res_n < res_d:
        raise ValueError(f"rule pack {p.source_path}: reserve_share must be in [0, 1)")
    return {
        "year": p.year,
        "f": 10 ** (4 - ld),
        "ki_n": ki_n,
        "ki_d": ki_d,
        "ki_text": str(p.k_intensity.value),
        "kt_n": kt_n,
        "kt_d": kt_d,
        "kt_text": str(p.k_total.value),
        "bc_n": bc_n,
        "bc_d": bc_d,
        "gap_on": p.gap_exemption_enabled.value,
        "gap_n": gap_n,
        "gap_d": gap_d,
        "gap_max4": scaled(p.gap_exemption_max_t.value, 4, "gap_exemption_max_t"),
        "sur_on": p.surplus_cap_enabled.value,
        "sur_n": sur_n,
        "sur_d": sur_d,
        "sur_max4": scaled(p.surplus_cap_max_t.value, 4, "surplus_cap_max_t"),
        "adj_d": 10000 * gap_d * sur_d,
        "incentive_on": p.incentive_enabled.value,
        "inc_max4": scaled(p.incentive_max_t.value, 4, "incentive_max_t"),
        "ee_n": ee_n,
        "ee_d": ee_d,
        "borrow_on": p.borrowing_enabled.value,
        "bor_n": bor_n,
        "bor_d": bor_d,
        "pre_on": p.preallocation_enabled.value,
        "pre_n": pre_n,
        "pre_d": pre_d,
        "pre_excluded": list(p.preallocation_excluded_sectors.value),
        "res_n": res_n,
        "res_d": res_d,
        "res_prov": p.reserve_share.provisional,
        "prov_always": any(
            _step_provisional(p, s)
            for s in ("always", "gap_exemption", "surplus_cap", "preallocation", "borrowing")
        ),
        "prov_ee": _step_provisional(p, "incentive_energy_efficiency"),
    }


def incentive_grades(policy: Policy) -> pl.DataFrame:
    """The weather grades earning the synergy incentive (rules.md §4, the pack's `incentive_grades`),
    each with its percentage as an exact share grade_n / grade_d and whether an enterprise earning
    it uses a provisional parameter."""
    grades = policy.incentive_grades.value
    shares = [ratio(policy.grade_pct(g).value.scaleb(-2)) for g in grades]  # percent → share
    return pl.DataFrame(
        {
            "weather_grade": list(grades),
            "grade_n": [n for n, _ in shares],
            "grade_d": [d for _, d in shares],
            "grade_provisional": [
                _step_provisional(policy, "incentive_grade")
                or (policy.incentive_enabled.value and policy.grade_pct(g).provisional)
                for g in grades
            ],
        },
        schema={
            "weather_grade": pl.String,
            "grade_n": pl.Int64,
            "grade_d": pl.Int64,
            "grade_provisional": pl.Boolean,
        },
    )


def _benchmarks(policy: Policy) -> pl.DataFrame:
    bms = sorted(policy.benchmarks.value.items())
    return pl.DataFrame(
        {
            "activity": [a for a, _ in bms],
            "bm_n": [ratio(v)[0] for _, v in bms],
            "bm_d": [ratio(v)[1] for _, v in bms],
            "bm_text": [str(v) for _, v in bms],
        },
        schema={"activity": pl.String, "bm_n": pl.Int64, "bm_d": pl.Int64, "bm_text": pl.String},
    )


def _to_catalog(df: pl.DataFrame, table: catalog.Table) -> pl.DataFrame:
    """Exactly the catalog's columns, in its order, with its polars types (no arithmetic)."""
    return df.select([pl.col(c.name).cast(c.polars_type) for c in table.columns])


def allocate(baselines: pl.DataFrame, core: CoreFrames, policy: Policy, left_out: int = 0) -> Allocation:
    """Line, enterprise and cap allocation of `policy.year` from the output of `compute_baselines`.

    `left_out`: how many listed enterprises were left out of the inputs (--allow-quarantine); the
    cap summary then says `partial` (its totals are not the year's cap).

    Raises NotImplementedError when the pack switches on the compliance-cost control, whose
    formula the 2023 plan does not give.
    """
    if policy.cost_control_enabled.value:
        raise NotImplementedError(
            f"rule pack {policy.source_path}: cost_control_enabled = true, but the 2023 compliance-cost "
            "control (履约成本控制机制, S4 §6(一)) has no recoverable formula in the plan; set "
            "cost_control_enabled = false or implement the rule in transforms/allocate.py"
        )
    params = allocation_params(policy)
    con = exact_connection()
    try:
        register(
            con,
            baselines=baselines,
            reasons=reasons_frame(policy),
            benchmarks=_benchmarks(policy),
            prior=core.line_years.filter(pl.col("year") == policy.year - 1),
            enterprises=core.enterprises,
            attributes=core.attributes,
            grades=incentive_grades(policy),
        )
        lines = explained(run(con, LINES_SQL, params), line_explanation(policy))
        register(con, line_alloc=lines)
        enterprises = explained(run(con, ENTERPRISES_SQL, params), enterprise_explanation(policy))
    finally:
        con.close()
    return Allocation(
        lines=_to_catalog(lines, catalog.ALLOCATION_LINE),
        enterprises=_to_catalog(enterprises, catalog.ALLOCATION_ENTERPRISE),
        cap=cap_summary(enterprises, policy, left_out),
    )


def cap_summary(enterprises: pl.DataFrame, policy: Policy, left_out: int = 0) -> pl.DataFrame:
    """`mart.cap_summary` of the year from its enterprise allocations (rules.md §5).

    The only step of the allocation that spans enterprises: an allocation computed in parts
    (enterprises split across processes) is the union of the parts' lines and enterprises, and
    this cap over all of them."""
    con = exact_connection()
    try:
        register(con, enterprises_alloc=enterprises.select("allocation_final_t", "provisional"))
        if left_out < 0:
            raise ValueError(f"left_out = {left_out}: a count of enterprises")
        cap = run(con, CAP_SQL, allocation_params(policy) | {"left_out": left_out})
    finally:
        con.close()
    return _to_catalog(cap, catalog.CAP_SUMMARY)
