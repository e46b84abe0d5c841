"""Method of each line and its historical baseline (rules.md §2–§3).

`compute_baselines` decides, for every line of every enterprise listed for the compliance year Y
that has a verified record for Y, which allocation method applies (§2, first rule that fires) and,
for the historical methods, which base years are kept and the baseline: the intensity I (§3.2) or
the daily total D (§3.3), after the §3.1 corrections.

Exactness (rules.md §8). Everything runs in SQL on a private in-memory DuckDB connection over
*scaled integers* (HUGEINT): a quantity named `x4` is x × 10^4, `x6` x × 10^6, `x10` x × 10^10.
Decimal inputs are exact at those scales, products of integers are exact, divisions happen only
in `rhu(a, b)` = round_half_up(a / b) and `fdiv(a, b)` = floor(a / b) on integers, and thresholds
are compared by cross-multiplication. No DOUBLE is ever produced. (DuckDB's own DECIMAL types are
avoided for arithmetic: division returns DOUBLE, and GREATEST/CASE between DECIMAL(38,4) and
DECIMAL(38,5) silently round to 4 places.)

The helpers of this module (`exact_connection`, `run`, `ratio`, `scaled`, `REASONS`) are shared
with `transforms.allocate`.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from decimal import Decimal

import duckdb
import polars as pl

from policies import Policy
from transforms import CoreFrames, listed_enterprise_ids, register

# ---------------------------------------------------------------------------------------------
# Exact arithmetic on a private DuckDB connection
# ---------------------------------------------------------------------------------------------
_MACROS = """
-- floor(a / b) for integers, b > 0 (DuckDB's // truncates towards zero)
CREATE MACRO fdiv(a, b) AS CASE
    WHEN CAST(a AS HUGEINT) >= 0 THEN CAST(a AS HUGEINT) // CAST(b AS HUGEINT)
    ELSE -((-CAST(a AS HUGEINT) + CAST(b AS HUGEINT) - 1) // CAST(b AS HUGEINT)) END;
-- round_half_up(a / b) = floor(a / b + 1/2) for integers, b > 0 (四舍五入)
CREATE MACRO rhu(a, b) AS fdiv(2 * CAST(a AS HUGEINT) + CAST(b AS HUGEINT), 2 * CAST(b AS HUGEINT));
-- exact scaled integers from DECIMAL(18,4) / DECIMAL(18,6) columns, and back
CREATE MACRO i4(x) AS CAST(CAST(x AS DECIMAL(38, 4)) * 10000 AS HUGEINT);
CREATE MACRO i6(x) AS CAST(CAST(x AS DECIMAL(38, 6)) * 1000000 AS HUGEINT);
CREATE MACRO d4(n) AS CAST(CAST(n AS DECIMAL(38, 0)) * CAST(0.0001 AS DECIMAL(38, 4)) AS DECIMAL(18, 4));
CREATE MACRO days_in_year(y) AS CAST(make_date(CAST(y AS INTEGER) + 1, 1, 1)
    - make_date(CAST(y AS INTEGER), 1, 1) AS BIGINT);
"""


def exact_connection() -> duckdb.DuckDBPyConnection:
    """A private connection with the exact-arithmetic macros above: a cursor of this process's
    in-memory database that holds them (`_exact_database`). What a caller registers on it is its
    own (DuckDB keeps registered frames per connection) and goes with `close()`; opening a new
    database and creating the macros each time cost ~10 ms a call, ~10 calls a run."""
    return _exact_database(os.getpid()).cursor()


@functools.cache
def _exact_database(pid: int) -> duckdb.DuckDBPyConnection:
    """The in-memory database holding the macros, one per process (`pid`: a forked child makes
    its own rather than use its parent's engine threads)."""
    con = duckdb.connect()
    con.execute(_MACROS)
    return con


def run(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> pl.DataFrame:
    """Execute `sql` with the named `$parameters` it uses (DuckDB refuses unused ones).

    Integers are bound as HUGEINT: DuckDB would type a small Python int as INTEGER and raise on
    the overflow of a product of parameters.
    """
    used = set(re.findall(r"\$(\w+)", sql))
    missing = used - params.keys()
    if missing:
        raise KeyError(f"SQL parameters without a value: {sorted(missing)}")
    bound = {
        k: duckdb.HugeIntegerValue(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in params.items()
        if k in used
    }
    return con.sql(sql, params=bound).pl()


def ratio(value: Decimal) -> tuple[int, int]:
    """An exact rule-pack decimal as (numerator, denominator > 0)."""
    n, d = Decimal(value).as_integer_ratio()
    return n, d


def scaled(value: Decimal, places: int, name: str) -> int:
    """value × 10^places as an int; refuses a value with more decimal places than the scale."""
    v = Decimal(value).scaleb(places)
    if v != v.to_integral_value():
        raise ValueError(f"rule-pack parameter {name} = {value}: more than {places} decimal places")
    return int(v)


# ---------------------------------------------------------------------------------------------
# Why a line got its method (rules.md §2) and which rule-pack parameters its number uses
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reason:
    code: str  # method_reason (its words: model.labels.REASONS)
    method: str
    params: tuple[str, ...]  # rule-pack keys the line's allocation depends on (→ provisional)


_HIST = ("base_years", "baseline_decimals", "line_allocation_decimals", "reduction_project_window")
REASONS: tuple[Reason, ...] = (
    Reason("stopped", "excluded", ("stopped_lines_excluded",)),
    Reason(
        "enterprise_shutdown",
        "equal",
        ("equal_enterprise_shutdown_days", "equal_enterprise_min_years", "base_years"),
    ),
    Reason("activity_equal", "equal", ("equal_activities",)),
    Reason("new_build", "equal", ("new_build_full_years_benchmark", "new_build_full_years_other")),
    Reason("benchmark", "benchmark", ("benchmarks", "line_allocation_decimals")),
    Reason("intensity", "intensity", (*_HIST, "intensity_outlier_share", "k_intensity")),
    Reason("total", "total", (*_HIST, "total_drop_shutdown_days", "k_total")),
    Reason(
        "fallback_intensity_to_total",
        "total",
        (*_HIST, "intensity_outlier_share", "total_drop_shutdown_days", "k_total"),
    ),
    Reason("fallback_total_to_equal", "equal", ("base_years", "total_drop_shutdown_days")),
    Reason("equal_by_pack", "equal", ("line_methods",)),
)


def reasons_frame(policy: Policy) -> pl.DataFrame:
    """REASONS as a frame, with `provisional` resolved against the pack."""
    params = policy.params()
    return pl.DataFrame(
        {
            "method_reason": [r.code for r in REASONS],
            "method": [r.method for r in REASONS],
            "provisional": [any(params[p].provisional for p in r.params) for r in REASONS],
        }
    )


# ---------------------------------------------------------------------------------------------
# The baselines
# ---------------------------------------------------------------------------------------------
BASELINES_SQL = r"""
WITH
cur AS (  -- every line of a listed enterprise with its record for Y
    SELECT l.enterprise_id, l.line_id, l.activity,
           coalesce(l.intensity_eligible, false) AS intensity_eligible,
           l.commissioned_on, l.reduction_project_on, l.major_change_on, l.stopped_on,
           CASE WHEN l.commissioned_on IS NULL THEN NULL
                WHEN month(l.commissioned_on) = 1 AND day(l.commissioned_on) = 1
                    THEN year(l.commissioned_on)
                ELSE year(l.commissioned_on) + 1 END AS first_full_year,
           r.verified_co2_t AS co2_y_t, r.verified_non_co2_t AS non_co2_y_t,
           r.output AS output_y, r.production_days AS production_days_y,
           r.grid_ef_t_per_mwh AS grid_ef_y,
           l.reduction_project_on BETWEEN make_date(CAST($rp_first AS INTEGER), 1, 1)
               AND make_date(CAST($rp_last AS INTEGER), 12, 31) AS reduction_in_window,
           l.major_change_on BETWEEN make_date(CAST($base_first AS INTEGER), 1, 1)
               AND make_date(CAST($base_last AS INTEGER), 12, 31) AS major_change_in_window
    FROM lines AS l
    JOIN listed AS e ON e.enterprise_id = l.enterprise_id
    LEFT JOIN line_years AS r ON r.line_id = l.line_id AND r.year = $year
    WHERE r.line_id IS NOT NULL
       -- §2 rule 1: a line of the base years stopped on or before 1 January of Y has no record
       -- for Y; it still gets a row (method excluded) so that the publication says why
       OR ($stopped_excluded AND l.stopped_on <= make_date(CAST($year AS INTEGER), 1, 1)
           AND EXISTS (SELECT 1 FROM line_years AS h
                       WHERE h.line_id = l.line_id AND list_contains($base_years, h.year)))
),
shutdown AS (  -- §2 rule 2: base years in which the enterprise was shut down ≥ 183 days
    SELECT enterprise_id, count(*) AS n_shutdown_years
    FROM enterprise_years
    WHERE list_contains($base_years, year) AND shutdown_days >= $ent_days
    GROUP BY enterprise_id
),
base AS (  -- one row per line and base year; §3.1 usability and the electricity restatement
    SELECT c.line_id, b.year, c.first_full_year, c.reduction_project_on, c.major_change_on,
           h.line_id IS NOT NULL AS has_record,
           coalesce(b.year < c.first_full_year, false) AS before_first_full_year,
           -- §3.1 (v2): a date counts only inside its window; then the base years that start
           -- before it are unusable (the year it falls in too, unless it is 1 January)
           coalesce(c.reduction_in_window AND make_date(b.year, 1, 1) < c.reduction_project_on, false)
               AS before_reduction,
           coalesce(c.major_change_in_window AND make_date(b.year, 1, 1) < c.major_change_on, false)
               AS before_major_change,
           i4(h.output) AS q4,
           h.production_days AS days,
           days_in_year(b.year) - h.production_days AS line_shutdown_days,
           coalesce(h.purchased_electricity_mwh IS NOT NULL AND h.grid_ef_t_per_mwh IS NOT NULL
                    AND c.grid_ef_y IS NOT NULL AND h.grid_ef_t_per_mwh <> c.grid_ef_y, false)
               AS is_restated,
           -- co2_y' = co2_y + MWh_y × (ef_Y − ef_y): scale 10^4 × 10^6 = 10^10
           i4(h.purchased_electricity_mwh) * (i6(c.grid_ef_y) - i6(h.grid_ef_t_per_mwh)) AS restatement10,
           i4(h.verified_co2_t) * 1000000 AS reported10,
           h.purchased_electricity_mwh AS mwh, h.grid_ef_t_per_mwh AS grid_ef, c.grid_ef_y
    FROM cur AS c
    CROSS JOIN (SELECT unnest(CAST($base_years AS INTEGER[])) AS year) AS b
    LEFT JOIN line_years AS h ON h.line_id = c.line_id AND h.year = b.year
),
usable AS (
    SELECT *,
           reported10 + CASE WHEN is_restated THEN restatement10 ELSE 0 END AS e10,
           has_record AND NOT before_first_full_year AND NOT before_reduction
               AND NOT before_major_change AS usable_total,
           usable_total AND q4 > 0 AS usable_intensity
    FROM base
),
window_sums AS (
    SELECT line_id,
           count(*) FILTER (WHERE usable_intensity) AS n_usable_intensity,
           sum(e10) FILTER (WHERE usable_intensity) AS sum_e10_usable,
           sum(q4) FILTER (WHERE usable_intensity) AS sum_q4_usable,
           count(*) FILTER (WHERE usable_total) AS n_usable_total
    FROM usable GROUP BY line_id
),
tests AS (
    SELECT u.*, w.n_usable_intensity, w.n_usable_total,
           -- E_y/Q_y − Ī = dev_num / (Q_y·ΣQ) and Ī = dev_den / (Q_y·ΣQ): compare the numerators
           u.e10 * w.sum_q4_usable - w.sum_e10_usable * u.q4 AS dev_num,
           w.sum_e10_usable * u.q4 AS dev_den,
           u.usable_intensity AND w.n_usable_intensity = $window
               AND abs(dev_num) * $outlier_d >= $outlier_n * dev_den AS is_outlier,
           u.usable_total AND w.n_usable_total = $window
               AND u.line_shutdown_days > $drop_days AS is_long_shutdown
    FROM usable AS u JOIN window_sums AS w USING (line_id)
),
counted AS (
    SELECT *,
           count(*) FILTER (WHERE is_outlier) OVER (PARTITION BY line_id) AS n_outliers,
           count(*) FILTER (WHERE is_long_shutdown) OVER (PARTITION BY line_id) AS n_long_shutdowns
    FROM tests
),
years AS (  -- kept years and, for each year not kept, the rule that dropped it (a code)
    SELECT *,
           usable_intensity AND NOT (is_outlier AND n_outliers = 1) AS kept_intensity,
           usable_total AND NOT (is_long_shutdown AND n_long_shutdowns = 1) AS kept_total,
           CASE
               WHEN NOT has_record THEN 'no_record'
               WHEN before_first_full_year THEN 'before_first_full_year'
               WHEN before_reduction THEN 'before_reduction_project'
               WHEN before_major_change THEN 'before_major_change'
           END AS unusable
    FROM counted
),
why AS (  -- the code per method path, and the numbers its words cite (model.labels)
    SELECT *,
           coalesce(unusable, CASE
               WHEN q4 <= 0 THEN 'zero_output'
               WHEN is_outlier AND n_outliers = 1 THEN 'intensity_outlier' END) AS why_i,
           coalesce(unusable, CASE WHEN is_long_shutdown AND n_long_shutdowns = 1
               THEN 'long_shutdown' END) AS why_t,
           -- deviation of the year's intensity from the weighted mean in hundredths of a percent,
           -- truncated towards zero (only an outlier's reason cites it)
           CASE WHEN is_outlier AND dev_den > 0 THEN (CASE WHEN dev_num >= 0 THEN 1 ELSE -1 END)
               * fdiv(abs(dev_num) * 10000, dev_den) END AS deviation_bp,
           CASE unusable WHEN 'before_reduction_project' THEN reduction_project_on
                         WHEN 'before_major_change' THEN major_change_on END AS reason_date
    FROM years
),
per_line_years AS (  -- one ordered list of the base years per line (one sort, not one per output)
    SELECT line_id,
           any_value(n_usable_intensity) AS n_usable_intensity,
           any_value(n_usable_total) AS n_usable_total,
           any_value(n_outliers) AS n_outliers,
           any_value(n_long_shutdowns) AS n_long_shutdowns,
           list_sort(list({'year': year, 'usable_i': usable_intensity, 'kept_i': kept_intensity,
                 'usable_t': usable_total, 'kept_t': kept_total, 'outlier': is_outlier,
                 'long_shutdown': is_long_shutdown, 'why_i': why_i, 'why_t': why_t,
                 'first_full_year': CAST(first_full_year AS BIGINT), 'date': reason_date,
                 'deviation_bp': CAST(deviation_bp AS BIGINT),
                 'shutdown_days': CAST(line_shutdown_days AS BIGINT),
                 'restated': is_restated, 'grid_ef': grid_ef, 'grid_ef_y': grid_ef_y, 'mwh': mwh,
                 'restatement_t': CAST(CAST(restatement10 AS DECIMAL(38, 0))
                     * CAST(0.0000000001 AS DECIMAL(38, 10)) AS DECIMAL(38, 10))})) AS ys,  -- years are distinct
           sum(e10) FILTER (WHERE kept_intensity) AS sum_e10_i,
           sum(q4) FILTER (WHERE kept_intensity) AS sum_q4_i,
           sum(e10) FILTER (WHERE kept_total) AS sum_e10_t,
           sum(days) FILTER (WHERE kept_total) AS sum_days_t
    FROM why GROUP BY line_id
),
per_line AS (  -- year lists ([] when none)
    SELECT *,
           list_transform(ys, lambda y: y.year) AS all_years,
           list_transform(list_filter(ys, lambda y: y.usable_i), lambda y: y.year) AS usable_i,
           list_transform(list_filter(ys, lambda y: y.kept_i), lambda y: y.year) AS kept_i,
           list_transform(list_filter(ys, lambda y: NOT y.kept_i), lambda y: y.year) AS dropped_i,
           list_transform(list_filter(ys, lambda y: y.usable_t), lambda y: y.year) AS usable_t,
           list_transform(list_filter(ys, lambda y: y.kept_t), lambda y: y.year) AS kept_t,
           list_transform(list_filter(ys, lambda y: NOT y.kept_t), lambda y: y.year) AS dropped_t,
           list_transform(list_filter(ys, lambda y: y.outlier), lambda y: y.year) AS outlier_years,
           list_transform(list_filter(ys, lambda y: y.long_shutdown), lambda y: y.year) AS long_shutdown_years
    FROM per_line_years
),
decided AS (
    SELECT *,
           CASE
               WHEN $stopped_excluded AND (c.production_days_y = 0
                                           OR c.stopped_on <= make_date(CAST($year AS INTEGER), 1, 1)) THEN 'stopped'
               WHEN coalesce(n_shutdown_years, 0) >= $ent_min_years THEN 'enterprise_shutdown'
               WHEN list_contains($equal_activities, c.activity) THEN 'activity_equal'
               WHEN c.first_full_year IS NOT NULL AND greatest(0, $year - c.first_full_year) <
                    CASE WHEN list_contains($benchmark_activities, c.activity)
                         THEN $new_build_benchmark ELSE $new_build_other END THEN 'new_build'
               -- the methods the pack lists (line_methods); equal is always listed
               WHEN $benchmark_on AND list_contains($benchmark_activities, c.activity) THEN 'benchmark'
               WHEN $intensity_on AND c.intensity_eligible AND p.n_usable_intensity > 0 THEN 'intensity'
               WHEN $total_on AND p.n_usable_total > 0 AND coalesce(p.sum_days_t, 0) > 0 THEN
                   CASE WHEN $intensity_on AND c.intensity_eligible THEN 'fallback_intensity_to_total'
                        ELSE 'total' END
               WHEN NOT $intensity_on AND NOT $total_on THEN 'equal_by_pack'
               ELSE 'fallback_total_to_equal'
           END AS method_reason,
           CASE WHEN list_contains($benchmark_activities, c.activity)
                THEN $new_build_benchmark ELSE $new_build_other END AS new_build_years
    FROM cur AS c
    LEFT JOIN per_line AS p USING (line_id)  -- none when the pack has no base year
    LEFT JOIN shutdown AS s USING (enterprise_id)
),
chosen AS (
    SELECT d.*, r.method,
           CASE WHEN r.method = 'intensity' THEN 'intensity'
                WHEN r.method = 'total' OR d.method_reason = 'fallback_total_to_equal' THEN 'total'
           END AS path
    FROM decided AS d JOIN reasons_table AS r USING (method_reason)
),
dated AS (  -- §3.1 (v2): the base years the reduction-project and major-change dates make unusable
    SELECT *,
           list_filter($base_years, lambda y: make_date(CAST(y AS INTEGER), 1, 1) < reduction_project_on)
               AS rp_years,
           list_filter($base_years, lambda y: make_date(CAST(y AS INTEGER), 1, 1) < major_change_on)
               AS mc_years
    FROM chosen
)
SELECT
    CAST($year AS BIGINT) AS compliance_year, enterprise_id, line_id, activity, method, method_reason,
    CASE method
        -- I = round_half_up(ΣE / ΣQ, d) = ΣE·10^10 / (ΣQ·10^4 · 10^(6−d)), in units of 10^−d
        WHEN 'intensity' THEN d4(rhu(sum_e10_i, sum_q4_i * $i_div) * $bl_mul)
        -- D = round_half_up(ΣE / Σdays, d) = ΣE·10^10 / (Σdays · 10^(10−d)), in units of 10^−d
        WHEN 'total' THEN d4(rhu(sum_e10_t, sum_days_t * $t_div) * $bl_mul)
    END AS baseline,
    CAST(CASE method WHEN 'intensity' THEN coalesce(kept_i, []) WHEN 'total' THEN coalesce(kept_t, [])
        ELSE [] END AS INTEGER[]) AS kept_years,
    CAST(CASE WHEN method = 'intensity' THEN coalesce(dropped_i, [])
        WHEN method = 'total' THEN coalesce(dropped_t, [])
        WHEN path = 'total' THEN all_years ELSE [] END AS INTEGER[]) AS dropped_years,
    CAST(CASE path WHEN 'intensity' THEN coalesce(usable_i, []) WHEN 'total' THEN coalesce(usable_t, [])
        ELSE [] END AS INTEGER[]) AS usable_years,
    -- the base years' notes as codes and numbers (words: model.labels.base_year_texts); empty
    -- when the line's method uses no base year
    CASE WHEN path IS NOT NULL THEN coalesce(list_filter(list_transform(ys, lambda y: {
        'year': y.year, 'reason': CASE path WHEN 'intensity' THEN y.why_i ELSE y.why_t END,
        'first_full_year': y.first_full_year, 'date': y.date, 'deviation_bp': y.deviation_bp,
        'shutdown_days': y.shutdown_days}), lambda r: r.reason IS NOT NULL), []) ELSE [] END AS dropped_reasons,
    CASE WHEN path = 'intensity' AND n_outliers >= 2 THEN 'all_outliers'
         WHEN path = 'total' AND n_long_shutdowns >= 2 THEN 'all_long_shutdowns'
         WHEN method_reason = 'fallback_total_to_equal' AND n_usable_total > 0 THEN 'no_production_day'
    END AS base_year_note,
    CAST(CASE WHEN path = 'intensity' AND n_outliers >= 2 THEN outlier_years
              WHEN path = 'total' AND n_long_shutdowns >= 2 THEN long_shutdown_years
              ELSE [] END AS INTEGER[]) AS note_years,
    CASE WHEN path IS NOT NULL THEN coalesce(list_transform(list_filter(ys, lambda y: y.restated),
        lambda y: {'year': y.year, 'grid_ef': y.grid_ef, 'grid_ef_y': y.grid_ef_y, 'mwh': y.mwh,
                   'restatement_t': y.restatement_t}), []) ELSE [] END AS restatements,
    -- §3.1 (v2): the line's dates, whether their window holds them, the base years they hit
    CASE WHEN path IS NOT NULL THEN reduction_project_on END AS reduction_project_on,
    reduction_in_window, CAST(rp_years AS INTEGER[]) AS reduction_project_years,
    CASE WHEN path IS NOT NULL THEN major_change_on END AS major_change_on,
    major_change_in_window, CAST(mc_years AS INTEGER[]) AS major_change_years,
    CASE WHEN path = 'total' AND n_long_shutdowns >= 2 THEN 'multiple_long_shutdowns' ELSE '' END
        AS flags,
    output_y, production_days_y, co2_y_t, non_co2_y_t, intensity_eligible, commissioned_on,
    CAST(first_full_year AS BIGINT) AS first_full_year, CAST(new_build_years AS BIGINT) AS new_build_years,
    stopped_on, CAST(coalesce(n_shutdown_years, 0) AS BIGINT) AS enterprise_shutdown_years
FROM dated
ORDER BY line_id
"""


def baseline_params(policy: Policy) -> dict:
    """The rule-pack values the baseline SQL uses, as exact integers, lists and texts."""
    base_years = [int(y) for y in policy.base_years.value]
    bd = policy.baseline_decimals.value
    if not 0 <= bd <= 4:
        raise ValueError(f"rule pack {policy.source_path}: baseline_decimals = {bd}; 0 … 4 supported")
    share_n, share_d = ratio(policy.intensity_outlier_share.value)
    rp_first, rp_last = policy.reduction_project_window.value
    if rp_first > rp_last:
        raise ValueError(
            f"rule pack {policy.source_path}: reduction_project_window {rp_first, rp_last} is not a range"
        )
    return {
        "year": policy.year,
        "base_years": base_years,
        "window": len(base_years),
        "ent_days": policy.equal_enterprise_shutdown_days.value,
        "ent_min_years": policy.equal_enterprise_min_years.value,
        "equal_activities": list(policy.equal_activities.value),
        "benchmark_activities": sorted(policy.benchmarks.value),
        "new_build_benchmark": policy.new_build_full_years_benchmark.value,
        "new_build_other": policy.new_build_full_years_other.value,
        "stopped_excluded": policy.stopped_lines_excluded.value,
        "benchmark_on": "benchmark" in policy.line_methods.value,
        "intensity_on": "intensity" in policy.line_methods.value,
        "total_on": "total" in policy.line_methods.value,
        "outlier_n": share_n,
        "outlier_d": share_d,
        "rp_first": rp_first,
        "rp_last": rp_last,
        "base_first": min(base_years, default=0),
        "base_last": max(base_years, default=0),
        "drop_days": policy.total_drop_shutdown_days.value,
        "i_div": 10 ** (6 - bd),
        "t_div": 10 ** (10 - bd),
        "bl_mul": 10 ** (4 - bd),
    }


def compute_baselines(core: CoreFrames, policy: Policy) -> pl.DataFrame:
    """Method, kept/dropped base years and baseline of every line to allocate in `policy.year`.

    One row per line of an enterprise listed for Y that has a line-year record for Y, sorted by
    line_id. `baseline` is I (intensity) or D (total, per production day), Decimal(18,4), null for
    the other methods. What the base years' rules did is given as codes and the numbers that fired,
    never as words (those are `model.labels.base_year_texts`): `dropped_reasons` (per base year not
    kept: the year, the reason code and its figures), `base_year_note` and `note_years` (the rule
    that kept every year), `restatements` (per restated year: the grid factors, MWh, tonnes) and the
    §3.1 dates with their windows' verdicts. The columns after `flags` carry the Y record (Q_Y, N_Y,
    CO2, non-CO2) and the facts the explanation cites.
    """
    con = exact_connection()
    try:
        register(
            con,
            lines=core.lines,
            line_years=core.line_years,
            enterprise_years=core.enterprise_years,
            listed=listed_enterprise_ids(core.enterprises, policy.year),
            reasons_table=reasons_frame(policy).select("method_reason", "method"),
        )
        return run(con, BASELINES_SQL, baseline_params(policy))
    finally:
        con.close()
