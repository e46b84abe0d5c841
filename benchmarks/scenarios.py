"""Scenario sweeps end to end (`etsflow scenario run`, a fresh process each), medians of
interleaved runs, results checked identical across task runners.

    .venv/bin/python benchmarks/scenarios.py                      # 1,000 scenarios of the sample's 2022
    .venv/bin/python benchmarks/scenarios.py --repeat 5 --modes 0,1,2
    .venv/bin/python benchmarks/scenarios.py --big 100000         # also one scenario on 100,000 enterprises

Modes are `--workers` values: 0 = this process (Prefect's thread pool), 1 and 2 = a local Dask
cluster of that many worker processes (spawned, one thread each; started per run, its start-up
included). The sweep is `k_intensity=0.900:0.999:0.001 × gap_exemption_share=0.10:0.19:0.01`
(100 × 10 = 1,000 scenarios). Setup (untimed): `etsflow run --year 2022` of the sample into a
temporary warehouse. Prints one markdown table; the machine is usually shared: rerun before
drawing conclusions.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ETSFLOW = str(REPO / ".venv" / "bin" / "etsflow")
SWEEP = ["--sweep", "k_intensity=0.900:0.999:0.001", "--sweep", "gap_exemption_share=0.10:0.19:0.01"]
COLS = "* EXCLUDE (scenario_id, scenario_name)"


def etsflow(*args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run([ETSFLOW, *args], capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"etsflow {' '.join(args)} failed ({r.returncode}): {r.stderr or r.stdout}")
    return took, r.stdout


def phase(output: str, name: str) -> float | None:
    m = re.search(rf"{name} ([0-9.]+) s", output)
    return float(m.group(1)) if m else None


def identical(wh: Path, names: list[str]) -> bool:
    """Every scenario.* row of the named runs equal, but for the scenario's name."""
    import duckdb

    con = duckdb.connect(str(wh), read_only=True)
    try:
        for t in ("allocation_enterprise", "summary", "delta_enterprise"):
            frames = [
                con.sql(
                    f"SELECT {COLS} FROM scenario.{t} WHERE scenario_name = ? ORDER BY ALL", params=[n]
                ).pl()
                for n in names
            ]
            if not frames[0].height or any(not f.equals(frames[0]) for f in frames[1:]):
                return False
        return True
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--modes", default="0,1,2", help="--workers values, comma-separated")
    ap.add_argument(
        "--big", type=int, default=0, help="also one scenario on an inbox of this many enterprises"
    )
    a = ap.parse_args(argv)
    modes = [int(m) for m in a.modes.split(",")]
    with tempfile.TemporaryDirectory(prefix="etsflow-scenarios-") as tmp:
        wh = Path(tmp) / "warehouse.duckdb"
        os.environ.setdefault("ETSFLOW_VAR", str(REPO / "var"))
        etsflow("run", "--year", "2022", "--inbox", str(REPO / "data" / "sample"), "--warehouse", str(wh),
                "--as-of", "2024-04-01")  # fmt: skip
        times: dict[int, list[tuple[float, float | None]]] = {m: [] for m in modes}
        for _ in range(a.repeat):  # interleaved: each round runs every mode once
            for m in modes:
                took, out = etsflow(
                    "scenario", "run", f"bench-{m}", "--year", "2022", "--warehouse", str(wh), "--workers", str(m),
                    *SWEEP,
                )  # fmt: skip
                times[m].append((took, phase(out, "allocations")))
        same = identical(wh, [f"bench-{m}" for m in modes])
        print(f"1,000 scenarios of the sample's 2022 (308 enterprises), {a.repeat} interleaved runs, medians")
        print("results identical across modes:", same)
        print()
        print("| task runner | end to end s (median) | runs | allocations phase s (median) |")
        print("|---|---|---|---|")
        for m in modes:
            label = "this process (--workers 0)" if m == 0 else f"local Dask cluster, {m} worker(s)"
            walls = [t for t, _ in times[m]]
            alloc = [p for _, p in times[m] if p is not None]
            print(
                f"| {label} | {statistics.median(walls):.1f} | {', '.join(f'{w:.1f}' for w in walls)} "
                f"| {statistics.median(alloc):.1f} |"
            )
        if a.big:
            sys.path.insert(0, str(REPO))
            from benchmarks.make_inbox import make_inbox

            inbox = Path(tmp) / f"inbox-{a.big}"
            make_inbox(a.big, inbox, "parquet")
            big = Path(tmp) / "big.duckdb"
            t_run, _ = etsflow("run", "--year", "2022", "--inbox", str(inbox), "--warehouse", str(big),
                               "--as-of", "2024-04-01")  # fmt: skip
            took, out = etsflow("scenario", "run", "one", "--year", "2022", "--warehouse", str(big),
                                "--workers", "0", "--set", "k_intensity=0.93")  # fmt: skip
            print()
            print(f"one scenario on {a.big:,} enterprises: {took:.1f} s end to end "
                  f"(inputs {phase(out, 'inputs')} s, allocations {phase(out, 'allocations')} s); "
                  f"the official run before it: {t_run:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
