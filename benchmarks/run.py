"""Scale benchmark: the real pipeline against the I/O floor and a pandas reference, by size.

    .venv/bin/python benchmarks/run.py                              # 1,000 / 10,000 / 100,000 enterprises
    .venv/bin/python benchmarks/run.py --sizes 1000,10000 --repeat 3 --no-write
    .venv/bin/python benchmarks/run.py --only prefect               # Prefect overhead on a tiny inbox

For each size N (synthetic inbox of N enterprises, `benchmarks/make_inbox.py`, Parquet by default,
compliance year 2022) it measures, each in a fresh subprocess, with medians over `--repeat` runs:

- **pipeline**: `.venv/bin/etsflow run --year 2022` on a fresh warehouse: wall time through
  publication (process start to the served file's swap; the process is stopped there, the files
  for people it writes next being timed apart — `benchmarks/sample_run.py`), peak RSS of the
  process (`os.wait4`), each stage's time (`audit.stage_run`), the served-file refresh (run log),
  and the rest: Python start, imports, Prefect (server, flow and task runs);
- **I/O floor**: a fresh process in which DuckDB alone reads the same inbox files into tables and
  writes a new file in the served storage format: the *served-file floor* writes the tables of
  the run's served file (raw, core, the year's marts, audit: the same rows), the *marts-only
  floor* the marts alone; run interleaved with the pipeline;
- **engine in memory**: the engine's own path to the allocation (read, validate, baselines,
  allocate) in a fresh process, without warehouse or Prefect; also interleaved;
- **pandas reference** (`benchmarks/pandas_reference.py`): the same 2022 allocation written with
  `groupby().apply()` per line; its `allocation_final_t` is compared with the engine's, enterprise
  by enterprise (equal, or the mismatches are listed); `--pandas-repeat-large 0` leaves it out at
  100,000 (~4 minutes a run);
- **plain reference** (`benchmarks/plain_reference.py`, `--form csv` only): the 2022 allocation as a
  plain-Python `csv` + `Decimal` script, timed in the same rounds (wall and peak RSS).

`--only prefect` (also part of a full run) measures the Prefect overhead (wall − Σ stages) on a tiny
inbox: first run in a fresh process with the local shared server running, the same with Prefect's
per-process temporary server (`ETSFLOW_PREFECT_SERVER=temporary`, the old default), and later runs
in one warm process. The benchmark's own state (Prefect home, warehouses) is under
`var/bench/` (ETSFLOW_VAR=var/bench/var). Results go to `benchmarks/results.md` (unless --no-write).
No assertions: a benchmark prints figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BENCH = REPO / "var" / "bench"
BENCH_VAR = BENCH / "var"  # ETSFLOW_VAR of the measured runs: Prefect home, logs
PYTHON = REPO / ".venv" / "bin" / "python"
ETSFLOW = REPO / ".venv" / "bin" / "etsflow"
YEAR, AS_OF = 2022, "2024-04-01"
STAGES = ("ingest", "validate", "baselines", "allocate", "clearance", "publish")
DEFAULT_SIZES = (1_000, 10_000, 100_000)
TINY = 150  # enterprises of the inbox used for the Prefect overhead


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _median(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    # fresh processes, as measured: no warm runner asked, none started after a run (its imports
    # would run beside the next measured child)
    env |= {"ETSFLOW_VAR": str(BENCH_VAR), "PYTHONHASHSEED": "0", "ETSFLOW_RUNNER": "off"}
    return env | extra


def _run(
    cmd: list[str], env: dict[str, str] | None = None, timeout: float = 3600, served_log: Path | None = None
) -> dict:
    """Run `cmd`; wall time, peak RSS (MiB, the process and the children it waited for), exit
    code, stdout/stderr. With `served_log` (the logs folder of an `etsflow run`): the wall time
    ends when the run log says the served file was swapped, and the process is stopped there —
    the files for people that a run writes next are timed apart by issue #16, and at 100,000
    enterprises (100,000 notices) they would take the better part of an hour."""
    out_path, err_path = BENCH / ".stdout", BENCH / ".stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env or _env(), cwd=REPO)
        served = None  # when a succeeded run's served file was swapped
        while served_log is not None and served is None and proc.poll() is None:
            if any("; run succeeded" in f.read_text(encoding="utf-8") for f in served_log.glob("*.log")):
                served = time.perf_counter() - t0
                proc.terminate()
            time.sleep(0.05)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = served or time.perf_counter() - t0
    proc.returncode = 0 if served else os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall,
        "rss_mib": usage.ru_maxrss / 1024,  # Linux: kilobytes
        "code": proc.returncode,
        "stdout": out_path.read_text(encoding="utf-8", errors="replace"),
        "stderr": err_path.read_text(encoding="utf-8", errors="replace"),
    }


def _child_json(r: dict) -> dict:
    if r["code"] != 0:
        raise RuntimeError(f"child failed ({r['code']}): {r['stderr'][-2000:]}")
    return json.loads(r["stdout"].strip().splitlines()[-1])


def inbox_for(n: int, form: str, seed: int) -> tuple[Path, dict]:
    """The synthetic inbox of `n` enterprises (built once, reused while the stamp matches)."""
    from benchmarks.make_inbox import make_inbox

    folder = BENCH / f"inbox-{n}-{form}-{seed}"
    stamp = folder / ".made"
    if stamp.exists():
        return folder, json.loads(stamp.read_text())
    info = make_inbox(n, folder, form, seed)
    stamp.write_text(json.dumps(info))
    return folder, info


# ---------------------------------------------------------------------------------------------
# the measured pipeline: the real CLI in a fresh process, on a fresh warehouse
# ---------------------------------------------------------------------------------------------
def _stage_times(served: Path) -> tuple[dict[str, float], float | None]:
    import duckdb

    con = duckdb.connect(str(served), read_only=True)
    try:
        rows = con.sql("SELECT stage, status, duration_s FROM audit.stage_run").fetchall()
    finally:
        con.close()
    stages = {s: d for s, st, d in rows if st == "succeeded"}
    return stages, _serve_seconds(served.parent / "logs")


def _serve_seconds(logs: Path) -> float | None:
    """Time from the last stage's end to the served file's swap, from the run log (if there)."""
    try:
        lines = next(logs.glob("*.log")).read_text(encoding="utf-8").splitlines()
    except (StopIteration, OSError):
        return None

    def ts(line: str) -> datetime:
        return datetime.fromisoformat(line[:23])

    done = [ln for ln in lines if ": succeeded in " in ln]
    served = [ln for ln in lines if " served " in ln]
    if not done or not served:
        return None
    return (ts(served[-1]) - ts(done[-1])).total_seconds()


def run_pipeline(inbox: Path, work: Path, env: dict[str, str] | None = None) -> dict:
    """One `etsflow run` in a fresh process on a fresh warehouse under `work`."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    served = work / "warehouse.duckdb"
    cmd = [str(ETSFLOW), "run", "--year", str(YEAR), "--inbox", str(inbox), "--warehouse", str(served)]
    r = _run([*cmd, "--as-of", AS_OF], env=env, served_log=work / "logs")
    if r["code"] != 0:
        raise RuntimeError(f"etsflow run failed ({r['code']}): {r['stderr'][-3000:]}")
    stages, serve = _stage_times(served)
    total = sum(stages.values())
    return {
        "wall_s": r["wall_s"],
        "rss_mib": r["rss_mib"],
        "stages": stages,
        "stages_s": total,
        "serve_s": serve,
        "outside_s": r["wall_s"] - total,
        "prefect_s": r["wall_s"] - total - (serve or 0.0),
        "served": served,
    }


