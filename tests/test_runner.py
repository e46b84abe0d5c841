"""The warm runner (etsflow/runner.py) and its client, the console script (etsflow/launch.py), with
real processes: a runner started by `etsflow runner start` in a temporary Prefect home, commands
through `.venv/bin/etsflow`, compared with the same commands run directly (`ETSFLOW_RUNNER=off`).

The runners use this session's Prefect server (PREFECT_API_URL from tests/conftest.py), so none
starts one; each runner is stopped at the end of its test and checked gone by its pid. Only the
first keeps a spare checkpoint worker (the others check inline: no Great Expectations import).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

from etsflow import launch
from validations import checkpoint_worker

from .conftest import BAD, REPO
from .test_imports import HEAVY, imported

ETSFLOW = str(Path(sys.executable).with_name("etsflow"))


def _env(base: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETSFLOW_RUNNER", "ETSFLOW_CHECKPOINT"))}
    return (
        env
        | {"ETSFLOW_VAR": str(base / "var"), "PREFECT_HOME": str(base / "prefect"), "ETSFLOW_RUNNER": "use"}
        | extra
    )


def etsflow(env: dict, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ETSFLOW, *args],
        env=env,
        cwd=env["ETSFLOW_VAR"].removesuffix("/var"),
        capture_output=True,
        text=True,
        **kw,
    )


def _status(env: dict) -> dict | None:
    ident = launch.identity(env, env["ETSFLOW_VAR"].removesuffix("/var"))
    return launch.request(launch.socket_path(ident), {"op": "status"})


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not Path(f"/proc/{pid}").exists()


class Runner:
    """A runner for `env`: started by the CLI, stopped (and checked gone) by `stop`."""

    def __init__(self, env: dict):
        self.env = env
        r = etsflow(env, "runner", "start")
        assert r.returncode == 0 and r.stdout.startswith("Started."), r.stdout + r.stderr
        self.pid = _status(env)["pid"]

    def stop(self) -> None:
        r = etsflow(self.env, "runner", "stop")
        try:
            assert r.stdout.strip() == f"Runner {self.pid} stopped.", r.stdout + r.stderr
            assert _gone(self.pid)
        finally:
            if Path(f"/proc/{self.pid}").exists():
                os.kill(self.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    base = tmp_path_factory.mktemp("runner")
    (base / "var").mkdir()
    r = Runner(_env(base))
    yield r
    r.stop()
    assert _status(r.env) is None
    assert etsflow(r.env, "runner", "status").returncode == 1


def test_the_client_imports_only_the_standard_library():
    assert imported("etsflow.launch", (*HEAVY, "typer", "rich", "pydantic", "etsflow.cli")) == []


def test_the_code_version_covers_every_package():
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert set(launch.PACKAGES) == {p.split(".")[0] for p in packages}


def test_commands_through_the_runner_equal_direct_runs(runner, tmp_path):
    served = _status(runner.env)["served"]
    commands = [
        ["--version"],
        ["--help"],
        ["run", "--help"],
        ["run", "--year", "2021", "--inbox", str(tmp_path / "missing")],  # exit 2, one paragraph
        ["explain", "CQ001", "--year", "2021", "--warehouse", str(tmp_path / "none.duckdb")],
    ]
    for args in commands:
        warm = etsflow(runner.env, *args)
        direct = etsflow(runner.env | {"ETSFLOW_RUNNER": "off"}, *args)
        assert (warm.returncode, warm.stdout, warm.stderr) == (
            direct.returncode,
            direct.stdout,
            direct.stderr,
        )
    assert warm.returncode != 0
    status = _status(runner.env)
    assert status["served"] == served + len(commands)
    assert status["threads"] == [] and status["running"] == []
    assert (
        f"spare checkpoint worker {status['spare_worker']}." in etsflow(runner.env, "runner", "status").stdout
    )


def test_a_real_run_through_the_runner(runner, tmp_path):
    args = ["run", "--year", "2021", "--inbox", str(BAD / "_valid"), "--warehouse", str(tmp_path / "wh.duckdb"), "--as-of", "2024-01-01"]  # fmt: skip
    r = etsflow(runner.env, *args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("2021 run ") and "publish " in r.stdout
    assert "Files for people:" in r.stdout
    log = next((Path(runner.env["PREFECT_HOME"]) / "runner").glob("*.log")).read_text()
    assert f"runner {runner.pid}: child " in log and f"run --year 2021 --inbox {BAD / '_valid'}" in log
    # its publish checkpoint ran in the runner's spare worker (Great Expectations imported earlier)
    assert ": took checkpoint worker " in log
    assert (tmp_path / "out" / "2021" / "data-docs" / "index.html").is_file()
    again = etsflow(runner.env, *args)
    assert again.returncode == 0 and "ingest skipped (unchanged)" in " ".join(again.stdout.split())


def test_the_command_is_a_child_of_the_runner_and_ctrl_c_reaches_it(tmp_path):
    """Paused in ingest by the test hook (warehouse.store.pause_point): the paused process is a
    child of the runner in a session of its own; SIGINT to the client interrupts it as Ctrl-C
    interrupts a direct run."""
    (tmp_path / "var").mkdir()
    marker = tmp_path / "paused"
    env = _env(
        tmp_path, ETSFLOW_PAUSE_AT="ingest", ETSFLOW_PAUSE_MARKER=str(marker), ETSFLOW_CHECKPOINT="inline"
    )
    r = Runner(env)
    try:
        args = [
            ETSFLOW,
            "run",
            "--year",
            "2021",
            "--inbox",
            str(BAD / "_valid"),
            "--warehouse",
            str(tmp_path / "wh.duckdb"),
        ]
        client = subprocess.Popen(
            args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 120
        while not marker.exists() and client.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(marker.read_text().split()[0])
        stat = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat[1]) == r.pid  # parent: the runner
        assert int(stat[2]) == int(stat[3]) == child  # its own process group and session
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=120)
        assert client.returncode == 130, out + err
        assert "Interrupted: run " in err and "stopped during ingest" in err
        assert _gone(child)
    finally:
        r.stop()


def test_a_runner_of_another_code_version_or_environment_is_not_used(runner):
    cwd = runner.env["ETSFLOW_VAR"].removesuffix("/var")
    ident = launch.identity(runner.env, cwd)
    path = launch.socket_path(ident)
    assert launch.socket_path(ident | {"code": "0" * 16}) != path  # a client of other code looks elsewhere
    served = _status(runner.env)["served"]
    for other in (ident | {"code": "0" * 16}, ident | {"env": ident["env"] | {"PREFECT_API_URL": "x"}}):
        assert launch.run_through(path, other, [ETSFLOW, "--version"], runner.env, cwd) is None
    assert _status(runner.env)["served"] == served


def test_a_stale_socket_is_removed_and_the_command_runs_directly(runner):
    env = runner.env | {"ETSFLOW_STALE": "1"}  # another identity, no runner for it
    ident = launch.identity(env, env["ETSFLOW_VAR"].removesuffix("/var"))
    path = launch.socket_path(ident)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as dead:  # a runner that died: not listening
        dead.bind(str(path))
    assert path.exists()
    r = etsflow(env, "--version")
    assert (r.returncode, r.stdout) == (
        0,
        etsflow(runner.env | {"ETSFLOW_RUNNER": "off"}, "--version").stdout,
    )
    assert not path.exists()


def test_a_direct_run_starts_a_runner_that_stops_when_idle(tmp_path):
    """`ETSFLOW_RUNNER=auto`: a run that found no runner starts one for the next command (after
    the run has ended); it stops by itself after ETSFLOW_RUNNER_IDLE_MINUTES without a command."""
    (tmp_path / "var").mkdir()
    env = {k: v for k, v in _env(tmp_path).items() if k != "CI"}
    env |= {"ETSFLOW_RUNNER": "auto", "ETSFLOW_RUNNER_IDLE_MINUTES": "0.05", "ETSFLOW_CHECKPOINT": "inline"}
    r = etsflow(env, "run", "--year", "2021", "--inbox", str(tmp_path / "missing"))
    assert r.returncode == 2
    deadline, status = time.monotonic() + 120, None
    while status is None and time.monotonic() < deadline:
        status = _status(env)
        time.sleep(0.05)
    assert status is not None and status["served"] == 0
    try:
        assert _gone(status["pid"], timeout=60)  # idle for 3 s: it stopped by itself
        assert not launch.socket_path(launch.identity(env, str(tmp_path))).exists()
    finally:
        if Path(f"/proc/{status['pid']}").exists():
            os.kill(status["pid"], signal.SIGKILL)


def test_a_run_without_a_spare_worker_from_the_runner_starts_its_own(monkeypatch):
    """The runner answers that it has no spare checkpoint worker: `from_runner` says None (the
    run starts its own) and forgets the channel."""
    runner_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    monkeypatch.setenv(checkpoint_worker.HAND_OVER_ENV, str(child_end.detach()))
    runner_end.settimeout(30)

    def answer():
        assert runner_end.recv(64) == b"worker"
        runner_end.send(b"{}")

    t = threading.Thread(target=answer)
    t.start()
    assert checkpoint_worker.from_runner() is None
    t.join()
    runner_end.close()
    assert checkpoint_worker.HAND_OVER_ENV not in os.environ


def test_an_adopted_worker_is_driven_like_a_popen():
    """`Adopted` (a worker known by pid and pipes) writes, reads its answer to the end, waits."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; print(sys.stdin.readline().strip().upper())"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    worker = checkpoint_worker.Adopted(proc.pid, os.dup(proc.stdin.fileno()), os.dup(proc.stdout.fileno()))
    proc.stdin.close()
    proc.stdout.close()
    assert worker.poll() is None
    worker.stdin.write("answer\n")
    worker.stdin.flush()
    assert worker.communicate(timeout=60) == ("ANSWER\n", None)
    assert worker.poll() is not None
    proc.wait()
