"""The annual run as a Prefect flow: six tasks in order, each a stage of `flows.stages`.

The flow only wires: it opens the work database, records the run and every stage in `audit`,
decides per stage whether to run it, skip it or reuse it, and always refreshes the served file
at the end (so that audit rows of a failed run are visible, while published marts change only
through `publish`).

What lives elsewhere, behind small calls: which stages run, skip (unchanged) or are reused
(`--from-stage`) — `flows.resume`, from the fingerprints of `flows.fingerprints`; the audit rows
and the run log — `flows.audit`; the stages themselves — `flows.stages`.
"""

from __future__ import annotations

import errno
import time
import traceback
import uuid
from datetime import date
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.states import Failed

from flows import resume
from flows.audit import RunAudit, RunLog
from flows.fingerprints import Fingerprint, fingerprints, inbox_files
from flows.resume import ResumeRefused
from flows.stages import RUNNERS, STAGES, InvalidInput, RunContext, StageOutcome, left_out
from policies import PolicyError, policy_for_year
from validations.checkpoint_process import CheckpointProcess
from warehouse import Warehouse
from warehouse.store import PublicationShrinks, WarehouseBusy

# Retries only where files are touched: reading the inbox, and swapping the served file.
# The other stages are deterministic: a retry would fail the same way.
TASKS = {
    name: task(
        RUNNERS[name],
        name=name,
        cache_policy=NO_CACHE,
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


def previous_calendar_year() -> int:
    return date.today().year - 1


def disk_full(e: BaseException) -> BaseException | None:
    """The exception in `e`'s chain that says the disk is full (ENOSPC), if any: an OSError with
    errno 28, or a DuckDB/Polars/Great Expectations error quoting the system's words."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if getattr(e, "errno", None) == errno.ENOSPC or "no space left on device" in str(e).lower():
            return e
        e = e.__cause__ or e.__context__
    return None


def failure_message(e: BaseException) -> str:
    """The words recorded for a failure: our own messages as they are, others with their type."""
    return str(e) if isinstance(e, InvalidInput | NotImplementedError) else f"{type(e).__name__}: {e}"


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
    summary = {
        "run_id": run_id,
        "year": year,
        "stages": {},
        "notes": [],
        "policy": None,
        "provisional": [],
        "left_out": [],
        "exit_code": 0,
        "error": None,
        "log": str(log.path),
        "files": None,
    }
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
        _run_stages(
            summary,
            year,
            Path(inbox),
            Warehouse(warehouse),
            pol,
            as_of or date.today(),
            from_stage,
            allow_quarantine,
            log,
            notified_on,
            allow_partial,
            allow_shrink,
        )
    except (InvalidInput, ResumeRefused) as e:
        summary["exit_code"], summary["error"] = 2, str(e)
    except WarehouseBusy as e:
        summary["exit_code"], summary["error"] = 1, f"Run for {year} did not start: {e}"
    except KeyboardInterrupt:
        stage = next((s for s in STAGES if s not in summary["stages"]), None)
        published = summary["stages"].get("publish", {}).get("status") == "succeeded"
        summary["exit_code"] = 130
        summary["error"] = (
            f"Interrupted: run {run_id} for {year} stopped"
            + (
                f" during {stage}; the published results are untouched"
                if not published
                else " after publishing; the new publication is complete"
            )
            + " (`etsflow runs` lists it as interrupted)."
        )
    except PublicationShrinks as e:
        summary["exit_code"], summary["error"] = 1, f"Run for {year}: {e}"
    except NotImplementedError as e:
        summary["exit_code"] = 1
        summary["error"] = (
            f"Run for {year} stopped: {e}. The earlier stages completed; published results are unchanged."
        )
    except Exception as e:
        log.write("FAILED\n" + traceback.format_exc())
        summary["exit_code"] = 1
        if full := disk_full(e):
            where = Path(warehouse).resolve().parent
            first = " ".join(str(full).split())[:300]
            summary["error"] = (
                f"Run for {year} failed: the disk is full ({first}). Published results are unchanged "
                f"(the served file was not replaced). Free space on the disk of {where} (the work "
                "database, the stage folder and out/ grow during a run) and run the same command again: "
                f"it continues from the last completed stage; the traceback is in {log.path}."
            )
        else:
            summary["error"] = (
                f"Run for {year} failed: {type(e).__name__}: {' '.join(str(e).split())}. Published results "
                f"are unchanged; the traceback is in {log.path}."
            )
    if summary["exit_code"]:
        log.write(f"exit {summary['exit_code']}: {summary['error']}")
        return Failed(message=summary["error"], data=summary)
    return summary


def run_now(**parameters):
    """Run the flow in this process now and return its final state (what `etsflow run` and `demo` do).

    Without Prefect's flow-run heartbeat: its thread is joined at the end of every run, which cost
    0.5–1 s of each (it sleeps in 1 s steps, docs/scaling.md). Heartbeats serve a server automation
    that marks crashed runs; a killed run is marked interrupted by our next run anyway
    (`Warehouse.mark_interrupted`). Scheduled runs (`etsflow serve`) keep the heartbeat."""
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return annual_run(**parameters, return_state=True)


def _run_stages(
    summary: dict,
    year: int,
    inbox: Path,
    wh: Warehouse,
    pol,
    as_of: date,
    from_stage: str | None,
    allow_quarantine: bool,
    log: RunLog,
    notified_on: date | None = None,
    allow_partial: bool = False,
    allow_shrink: bool = False,
) -> None:
    """ingest → validate → baselines → allocate → clearance → publish (each run, skipped or reused
    as `flows.resume.plan` says, and recorded by `flows.audit`), then the served file, then the
    files for people."""
    run_id = summary["run_id"]
    with wh.connect() as con:
        if wh.seeded:
            log.write(wh.seeded)
        if n := wh.mark_interrupted(con):
            log.write(f"{n} earlier run(s) had been interrupted; marked 'interrupted' in audit.pipeline_run")
        ctx = RunContext(
            run_id=run_id,
            year=year,
            inbox=inbox,
            wh=wh,
            con=con,
            policy=pol,
            as_of=as_of,
            allow_quarantine=allow_quarantine,
            notified_on=notified_on,
            allow_partial=allow_partial,
        )
        if wh.seeded:
            ctx.notes.append(wh.seeded)
        files = inbox_files(inbox)
        fps, cache = fingerprints(ctx, files), wh.cache_entries(year)
        audit = RunAudit(wh, con, run_id)
        audit.run_started(year, inbox, pol, files, as_of, from_stage)
        failure: BaseException | None = None
        status, message = "failed", None
        try:
            try:
                plan = resume.plan(year, cache, fps, from_stage)
            except ResumeRefused as e:
                audit.not_run(STAGES)
                status, message = "refused", str(e)
                raise
            if plan["publish"] == "run":  # Great Expectations imports there while the stages compute
                ctx.checkpoint = CheckpointProcess.start()
            try:
                for stage in STAGES:
                    _do_stage(
                        ctx, audit, stage, plan[stage], fps[stage], cache.get(stage), from_stage, summary, log
                    )
            finally:
                if ctx.checkpoint is not None:
                    ctx.checkpoint.close()
            status, message = "succeeded", "; ".join(ctx.notes) or None
        except BaseException as e:
            failure = e
            if isinstance(e, KeyboardInterrupt):
                status, message = "interrupted", "interrupted (Ctrl-C)"
            elif status != "refused":
                status = "invalid_input" if isinstance(e, InvalidInput) else "failed"
                message = failure_message(e)
        summary["notes"] = list(ctx.notes)
        if summary["stages"].get("validate", {}).get("status") in ("succeeded", "skipped", "reused"):
            summary["left_out"] = list(left_out(ctx))
        audit.run_finished(status, message)
        _serve(ctx, audit, status, message, failure, allow_shrink, log)
        summary["notes"] = list(ctx.notes)
        log.write(f"served {wh.served}; run {status}")
        if failure is not None:
            raise failure
        published_by = (
            run_id if summary["stages"]["publish"]["status"] == "succeeded" else cache["publish"]["run_id"]
        )
        summary["files"] = _files_for_people(ctx, fps["publish"].digest, published_by, log)


def _serve(
    ctx: RunContext,
    audit: RunAudit,
    status: str,
    message: str | None,
    failure: BaseException | None,
    allow_shrink: bool,
    log: RunLog,
) -> None:
    """Refresh the served file (also after a failed run: its audit rows become visible), unless it
    would then hold fewer published rows (`PublicationShrinks`). The run's first failure wins."""
    wh = ctx.wh
    try:
        audit.run_finished(status, message)
        shrinks = wh.shrinkage(ctx.con)
        if shrinks and not allow_shrink:
            refusal = wh.shrink_refusal(shrinks)
            audit.run_update(status="refused", message=refusal)
            raise PublicationShrinks(refusal)
        if shrinks:
            ctx.notes.append(f"published with fewer rows than before (--allow-shrink): {'; '.join(shrinks)}")
            audit.run_update(message="; ".join(ctx.notes))
        serve_warehouse(wh, ctx.con)
    except PublicationShrinks:
        if failure is not None:
            raise failure from None
        raise
    except Exception as e:
        log.write("serving failed\n" + traceback.format_exc())
        if failure is not None:  # the first failure is what the user must see
            raise failure from None
        if disk_full(e):
            raise
        try:
            audit.run_update(status="failed", message=f"results stored, served file not refreshed: {e}")
        except Exception:
            pass
        raise RuntimeError(
            f"the results are stored in {wh.work} but the served file {wh.served} could not be "
            f"refreshed ({e}); the next run serves them"
        ) from e


@task(name="files for people", cache_policy=NO_CACHE)
def people_files(served: Path, year: int, pol, publication, out_dir: Path | None) -> dict:
    """Notices, report and Parquet of the served publication (`exports.people`), after serving."""
    from exports.people import write_files_for_people

    return write_files_for_people(served, year, pol, publication, out_dir)


def _files_for_people(ctx: RunContext, fingerprint: str, published_by: str, log: RunLog) -> dict:
    """Bring `<out>/<year>/` up to the served publication; a failure here does not fail the run
    (the publication is served): the summary says the files are not current and how to write them."""
    from exports.people import Publication

    publication = Publication(
        year=ctx.year,
        run_id=published_by,
        fingerprint=fingerprint,
        as_of=str(ctx.as_of),
        policy_version=ctx.policy.version,
    )
    out_dir = ctx.out_dir or ctx.wh.served.parent / "out" / str(ctx.year)
    try:
        files = people_files(ctx.wh.served, ctx.year, ctx.policy, publication, out_dir)
    except Exception as e:
        log.write("files for people failed\n" + traceback.format_exc())
        return {"status": "failed", "out_dir": str(out_dir), "error": f"{type(e).__name__}: {e}"}
    log.write(
        f"files for people in {out_dir}: {files['status']}, {files['notices_written']} notice(s) written, "
        f"{files['notices_removed']} removed"
    )
    return {k: str(v) if isinstance(v, Path) else v for k, v in files.items()} | {
        "publication_run": published_by
    }


def _do_stage(
    ctx: RunContext,
    audit: RunAudit,
    stage: str,
    action: str,
    fp: Fingerprint,
    entry: dict | None,
    from_stage: str | None,
    summary: dict,
    log: RunLog,
) -> None:
    """Run, skip, reuse or leave out one stage (`action`, from `flows.resume.plan`) and record it."""
    if action in ("skip", "reuse"):
        status = "skipped" if action == "skip" else "reused"
        why = "unchanged" if action == "skip" else f"--from-stage {from_stage}"
        message = f"{status}, {why}: output of run {entry['run_id']}"
        ctx.notes.extend(entry["notes"])
        audit.kept(stage, status, entry["rows_out"], message, fp.digest)
        summary["stages"][stage] = {
            "status": status,
            "rows": entry["rows_out"],
            "seconds": 0.0,
            "message": message,
        }
        log.write(f"{stage}: {message}")
        return
    if action == "not_needed":
        message = f"not needed: the stages from {from_stage} on do not read its output"
        audit.not_run([stage], message)
        summary["stages"][stage] = {"status": "not_run", "rows": None, "seconds": 0.0, "message": message}
        return
    t0, started = time.perf_counter(), audit.stage_started(stage, fp.digest)
    log.write(f"{stage}: started")
    because = resume.why_it_runs(entry, fp, from_stage)
    ctx.wh.cache_forget(fp.slot, stage)  # no record while the output is incomplete (crash safety)
    notes_before = len(ctx.notes)
    try:
        outcome: StageOutcome = TASKS[stage](ctx)
    except BaseException as e:
        interrupted = isinstance(e, KeyboardInterrupt)
        message = "interrupted (Ctrl-C)" if interrupted else failure_message(e)
        audit.stage_finished(stage, started, "interrupted" if interrupted else "failed", message)
        audit.not_run(STAGES[STAGES.index(stage) + 1 :])
        log.write(f"{stage}: failed: {message}")
        raise
    ctx.wh.cache_remember(
        fp.slot,
        stage,
        fp.digest,
        fp.parts,
        ctx.run_id,
        outcome.rows_out,
        outcome.message,
        ctx.notes[notes_before:],
    )
    audit.stage_finished(
        stage,
        started,
        "succeeded",
        outcome.message + (f" (ran because {because})" if because else ""),
        rows=outcome.rows_out,
    )
    seconds = time.perf_counter() - t0
    summary["stages"][stage] = {
        "status": "succeeded",
        "rows": outcome.rows_out,
        "seconds": seconds,
        "message": outcome.message,
    }
    log.write(f"{stage}: succeeded in {seconds:.1f} s, {outcome.rows_out} rows: {outcome.message}")
