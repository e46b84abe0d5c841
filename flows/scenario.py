"""`etsflow scenario run` as a Prefect flow whose tasks fan out on a Dask cluster (contract §6).

    inputs (once) ──► baselines (once per group of scenarios sharing them) ──► chunks of scenarios

The flow reads the year's validated inputs (the inbox, validated as `etsflow run` does, or the
inputs the year's last run validated), builds every scenario's rule pack, submits one task that
holds the inputs, one baselines task per group of scenarios that share their baseline
parameters, and one task per chunk of `chunk_size` scenarios (`transforms.scenarios.allocate_many`:
all the chunk's allocations in one statement). With the Dask task runner a task's inputs that are
futures of other tasks travel worker to worker, once per worker, never back through this process;
only each chunk's result (its enterprises and summary rows) comes back here, where the rows are
compared with the official publication and written to `scenario.*` through the warehouse (work
database, then the served file swapped). The results do not depend on the cluster: each chunk is
a pure function of its scenarios, and rows are ordered by scenario and enterprise.

Task runner: `--dask-address` connects to an existing cluster (its workers need etsflow installed
and `PREFECT_API_URL` pointing at a Prefect server they can reach); otherwise a local cluster of
`workers` processes, started by `spawn` (Dask workers forked after Polars has run can deadlock),
one thread each; `workers = 0` runs the tasks in this process (Prefect's thread pool).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from etsflow import catalog
from policies import Policy
from transforms import CoreFrames
from transforms.engine import baselines_of
from transforms.scenarios import Scenario, ScenarioResults, allocate_many, baseline_key


class NotPublished(Exception):
    """The year has no official publication to compare with (exit 2)."""


@dataclass(frozen=True)
class Official:
    """The publication a scenario is compared with."""

    run_id: str
    version: int | None
    enterprises: pl.DataFrame  # enterprise_id, sector_label, allocation_final_t
    cap: dict


def official_of(served: Path, year: int) -> Official:
    """The year's published allocation in the served file: the run that published it (latest
    succeeded publish of the year in audit.stage_run) and its version when the warehouse keeps
    versions (`mart.allocation_version`, contract §5)."""
    from warehouse.store import read_published

    if not served.exists():
        raise NotPublished(f"{served} does not exist: run `etsflow run --year {year}` first")
    y = int(year)
    runs = read_published(
        served,
        "SELECT r.run_id FROM audit.pipeline_run AS r JOIN audit.stage_run AS s USING (run_id) "
        "WHERE r.compliance_year = ? AND s.stage = 'publish' AND s.status = 'succeeded' "
        "ORDER BY s.finished_at DESC LIMIT 1",
        [y],
    )
    ents = read_published(
        served,
        "SELECT enterprise_id, sector_label, allocation_final_t FROM mart.allocation_enterprise "
        "WHERE compliance_year = ? ORDER BY enterprise_id",
        [y],
    )
    if not runs.height or not ents.height:
        raise NotPublished(
            f"compliance year {y} is not published in {served}: run `etsflow run --year {y}` first "
            "(scenarios are compared with the official allocation)"
        )
    has_versions = read_published(
        served,
        "SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = 'mart' AND table_name = 'allocation_version'",
    )["n"][0]
    version = None
    if has_versions:
        v = read_published(
            served, "SELECT max(version) AS v FROM mart.allocation_version WHERE compliance_year = ?", [y]
        )["v"][0]
        version = int(v) if v is not None else None
    cap = read_published(served, "SELECT * FROM mart.cap_summary WHERE compliance_year = ?", [y]).row(
        0, named=True
    )
    return Official(run_id=runs["run_id"][0], version=version, enterprises=ents, cap=cap)


# ---- tasks (each a pure function; they run on the cluster's workers) ---------------------------------
@task(name="scenario-inputs", cache_policy=NO_CACHE)
def hold_inputs(core: CoreFrames) -> CoreFrames:
    """The validated inputs, sent to the cluster once; later tasks take them from there."""
    return core


@task(name="scenario-baselines", cache_policy=NO_CACHE)
def group_baselines(core: CoreFrames, policy: Policy) -> pl.DataFrame:
    return baselines_of(core, policy)


@task(name="scenario-chunk", cache_policy=NO_CACHE)
def allocate_chunk(core: CoreFrames, baselines: pl.DataFrame, scenarios: list[Scenario]) -> ScenarioResults:
    return allocate_many(baselines, core, scenarios)


def chunked(scenarios: list[Scenario], size: int) -> list[list[Scenario]]:
    return [scenarios[i : i + size] for i in range(0, len(scenarios), size)]


def default_chunk_size(n: int, workers: int) -> int:
    """About two chunks per worker (one running, one queued), at least 50 scenarios a chunk."""
    return max(50, math.ceil(n / (2 * max(1, workers))))


@flow(name="etsflow-scenario-sweep", persist_result=False, log_prints=False, validate_parameters=False)
def sweep(core: CoreFrames, scenarios: list[Scenario], chunk_size: int) -> ScenarioResults:
    """Every scenario's allocation, fanned out on the flow's task runner."""
    held = hold_inputs.submit(core)
    groups: dict[str, list[Scenario]] = {}
    for s in scenarios:
        groups.setdefault(baseline_key(s.policy), []).append(s)
    futures = []
    for group in groups.values():
        baselines = group_baselines.submit(held, group[0].policy)
        futures += [allocate_chunk.submit(held, baselines, chunk) for chunk in chunked(group, chunk_size)]
    parts = [f.result() for f in futures]
    return ScenarioResults(
        enterprises=pl.concat([p.enterprises for p in parts]).sort("scenario_index", "enterprise_id"),
        summary=pl.concat([p.summary for p in parts]).sort("scenario_index"),
    )


def task_runner(address: str | None, workers: int):
    """Dask: an existing cluster at `address`, else a local cluster of `workers` processes
    (spawned, one thread each); `workers = 0`: this process, Prefect's thread pool."""
    if not address and workers == 0:
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=1)
    import dask
    from prefect_dask import DaskTaskRunner

    dask.config.set({"distributed.worker.multiprocessing-method": "spawn", "logging.distributed": "error"})
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


