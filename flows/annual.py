"""The annual run as a Prefect flow: six tasks in order, each a stage of `flows.stages`.

The flow only wires: it opens the work database, records the run and every stage in `audit`,
runs the stages from `from_stage` on, and always refreshes the served file at the end (so that
audit rows of a failed run are visible, while published marts change only through `publish`).
"""

from __future__ import annotations

import time
import traceback
import uuid
from datetime import date
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from etsflow import catalog
from flows.stages import RUNNERS, STAGES, InvalidInput, RunContext, StageOutcome
from policies import PolicyError, policy_for_year
from warehouse import Warehouse
from warehouse.store import now

# Retries only where files are touched (reading the inbox); the others are deterministic.
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


def _stage_row(run_id, stage, started, finished, status, rows=None, message=None):
    return {
        "run_id": run_id,
        "stage": stage,
        "started_at": started,
        "finished_at": finished,
        "duration_s": (finished - started).total_seconds() if started and finished else None,
        "status": status,
        "rows_out": rows,
        "input_hash": None,
        "message": message,
    }


@flow(name="etsflow-annual-run", persist_result=False, log_prints=False)
def annual_run(
    year: int,
    inbox: str,
    warehouse: str,
    policy: str | None = None,
    as_of: date | None = None,
    from_stage: str = "ingest",
    allow_quarantine: bool = False,
    run_id: str | None = None,
):
    """Run the stages; return the run summary, or a Failed state whose data is the summary.

    Failures are caught here, recorded in audit, and returned as a Prefect `Failed` state (so the
    Prefect UI shows the run as failed) with `exit_code` and a one-paragraph `error` in the summary.
    Exceptions never leave the flow: their tracebacks go to `<warehouse dir>/logs/<run_id>.log`.
    """
    run_id = run_id or uuid.uuid4().hex[:12]
    summary = {
        "run_id": run_id,
        "year": year,
        "stages": {},
        "notes": [],
        "policy": None,
        "provisional": [],
        "exit_code": 0,
        "error": None,
    }
    try:
        if from_stage not in STAGES:
            raise InvalidInput(f"unknown stage '{from_stage}'; stages are {', '.join(STAGES)}")
        try:
            pol = policy_for_year(year, policy)
        except PolicyError as e:
            raise InvalidInput(str(e)) from None
        summary["policy"], summary["provisional"] = pol.version, pol.provisional_params()
        _run_stages(
            summary,
            year,
            Path(inbox),
            Warehouse(warehouse),
            pol,
            as_of or date.today(),
            from_stage,
            allow_quarantine,
        )
    except InvalidInput as e:
        summary["exit_code"], summary["error"] = 2, str(e)
    except NotImplementedError as e:
        summary["exit_code"] = 1
        summary["error"] = (
            f"Run for {year} stopped: {e}. The earlier stages completed; published results are unchanged."
        )
    except Exception as e:
        log = _log_traceback(Path(warehouse).resolve().parent, run_id)
        summary["exit_code"] = 1
        summary["error"] = (
            f"Run for {year} failed: {type(e).__name__}: {e}. Published results are unchanged; "
            f"the traceback is in {log}."
        )
    if summary["exit_code"]:
        return Failed(message=summary["error"], data=summary)
    return summary


def _run_stages(
    summary: dict,
    year: int,
    inbox: Path,
    wh: Warehouse,
    pol,
    as_of: date,
    from_stage: str,
    allow_quarantine: bool,
) -> None:
    run_id = summary["run_id"]
    with wh.connect() as con:
        ctx = RunContext(
            run_id=run_id,
            year=year,
            inbox=inbox,
            wh=wh,
            con=con,
            policy=pol,
            as_of=as_of,
            allow_quarantine=allow_quarantine,
        )
        wh.append(
            con,
            catalog.PIPELINE_RUN,
            [
                {
                    "run_id": run_id,
                    "compliance_year": year,
                    "started_at": now(),
                    "finished_at": None,
                    "status": "running",
                    "inbox": str(inbox.resolve()),
                    "policy_version": pol.version,
                    "policy_path": pol.source_path,
                    "input_hashes": None,
                    "as_of": as_of,
                    "from_stage": from_stage,
                    "message": None,
                }
            ],
        )
        start = STAGES.index(from_stage)
        for stage in STAGES[:start]:
            wh.append(
                con,
                catalog.STAGE_RUN,
                [
                    _stage_row(
                        run_id, stage, None, None, "reused", message="earlier output reused (--from-stage)"
                    )
                ],
            )
        current, started = None, None
        status, message = "failed", None
        try:
            for stage in STAGES[start:]:
                current = stage
                t0, started = time.perf_counter(), now()
                outcome: StageOutcome = TASKS[stage](ctx)
                wh.append(
                    con,
                    catalog.STAGE_RUN,
                    [
                        _stage_row(
                            run_id, stage, started, now(), "succeeded", outcome.rows_out, outcome.message
                        )
                    ],
                )
                summary["stages"][stage] = {
                    "rows": outcome.rows_out,
                    "seconds": time.perf_counter() - t0,
                    "message": outcome.message,
                }
            status, message = "succeeded", "; ".join(ctx.notes) or None
        except BaseException as e:
            status = "invalid_input" if isinstance(e, InvalidInput) else "failed"
            message = (
                str(e) if isinstance(e, InvalidInput | NotImplementedError) else f"{type(e).__name__}: {e}"
            )
            wh.append(
                con,
                catalog.STAGE_RUN,
                [_stage_row(run_id, current, started, now(), "failed", message=message)],
            )
            for later in STAGES[STAGES.index(current) + 1 :]:
                wh.append(con, catalog.STAGE_RUN, [_stage_row(run_id, later, None, None, "not_run")])
            raise
        finally:
            wh.update_run(con, run_id, finished_at=now(), status=status, message=message)
            wh.serve(con)
            summary["notes"] = list(ctx.notes)


def _log_traceback(folder: Path, run_id: str) -> Path:
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / f"{run_id}.log"
    path.write_text(traceback.format_exc(), encoding="utf-8")
    return path
