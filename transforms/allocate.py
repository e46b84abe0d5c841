"""Line, enterprise and cap allocation (rules.md §3.4, §4, §5).

`allocate(baselines, core, policy)` turns the methods and baselines of `compute_baselines` into
the three published tables `mart.allocation_line`, `mart.allocation_enterprise` and
`mart.cap_summary` (columns and types from `etsflow/catalog.py`).

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

from etsflow import catalog
from policies import Policy
from transforms import CoreFrames
from transforms.baselines import exact_connection, pct_text, ratio, reasons_frame, run, scaled

# Enterprise-level rule-pack parameters an enterprise's numbers use, by step (→ `provisional`).
# "always" is used by every enterprise; the others when their switch is on (incentive grades:
# when the enterprise is eligible with that grade).
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
    "incentive_A": ("incentive_grade_a_pct", "incentive_max_t"),
    "incentive_B": ("incentive_grade_b_pct", "incentive_max_t"),
    "incentive_energy_efficiency": ("energy_efficiency_incentive_pct", "incentive_max_t"),
}
SWITCHES = {
    "gap_exemption": "gap_exemption_enabled",
    "surplus_cap": "surplus_cap_enabled",
    "preallocation": "preallocation_enabled",
    "borrowing": "borrowing_enabled",
    "incentive_A": "incentive_enabled",
    "incentive_B": "incentive_enabled",
    "incentive_energy_efficiency": "incentive_enabled",
}


@dataclass(frozen=True)
class Allocation:
    lines: pl.DataFrame  # mart.allocation_line
    enterprises: pl.DataFrame  # mart.allocation_enterprise
    cap: pl.DataFrame  # mart.cap_summary


LINES_SQL = r"""
WITH
l AS (
    SELECT b.*, r.method_zh, r.method_en, r.rule, r.reason_zh, r.reason_en, r.provisional,
           m.bm_n, m.bm_d, m.bm_text,
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
           CASE method
               WHEN 'benchmark' THEN rhu(bm_n * q4, bm_d * $f) * $f                      -- BM × Q_Y
               WHEN 'intensity' THEN rhu(baseline4 * q4 * $ki_n, $ki_d * 10000 * $f) * $f  -- I × Q_Y × k
               WHEN 'total' THEN rhu(baseline4 * production_days_y * $kt_n, $kt_d * $f) * $f  -- D × N_Y × k
               WHEN 'equal' THEN rhu(co2_4, $f) * $f                                     -- E (CO2) of Y
               ELSE 0
           END AS a_co2_4,
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
    SELECT *,
           a_co2_4 + a_non_co2_4 AS a4,
           replace(replace(replace(replace(replace(reason_zh,
               '{enterprise_shutdown_years}', enterprise_shutdown_years::VARCHAR),
               '{ent_days}', $ent_days_text), '{commissioned_on}', coalesce(commissioned_on::VARCHAR, '')),
               '{first_full_year}', coalesce(first_full_year::VARCHAR, '')),
               '{new_build_years}', new_build_years::VARCHAR) AS why_zh,
           replace(replace(replace(replace(replace(reason_en,
               '{enterprise_shutdown_years}', enterprise_shutdown_years::VARCHAR),
               '{ent_days}', $ent_days_text), '{commissioned_on}', coalesce(commissioned_on::VARCHAR, '')),
               '{first_full_year}', coalesce(first_full_year::VARCHAR, '')),
               '{new_build_years}', new_build_years::VARCHAR) AS why_en,
           CASE WHEN method IN ('intensity', 'total') OR method_reason = 'fallback_total_to_equal' THEN
               '基准年' || array_to_string($base_years, '、') || '中采用'
               || coalesce(nullif(array_to_string(kept_years, '、'), ''), '无')
               || CASE WHEN drop_reasons_zh <> '' THEN '，剔除：' || drop_reasons_zh ELSE '' END
               || CASE WHEN restatements_zh <> '' THEN '；' || restatements_zh ELSE '' END
               || CASE WHEN base_year_dates_zh <> '' THEN '；' || base_year_dates_zh ELSE '' END || '；'
           ELSE '' END AS years_zh,
           CASE WHEN method IN ('intensity', 'total') OR method_reason = 'fallback_total_to_equal' THEN
               'of base years ' || array_to_string($base_years, ', ') || ' kept '
               || coalesce(nullif(array_to_string(kept_years, ', '), ''), 'none')
               || CASE WHEN drop_reasons_en <> '' THEN ', dropped: ' || drop_reasons_en ELSE '' END
               || CASE WHEN restatements_en <> '' THEN '; ' || restatements_en ELSE '' END
               || CASE WHEN base_year_dates_en <> '' THEN '; ' || base_year_dates_en ELSE '' END || '; '
           ELSE '' END AS years_en
    FROM alloc
)
SELECT
    compliance_year, enterprise_id, line_id, method, method_reason, baseline, kept_years, dropped_years,
    CASE method WHEN 'benchmark' THEN CAST(bm_text AS DECIMAL(18, 4))
                WHEN 'intensity' THEN CAST($ki_text AS DECIMAL(18, 4))
                WHEN 'total' THEN CAST($kt_text AS DECIMAL(18, 4)) END AS coefficient,
    CASE method WHEN 'benchmark' THEN output_y WHEN 'intensity' THEN output_y
                WHEN 'total' THEN CAST(production_days_y AS DECIMAL(18, 4))
                WHEN 'equal' THEN co2_y_t END AS activity_value,
    d4(a_co2_4) AS allocation_co2_t, d4(a_non_co2_4) AS allocation_non_co2_t, d4(a4) AS allocation_t,
    concat(
        line_id, '（', compliance_year, '年度）：', method_zh, '（规则', rule, '：', why_zh, '）。', years_zh,
        CASE WHEN method = 'excluded' THEN '不分配配额' ELSE concat(CASE method
            WHEN 'benchmark' THEN '二氧化碳配额 = 基准值 ' || bm_text || ' × 产量 ' || output_y
            WHEN 'intensity' THEN '强度基准值 I = ' || baseline || '，二氧化碳配额 = I × 产量 ' || output_y
                || ' × 调节系数 ' || $ki_text
            WHEN 'total' THEN '日均排放基准值 D = ' || baseline || ' t/天，二氧化碳配额 = D × 生产天数 '
                || production_days_y || ' × 调节系数 ' || $kt_text
            WHEN 'equal' THEN '二氧化碳配额 = ' || compliance_year || '年度经核查二氧化碳排放量 ' || co2_y_t
            END,
            ' = ', d4(a_co2_4), ' t；非二氧化碳（等量法）', d4(a_non_co2_4), ' t；生产线配额 ', d4(a4), ' t') END,
        CASE WHEN is_improved_on_prior_year THEN '；较上年改善'
             WHEN NOT is_improved_on_prior_year THEN '；未较上年改善' ELSE '' END,
        '。规则包 ', $version, '。 / ',
        'Line ', line_id, ' (', compliance_year, '): ', method_en, ' (rule ', rule, ': ', why_en, '); ', years_en,
        CASE WHEN method = 'excluded' THEN 'no allocation' ELSE concat(CASE method
            WHEN 'benchmark' THEN 'CO2 allocation = BM ' || bm_text || ' × Q ' || output_y
            WHEN 'intensity' THEN 'I = ' || baseline || ', CO2 allocation = I × Q ' || output_y
                || ' × k ' || $ki_text
            WHEN 'total' THEN 'D = ' || baseline || ' t/day, CO2 allocation = D × N ' || production_days_y
                || ' days × k ' || $kt_text
            WHEN 'equal' THEN 'CO2 allocation = verified CO2 of ' || compliance_year || ' ' || co2_y_t
            END,
            ' = ', d4(a_co2_4), ' t; non-CO2 (equal) ', d4(a_non_co2_4), ' t; line allocation ', d4(a4),
            ' t') END,
        CASE WHEN is_improved_on_prior_year THEN '; improved on the prior year'
             WHEN NOT is_improved_on_prior_year THEN '; not improved on the prior year' ELSE '' END,
        '. Rule pack ', $version, '.'
    ) AS explanation,
    provisional, is_improved_on_prior_year,
    e4, a4
