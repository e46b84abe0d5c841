"""Scale-out experiment: the same allocation transforms on enterprise-hash partitions, in parallel.

    .venv/bin/python benchmarks/partitioned.py --n 100000 --parts 2,4,8 --repeat 3

The allocation of a compliance year is independent per enterprise except the cap (rules.md §5:
Σ A_final over all enterprises). So the validated inputs are split by hash(enterprise_id) into P
partitions written as partitioned Parquet (`<folder>/<table>/part=<k>/data.parquet`, the layout an
inbox larger than one machine would arrive in), each partition runs the unchanged
`compute_baselines` + `allocate` in a worker, and the driver concatenates the lines and
enterprises and computes the cap over all of them (`transforms.allocate.cap_summary`). The result
is checked to be identical to the single-process allocation, then timed:

- `single`: one process, all enterprises (what `etsflow run` does);
- `processes`: a `ProcessPoolExecutor` with one worker per core;
- `dask`: a Prefect flow whose partition tasks run on `prefect_dask.DaskTaskRunner` over a local
  Dask cluster (one single-threaded worker process per core) — the same code runs on a remote
  Dask cluster (`DaskTaskRunner(address=...)`) when the Parquet partitions are on shared storage.

`prefect-dask` is not a project dependency: `pip install prefect-dask` into the venv to run the
Dask variant (it is skipped otherwise). Prints figures; no assertion but the equality check.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import polars as pl  # noqa: E402

from model import catalog  # noqa: E402

YEAR = 2022
TABLES = [t.name for t in catalog.INPUTS if t.name != "ledger"]  # the allocation does not read the ledger


def validated_core(n: int, seed: int):
    from benchmarks.run import inbox_for
    from ingest.read import read_inbox
    from policies import policy_for_year
    from validations.inputs import validate_inbox

    inbox, _ = inbox_for(n, "parquet", seed)
    return validate_inbox(read_inbox(inbox), policy_for_year(YEAR)).core


def write_partitions(core, folder: Path, parts: int) -> None:
    """`<folder>/<table>/part=<k>/data.parquet` by hash(enterprise_id) mod parts (the enterprise
    list is written whole to every partition: it is small and each needs its names)."""
    shutil.rmtree(folder, ignore_errors=True)
    for name in TABLES:
        df = getattr(core, name)
        key = (pl.col("enterprise_id").hash(seed=0) % parts).alias("_part")
        by_part = {} if name == "enterprises" else df.with_columns(key).partition_by("_part", as_dict=True)
        for k in range(parts):
            part = (
                df if name == "enterprises" else by_part.get((k,), df.clear().with_columns(key)).drop("_part")
            )
            path = folder / name / f"part={k}" / "data.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            part.write_parquet(path)


def allocate_part(folder: str, k: int, out: str) -> float:
    """Baselines and allocation of partition k (runs in a worker process); results as Parquet.
    Returns the seconds it took in the worker (reading, computing, writing)."""
    t0 = time.perf_counter()
    from policies import policy_for_year
    from transforms import CoreFrames
    from transforms.pool import allocation_for

    tables = {name: pl.read_parquet(Path(folder) / name / f"part={k}" / "data.parquet") for name in TABLES}
    result = allocation_for(CoreFrames.from_tables(tables), policy_for_year(YEAR))
    Path(out).mkdir(parents=True, exist_ok=True)
    result.lines.write_parquet(Path(out) / f"lines-{k}.parquet")
    result.enterprises.write_parquet(Path(out) / f"enterprises-{k}.parquet")
    return time.perf_counter() - t0


def combine(out: Path, parts: int):
    from policies import policy_for_year
    from transforms.allocate import Allocation, cap_summary

    lines = pl.concat([pl.read_parquet(out / f"lines-{k}.parquet") for k in range(parts)]).sort("line_id")
    ents = pl.concat([pl.read_parquet(out / f"enterprises-{k}.parquet") for k in range(parts)]).sort(
        "enterprise_id"
    )
    return Allocation(lines=lines, enterprises=ents, cap=cap_summary(ents, policy_for_year(YEAR)))


PART_SECONDS: dict[int, list[float]] = {}  # P → the partitions' own seconds of the last run


def run_processes(folder: Path, out: Path, parts: int, workers: int):
    # spawn, not fork: a forked child of a process that already ran Polars deadlocks in its thread pool
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        PART_SECONDS[parts] = list(
            pool.map(allocate_part, [str(folder)] * parts, range(parts), [str(out)] * parts)
        )
    return combine(out, parts)


def dask_flow():
    """The Prefect flow with a DaskTaskRunner (None when prefect-dask is not installed)."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        return None
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    part_task = task(allocate_part, name="allocate-partition", cache_policy=NO_CACHE)

    @flow(name="etsflow-partitioned-allocation", persist_result=False)
    def partitioned(folder: str, out: str, parts: int) -> None:
        futures = [part_task.submit(folder, k, out) for k in range(parts)]
        for f in futures:
            f.result()

    workers = os.cpu_count() or 2
    return partitioned.with_options(
        task_runner=DaskTaskRunner(
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            }
        )
    )


