"""The line methods: a registry of small named rules a rule pack lists (`line_methods`).

A line method is the rule that turns a line's facts of the compliance year into its CO2
allocation. Each entry names the rule-pack parameters it needs (a pack that lists the method must
give them; `policies.load_policy` refuses it otherwise, naming the method) and its formula in the
exact scaled-integer SQL of `transforms/allocate.py` (quantities × 10^4 as HUGEINT, `rhu` the only
division, `$f` the rounding step of `line_allocation_decimals`). Which method a line gets is the
method choice of rules.md §2 (`transforms/baselines.py`); its words are in `model/labels.py`.

To add a method: an entry here, its choice in `transforms/baselines.py`, its words in
`model/labels.py` (METHODS, REASONS), its code in `model/catalog.py` (METHODS).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LineMethod:
    needs: tuple[str, ...]  # rule-pack parameters the method reads
    co2_sql: str  # CO2 allocation in units of 10^-4 t, rounded half-up to 10^-d


_HISTORICAL = ("base_years", "baseline_decimals", "reduction_project_window")
LINE_METHODS: dict[str, LineMethod] = {
    # BM × Q_Y × c (c = benchmark_correction, 1 unless the pack corrects the benchmark)
    "benchmark": LineMethod(
        ("benchmarks", "line_allocation_decimals"), "rhu(bm_n * q4 * $bc_n, bm_d * $bc_d * $f) * $f"
    ),
    # I × Q_Y × k
    "intensity": LineMethod(
        (*_HISTORICAL, "intensity_outlier_share", "k_intensity", "line_allocation_decimals"),
        "rhu(baseline4 * q4 * $ki_n, $ki_d * 10000 * $f) * $f",
    ),
    # D × N_Y × k
    "total": LineMethod(
        (*_HISTORICAL, "total_drop_shutdown_days", "k_total", "line_allocation_decimals"),
        "rhu(baseline4 * production_days_y * $kt_n, $kt_d * $f) * $f",
    ),
    # E (CO2) of Y — also the fallback of every other method (rules.md §2.8): every pack lists it
    "equal": LineMethod(("line_allocation_decimals",), "rhu(co2_4, $f) * $f"),
}
