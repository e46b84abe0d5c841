"""The `etsflow` console script: hand the command to a warm runner if one answers, else run it here.

A fresh `etsflow` process spends ~1.5 s importing Prefect, Typer, Rich and Pydantic before its
first stage (docs/scaling.md §9). A *runner* (`etsflow.runner`) has imported them once and forks a
child per command; this module is the client. It imports the standard library only, so that asking
costs milliseconds; when no runner answers it imports `etsflow.cli` and runs the command in this
process, exactly as without a runner.

One runner serves one *identity*: the Python interpreter and its environment prefix, the Prefect
home, the version of the code on disk (`code_version`: the project's sources, installed packages)
and the environment variables read at import (Prefect's settings, ours, Python's, the locale). Its socket
is `<PREFECT_HOME>/runner/<hash of the identity>.sock` (mode 0600 in a folder of this user, 0700),
so a client only ever finds a runner of its own identity; the runner checks the identity again.

`ETSFLOW_RUNNER`: `auto` (default) — use a runner; after a direct `etsflow run`, start one in the
background (it waits for that run to end first, so it never slows it down; not when `CI` is set);
`use` — use a runner, never start one; `off` — never ask one (tests, debugging).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sys
from pathlib import Path

from model import PACKAGES

REPO = Path(__file__).resolve().parents[1]
# environment read at import (Prefect's settings, ours, the interpreter's, the stdio encoding): a
# runner serves only clients whose values of these equal its own. ETSFLOW_RUNNER* choose the runner.
ENV_PREFIXES = ("PREFECT_", "ETSFLOW_", "PYTHON", "LC_")
ENV_NAMES = ("LANG", "TZ", "DO_NOT_TRACK")
INTERRUPTED = "Interrupted before anything was written; published results are untouched."  # Ctrl-C, exit 130
MAX_MESSAGE = 1 << 20
MAX_SOCKET_PATH = 107  # bytes of a Unix socket's path on Linux (sun_path, with its terminating NUL)
ACCEPT_TIMEOUT_S = 10.0  # a live runner forks at once; no answer by then means it is stuck


def prefect_home(env: dict[str, str], cwd: str) -> Path:
    """The Prefect home a command run with `env` in `cwd` uses (as `etsflow.settings.configure`)."""
    if home := env.get("PREFECT_HOME"):
        return Path(cwd, home).resolve()
    return Path(cwd, env.get("ETSFLOW_VAR", "var"), "prefect").resolve()


def code_version() -> str:
    """A hash of the code as it is on disk: path, size and modification time of every .py file of
    the project's packages, and the modification time of the interpreter's site-packages folders
    (pip installing, upgrading or removing a package changes it). ~1 ms; no git needed."""
    h = hashlib.sha256()
    for folder in sys.path:
        if folder.endswith("-packages") and os.path.isdir(folder):
            h.update(f"{folder}\0{os.stat(folder).st_mtime_ns}\n".encode())
    stack = [REPO / p for p in PACKAGES]
    while stack:
        folder = stack.pop()
        with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
            for e in sorted(entries, key=lambda e: e.name):
                if e.is_dir() and e.name != "__pycache__":
                    stack.append(Path(e.path))
                elif e.name.endswith(".py"):
                    st = e.stat()
                    h.update(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def relevant_env(env: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in env.items()
        if (k.startswith(ENV_PREFIXES) or k in ENV_NAMES) and not k.startswith("ETSFLOW_RUNNER")
    }


def identity(env: dict[str, str], cwd: str) -> dict:
    """What a runner must share with a client to run its commands."""
    return {
        "python": sys.executable,
        "prefix": sys.prefix,
        "home": str(prefect_home(env, cwd)),
        "code": code_version(),
        "env": relevant_env(env),
    }


def runner_dir(ident: dict) -> Path:
    return Path(ident["home"]) / "runner"


def socket_path(ident: dict) -> Path:
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return runner_dir(ident) / f"{key}.sock"


def private_dir(folder: Path) -> bool:
    """Whether `folder` is this user's and nobody else may write in it (else its socket is not
    trusted, nor a socket made there)."""
    try:
        st = folder.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def remove_if_stale(path: Path) -> None:
    """Remove the socket of a runner that died without removing it. A live runner holds the lock
    next to its socket for its whole life (also while it is still importing, before it listens)."""
    import fcntl

    try:
        lock = os.open(f"{path}.lock", os.O_RDWR)
    except FileNotFoundError:
        lock = None  # no runner ever took it
    except OSError:
        return
    try:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    except OSError:
        return  # a runner holds it
    finally:
        if lock is not None:
            os.close(lock)


def connect(path: Path, timeout: float | None = ACCEPT_TIMEOUT_S) -> socket.socket | None:
    """A connection to the runner at `path`, or None (none there; a stale socket is removed)."""
    if not private_dir(path.parent):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except ConnectionRefusedError:
        sock.close()
        remove_if_stale(path)
        return None
    except OSError:
        sock.close()
        return None
    return sock


def receive(sock: socket.socket) -> dict | None:
    data = sock.recv(MAX_MESSAGE)
    return json.loads(data) if data else None


def request(path: Path, message: dict, timeout: float = ACCEPT_TIMEOUT_S) -> dict | None:
    """One question to the runner at `path` (`status`, `stop`) and its answer, or None."""
    sock = connect(path, timeout)
    if sock is None:
        return None
    with sock:
        try:
            sock.send(json.dumps(message).encode())
            return receive(sock)
        except OSError:
            return None


def run_through(path: Path, ident: dict, argv: list[str], env: dict[str, str], cwd: str) -> int | None:
    """Run `argv` in a child of the runner at `path` with this process's stdin, stdout and stderr;
    return its wait status, or None when no runner of `ident` takes the command (run it here)."""
    sock = connect(path)
    if sock is None:
        return None
    with sock:
        message = {
            "op": "run",
            "identity": ident,
            "argv": argv,
            "env": env,
            "cwd": cwd,
            "path": sys.path,
            "main_package": getattr(sys.modules["__main__"], "__package__", None),  # Click's program name
        }
        try:
            socket.send_fds(sock, [json.dumps(message).encode()], [0, 1, 2])
            answer = receive(sock)
        except OSError:  # a closed descriptor, a runner gone or stuck: nothing was started
            return None
        if not answer or "pid" not in answer:
            return None  # refused: another identity, or its Prefect server is gone
        child = answer["pid"]

        def forward(signum, _frame):  # Ctrl-C reaches this process: the command runs in the child
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child, signum)

        def suspend(_signum, _frame):  # Ctrl-Z: stop the command, then this process (the shell's job)
            forward(signal.SIGSTOP, None)
            os.kill(os.getpid(), signal.SIGSTOP)

        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(s, forward)
        signal.signal(signal.SIGTSTP, suspend)
        signal.signal(signal.SIGCONT, forward)  # `fg`/`bg`: the command goes on too
        sock.settimeout(None)
        try:
            answer = receive(sock)
        except OSError:
            answer = None
        if not answer:
            print(
                f"etsflow: the runner stopped while the command ran (process {child}); its exit code is unknown.",
                file=sys.stderr,
            )
            return 1 << 8
        return answer["status"]


def leave_like(status: int) -> None:
    """Exit as the child did: its exit code, or the same signal (the shell then says so too)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def runner_problem(ident: dict) -> str | None:
    """Why no runner of `ident` can serve (its folder is made if missing), or None."""
    folder, path = runner_dir(ident), socket_path(ident)
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        return f"its socket's path {path} is longer than a Unix socket's {MAX_SOCKET_PATH} bytes (use a shorter PREFECT_HOME)"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not private_dir(folder):
        return f"{folder} must be this user's, writable by nobody else"
    return None