def engine_allocation(served: Path):
    """enterprise_id → allocation_final_t of the year, as published."""
    from warehouse import read_published

    return read_published(
        served,
        "SELECT enterprise_id, allocation_final_t FROM mart.allocation_enterprise WHERE compliance_year = $1",
        [YEAR],
    )


# ---------------------------------------------------------------------------------------------
# children: I/O floor, pandas reference, warm Prefect process (each prints one JSON line)
# ---------------------------------------------------------------------------------------------
def child_io_floor(inbox: str, served: str, out: str) -> dict:
    """DuckDB alone doing the I/O of a run: read every inbox file into tables, then write a new file
    in the served storage format with the tables of the run's served file (taken, untimed, from a
    finished run into memory) — *served*: every table it holds (raw, core, the year's marts,
    audit), the same rows and bytes, core and marts with the catalog's DDL (the same column
    compression); *marts*: the year's marts only. Returns the seconds of each step; `setup_s`
    (loading the finished run's tables) is part of neither floor."""
    import duckdb

    from model import catalog
    from warehouse.store import ddl

    by_name = {t.qualified: t for t in catalog.INPUTS + catalog.PUBLISHED}
    t_setup = time.perf_counter()
    src = duckdb.connect(served, read_only=True)
    tables = {}
    for schema, name in src.sql(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1, 2"
    ).fetchall():
        where = f" WHERE compliance_year = {YEAR}" if schema == "mart" else ""
        tables[f"{schema}.{name}"] = src.sql(f'SELECT * FROM {schema}."{name}"{where}').arrow().read_all()
    src.close()
    setup_s = time.perf_counter() - t_setup

    t0 = time.perf_counter()
    con = duckdb.connect()
    rows_in = 0
    for i, f in enumerate(sorted(Path(inbox).rglob("*.*"))):
        if f.suffix == ".parquet":
            con.execute(f"CREATE TABLE in{i} AS SELECT * FROM read_parquet('{f}')")
        elif f.suffix == ".csv":
            con.execute(f"CREATE TABLE in{i} AS SELECT * FROM read_csv('{f}', all_varchar = true)")
        else:
            continue
        rows_in += con.sql(f"SELECT count(*) FROM in{i}").fetchall()[0][0]
    read_s = time.perf_counter() - t0

    def write(names: list[str]) -> float:
        Path(out).unlink(missing_ok=True)
        t = time.perf_counter()
        con.execute(f"ATTACH '{out}' AS o (STORAGE_VERSION 'v1.5.0')")
        for schema in sorted({n.split(".")[0] for n in names}):
            con.execute(f"CREATE SCHEMA o.{schema}")
        for name in names:
            schema, table = name.split(".")
            con.register("t", tables[name])
            if name in by_name:
                con.execute(ddl(by_name[name], prefix="o."))
                con.execute(f"INSERT INTO o.{name} SELECT * FROM t")
            else:
                con.execute(f'CREATE TABLE o.{schema}."{table}" AS SELECT * FROM t')
            con.unregister("t")
        con.execute("CHECKPOINT o")
        con.execute("DETACH o")
        return time.perf_counter() - t

    write_marts_s = write([t.qualified for t in catalog.MARTS])
    write_served_s = write(list(tables))
    return {
        "setup_s": setup_s,
        "read_s": read_s,
        "write_marts_s": write_marts_s,
        "write_served_s": write_served_s,
        "rows_in": rows_in,
        "rows_out": sum(t.num_rows for t in tables.values()),
        "served_mib": Path(out).stat().st_size / 2**20,
    }


