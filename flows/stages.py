"""The six stages of the annual run, as wiring: read from the warehouse, call a pure transform,
write through the warehouse. No business rule lives here.

Where outputs live (so that a later run can reuse them): `ingest` → `raw.*` (inbox-wide, shared
by every year); `validate` → `core.*` and its per-year copy, stage outputs `core_<table>`;
`baselines`, `allocate`, `clearance` → stage outputs `<name>` of the year (Parquet files of the
stage folder, `Warehouse.stage_path`), each the matching piece of the year's engine
(`transforms.engine`: `baselines_of`, `allocation_of`, `clearance_of` with the borrowing pool of
`pool_for` as an explicit input); `publish` → the year's rows of `mart.*`. What each output
depends on is in `flows/fingerprints.py`: the flow skips a stage whose recorded fingerprint (its
cache record) equals the current one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from ingest.read import PROBLEM_SCHEMA, Inbox, InboxError, read_inbox
from model import catalog
from model.labels import quarantine_where
from policies import Policy
from transforms import CoreFrames, listed_enterprise_ids, reported_listed_ids
from validations.checkpoint_process import CheckpointProcess
from warehouse import Warehouse
from warehouse.store import pause_point

STAGES = ("ingest", "validate", "baselines", "allocate", "clearance", "publish")


class InvalidInput(Exception):
    """Input data broke the contract; the message is the summary for the user (exit code 2)."""


# A partial publication (--allow-quarantine) that leaves out more than this percentage of the
# year's listed enterprises is refused (exit 2) unless --allow-partial is also given: 5 % of the
# ~300 Chongqing units is 15 units, more than any one bad file of a single unit's reports, and
# far less than a rejected file of the whole inbox (a missing column left 89 of 307 out and the
# published cap fell from 81.1 to 25.6 Mt). Compared exactly: left_out × 100 > 5 × listed.
PARTIAL_MAX_PERCENT = 5


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
    notified_on: date | None = None  # notification date of a new version (default: the publication date)
    allow_partial: bool = False  # publish although more than PARTIAL_MAX_PERCENT % are left out
    out_dir: Path | None = None
    # the publish checkpoint's worker, started when the run will publish (Great Expectations imports
    # there while the stages compute); None: started by publish itself
    checkpoint: CheckpointProcess | None = None
    notes: list[str] = field(default_factory=list)
    # What a stage of this run produced, handed to the next stage in memory (the same frames it
    # wrote); a stage that was skipped or reused leaves nothing here, so its reader reads the
    # warehouse. Each entry is taken by its last reader.
    handoff: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StageOutcome:
    rows_out: int
    message: str = ""


def _core(ctx: RunContext) -> CoreFrames:
    """The validated inputs of the run's year (validate's per-year copy of `core.*`)."""
    if "core" not in ctx.handoff:
        ctx.handoff["core"] = CoreFrames.from_tables(ctx.wh.read_core(ctx.year))
    return ctx.handoff["core"]


def ingest(ctx: RunContext) -> StageOutcome:
    try:
        inbox = read_inbox(ctx.inbox)
    except InboxError as e:
        raise InvalidInput(f"Invalid input: {e}") from None
    with ctx.wh.transaction(ctx.con, pause="ingest"):
        ctx.wh.write_raw(ctx.con, inbox.tables | {"files": inbox.manifest, "problems": inbox.problems})
    ctx.handoff["inbox"] = inbox
    if not_read := inbox.not_read:
        ctx.notes.append(
            f"{len(not_read)} file(s)/sheet(s) of the inbox not read (listed in raw.files): "
            + "; ".join(not_read[:5])
            + (" …" if len(not_read) > 5 else "")
        )
    ctx.wh.update_run(ctx.con, ctx.run_id, input_hashes=json.dumps(inbox.file_hashes, ensure_ascii=False))
    files = inbox.manifest.height
    rows = sum(df.height for df in inbox.tables.values())
    return StageOutcome(rows, f"{files} files/sheets, {rows} rows read")


def _inbox_from_raw(ctx: RunContext) -> Inbox:
    tables = {
        name: ctx.wh.read(ctx.con, f"raw.{name}")
        for name in (
            "enterprises",
            "lines",
            "line_years",
            "enterprise_years",
            "attributes",
            "ledger",
            "reviews",
        )
    }
    try:
        problems = ctx.wh.read(ctx.con, "raw.problems")
    except duckdb.CatalogException:  # raw tables of an older ingest (its output is then recomputed anyway)
        problems = pl.DataFrame(schema=PROBLEM_SCHEMA)
    return Inbox(tables=tables, manifest=ctx.wh.read(ctx.con, "raw.files"), problems=problems)


def validate(ctx: RunContext) -> StageOutcome:
    from validations.inputs import validate_inbox  # pandera (and pandas): imported by the stages that check

    inbox = ctx.handoff.pop("inbox", None) or _inbox_from_raw(ctx)
    result = validate_inbox(inbox, ctx.policy)
    del inbox
    q = result.quarantine
    core = result.without_affected() if ctx.allow_quarantine else result.core
    left_out = result.left_out(ctx.year) if ctx.allow_quarantine else []
    ctx.wh.write_validated(
        ctx.con,
        ctx.year,
        {t.name: getattr(core, t.name) for t in catalog.INPUTS},
        q.with_columns(pl.lit(ctx.run_id).alias("run_id")) if q.height else None,
    )
    ctx.wh.write_stage(
        ctx.year, {"left_out": pl.DataFrame({"enterprise_id": left_out}, schema={"enterprise_id": pl.String})}
    )
    ctx.handoff["core"] = core
    ctx.handoff["left_out"] = left_out
    if result.missing_reports:
        ctx.notes.append(
            f"{len(result.missing_reports)} listed enterprise(s) have no verification report for {ctx.year} "
            f"(status missing_verification): {', '.join(result.missing_reports[:10])}"
        )
    if q.height and not ctx.allow_quarantine:
        raise InvalidInput(quarantine_summary(q, ctx.wh.served))
    if q.height:
        listed = listed_enterprise_ids(core.enterprises, ctx.year).height
        refuse_partial(left_out, listed, ctx.year, ctx.allow_partial)
        others = sorted(set(result.affected_enterprises) - set(left_out))
        ctx.notes.append(
            f"{q.height} rows quarantined (audit.quarantine). "
            + (
                f"PARTIAL publication of {ctx.year}: {len(left_out)} of {listed} listed enterprises left out "
                f"(status not_allocated; the cap covers the others only): {', '.join(left_out)}"
                if left_out
                else "No listed enterprise left out"
            )
            + (
                f". Quarantined rows also name ids on no list of {ctx.year}: {', '.join(others)}"
                if others
                else ""
            )
        )
    rows = sum(getattr(core, t.name).height for t in catalog.INPUTS)
    return StageOutcome(rows, f"{rows} valid rows, {q.height} quarantined")


def refuse_partial(left_out: list[str], listed: int, year: int, allowed: bool) -> None:
    """Refuse (InvalidInput, exit 2) a publication leaving out more than PARTIAL_MAX_PERCENT % of the
    listed enterprises, unless `allowed` (--allow-partial). Exact: left_out × 100 > percent × listed."""
    if allowed or len(left_out) * 100 <= PARTIAL_MAX_PERCENT * listed:
        return
    shown = ", ".join(left_out[:10]) + (f" … and {len(left_out) - 10} more" if len(left_out) > 10 else "")
    raise InvalidInput(
        f"Partial publication refused: --allow-quarantine would leave {len(left_out)} of the {listed} "
        f"enterprises listed for {year} out of the publication (more than {PARTIAL_MAX_PERCENT}%), so the "
        f"published cap would be far from the year's: {shown}. The quarantined rows are in audit.quarantine; "
        "fix the files, or add --allow-partial to publish the year as partial anyway."
    )


def left_out(ctx: RunContext) -> list[str]:
    """The listed enterprises the validate stage of this year left out (--allow-quarantine)."""
    if "left_out" not in ctx.handoff:
        path = ctx.wh.stage_path(ctx.year, "left_out")
        ids = pl.read_parquet(path)["enterprise_id"].to_list() if path.is_file() else []
        ctx.handoff["left_out"] = ids
    return ctx.handoff["left_out"]


def quarantine_summary(q: pl.DataFrame, served: Path, first: int = 5) -> str:
    """One paragraph: how many rows were rejected and the first few, with file, row, column."""
    parts = [quarantine_where(r) for r in q.head(first).iter_rows(named=True)]
    more = f" … and {q.height - first} more" if q.height > first else ""
    return (
        f"Invalid input: {q.height} row(s) quarantined, nothing allocated. "
        + "; ".join(parts)
        + more
        + f". All rejected rows are in audit.quarantine of {served}; fix the files, or rerun with "
        "--allow-quarantine to allocate the other enterprises."
    )


def baselines(ctx: RunContext) -> StageOutcome:
    from transforms.engine import baselines_of

    df = baselines_of(_core(ctx), ctx.policy)
    ctx.wh.write_stage(ctx.year, {"baselines": df}, stage="baselines")
    ctx.handoff["baselines"] = df
    methods = df.group_by("method").len().sort("method")
    mix = ", ".join(f"{r['method']} {r['len']}" for r in methods.iter_rows(named=True))
    return StageOutcome(df.height, f"{df.height} lines: {mix}")


def allocate(ctx: RunContext) -> StageOutcome:
    from transforms.engine import allocation_of
    from validations.schemas import check_frame

    baselines = ctx.handoff.pop("baselines", None)
    if baselines is None:
        baselines = ctx.wh.read_stage(ctx.year, "baselines")
    result = allocation_of(baselines, _core(ctx), ctx.policy, len(left_out(ctx)))
    frames = {
        "allocation_line": check_frame(result.lines, catalog.ALLOCATION_LINE),
        "allocation_enterprise": check_frame(result.enterprises, catalog.ALLOCATION_ENTERPRISE),
        "cap_summary": check_frame(result.cap, catalog.CAP_SUMMARY),
    }
    rows = ctx.wh.write_stage(ctx.year, frames, stage="allocate")
    ctx.handoff["allocation"] = result
    ctx.handoff["marts"] = dict(frames)
    cap = frames["cap_summary"].row(0, named=True) if frames["cap_summary"].height else {}
    return StageOutcome(
        rows,
        f"{cap.get('enterprise_count', 0)} enterprises, total cap "
        f"{cap.get('total_cap_t', 0):,} t, reserve {cap.get('reserve_t', 0):,} t",
    )


def _allocation(ctx: RunContext):
    """This run's allocation of the year (from allocate, or its stored output)."""
    from transforms.allocate import Allocation

    if "allocation" in ctx.handoff:
        return ctx.handoff.pop("allocation")
    return Allocation(
        lines=ctx.wh.read_stage(ctx.year, "allocation_line"),
        enterprises=ctx.wh.read_stage(ctx.year, "allocation_enterprise"),
        cap=ctx.wh.read_stage(ctx.year, "cap_summary"),
    )


