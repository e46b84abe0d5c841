"""The six stages of the annual run, as wiring: take the frames they read, call a pure transform,
write through the warehouse, return what they made (`Done`). No business rule lives here, and no
state is shared between stages: `RunSettings` is fixed for the run.

Where outputs live (so that a later run can reuse them): `ingest` → `raw.*` (inbox-wide, shared
by every year); `validate` → `core.*` and its per-year copy, stage outputs `core_<table>`;
`baselines`, `allocate`, `clearance` → stage outputs `<name>` of the year (Parquet files of the
stage folder, `Warehouse.stage_path`), each the matching piece of the year's engine
(`transforms.engine`: `baselines_of`, `allocation_of`, `clearance_of` with the borrowing pool of
`pool_for` as an explicit input); `publish` → the year's rows of `mart.*`. What each output
depends on is in `flows/fingerprints.py`: the flow skips a stage whose recorded fingerprint (its
cache record) equals the current one, and a stage that runs after it takes the skipped stage's
output from where it lies (`LOADERS`, one reader per stage output).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

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

if TYPE_CHECKING:  # imported where used: the transforms load with the stages that run them
    from transforms.allocate import Allocation
    from transforms.clearance import Clearance

T = TypeVar("T")
STAGES = ("ingest", "validate", "baselines", "allocate", "clearance", "publish")


class InvalidInput(Exception):
    """Input data broke the contract; the message is the summary for the user (exit code 2)."""


# A partial publication (--allow-quarantine) that leaves out more than this percentage of the
# year's listed enterprises is refused (exit 2) unless --allow-partial is also given: 5 % of the
# ~300 Chongqing units is 15 units, more than any one bad file of a single unit's reports, and
# far less than a rejected file of the whole inbox (a missing column left 89 of 307 out and the
# published cap fell from 81.1 to 25.6 Mt). Compared exactly: left_out × 100 > 5 × listed.
PARTIAL_MAX_PERCENT = 5


@dataclass(frozen=True)
class RunSettings:
    """What a run was started with and where it writes, fixed for the whole run. The stages share
    nothing else: each takes the frames it reads as arguments and returns what it made (`Done`)."""

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

    @property
    def out_dir(self) -> Path:
        """`<warehouse dir>/out/<year>/`: the files for people and the checkpoint's Data Docs."""
        return self.wh.served.parent / "out" / str(self.year)


@dataclass(frozen=True)
class Done(Generic[T]):
    """What a stage returns: its output (what the later stages take) and its outcome — the rows it
    wrote, one line for the run history, and the notes the run's summary shows."""

    output: T
    rows_out: int
    message: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidInputs:
    """validate's output: the year's validated inputs, and the listed enterprises left out of them
    (--allow-quarantine)."""

    core: CoreFrames
    left_out: tuple[str, ...]


def ingest(run: RunSettings) -> Done[Inbox]:
    try:
        inbox = read_inbox(run.inbox)
    except InboxError as e:
        raise InvalidInput(f"Invalid input: {e}") from None
    with run.wh.transaction(run.con, pause="ingest"):
        run.wh.write_raw(run.con, inbox.tables | {"files": inbox.manifest, "problems": inbox.problems})
    notes = []
    if not_read := inbox.not_read:
        notes.append(
            f"{len(not_read)} file(s)/sheet(s) of the inbox not read (listed in raw.files): "
            + "; ".join(not_read[:5])
            + (" …" if len(not_read) > 5 else "")
        )
    run.wh.update_run(run.con, run.run_id, input_hashes=json.dumps(inbox.file_hashes, ensure_ascii=False))
    files = inbox.manifest.height
    rows = sum(df.height for df in inbox.tables.values())
    return Done(inbox, rows, f"{files} files/sheets, {rows} rows read", tuple(notes))


def validate(run: RunSettings, inbox: Inbox) -> Done[ValidInputs]:
    from validations.inputs import validate_inbox  # pandera (and pandas): imported by the stages that check

    result = validate_inbox(inbox, run.policy)
    q = result.quarantine
    core = result.without_affected() if run.allow_quarantine else result.core
    left_out = result.left_out(run.year) if run.allow_quarantine else []
    run.wh.write_validated(
        run.con,
        run.year,
        {t.name: getattr(core, t.name) for t in catalog.INPUTS},
        q.with_columns(pl.lit(run.run_id).alias("run_id")) if q.height else None,
    )
    run.wh.write_stage(
        run.year, {"left_out": pl.DataFrame({"enterprise_id": left_out}, schema={"enterprise_id": pl.String})}
    )
    notes = []
    if result.missing_reports:
        notes.append(
            f"{len(result.missing_reports)} listed enterprise(s) have no verification report for {run.year} "
            f"(status missing_verification): {', '.join(result.missing_reports[:10])}"
        )
    if q.height and not run.allow_quarantine:
        raise InvalidInput(quarantine_summary(q, run.wh.served))
    if q.height:
        listed = listed_enterprise_ids(core.enterprises, run.year).height
        refuse_partial(left_out, listed, run.year, run.allow_partial)
        others = sorted(set(result.affected_enterprises) - set(left_out))
        notes.append(
            f"{q.height} rows quarantined (audit.quarantine). "
            + (
                f"PARTIAL publication of {run.year}: {len(left_out)} of {listed} listed enterprises left out "
                f"(status not_allocated; the cap covers the others only): {', '.join(left_out)}"
                if left_out
                else "No listed enterprise left out"
            )
            + (
                f". Quarantined rows also name ids on no list of {run.year}: {', '.join(others)}"
                if others
                else ""
            )
        )
    rows = sum(getattr(core, t.name).height for t in catalog.INPUTS)
    return Done(
        ValidInputs(core, tuple(left_out)), rows, f"{rows} valid rows, {q.height} quarantined", tuple(notes)
    )


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


