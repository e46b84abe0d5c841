"""The 2022 allocation written the way an analyst would write it in pandas: read the inbox,
merge, and `groupby(...).apply(...)` one Python function per line and per enterprise, with exact
`Decimal` arithmetic (rules.md §8) — the baseline the engine is compared against in
`benchmarks/run.py`, and a second, independent implementation of the rules that
`tests/test_benchmark_reference.py` checks against the engine.

It implements rules.md §2 (method of each line: enterprise shutdown, equal activities, new builds,
benchmark, intensity, total, fallbacks), §3 (electricity restatement, reduction project / major
change (each only inside its window, v2) / new-line usable years, the ±20 % intensity outlier, the > 183-day line shutdown drop,
baselines rounded half-up to 4 places), §3.4 and §4 for 2022 (line allocations rounded half-up to
4 places, A_raw, gap exemption max(A_raw, 0.8·E, E − 200,000), A_final in whole tonnes). The
numbers come from the rule pack `policies/chongqing/2022.toml`, read here with `tomllib`; none of
the engine's code is used. It reads a clean inbox in the `parquet` or `csv` form of
`benchmarks/make_inbox.py` (no validation: that is the engine's job).

    .venv/bin/python benchmarks/make_inbox.py 10000 --out /tmp/inbox-10000
    .venv/bin/python benchmarks/pandas_reference.py /tmp/inbox-10000   # prints a summary
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import sys
import time
import tomllib
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PACK = REPO / "policies" / "chongqing" / "2022.toml"
YEAR = 2022


def rule_pack(path: Path = PACK) -> dict:
    """{parameter: value} of a rule pack, decimals as Decimal."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    out = {}
    for key, entry in raw.items():
        if key == "pack" or not isinstance(entry, dict) or "value" not in entry:
            continue
        v = entry["value"]
        if isinstance(v, str):
            try:
                v = Decimal(v)
            except ArithmeticError:
                pass
        elif isinstance(v, dict):
            v = {k: Decimal(x) if isinstance(x, str) else x for k, x in v.items()}
        out[key] = v
    return out


def round_half_up(x: Decimal | Fraction, places: int) -> Decimal:
    """四舍五入 of an exact number (a Fraction for quotients) to `places` decimals."""
    scaled = Fraction(x) * 10**places
    return Decimal(math.floor(scaled + Fraction(1, 2))).scaleb(-places)


def read_inbox(inbox: Path) -> dict[str, pd.DataFrame]:
    """The four tables the allocation needs, as pandas frames (decimals as Decimal objects), from
    the `parquet` or `csv` form of `benchmarks/make_inbox.py`."""
    inbox = Path(inbox)
    form = "parquet" if (inbox / "enterprises.parquet").exists() else "csv"

    def read(path: Path) -> pd.DataFrame:
        if form == "parquet":
            return pd.read_parquet(path)
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in df.columns:
            if col in DECIMAL_COLUMNS:
                df[col] = [Decimal(v) if v else None for v in df[col]]
            elif col in INT_COLUMNS:
                df[col] = df[col].astype(int)
            elif col in DATE_COLUMNS:
                df[col] = [dt.date.fromisoformat(v) if v else None for v in df[col]]
            elif col == "intensity_eligible":
                df[col] = df[col].map({"true": True, "false": False, "": None})
        return df

    return {
        "enterprises": read(inbox / f"enterprises.{form}"),
        "lines": read(inbox / f"lines.{form}"),
        "line_years": pd.concat(
            [read(p) for p in sorted((inbox / "reports").glob(f"*/line_years.{form}"))], ignore_index=True
        ),
        "enterprise_years": pd.concat(
            [read(p) for p in sorted((inbox / "reports").glob(f"*/enterprise_years.{form}"))],
            ignore_index=True,
        ),
    }


DECIMAL_COLUMNS = {
    "verified_co2_t", "verified_non_co2_t", "output", "purchased_electricity_mwh", "grid_ef_t_per_mwh",
    "verified_total_t",
}  # fmt: skip
INT_COLUMNS = {"year", "production_days", "shutdown_days"}
DATE_COLUMNS = {"commissioned_on", "reduction_project_on", "major_change_on", "stopped_on"}


def _date(v) -> dt.date | None:
    if v is None or (not isinstance(v, dt.date) and pd.isna(v)):
        return None
    return v.date() if isinstance(v, dt.datetime) else v


def _dec(v) -> Decimal | None:
    return None if v is None or (not isinstance(v, Decimal) and pd.isna(v)) else Decimal(v)