def child_pandas(inbox: str, out: str) -> dict:
    from benchmarks import pandas_reference as ref

    t0 = time.perf_counter()
    tables = ref.read_inbox(Path(inbox))
    t1 = time.perf_counter()
    result = ref.allocate_2022(tables)
    t2 = time.perf_counter()
    result[["enterprise_id", "allocation_final_t"]].to_parquet(out)
    return {"read_s": t1 - t0, "allocate_s": t2 - t1, "enterprises": len(result)}


def child_engine(inbox: str, out: str) -> dict:
    """The engine's own path to the same numbers, in memory (no warehouse, no Prefect): read and
    validate the inbox, baselines, allocation — like for like with the pandas reference, plus
    validation."""
    from ingest.read import read_inbox
    from policies import policy_for_year
    from transforms.allocate import allocate
    from transforms.baselines import compute_baselines
    from validations.inputs import validate_inbox

    t0 = time.perf_counter()
    policy = policy_for_year(YEAR)
    inbox_tables = read_inbox(Path(inbox))
    t1 = time.perf_counter()
    core = validate_inbox(inbox_tables, policy).core
    t2 = time.perf_counter()
    baselines = compute_baselines(core, policy)
    t3 = time.perf_counter()
    result = allocate(baselines, core, policy)
    t4 = time.perf_counter()
    result.enterprises.select("enterprise_id", "allocation_final_t").write_parquet(out)
    return {"read_s": t1 - t0, "validate_s": t2 - t1, "baselines_s": t3 - t2, "allocate_s": t4 - t3}


def child_no_prefect(inbox: str, work: str) -> dict:
    """The CLI's process without Prefect: the same imports, the six stage functions of
    `flows.stages` called in order on a fresh warehouse (each given the outputs it takes), and the
    served-file refresh. Its wall minus its stage and serve times is the cost of a Python process
    of this stack (start, imports, exit): the part of 'outside the stages' that is not Prefect's."""
    from datetime import date

    import etsflow.cli  # noqa: F401  (the CLI's own imports)
    from flows import stages as s
    from policies import policy_for_year
    from validations.checkpoint_process import CheckpointProcess
    from warehouse import Warehouse

    shutil.rmtree(work, ignore_errors=True)
    Path(work).mkdir(parents=True)
    wh = Warehouse(Path(work) / "warehouse.duckdb")
    seconds = {}

    def timed(stage, *inputs):
        t0 = time.perf_counter()
        out = s.RUNNERS[stage](*inputs).output
        seconds[stage] = time.perf_counter() - t0
        return out

    with wh.connect() as con:
        run = s.RunSettings(
            run_id="noprefect",
            year=YEAR,
            inbox=Path(inbox),
            wh=wh,
            con=con,
            policy=policy_for_year(YEAR),
            as_of=date.fromisoformat(AS_OF),
        )
        checkpoint = CheckpointProcess.start()  # where the flow does: after opening the work database
        inputs = timed("validate", run, timed("ingest", run))
        allocation = timed("allocate", run, inputs, timed("baselines", run, inputs))
        timed("publish", run, inputs, allocation, timed("clearance", run, inputs, allocation), checkpoint)
        checkpoint.close()
        t0 = time.perf_counter()
        wh.serve(con)
        serve = time.perf_counter() - t0
    return {"stages_s": sum(seconds.values()), "serve_s": serve}


def child_warm_prefect(inbox: str, work: str, runs: int) -> dict:
    """Several flow runs in one process: the overhead of the later ones is Prefect's steady cost."""
    from datetime import date

    from etsflow import settings

    settings.configure()
    from flows.annual import run_now

    out = []
    for i in range(runs):
        folder = Path(work) / f"run{i}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        served = folder / "warehouse.duckdb"
        t0 = time.perf_counter()
        state = run_now(year=YEAR, inbox=inbox, warehouse=str(served), as_of=date.fromisoformat(AS_OF))
        wall = time.perf_counter() - t0
        summary = state.result(raise_on_failure=False)
        if summary["exit_code"]:
            raise RuntimeError(summary["error"])
        stages = sum(v["seconds"] for v in summary["stages"].values())
        serve = _serve_seconds(folder / "logs")
        out.append({"wall_s": wall, "stages_s": stages, "serve_s": serve})
    return {"runs": out}