def clearance(ctx: RunContext) -> StageOutcome:
    from policies import policy_for_year
    from transforms.engine import clearance_of, pool_for, pool_years
    from validations.schemas import check_frame

    core = _core(ctx)
    allocation = _allocation(ctx)
    # other pool years are computed with their jurisdiction's rule packs (they share the 2023 pool)
    j = ctx.policy.pack.jurisdiction
    policies = {
        y: (ctx.policy if y == ctx.year else policy_for_year(y, jurisdiction=j))
        for y in pool_years(ctx.policy)
    }
    pool = pool_for(core, policies | {ctx.year: ctx.policy}, ctx.year, ctx.as_of)
    result = clearance_of(core, allocation, ctx.policy, ctx.as_of, pool, left_out(ctx))
    check_frame(result.status, catalog.CLEARANCE_STATUS)
    check_frame(result.items, catalog.CLEARANCE_ITEM)
    frames = {"clearance_status": result.status, "clearance_item": result.items}
    rows = ctx.wh.write_stage(ctx.year, frames, stage="clearance")
    if "marts" in ctx.handoff:
        ctx.handoff["marts"] |= frames
    counts = result.status.group_by("status").len().sort("status")
    return StageOutcome(
        rows,
        f"as of {ctx.as_of}: " + ", ".join(f"{r['status']} {r['len']}" for r in counts.iter_rows(named=True)),
    )


