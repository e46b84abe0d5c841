"""Starting the publish checkpoint's worker process, or taking one the warm runner started earlier.

Standard library only: the warm runner (etsflow/runner.py), which must not import Polars, starts
the same worker as a run does (`start`) and keeps one spare; a run in a child of the runner asks
for it (`from_runner`) instead of starting its own, so that Great Expectations (2.5–3.4 CPU s of
imports) is imported before the run needs it (docs/scaling.md §9).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# set by the warm runner in each child: the descriptor of a socket on which the runner hands over
# its spare worker (its pid, stderr log, and the descriptors of its stdin and stdout)
HAND_OVER_ENV = "ETSFLOW_RUNNER_WORKER"


def start() -> tuple[subprocess.Popen, Path]:
    """Start a worker now (it imports GX meanwhile): the process and its stderr log."""
    fd, name = tempfile.mkstemp(prefix="etsflow-checkpoint-", suffix=".log")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop(HAND_OVER_ENV, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "validations.checkpoint_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=fd,
        env=env,
        text=True,
    )
    os.close(fd)
    return proc, Path(name)


def from_runner() -> tuple[Adopted, Path] | None:
    """The warm runner's spare worker and its stderr log, or None (not a child of a runner, or
    it has none ready). Asked once: the variable is removed."""
    fd = os.environ.pop(HAND_OVER_ENV, None)
    if fd is None:
        return None
    try:
        with socket.socket(fileno=int(fd)) as channel:
            channel.send(b"worker")
            data, fds, _flags, _addr = socket.recv_fds(channel, 4096, 2)
    except (OSError, ValueError):
        return None
    if len(fds) != 2:
        for f in fds:
            os.close(f)
        return None
    answer = json.loads(data)
    try:
        return Adopted(answer["pid"], *fds), Path(answer["stderr"])
    except ProcessLookupError:  # it died meanwhile
        for f in fds:
            os.close(f)
        return None


class Adopted:
    """A worker started by the warm runner, used as `CheckpointProcess` uses a `Popen`. It is the
    runner's child, not this process's: its end is watched through a pidfd (the runner reaps it)
    and its exit code is not known here."""

    returncode = "unknown: a worker of the warm runner"

    def __init__(self, pid: int, stdin_fd: int, stdout_fd: int):
        self._pidfd = os.pidfd_open(pid)
        self.pid = pid
        self.stdin = os.fdopen(stdin_fd, "w")
        self._stdout = stdout_fd

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        """Its whole output (one answer line) once it closes it, as `Popen.communicate`."""
        with contextlib.suppress(OSError):
            self.stdin.close()
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = []
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._stdout], [], [], left)[0]:
                raise subprocess.TimeoutExpired("checkpoint worker", timeout)
            chunk = os.read(self._stdout, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(self._stdout)
        self.wait()
        return b"".join(chunks).decode(), None

    def poll(self) -> str | None:
        return self.returncode if select.select([self._pidfd], [], [], 0)[0] else None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def wait(self) -> str:
        select.select([self._pidfd], [], [])
        return self.returncode