def line_allocation(rows: pd.DataFrame, p: dict) -> pd.Series:
    """One line: method, baseline and allocation (CO2 and non-CO2) from its line-year rows."""
    with decimal.localcontext(prec=80):  # products of decimals stay exact
        return _line_allocation(rows, p)


def _line_allocation(rows: pd.DataFrame, p: dict) -> pd.Series:
    base_years = list(p["base_years"])
    first = rows.iloc[0]
    activity = first["activity"]
    by_year = {int(r["year"]): r for _, r in rows.iterrows()}
    cur = by_year[YEAR]
    commissioned = _date(first["commissioned_on"])
    first_full_year = None
    if commissioned is not None:
        jan1 = commissioned.month == 1 and commissioned.day == 1
        first_full_year = commissioned.year if jan1 else commissioned.year + 1
    reduction, change = _date(first["reduction_project_on"]), _date(first["major_change_on"])
    # v2: a reduction project counts only inside the pack's window, a major change only inside the
    # base years (rules.md §3.1); outside, it makes no base year unusable
    r_first, r_last = p["reduction_project_window"][0], p["reduction_project_window"][-1]
    if reduction is not None and not dt.date(r_first, 1, 1) <= reduction <= dt.date(r_last, 12, 31):
        reduction = None
    if change is not None and not dt.date(base_years[0], 1, 1) <= change <= dt.date(base_years[-1], 12, 31):
        change = None
    ef_now = _dec(cur["grid_ef_t_per_mwh"])

    # §3.1 usable base years, CO2 restated for the grid factor of Y
    years = []
    for y in base_years:
        r = by_year.get(y)
        usable = (
            r is not None
            and not (first_full_year is not None and y < first_full_year)
            and not (reduction is not None and dt.date(y, 1, 1) < reduction)
            and not (change is not None and dt.date(y, 1, 1) < change)
        )
        if r is None:
            years.append({"year": y, "usable": False})
            continue
        e = Decimal(r["verified_co2_t"])
        mwh, ef = _dec(r["purchased_electricity_mwh"]), _dec(r["grid_ef_t_per_mwh"])
        if mwh is not None and ef is not None and ef_now is not None and ef != ef_now:
            e += mwh * (ef_now - ef)
        days_in_year = 366 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 365
        years.append(
            {
                "year": y,
                "usable": usable,
                "e": e,
                "q": Decimal(r["output"]),
                "days": int(r["production_days"]),
                "shutdown": days_in_year - int(r["production_days"]),
            }
        )

    # §3.2 intensity: output-weighted mean, one ±20 % outlier dropped when all three years are usable
    ui = [y for y in years if y["usable"] and y["q"] > 0]
    kept_i = ui
    if len(ui) == len(base_years) and ui:
        sum_e, sum_q = sum(y["e"] for y in ui), sum(y["q"] for y in ui)
        # |E_y/Q_y − Ī| ≥ s·Ī with Ī = ΣE/ΣQ, multiplied out by Q_y·ΣQ > 0 (no division)
        outliers = [
            y
            for y in ui
            if abs(y["e"] * sum_q - sum_e * y["q"]) >= p["intensity_outlier_share"] * sum_e * y["q"]
        ]
        if len(outliers) == 1:
            kept_i = [y for y in ui if y is not outliers[0]]
    # §3.3 total: one year with more than 183 line shutdown days dropped when all three are usable
    ut = [y for y in years if y["usable"]]
    kept_t = ut
    if len(ut) == len(base_years):
        long = [y for y in ut if y["shutdown"] > p["total_drop_shutdown_days"]]
        if len(long) == 1:
            kept_t = [y for y in ut if y is not long[0]]

    # §2 method, first rule that fires
    q_now, n_now = Decimal(cur["output"]), int(cur["production_days"])
    co2_now, non_co2_now = Decimal(cur["verified_co2_t"]), Decimal(cur["verified_non_co2_t"] or 0)
    benchmark = activity in p["benchmarks"]
    full_years = None if first_full_year is None else max(0, YEAR - first_full_year)
    new_build_limit = p["new_build_full_years_benchmark"] if benchmark else p["new_build_full_years_other"]
    days_t = sum(y["days"] for y in kept_t)
    if first["enterprise_shutdown_years"] >= p["equal_enterprise_min_years"]:
        method = "equal"
    elif activity in p["equal_activities"]:
        method = "equal"
    elif full_years is not None and full_years < new_build_limit:
        method = "equal"
    elif benchmark:
        method = "benchmark"
    elif bool(first["intensity_eligible"]) and ui:
        method = "intensity"
    elif ut and days_t > 0:
        method = "total"
    else:
        method = "equal"

    places = p["line_allocation_decimals"]
    if method == "benchmark":
        co2 = p["benchmarks"][activity] * q_now
    elif method == "intensity":
        ratio = Fraction(sum(y["e"] for y in kept_i)) / Fraction(sum(y["q"] for y in kept_i))
        baseline = round_half_up(ratio, p["baseline_decimals"])
        co2 = baseline * q_now * p["k_intensity"]
    elif method == "total":
        baseline = round_half_up(Fraction(sum(y["e"] for y in kept_t)) / days_t, p["baseline_decimals"])
        co2 = baseline * n_now * p["k_total"]
    else:
        co2 = co2_now
    co2 = round_half_up(co2, places)
    non_co2 = round_half_up(non_co2_now, places)
    return pd.Series(
        {
            "enterprise_id": first["enterprise_id"],
            "method": method,
            "allocation_t": co2 + non_co2,
            "emissions_t": co2_now + non_co2_now,
        }
    )


