"""Operations (issue 6): skip what is unchanged, resume with --from-stage, run history, serve.

Fast unit tests of the fingerprints (no engine), then the real CLI in-process on copies of one
template warehouse: the sample inbox with 2021 and 2022 published (built once per session by
`template()`, also used by test_operations_crash.py).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from flows.fingerprints import code_files, describe_difference, fingerprints, inbox_files
from flows.stages import STAGES, RunSettings
from model import catalog
from policies import load_policy, policy_for_year
from warehouse import Warehouse, read_published

from .conftest import BAD, SAMPLE

AS_OF = {2021: "2024-01-01", 2022: "2024-04-01"}
CHANGED_FILE = "reports/2022/核查数据_生产线.csv"  # GB18030, line-years of 2022


# ---------------------------------------------------------------------------------------------
# Helpers shared with test_operations_crash.py
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    inbox: Path
    wh: Path

    def statuses(self, run_id: str | None = None) -> dict[str, str]:
        return {s: r["status"] for s, r in self.stage_rows(run_id).items()}

    def stage_rows(self, run_id: str | None = None) -> dict[str, dict]:
        run_id = run_id or self.last_run()
        rows = read_published(self.wh, "SELECT * FROM audit.stage_run WHERE run_id = $1", [run_id])
        return {r["stage"]: r for r in rows.iter_rows(named=True)}

    def last_run(self) -> str:
        return read_published(
            self.wh, "SELECT run_id FROM audit.pipeline_run ORDER BY started_at DESC LIMIT 1"
        )["run_id"][0]


_TEMPLATE: Setup | None = None


def template(cli, tmp_path_factory) -> Setup:
    """Sample inbox copy + warehouse with 2021 and 2022 published (built once per process)."""
    global _TEMPLATE
    if _TEMPLATE is None:
        root = tmp_path_factory.mktemp("ops-template")
        t = Setup(root / "inbox", root / "wh" / "warehouse.duckdb")
        shutil.copytree(SAMPLE, t.inbox)
        for year in (2021, 2022):
            r = cli("run", "--year", year, "--inbox", t.inbox, "--warehouse", t.wh, "--as-of", AS_OF[year])
            assert r.exit_code == 0, r.output
        _TEMPLATE = t
    return _TEMPLATE


def copy_setup(t: Setup, dest: Path) -> Setup:
    """A private copy of the template: inbox, served file and work database."""
    shutil.copytree(t.inbox, dest / "inbox")
    shutil.copytree(t.wh.parent, dest / "wh", ignore=shutil.ignore_patterns("out", "logs"))
    return Setup(dest / "inbox", dest / "wh" / t.wh.name)


def change_input_file(inbox: Path) -> bytes:
    """Lower every 2022 line output of the GB18030 report CSV by 1 %; return the original bytes."""
    path = inbox / CHANGED_FILE
    original = path.read_bytes()
    lines = original.decode("gb18030").split("\n")
    col = lines[0].split(",").index("产量")
    changed = [lines[0]]
    for line in lines[1:]:
        f = line.split(",")
        if len(f) > col and re.fullmatch(r"\d+(\.\d+)?", f[col]) and Decimal(f[col]) > 0:
            f[col] = str((Decimal(f[col]) * Decimal("0.99")).quantize(Decimal("0.01")))
        changed.append(",".join(f))
    assert changed != lines
    path.write_bytes("\n".join(changed).encode("gb18030"))
    return original


def publication(served: Path) -> dict[int, dict[str, list[tuple]]]:
    """Every published mart row of every year, as BI readers see them."""
    con = duckdb.connect(str(served), read_only=True)
    try:
        out: dict[int, dict[str, list[tuple]]] = {}
        for t in catalog.MARTS:
            for row in con.sql(f"SELECT * FROM {t.qualified} ORDER BY ALL").fetchall():
                out.setdefault(row[t.names.index("compliance_year")], {}).setdefault(t.name, []).append(row)
        return out
    finally:
        con.close()


def final_total(served: Path, year: int) -> int:
    return read_published(
        served,
        "SELECT sum(allocation_final_t)::BIGINT s FROM mart.allocation_enterprise WHERE compliance_year = $1",
        [year],
    )["s"][0]


@pytest.fixture
def setup(cli, tmp_path_factory, tmp_path) -> Setup:
    return copy_setup(template(cli, tmp_path_factory), tmp_path)


def run(cli, s: Setup, year: int = 2022, *extra):
    return cli("run", "--year", year, "--inbox", s.inbox, "--warehouse", s.wh, "--as-of", AS_OF[year], *extra)


# ---------------------------------------------------------------------------------------------
# Fingerprints (unit, no engine)
# ---------------------------------------------------------------------------------------------
def _ctx(year=2022, as_of=date(2024, 4, 1), allow_quarantine=False, policy=None):
    return RunSettings(
        run_id="t",
        year=year,
        inbox=SAMPLE,
        wh=None,
        con=None,
        policy=policy or policy_for_year(year),
        as_of=as_of,
        allow_quarantine=allow_quarantine,
    )


def _differ(a, b) -> set[str]:
    return {s for s in STAGES if a[s].digest != b[s].digest}


def test_fingerprints_change_exactly_downstream_of_what_changed(tmp_path):
    files = inbox_files(SAMPLE)
    assert files and CHANGED_FILE in files and "README.md" not in files
    base = fingerprints(_ctx(), files)
    assert fingerprints(_ctx(), dict(files)) == base  # deterministic
    assert _differ(base, fingerprints(_ctx(as_of=date(2024, 5, 1)), files)) == {"clearance", "publish"}
    later = {"validate", "baselines", "allocate", "clearance", "publish"}
    assert _differ(base, fingerprints(_ctx(allow_quarantine=True), files)) == later
    assert _differ(base, fingerprints(_ctx(2021, date(2024, 4, 1)), files)) == later
    pack = tmp_path / "2022.toml"
    pack.write_text(
        (SAMPLE.parents[1] / "policies/chongqing/2022.toml")
        .read_text(encoding="utf-8")
        .replace('value = "0.9450"', 'value = "0.9400"'),
        encoding="utf-8",
    )
    assert _differ(base, fingerprints(_ctx(policy=load_policy(pack)), files)) == later
    changed = dict(files) | {CHANGED_FILE: "0" * 64}
    assert _differ(base, fingerprints(_ctx(), changed)) == set(STAGES)
    # raw tables are inbox-wide (slot 0), every other output is per year
    assert base["ingest"].slot == 0 and {base[s].slot for s in STAGES[1:]} == {2022}
    # clearance also depends on the rule packs of the borrowing pool years
    assert set(base["clearance"].parts["pool_rule_packs"]) == {"2021", "2022"}


def test_code_version_of_a_stage_is_the_source_it_runs():
    allocate, baselines, publish = code_files("allocate"), code_files("baselines"), code_files("publish")
    assert {
        "transforms/allocate.py",
        "transforms/baselines.py",
        "flows/stages.py",
        "model/catalog.py",
        "model/labels.py",  # the explanations' wording: changing it recomputes the explanations
    } <= set(allocate)
    assert "transforms/allocate.py" not in baselines and "validations/inputs.py" not in allocate
    assert {"validations/checkpoint.py", "model/results.py"} <= set(publish)
    assert "validations/inputs.py" in code_files("validate") and "ingest/read.py" in code_files("ingest")


def test_difference_is_described_in_words():
    files = inbox_files(SAMPLE)
    old = fingerprints(_ctx(), files)
    new = fingerprints(
        _ctx(as_of=date(2024, 5, 1)), dict(files) | {CHANGED_FILE: "0" * 64, "ledger/new.csv": "1"}
    )
    assert describe_difference(old["ingest"].parts, new["ingest"]) == (
        f"input files changed: {CHANGED_FILE}; input files added: ledger/new.csv"
    )
    assert "--as-of was 2024-04-01, now 2024-05-01" in describe_difference(
        old["clearance"].parts, new["clearance"]
    )
    assert describe_difference(old["baselines"].parts, new["baselines"]) == (
        "it read outputs of validate made from other inputs"
    )


# ---------------------------------------------------------------------------------------------
# Skip unchanged (real CLI)
# ---------------------------------------------------------------------------------------------
def stored_reads(monkeypatch) -> dict[str, int]:
    """Count the reads of stored stage outputs (`flows.stages.LOADERS`) by stage."""
    import flows.stages

    reads: dict[str, int] = {}

    def counting(stage, load):
        def read(run):
            reads[stage] = reads.get(stage, 0) + 1
            return load(run)

        return read

    for stage, load in list(flows.stages.LOADERS.items()):
        monkeypatch.setitem(flows.stages.LOADERS, stage, counting(stage, load))
    return reads


def test_plain_rerun_skips_every_stage_and_keeps_the_publication(cli, setup, monkeypatch):
    before = publication(setup.wh)
    previous = setup.stage_rows()
    reads = stored_reads(monkeypatch)
    r = run(cli, setup)
    assert r.exit_code == 0, r.output
    assert "publish skipped (unchanged)" in " ".join(r.stdout.split())
    rows = setup.stage_rows()
    assert {s: rows[s]["status"] for s in STAGES} == dict.fromkeys(STAGES, "skipped")
    for s in STAGES:
        assert rows[s]["message"].startswith("skipped, unchanged: output of run ")
        assert (
            rows[s]["input_hash"] == previous[s]["input_hash"]
            and rows[s]["rows_out"] == previous[s]["rows_out"]
        )
    assert publication(setup.wh) == before
    assert reads == {}  # no stage ran, so no stored output was read
    # validate's output is per year: 2021 after 2022 is unchanged as well
    r = run(cli, setup, 2021)
    assert r.exit_code == 0, r.output
    assert set(setup.statuses().values()) == {"skipped"}
    assert publication(setup.wh) == before


def test_changed_input_file_is_never_reused_in_either_direction(cli, setup):
    before = publication(setup.wh)
    old_total = final_total(setup.wh, 2022)
    original = change_input_file(setup.inbox)
    r = run(cli, setup)
    assert r.exit_code == 0, r.output
    rows = setup.stage_rows()
    assert {st: rows[st]["status"] for st in STAGES} == dict.fromkeys(STAGES, "succeeded")
    # the run history says why each stage ran again
    assert rows["ingest"]["message"].endswith(f"(ran because input files changed: {CHANGED_FILE})")
    assert rows["validate"]["message"].endswith(
        "(ran because it read outputs of ingest made from other inputs)"
    )
    changed = publication(setup.wh)
    assert changed[2022] != before[2022] and final_total(setup.wh, 2022) != old_total
    assert changed[2021] == before[2021]
    # unchanged now: all skipped, publication kept as it is
    assert run(cli, setup).exit_code == 0
    assert set(setup.statuses().values()) == {"skipped"}
    assert publication(setup.wh) == changed
    # back to the original file: the results of the changed file are not reused either
    (setup.inbox / CHANGED_FILE).write_bytes(original)
    assert run(cli, setup).exit_code == 0
    assert setup.statuses() == dict.fromkeys(STAGES, "succeeded")
    assert publication(setup.wh) == before


def test_changed_rule_pack_recomputes_and_blocks_a_stale_resume(cli, setup, tmp_path):
    before = publication(setup.wh)
    pack = tmp_path / "2022-k.toml"
    pack.write_text(
        (SAMPLE.parents[1] / "policies/chongqing/2022.toml")
        .read_text(encoding="utf-8")
        .replace('value = "0.9450"', 'value = "0.9400"'),
        encoding="utf-8",
    )
    r = run(cli, setup, 2022, "--policy", pack)
    assert r.exit_code == 0, r.output
    assert setup.statuses() == {"ingest": "skipped"} | dict.fromkeys(STAGES[1:], "succeeded")
    changed = publication(setup.wh)
    assert changed[2022] != before[2022] and changed[2021] == before[2021]
    # the bundled pack again, resuming from allocate: baselines were made with the other pack
    r = run(cli, setup, 2022, "--from-stage", "allocate")
    assert r.exit_code == 2, r.output
    msg = " ".join(r.stderr.split())
    assert r.stderr.count("\n") <= 1 and msg.startswith("Cannot resume 2022 from allocate:")
    assert "the rule pack changed" in msg and "Run without --from-stage" in msg
    assert (
        read_published(setup.wh, "SELECT status FROM audit.pipeline_run ORDER BY started_at DESC LIMIT 1")[
            "status"
        ][0]
        == "refused"
    )
    assert set(setup.statuses().values()) == {"not_run"}
    assert publication(setup.wh) == changed


def test_from_stage_reuses_earlier_outputs_and_refuses_stale_ones(cli, setup, monkeypatch):
    before = publication(setup.wh)
    reads = stored_reads(monkeypatch)
    r = cli(
        "run", "--year", 2022, "--inbox", setup.inbox, "--warehouse", setup.wh,
        "--as-of", "2024-05-01", "--from-stage", "clearance",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = setup.stage_rows()
    assert {s: rows[s]["status"] for s in STAGES} == dict.fromkeys(STAGES[:4], "reused") | {
        "clearance": "succeeded",
        "publish": "succeeded",
    }
    assert rows["allocate"]["message"].startswith("reused, --from-stage clearance: output of run ")
    # clearance and publish take the stored inputs and allocation, each read once; the reused
    # ingest and baselines outputs are read by no stage that ran
    assert reads == {"validate": 1, "allocate": 1}
    after = publication(setup.wh)
    assert after[2022]["allocation_line"] == before[2022]["allocation_line"]
    as_of = read_published(
        setup.wh, "SELECT DISTINCT as_of FROM mart.clearance_status WHERE compliance_year = 2022"
    )
    assert as_of["as_of"].to_list() == [date(2024, 5, 1)]
    # publish alone as of another day would publish a clearance made as of 2024-05-01: refused
    r = run(cli, setup, 2022, "--from-stage", "publish")
    assert r.exit_code == 2
    assert (
        "the clearance output for 2022" in r.stderr and "--as-of was 2024-05-01, now 2024-04-01" in r.stderr
    )
    assert publication(setup.wh) == after


def test_from_stage_refused_when_earlier_outputs_are_missing(cli, tmp_path):
    wh = tmp_path / "wh.duckdb"
    r = cli("run", "--year", 2022, "--inbox", SAMPLE, "--warehouse", wh, "--from-stage", "baselines")
    assert r.exit_code == 2
    assert r.stderr.startswith(
        "Cannot resume 2022 from baselines: the validate output for 2022 is missing (never run, its last "
        "run failed or was interrupted, or its stage files were deleted)."
    )
    assert read_published(wh, "SELECT count(*) n FROM mart.allocation_line")["n"][0] == 0


def test_a_stage_whose_files_were_deleted_reruns_and_a_resume_needing_them_is_refused(cli, setup):
    """Deleting stage files by hand loses nothing: their stage is recomputed by the next plain run;
    a resume that would read them is refused, naming them missing."""
    before = publication(setup.wh)
    Warehouse(setup.wh).stage_path(2022, "allocation_line").unlink()
    r = run(cli, setup, 2022, "--from-stage", "clearance")
    assert r.exit_code == 2 and "the allocate output for 2022 is missing" in r.stderr
    r = run(cli, setup)
    assert r.exit_code == 0, r.output
    assert setup.statuses() == dict.fromkeys(STAGES, "skipped") | {"allocate": "succeeded"}
    assert publication(setup.wh) == before


def test_a_failed_stage_is_not_reused(cli, tmp_path):
    wh, inbox = tmp_path / "wh.duckdb", BAD / "text_in_number"
    for attempt in (1, 2):
        r = cli("run", "--year", 2021, "--inbox", inbox, "--warehouse", wh, "--as-of", "2024-01-01")
        assert r.exit_code == 2 and r.stderr.startswith("Invalid input:"), (attempt, r.output)
    s = Setup(inbox, wh)
    assert s.statuses() == {"ingest": "skipped", "validate": "failed"} | dict.fromkeys(STAGES[2:], "not_run")


# ---------------------------------------------------------------------------------------------
# Run history, logs, a second writer
# ---------------------------------------------------------------------------------------------
def test_runs_lists_statuses_rows_and_one_paragraph_errors(cli, setup, tmp_path, monkeypatch):
    assert run(cli, setup).exit_code == 0
    runs_before = len(read_published(setup.wh, "SELECT run_id FROM audit.pipeline_run"))
    not_a_folder = tmp_path / "inbox.txt"
    not_a_folder.write_text("not an inbox")
    r = cli("run", "--year", 2022, "--inbox", not_a_folder, "--warehouse", setup.wh, "--as-of", "2024-04-01")
    assert r.exit_code == 2  # invalid input, said before anything starts
    assert r.stderr.startswith(f"Invalid input: the inbox {not_a_folder} is not a folder")
    assert len(read_published(setup.wh, "SELECT run_id FROM audit.pipeline_run")) == runs_before

    def broken_reader(inbox):
        raise RuntimeError("the inbox share went away")

    monkeypatch.setattr("flows.stages.read_inbox", broken_reader)
    r = cli(
        "run", "--year", 2022, "--inbox", setup.inbox, "--warehouse", setup.wh, "--as-of", "2024-04-01",
        "--from-stage", "ingest",
    )  # fmt: skip
    assert r.exit_code == 1
    assert r.stderr.startswith("Run for 2022 failed: RuntimeError: the inbox share went away")
    assert r.stderr.count("\n") <= 1
    log = setup.wh.parent / "logs" / f"{setup.last_run()}.log"
    assert f"the traceback is in {log}" in r.stderr.replace("\n", "")
    assert "Traceback (most recent call last)" in log.read_text(encoding="utf-8")
    assert setup.statuses() == {"ingest": "failed"} | dict.fromkeys(STAGES[1:], "not_run")
    r = cli("runs", "--warehouse", setup.wh, "--limit", 2)
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert text.count("2022 failed") == 1 and text.count("2022 succeeded") == 1
    ingest_rows = read_published(
        setup.wh, "SELECT max(rows_out) n FROM audit.stage_run WHERE stage = 'ingest'"
    )
    assert "skipped, unchanged" in text and "not_run" in text and f"{ingest_rows['n'][0]:,}" in text
    assert "RuntimeError: the inbox share went away" in text and "log: " in text
    r = cli("runs", "--warehouse", setup.wh, "--year", 2021, "--limit", 5)
    assert r.exit_code == 0 and "2022 failed" not in r.stdout and "2021 succeeded" in r.stdout


def test_a_second_writer_is_told_clearly(cli, setup):
    before = publication(setup.wh)
    work = Warehouse(setup.wh).work
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(work)!r}); print('held', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        r = run(cli, setup)
    finally:
        holder.kill()
        holder.wait()
    assert r.exit_code == 1
    assert r.stderr.startswith("Run for 2022 did not start: another process is using the work database")
    assert "BI readers" in r.stderr and r.stderr.count("\n") <= 1
    assert publication(setup.wh) == before
    # the lock is gone with the process: the next run works
    assert run(cli, setup).exit_code == 0


def test_the_work_database_has_a_memory_limit_that_the_environment_can_change(tmp_path, monkeypatch):
    """DuckDB caches what it writes up to its limit (80 % of the machine by default): the work
    database gets `WORK_MEMORY_LIMIT`, or ETSFLOW_DUCKDB_MEMORY; a value DuckDB cannot read is
    refused naming the variable."""
    from warehouse.store import WORK_MEMORY_LIMIT

    def limit() -> str:
        with Warehouse(tmp_path / "wh.duckdb").connect() as con:
            return con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]

    monkeypatch.delenv("ETSFLOW_DUCKDB_MEMORY", raising=False)
    assert WORK_MEMORY_LIMIT == "512MB" and limit() == "488.2 MiB"  # DuckDB shows 512 × 10^6 bytes in MiB
    monkeypatch.setenv("ETSFLOW_DUCKDB_MEMORY", "2GiB")
    assert limit() == "2.0 GiB"
    monkeypatch.setenv("ETSFLOW_DUCKDB_MEMORY", "lots")
    with pytest.raises(ValueError, match="ETSFLOW_DUCKDB_MEMORY='lots' is not a DuckDB memory size"):
        limit()


# ---------------------------------------------------------------------------------------------
# The served file: DuckDB 1.5 storage
# ---------------------------------------------------------------------------------------------
def _storage_number(path: Path) -> int:
    head = path.read_bytes()[:20]
    assert head[8:12] == b"DUCK"
    return struct.unpack("<Q", head[12:20])[0]


def _duckdb15_cli() -> str | None:
    """A DuckDB 1.5 CLI: $ETSFLOW_DUCKDB15, else `duckdb` on PATH if it is 1.5 (see docs/operations.md)."""
    for cand in (os.environ.get("ETSFLOW_DUCKDB15"), shutil.which("duckdb")):
        if cand and Path(cand).exists():
            v = subprocess.run([cand, "--version"], capture_output=True, text=True, timeout=30).stdout
            if v.startswith("v1.5"):
                return cand
    return None


def test_served_file_is_in_duckdb_1_5_storage(cli, setup):
    # DuckDB 2.0 writes storage number 999 by default, which 1.x refuses; v1.5.0 storage is 68.
    # The work database is kept in the served format: serving copies it, table for table.
    assert _storage_number(setup.wh) == 68
    assert _storage_number(Warehouse(setup.wh).work) == 68
    duck15 = _duckdb15_cli()
    if duck15 is None:
        pytest.skip("no DuckDB 1.5 CLI (set ETSFLOW_DUCKDB15; docs/operations.md says how to install one)")
    out = subprocess.run(
        [duck15, "-readonly", "-csv", "-noheader", str(setup.wh), "-c",
         "SELECT count(*), sum(allocation_final_t) FROM mart.allocation_enterprise WHERE compliance_year = 2022"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    count, total = out.stdout.strip().split(",")
    n = read_published(
        setup.wh, "SELECT count(*) n FROM mart.allocation_enterprise WHERE compliance_year = 2022"
    )
    assert int(count) == n["n"][0] > 0 and int(total) == final_total(setup.wh, 2022)


def test_stage_records_are_not_trusted_by_a_new_work_database(cli, setup):
    """The stage folder describes one work database: a deleted work database is rebuilt from the
    inbox, every stage recomputed, not skipped on the old folder's records."""
    Warehouse(setup.wh).work.unlink()
    r = run(cli, setup)
    assert r.exit_code == 0, r.output
    assert set(setup.statuses().values()) == {"succeeded"}


def test_work_database_of_the_old_layout_is_migrated_keeping_publications_and_history(cli, setup):
    """Before the stage database, the work database held `stage.*` too, in DuckDB 2's own format.
    Opening such a work database keeps every published year and the run history, drops the stage
    cache (the next run recomputes it) and leaves a work database in the served format."""
    wh = Warehouse(setup.wh)
    before = publication(setup.wh)
    runs_before = read_published(setup.wh, "SELECT count(*) n FROM audit.pipeline_run")["n"][0]
    old = wh.work.with_name("old.duckdb")
    con = duckdb.connect(str(old))  # DuckDB 2's default storage (999)
    con.execute(f"ATTACH '{setup.wh}' AS srv (READ_ONLY)")
    for schema, name in con.sql(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'srv'"
    ).fetchall():
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f'CREATE TABLE {schema}."{name}" AS SELECT * FROM srv.{schema}."{name}"')
    con.execute("CREATE SCHEMA stage")
    con.execute('CREATE TABLE stage."y2022_baselines" AS SELECT 1 AS x')
    con.close()
    assert _storage_number(old) == 999
    os.replace(old, wh.work)
    shutil.rmtree(wh.stage_dir)

    r = run(cli, setup)
    assert r.exit_code == 0, r.output
    assert _storage_number(wh.work) == 68
    assert publication(setup.wh) == before  # 2021 kept; 2022 recomputed to the same rows
    assert read_published(setup.wh, "SELECT count(*) n FROM audit.pipeline_run")["n"][0] == runs_before + 1
    assert setup.statuses()["baselines"] == "succeeded"  # the old stage cache was not trusted
    con = duckdb.connect(str(wh.work), read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'stage'").fetchall() == [
            (0,)
        ]
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# etsflow serve (wiring only: no Prefect server is started)
# ---------------------------------------------------------------------------------------------
def test_serve_builds_a_cron_deployment_with_the_run_parameters(tmp_path):
    from etsflow.cli import build_deployment
    from flows.annual import previous_calendar_year

    d = build_deployment(SAMPLE, tmp_path / "wh.duckdb", cron="30 1 * * *", year=2022, name="cq")
    assert type(d).__name__ == "RunnerDeployment"
    assert (d.name, d.flow_name, d.entrypoint) == ("cq", "etsflow-annual-run", "flows.annual.annual_run")
    (schedule,) = d.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 1 * * *", "Asia/Shanghai")
    assert d.parameters == {
        "inbox": str(SAMPLE.resolve()),
        "warehouse": str((tmp_path / "wh.duckdb").resolve()),
        "year": 2022,
    }
    # without --year each run takes the previous calendar year of its own date
    d = build_deployment(SAMPLE, tmp_path / "wh.duckdb")
    assert "year" not in d.parameters and d.schedules[0].schedule.cron == "0 2 * * *"
    assert previous_calendar_year() == date.today().year - 1


