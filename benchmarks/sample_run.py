"""Sample-size benchmark: the 308-enterprise sample year (data/sample: xlsx and CSV) as a user runs it.

    .venv/bin/python benchmarks/sample_run.py                          # this checkout, 5 rounds
    .venv/bin/python benchmarks/sample_run.py --baseline /tmp/base     # interleaved with another checkout
    .venv/bin/python benchmarks/sample_run.py --inbox DIR              # another inbox (e.g. the Parquet form)
    .venv/bin/python benchmarks/sample_run.py --runner                 # also through the warm runner

Each round, for each checkout (interleaved: A, B, A, B, ...), in fresh processes with the local
shared Prefect server already up (a warm-up run starts it):

- **first run**: `etsflow run --year 2022 --inbox data/sample --as-of 2024-04-01` on a new warehouse;
- **rerun**: the same command again, nothing changed (every stage skipped);
- **few changed**: one enterprise's verified emissions changed in a copy of the inbox, run again
  (the files for people then rewrite only what changed); only for an inbox with CSV reports.

With `--runner`, each checkout that has the warm runner (etsflow/runner.py) also runs the same
three commands through it in the same rounds (`<name>+runner`): a runner is started after the
warm-up (`etsflow runner start`), the commands go through the console script's client
(`etsflow.launch`, `ETSFLOW_RUNNER=use`), and the runner is stopped at the end. Their CPU seconds
are the client's plus what the runner's children used (its `status`, before and after).

It prints wall time, *through publication* (process start to the served file's swap, the span of
the issue's targets), start-up (process start to the run's first log line), the stages
(`audit.stage_run`), files for people (swap to the end of `exports.people`), the CPU seconds of
the run's process and the processes it waited for (less sensitive to a shared machine's load than
wall time) and the load average. Medians. No assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
WORK = REPO / "var" / "bench-sample"  # var/ (Prefect home, shared), <inbox name>/ (warehouses, changed inbox)
STAGES = ("ingest", "validate", "baselines", "allocate", "clearance", "publish")


def _env(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    return env | {"ETSFLOW_VAR": str(WORK / "var"), "PYTHONPATH": str(checkout), "PYTHONHASHSEED": "0"}


def _run(checkout: Path, inbox: Path, warehouse: Path, runner: bool = False) -> dict:
    entry = "from etsflow.launch import main" if runner else "from etsflow.cli import main"
    cmd = [str(PYTHON), "-c", f"{entry}; main()", "run", "--year", "2022",
           "--inbox", str(inbox), "--warehouse", str(warehouse), "--as-of", "2024-04-01"]  # fmt: skip
    env = _env(checkout) | {"ETSFLOW_RUNNER": "use" if runner else "off"}
    runner_cpu0 = _runner(checkout, "status")["children_cpu_s"] if runner else 0.0
    started = datetime.now(UTC).replace(tzinfo=None)
    t0, cpu0 = time.perf_counter(), _children_cpu()
    r = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if runner:
        cpu += _runner(checkout, "status")["children_cpu_s"] - runner_cpu0
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
        "through_publication": (served - started).total_seconds() if served else None,
        "files": (files - served).total_seconds() if files and served else None,
        "cpu": cpu,
        "load": os.getloadavg()[0],
    }


def _runner(checkout: Path, op: str) -> dict:
    """Start, stop or ask the warm runner that `_run(checkout, ..., runner=True)` uses."""
    if op == "status":
        code = "import json; from etsflow import launch as l; import os; i = l.identity(dict(os.environ), os.getcwd()); print(json.dumps(l.request(l.socket_path(i), {'op': 'status'})))"
        r = subprocess.run(
            [str(PYTHON), "-c", code],
            cwd=checkout,
            env=_env(checkout),
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(r.stdout)
    cmd = [str(PYTHON), "-c", "from etsflow.launch import main; main()", "runner", op]
    r = subprocess.run(cmd, cwd=checkout, env=_env(checkout), capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{checkout}: etsflow runner {op}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    print(r.stdout.strip(), flush=True)
    return {}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


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


def _changed_inbox(src: Path, dst: Path) -> bool:
    """A copy of `src` with one enterprise's 2022 report figure changed; False if `src` has no CSV
    report to change."""
    shutil.rmtree(dst, ignore_errors=True)
    csvs = sorted(p for p in (src / "reports").rglob("*") if p.suffix == ".csv")
    if not csvs:
        return False
    shutil.copytree(src, dst)
    target = dst / csvs[0].relative_to(src)
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
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, help="another checkout, run interleaved with this one")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--inbox", type=Path, default=REPO / "data" / "sample", help="default: the sample")
    ap.add_argument("--runner", action="store_true", help="also through the warm runner (same rounds)")
    args = ap.parse_args()
    work = WORK / args.inbox.resolve().name
    checkouts = {"this": REPO} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    variants = {name: (checkout, False) for name, checkout in checkouts.items()}
    if args.runner:
        variants |= {
            f"{name}+runner": (checkout, True)
            for name, checkout in checkouts.items()
            if (checkout / "etsflow" / "runner.py").exists()
        }
    work.mkdir(parents=True, exist_ok=True)
    sample = args.inbox.resolve()
    changed = work / "inbox-changed"
    kinds = ["first", "rerun"] + (["changed"] if _changed_inbox(sample, changed) else [])
    _run(REPO, sample, work / "warmup.duckdb")  # starts the shared Prefect server
    for checkout, runner in variants.values():
        if runner:
            _runner(checkout, "start")
    results: dict[str, dict[str, list]] = {k: {kind: [] for kind in kinds} for k in variants}
    try:
        for i in range(args.rounds):
            for name, (checkout, runner) in variants.items():
                wh_dir = work / f"{name}-{i}"
                shutil.rmtree(wh_dir, ignore_errors=True)
                wh_dir.mkdir(parents=True)
                wh = wh_dir / "warehouse.duckdb"
                for kind in kinds:
                    inbox = changed if kind == "changed" else sample
                    results[name][kind].append(_run(checkout, inbox, wh, runner))
                shutil.rmtree(wh_dir, ignore_errors=True)
                print(name, i, {k: round(v[-1]["wall"], 2) for k, v in results[name].items()}, flush=True)
    finally:
        for checkout, runner in variants.values():
            if runner:
                _runner(checkout, "stop")
    print(f"load average at the end: {os.getloadavg()}")
    for name, by_kind in results.items():
        for kind, runs in by_kind.items():
            med = statistics.median(r["wall"] for r in runs)
            st = {s: statistics.median(r["stages"].get(s, 0) for r in runs) for s in STAGES}
            ssum = statistics.median(r["sum"] for r in runs)
            start = statistics.median(r["startup"] or 0 for r in runs)
            through = statistics.median(r["through_publication"] or 0 for r in runs)
            files = statistics.median(r["files"] or 0 for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            print(
                f"{name:15} {kind:7} wall {med:5.2f} s  through publication {through:5.2f}  start-up {start:5.2f}  "
                f"Σ stages {ssum:5.2f}  files for people {files:5.2f}  CPU {cpu:5.2f} s  "
                + " ".join(f"{s} {v:.2f}" for s, v in st.items())
                + "  (load "
                + ", ".join(f"{r['load']:.1f}" for r in runs)
                + ")"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
