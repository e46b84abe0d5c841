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

import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from model import catalog
from policies import Policy
from transforms import CoreFrames
from transforms.engine import baselines_of
from transforms.scenarios import Scenario, ScenarioResults, allocate_many, baseline_key


class InvalidRequest(Exception):
    """The request cannot be computed as given: the year is not published, the inputs are not
    valid or not stored (exit 2; the message says what to do)."""


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
    from warehouse import read

    if not served.exists():
        raise InvalidRequest(f"{served} does not exist: run `etsflow run --year {year}` first")
    y = int(year)
    with read.served_file(served) as con:
        run_id, ents = read.publishing_run(con, y), read.enterprise_allocations(con, y)
        if run_id is None or not ents.height:
            raise InvalidRequest(
                f"compliance year {y} is not published in {served}: run `etsflow run --year {y}` first "
                "(scenarios are compared with the official allocation)"
            )
        current = read.current_version(con, y) if read.keeps_versions(con) else None
        cap = read.cap_summary(con, y)
    return Official(
        run_id=run_id, version=int(current["version"]) if current else None, enterprises=ents, cap=cap
    )


# ---- tasks (each a pure function; they run on the cluster's workers) ---------------------------------
@task(name="scenario-inputs", cache_policy=NO_CACHE)
def hold_inputs(core: CoreFrames) -> CoreFrames:
    """The validated inputs, sent to the cluster once; later tasks take them from there."""
    return core


@task(name="scenario-baselines", cache_policy=NO_CACHE)
def group_baselines(core: CoreFrames, policy: Policy) -> pl.DataFrame:
    return baselines_of(core, policy)


class Chunk:
    """Scenarios of one task, opaque to Prefect: a list of packs as a task parameter is walked
    object by object looking for futures (seconds for 500 packs), and Prefect's `quote()` did not
    survive the Dask task runner (the worker received a tuple)."""

    __slots__ = ("scenarios",)

    def __init__(self, scenarios: list[Scenario]):
        self.scenarios = scenarios

    def __getstate__(self):
        return self.scenarios

    def __setstate__(self, state):
        self.scenarios = state


def packed(results: ScenarioResults) -> tuple[bytes, bytes]:
    """A chunk's result as it travels back: Arrow IPC, zstd (250 scenarios of the sample: 0.5 MB
    instead of 18 MB pickled — every enterprise row repeats per scenario)."""
    out = []
    for df in (results.enterprises, results.summary):
        buf = io.BytesIO()
        df.write_ipc(buf, compression="zstd")
        out.append(buf.getvalue())
    return out[0], out[1]


def unpacked(data: tuple[bytes, bytes]) -> ScenarioResults:
    return ScenarioResults(
        enterprises=pl.read_ipc(io.BytesIO(data[0])), summary=pl.read_ipc(io.BytesIO(data[1]))
    )


@task(name="scenario-chunk", cache_policy=NO_CACHE)
def allocate_chunk(core: CoreFrames, baselines: pl.DataFrame, chunk: Chunk) -> tuple[bytes, bytes]:
    return packed(allocate_many(baselines, core, chunk.scenarios))


def chunked(scenarios: list[Scenario], size: int) -> list[list[Scenario]]:
    return [scenarios[i : i + size] for i in range(0, len(scenarios), size)]


def default_chunk_size(n: int, workers: int) -> int:
    """About two chunks per worker (one running, one queued), at least 50 scenarios a chunk."""
    return max(50, math.ceil(n / (2 * max(1, workers))))


def fan_out(core: CoreFrames, scenarios: list[Scenario], chunk_size: int) -> ScenarioResults:
    """Every scenario's allocation, as tasks on the running flow's task runner."""
    held = hold_inputs.submit(core)
    futures = []
    for group in _groups(scenarios).values():
        baselines = group_baselines.submit(held, group[0].policy)
        futures += [allocate_chunk.submit(held, baselines, Chunk(c)) for c in chunked(group, chunk_size)]
    parts = [unpacked(f.result()) for f in futures]
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
    import logging

    import dask
    from prefect_dask import DaskTaskRunner

    dask.config.set({"distributed.worker.multiprocessing-method": "spawn"})
    logging.getLogger("distributed").setLevel(logging.ERROR)  # its start/stop chatter is not ours
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": ":0",  # any free port: other clusters may hold 8787
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