# ---- the rows of scenario.* ---------------------------------------------------------------------------
def scenario_frames(
    name: str,
    year: int,
    base: Policy,
    scenarios: list[Scenario],
    results: ScenarioResults,
    official: Official,
    inputs: str,
) -> dict[str, pl.DataFrame]:
    """The four tables of contract §6 for these scenarios, every row with its parameters and the
    official publication it is compared with."""
    from warehouse.store import now

    ident = pl.DataFrame(
        {
            "scenario_index": [s.index for s in scenarios],
            "scenario_id": [f"{name}:{s.index}" for s in scenarios],
            "scenario_name": [name] * len(scenarios),
            "compliance_year": [int(year)] * len(scenarios),
            "parameters": [s.parameters for s in scenarios],
            "official_run_id": [official.run_id] * len(scenarios),
            "official_version": [official.version] * len(scenarios),
        },
        schema={
            "scenario_index": pl.Int64,
            "scenario_id": pl.String,
            "scenario_name": pl.String,
            "compliance_year": pl.Int64,
            "parameters": pl.String,
            "official_run_id": pl.String,
            "official_version": pl.Int64,
        },
    )
    created = now()
    provisional_left = pl.DataFrame(
        {
            "scenario_index": [s.index for s in scenarios],
            "provisional_parameters": [", ".join(s.policy.provisional_params()) for s in scenarios],
        },
        schema={"scenario_index": pl.Int64, "provisional_parameters": pl.String},
    )
    run = (
        ident.rename({"scenario_name": "name"})
        .join(results.summary.select("scenario_index", "provisional"), on="scenario_index")
        .join(provisional_left, on="scenario_index")
        .with_columns(
            base_policy_version=pl.lit(base.version), inputs=pl.lit(inputs), created_at=pl.lit(created)
        )
    )
    official_ents = official.enterprises.select(
        "enterprise_id",
        pl.col("sector_label").alias("official_sector_label"),
        pl.col("allocation_final_t").alias("official_allocation_final_t"),
    )
    # who is on either side: every scenario's enterprises against every official one
    official_x = ident.select("scenario_index").join(official_ents, how="cross")
    delta = (
        results.enterprises.select("scenario_index", "enterprise_id", "sector_label", "allocation_final_t")
        .join(official_x, on=["scenario_index", "enterprise_id"], how="full", coalesce=True)
        .with_columns(
            sector_label=pl.coalesce("sector_label", "official_sector_label"),
            delta_t=pl.col("allocation_final_t").fill_null(0)
            - pl.col("official_allocation_final_t").fill_null(0),
        )
        .join(ident, on="scenario_index")
        .sort("scenario_index", "enterprise_id")
    )
    frames = {
        "run": run,
        "allocation_enterprise": results.enterprises.join(ident, on="scenario_index"),
        "summary": results.summary.join(ident, on="scenario_index"),
        "delta_enterprise": delta,
    }
    tables = {t.name: t for t in catalog.SCENARIOS}
    return {
        k: df.sort("scenario_index").select([pl.col(c.name).cast(c.polars_type) for c in tables[k].columns])
        for k, df in frames.items()
    }


def run_scenarios(
    name: str,
    year: int,
    core: CoreFrames,
    base: Policy,
    scenarios: list[Scenario],
    official: Official,
    inputs: str,
    warehouse: Path,
    address: str | None,
    workers: int,
    chunk_size: int | None = None,
) -> dict:
    """Compute the scenarios on the task runner and write them to the served warehouse."""
    from warehouse import Warehouse

    t0 = time.perf_counter()
    size = chunk_size or default_chunk_size(len(scenarios), workers)
    results = sweep.with_options(task_runner=task_runner(address, workers))(core, scenarios, size)
    t_compute = time.perf_counter() - t0
    frames = scenario_frames(name, year, base, scenarios, results, official, inputs)
    wh = Warehouse(warehouse)
    with wh.connect() as con:
        rows = wh.write_scenarios(con, name, frames)
        wh.serve(con)
    return {
        "name": name,
        "year": year,
        "scenarios": len(scenarios),
        "chunks": math.ceil(len(scenarios) / size),
        "baseline_groups": len({baseline_key(s.policy) for s in scenarios}),
        "rows": rows,
        "compute_s": t_compute,
        "total_s": time.perf_counter() - t0,
        "official_run_id": official.run_id,
        "official_version": official.version,
        "summary": frames["summary"],
        "official_cap": official.cap,
    }


def inputs_description(inbox: Path | None, file_hashes: dict | None, stored_run: str | None) -> str:
    if inbox is not None:
        return json.dumps(
            {"inbox": str(inbox), "files": file_hashes or {}}, ensure_ascii=False, sort_keys=True
        )
    return json.dumps({"validated_by_run": stored_run})
