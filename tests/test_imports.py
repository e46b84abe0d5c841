"""What importing a module pulls in: an import-time budget stated as *which* packages are imported,
never as a timed assertion (issue #16). Each check runs in a fresh interpreter, so what other tests
imported does not count.

- `etsflow.cli` (every command's start-up, `--help`, `--version`) imports none of the heavy
  packages: each command imports what it needs when it runs.
- The flow module needs Prefect's client, not its server (the server is a separate process), and
  never Great Expectations (imported by the publish checks only, off the critical path).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("great_expectations", "pandas", "pandera", "prefect", "polars", "duckdb", "numpy", "pyarrow", "dask")
SERVER = ("prefect.server", "fastapi", "uvicorn", "great_expectations")


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