def test_serve_without_a_prefect_server_says_how_to_start_one(cli, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import etsflow.cli
    from flows.annual import annual_run

    served = {}
    monkeypatch.setattr(type(annual_run), "serve", lambda self, **kw: served.update(kw))
    with temporary_settings(updates={PREFECT_API_URL: None}):
        r = cli("serve", "--inbox", SAMPLE)
    assert r.exit_code == 1 and not served
    assert "Cannot schedule flows on an ephemeral server" in r.stderr
    assert "prefect server start" in r.stderr and "PREFECT_API_URL=http://127.0.0.1:4200/api" in r.stderr
    # with a server answering, the flow is served with the schedule, the parameters, one run at a time
    monkeypatch.setattr(etsflow.cli, "prefect_server_problem", lambda: None)
    r = cli("serve", "--inbox", SAMPLE, "--cron", "0 3 * * *", "--year", 2023)
    assert r.exit_code == 0, r.output
    assert served["schedules"][0].cron == "0 3 * * *" and served["limit"] == 1
    assert served["parameters"]["year"] == 2023 and served["name"] == "annual"


def test_pause_hook_writes_its_marker_only_at_the_named_point(tmp_path, monkeypatch):
    import warehouse.store
    from warehouse.store import pause_point

    monkeypatch.delenv("ETSFLOW_PAUSE_AT", raising=False)
    t = time.perf_counter()
    pause_point("publish", tmp_path)
    assert time.perf_counter() - t < 0.1 and not list(tmp_path.iterdir())
    seen = []
    marker = tmp_path / "paused-at-publish-committed"
    fake_time = SimpleNamespace(sleep=lambda s: seen.append((s, marker.read_text())))
    monkeypatch.setattr(warehouse.store, "time", fake_time)  # this module's clock only
    monkeypatch.setenv("ETSFLOW_PAUSE_AT", "allocate, publish:committed")
    monkeypatch.setenv("ETSFLOW_PAUSE_SECONDS", "7")
    pause_point("baselines", tmp_path)
    assert not seen
    pause_point("publish:committed", tmp_path)
    assert seen == [(7.0, f"{os.getpid()} publish:committed\n")]
    assert not list(tmp_path.iterdir())  # the marker is removed when the pause ends


def test_only_tasks_that_touch_files_retry():
    from flows.annual import TASKS, serve_warehouse

    assert {name: t.retries for name, t in TASKS.items()} == {"ingest": 1} | dict.fromkeys(STAGES[1:], 0)
    assert serve_warehouse.retries == 1


def test_the_run_frees_a_stage_output_once_no_later_stage_reads_it():
    """Prefect keeps every task's arguments and result until the flow run ends. Stage tasks take and
    return a `Handed` holder instead of the frames: after `let_go` the frames are freed while the
    flow still runs, and Prefect still links the reading stage to the stage that made its input."""
    import gc
    import weakref

    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.context import FlowRunContext

    from flows.bookkeeping import Handed, let_go, stage_task
    from flows.stages import Done

    class Frames:
        pass

    made: list[weakref.ref] = []

    def make() -> Done:
        frames = Frames()
        made.append(weakref.ref(frames))
        return Done(frames, 1, "made")

    def read(frames: Frames) -> Done:
        return Done(None, 0, f"read a {type(frames).__name__}")

    def stage(fn):
        return task(stage_task(fn), name=fn.__name__, cache_policy=NO_CACHE, persist_result=False)

    @flow(persist_result=False)
    def two_stages() -> tuple[str, bool, bool, bool]:
        out = stage(make)()
        read_out = stage(read)(out)
        linked = id(out) in FlowRunContext.get().run_results
        held_before = made[0]() is not None
        let_go(out)
        gc.collect()
        return read_out.done.message, linked, held_before, made[0]() is None

    message, linked, held_before, freed = two_stages()
    assert (message, linked, held_before, freed) == ("read a Frames", True, True, True)
    assert isinstance(stage(make).fn(), Handed) and stage(make).fn.__name__ == "make"


def test_runs_of_the_cli_have_no_flow_heartbeat_and_scheduled_ones_keep_it(monkeypatch):
    """`run_now` (etsflow run, demo) switches Prefect's flow heartbeat off for its run only."""
    from prefect.settings import get_current_settings

    import flows.annual

    seen = {}

    def fake_run(**kw):
        seen["heartbeat"] = get_current_settings().flows.heartbeat_frequency
        seen["kw"] = kw

    monkeypatch.setattr(flows.annual, "annual_run", fake_run)
    flows.annual.run_now(year=2022, inbox="in", warehouse="wh")
    assert seen == {
        "heartbeat": None,
        "kw": {"year": 2022, "inbox": "in", "warehouse": "wh", "return_state": True},
    }
    assert get_current_settings().flows.heartbeat_frequency is not None
