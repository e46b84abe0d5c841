"""The annual run's bookkeeping, behind small calls, so that the flow body is the pipeline.

`RunBook` keeps one run's records: it records the run's start, follows the plan of
`flows.resume` per stage (`do`: run, skip, reuse or leave out — with the audit rows, the cache
records around a stage that runs, the timing, the summary entry and the log line), records how
the stages ended (`stages`), refreshes the served file (`serve`) and names the publication the
files for people are written for (`publication`). `exit_and_error` turns what stopped a run into
its exit code and one-paragraph error.
"""

from __future__ import annotations

import errno
import functools
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect.utilities.annotations import quote

from flows import resume
from flows.audit import RunAudit, RunLog
from flows.fingerprints import fingerprints, inbox_files
from flows.resume import ResumeRefused
from flows.stages import LOADERS, STAGES, Done, InvalidInput, RunSettings, load_left_out
from validations.checkpoint_process import CheckpointProcess
from warehouse.store import PublicationShrinks, WarehouseBusy


def new_summary(run_id: str, year: int, log: RunLog) -> dict:
    """The run summary the flow returns (the data of its Failed state when it fails)."""
    return {
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


class Stored:
    """The output of a stage that did not run in this run (skipped: unchanged; reused:
    --from-stage), as it lies in the warehouse: read by its reader (`flows.stages.LOADERS`) when
    a stage that runs takes it, once, inside that stage (a failure to read is that stage's)."""

    def __init__(self, stage: str, run: RunSettings):
        self.stage, self.run = stage, run

    @functools.cached_property
    def output(self):
        return LOADERS[self.stage](self.run)

    def let_go(self) -> None:
        self.__dict__.pop("output", None)


class Handed:
    """What a stage that ran hands to the stages that read its output. Prefect keeps every task's
    arguments and return value until the flow run ends (its records of the task runs and the
    transaction that stages each result), whatever the flow does with its own references: with the
    frames themselves passed through it, the raw tables and the baselines stayed in memory through
    publish and serve (~0.5 GiB at 100,000 enterprises). So a stage's task takes and returns this
    holder — the same object, so that Prefect still links each stage to the stages it feeds — and
    the run lets go of the frames after the last stage that reads them (`let_go`)."""

    def __init__(self, done: Done):
        self.done: Done | None = done

    @property
    def output(self):
        if self.done is None:
            raise RuntimeError("a stage's output was read after the run let go of it")
        return self.done.output

    def let_go(self) -> None:
        self.done = None


def stage_task(runner: Callable[..., Done]) -> Callable[..., Handed]:
    """`runner` (`flows.stages.RUNNERS`) as the function of a stage's Prefect task: the outputs it
    is given are opened inside the task (a stored one read there, so a failure to read it is that
    stage's), what it returns goes back in a `Handed`."""

    def opened(value):
        return value.output if isinstance(value, (Handed, Stored)) else value

    @functools.wraps(runner)
    def stage(*args, **kwargs) -> Handed:
        return Handed(runner(*map(opened, args), **{k: opened(v) for k, v in kwargs.items()}))

    return stage


def let_go(*outputs: Handed | Stored | None) -> None:
    """Free the frames of outputs no later stage reads (`Handed`)."""
    for output in outputs:
        if output is not None:
            output.let_go()


def _argument(value):
    """What a stage's task is given for `value`: the run's settings quoted
    (`prefect.utilities.annotations.quote`: they are no task's result, and Prefect would otherwise
    walk their ~280 objects — rule pack, warehouse — twice a task, looking for upstream results);
    outputs as they are (`Handed`, `Stored`: opened inside the task, `stage_task`)."""
    return quote(value) if isinstance(value, RunSettings) else value


class RunBook:
    """One run's records in the work database (`flows.audit`), the stage folder's cache records
    (`Warehouse.cache_remember`), the run log and the summary. Creating it records the run's start
    (after marking the runs a kill interrupted)."""

    def __init__(
        self,
        run: RunSettings,
        from_stage: str | None,
        tasks: dict[str, Callable[..., Handed]],
        summary: dict,
        log: RunLog,
    ):
        wh = run.wh
        self.run, self.from_stage, self.tasks, self.summary, self.log = run, from_stage, tasks, summary, log
        if wh.seeded:
            log.write(wh.seeded)
        if n := wh.mark_interrupted(run.con):
            log.write(f"{n} earlier run(s) had been interrupted; marked 'interrupted' in audit.pipeline_run")
        self.notes: list[str] = [wh.seeded] if wh.seeded else []
        files = inbox_files(run.inbox)
        self.fps, self.cache = fingerprints(run, files), wh.cache_entries(run.year)
        self.plan: dict[str, str] = {}
        self.status = "failed"  # the run's outcome, once the stages ended
        self.failure: BaseException | None = None
        self.audit = RunAudit(wh, run.con, run.run_id)
        self.audit.run_started(run.year, run.inbox, run.policy, files, run.as_of, from_stage)

    @contextmanager
    def stages(self) -> Iterator[CheckpointProcess | None]:
        """Around the stages: plan them (a --from-stage that cannot resume is refused and every
        stage recorded as not run), start the publish checkpoint's worker when publish will run
        (Great Expectations imports there while the stages compute; yielded, None otherwise), and
        record the run's outcome in audit and the summary, whatever happens."""
        status, message = "failed", None
        try:
            try:
                self.plan = resume.plan(self.run.year, self.cache, self.fps, self.from_stage)
            except ResumeRefused as e:
                self.audit.not_run(STAGES)
                status, message = "refused", str(e)
                raise
            checkpoint = CheckpointProcess.start() if self.plan["publish"] == "run" else None
            try:
                yield checkpoint
            finally:
                if checkpoint is not None:
                    checkpoint.close()
            status, message = "succeeded", "; ".join(self.notes) or None
        except BaseException as e:
            self.failure = e
            if isinstance(e, KeyboardInterrupt):
                status, message = "interrupted", "interrupted (Ctrl-C)"
            elif status != "refused":
                status = "invalid_input" if isinstance(e, InvalidInput) else "failed"
                message = failure_message(e)
            raise
        finally:
            self.status = status
            self.summary["notes"] = list(self.notes)
            if self.summary["stages"].get("validate", {}).get("status") in ("succeeded", "skipped", "reused"):
                self.summary["left_out"] = list(load_left_out(self.run))
            self.audit.run_finished(status, message)

    def do(self, stage: str, *inputs):
        """Run, skip, reuse or leave out `stage` as the plan says, and record it. Returns its
        output: what it made (`Handed`), `Stored` when it did not run, None when not needed."""
        action, fp, entry = self.plan[stage], self.fps[stage], self.cache.get(stage)
        if action in ("skip", "reuse"):
            status = "skipped" if action == "skip" else "reused"
            why = "unchanged" if action == "skip" else f"--from-stage {self.from_stage}"
            message = f"{status}, {why}: output of run {entry['run_id']}"
            self.notes.extend(entry["notes"])
            self.audit.kept(stage, status, entry["rows_out"], message, fp.digest)
            self._summary_entry(stage, status, entry["rows_out"], 0.0, message)
            self.log.write(f"{stage}: {message}")
            return Stored(stage, self.run)
        if action == "not_needed":
            message = f"not needed: the stages from {self.from_stage} on do not read its output"
            self.audit.not_run([stage], message)
            self._summary_entry(stage, "not_run", None, 0.0, message)
            return None
        t0, started = time.perf_counter(), self.audit.stage_started(stage, fp.digest)
        self.log.write(f"{stage}: started")
        because = resume.why_it_runs(entry, fp, self.from_stage)
        self.run.wh.cache_forget(fp.slot, stage)  # no record while the output is incomplete (crash safety)
        try:
            handed: Handed = self.tasks[stage](*(_argument(i) for i in inputs))
        except BaseException as e:
            interrupted = isinstance(e, KeyboardInterrupt)
            message = "interrupted (Ctrl-C)" if interrupted else failure_message(e)
            self.audit.stage_finished(stage, started, "interrupted" if interrupted else "failed", message)
            self.audit.not_run(STAGES[STAGES.index(stage) + 1 :])
            self.log.write(f"{stage}: failed: {message}")
            raise
        done = handed.done
        self.run.wh.cache_remember(
            fp.slot,
            stage,
            fp.digest,
            fp.parts,
            self.run.run_id,
            done.rows_out,
            done.message,
            list(done.notes),
        )
        self.notes.extend(done.notes)
        self.audit.stage_finished(
            stage,
            started,
            "succeeded",
            done.message + (f" (ran because {because})" if because else ""),
            rows=done.rows_out,
        )
        seconds = time.perf_counter() - t0
        self._summary_entry(stage, "succeeded", done.rows_out, seconds, done.message)
        self.log.write(f"{stage}: succeeded in {seconds:.1f} s, {done.rows_out} rows: {done.message}")
        return handed

    def _summary_entry(self, stage: str, status: str, rows: int | None, seconds: float, message: str) -> None:
        self.summary["stages"][stage] = {
            "status": status,
            "rows": rows,
            "seconds": seconds,
            "message": message,
        }

    def serve(self, refresh: Callable, allow_shrink: bool) -> None:
        """Refresh the served file with `refresh(wh, con)` (also after a failed run: its audit rows
        become visible), unless it would then hold fewer published rows (`PublicationShrinks`,
        unless `allow_shrink`). The run's first failure is what the user must see: it wins over
        a failure here."""
        wh, con = self.run.wh, self.run.con
        try:
            shrinks = wh.shrinkage(con)
            if shrinks and not allow_shrink:
                refusal = wh.shrink_refusal(shrinks)
                self.audit.run_update(status="refused", message=refusal)
                raise PublicationShrinks(refusal)
            if shrinks:
                self.notes.append(
                    f"published with fewer rows than before (--allow-shrink): {'; '.join(shrinks)}"
                )
                self.audit.run_update(message="; ".join(self.notes))
            refresh(wh, con)
        except PublicationShrinks:
            if self.failure is not None:
                raise self.failure from None
            raise
        except Exception as e:
            self.log.write("serving failed\n" + traceback.format_exc())
            if self.failure is not None:
                raise self.failure from None
            if disk_full(e):
                raise
            try:
                self.audit.run_update(
                    status="failed", message=f"results stored, served file not refreshed: {e}"
                )
            except Exception:
                pass
            raise RuntimeError(
                f"the results are stored in {wh.work} but the served file {wh.served} could not be "
                f"refreshed ({e}); the next run serves them"
            ) from e
        self.summary["notes"] = list(self.notes)
        self.log.write(f"served {wh.served}; run {self.status}")

    def publication(self):
        """The publication now served (`exports.people.Publication`): this run's when it
        published, else the run's whose publish output it kept."""
        from exports.people import Publication

        published = self.summary["stages"]["publish"]["status"] == "succeeded"
        return Publication(
            year=self.run.year,
            run_id=self.run.run_id if published else self.cache["publish"]["run_id"],
            fingerprint=self.fps["publish"].digest,
            as_of=str(self.run.as_of),
            policy_version=self.run.policy.version,
        )


# ---- what stopped a run ---------------------------------------------------------------------------
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


def exit_and_error(e: BaseException, summary: dict, warehouse: Path, log: RunLog) -> tuple[int, str]:
    """The exit code and one-paragraph error of a run stopped by `e`; an unexpected failure's
    traceback goes to the run log."""
    year, run_id = summary["year"], summary["run_id"]
    if isinstance(e, InvalidInput | ResumeRefused):
        return 2, str(e)
    if isinstance(e, WarehouseBusy):
        return 1, f"Run for {year} did not start: {e}"
    if isinstance(e, KeyboardInterrupt):
        stage = next((s for s in STAGES if s not in summary["stages"]), None)
        published = summary["stages"].get("publish", {}).get("status") == "succeeded"
        return 130, (
            f"Interrupted: run {run_id} for {year} stopped"
            + (
                f" during {stage}; the published results are untouched"
                if not published
                else " after publishing; the new publication is complete"
            )
            + " (`etsflow runs` lists it as interrupted)."
        )
    if isinstance(e, PublicationShrinks):
        return 1, f"Run for {year}: {e}"
    if isinstance(e, NotImplementedError):
        return (
            1,
            f"Run for {year} stopped: {e}. The earlier stages completed; published results are unchanged.",
        )
    log.write("FAILED\n" + "".join(traceback.format_exception(e)))
    if full := disk_full(e):
        where = warehouse.resolve().parent
        first = " ".join(str(full).split())[:300]
        return 1, (
            f"Run for {year} failed: the disk is full ({first}). Published results are unchanged "
            f"(the served file was not replaced). Free space on the disk of {where} (the work "
            "database, the stage folder and out/ grow during a run) and run the same command again: "
            f"it continues from the last completed stage; the traceback is in {log.path}."
        )
    return 1, (
        f"Run for {year} failed: {type(e).__name__}: {' '.join(str(e).split())}. Published results "
        f"are unchanged; the traceback is in {log.path}."
    )
