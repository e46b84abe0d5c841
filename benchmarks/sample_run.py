"""Sample-size benchmark: the 308-enterprise sample year (data/sample: xlsx and CSV) as a user runs it.

    .venv/bin/python benchmarks/sample_run.py                          # this checkout, 5 rounds
    .venv/bin/python benchmarks/sample_run.py --baseline /tmp/base     # interleaved with another checkout

Each round, for each checkout (interleaved: A, B, A, B, ...), in fresh processes with the local
shared Prefect server already up (a warm-up run starts it):

- **first run**: `etsflow run --year 2022 --inbox data/sample --as-of 2024-04-01` on a new warehouse;
- **rerun**: the same command again, nothing changed (every stage skipped);
- **few changed**: one enterprise's verified emissions changed in a copy of the inbox, run again
  (the files for people then rewrite only what changed).

It prints wall time, the stages (`audit.stage_run`), serve and files-for-people times from the
run's summary (`--json`), and start-up (wall − Σ stages − serve − files). Medians. No assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
WORK = REPO / "var" / "bench-sample"
STAGES = ("ingest", "validate", "baselines", "allocate", "clearance", "publish")


def _env(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    return env | {"ETSFLOW_VAR": str(WORK / "var"), "PYTHONPATH": str(checkout), "PYTHONHASHSEED": "0"}


def _run(checkout: Path, inbox: Path, warehouse: Path) -> dict:
    cmd = [str(PYTHON), "-c", "from etsflow.cli import main; main()", "run", "--year", "2022",
           "--inbox", str(inbox), "--warehouse", str(warehouse), "--as-of", "2024-04-01"]  # fmt: skip
    started = datetime.now(UTC).replace(tzinfo=None)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=checkout, env=_env(checkout), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"{checkout}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    run_id, stages = _stages(warehouse)
    times = _log_times(warehouse.parent / "logs" / f"{run_id}.log")
    first, served, files = times.get("run"), times.get("served"), times.get("files")
    return {
        "wall": wall,
        "stages": stages,
        "sum": sum(stages.values()),
        "startup": (first - started).total_seconds() if first else None,
        "files": (files - served).total_seconds() if files and served else None,
    }


def _log_times(path: Path) -> dict[str, datetime]:
    """When the run log says the run started, the served file was swapped, the files were written."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if len(line) < 24 or not line[:4].isdigit():
            continue
        t, text = datetime.fromisoformat(line[:23]), line[24:]
        for key, prefix in (("run", "run "), ("served", "served "), ("files", "files for people")):
            if text.startswith(prefix) and key not in out:
                out[key] = t
    return out


def _stages(warehouse: Path) -> dict[str, float]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    run = con.execute("select run_id from audit.pipeline_run order by started_at desc limit 1").fetchall()[0][
        0
    ]
    rows = con.execute(
        "select stage, coalesce(duration_s, 0) from audit.stage_run where run_id = ?", [run]
    ).fetchall()
    con.close()
    return run, dict(rows)


def _changed_inbox(src: Path, dst: Path) -> None:
    """A copy of `src` with one enterprise's 2022 report figure changed."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    import polars as pl

    reports = sorted((dst / "reports").rglob("*"))
    csvs = [p for p in reports if p.suffix == ".csv"]
    target = csvs[0] if csvs else None
    if target is None:
        return
    text = target.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    # bump the last numeric cell of the first data row by one tonne
    cells = lines[1].split(",")
    for i in range(len(cells) - 1, -1, -1):
        try:
            v = float(cells[i])
        except ValueError:
            continue
        cells[i] = str(int(v) + 1) if v.is_integer() else str(v + 1)
        break
    lines[1] = ",".join(cells)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    del pl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, help="another checkout, run interleaved with this one")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    checkouts = {"this": REPO} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    WORK.mkdir(parents=True, exist_ok=True)
    sample = REPO / "data" / "sample"
    changed = WORK / "inbox-changed"
    _changed_inbox(sample, changed)
    _run(REPO, sample, WORK / "warmup.duckdb")  # starts the shared Prefect server
    results: dict[str, dict[str, list]] = {k: {"first": [], "rerun": [], "changed": []} for k in checkouts}
    for i in range(args.rounds):
        for name, checkout in checkouts.items():
            wh_dir = WORK / f"{name}-{i}"
            shutil.rmtree(wh_dir, ignore_errors=True)
            wh_dir.mkdir(parents=True)
            wh = wh_dir / "warehouse.duckdb"
            results[name]["first"].append(_run(checkout, sample, wh))
            results[name]["rerun"].append(_run(checkout, sample, wh))
            results[name]["changed"].append(_run(checkout, changed, wh))
            shutil.rmtree(wh_dir, ignore_errors=True)
            print(name, i, {k: round(v[-1]["wall"], 2) for k, v in results[name].items()}, flush=True)
    print(f"load average at the end: {os.getloadavg()}")
    for name, by_kind in results.items():
        for kind, runs in by_kind.items():
            med = statistics.median(r["wall"] for r in runs)
            st = {s: statistics.median(r["stages"].get(s, 0) for r in runs) for s in STAGES}
            ssum = statistics.median(r["sum"] for r in runs)
            start = statistics.median(r["startup"] or 0 for r in runs)
            files = statistics.median(r["files"] or 0 for r in runs)
            print(
                f"{name:8} {kind:7} wall {med:5.2f} s  start-up {start:5.2f}  Σ stages {ssum:5.2f}  "
                f"files for people {files:5.2f}  rest {med - ssum - start - files:5.2f}  "
                + " ".join(f"{s} {v:.2f}" for s, v in st.items())
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
