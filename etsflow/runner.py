"""The warm runner: imports once, forks a child per `etsflow` command (docs/scaling.md §9).

    python -P -m etsflow.runner [--after PID]      # what `etsflow runner start` and a run start

It takes the lock of its socket (one runner per identity, `etsflow.launch`), points Prefect at the
local shared server (`settings.configure`), imports what every command needs (Prefect's client and
flow engine, Typer, Rich, Pydantic, the files-for-people libraries) and listens on its socket.
Per command it forks: the child takes the client's stdin, stdout and stderr (passed as
descriptors), argv, working folder, environment and `sys.path`, becomes a session of its own
(the client forwards Ctrl-C and other signals to it) and runs `etsflow.cli.main` — the console
script's path — which leaves with the command's exit code; the runner sends the wait status back.
Each command is a process of its own: only the imports are shared. The runner also keeps one
publish-checkpoint worker started (`validations.checkpoint_worker`: Great Expectations imported
in advance, in a process of its own); a child whose run publishes asks for it on its channel.

Forking is safe only while the runner has no thread but its main one (a thread holding a lock at
the fork leaves it held forever in the child). So the runner never imports what starts threads at
import — Polars (its out-of-core cleaner and jemalloc's background threads), NumPy (OpenBLAS's
pool), DuckDB, pandas — nor does any Polars, DuckDB or Prefect client work; the children import
those (~0.3 s, validate's pandera ~0.3 s more). It checks its threads before serving and before
every fork, and refuses to serve otherwise. `etsflow.cli` itself is imported by each child, so
that its Rich consoles see the child's terminal (colours, width) as in a direct run.

It stops after `ETSFLOW_RUNNER_IDLE_MINUTES` (default 30) without a command, on `etsflow runner
stop`, when its code changes on disk, when its socket is removed, or when the local Prefect server
it was started with stops answering (its address is fixed at Prefect's import; the next command
then runs directly and starts a new server). While it is up it keeps that server up (a request to
its API every `CHECK_EVERY_S`; the server stops after 15 idle minutes otherwise).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import types
from pathlib import Path

from etsflow import launch, settings
from validations import checkpoint_worker

# imported before serving; none of them starts a thread at import (`_threads` checks)
WARM = (
    "typer",
    "typer.main",
    "rich.console",
    "rich.table",
    "policies",
    "policies.methods",
    "model.workdays",
    "prefect",
    "prefect.main",
    "prefect.flows",
    "prefect.tasks",
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.client.orchestration",
    "prefect.logging.configuration",
    "prefect.concurrency.sync",
    "prefect.concurrency.v1.context",
    "prefect.telemetry.run_telemetry",
    "prefect.utilities.visualization",
    "fastapi.encoders",
    "anyio._backends._asyncio",
    "pydantic.v1",  # pandera's thread-free dependencies (pandera.polars needs Polars)
    "typeguard",
    "typing_inspect",
    "hypothesis",
    "fastexcel",
    "chinese_calendar",
    "xlsxwriter",
    "fontTools.ttLib",
    "fontTools.subset",
    "exports.fonts",
)
CHECK_EVERY_S = 30.0


def _threads() -> list[str]:
    """The threads of this process other than the main one (Python's and native ones)."""
    names = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    tasks = os.listdir("/proc/self/task")
    for tid in tasks:
        if int(tid) != os.getpid():
            with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/comm") as f:
                names.append(f"native {tid} {f.read().strip()}")
    return names


class Runner:
    """The serving loop of one runner: its socket, its running children, its idle clock."""

    def __init__(self, ident: dict, original_env: dict[str, str], path: Path):
        self.ident, self.path = ident, path
        self.added_env = {k: v for k, v in os.environ.items() if k not in original_env}  # configure()'s
        # the local server configure() started or found; None when the user chose the API URL
        self.own_server = None if "PREFECT_API_URL" in original_env else os.environ.get("PREFECT_API_URL")
        self.started = time.time()
        self.last = time.monotonic()
        self.served = 0
        # pid → (client, pidfd, the channel on which it may ask for the spare checkpoint worker)
        self.children: dict[int, tuple[socket.socket, int, socket.socket]] = {}
        self.spare: tuple[subprocess.Popen, Path] | None = None  # a checkpoint worker importing GX
        self.handed: list[subprocess.Popen] = []  # workers handed to children, reaped when they end
        self.sel = selectors.DefaultSelector()
        self.listener: socket.socket | None = None

    # --- serving ------------------------------------------------------------------------------
    def listen(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # stale: we hold the lock
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        old = os.umask(0o177)  # the socket file is 0600: only this user may connect
        try:
            self.listener.bind(str(self.path))
        finally:
            os.umask(old)
        self.listener.listen(16)
        self.inode = self.path.stat().st_ino
        self.sel.register(self.listener, selectors.EVENT_READ, ("accept",))
        self.log(f"serving on {self.path} (pid {os.getpid()}, code {self.ident['code']})")
        self.start_spare()

    def loop(self, idle_minutes: float) -> None:
        every = min(CHECK_EVERY_S, max(idle_minutes * 60, 0.1))  # a short idle time is checked in time
        next_check = time.monotonic() + every
        while self.listener is not None or self.children:
            for key, _ in self.sel.select(timeout=every):
                if self.sel.get_map().get(key.fd) is not key:
                    continue  # unregistered by an earlier event of this batch (its child ended)
                kind, *rest = key.data
                if kind == "accept":
                    self.accept()
                elif kind == "child":
                    self.reap(rest[0])
                elif kind == "worker":
                    self.hand_over(key.fileobj, rest[0])
                else:  # the client of a running child hung up (its terminal closed, it was killed)
                    self.client_gone(key.fileobj, rest[0])
            if time.monotonic() >= next_check and self.listener is not None:
                next_check = time.monotonic() + every
                if reason := self.obsolete(idle_minutes):
                    self.log(f"stopping: {reason}")
                    self.close_listener()

    def obsolete(self, idle_minutes: float) -> str | None:
        if not self.children and time.monotonic() - self.last > idle_minutes * 60:
            return f"idle for {idle_minutes:g} minutes"
        if launch.code_version() != self.ident["code"]:
            return "the code changed on disk"
        if self.own_server and not _keep_alive(self.own_server):
            return f"the local Prefect server at {self.own_server} stopped"
        try:
            if self.path.stat().st_ino != self.inode:
                return "its socket was replaced"
        except FileNotFoundError:
            return "its socket was removed"
        return None

    def close_listener(self) -> None:
        """Accept no more commands (the running ones finish and are answered)."""
        if self.listener is None:
            return
        self.sel.unregister(self.listener)
        self.listener.close()
        self.listener = None
        if self.spare is not None:
            proc, log = self.spare
            self.spare = None
            proc.kill()
            proc.wait()
            log.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_ino == self.inode:
                self.path.unlink()

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(launch.ACCEPT_TIMEOUT_S)
        fds: list[int] = []
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            if int.from_bytes(creds[4:8], sys.byteorder) != os.getuid():
                raise PermissionError("a client of another user")
            data, fds, _flags, _addr = socket.recv_fds(conn, launch.MAX_MESSAGE, 3)
            message = json.loads(data)
            op = message.get("op")
            if op == "status":
                conn.send(json.dumps(self.status()).encode())
            elif op == "stop":
                conn.send(json.dumps({"stopping": os.getpid(), "running": len(self.children)}).encode())
                self.log("stopping: asked to")
                self.close_listener()
            elif op == "run":
                if refusal := self.refusal(message, fds):
                    self.log(f"refused {message.get('argv')}: {refusal}")
                    conn.send(json.dumps({"refused": refusal}).encode())
                else:
                    self.fork(conn, message, fds)
                    conn = None  # kept until the child ends
        except (OSError, ValueError) as e:
            self.log(f"bad request: {type(e).__name__}: {e}")
        finally:
            for fd in fds:
                os.close(fd)
            if conn is not None:
                conn.close()
            self.last = time.monotonic()

    def refusal(self, message: dict, fds: list[int]) -> str | None:
        if len(fds) != 3:
            return "stdin, stdout and stderr not passed"
        if message.get("identity") != self.ident:
            return "another identity (Python, Prefect home, code version or environment)"
        if self.own_server and not settings.local_server_answers(self.own_server):
            self.close_listener()  # its address is fixed in Prefect's settings: a new runner is needed
            return f"the local Prefect server at {self.own_server} no longer answers"
        if threads := _threads():
            self.close_listener()
            return f"threads in the runner ({', '.join(threads)}): forking is unsafe"
        return None

    def fork(self, conn: socket.socket, message: dict, fds: list[int]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        channel, child_channel = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            channel.close()
            self.child(conn, message, fds, child_channel)  # never returns
        child_channel.close()
        self.served += 1
        pidfd = os.pidfd_open(pid)
        self.children[pid] = (conn, pidfd, channel)
        self.sel.register(pidfd, selectors.EVENT_READ, ("child", pid))
        self.sel.register(conn, selectors.EVENT_READ, ("client", pid))
        self.sel.register(channel, selectors.EVENT_READ, ("worker", pid))
        self.log(f"child {pid}: {' '.join(message['argv'][1:])} (in {message['cwd']})")
        try:
            conn.send(json.dumps({"pid": pid}).encode())
        except OSError:  # the client left already
            self.client_gone(conn, pid)

    def child(self, conn: socket.socket, message: dict, fds: list[int], channel: socket.socket) -> None:
        """In the forked child: become the client's command, run it, leave with its code."""
        code = 1
        try:
            os.setsid()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            conn.close()
            if self.listener is not None:
                self.listener.close()
            for other, pidfd, other_channel in self.children.values():
                other.close()
                os.close(pidfd)
                other_channel.close()
            # the runner's ends of the spare worker's pipes (it must see EOF when its user closes them)
            if self.spare is not None:
                self.spare[0].stdin.close()
                self.spare[0].stdout.close()
            self.sel.close()
            for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                signal.signal(s, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.chdir(message["cwd"])
            os.environ.clear()
            os.environ.update(self.added_env | message["env"])
            os.environ[checkpoint_worker.HAND_OVER_ENV] = str(channel.fileno())
            sys.argv = message["argv"]
            sys.path[:] = message["path"]
            main_module = types.ModuleType("__main__")  # the client's: Click names the program from it
            main_module.__package__ = message["main_package"]
            sys.modules["__main__"] = main_module
            # as a fresh interpreter sets them for these descriptors
            sys.stdout.reconfigure(line_buffering=sys.stdout.isatty())
            from etsflow.cli import main

            main()  # leaves with os._exit(the command's code)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def reap(self, pid: int) -> None:
        conn, pidfd, channel = self.children.pop(pid)
        _, status = os.waitpid(pid, 0)
        self.sel.unregister(pidfd)
        os.close(pidfd)
        for c in (conn, channel):
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(c)
        channel.close()
        with contextlib.suppress(OSError):
            conn.send(json.dumps({"status": status}).encode())
        conn.close()
        self.last = time.monotonic()
        self.log(f"child {pid}: exit status {status}")
        self.handed = [w for w in self.handed if w.poll() is None]
        self.start_spare()

    def start_spare(self) -> None:
        """Start a checkpoint worker for the next run that publishes (not while serving nothing, nor
        when runs check inline); it imports GX now, in its own process."""
        if (
            self.spare is None
            and self.listener is not None
            and os.environ.get("ETSFLOW_CHECKPOINT") != "inline"
        ):
            self.spare = checkpoint_worker.start()
            self.log(f"spare checkpoint worker {self.spare[0].pid}")

    def hand_over(self, channel: socket.socket, pid: int) -> None:
        """Child `pid` asks for the spare checkpoint worker (its run will publish): its pid, stderr
        log and pipes, or nothing (it starts its own). The next spare starts when that child ends."""
        try:
            asked = channel.recv(64)
        except OSError:
            asked = b""
        if not asked:  # the child ended
            self.sel.unregister(channel)
            return
        spare, self.spare = self.spare, None
        try:
            if spare is None or spare[0].poll() is not None:
                channel.send(b"{}")
            else:
                proc, log = spare
                answer = json.dumps({"pid": proc.pid, "stderr": str(log)}).encode()
                socket.send_fds(channel, [answer], [proc.stdin.fileno(), proc.stdout.fileno()])
                self.log(f"child {pid}: took checkpoint worker {proc.pid}")
        except OSError as e:
            self.log(f"child {pid}: no checkpoint worker handed over ({e})")
        if spare is not None:  # handed over or dead: the runner keeps no end of its pipes
            spare[0].stdin.close()
            spare[0].stdout.close()
            self.handed.append(spare[0])

    def client_gone(self, conn: socket.socket, pid: int) -> None:
        """The client hung up before its command ended: hang up the command, as a closed terminal does."""
        self.sel.unregister(conn)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGHUP)
        self.log(f"child {pid}: client gone, sent SIGHUP")

    def status(self) -> dict:
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "pid": os.getpid(),
            "socket": str(self.path),
            "code": self.ident["code"],
            "python": self.ident["python"],
            "home": self.ident["home"],
            "started": self.started,
            "idle_s": 0.0 if self.children else time.monotonic() - self.last,
            "served": self.served,
            "running": sorted(self.children),
            "spare_worker": self.spare[0].pid if self.spare else None,
            "children_cpu_s": cpu.ru_utime + cpu.ru_stime,
            "threads": _threads(),
        }

    @staticmethod
    def log(line: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} runner {os.getpid()}: {line}", flush=True)


def _keep_alive(url: str) -> bool:
    """One request to the local Prefect server's API: its idle clock (15 minutes) starts again, so
    it stays up as long as the runner that was started with it (every `CHECK_EVERY_S`)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=5):
            return True
    except OSError:
        return False


def _wait_for(pid: int) -> None:
    """Block until process `pid` (not a child of ours) has ended."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        sel.select()
    os.close(fd)


def serve(after: int | None = None) -> int:
    """Run a runner for this process's identity until it stops; 0 also when another one holds
    the lock (it serves)."""
    if after:
        _wait_for(after)
    original_env = dict(os.environ)
    ident = launch.identity(original_env, os.getcwd())
    path = launch.socket_path(ident)
    if problem := launch.runner_problem(ident):
        Runner.log(f"not serving: {problem}")
        return 1
    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another runner of this identity is up or starting
    settings.configure()
    for name in WARM:
        importlib.import_module(name)
    runner = Runner(ident, original_env, path)
    if threads := _threads():
        Runner.log(f"not serving: threads after the imports ({', '.join(threads)}); forking would be unsafe")
        return 1
    import gc

    gc.freeze()  # the imports' objects stay out of the collector: the children do not copy their pages
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        runner.listen()
        runner.loop(float(os.environ.get("ETSFLOW_RUNNER_IDLE_MINUTES", "30")))
    finally:
        runner.close_listener()
        runner.log("stopped")
    return 0


if __name__ == "__main__":  # python -P -m etsflow.runner [--after PID]
    args = sys.argv[1:]
    if args not in ([],) and not (len(args) == 2 and args[0] == "--after" and args[1].isdigit()):
        sys.exit("usage: python -P -m etsflow.runner [--after PID]")
    sys.exit(serve(int(args[1]) if args else None))
