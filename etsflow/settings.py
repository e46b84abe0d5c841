"""Where the project keeps its state, and Prefect's quiet, offline settings and local server.

`configure()` must run before `prefect` is imported: Prefect reads its settings at import.
Everything generated lives under `var/` (override with ETSFLOW_VAR): the warehouse, Prefect's
home (its SQLite database and the local server's state), logs and the files for people under
`var/out/<year>/`.

The Prefect API. Without `PREFECT_API_URL`, Prefect starts a temporary server per process: about
5 s of every run (importing the server, starting it, waiting for it), measured in
docs/scaling.md. `configure()` instead points Prefect at a *local server shared by the runs of
this Prefect home*: a real Prefect server (API and services, no UI) on 127.0.0.1 that the first
run starts in the background and later runs reuse (`ETSFLOW_PREFECT_SERVER=shared`, the default).
Its address and process are in `<PREFECT_HOME>/etsflow-server.json`, its log next to it; it stops
itself after `ETSFLOW_PREFECT_SERVER_IDLE_MINUTES` (default 15) without any request, or with
`kill <pid>`. Flow and task runs, states and history are recorded as before (`prefect flow-run ls`
with that `PREFECT_API_URL`; `etsflow serve` can schedule on it). `ETSFLOW_PREFECT_SERVER=temporary`
keeps Prefect's per-process temporary server; a `PREFECT_API_URL` set by the user always wins.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_INBOX = REPO / "data" / "sample"
SERVER_STATE = "etsflow-server.json"  # in PREFECT_HOME: pid, port, url, versions of the local server
SERVER_LOG = "etsflow-server.log"
IDENTITY_PATH = "/etsflow-server"  # answered by the local server itself (not by Prefect's API)


def var_dir() -> Path:
    return Path(os.environ.get("ETSFLOW_VAR", "var")).resolve()


def configure(var: Path | None = None) -> Path:
    """Set Prefect's environment (unless the user set it) and return the var folder."""
    var = (var or var_dir()).resolve()
    var.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(var / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # else DNS errors and sqlite lock tracebacks offline
        "DO_NOT_TRACK": "1",
        # the CLI prints one paragraph per failure and writes the traceback to var/logs/;
        # Prefect's own console tracebacks would repeat it
        "PREFECT_LOGGING_LEVEL": "CRITICAL",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "PREFECT_UI_ENABLED": "false",
        # OS resource metrics are sampled only in flow-run subprocesses (workers): not used here
        "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
    }
    for k, v in defaults.items():
        os.environ.setdefault(k, v)
    mode = os.environ.get("ETSFLOW_PREFECT_SERVER", "shared")
    if mode not in ("shared", "temporary"):
        raise ValueError(f"ETSFLOW_PREFECT_SERVER={mode!r}: 'shared' or 'temporary'")
    # once Prefect is imported its settings are fixed: a URL set now would reach only subprocesses
    if mode == "shared" and "PREFECT_API_URL" not in os.environ and "prefect" not in sys.modules:
        url = local_server(Path(os.environ["PREFECT_HOME"]))
        os.environ["PREFECT_API_URL"] = url
        # the local server runs this very Prefect: no version handshake per client
        os.environ.setdefault("PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED", "false")
    return var


# ---------------------------------------------------------------------------------------------
# The local Prefect server shared by the runs of one Prefect home
# ---------------------------------------------------------------------------------------------
def _identity(home: Path) -> dict:
    return {"home": str(home.resolve()), "prefect": version("prefect"), "python": sys.executable}


def _answers(url: str, identity: dict, timeout: float = 1.0) -> bool:
    """Whether the server at `url` is a local server of this home, Prefect and Python, and up."""
    try:
        with urllib.request.urlopen(url.removesuffix("/api") + IDENTITY_PATH, timeout=timeout) as r:
            return json.loads(r.read()) == identity
    except (OSError, ValueError):
        return False


def local_server_answers(url: str) -> bool:
    """Whether the local server of this process's Prefect home still answers at `url` (the warm
    runner asks before each command: Prefect's address is fixed once it is imported)."""
    return _answers(url, _identity(Path(os.environ["PREFECT_HOME"])))


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock between processes (so that concurrent runs start one server)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def local_server(home: Path) -> str:
    """The API URL of the local server of `home`, started in the background if none answers."""
    identity = _identity(home)
    state = home / SERVER_STATE
    with _locked(home / (SERVER_STATE + ".lock")):
        with contextlib.suppress(OSError, ValueError, KeyError):
            url = json.loads(state.read_text(encoding="utf-8"))["url"]
            if _answers(url, identity):
                return url
        timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90"))
        idle = float(os.environ.get("ETSFLOW_PREFECT_SERVER_IDLE_MINUTES", "15"))
        for _attempt in range(3):  # another process may take the free port before the server binds it
            port = _free_port()
            url = f"http://127.0.0.1:{port}/api"
            with (home / SERVER_LOG).open("ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "etsflow.settings", "serve-prefect", str(port), str(idle)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # outlives this run; its own process group
                    cwd=str(REPO),
                    env={k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
                )
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                if _answers(url, identity, timeout=0.5):
                    state.write_text(
                        json.dumps({"url": url, "port": port, "pid": proc.pid, **identity}, indent=2),
                        encoding="utf-8",
                    )
                    return url
                time.sleep(0.05)
            if proc.poll() is None:  # no answer in time: do not leave it behind
                proc.kill()
                break
        raise RuntimeError(
            f"the local Prefect server did not start (see {home / SERVER_LOG}); set PREFECT_API_URL to a "
            "running Prefect server, or ETSFLOW_PREFECT_SERVER=temporary"
        )


def serve_prefect(port: int, idle_minutes: float) -> None:
    """Run the local server (in its own process): Prefect's API and services without UI, plus
    `IDENTITY_PATH`; exits after `idle_minutes` without a request or open connection."""
    import asyncio

    import uvicorn
    from prefect.server.api.server import create_app

    home = Path(os.environ["PREFECT_HOME"])
    identity = json.dumps(_identity(home)).encode()
    app = create_app(final=True)
    activity = {"open": 0, "last": time.monotonic()}

    async def local_app(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == IDENTITY_PATH:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": identity})
            return
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            return
        activity["open"] += 1
        try:
            await app(scope, receive, send)
        finally:
            activity["open"] -= 1
            activity["last"] = time.monotonic()

    server = uvicorn.Server(
        uvicorn.Config(local_app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    )

    async def main() -> None:
        async def watch() -> None:
            while not server.should_exit:
                await asyncio.sleep(10)
                if activity["open"] == 0 and time.monotonic() - activity["last"] > idle_minutes * 60:
                    server.should_exit = True

        watcher = asyncio.create_task(watch())
        try:
            await server.serve()
        finally:
            watcher.cancel()

    try:
        asyncio.run(main())
    finally:
        state = home / SERVER_STATE
        with contextlib.suppress(OSError, ValueError, KeyError):
            if json.loads(state.read_text(encoding="utf-8"))["port"] == port:
                state.unlink()


if __name__ == "__main__":  # python -m etsflow.settings serve-prefect PORT IDLE_MINUTES
    if len(sys.argv) == 4 and sys.argv[1] == "serve-prefect":
        serve_prefect(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit("usage: python -m etsflow.settings serve-prefect PORT IDLE_MINUTES")