def same(a, b) -> bool:
    from polars.testing import assert_frame_equal

    try:
        for k in ("lines", "enterprises", "cap"):
            assert_frame_equal(
                getattr(a, k).sort(pl.all()),
                getattr(b, k).sort(pl.all()),
                check_exact=True,
                check_row_order=True,
            )
        return True
    except AssertionError as e:
        print(f"DIFFERENT: {str(e)[:500]}")
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--parts", default="2,4,8")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20261108)
    a = ap.parse_args(argv)

    from etsflow import settings

    settings.configure((REPO / "var" / "bench" / "var").resolve())
    from policies import policy_for_year
    from transforms.pool import allocation_for

    core = validated_core(a.n, a.seed)
    work = REPO / "var" / "bench" / "partitioned"
    print(
        f"N = {a.n:,}: {core.lines.height:,} lines, {core.line_years.height:,} line-years; {os.cpu_count()} cores"
    )

    def timed(fn) -> tuple[float, object]:
        t0 = time.perf_counter()
        r = fn()
        return time.perf_counter() - t0, r

    times: dict[str, list[float]] = {}
    single = None
    for _ in range(a.repeat):
        t, single = timed(lambda: allocation_for(core, policy_for_year(YEAR)))
        times.setdefault("single process", []).append(t)
    flow = dask_flow()
    for parts in (int(p) for p in a.parts.split(",")):
        folder, out = work / f"in-{parts}", work / f"out-{parts}"
        t, _ = timed(lambda: write_partitions(core, folder, parts))  # noqa: B023
        print(f"P = {parts}: partitioned Parquet written in {t:.2f} s", flush=True)
        for _ in range(a.repeat):
            shutil.rmtree(out, ignore_errors=True)
            t, r = timed(lambda: run_processes(folder, out, parts, os.cpu_count() or 2))  # noqa: B023
            times.setdefault(f"processes, P = {parts}", []).append(t)
            assert same(r, single), "partitioned result differs"
            if flow is not None:
                shutil.rmtree(out, ignore_errors=True)
                t, _ = timed(lambda: flow(str(folder), str(out), parts))  # noqa: B023
                r = combine(out, parts)
                times.setdefault(f"Prefect + DaskTaskRunner, P = {parts}", []).append(t)
                assert same(r, single), "partitioned (Dask) result differs"
    print("\n| variant | median s | runs |\n|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {statistics.median(v):.2f} | {', '.join(f'{x:.2f}' for x in v)} |")
    print(
        "\npartitions' own seconds in the last process-pool run (worker time; the wall of P workers on P cores"
    )
    print("would be about the largest one plus start-up and the combine):")
    for parts, secs in PART_SECONDS.items():
        each = ", ".join(f"{x:.2f}" for x in secs)
        print(f"  P = {parts}: largest {max(secs):.2f} s, sum {sum(secs):.2f} s, each {each}")
    print(
        "\nevery partitioned result is identical to the single-process allocation (lines, enterprises, cap)"
    )
    if flow is None:
        print("(prefect-dask not installed: Dask variant skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
