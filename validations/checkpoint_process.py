"""The publish checkpoint in its own process, started early, so that the run never imports Great
Expectations (5–6 CPU s of imports, which in a thread of the run held the GIL the stages need).

    checker = CheckpointProcess.start()      # when the run will publish: imports GX meanwhile
    ...                                      # ingest, validate, engine: in the run's process
    submitted = checker.submit(results, docs_dir, run_name)   # frames in as Parquet
    ...                                      # publish prepares its writes meanwhile
    result = submitted.verdict()             # the verdict back, before anything is written
    checker.close()

`submit` computes the exact comparison columns in the run's process (`check_frames`, Polars), writes
the frames to Parquet in a temporary folder and sends the worker one JSON line: the folder, the
expectations (`checks`), the year, the Data Docs folder and the run name. The worker
(`python -m validations.checkpoint_process`) runs `validate_frames` and answers one JSON line:
success and failures, or the error that stopped it. The publication is refused unless the answer
is a success: a worker that dies or answers nothing is an error of the run (nothing is published).

In a child of the warm runner (etsflow/runner.py) `start` takes the worker the runner started
in advance (`checkpoint_worker.from_runner`) instead of starting one.

`ETSFLOW_CHECKPOINT=inline` runs the checkpoint in the run's process instead (the tests, which
import Great Expectations once per session, and patch it to simulate a full disk).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from model import PARQUET_ROW_GROUP
from model.results import YearResults
from validations import checkpoint_worker
from validations.checkpoint import Check, CheckpointResult, check_frames, checks, run_checkpoint


class CheckpointProcess:
    """A worker process that has imported Great Expectations and validates one publication."""

    def __init__(self, proc: subprocess.Popen | checkpoint_worker.Adopted | None, stderr_path: Path | None):
        self._proc, self._stderr = proc, stderr_path

    @classmethod
    def start(cls) -> CheckpointProcess:
        """Start the worker now (it imports GX while the caller computes), or take the one the
        warm runner started earlier (`checkpoint_worker.from_runner`); inline when
        `ETSFLOW_CHECKPOINT=inline`."""
        if os.environ.get("ETSFLOW_CHECKPOINT", "process") == "inline":
            return cls(None, None)
        return cls(*(checkpoint_worker.from_runner() or checkpoint_worker.start()))

    def check(self, results: YearResults, docs_dir: Path, run_name: str) -> CheckpointResult:
        """The verdict on `results` (`submit`, then wait for it)."""
        return self.submit(results, docs_dir, run_name).verdict()

    def submit(self, results: YearResults, docs_dir: Path, run_name: str) -> Submitted:
        """Hand `results` to the worker and return at once: the caller computes while the worker
        validates (publish prepares the cycle's writes meanwhile), then asks `verdict()` before
        anything is written. Inline, the checkpoint runs here and the verdict is ready."""
        if self._proc is None:
            return Submitted(self, None, run_checkpoint(results, docs_dir, run_name=run_name))
        frames = check_frames(results)
        tmp = tempfile.TemporaryDirectory(prefix="etsflow-checkpoint-")
        for table, frame in frames.items():
            frame.write_parquet(Path(tmp.name) / f"{table}.parquet", row_group_size=PARQUET_ROW_GROUP)
        request = {
            "frames": tmp.name,
            "tables": list(frames),
            "checks": [asdict(c) for c in checks(results)],
            "year": results.year,
            "docs_dir": str(Path(docs_dir).resolve()),
            "run_name": run_name,
        }
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # the worker is gone: `verdict` says so, with its stderr
        return Submitted(self, tmp, None)

    def _answer(self) -> CheckpointResult:
        try:
            out, _ = self._proc.communicate(timeout=3600)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            raise RuntimeError("the publish checkpoint process did not answer within an hour") from None
        answer = _last_json_line(out)
        if answer is None:
            raise RuntimeError(
                f"the publish checkpoint process exited ({self._proc.returncode}) without a verdict: "
                + self._stderr_tail()
            )
        if "error" in answer:
            if answer.get("errno") is not None:
                raise OSError(answer["errno"], answer["error"])
            raise RuntimeError(f"the publish checkpoint failed: {answer['error']}")
        index = answer.get("docs_index")
        return CheckpointResult(
            success=bool(answer["success"]),
            failures=answer["failures"],
            docs_index=Path(index) if index else None,
        )

    def _stderr_tail(self) -> str:
        try:
            text = self._stderr.read_text(errors="replace").strip() if self._stderr else ""
        except OSError:
            text = ""
        return " ".join(text.splitlines()[-3:])[-600:] or "(nothing on stderr)"

    def close(self) -> None:
        """Stop the worker if it is still waiting (the run did not publish), remove its log."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._stderr is not None:
            self._stderr.unlink(missing_ok=True)


@dataclass
class Submitted:
    """A publication handed to the checkpoint; `verdict()` waits for the answer (once) and removes
    the frames' Parquet files."""

    worker: CheckpointProcess
    frames_dir: tempfile.TemporaryDirectory | None
    result: CheckpointResult | None

    def verdict(self) -> CheckpointResult:
        if self.result is None:
            try:
                self.result = self.worker._answer()
            finally:
                self.discard()
        return self.result

    def discard(self) -> None:
        """Remove the frames handed over (also when the run stops before asking the verdict)."""
        if self.frames_dir is not None:
            self.frames_dir.cleanup()
            self.frames_dir = None


def _last_json_line(out: str | None) -> dict | None:
    for line in reversed((out or "").splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def _serve() -> None:
    """The worker: import GX, read one request from stdin, answer on the original stdout (anything
    GX prints goes to stderr)."""
    answer_to = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        import great_expectations  # noqa: F401  (the point of starting early)
    except Exception:
        pass  # validate_frames' own import reports it
    line = sys.stdin.readline()
    if not line:
        return  # the run did not publish
    try:
        import polars as pl

        from validations.checkpoint import validate_frames

        req = json.loads(line)
        frames = {t: pl.read_parquet(Path(req["frames"]) / f"{t}.parquet") for t in req["tables"]}
        all_checks = [Check(**(c | {"context": tuple(c["context"])})) for c in req["checks"]]
        result = validate_frames(
            frames, all_checks, req["year"], Path(req["docs_dir"]), run_name=req["run_name"]
        )
        answer = {
            "success": result.success,
            "failures": result.failures,
            "docs_index": str(result.docs_index) if result.docs_index else None,
        }
    except OSError as e:
        code = e.errno if e.errno is not None else (errno.ENOSPC if "No space left" in str(e) else None)
        answer = {"error": e.strerror or str(e), "errno": code}
    except Exception as e:
        answer = {"error": f"{type(e).__name__}: {e}"}
    answer_to.write(json.dumps(answer, ensure_ascii=False) + "\n")
    answer_to.flush()


if __name__ == "__main__":
    _serve()
    # leave without the interpreter's teardown (1.1–1.3 s after a sample publication's answer,
    # measured; 0.02–0.05 s this way): the run waits for this process's end (`communicate`), and
    # the answer is written and flushed already
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