# ---------------------------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------------------------
def measure_size(n: int, form: str, seed: int, repeat: int, pandas_repeat: int, log) -> dict:
    inbox, info = inbox_for(n, form, seed)
    line_years = info["line_years"]
    log(
        f"N={n:,}: {info['lines']:,} lines, {line_years:,} line-years, {info['ledger']:,} ledger rows ({form})"
    )
    # pipeline, I/O floor and engine interleaved (a run of each per round): a load that comes and
    # goes on the shared machine then weighs on all three alike
    runs, floors, engines, plains = [], [], [], []
    for i in range(repeat):
        r = run_pipeline(inbox, BENCH / "runs" / str(n))
        log(
            f"  pipeline {i + 1}/{repeat}: {r['wall_s']:.1f} s, peak {r['rss_mib']:,.0f} MiB; stages "
            + ", ".join(f"{s} {r['stages'].get(s, float('nan')):.2f}" for s in STAGES)
            + f"; serve {r['serve_s'] if r['serve_s'] is not None else float('nan'):.2f}; rest {r['prefect_s']:.2f}"
        )
        runs.append(r)
        served = r["served"]

        f = _run(
            [
                str(PYTHON),
                __file__,
                "--child",
                "io-floor",
                str(inbox),
                str(served),
                str(BENCH / "floor.duckdb"),
            ]
        )
        c = _child_json(f)
        process = f["wall_s"] - c["setup_s"] - c["read_s"] - c["write_marts_s"] - c["write_served_s"]
        floors.append(
            c
            | {
                "rss_mib": f["rss_mib"],
                "served_s": process + c["read_s"] + c["write_served_s"],
                "marts_s": process + c["read_s"] + c["write_marts_s"],
            }
        )
        log(
            f"  I/O floor {i + 1}/{repeat}: served file {floors[-1]['served_s']:.1f} s, marts only "
            f"{floors[-1]['marts_s']:.1f} s (process {process:.2f}, read {c['read_s']:.2f}, write served "
            f"{c['write_served_s']:.2f} / marts {c['write_marts_s']:.2f})"
        )

        e = _run([str(PYTHON), __file__, "--child", "engine", str(inbox), str(BENCH / f"engine-{n}.parquet")])
        c = _child_json(e)
        engines.append({"wall_s": e["wall_s"], "rss_mib": e["rss_mib"], **c})
        log(
            f"  engine in memory {i + 1}/{repeat}: {e['wall_s']:.1f} s (read {c['read_s']:.2f}, validate "
            f"{c['validate_s']:.2f}, baselines {c['baselines_s']:.2f}, allocate {c['allocate_s']:.2f})"
        )
        if form == "csv":  # the plain-Python Decimal script reads the CSV form only
            pr = _run([str(PYTHON), str(REPO / "benchmarks" / "plain_reference.py"), str(inbox)])
            plains.append({"wall_s": pr["wall_s"], "rss_mib": pr["rss_mib"]})
            log(f"  plain reference {i + 1}/{repeat}: {pr['wall_s']:.1f} s, peak {pr['rss_mib']:,.0f} MiB")
    engine = engine_allocation(runs[-1]["served"])

    pandas_runs, mismatches = [], None
    for i in range(pandas_repeat):
        out = BENCH / f"pandas-{n}.parquet"
        r = _run([str(PYTHON), __file__, "--child", "pandas", str(inbox), str(out)])
        c = _child_json(r)
        pandas_runs.append({"wall_s": r["wall_s"], "rss_mib": r["rss_mib"], **c})
        log(
            f"  pandas {i + 1}/{pandas_repeat}: {r['wall_s']:.1f} s (read {c['read_s']:.2f}, allocate {c['allocate_s']:.2f})"
        )
        if mismatches is None:
            mismatches = compare(engine, out)
    mismatches = mismatches or {"summary": "pandas reference not run", "count": 0}
    log(f"  pandas vs engine allocation_final_t: {mismatches['summary']}")
    shutil.rmtree(BENCH / "runs" / str(n), ignore_errors=True)

    med = {s: _median([r["stages"].get(s) for r in runs]) for s in STAGES}
    return {
        "n": n,
        "form": form,
        "lines": info["lines"],
        "line_years": line_years,
        "ledger": info["ledger"],
        "repeat": repeat,
        "pandas_repeat": pandas_repeat,
        "wall_s": _median([r["wall_s"] for r in runs]),
        "rss_mib": max(r["rss_mib"] for r in runs),
        "stages": med,
        "stages_s": _median([r["stages_s"] for r in runs]),
        "serve_s": _median([r["serve_s"] for r in runs]),
        "prefect_s": _median([r["prefect_s"] for r in runs]),
        "floor_s": _median([f["served_s"] for f in floors]),
        "floor_marts_s": _median([f["marts_s"] for f in floors]),
        "floor_mib": _median([f["served_mib"] for f in floors]),
        "floor_rss_mib": max(f["rss_mib"] for f in floors),
        "pandas_s": _median([p["wall_s"] for p in pandas_runs]),
        "pandas_compute_s": _median([p["read_s"] + p["allocate_s"] for p in pandas_runs]),
        "pandas_rss_mib": max((p["rss_mib"] for p in pandas_runs), default=None),
        "engine_s": _median([e["wall_s"] for e in engines]),
        "engine_compute_s": _median(
            [e["read_s"] + e["validate_s"] + e["baselines_s"] + e["allocate_s"] for e in engines]
        ),
        "plain_s": _median([p["wall_s"] for p in plains]),
        "mismatches": mismatches,
        "all_walls": [round(r["wall_s"], 2) for r in runs],
    }