def baselines(run: RunSettings, inputs: ValidInputs) -> Done[pl.DataFrame]:
    from transforms.engine import baselines_of

    df = baselines_of(inputs.core, run.policy)
    run.wh.write_stage(run.year, {"baselines": df}, stage="baselines")
    methods = df.group_by("method").len().sort("method")
    mix = ", ".join(f"{r['method']} {r['len']}" for r in methods.iter_rows(named=True))
    return Done(df, df.height, f"{df.height} lines: {mix}")


def allocate(run: RunSettings, inputs: ValidInputs, baselines: pl.DataFrame) -> Done[Allocation]:
    from transforms.engine import allocation_of

    result = allocation_of(baselines, inputs.core, run.policy, len(inputs.left_out))
    checked = _checked_allocation(result)
    rows = run.wh.write_stage(run.year, _allocation_frames(checked), stage="allocate")
    cap = checked.cap.row(0, named=True) if checked.cap.height else {}
    return Done(
        checked,
        rows,
        f"{cap.get('enterprise_count', 0)} enterprises, total cap "
        f"{cap.get('total_cap_t', 0):,} t, reserve {cap.get('reserve_t', 0):,} t",
    )


def clearance(run: RunSettings, inputs: ValidInputs, allocation: Allocation) -> Done[Clearance]:
    from policies import policy_for_year
    from transforms.engine import clearance_of, pool_for, pool_years

    # other pool years are computed with their jurisdiction's rule packs (they share the 2023 pool)
    j = run.policy.pack.jurisdiction
    policies = {
        y: (run.policy if y == run.year else policy_for_year(y, jurisdiction=j))
        for y in pool_years(run.policy)
    }
    pool = pool_for(inputs.core, policies | {run.year: run.policy}, run.year, run.as_of, allocation)
    result = _checked_clearance(
        clearance_of(inputs.core, allocation, run.policy, run.as_of, pool, inputs.left_out)
    )
    rows = run.wh.write_stage(run.year, _clearance_frames(result), stage="clearance")
    counts = result.status.group_by("status").len().sort("status")
    return Done(
        result,
        rows,
        f"as of {run.as_of}: " + ", ".join(f"{r['status']} {r['len']}" for r in counts.iter_rows(named=True)),
    )


class PublicationRefused(Exception):
    """The warehouse checkpoint found the new results inconsistent; nothing was published."""


def publish(
    run: RunSettings,
    inputs: ValidInputs,
    allocation: Allocation,
    clearance: Clearance,
    checkpoint: CheckpointProcess | None,
) -> Done[None]:
    """Check the year's marts (the publish checkpoint: `checkpoint`, the worker the flow started
    when the run began, or one of its own when None) and publish them with the allocation cycle's
    writes, in one transaction of the work database."""
    from model.results import YearResults

    frames = _allocation_frames(allocation) | _clearance_frames(clearance)
    marts = {t.name: frames[t.name] for t in catalog.MARTS}
    core = inputs.core
    results = YearResults(
        year=run.year,
        policy=run.policy,
        listed_enterprise_ids=reported_listed_ids(core.enterprises, core.line_years, run.year),
        ledger_rows=core.ledger.filter(pl.col("compliance_year") == run.year).height,
        **marts,
    )
    from flows.cycle import CycleRefused, write_cycle

    # the checkpoint validates in its process while this one writes the year into the open
    # transaction (both read the same frames); its verdict comes before the commit, and its
    # refusal before the cycle's
    checker = checkpoint or CheckpointProcess.start()
    try:
        submitted = checker.submit(results, run.out_dir / "data-docs", run_name=run.run_id)
        try:
            with run.wh.transaction(run.con, pause="publish"):
                refused = None
                try:
                    cycle = write_cycle(
                        run.wh,
                        run.con,
                        run.year,
                        run.policy,
                        marts,
                        core,
                        run.run_id,
                        run.as_of,
                        run.notified_on,
                    )
                    rows = run.wh.publish_year(run.con, run.year, marts)
                except CycleRefused as e:
                    refused = e
                check = submitted.verdict()
                if not check.success:
                    raise PublicationRefused(
                        f"the warehouse checkpoint refused the {run.year} results, the previous publication is "
                        "kept: " + "; ".join(check.failures[:5])
                    )
                if refused is not None:
                    raise InvalidInput(
                        f"Publication of {run.year} refused, the previous publication is kept: {refused}."
                    )
        finally:
            submitted.discard()
    finally:
        if checkpoint is None:
            checker.close()
    pause_point("publish:committed", run.wh.served.parent)  # test hook: committed, not yet served
    return Done(
        None,
        rows,
        f"published {run.year} version {cycle.version}"
        + ("" if cycle.is_new else " (unchanged)")
        + ": "
        + ", ".join(f"{k} {v.height}" for k, v in marts.items()),
        tuple(cycle.notes),
    )


