"""What importing a module pulls in: an import-time budget stated as *which* packages are imported,
never as a timed assertion (issue #16). Each check runs in a fresh interpreter, so what other tests
imported does not count.

- `etsflow.cli` (every command's start-up, `--help`, `--version`) imports none of the heavy
  packages: each command imports what it needs when it runs.
- The flow module needs Prefect's client, not its server (the server is a separate process), and
  never Great Expectations (imported by the publish checks only, off the critical path).
- The process that runs a year never imports Great Expectations: the publish checkpoint runs in a
  process of its own (`validations.checkpoint_process`), started when the run begins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("great_expectations", "pandas", "pandera", "prefect", "polars", "duckdb", "numpy", "pyarrow", "dask")
SERVER = ("prefect.server", "fastapi", "uvicorn", "great_expectations")
# a run's process uses Prefect's client (which imports fastapi's encoders), never its server or GX
RUN_FREE = ("great_expectations", "prefect.server", "uvicorn")


def imported(module: str, names: tuple[str, ...]) -> list[str]:
    code = (
        f"import sys, json; import {module}; "
        f"print(json.dumps([n for n in {list(names)!r} if n in sys.modules]))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_the_cli_module_imports_no_heavy_package():
    assert imported("etsflow.cli", HEAVY) == []


@pytest.mark.parametrize("module", ["flows.annual", "transforms.allocate", "warehouse"])
def test_pipeline_modules_import_no_server_and_no_great_expectations(module):
    assert imported(module, SERVER) == []


def test_the_process_that_runs_a_year_imports_no_great_expectations(tmp_path):
    """A real `etsflow run` in a fresh interpreter, the checkpoint in its own process (the default):
    the run publishes, Great Expectations writes its Data Docs, and the run's process never imports
    it, nor Prefect's server."""
    from tests.conftest import BAD

    code = (
        "import sys, json; from typer.testing import CliRunner; from etsflow.cli import app; "
        f"r = CliRunner().invoke(app, ['run', '--year', '2021', '--inbox', {str(BAD / '_valid')!r}, "
        f"'--warehouse', {str(tmp_path / 'wh.duckdb')!r}, '--as-of', '2024-01-01']); "
        f"print(json.dumps([r.exit_code, [n for n in {list(RUN_FREE)!r} if n in sys.modules]]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "ETSFLOW_CHECKPOINT"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    exit_code, heavy = json.loads(r.stdout.strip().splitlines()[-1])
    assert exit_code == 0, r.stdout[-2000:]
    assert heavy == []
    assert (tmp_path / "out" / "2021" / "data-docs" / "index.html").is_file()
