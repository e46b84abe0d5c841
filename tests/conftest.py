"""Test settings: Prefect runs quietly, offline, without a separately started server.

Prefect's home is `var/test-prefect` (git-ignored, reused across sessions so its database
migrations run once per machine); every warehouse a test writes is under pytest's tmp_path.
This must run before anything imports prefect.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ETSFLOW_VAR", str(REPO / "var"))
# The publish checkpoint runs in the test process (Great Expectations imported once per session, and
# patchable); tests/test_imports.py and tests/test_checkpoint.py cover its own process, the default.
os.environ.setdefault("ETSFLOW_CHECKPOINT", "inline")
# `etsflow` subprocesses run in their own process and start no warm runner (tests/test_runner.py
# starts and stops its own)
os.environ.setdefault("ETSFLOW_RUNNER", "off")
os.environ["PREFECT_HOME"] = str(REPO / "var" / "test-prefect")

from etsflow import settings  # noqa: E402

settings.configure()

BAD = REPO / "tests" / "data" / "bad"
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="session")
def cli():
    """Invoke the real `etsflow` CLI in-process (one Prefect temporary server per session)."""
    from typer.testing import CliRunner

    from etsflow.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke
