"""Where the project keeps its state, and Prefect's quiet, offline, server-less settings.

`configure()` must run before `prefect` is imported: Prefect reads its settings at import.
Everything generated lives under `var/` (override with ETSFLOW_VAR): the warehouse, Prefect's
home (its SQLite database and the temporary server it starts per process), logs and the files
for people under `var/out/<year>/`.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_INBOX = REPO / "data" / "sample"


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
    }
    for k, v in defaults.items():
        os.environ.setdefault(k, v)
    return var
