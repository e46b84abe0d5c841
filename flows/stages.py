"""The six stages of the annual run, as wiring: read from the warehouse, call a pure transform,
write through the warehouse. No business rule lives here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from etsflow import catalog
from ingest.read import Inbox, read_inbox
from policies import Policy
from transforms import CoreFrames
from validations.inputs import validate_inbox
from warehouse import Warehouse

STAGES = ("ingest", "validate", "baselines", "allocate", "clearance", "publish")


class InvalidInput(Exception):
    """Input data broke the contract; the message is the summary for the user (exit code 2)."""


@dataclass
class RunContext:
    run_id: str
    year: int
    inbox: Path
    wh: Warehouse
    con: duckdb.DuckDBPyConnection
    policy: Policy
    as_of: date
    allow_quarantine: bool = False
    out_dir: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StageOutcome:
    rows_out: int
    message: str = ""


def _core(ctx: RunContext) -> CoreFrames:
    return CoreFrames.from_tables({t.name: ctx.wh.read(ctx.con, t.qualified) for t in catalog.INPUTS})


def ingest(ctx: RunContext) -> StageOutcome:
    inbox = read_inbox(ctx.inbox)
    ctx.con.execute("BEGIN")
    try:
        for name, df in inbox.tables.items():
            ctx.wh.replace_table(ctx.con, f"raw.{name}", df)
        ctx.wh.replace_table(ctx.con, "raw.files", inbox.manifest)
        ctx.con.execute("COMMIT")
    except BaseException:
        ctx.con.execute("ROLLBACK")
        raise
    ctx.wh.update_run(ctx.con, ctx.run_id, input_hashes=json.dumps(inbox.file_hashes, ensure_ascii=False))
    files = inbox.manifest.height
    rows = sum(df.height for df in inbox.tables.values())
    return StageOutcome(rows, f"{files} files/sheets, {rows} rows read")


def _inbox_from_raw(ctx: RunContext) -> Inbox:
    tables = {
        name: ctx.wh.read(ctx.con, f"raw.{name}")
        for name in ("enterprises", "lines", "line_years", "enterprise_years", "attributes", "ledger")
    }
    return Inbox(tables=tables, manifest=ctx.wh.read(ctx.con, "raw.files"))


def validate(ctx: RunContext) -> StageOutcome:
    result = validate_inbox(_inbox_from_raw(ctx), ctx.policy)
    q = result.quarantine
    core = result.without_affected() if ctx.allow_quarantine else result.core
    ctx.con.execute("BEGIN")
    try:
        for t in catalog.INPUTS:
            ctx.wh.replace_typed(ctx.con, t, getattr(core, t.name))
        if q.height:
            ctx.wh.append(ctx.con, catalog.QUARANTINE, q.with_columns(pl.lit(ctx.run_id).alias("run_id")))
        ctx.con.execute("COMMIT")
    except BaseException:
        ctx.con.execute("ROLLBACK")
        raise
    if result.missing_reports:
        ctx.notes.append(
            f"{len(result.missing_reports)} listed enterprise(s) have no verification report for {ctx.year} "
            f"(status missing_verification): {', '.join(result.missing_reports[:10])}"
        )
    if q.height and not ctx.allow_quarantine:
        raise InvalidInput(quarantine_summary(q, ctx.wh.served))
    if q.height:
        ctx.notes.append(
            f"{q.height} rows quarantined; not allocated: {', '.join(result.affected_enterprises) or 'none'}"
        )
    rows = sum(getattr(core, t.name).height for t in catalog.INPUTS)
    return StageOutcome(rows, f"{rows} valid rows, {q.height} quarantined")


def quarantine_summary(q: pl.DataFrame, served: Path, first: int = 5) -> str:
    """One paragraph: how many rows were rejected and the first few, with file, row, column."""
    parts = []
    for r in q.head(first).iter_rows(named=True):
        where = r["source_file"] or "(inbox)"
        if r["sheet"]:
            where += f" sheet {r['sheet']}"
        if r["row_number"] is not None:
            where += f" row {r['row_number']}"
        if r["column_name"]:
            where += f" column {r['column_name']}"
        value = f" value '{r['value']}'" if r["value"] is not None else ""
        parts.append(f"{where}{value}: {r['message']}")
    more = f" … and {q.height - first} more" if q.height > first else ""
    return (
        f"Invalid input: {q.height} row(s) quarantined, nothing allocated. "
        + "; ".join(parts)
        + more
        + f". All rejected rows are in audit.quarantine of {served}; fix the files, or rerun with "
        "--allow-quarantine to allocate the other enterprises."
    )


def not_built(stage: str):
    def run(ctx: RunContext) -> StageOutcome:
        raise NotImplementedError(f"stage '{stage}' is not implemented yet")

    return run


RUNNERS = {
    "ingest": ingest,
    "validate": validate,
    "baselines": not_built("baselines"),
    "allocate": not_built("allocate"),
    "clearance": not_built("clearance"),
    "publish": not_built("publish"),
}
