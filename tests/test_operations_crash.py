"""Crash safety and BI readers during a run (issue 6), with real processes.

- Crash: `.venv/bin/etsflow run` subprocesses are paused at a named point by the test hook
  `ETSFLOW_PAUSE_AT` (warehouse.store.pause_point) and killed with SIGKILL, one point after the
  other on the same warehouse (each run resumes from what the killed one left). After every kill
  the served file opens and shows every year exactly as before; the last run completes.
- BI: a reader process queries the served file every 50 ms through a whole run, read-only, one
  connection per query, plus one connection held open throughout.

The subprocesses talk to this pytest process's Prefect temporary server (PREFECT_API_URL), so
they do not each start one (10–20 s here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warehouse import Warehouse, read_published

from .test_operations import (
    AS_OF,
    STAGES,
    Setup,
    change_input_file,
    copy_setup,
    publication,
    run,
    template,
)

REPO = Path(__file__).resolve().parents[1]
ETSFLOW = REPO / ".venv" / "bin" / "etsflow"
POINTS = ("ingest", "validate", "baselines", "allocate", "clearance", "publish", "publish:committed", "serve")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    try:  # reuse the warm temporary server of this process (started by the template's runs)
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        if server.running and "PREFECT_API_URL" not in os.environ:
            env["PREFECT_API_URL"] = server.api_url
    except Exception:
        pass
    return env


def cycle_state(served: Path) -> dict[str, list[tuple]]:
    """The versions, their history rows and the cycle marts, as BI readers see them."""
    from model import catalog

    return {
        t.qualified: read_published(served, f"SELECT * FROM {t.qualified} ORDER BY ALL").rows()
        for t in catalog.CYCLE + catalog.HISTORY
    }


def _etsflow() -> list[str]:
    return [str(ETSFLOW)] if ETSFLOW.exists() else [sys.executable, "-m", "etsflow.cli"]


@pytest.mark.slow
def test_sigkill_at_every_stage_keeps_the_publication_and_the_next_run_completes(
    cli, tmp_path_factory, tmp_path
):
    s = copy_setup(template(cli, tmp_path_factory), tmp_path)
    before, cycle_before = publication(s.wh), cycle_state(s.wh)
    assert [v[:2] for v in cycle_before["mart.allocation_version"]] == [(2021, 1), (2022, 1)]
    change_input_file(s.inbox)  # so that every stage has work to do and 2022 changes (version 2)
    args = [*_etsflow(), "run", "--year", "2022", "--inbox", str(s.inbox), "--warehouse", str(s.wh)]
    args += ["--as-of", AS_OF[2022]]
    for point in POINTS:
        marker = tmp_path / f"paused-{point.replace(':', '-')}"
        log = (tmp_path / f"run-{point.replace(':', '-')}.txt").open("w")
        proc = subprocess.Popen(
            args,
            env=_env(ETSFLOW_PAUSE_AT=point, ETSFLOW_PAUSE_MARKER=str(marker)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill reaches any child too
            cwd=REPO,
        )
        try:
            deadline = time.monotonic() + 300
            while not marker.exists():
                assert proc.poll() is None, (
                    f"{point}: the run ended before pausing:\n" + Path(log.name).read_text()
                )
                assert time.monotonic() < deadline, f"{point}: no pause within 300 s"
                time.sleep(0.1)
            assert marker.read_text().split() == [str(proc.pid), point]
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            log.close()
        # the served file opens, every year exactly as before; no half-built file is served
        assert publication(s.wh) == before, f"publication changed after a kill at {point}"
        assert cycle_state(s.wh) == cycle_before, f"versions changed after a kill at {point}"
    assert Warehouse(s.wh).next.exists()  # the last kill came before os.replace

    r = run(cli, s)
    assert r.exit_code == 0, r.output
    after = publication(s.wh)
    assert after[2021] == before[2021] and after[2022] != before[2022]
    assert not Warehouse(s.wh).next.exists()
    # the completed run made version 2 of 2022: version 1's history rows are kept as they were
    cycle_after = cycle_state(s.wh)
    assert [v[:2] for v in cycle_after["mart.allocation_version"]] == [(2021, 1), (2022, 1), (2022, 2)]
    for t in ("history.allocation_enterprise", "history.allocation_line", "history.cap_summary"):
        assert [r for r in cycle_after[t] if r[:2] != (2022, 2)] == cycle_before[t], t
    # every killed run resumed from what the previous one left, and is recorded as interrupted in
    # the stage it was in; the run killed while serving had finished its stages (its results were
    # committed, the next run served them)
    runs = read_published(s.wh, "SELECT run_id, status FROM audit.pipeline_run ORDER BY started_at")
    runs = runs.tail(len(POINTS) + 1)
    assert runs["status"].to_list() == ["interrupted"] * 7 + ["succeeded", "succeeded"]
    S, R, X = "skipped", "succeeded", "interrupted"
    expected = [
        {"ingest": X},
        {"ingest": R, "validate": X},
        {"ingest": S, "validate": R, "baselines": X},
        {"ingest": S, "validate": S, "baselines": R, "allocate": X},
        {"ingest": S, "validate": S, "baselines": S, "allocate": R, "clearance": X},
        dict.fromkeys(STAGES[:4], S) | {"clearance": R, "publish": X},
        dict.fromkeys(STAGES[:5], S) | {"publish": X},  # killed after the work-DB commit
        dict.fromkeys(STAGES[:5], S) | {"publish": R},  # killed in serve(), before os.replace
        dict.fromkeys(STAGES, S),
    ]
    assert [s.statuses(run_id) for run_id in runs["run_id"]] == expected


READER = r"""
import json, os, sys, time
import duckdb

