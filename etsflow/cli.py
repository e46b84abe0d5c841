"""The `etsflow` command line (contract §3).

Exit codes: 0 success, 2 invalid input (bad files or rule pack), 1 any other failure; always a
one-paragraph message on stderr. Prefect is imported only inside commands, after its quiet
offline settings are in place.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import typer
from rich.console import Console

from etsflow import settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Emissions trading allocation pipeline.")
out = Console()
err = Console(stderr=True)
SAMPLE_YEARS = (2021, 2022, 2023)


def _default_warehouse() -> Path:
    return settings.var_dir() / "warehouse.duckdb"


def _fail(code: int, message: str) -> None:
    err.print(message, soft_wrap=True, highlight=False, markup=False)
    raise typer.Exit(code)


def execute(
    year: int,
    inbox: Path,
    warehouse: Path,
    policy: Path | None,
    as_of: date | None,
    from_stage: str,
    allow_quarantine: bool,
) -> dict:
    """Run the flow; a failed run exits with its code and one-paragraph message."""
    settings.configure()
    from flows.annual import annual_run

    state = annual_run(
        year=year,
        inbox=str(inbox),
        warehouse=str(warehouse),
        policy=str(policy) if policy else None,
        as_of=as_of,
        from_stage=from_stage,
        allow_quarantine=allow_quarantine,
        return_state=True,
    )
    summary = state.result(raise_on_failure=False)
    if not isinstance(summary, dict):  # the engine itself failed before our flow body ran
        _fail(1, f"Run for {year} failed in Prefect: {state.message}")
    if summary["exit_code"]:
        _fail(summary["exit_code"], summary["error"])
    return summary


def _report(summary: dict, elapsed: float) -> None:
    stages = ", ".join(f"{k} {v['rows']:,} rows" for k, v in summary["stages"].items())
    out.print(
        f"[bold]{summary['year']}[/] run {summary['run_id']} ({summary['policy']}): {stages} "
        f"— {elapsed:.1f} s"
    )
    if summary["provisional"]:
        out.print(
            f"[yellow]Provisional parameters (placeholders, confirm and pass --policy FILE): "
            f"{', '.join(summary['provisional'])}[/]"
        )
    for note in summary["notes"]:
        out.print(f"  note: {note}")


@app.command()
def run(
    year: int = typer.Option(..., "--year", help="Compliance year."),
    inbox: Path = typer.Option(..., "--inbox", help="Inbox folder (contract §1)."),
    warehouse: Path = typer.Option(None, "--warehouse", help="Served DuckDB file [var/warehouse.duckdb]."),
    policy: Path = typer.Option(None, "--policy", help="Rule pack TOML [the bundled pack of the year]."),
    as_of: str = typer.Option(None, "--as-of", help="Clearance status as of this date (YYYY-MM-DD) [today]."),
    from_stage: str = typer.Option(
        "ingest", "--from-stage", help="Start from this stage, reusing earlier outputs."
    ),
    allow_quarantine: bool = typer.Option(
        False, "--allow-quarantine", help="Allocate the enterprises not touched by quarantined rows."
    ),
) -> None:
    """Run the annual pipeline for one compliance year."""
    try:
        d = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _fail(2, f"--as-of {as_of!r} is not a date (YYYY-MM-DD).")
    t0 = time.perf_counter()
    summary = execute(year, inbox, warehouse or _default_warehouse(), policy, d, from_stage, allow_quarantine)
    _report(summary, time.perf_counter() - t0)


@app.command()
def demo(
    warehouse: Path = typer.Option(None, "--warehouse", help="Served DuckDB file [var/warehouse.duckdb]."),
) -> None:
    """Run every sample year on the embedded inbox data/sample into the default warehouse."""
    wh = warehouse or _default_warehouse()
    out.print(f"Demo: embedded sample inbox {settings.SAMPLE_INBOX} → {wh}")
    for year in SAMPLE_YEARS:
        t0 = time.perf_counter()
        summary = execute(year, settings.SAMPLE_INBOX, wh, None, None, "ingest", False)
        _report(summary, time.perf_counter() - t0)
    out.print(f"Open the warehouse read-only: duckdb -readonly {wh}")


def main() -> None:  # pragma: no cover
    sys.exit(app())
