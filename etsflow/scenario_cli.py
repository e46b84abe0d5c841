"""`etsflow scenario …` (contract §6): what-if allocations for policy staff.

    etsflow scenario run NAME --year Y [--set KEY=VALUE …] [--sweep KEY=START:STOP:STEP …]
                         [--policy FILE] [--inbox DIR] [--warehouse FILE] [--dask-address ADDR]
    etsflow scenario report NAME      etsflow scenario list      etsflow scenario drop NAME

Exit 0 success, 2 invalid request (unknown parameter, a value of the wrong type, a bad sweep, an
inbox with quarantined rows, a year not published), 1 any other failure; one paragraph on stderr.
Heavy modules are imported inside the commands (the CLI starts fast).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from etsflow import settings

scenario_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="What-if allocations under changed rule-pack parameters (never touching mart.*).",
)
out = Console()
err = Console(stderr=True)


def _fail(code: int, message: str) -> None:
    err.print(message, soft_wrap=True, highlight=False, markup=False)
    raise typer.Exit(code)


def _warehouse(warehouse: Path | None) -> Path:
    return (warehouse or settings.var_dir() / "warehouse.duckdb").resolve()


def _check_name(name: str) -> None:
    if not name.strip() or ":" in name or name != name.strip():
        _fail(2, f"scenario name {name!r}: give a non-empty name without ':' or surrounding spaces.")


@scenario_app.command("run")
def run(
    name: str = typer.Argument(..., help="Scenario name; a run replaces the scenarios of this name."),
    year: int = typer.Option(
        ..., "--year", help="Compliance year (its official allocation must be published)."
    ),
    set_: list[str] = typer.Option(
        None, "--set", help="KEY=VALUE: a rule-pack parameter (k_intensity, benchmarks.cement_clinker, …)."
    ),
    sweep: list[str] = typer.Option(
        None, "--sweep", help="KEY=START:STOP:STEP, both ends included; several sweeps: every combination."
    ),
    policy: Path = typer.Option(None, "--policy", help="Base rule pack TOML [the bundled pack of the year]."),
    inbox: Path = typer.Option(
        None,
        "--inbox",
        help="Validate this inbox [the inputs the year's last run validated, stored beside the warehouse].",
    ),
    warehouse: Path = typer.Option(None, "--warehouse", help="Served DuckDB file [var/warehouse.duckdb]."),
    dask_address: str = typer.Option(
        None, "--dask-address", help="Scheduler of an existing Dask cluster, e.g. tcp://10.0.0.5:8786."
    ),
    workers: int = typer.Option(
        2, "--workers", min=0, help="Processes of the local Dask cluster (0: no cluster, this process)."
    ),
    chunk_size: int = typer.Option(
        None, "--chunk-size", min=1, help="Scenarios per task [about two chunks per worker, ≥ 50]."
    ),
) -> None:
    """Allocate the year under changed parameters: every combination of the sweeps, with the sets."""
    t0 = time.perf_counter()
    _check_name(name)
    from policies import PolicyError
    from transforms.scenarios import ScenarioError

    served = _warehouse(warehouse)
    sets, sweeps = list(set_ or []), list(sweep or [])
    settings.configure()
    from flows.scenario import InvalidRequest, build_scenarios, official_of, scenario_run, task_runner
    from warehouse.store import WarehouseBusy

    try:  # refuse a bad request before any cluster starts
        base, scenarios = build_scenarios(name, year, str(policy) if policy else None, sets, sweeps)
        official_of(served, year)
    except (PolicyError, ScenarioError, InvalidRequest) as e:
        _fail(2, f"Invalid scenario: {e}")
    from transforms.scenarios import unused_keys

    if unused := unused_keys(base, scenarios):
        out.print(
            f"note: {', '.join(unused)} change(s) nothing the allocation reads (scenarios allocate only; "
            "clearance parameters have no effect here).",
            highlight=False,
            soft_wrap=True,
        )
    try:
        done = scenario_run.with_options(task_runner=task_runner(dask_address, workers))(
            name=name,
            year=year,
            warehouse=str(served),
            sets=sets,
            sweeps=sweeps,
            policy=str(policy) if policy else None,
            inbox=str(inbox) if inbox else None,
            workers=workers,
            chunk_size=chunk_size,
        )
    except (PolicyError, ScenarioError, InvalidRequest) as e:
        _fail(2, f"Invalid scenario: {e}")
    except WarehouseBusy as e:
        _fail(1, str(e))
    except Exception as e:  # the cluster, a worker, the warehouse: one paragraph, exit 1
        _fail(1, f"Scenario run {name} failed: {type(e).__name__}: {e}")
    if done["stored_run"] is not None and done["stored_run"] != done["official_run_id"]:
        out.print(
            f"note: the stored inputs were validated by run {done['stored_run']}, the official allocation was "
            f"published by run {done['official_run_id']}; pass --inbox to be sure both saw the same files.",
            highlight=False,
            soft_wrap=True,
        )
    s = done["summary"]
    cap = done["official_cap"]
    where = (
        f"Dask {dask_address}"
        if dask_address
        else f"a local Dask cluster of {workers}"
        if workers
        else "this process"
    )
    out.print(
        f"[bold]{name}[/] {year}: {done['scenarios']:,} scenario(s) in {done['chunks']} task(s), "
        f"{done['baseline_groups']} baseline group(s), on {where} — inputs {done['inputs_s']:.1f} s, "
        f"allocations {done['compute_s']:.1f} s, {time.perf_counter() - t0:.1f} s in all; "
        f"{done['rows']:,} rows in scenario.* of {served}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"official (run {done['official_run_id']}): total cap {cap['total_cap_t']:,} t, reserve {cap['reserve_t']:,} t; "
        f"scenarios: total cap {s['total_cap_t'].min():,}–{s['total_cap_t'].max():,} t, "
        f"reserve {s['reserve_t'].min():,}–{s['reserve_t'].max():,} t, "
        f"units with a gap {s['units_with_gap'].min()}–{s['units_with_gap'].max()}",
        highlight=False,
        soft_wrap=True,
    )
    if s["provisional"].any():
        out.print(
            "[yellow]Some scenarios use provisional parameters of the pack that they did not set "
            "(scenario.run.provisional_parameters).[/]"
        )
    out.print(f"Report: etsflow scenario report {name}", highlight=False)


@scenario_app.command("list")
def list_(
    warehouse: Path = typer.Option(None, "--warehouse", help="Served DuckDB file [var/warehouse.duckdb]."),
) -> None:
    """The scenario runs in the served warehouse."""
    from warehouse import read

    served = _warehouse(warehouse)
    if not served.exists():
        _fail(1, f"No warehouse at {served}: run `etsflow run` (or `etsflow demo`) first.")
    with read.served_file(served) as con:
        rows = read.scenario_names(con)
    if rows.height == 0:
        out.print(f"No scenarios in {served}.", highlight=False)
        return
    for r in rows.iter_rows(named=True):
        out.print(
            f"[bold]{r['name']}[/] {r['compliance_year']}: {r['scenarios']:,} scenario(s), "
            f"{r['created_at']:%Y-%m-%d %H:%M:%S} UTC, against run {r['official_run_id']}"
            + (" [yellow](provisional)[/]" if r["provisional"] else ""),
            highlight=False,
            soft_wrap=True,
        )


@scenario_app.command("drop")
def drop(
    name: str = typer.Argument(..., help="Scenario name."),
    warehouse: Path = typer.Option(None, "--warehouse", help="Served DuckDB file [var/warehouse.duckdb]."),
) -> None:
    """Delete a scenario run from scenario.* (work database, then the served file swapped)."""
    from warehouse import Warehouse
    from warehouse.store import PublicationShrinks, WarehouseBusy

    served = _warehouse(warehouse)
    if not served.exists():
        _fail(1, f"No warehouse at {served}.")
    wh = Warehouse(served)
    try:
        with wh.connect() as con:
            n = wh.drop_scenario(con, name)
            if n:
                wh.serve(con)
    except (WarehouseBusy, PublicationShrinks) as e:
        _fail(1, str(e))
    if not n:
        _fail(2, f"No scenario named {name!r} in {served} (see `etsflow scenario list`).")
    out.print(f"Dropped scenario {name}: {n:,} scenario(s).", highlight=False)


@scenario_app.command("report")
def report(
    name: str = typer.Argument(..., help="Scenario name."),
    warehouse: Path = typer.Option(None, "--warehouse", help="Served DuckDB file [var/warehouse.duckdb]."),
    out_file: Path = typer.Option(None, "--out", help="HTML file [var/out/scenarios/<name>.html]."),
) -> None:
    """One offline HTML page: cap, reserve and gap against the swept parameters, winners and losers
    by sector, a row per scenario."""
    from exports.scenario_report import render_scenario_report, write_scenario_report
    from warehouse import read

    served = _warehouse(warehouse)
    if not served.exists():
        _fail(1, f"No warehouse at {served}.")
    with read.served_file(served) as con:
        scenario = read.scenario_tables(con, name)
        if scenario is None:
            _fail(2, f"No scenario named {name!r} in {served} (see `etsflow scenario list`).")
        year = int(scenario["run"]["compliance_year"][0])
        cap = read.cap_summary(con, year)
        gap = read.total_gap(con, year)
    html = render_scenario_report(
        name,
        scenario["run"].sort(pl_index(scenario["run"])),
        scenario["summary"],
        scenario["delta_enterprise"],
        cap or {},
        gap,
    )
    path = out_file or settings.var_dir() / "out" / "scenarios" / f"{name}.html"
    write_scenario_report(html, path)
    out.print(f"Scenario report: {path}", highlight=False)


def pl_index(run_rows):
    """Sort key: the scenario number of `<name>:<n>`."""
    import polars as pl

    return pl.col("scenario_id").str.split(":").list.last().cast(pl.Int64)