served, mode, out_path, stop_path = sys.argv[1:5]
Q = '''
SELECT e.compliance_year, e.n, e.final_t, l.n, l.alloc_t, c.total_cap_t, v.version, h.n, h.final_t
FROM (SELECT compliance_year, count(*) n, sum(allocation_final_t)::BIGINT final_t
      FROM mart.allocation_enterprise GROUP BY ALL) e
JOIN (SELECT compliance_year, count(*) n, sum(allocation_t)::VARCHAR alloc_t
      FROM mart.allocation_line GROUP BY ALL) l USING (compliance_year)
JOIN mart.cap_summary c USING (compliance_year)
JOIN (SELECT compliance_year, max(version) version FROM mart.allocation_version GROUP BY ALL) v
  USING (compliance_year)
JOIN (SELECT compliance_year, version, count(*) n, sum(allocation_final_t)::BIGINT final_t
      FROM history.allocation_enterprise GROUP BY ALL) h USING (compliance_year, version)
ORDER BY 1
'''
# "held": one connection kept open, as a BI tool may do. (In one process DuckDB reuses an open
# database instance for the same path, so the per-query reader must not share this process.)
held = duckdb.connect(served, read_only=True) if mode == "held" else None
deadline = time.monotonic() + 600
with open(out_path, "w") as out:
    while time.monotonic() < deadline:
        stop = os.path.exists(stop_path)
        rec = {"t": time.time()}
        try:
            con = held or duckdb.connect(served, read_only=True)
            try:
                rec["years"] = {str(r[0]): list(r[1:]) for r in con.sql(Q).fetchall()}
            finally:
                if con is not held:
                    con.close()
        except Exception as e:
            rec["error"] = f"{type(e).__name__}: {e}"
        out.write(json.dumps(rec) + "\n")
        out.flush()
        if stop:
            break
        time.sleep(0.05)
"""


def _observations(path: Path) -> list[dict]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def test_bi_readers_see_whole_publications_during_a_run(cli, tmp_path_factory, tmp_path):
    s: Setup = copy_setup(template(cli, tmp_path_factory), tmp_path)
    change_input_file(s.inbox)
    script, stop = tmp_path / "reader.py", tmp_path / "stop"
    script.write_text(READER)
    outs = {mode: tmp_path / f"reads-{mode}.jsonl" for mode in ("per-query", "held")}
    readers = [
        subprocess.Popen([sys.executable, str(script), str(s.wh), mode, str(out), str(stop)])
        for mode, out in outs.items()
    ]
    try:
        deadline = time.monotonic() + 120
        while min(len(_observations(o)) for o in outs.values()) < 5:
            assert all(r.poll() is None for r in readers) and time.monotonic() < deadline, (
                "readers did not start"
            )
            time.sleep(0.1)
        old = _observations(outs["per-query"])[-1]["years"]
        r = run(cli, s)  # recomputes and republishes 2022 while the readers read
        assert r.exit_code == 0, r.output
        n = len(_observations(outs["per-query"]))
        while len(_observations(outs["per-query"])) < n + 5:
            assert readers[0].poll() is None, "the reader stopped"
            time.sleep(0.1)
        stop.touch()
        for reader in readers:
            reader.wait(timeout=60)
    finally:
        for reader in readers:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
    seen = _observations(outs["per-query"])
    errors = [o["error"] for o in seen + _observations(outs["held"]) if "error" in o]
    assert not errors, errors[:3]
    new = seen[-1]["years"]
    assert set(old) == set(new) == {"2021", "2022"}
    assert new["2021"] == old["2021"] and new["2022"] != old["2022"]
    # every query saw each year entirely old or entirely new: totals and row counts together
    for o in seen:
        assert o["years"]["2021"] == old["2021"]
        assert o["years"]["2022"] in (old["2022"], new["2022"]), o
        # the current version's history rows are those of the mart: a version is seen whole
        for y in o["years"].values():
            assert y[-2:] == y[:2], o  # history (n, Σ A_final) of the current version = mart
    assert old["2022"][5] == 1 and new["2022"][5] == 2  # the run published version 2
    # many reads during the run; the switch from old to new happened once
    versions = [o["years"]["2022"] == new["2022"] for o in seen]
    assert versions.count(False) > 20 and versions == sorted(versions)
    # the connection held open kept reading the publication it opened, without error
    assert {json.dumps(o["years"]) for o in _observations(outs["held"])} == {json.dumps(old)}
