"""The 2022 allocation as a plain-Python script: the standard library's `csv` and `Decimal`,
dictionaries and loops, nothing else — the "a regulator's analyst writes a script" baseline that
`benchmarks/run.py` compares the pipeline against on the CSV form of the scale inbox (issue #16:
the pipeline must be at least 2× faster at 100,000 enterprises).

It shares no code with the engine nor with `benchmarks/pandas_reference.py`: rules.md §2 (method
of each line), §3 (electricity restatement; reduction project and major change, each counted only
inside its window — v2; new-line usable years; the ±20 % intensity outlier; the > 183-day line
shutdown drop; baselines rounded half-up to 4 places), §3.4 and §4 for 2022 (line allocations
rounded half-up to 4 places, A_raw, gap exemption, A_final in whole tonnes). Parameters come from
`policies/chongqing/2022.toml` read with `tomllib`. Input: the `csv` form of
`benchmarks/make_inbox.py` (a clean inbox: validation is the engine's job, not the script's).

    .venv/bin/python benchmarks/make_inbox.py 10000 --form csv --out /tmp/inbox-csv
    .venv/bin/python benchmarks/plain_reference.py /tmp/inbox-csv     # prints a summary
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import sys
import time
import tomllib
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

PACK = Path(__file__).resolve().parents[1] / "policies" / "chongqing" / "2022.toml"
YEAR = 2022
# 80 digits: every product is exact, and a quotient that is not a terminating decimal cannot sit
# on a half-up boundary, so rounding its 80-digit value rounds the exact one
CONTEXT = decimal.Context(prec=80)


def pack(path: Path = PACK) -> dict:
    """{parameter: value}; strings that are numbers become Decimal."""

    def conv(v):
        if isinstance(v, str):
            try:
                return Decimal(v)
            except decimal.InvalidOperation:
                return v
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return {k: conv(e["value"]) for k, e in raw.items() if isinstance(e, dict) and "value" in e}


def half_up(x: Decimal, places: int) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=CONTEXT)


def rows(path: Path):
    with path.open(newline="", encoding="utf-8-sig") as f:
        yield from csv.DictReader(f)


def dec(v: str) -> Decimal | None:
    return Decimal(v) if v else None


def day(v: str) -> dt.date | None:
    return dt.date.fromisoformat(v) if v else None


def window(p: dict, key: str) -> tuple[dt.date, dt.date] | None:
    """First and last day of a window of years given by the pack (`[first, last]` or the years)."""
    years = p.get(key)
    if not years:
        return None
    return dt.date(min(years), 1, 1), dt.date(max(years), 12, 31)


def allocate(inbox: Path, p: dict | None = None) -> dict[str, dict]:
    """{enterprise_id: {verified_emissions_t, allocation_raw_t, allocation_final_t}} of 2022."""
    with decimal.localcontext(CONTEXT):
        return _allocate(Path(inbox), p or pack())


def _allocate(inbox: Path, p: dict) -> dict[str, dict]:
    base_years = list(p["base_years"])
    wanted = {YEAR, *base_years}

    listed = {
        r["enterprise_id"]
        for r in rows(inbox / "enterprises.csv")
        if str(YEAR) in r["listed_years"].split(",")
    }
    lines = {r["line_id"]: r for r in rows(inbox / "lines.csv") if r["enterprise_id"] in listed}
    records: dict[str, dict[int, dict]] = defaultdict(dict)
    for path in sorted((inbox / "reports").glob("*/line_years.csv")):
        for r in rows(path):
            y = int(r["year"])
            if y in wanted and r["line_id"] in lines:
                records[r["line_id"]][y] = r
    shutdown_years: dict[str, int] = defaultdict(int)
    for path in sorted((inbox / "reports").glob("*/enterprise_years.csv")):
        for r in rows(path):
            if (
                int(r["year"]) in base_years
                and int(r["shutdown_days"]) >= p["equal_enterprise_shutdown_days"]
            ):
                shutdown_years[r["enterprise_id"]] += 1

    reduction_window = window(p, "reduction_project_window")
    change_window = (dt.date(min(base_years), 1, 1), dt.date(max(base_years), 12, 31))
    out: dict[str, dict] = {}
    for line_id, by_year in records.items():
        if YEAR not in by_year:
            continue
        line = lines[line_id]
        a, e = line_allocation(
            line,
            by_year,
            base_years,
            shutdown_years[line["enterprise_id"]],
            p,
            reduction_window,
            change_window,
        )
        ent = out.setdefault(line["enterprise_id"], {"a": Decimal(0), "e": Decimal(0)})
        ent["a"] += a
        ent["e"] += e

    result = {}
    for eid, v in sorted(out.items()):
        a_raw, e = v["a"], v["e"]
        a_adj = a_raw
        if p["gap_exemption_enabled"]:
            a_adj = max(a_raw, (1 - p["gap_exemption_share"]) * e, e - p["gap_exemption_max_t"])
        result[eid] = {
            "verified_emissions_t": e,
            "allocation_raw_t": a_raw,
            "allocation_final_t": int(half_up(a_adj, 0)),
        }
    return result


def line_allocation(line, by_year, base_years, shutdown_years, p, reduction_window, change_window):
    """(allocation, emissions) of one line in 2022."""
    cur = by_year[YEAR]
    commissioned = day(line["commissioned_on"])
    first_full = None
    if commissioned is not None:
        first_full = (
            commissioned.year if (commissioned.month, commissioned.day) == (1, 1) else commissioned.year + 1
        )
    cut = None  # base years starting before this date are unusable (§3.1)
    for key, win in (("reduction_project_on", reduction_window), ("major_change_on", change_window)):
        d = day(line.get(key, ""))
        if d is not None and win is not None and win[0] <= d <= win[1]:
            cut = d if cut is None else max(cut, d)
    ef_now = dec(cur["grid_ef_t_per_mwh"])

    usable = []  # (e, q, days, shutdown) of usable base years
    for y in base_years:
        r = by_year.get(y)
        if (
            r is None
            or (first_full is not None and y < first_full)
            or (cut is not None and dt.date(y, 1, 1) < cut)
        ):
            continue
        e = Decimal(r["verified_co2_t"])
        mwh, ef = dec(r["purchased_electricity_mwh"]), dec(r["grid_ef_t_per_mwh"])
        if mwh is not None and ef is not None and ef_now is not None and ef != ef_now:
            e += mwh * (ef_now - ef)
        days_in_year = 366 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 365
        days = int(r["production_days"])
        usable.append((e, Decimal(r["output"]), days, days_in_year - days))

    with_output = [u for u in usable if u[1] > 0]
    kept_i = with_output
    if len(with_output) == len(base_years):
        se, sq = sum(u[0] for u in with_output), sum(u[1] for u in with_output)
        share = p["intensity_outlier_share"]
        out = [u for u in with_output if abs(u[0] * sq - se * u[1]) >= share * se * u[1]]
        if len(out) == 1:
            kept_i = [u for u in with_output if u is not out[0]]
    kept_t = usable
    if len(usable) == len(base_years):
        long = [u for u in usable if u[3] > p["total_drop_shutdown_days"]]
        if len(long) == 1:
            kept_t = [u for u in usable if u is not long[0]]
    days_t = sum(u[2] for u in kept_t)

    activity = line["activity"]
    benchmark = activity in p["benchmarks"]
    limit = p["new_build_full_years_benchmark"] if benchmark else p["new_build_full_years_other"]
    full_years = None if first_full is None else max(0, YEAR - first_full)
    if shutdown_years >= p["equal_enterprise_min_years"] or activity in p["equal_activities"]:
        method = "equal"
    elif full_years is not None and full_years < limit:
        method = "equal"
    elif benchmark:
        method = "benchmark"
    elif line["intensity_eligible"] == "true" and with_output:
        method = "intensity"
    elif usable and days_t > 0:
        method = "total"
    else:
        method = "equal"

    co2_now = Decimal(cur["verified_co2_t"])
    non_co2 = Decimal(cur["verified_non_co2_t"] or 0)
    places, bd = p["line_allocation_decimals"], p["baseline_decimals"]
    if method == "benchmark":
        co2 = p["benchmarks"][activity] * Decimal(cur["output"])
    elif method == "intensity":
        i = half_up(sum(u[0] for u in kept_i) / sum(u[1] for u in kept_i), bd)
        co2 = i * Decimal(cur["output"]) * p["k_intensity"]
    elif method == "total":
        d = half_up(sum(u[0] for u in kept_t) / days_t, bd)
        co2 = d * int(cur["production_days"]) * p["k_total"]
    else:
        co2 = co2_now
    return half_up(co2, places) + half_up(non_co2, places), co2_now + non_co2


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: plain_reference.py INBOX", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    out = allocate(Path(argv[0]))
    t1 = time.perf_counter()
    total = sum(v["allocation_final_t"] for v in out.values())
    print(
        f"{argv[0]}: {len(out):,} enterprises, Σ A_final {total:,} t — read and allocated in {t1 - t0:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
