"""The annual run as a Prefect flow: the pipeline, in `_pipeline`.

    ingest → validate → baselines → allocate → clearance → publish → serve → files for people

Each stage is a Prefect task (`flows.stages`) that takes the frames it reads and returns what it
made; a stage whose inputs are unchanged is skipped (or reused, `--from-stage`) and its stored
output is read when a later stage takes it. The flow wires only: the run's bookkeeping — which
stages run (`flows.resume`, from the fingerprints of `flows.fingerprints`), the audit rows and the
run log (`flows.audit`), cache records, timing and the summary — is `flows.bookkeeping.RunBook`.
The served file is refreshed at the end of every run (so that the audit rows of a failed run are
visible), while published marts change only through `publish`.
"""

from __future__ import annotations

import traceback
import uuid
from datetime import date
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.states import Failed

from flows import bookkeeping
from flows.audit import RunLog
from flows.bookkeeping import RunBook, let_go, stage_task
from flows.stages import RUNNERS, STAGES, InvalidInput, RunSettings
from policies import PolicyError, policy_for_year
from warehouse import Warehouse

# Retries only where files are touched: reading the inbox, and swapping the served file.
# The other stages are deterministic: a retry would fail the same way.
TASKS = {
    name: task(
        stage_task(RUNNERS[name]),
        name=name,
        cache_policy=NO_CACHE,
        persist_result=False,
        retries=1 if name == "ingest" else 0,
        retry_delay_seconds=1,
    )
    for name in STAGES
}


@task(name="serve", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=1)
def serve_warehouse(wh: Warehouse, con) -> None:
    """Rebuild the served file from the work database and swap it in (`Warehouse.serve`); the run
    has compared it with the served file already (`Warehouse.shrinkage`) and decided."""
    wh.serve(con, allow_shrink=True)


@task(name="files for people", cache_policy=NO_CACHE)
def people_files(served: Path, year: int, pol, publication, out_dir: Path) -> dict:
    """Notices, report and Parquet of the served publication (`exports.people`), after serving."""
    from exports.people import write_files_for_people

    return write_files_for_people(served, year, pol, publication, out_dir)


def previous_calendar_year() -> int:
    return date.today().year - 1


@flow(name="etsflow-annual-run", persist_result=False, log_prints=False)
def annual_run(
    inbox: str,
    warehouse: str,
    year: int | None = None,
    policy: str | None = None,
    as_of: date | None = None,
    jurisdiction: str = "chongqing",
    from_stage: str | None = None,
    allow_quarantine: bool = False,
    run_id: str | None = None,
    notified_on: date | None = None,
    allow_partial: bool = False,
    allow_shrink: bool = False,
):
    """Run the stages; return the run summary, or a Failed state whose data is the summary.

    `year` defaults to the previous calendar year (scheduled runs), `as_of` to today, the rule pack
    to `<jurisdiction>/<year>.toml` of the policy folders (`policies.jurisdiction_dir`),
    `from_stage` to none: skip every stage whose inputs are unchanged. The served file is never
    replaced by one holding fewer published rows (per mart table and compliance year) unless
    `allow_shrink` (docs/operations.md §9).

    Failures are caught here, recorded in audit, and returned as a Prefect `Failed` state (so the
    Prefect UI shows the run as failed) with `exit_code` and a one-paragraph `error` in the summary.
    Exceptions never leave the flow: their tracebacks go to `<warehouse dir>/logs/<run_id>.log`.
    """
    run_id = run_id or uuid.uuid4().hex[:12]
    year = year or previous_calendar_year()
    log = RunLog(Path(warehouse).resolve().parent, run_id)
    summary = bookkeeping.new_summary(run_id, year, log)
    try:
        if from_stage is not None and from_stage not in STAGES:
            raise InvalidInput(f"unknown stage '{from_stage}'; stages are {', '.join(STAGES)}")
        try:
            pol = policy_for_year(year, policy, jurisdiction)
        except PolicyError as e:
            raise InvalidInput(str(e)) from None
        summary["policy"], summary["provisional"] = pol.version, pol.provisional_params()
        log.write(
            f"run {run_id}: year {year}, inbox {inbox}, rule pack {pol.version}, "
            f"from stage {from_stage or '(skip unchanged)'}"
        )
        wh = Warehouse(warehouse)
        with wh.connect() as con:
            run = RunSettings(
                run_id=run_id,
                year=year,
                inbox=Path(inbox),
                wh=wh,
                con=con,
                policy=pol,
                as_of=as_of or date.today(),
                allow_quarantine=allow_quarantine,
                notified_on=notified_on,
                allow_partial=allow_partial,
            )
            summary["files"] = _pipeline(run, RunBook(run, from_stage, TASKS, summary, log), allow_shrink)
    except (Exception, KeyboardInterrupt) as e:
        summary["exit_code"], summary["error"] = bookkeeping.exit_and_error(e, summary, Path(warehouse), log)
    if summary["exit_code"]:
        log.write(f"exit {summary['exit_code']}: {summary['error']}")
        return Failed(message=summary["error"], data=summary)
    return summary


def _pipeline(run: RunSettings, book: RunBook, allow_shrink: bool) -> dict:
    """The pipeline: each stage run, skipped or reused as the plan says (`RunBook.do`), a stage's
    output handed to the stages that take it; then the served file, also after a failure (its
    audit rows become visible; the failure is raised on); then the files for people."""
    try:
        with book.stages() as checkpoint:
            inbox = book.do("ingest", run)
            inputs = book.do("validate", run, inbox)
            let_go(inbox)  # each output as soon as no later stage reads it (memory, at scale)
            baselines = book.do("baselines", run, inputs)
            allocation = book.do("allocate", run, inputs, baselines)
            let_go(baselines)
            clearance = book.do("clearance", run, inputs, allocation)
            book.do("publish", run, inputs, allocation, clearance, checkpoint)
            let_go(inputs, allocation, clearance)
    finally:
        book.serve(serve_warehouse, allow_shrink)
    return _files_for_people(run, book.publication(), book.log)


def _files_for_people(run: RunSettings, publication, log: RunLog) -> dict:
    """Bring `<out>/<year>/` up to the served publication; a failure here does not fail the run
    (the publication is served): the summary says the files are not current and how to write them."""
    try:
        files = people_files(run.wh.served, run.year, run.policy, publication, run.out_dir)
    except Exception as e:
        log.write("files for people failed\n" + traceback.format_exc())
        return {"status": "failed", "out_dir": str(run.out_dir), "error": f"{type(e).__name__}: {e}"}
    log.write(
        f"files for people in {run.out_dir}: {files['status']}, {files['notices_written']} notice(s) "
        f"written, {files['notices_removed']} removed"
    )
    return {k: str(v) if isinstance(v, Path) else v for k, v in files.items()} | {
        "publication_run": publication.run_id
    }


def run_now(**parameters):
    """Run the flow in this process now and return its final state (what `etsflow run` and `demo` do).

    Without Prefect's flow-run heartbeat: its thread is joined at the end of every run, which cost
    0.5–1 s of each (it sleeps in 1 s steps, docs/scaling.md). Heartbeats serve a server automation
    that marks crashed runs; a killed run is marked interrupted by our next run anyway
    (`Warehouse.mark_interrupted`). Scheduled runs (`etsflow serve`) keep the heartbeat."""
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return annual_run(**parameters, return_state=True)