def start_runner(env: dict[str, str], cwd: str, after: int | None = None) -> str | None:
    """Start a runner in the background, in its own session, its output in its log file; or say
    why none can serve here. With `after`, it first waits for that process to end (the run that
    started it)."""
    import subprocess

    ident = identity(env, cwd)
    if problem := runner_problem(ident):
        return problem
    path = socket_path(ident)
    args = [sys.executable, "-P", "-m", "etsflow.runner"] + (["--after", str(after)] if after else [])
    with open(path.with_suffix(".log"), "ab") as log:
        subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    return None


def main() -> None:
    """The console script: through a runner when one of this identity answers, else here."""
    mode = os.environ.get("ETSFLOW_RUNNER", "auto")
    if mode not in ("auto", "use", "off"):
        sys.exit(f"ETSFLOW_RUNNER={mode!r}: 'auto', 'use' or 'off'")
    command = sys.argv[1:2]
    # `etsflow runner …` manages runners: always here; the runner needs Linux (fork, pidfd, SCM_RIGHTS)
    if mode != "off" and command != ["runner"] and sys.platform == "linux":
        env, cwd = dict(os.environ), os.getcwd()
        ident = identity(env, cwd)
        try:
            status = run_through(socket_path(ident), ident, sys.argv, env, cwd)
        except KeyboardInterrupt:  # before the command started (one just started is hung up)
            print(INTERRUPTED, file=sys.stderr)
            sys.exit(130)
        if status is not None:
            leave_like(status)
        if mode == "auto" and command == ["run"] and not os.environ.get("CI"):
            start_runner(env, cwd, after=os.getpid())
    from etsflow.cli import main as run_here

    run_here()


if __name__ == "__main__":
    main()