def compare(engine, pandas_out: Path) -> dict:
    """allocation_final_t per enterprise: engine (published) against the pandas reference."""
    import polars as pl

    ref = pl.read_parquet(pandas_out).with_columns(pl.col("allocation_final_t").cast(pl.Int64))
    j = engine.join(ref, on="enterprise_id", how="full", suffix="_pandas", coalesce=True)
    bad = j.filter(pl.col("allocation_final_t").ne_missing(pl.col("allocation_final_t_pandas")))
    summary = (
        f"equal for all {engine.height:,} enterprises"
        if bad.height == 0
        else f"{bad.height:,} of {j.height:,} enterprises differ"
    )
    return {
        "count": bad.height,
        "enterprises": j.height,
        "summary": summary,
        "first": bad.head(10).to_dicts(),
    }


def measure_prefect(seed: int, repeat: int, log) -> dict:
    """Prefect overhead on a tiny inbox: a fresh process with the local shared server, the same
    stages without Prefect, and a fresh process with Prefect's temporary server, interleaved (one of
    each per round; the overhead is the median of the differences within a round); then later flow
    runs in one warm process."""
    inbox, info = inbox_for(TINY, "parquet", seed)
    log(f"Prefect overhead on {TINY} enterprises ({info['line_years']:,} line-years), {repeat} rounds")
    out: dict = {"n": TINY, "repeat": repeat}
    runs: dict[str, list[dict]] = {"shared": [], "temporary": []}
    bare = []
    for i in range(repeat):
        runs["shared"].append(run_pipeline(inbox, BENCH / "runs" / "prefect-shared", env=_env()))
        r = _run([str(PYTHON), __file__, "--child", "no-prefect", str(inbox), str(BENCH / "runs" / "bare")])
        c = _child_json(r)
        bare.append(r["wall_s"] - c["stages_s"] - c["serve_s"])
        runs["temporary"].append(
            run_pipeline(
                inbox, BENCH / "runs" / "prefect-temporary", env=_env(ETSFLOW_PREFECT_SERVER="temporary")
            )
        )
        log(
            f"  round {i + 1}: outside the stages and serve — shared server {runs['shared'][-1]['prefect_s']:.2f} s, "
            f"no Prefect {bare[-1]:.2f} s, temporary server {runs['temporary'][-1]['prefect_s']:.2f} s"
        )
    out["process_s"] = _median(bare)
    for label, rs in runs.items():
        out[label] = {
            "wall_s": _median([r["wall_s"] for r in rs]),
            "stages_s": _median([r["stages_s"] for r in rs]),
            "serve_s": _median([r["serve_s"] for r in rs]),
            "outside_s": _median([r["outside_s"] for r in rs]),
            "prefect_s": _median([r["prefect_s"] for r in rs]),
            "overhead_s": _median([r["prefect_s"] - b for r, b in zip(rs, bare, strict=True)]),
            "rss_mib": max(r["rss_mib"] for r in rs),
        }
    r = _run(
        [
            str(PYTHON),
            __file__,
            "--child",
            "warm-prefect",
            str(inbox),
            str(BENCH / "runs" / "warm"),
            str(repeat + 1),
        ]
    )
    warm = _child_json(r)["runs"]
    later = warm[1:]
    out["warm"] = {
        "first_s": warm[0]["wall_s"] - warm[0]["stages_s"] - (warm[0]["serve_s"] or 0),
        "outside_s": _median([w["wall_s"] - w["stages_s"] for w in later]),
        "prefect_s": _median([w["wall_s"] - w["stages_s"] - (w["serve_s"] or 0) for w in later]),
        "serve_s": _median([w["serve_s"] for w in later]),
    }
    log(
        f"  warm process (runs 2–{repeat + 1}): outside the stages {out['warm']['outside_s']:.2f} s, "
        f"of which not serve {out['warm']['prefect_s']:.2f} s"
    )
    shutil.rmtree(BENCH / "runs", ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
def _f(x: float | None, fmt: str = "{:.1f}") -> str:
    return "–" if x is None else fmt.format(x)


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either was not measured (the pandas reference with --pandas-repeat-large 0)."""
    return None if a is None or b is None else a / b


def table(results: list[dict]) -> str:
    """The pipeline by size: wall time, memory and where the time goes."""
    head = (
        "| enterprises | line-years | pipeline wall s | peak RSS MiB | Σ stages s | "
        + " | ".join(STAGES)
        + " | serve s | Prefect+process s |"
    )
    sep = "|" + "---|" * (head.count("|") - 1)
    rows = [
        f"| {r['n']:,} | {r['line_years']:,} | {_f(r['wall_s'])} | {r['rss_mib']:,.0f} | {_f(r['stages_s'])} | "
        + " | ".join(_f(r["stages"][s], "{:.2f}") for s in STAGES)
        + f" | {_f(r['serve_s'], '{:.2f}')} | {_f(r['prefect_s'], '{:.2f}')} |"
        for r in results
    ]
    return "\n".join([head, sep, *rows])


def comparisons(results: list[dict]) -> str:
    """The pipeline against the I/O floors, and the engine against the pandas reference."""
    head = (
        "| enterprises | pipeline wall s | I/O floor (served file) s | pipeline / floor | "
        "I/O floor (marts only) s | pipeline / marts floor | pandas s | pandas / pipeline | "
        "engine in memory s | pandas / engine | pandas compute s | engine compute s | "
        "pandas / engine compute | allocation_final_t vs pandas |"
    )
    sep = "|" + "---|" * (head.count("|") - 1)
    rows = [
        f"| {r['n']:,} | {_f(r['wall_s'])} | {_f(r['floor_s'], '{:.2f}')} | {_f(r['wall_s'] / r['floor_s'], '{:.1f}×')} | "
        f"{_f(r['floor_marts_s'], '{:.2f}')} | {_f(r['wall_s'] / r['floor_marts_s'], '{:.1f}×')} | "
        f"{_f(r['pandas_s'])} | {_f(_ratio(r['pandas_s'], r['wall_s']), '{:.1f}×')} | {_f(r['engine_s'], '{:.2f}')} | "
        f"{_f(_ratio(r['pandas_s'], r['engine_s']), '{:.1f}×')} | {_f(r['pandas_compute_s'], '{:.2f}')} | "
        f"{_f(r['engine_compute_s'], '{:.2f}')} | {_f(_ratio(r['pandas_compute_s'], r['engine_compute_s']), '{:.1f}×')} | "
        f"{r['mismatches']['summary']} |"
        for r in results
    ]
    plain = [
        f"- {r['n']:,} enterprises (CSV form): plain-Python `Decimal` script (`benchmarks/plain_reference.py`) "
        f"{r['plain_s']:.1f} s, pipeline {r['wall_s']:.1f} s: the pipeline is {r['plain_s'] / r['wall_s']:.2f} × "
        "as fast"
        for r in results
        if r.get("plain_s")
    ]
    return "\n".join([head, sep, *rows] + (["", *plain] if plain else []))


def growth(results: list[dict]) -> str:
    """Seconds per million line-years and the log-log slope between consecutive sizes."""
    out = []
    rs = sorted(results, key=lambda r: r["n"])
    for r in rs:
        out.append(
            f"- N = {r['n']:,}: {r['wall_s'] / r['line_years'] * 1e6:.1f} s per million line-years "
            f"(Σ stages {r['stages_s'] / r['line_years'] * 1e6:.1f} s)"
        )
    if len(rs) >= 3:  # fixed cost + cost per line-year, least squares over the sizes
        for label, key in (("wall", "wall_s"), ("Σ stages", "stages_s")):
            fixed, slope, worst = _fit(rs, key)
            out.append(
                f"- linear fit of {label}: {fixed:.1f} s + {slope:.1f} s per million line-years; the largest "
                f"deviation of a measured size from the line is {worst:.0%}"
            )
    for a, b in zip(rs, rs[1:], strict=False):
        k = math.log(b["wall_s"] / a["wall_s"]) / math.log(b["line_years"] / a["line_years"])
        ks = math.log(b["stages_s"] / a["stages_s"]) / math.log(b["line_years"] / a["line_years"])
        out.append(
            f"- {a['n']:,} → {b['n']:,}: line-years × {b['line_years'] / a['line_years']:.1f}, wall × "
            f"{b['wall_s'] / a['wall_s']:.1f} (log-log slope {k:.2f}; Σ stages slope {ks:.2f}; 1 = linear)"
        )
    return "\n".join(out)


def _fit(rs: list[dict], key: str) -> tuple[float, float, float]:
    """Least squares `fixed + slope × million line-years`; and the largest relative deviation."""
    xs, ys = [r["line_years"] / 1e6 for r in rs], [r[key] for r in rs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    fixed = my - slope * mx
    return fixed, slope, max(abs(fixed + slope * x - y) / y for x, y in zip(xs, ys, strict=True))


def targets(results: list[dict], prefect: dict | None) -> str:
    """The targets of the scale issue, each with what was measured and whether it is met."""
    by_n = {r["n"]: r for r in results}
    rows = []

    def row(target: str, measured: str, met: bool | None) -> None:
        rows.append(f"| {target} | {measured} | {'–' if met is None else ('yes' if met else 'no')} |")

    big, mid = by_n.get(100_000), by_n.get(10_000)
    if big:
        row("100,000 enterprises end to end ≤ 30 s", f"{big['wall_s']:.1f} s", big["wall_s"] <= 30)
        row("peak RSS ≤ 4 GiB at 100,000", f"{big['rss_mib'] / 1024:.2f} GiB", big["rss_mib"] <= 4096)
    for r in results:
        row(
            f"pipeline ≤ 3 × the I/O floor at {r['n']:,}",
            f"{r['wall_s'] / r['floor_s']:.1f} × the served-file floor ({r['floor_s']:.1f} s); "
            f"{r['wall_s'] / r['floor_marts_s']:.1f} × the marts-only floor ({r['floor_marts_s']:.1f} s)",
            r["wall_s"] <= 3 * r["floor_s"],
        )
    if mid and mid["pandas_s"] is not None:
        row(
            "≥ 10 × faster than the pandas reference at 10,000",
            f"whole pipeline {mid['pandas_s'] / mid['wall_s']:.1f} ×; engine process "
            f"{mid['pandas_s'] / mid['engine_s']:.1f} ×; engine compute "
            f"{mid['pandas_compute_s'] / mid['engine_compute_s']:.1f} ×",
            mid["pandas_s"] >= 10 * mid["wall_s"],
        )
    if big and big.get("plain_s"):
        row(
            "≥ 2 × faster than benchmarks/plain_reference.py at 100,000 (CSV form)",
            f"plain script {big['plain_s']:.1f} s / pipeline {big['wall_s']:.1f} s = "
            f"{big['plain_s'] / big['wall_s']:.2f} ×",
            big["plain_s"] >= 2 * big["wall_s"],
        )
        row("peak RSS ≤ 2 GiB at 100,000", f"{big['rss_mib'] / 1024:.2f} GiB", big["rss_mib"] <= 2048)
    if prefect:
        fresh = prefect["shared"]["overhead_s"]
        warm = prefect["warm"]["prefect_s"]
        row(
            "Prefect overhead ≤ 2 s of a run",
            f"fresh process {fresh:.2f} s; warm process {warm:.2f} s",
            fresh <= 2,
        )
    rs = sorted(results, key=lambda r: r["n"])
    if len(rs) >= 3:
        fixed, slope, worst = _fit(rs, "wall_s")
        slopes = [
            math.log(b["wall_s"] / a["wall_s"]) / math.log(b["line_years"] / a["line_years"])
            for a, b in zip(rs, rs[1:], strict=False)
        ]
        row(
            "time linear in line-years (fixed cost + cost per line-year within 15 %, never superlinear)",
            f"{fixed:.1f} s + {slope:.1f} s per million line-years, largest deviation {worst:.0%}; "
            f"log-log slopes {', '.join(f'{k:.2f}' for k in slopes)}",
            worst <= 0.15 and max(slopes) <= 1.05,
        )
    return "\n".join(["| target (2 cores) | measured | met |", "|---|---|---|", *rows])


def prefect_text(p: dict) -> str:
    s, t, w, proc = p["shared"], p["temporary"], p["warm"], p.get("process_s")

    return "\n".join(
        [
            f"Tiny inbox ({p['n']} enterprises), `etsflow run --year 2022`, medians of {p['repeat']} interleaved "
            "rounds. 'Outside the stages' = wall − Σ stage times; it holds the served-file refresh (serve), "
            f"the Python process itself (start, imports, exit: {_f(proc, '{:.2f}')} s for the same stages "
            "called without Prefect in a fresh process) and Prefect (the median, over the rounds, of the "
            "difference with that process):",
            "",
            "| setup | wall s | Σ stages s | serve s | outside the stages s | − serve | − process = Prefect s |",
            "|---|---|---|---|---|---|---|",
            f"| fresh process, local shared server (default) | {_f(s['wall_s'], '{:.2f}')} | {_f(s['stages_s'], '{:.2f}')} | "
            f"{_f(s['serve_s'], '{:.2f}')} | {_f(s['outside_s'], '{:.2f}')} | {_f(s['prefect_s'], '{:.2f}')} | "
            f"{_f(s['overhead_s'], '{:.2f}')} |",
            f"| fresh process, Prefect temporary server (`ETSFLOW_PREFECT_SERVER=temporary`, the old default) | "
            f"{_f(t['wall_s'], '{:.2f}')} | {_f(t['stages_s'], '{:.2f}')} | {_f(t['serve_s'], '{:.2f}')} | "
            f"{_f(t['outside_s'], '{:.2f}')} | {_f(t['prefect_s'], '{:.2f}')} | {_f(t['overhead_s'], '{:.2f}')} |",
            f"| warm process (flow runs 2–{p.get('repeat', 3) + 1} in one process) | | | {_f(w['serve_s'], '{:.2f}')} | "
            f"{_f(w['outside_s'], '{:.2f}')} | {_f(w['prefect_s'], '{:.2f}')} | {_f(w['prefect_s'], '{:.2f}')} |",
        ]
    )


def environment() -> str:
    import duckdb
    import pandas
    import polars
    import prefect

    load = os.getloadavg()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} {os.cpu_count()} cores "
        f"(load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} at the end: the machine is shared, "
        f"figures are medians), Python {platform.python_version()}, prefect {prefect.__version__}, "
        f"polars {polars.__version__}, duckdb {duckdb.__version__}, pandas {pandas.__version__}"
    )


def write_results(path: Path, results: list[dict], prefect: dict | None, args, started: float) -> None:
    parts = [
        "# Scale benchmark results",
        "",
        f"Written by `benchmarks/run.py {' '.join(sys.argv[1:])}` — {environment()}; "
        f"benchmark took {(time.perf_counter() - started) / 60:.0f} min.",
        "",
        "What is measured is in the docstring of `benchmarks/run.py`; how to read it and what limits it "
        "in `docs/scaling.md`.",
        "",
    ]
    if results:
        reps = ", ".join(f"{r['n']:,}: {r['repeat']} (pandas {r['pandas_repeat']})" for r in results)
        parts += [
            f"## By size (synthetic {results[0]['form']} inbox, compliance year {YEAR}; runs per size {reps})",
            "",
            table(results),
            "",
            "Stage columns are seconds (`audit.stage_run`); 'serve' is the refresh of the served file "
            "after the stages; 'Prefect+process' is the rest of the wall time (Python start and exit, "
            "imports, Prefect flow and task runs). Peak RSS is the largest of the runs.",
            "",
            "### Against the I/O floor and the pandas reference",
            "",
            comparisons(results),
            "",
            "I/O floor: a fresh process in which DuckDB alone reads the inbox files and writes a new file in "
            "the served storage format — *served file*: the tables of the run's served file (raw, core, "
            "the year's marts, audit: the same rows, loaded untimed beforehand); *marts only*: the marts. "
            "'engine in memory' is the engine's path to the same allocation without warehouse or Prefect "
            "(read, validate, baselines, allocate in one fresh process); the pandas reference reads and "
            "allocates only. 'compute' columns leave out each process's start and imports.",
            "",
            "### Growth",
            "",
            growth(results) if len(results) > 1 else "(one size only)",
            "",
        ]
        for r in results:
            if r["mismatches"]["count"]:
                parts += [f"Mismatches at N = {r['n']:,} (first 10): `{r['mismatches']['first']}`", ""]
    if prefect:
        parts += ["## Prefect overhead", "", prefect_text(prefect), ""]
    if results:
        parts += ["## Targets", "", targets(results, prefect), ""]
    path.write_text("\n".join(parts), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES), help="comma-separated N")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (medians)")
    ap.add_argument(
        "--prefect-repeat", type=int, default=5, help="rounds of the Prefect overhead measurement"
    )
    ap.add_argument("--repeat-large", type=int, default=None, help="runs at N ≥ 100,000 [--repeat]")
    ap.add_argument(
        "--pandas-repeat-large", type=int, default=1, help="pandas runs at N ≥ 100,000 (0: not run)"
    )
    ap.add_argument("--form", choices=("parquet", "csv"), default="parquet")
    ap.add_argument("--seed", type=int, default=20261108)
    ap.add_argument("--only", choices=("sizes", "prefect"), default=None)
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/results.md")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results.md")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.child:
        kind, *rest = a.child
        fn = {
            "io-floor": child_io_floor,
            "pandas": child_pandas,
            "engine": child_engine,
            "no-prefect": child_no_prefect,
            "warm-prefect": child_warm_prefect,
        }[kind]
        if kind == "warm-prefect":
            rest[-1] = int(rest[-1])
        print(json.dumps(fn(*rest)), flush=True)
        # leave as `etsflow` does (etsflow.cli.main): without the interpreter's teardown, so that
        # every measured process ends alike
        sys.stderr.flush()
        os._exit(0)

    BENCH.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(msg, flush=True)

    # a first run starts the shared local Prefect server (and migrates a new Prefect home): not measured
    warm_inbox, _ = inbox_for(TINY, "parquet", a.seed)
    run_pipeline(warm_inbox, BENCH / "runs" / "warmup")
    results, prefect = [], None
    if a.only != "sizes":
        prefect = measure_prefect(a.seed, a.prefect_repeat, log)
    if a.only != "prefect":
        for n in (int(x) for x in a.sizes.split(",")):
            large = n >= 100_000
            repeat = (a.repeat_large or a.repeat) if large else a.repeat
            pandas_repeat = min(a.pandas_repeat_large, repeat) if large else repeat
            results.append(measure_size(n, a.form, a.seed, repeat, pandas_repeat, log))
        print()
        print(table(results))
        print()
        print(comparisons(results))
        print()
        print(growth(results) if len(results) > 1 else "")
    if prefect:
        print()
        print(prefect_text(prefect))
    if results:
        print()
        print(targets(results, prefect))
    if not a.no_write:
        write_results(a.results, results, prefect, a, started)
        print(f"\nwritten {a.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