def load_inputs(
    year: int, base: Policy, inbox: Path | None, served: Path
) -> tuple[CoreFrames, str, str | None]:
    """The year's validated inputs, where they came from, and the run that validated them (None
    for an inbox): the inbox validated as `etsflow run` validates it (a quarantined row refuses
    the request), or without an inbox the inputs the year's last run validated (stage outputs
    `core_<table>` beside the warehouse, trusted only with their cache record)."""
    from warehouse import Warehouse

    if inbox is not None:
        from flows.stages import quarantine_summary
        from ingest.read import read_inbox
        from validations.inputs import validate_inbox

        if not Path(inbox).is_dir():
            raise InvalidRequest(f"--inbox {inbox}: not a folder")
        read = read_inbox(Path(inbox))
        result = validate_inbox(read, base)
        if result.quarantine.height:
            raise InvalidRequest(quarantine_summary(result.quarantine, served))
        return result.core, inputs_description(Path(inbox).resolve(), read.file_hashes, None), None
    wh = Warehouse(served)
    record = wh.cache_entries(year).get("validate")
    if record is None:
        raise InvalidRequest(
            f"no validated inputs of {year} are stored beside {served} (no run of {year} validated them, "
            "or its stage files were removed): pass --inbox DIR"
        )
    core = CoreFrames.from_tables(wh.read_core(year))
    return core, inputs_description(None, None, record["run_id"]), record["run_id"]


def build_scenarios(name: str, year: int, policy: str | None, sets: list[str], sweeps: list[str]):
    """The base pack and every scenario of the request (ScenarioError/PolicyError: exit 2)."""
    from policies import policy_for_year
    from transforms.scenarios import combinations, parse_set, parse_sweep, scenarios_of

    base = policy_for_year(year, policy)
    changes = combinations(dict(parse_set(s) for s in sets), [parse_sweep(s) for s in sweeps])
    return base, scenarios_of(base, changes, origin=f"scenario {name}")


@flow(name="etsflow-scenario-run", persist_result=False, log_prints=False)
def scenario_run(
    name: str,
    year: int,
    warehouse: str,
    sets: list[str],
    sweeps: list[str],
    policy: str | None = None,
    inbox: str | None = None,
    workers: int = 2,
    chunk_size: int | None = None,
) -> dict:
    """`etsflow scenario run`: build the scenarios, read the inputs, fan the allocations out on
    this flow's task runner (`task_runner`), compare with the official publication and write
    `scenario.*` (work database, then the served file swapped). Returns a summary."""
    from warehouse import Warehouse

    t0 = time.perf_counter()
    served = Path(warehouse)
    base, scenarios = build_scenarios(name, year, policy, sets, sweeps)
    official = official_of(served, year)
    core, inputs, stored_run = load_inputs(year, base, Path(inbox) if inbox else None, served)
    t_inputs = time.perf_counter() - t0
    size = chunk_size or default_chunk_size(len(scenarios), workers)
    results = fan_out(core, scenarios, size)
    t_compute = time.perf_counter() - t0 - t_inputs
    frames = scenario_frames(name, year, base, scenarios, results, official, inputs)
    wh = Warehouse(served)
    with wh.connect() as con:
        rows = wh.write_scenarios(con, name, frames)
        wh.serve(con)
    return {
        "name": name,
        "year": year,
        "scenarios": len(scenarios),
        "chunks": sum(math.ceil(len(g) / size) for g in _groups(scenarios).values()),
        "baseline_groups": len(_groups(scenarios)),
        "rows": rows,
        "inputs_s": t_inputs,
        "compute_s": t_compute,
        "total_s": time.perf_counter() - t0,
        "official_run_id": official.run_id,
        "official_version": official.version,
        "stored_run": stored_run,
        "summary": frames["summary"],
        "official_cap": official.cap,
    }


def _groups(scenarios: list[Scenario]) -> dict[str, list[Scenario]]:
    groups: dict[str, list[Scenario]] = {}
    for s in scenarios:
        groups.setdefault(baseline_key(s.policy), []).append(s)
    return groups


def inputs_description(inbox: Path | None, file_hashes: dict | None, stored_run: str | None) -> str:
    if inbox is not None:
        return json.dumps(
            {"inbox": str(inbox), "files": file_hashes or {}}, ensure_ascii=False, sort_keys=True
        )
    return json.dumps({"validated_by_run": stored_run})
