"""The command line as a user meets it: `.venv/bin/etsflow` in a subprocess, its words asserted.

Cases that stop before any run starts are grouped in one test (each is a process of ~1 s);
the interrupted run and the terminal progress share one real run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etsflow import settings

ETSFLOW = str(Path(sys.executable).with_name("etsflow"))
SAMPLE = settings.SAMPLE_INBOX


def etsflow(*args: str, env: dict | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ETSFLOW, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_words_before_anything_runs(tmp_path: Path) -> None:
    wh = str(tmp_path / "wh" / "warehouse.duckdb")

    r = etsflow("--version")
    assert r.returncode == 0 and r.stdout.startswith("etsflow ") and r.stdout.split()[1][0].isdigit()

    r = etsflow("run", "--help")
    assert r.returncode == 0
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", r.stdout).split())  # the help without its box
    assert "Default: var/warehouse.duckdb" in text and "Default: today" in text
    assert "Stages, in order: ingest, validate, baselines, allocate, clearance, publish" in text
    assert "Default: the bundled pack of the year" in text

    r = etsflow("run", "--year", "2030", "--inbox", str(SAMPLE), "--warehouse", wh)
    assert r.returncode == 2
    assert "no bundled rule pack for 2030" in r.stderr and "2021, 2022, 2023" in r.stderr
    assert "--policy" in r.stderr

    r = etsflow("run", "--year", "2022", "--inbox", str(tmp_path / "nowhere"), "--warehouse", wh)
    assert r.returncode == 2 and "the inbox" in r.stderr and "does not exist" in r.stderr

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = etsflow("run", "--year", "2022", "--inbox", str(SAMPLE), "--warehouse", str(blocker / "w.duckdb"))
    assert r.returncode == 1
    assert r.stderr.strip().startswith(f"Cannot write in the warehouse folder {blocker}")
    assert r.stderr.count("\n") == 1 and "log" not in r.stderr  # one sentence, no log that could not exist
    assert not (tmp_path / "logs").exists()


def test_check_validates_without_publishing(tmp_path: Path) -> None:
    # the sample without its ledger (optional, contract §1): valid whatever the ledger rules are
    good = tmp_path / "good"
    shutil.copytree(SAMPLE, good, ignore=shutil.ignore_patterns("ledger"))
    r = etsflow("check", "--inbox", str(good), "--year", "2022")
    assert r.returncode == 0, r.stderr
    assert "is valid for 2022" in r.stdout and "Nothing was published" in r.stdout

    bad = tmp_path / "inbox"
    shutil.copytree(good, bad)
    csv = bad / "enterprises.csv"
    csv.write_bytes(csv.read_bytes().replace("单位编号".encode(), "单位编码".encode(), 1))
    r = etsflow("check", "--inbox", str(bad), "--year", "2022", "--show", "5")
    assert r.returncode == 2
    assert "closest known header: 单位编号 (enterprise_id)" in r.stderr
    assert "enterprises.csv" in r.stdout and "Quarantined rows" in r.stdout
    assert "first: enterprises.csv row 1 column enterprise_id" in r.stderr
    assert "header '单位编码' is not recognised" in r.stderr and "Nothing was published" in r.stderr
    assert list(tmp_path.glob("**/*.duckdb")) == []  # nothing written anywhere


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` for a terminal")
def test_progress_on_a_terminal_and_ctrl_c(tmp_path: Path) -> None:
    """On a terminal each stage is shown as it goes; Ctrl-C (SIGINT) ends the run with one line,
    the published results untouched, and `etsflow runs` lists the run as interrupted."""
    wh = tmp_path / "warehouse.duckdb"
    marker = tmp_path / "paused"
    log = tmp_path / "terminal.txt"
    cmd = (
        f"{ETSFLOW} run --year 2022 --inbox {SAMPLE} --warehouse {wh} --as-of 2024-04-01; "
        f"echo EXIT=$? >> {tmp_path / 'exit'}"
    )
    env = {
        **os.environ,
        "ETSFLOW_PAUSE_AT": "validate",
        "ETSFLOW_PAUSE_MARKER": str(marker),
        "ETSFLOW_PAUSE_SECONDS": "120",
        "COLUMNS": "200",
        "TERM": "dumb",
    }
    proc = subprocess.Popen(["script", "-qefc", cmd, str(log)], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 150
        while not marker.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the run never reached validate"
            time.sleep(0.2)
        pid = int(marker.read_text().split()[0])
        os.kill(pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    shown = log.read_text(encoding="utf-8", errors="replace")
    assert "ingest: started" in shown and "ingest: succeeded" in shown and "validate: started" in shown
    assert (tmp_path / "exit").read_text().strip() == "EXIT=130"
    interrupted = [ln for ln in shown.splitlines() if ln.startswith("Interrupted")]
    assert len(interrupted) == 1
    assert "stopped during validate; the published results are untouched" in interrupted[0]
    assert "Traceback" not in shown

    r = etsflow("runs", "--warehouse", str(wh), "--limit", "1")
    assert r.returncode == 0
    assert " interrupted " in r.stdout and "validate" in r.stdout and "interrupted (Ctrl-C)" in r.stdout