FROM texts
ORDER BY compliance_year, line_id
"""

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
           coalesce(t.under_investigation, false) AS is_under_investigation,
           coalesce(t.energy_efficiency_benchmark_met, false) AS is_energy_efficiency_met,
           coalesce(t.preallocation_cancelled, false) AS is_preallocation_cancelled
    FROM agg AS a
    JOIN enterprises AS e USING (enterprise_id)
    LEFT JOIN attributes AS t ON t.enterprise_id = a.enterprise_id AND t.year = $year
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
           -- criterion 1: weather grade A/B and every benchmark/intensity/total line improved
           -- (a unit with none of those lines has nothing to compare: no incentive)
           is_incentive_open AND coalesce(weather_grade IN ('A', 'B'), false)
               AND n_compared > 0 AND n_improved = n_compared AS is_incentive_eligible,
           -- criterion 2: single-product energy efficiency at the benchmark level
           is_incentive_open AND is_energy_efficiency_met AS is_energy_efficiency_eligible,
           CASE WHEN is_incentive_eligible THEN CASE weather_grade WHEN 'A' THEN $a_n ELSE $b_n END
                ELSE 0 END AS pct_n,
           CASE WHEN is_incentive_eligible THEN CASE weather_grade WHEN 'A' THEN $a_d ELSE $b_d END
                ELSE 1 END AS pct_d,
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
               OR (is_incentive_eligible AND weather_grade = 'A' AND $prov_a)
               OR (is_incentive_eligible AND weather_grade = 'B' AND $prov_b)
               OR (is_energy_efficiency_eligible AND $prov_ee) AS provisional,
           coalesce(nullif(concat_ws('+', adj_rule,
               CASE WHEN a_base * $adj_d <> adj_n THEN 'rounding' END,
               CASE WHEN incentive > 0 AND pct_n > 0 THEN 'incentive_grade_' || weather_grade END,
               CASE WHEN incentive > 0 AND ee_n > 0 THEN 'incentive_energy_efficiency' END), ''), 'none')
               AS adjustment_rule,
           CAST(d4(rhu(adj_n, $gap_d * $sur_d)) AS VARCHAR) AS adj_text
    FROM incentive
)
SELECT
    CAST($year AS BIGINT) AS compliance_year, enterprise_id, name, sector_label,
    d4(e4) AS verified_emissions_t, d4(araw4) AS allocation_raw_t,
    d4(a_final * 10000 - araw4) AS adjustment_t, adjustment_rule,
    CAST(incentive AS BIGINT) AS incentive_t, CAST(a_final AS BIGINT) AS allocation_final_t,
    d4(e4 - a_final * 10000) AS gap_t, CAST(borrowable AS BIGINT) AS borrowable_t,
    CAST(preallocation AS BIGINT) AS preallocation_next_t, provisional,
    concat(
        name, '（', enterprise_id, '，', $year, '年度）：经核查排放量 E = ', d4(e4),
        ' t，各生产线配额合计 A_raw = ', d4(araw4), ' t；',
        CASE adj_rule
            WHEN 'gap_exemption_share' THEN '缺口超过排放量的' || $gap_pct || '%，按 (1 − ' || $gap_pct
                || '%) × E 核定为 ' || adj_text || ' t；'
            WHEN 'gap_exemption_max' THEN '缺口超过' || $gap_max_text || ' t，按 E − ' || $gap_max_text
                || ' 核定为 ' || adj_text || ' t；'
            WHEN 'surplus_cap_share' THEN '盈余超过排放量的' || $sur_pct || '%，按 (1 + ' || $sur_pct
                || '%) × E 核定为 ' || adj_text || ' t；'
            WHEN 'surplus_cap_max' THEN '盈余超过' || $sur_max_text || ' t，按 E + ' || $sur_max_text
                || ' 核定为 ' || adj_text || ' t；'
            ELSE '' END,
        CASE WHEN NOT $incentive_on THEN ''
             WHEN is_incentive_eligible THEN '减污降碳协同激励（重污染天气绩效' || weather_grade
                 || '级、无行政处罚、未涉嫌违法、各生产线较上年均改善）'
             WHEN is_penalized THEN '受到生态环境行政处罚，不享受协同激励；'
             WHEN is_under_investigation THEN '涉嫌生态环境违法，不享受协同激励；'
             WHEN NOT coalesce(weather_grade IN ('A', 'B'), false) THEN '重污染天气绩效分级非A、B级，不享受协同激励（绩效条件）；'
             WHEN n_compared = 0 THEN '无基准线法、强度法或总量法生产线，不享受协同激励（绩效条件）；'
             ELSE n_compared - n_improved || '条生产线未较上年改善，不享受协同激励（绩效条件）；' END,
        CASE WHEN is_energy_efficiency_eligible THEN '单位产品能效达到标杆水平（激励比例 ' || $ee_pct || '%）' ELSE '' END,
        CASE WHEN is_incentive_eligible OR is_energy_efficiency_eligible
             THEN '增发 ' || incentive || ' t（合计不超过 ' || $inc_max_text || ' t）；' ELSE '' END,
        '年度配额 A_final = ', a_final, ' t，缺口 ', d4(e4 - a_final * 10000), ' t',
        CASE WHEN $borrow_on THEN '，缺口超过排放量' || $bor_pct || '%的部分可预支 ' || borrowable || ' t'
             ELSE '' END,
        CASE WHEN NOT $pre_on THEN ''
             WHEN is_preallocation_cancelled THEN '，' || ($year + 1) || '年度预分配已取消'
             WHEN list_contains($pre_excluded, sector_label) THEN '，' || sector_label || '暂不预分配'
                 || ($year + 1) || '年度配额'
             ELSE '，' || ($year + 1) || '年度预分配 ' || preallocation || ' t（' || $pre_pct || '%）' END,
        '。规则包 ', $version, '。 / ',
        'Enterprise ', enterprise_id, ' (', $year, '): verified emissions E = ', d4(e4),
        ' t, sum of line allocations A_raw = ', d4(araw4), ' t; ',
        CASE adj_rule
            WHEN 'gap_exemption_share' THEN 'gap above ' || $gap_pct || '% of E: A = (1 − ' || $gap_pct
                || '%) × E = ' || adj_text || ' t; '
            WHEN 'gap_exemption_max' THEN 'gap above ' || $gap_max_text || ' t: A = E − ' || $gap_max_text
                || ' = ' || adj_text || ' t; '
            WHEN 'surplus_cap_share' THEN 'surplus above ' || $sur_pct || '% of E: A = (1 + ' || $sur_pct
                || '%) × E = ' || adj_text || ' t; '
            WHEN 'surplus_cap_max' THEN 'surplus above ' || $sur_max_text || ' t: A = E + '
                || $sur_max_text || ' = ' || adj_text || ' t; '
            ELSE '' END,
        CASE WHEN NOT $incentive_on THEN ''
             WHEN is_incentive_eligible THEN 'synergy incentive (weather grade ' || weather_grade
                 || ', no penalty, no suspected violation, every line improved on the prior year)'
             WHEN is_penalized THEN 'no synergy incentive: administrative penalty; '
             WHEN is_under_investigation THEN 'no synergy incentive: suspected violation under investigation; '
             WHEN NOT coalesce(weather_grade IN ('A', 'B'), false)
                 THEN 'no synergy incentive (grade criterion): weather grade not A or B; '
             WHEN n_compared = 0 THEN 'no synergy incentive (grade criterion): no benchmark, intensity or total line; '
             ELSE 'no synergy incentive (grade criterion): ' || (n_compared - n_improved)
                 || ' line(s) did not improve on the prior year; ' END,
        CASE WHEN is_energy_efficiency_eligible
             THEN ' energy efficiency at the benchmark level (' || $ee_pct || '%)' ELSE '' END,
        CASE WHEN is_incentive_eligible OR is_energy_efficiency_eligible
             THEN ' +' || incentive || ' t (at most ' || $inc_max_text || ' t in all); ' ELSE '' END,
        'A_final = ', a_final, ' t, gap ', d4(e4 - a_final * 10000), ' t',
        CASE WHEN $borrow_on THEN ', borrowable (gap above ' || $bor_pct || '% of E) ' || borrowable || ' t'
             ELSE '' END,
        CASE WHEN NOT $pre_on THEN ''
             WHEN is_preallocation_cancelled THEN ', pre-allocation of ' || ($year + 1) || ' cancelled'
             WHEN list_contains($pre_excluded, sector_label) THEN ', no pre-allocation of ' || ($year + 1)
                 || ' for ' || sector_label
             ELSE ', pre-allocation of ' || ($year + 1) || ' ' || preallocation || ' t (' || $pre_pct
                 || '%)' END,
        '. Rule pack ', $version, '.'
    ) AS explanation
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
    gap_n, gap_d = ratio(p.gap_exemption_share.value)
    sur_n, sur_d = ratio(p.surplus_cap_share.value)
    a_n, a_d = ratio(p.incentive_grade_a_pct.value.scaleb(-2))  # percent → share
    b_n, b_d = ratio(p.incentive_grade_b_pct.value.scaleb(-2))
    ee_n, ee_d = ratio(p.energy_efficiency_incentive_pct.value.scaleb(-2))
    bor_n, bor_d = ratio(p.borrowing_threshold_share.value)
    pre_n, pre_d = ratio(p.preallocation_share.value)
    res_n, res_d = ratio(p.reserve_share.value)
    if not 0 <= res_n < res_d:
        raise ValueError(f"rule pack {p.source_path}: reserve_share must be in [0, 1)")
    return {
        "year": p.year,
        "version": p.version,
        "base_years": [int(y) for y in p.base_years.value],
        "ent_days_text": str(p.equal_enterprise_shutdown_days.value),
        "f": 10 ** (4 - ld),
        "ki_n": ki_n,
        "ki_d": ki_d,
        "ki_text": str(p.k_intensity.value),
        "kt_n": kt_n,
        "kt_d": kt_d,
        "kt_text": str(p.k_total.value),
        "gap_on": p.gap_exemption_enabled.value,
        "gap_n": gap_n,
        "gap_d": gap_d,
        "gap_max4": scaled(p.gap_exemption_max_t.value, 4, "gap_exemption_max_t"),
        "gap_pct": pct_text(p.gap_exemption_share.value),
        "gap_max_text": str(p.gap_exemption_max_t.value),
        "sur_on": p.surplus_cap_enabled.value,
        "sur_n": sur_n,
        "sur_d": sur_d,
        "sur_max4": scaled(p.surplus_cap_max_t.value, 4, "surplus_cap_max_t"),
        "sur_pct": pct_text(p.surplus_cap_share.value),
        "sur_max_text": str(p.surplus_cap_max_t.value),
        "adj_d": 10000 * gap_d * sur_d,
        "incentive_on": p.incentive_enabled.value,
        "a_n": a_n,
        "a_d": a_d,
        "b_n": b_n,
        "b_d": b_d,
        "inc_max4": scaled(p.incentive_max_t.value, 4, "incentive_max_t"),
        "inc_max_text": str(p.incentive_max_t.value),
        "ee_n": ee_n,
        "ee_d": ee_d,
        "ee_pct": str(p.energy_efficiency_incentive_pct.value),
        "borrow_on": p.borrowing_enabled.value,
        "bor_n": bor_n,
        "bor_d": bor_d,
        "bor_pct": pct_text(p.borrowing_threshold_share.value),
        "pre_on": p.preallocation_enabled.value,
        "pre_n": pre_n,
        "pre_d": pre_d,
        "pre_pct": pct_text(p.preallocation_share.value),
        "pre_excluded": list(p.preallocation_excluded_sectors.value),
        "res_n": res_n,
        "res_d": res_d,
        "res_prov": p.reserve_share.provisional,
        "prov_always": any(
            _step_provisional(p, s)
            for s in ("always", "gap_exemption", "surplus_cap", "preallocation", "borrowing")
        ),
        "prov_a": _step_provisional(p, "incentive_A"),
        "prov_b": _step_provisional(p, "incentive_B"),
        "prov_ee": _step_provisional(p, "incentive_energy_efficiency"),
    }


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
        con.register("baselines", baselines)
        con.register("reasons", reasons_frame(policy))
        con.register("benchmarks", _benchmarks(policy))
        con.register("prior", core.line_years.filter(pl.col("year") == policy.year - 1))
        con.register("enterprises", core.enterprises)
        con.register("attributes", core.attributes)
        lines = run(con, LINES_SQL, params)
        con.register("line_alloc", lines)
        enterprises = run(con, ENTERPRISES_SQL, params)
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
        con.register("enterprises_alloc", enterprises.select("allocation_final_t", "provisional"))
        if left_out < 0:
            raise ValueError(f"left_out = {left_out}: a count of enterprises")
        cap = run(con, CAP_SQL, allocation_params(policy) | {"left_out": left_out})
    finally:
        con.close()
    return _to_catalog(cap, catalog.CAP_SUMMARY)
