"""The run's records: `audit.pipeline_run` (one row per run), `audit.stage_run` (one row per
stage) and the run log `<warehouse dir>/logs/<run_id>.log` (one line per stage, and the traceback
of a failure). The flow calls these; it never builds an audit row itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from ingest.read import readable_path
from model import catalog
from warehouse import Warehouse
from warehouse.store import now

# Set by the CLI on a terminal: called with each line of the run log (progress per stage).
PROGRESS: Callable[[str], None] | None = None


class RunLog:
    """`<warehouse dir>/logs/<run_id>.log`: one line per stage, and the traceback of a failure."""

    def __init__(self, folder: Path, run_id: str):
        self.path = folder / "logs" / f"{run_id}.log"

    def write(self, line: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8", errors="backslashreplace") as f:  # names not UTF-8
                f.write(f"{now().isoformat(sep=' ', timespec='milliseconds')} {line}\n")
        except OSError:  # a log that cannot be written must not fail the run
            pass
        if PROGRESS is not None:
            PROGRESS(line.splitlines()[0] if line else line)
        try:
            from prefect import get_run_logger

            get_run_logger().info(line)  # also in the Prefect UI when a server is used
        except Exception:
            pass


def _stage_row(run_id, stage, started, finished, status, rows=None, message=None, input_hash=None):
    return {
        "run_id": run_id,
        "stage": stage,
        "started_at": started,
        "finished_at": finished,
        "duration_s": (finished - started).total_seconds() if started and finished else None,
        "status": status,
        "rows_out": rows,
        "input_hash": input_hash,
        "message": message,
    }


class RunAudit:
    """The audit rows of one run, in the work database (`con`)."""

    def __init__(self, wh: Warehouse, con, run_id: str):
        self.wh, self.con, self.run_id = wh, con, run_id

    def run_started(
        self,
        year: int,
        inbox: Path,
        policy,
        files: dict[str, str] | None,
        as_of: date,
        from_stage: str | None,
    ) -> None:
        row = {
            "run_id": self.run_id,
            "compliance_year": year,
            "started_at": now(),
            "finished_at": None,
            "status": "running",
            "inbox": readable_path(inbox.resolve()),
            "policy_version": policy.version,
            "policy_path": policy.source_path,
            "input_hashes": json.dumps(files, ensure_ascii=False) if files is not None else None,
            "as_of": as_of,
            "from_stage": from_stage,
            "message": None,
        }
        self.wh.append(self.con, catalog.PIPELINE_RUN, [row])

    def run_finished(self, status: str, message: str | None) -> None:
        self.wh.update_run(self.con, self.run_id, finished_at=now(), status=status, message=message)

    def run_update(self, **values) -> None:
        self.wh.update_run(self.con, self.run_id, **values)

    def not_run(self, stages, message: str | None = None) -> None:
        for stage in stages:
            self.wh.append(
                self.con,
                catalog.STAGE_RUN,
                [_stage_row(self.run_id, stage, None, None, "not_run", message=message)],
            )

    def kept(self, stage: str, status: str, rows: int | None, message: str, digest: str) -> None:
        """A stage skipped (unchanged) or reused (--from-stage): its earlier output stands."""
        t = now()
        self.wh.append(
            self.con, catalog.STAGE_RUN, [_stage_row(self.run_id, stage, t, t, status, rows, message, digest)]
        )

    def stage_started(self, stage: str, digest: str) -> datetime:
        started = now()
        self.wh.append(
            self.con,
            catalog.STAGE_RUN,
            [_stage_row(self.run_id, stage, started, None, "running", input_hash=digest)],
        )
        return started

    def stage_finished(
        self, stage: str, started: datetime, status: str, message: str, rows: int | None = None
    ) -> None:
        finished = now()
        values = {"rows_out": rows} if rows is not None else {}
        self.wh.update_stage(
            self.con,
            self.run_id,
            stage,
            status=status,
            finished_at=finished,
            duration_s=(finished - started).total_seconds(),
            message=message,
            **values,
        )