RUNNERS = {
    "ingest": ingest,
    "validate": validate,
    "baselines": baselines,
    "allocate": allocate,
    "clearance": clearance,
    "publish": publish,
}


# ---- the stored outputs: what a skipped or reused stage hands on ---------------------------------
# A stage skipped (unchanged) or reused (--from-stage) did not run in this run: a later stage that
# runs takes its output as the stage left it in the warehouse. One reader per stage output.
def _allocation_frames(allocation: Allocation) -> dict[str, pl.DataFrame]:
    return {
        "allocation_line": allocation.lines,
        "allocation_enterprise": allocation.enterprises,
        "cap_summary": allocation.cap,
    }


def _clearance_frames(clearance: Clearance) -> dict[str, pl.DataFrame]:
    return {"clearance_status": clearance.status, "clearance_item": clearance.items}


def _checked_allocation(allocation: Allocation) -> Allocation:
    """The allocation's frames checked against their marts (columns in catalog order)."""
    from transforms.allocate import Allocation
    from validations.schemas import check_frame

    return Allocation(
        lines=check_frame(allocation.lines, catalog.ALLOCATION_LINE),
        enterprises=check_frame(allocation.enterprises, catalog.ALLOCATION_ENTERPRISE),
        cap=check_frame(allocation.cap, catalog.CAP_SUMMARY),
    )


def _checked_clearance(clearance: Clearance) -> Clearance:
    """The clearance's frames checked against their marts (columns in catalog order)."""
    from transforms.clearance import Clearance
    from validations.schemas import check_frame

    return Clearance(
        status=check_frame(clearance.status, catalog.CLEARANCE_STATUS),
        items=check_frame(clearance.items, catalog.CLEARANCE_ITEM),
    )


def load_inbox(run: RunSettings) -> Inbox:
    """ingest's output: the raw tables of the work database."""
    tables = {
        name: run.wh.read(run.con, f"raw.{name}")
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
        problems = run.wh.read(run.con, "raw.problems")
    except duckdb.CatalogException:  # raw tables of an older ingest (its output is then recomputed anyway)
        problems = pl.DataFrame(schema=PROBLEM_SCHEMA)
    return Inbox(tables=tables, manifest=run.wh.read(run.con, "raw.files"), problems=problems)


def load_left_out(run: RunSettings) -> tuple[str, ...]:
    """The listed enterprises validate left out of the year (none when its output predates the file)."""
    path = run.wh.stage_path(run.year, "left_out")
    return tuple(pl.read_parquet(path)["enterprise_id"].to_list()) if path.is_file() else ()


def load_inputs(run: RunSettings) -> ValidInputs:
    """validate's output: the year's copy of the validated inputs."""
    return ValidInputs(CoreFrames.from_tables(run.wh.read_core(run.year)), load_left_out(run))


def load_baselines(run: RunSettings) -> pl.DataFrame:
    return run.wh.read_stage(run.year, "baselines")


def load_allocation(run: RunSettings) -> Allocation:
    """allocate's output, checked again against the marts (it is published from here)."""
    from transforms.allocate import Allocation

    return _checked_allocation(
        Allocation(
            lines=run.wh.read_stage(run.year, "allocation_line"),
            enterprises=run.wh.read_stage(run.year, "allocation_enterprise"),
            cap=run.wh.read_stage(run.year, "cap_summary"),
        )
    )


def load_clearance(run: RunSettings) -> Clearance:
    """clearance's output, checked again against the marts (it is published from here)."""
    from transforms.clearance import Clearance

    return _checked_clearance(
        Clearance(
            status=run.wh.read_stage(run.year, "clearance_status"),
            items=run.wh.read_stage(run.year, "clearance_item"),
        )
    )


LOADERS = {
    "ingest": load_inbox,
    "validate": load_inputs,
    "baselines": load_baselines,
    "allocate": load_allocation,
    "clearance": load_clearance,
}