class PublicationRefused(Exception):
    """The warehouse checkpoint found the new results inconsistent; nothing was published."""


def publish(ctx: RunContext) -> StageOutcome:
    from model.results import YearResults
    from validations.schemas import check_frame

    made = ctx.handoff.pop("marts", {})  # this run's frames (already checked), else the stored outputs
    marts = {
        t.name: made[t.name] if t.name in made else check_frame(ctx.wh.read_stage(ctx.year, t.name), t)
        for t in catalog.MARTS
    }
    core = _core(ctx)
    results = YearResults(
        year=ctx.year,
        policy=ctx.policy,
        listed_enterprise_ids=reported_listed_ids(core.enterprises, core.line_years, ctx.year),
        ledger_rows=core.ledger.filter(pl.col("compliance_year") == ctx.year).height,
        **marts,
    )
    out = ctx.out_dir or (ctx.wh.served.parent / "out" / str(ctx.year))
    checker = ctx.checkpoint or CheckpointProcess.start()
    try:
        check = checker.check(results, out / "data-docs", run_name=ctx.run_id)
    finally:
        if ctx.checkpoint is None:
            checker.close()
    if not check.success:
        raise PublicationRefused(
            f"the warehouse checkpoint refused the {ctx.year} results, the previous publication is kept: "
            + "; ".join(check.failures[:5])
        )
    from flows.cycle import CycleRefused, cycle_writes

    try:
        cycle = cycle_writes(
            ctx.con, ctx.year, ctx.policy, marts, core, ctx.run_id, ctx.as_of, ctx.notified_on
        )
    except CycleRefused as e:
        raise InvalidInput(
            f"Publication of {ctx.year} refused, the previous publication is kept: {e}."
        ) from None
    rows = ctx.wh.publish_year(ctx.con, ctx.year, marts, append=cycle.append, replace=cycle.replace)
    ctx.notes.extend(cycle.notes)
    pause_point("publish:committed", ctx.wh.served.parent)  # test hook: committed, not yet served
    return StageOutcome(
        rows,
        f"published {ctx.year} version {cycle.version}"
        + ("" if cycle.is_new else " (unchanged)")
        + ": "
        + ", ".join(f"{k} {v.height}" for k, v in marts.items()),
    )


RUNNERS = {
    "ingest": ingest,
    "validate": validate,
    "baselines": baselines,
    "allocate": allocate,
    "clearance": clearance,
    "publish": publish,
}