def enterprise_allocation(lines: pd.DataFrame, p: dict) -> pd.Series:
    """One enterprise: A_raw, E, the 2022 gap exemption and A_final in whole tonnes (§4)."""
    with decimal.localcontext(prec=80):
        return _enterprise_allocation(lines, p)


def _enterprise_allocation(lines: pd.DataFrame, p: dict) -> pd.Series:
    a_raw = sum(lines["allocation_t"], Decimal(0))
    e = sum(lines["emissions_t"], Decimal(0))
    a_adj = a_raw
    if p["gap_exemption_enabled"]:
        a_adj = max(a_raw, (1 - p["gap_exemption_share"]) * e, e - p["gap_exemption_max_t"])
    return pd.Series(
        {
            "verified_emissions_t": e,
            "allocation_raw_t": a_raw,
            "allocation_final_t": int(round_half_up(a_adj, 0)),
        }
    )


def allocate_2022(tables: dict[str, pd.DataFrame], p: dict | None = None) -> pd.DataFrame:
    """enterprise_id, verified_emissions_t, allocation_raw_t, allocation_final_t (sorted by id)."""
    p = p or rule_pack()
    ent, lines, ly, ey = (tables[k] for k in ("enterprises", "lines", "line_years", "enterprise_years"))
    listed = ent[ent["listed_years"].fillna("").map(lambda s: str(YEAR) in [x.strip() for x in s.split(",")])]
    ly = ly.copy()
    ly["verified_non_co2_t"] = ly["verified_non_co2_t"].map(lambda v: Decimal(0) if _dec(v) is None else v)
    # lines of a listed enterprise with a record for the compliance year
    current = ly[ly["year"] == YEAR][["line_id"]]
    cur_lines = lines[lines["enterprise_id"].isin(listed["enterprise_id"])].merge(current, on="line_id")
    cur_lines["intensity_eligible"] = cur_lines["intensity_eligible"].fillna(False)
    # §2.2: base years in which the enterprise was shut down at least 183 days
    in_window = ey[
        ey["year"].isin(p["base_years"]) & (ey["shutdown_days"] >= p["equal_enterprise_shutdown_days"])
    ]
    shutdown = in_window.groupby("enterprise_id").size().rename("enterprise_shutdown_years").reset_index()
    cur_lines = cur_lines.merge(shutdown, on="enterprise_id", how="left")
    cur_lines["enterprise_shutdown_years"] = cur_lines["enterprise_shutdown_years"].fillna(0).astype(int)
    records = ly[ly["year"].isin([YEAR, *p["base_years"]])].drop(columns=["enterprise_id"])
    rows = cur_lines.merge(records, on="line_id")
    per_line = rows.groupby("line_id", sort=True).apply(line_allocation, p, include_groups=False)
    per_ent = per_line.groupby("enterprise_id", sort=True).apply(
        enterprise_allocation, p, include_groups=False
    )
    return per_ent.reset_index()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: pandas_reference.py INBOX", file=sys.stderr)
        return 2
    inbox = Path(argv[0])
    t0 = time.perf_counter()
    tables = read_inbox(inbox)
    t1 = time.perf_counter()
    out = allocate_2022(tables)
    t2 = time.perf_counter()
    print(
        f"{inbox}: {len(out):,} enterprises, Σ A_final {out['allocation_final_t'].sum():,} t — "
        f"read {t1 - t0:.2f} s, allocate {t2 - t1:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
