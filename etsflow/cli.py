"""The `etsflow` command line (contract §3).

Exit codes: 0 success, 2 invalid input (bad files or rule pack), 1 any other failure; always a
one-paragraph message on stderr. Prefect is imported only inside commands, after its quiet
offline settings are in place.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from datetime import date
from pathlib import Path

import typer
from rich.console import Console

from etsflow import launch, settings
from etsflow.scenario_cli import scenario_app
from policies import label as param_label

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Emissions trading allocation pipeline.")
app.add_typer(scenario_app, name="scenario")
runner_app = typer.Typer(
    no_args_is_help=True,
    help="The warm runner: a background process that has imported Prefect and the CLI once and "
    "forks a process per `etsflow` command (docs/operations.md §15).",
)
app.add_typer(runner_app, name="runner")
out = Console()
err = Console(stderr=True)
SAMPLE_YEARS = (2021, 2022, 2023)
# the demo evaluates clearance the day after each year's deadline (2023: the provisional one)
DEMO_AS_OF = {2021: date(2024, 1, 1), 2022: date(2024, 4, 1), 2023: date(2025, 1, 1)}
STAGES = ("ingest", "validate", "baselines", "allocate", "clearance", "publish")  # = flows.stages.STAGES
SERVE_CRON = "0 2 * * *"  # every night at 02:00: unchanged inputs are skipped, clearance is as of the day
SERVE_TIMEZONE = "Asia/Shanghai"
# Rich reads [..] in help texts as markup: defaults are written "Default: …"
WAREHOUSE_HELP = "Served DuckDB file. Default: var/warehouse.duckdb."
POLICY_HELP = "Rule pack TOML. Default: the bundled pack of the year (policies/chongqing/<year>.toml)."


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"etsflow {version('etsflow')}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Emissions trading allocation pipeline (Chongqing pilot): stages ingest, validate, baselines,
    allocate, clearance, publish; files for people under var/out/<year>/."""


def _default_warehouse() -> Path:
    return settings.var_dir() / "warehouse.duckdb"


def _fail(code: int, message: str) -> None:
    err.print(message, soft_wrap=True, highlight=False, markup=False)
    raise typer.Exit(code)


def execute(
    year: int,
    inbox: Path,
    warehouse: Path,
    policy: Path | None,
    as_of: date | None,
    from_stage: str | None,
    allow_quarantine: bool,
    notified_on: date | None = None,
    allow_partial: bool = False,
    allow_shrink: bool = False,
    jurisdiction: str = "chongqing",
) -> dict:
    """Run the flow; a failed run exits with its code and one-paragraph message."""
    for option, path in (("--inbox", inbox), ("--warehouse", warehouse), ("--policy", policy)):
        _require_utf8_path(option, path)
    _check_inputs(year, inbox, policy)
    _check_writable(warehouse)
    settings.configure()
    import flows.audit
    from flows.annual import run_now

    if err.is_terminal:  # progress per stage on a terminal; cron and pipes get the summary only
        flows.audit.PROGRESS = lambda line: err.print(f"  {line}", style="dim", highlight=False, markup=False)

    state = run_now(
        year=year,
        inbox=str(inbox),
        warehouse=str(warehouse),
        policy=str(policy) if policy else None,
        as_of=as_of,
        from_stage=from_stage,
        allow_quarantine=allow_quarantine,
        notified_on=notified_on,
        allow_partial=allow_partial,
        allow_shrink=allow_shrink,
        jurisdiction=jurisdiction,
    )
    summary = state.result(raise_on_failure=False)
    if not isinstance(summary, dict):  # the engine itself failed before our flow body ran
        _fail(1, f"Run for {year} failed in Prefect: {state.message}")
    if summary["exit_code"]:
        _fail(summary["exit_code"], summary["error"])
    return summary


def _check_inputs(year: int, inbox: Path, policy: Path | None) -> None:
    """Invalid input found before anything starts (exit 2): no inbox folder, no rule pack."""
    from policies import PolicyError, policy_for_year

    if not inbox.is_dir():
        what = "does not exist" if not inbox.exists() else "is not a folder"
        _fail(
            2,
            f"Invalid input: the inbox {inbox} {what}. Pass the folder that holds enterprises.csv, lines.* and reports/ (contract §1) with --inbox.",
        )
    try:
        policy_for_year(year, policy)
    except PolicyError as e:
        _fail(2, f"Invalid input: {e}")


def _check_writable(warehouse: Path) -> None:
    """One sentence when the warehouse's folder cannot be written (nothing else can be, not even a log)."""
    import tempfile

    folder = warehouse.resolve().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".etsflow-write-test-"):
            pass
    except OSError as e:
        _fail(
            1,
            f"Cannot write in the warehouse folder {folder} ({e.strerror or e}): choose another --warehouse "
            "or make the folder writable for this user; nothing was run.",
        )


def _require_utf8_path(option: str, path: Path | None) -> None:
    """A path given on the command line whose name is not UTF-8 (GBK bytes from a zip unpacked on
    Linux) cannot travel as a run parameter or be stored: say so in one paragraph (exit 2). Names
    of files inside the inbox may be anything (ingest stores them readably)."""
    if path is None:
        return
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        from ingest.read import readable_path

        _fail(
            2,
            f"{option} {readable_path(path)}: the path's name is not UTF-8 (GBK bytes, e.g. from a zip "
            "unpacked on Linux), so it cannot be recorded. Rename the folder or file (e.g. `convmv -f gbk "
            "-t utf8 -r --notest PATH`) or give a UTF-8 path to it (a symbolic link); nothing was run.",
        )


def _stage_text(name: str, st: dict) -> str:
    if st["status"] == "succeeded":
        return f"{name} {st['rows']:,} rows"
    if st["status"] == "skipped":
        return f"{name} skipped (unchanged)"
    return f"{name} {st['status'].replace('_', ' ')}"


def _report(summary: dict, elapsed: float) -> None:
    stages = ", ".join(_stage_text(k, v) for k, v in summary["stages"].items())
    out.print(
        f"[bold]{summary['year']}[/] run {summary['run_id']} ({summary['policy']}): {stages} "
        f"— {elapsed:.1f} s"
    )
    if summary["provisional"]:
        out.print(
            f"[yellow]Provisional parameters (placeholders, confirm and pass --policy FILE): "
            f"{'; '.join(param_label(p) for p in summary['provisional'])}[/]"
        )
    if summary.get("left_out"):
        out.print(
            f"[bold red]PARTIAL: {summary['year']} published without {len(summary['left_out'])} listed "
            f"enterprise(s) (status not_allocated; the cap covers the others only): "
            f"{', '.join(summary['left_out'])}[/]"
        )
    for note in summary["notes"]:
        out.print(f"  note: {note}")
    out.print(files_line(summary.get("files")), highlight=False, soft_wrap=True)


def files_line(files: dict | None) -> str:
    """The run's last line: where the files for people are and whether they are current."""
    if not files:
        return "Files for people: not written by this run."
    if files["status"] == "failed":
        return (
            f"Files for people in {files['out_dir']} are NOT current (writing them failed: {files['error']}); "
            "the publication is served. Write them with `etsflow export --year …`."
        )
    what = (
        "unchanged, already current"
        if files["status"] == "current"
        else f"{files['notices_written']} notice(s) rewritten"
        + (f", {files['notices_removed']} removed" if files["notices_removed"] else "")
        + ", report and Parquet rewritten"
    )
    return (
        f"Files for people: {files['out_dir']} — current for publication {files['publication_run']} "
        f"({files['notices']} notices, {what})."
    )


@app.command()
def run(
    year: int = typer.Option(..., "--year", help="Compliance year."),
    inbox: Path = typer.Option(..., "--inbox", help="Inbox folder (contract §1)."),
    warehouse: Path = typer.Option(None, "--warehouse", help=WAREHOUSE_HELP),
    policy: Path = typer.Option(None, "--policy", help=POLICY_HELP),
    jurisdiction: str = typer.Option(
        "chongqing",
        "--jurisdiction",
        help="Whose rules: the packs <jurisdiction>/<year>.toml of the folders in ETSFLOW_POLICY_PATH, "
        "then of the bundled policies/. Default: chongqing.",
    ),
    as_of: str = typer.Option(
        None, "--as-of", help="Clearance status as of this date (YYYY-MM-DD). Default: today."
    ),
    from_stage: str = typer.Option(
        None,
        "--from-stage",
        help="Rerun this stage and the later ones, reusing the earlier stages' outputs (refused if they "
        f"were made from other inputs). Stages, in order: {', '.join(STAGES)}. `--from-stage ingest` "
        "recomputes everything. Default: none — stages whose inputs are unchanged are skipped.",
    ),
    allow_quarantine: bool = typer.Option(
        False,
        "--allow-quarantine",
        help="Allocate the enterprises not touched by quarantined rows; the year is published as "
        "partial, the others listed as not_allocated.",
    ),
    allow_partial: bool = typer.Option(
        False,
        "--allow-partial",
        help="With --allow-quarantine: publish even when more than 5% of the listed enterprises are "
        "left out (refused otherwise; flows/stages.py PARTIAL_MAX_PERCENT).",
    ),
    allow_shrink: bool = typer.Option(
        False,
        "--allow-shrink",
        help="Publish although the served file would then hold fewer rows of a mart table and year "
        "than it does (inputs withdrawn on purpose); the run's message lists them. Without it such a "
        "publication is refused.",
    ),
    notified_on: str = typer.Option(
        None,
        "--notified-on",
        help="Notification date (告知日期, YYYY-MM-DD) of the new version this run publishes when the "
        "allocation numbers changed; the review window runs 7 working days from it [the publication date].",
    ),
) -> None:
    """Run the annual pipeline for one compliance year: ingest → validate → baselines → allocate →
    clearance → publish, then write the files for people (notices, report, Parquet) under
    var/out/<year>/. Exit 0 success, 2 invalid input, 1 other failure."""
    dates = {}
    for name, text in (("--as-of", as_of), ("--notified-on", notified_on)):
        try:
            dates[name] = date.fromisoformat(text) if text else None
        except ValueError:
            _fail(2, f"{name} {text!r} is not a date (YYYY-MM-DD).")
    t0 = time.perf_counter()
    summary = execute(
        year,
        inbox,
        warehouse or _default_warehouse(),
        policy,
        dates["--as-of"],
        from_stage,
        allow_quarantine,
        dates["--notified-on"],
        allow_partial=allow_partial,
        allow_shrink=allow_shrink,
        jurisdiction=jurisdiction,
    )
    _report(summary, time.perf_counter() - t0)


@app.command()
def check(
    inbox: Path = typer.Option(..., "--inbox", help="Inbox folder (contract §1)."),
    year: int = typer.Option(..., "--year", help="Compliance year."),
    policy: Path = typer.Option(None, "--policy", help=POLICY_HELP),
    show: int = typer.Option(20, "--show", help="How many quarantined rows to list."),
) -> None:
    """Validate an inbox for a year without publishing (nothing is written). Exit 0 when every row
    is valid, 2 when rows would be quarantined (they are listed with file, row, column, value)."""
    from rich.table import Table as RichTable

    from ingest.read import read_inbox
    from model.labels import quarantine_where
    from policies import policy_for_year
    from validations.inputs import validate_inbox

    _check_inputs(year, inbox, policy)
    t0 = time.perf_counter()
    result = validate_inbox(read_inbox(inbox), policy_for_year(year, policy))
    q = result.quarantine
    rows = {
        t: getattr(result.core, t).height
        for t in ("enterprises", "lines", "line_years", "enterprise_years", "attributes", "ledger")
    }
    counts = ", ".join(f"{k} {v:,}" for k, v in rows.items())
    if result.missing_reports:
        out.print(
            f"note: {len(result.missing_reports)} listed enterprise(s) have no verification report for {year}: "
            f"{', '.join(result.missing_reports[:10])}",
            highlight=False,
        )
    if q.height == 0:
        out.print(
            f"{inbox} is valid for {year}: {counts} rows ({time.perf_counter() - t0:.1f} s). "
            "Nothing was published; run `etsflow run` to publish.",
            highlight=False,
        )
        return
    t = RichTable(
        "file", "sheet", "row", "column", "value", "problem", title=f"Quarantined rows ({q.height})"
    )
    for r in q.head(show).iter_rows(named=True):
        t.add_row(
            r["source_file"] or "",
            r["sheet"] or "",
            "" if r["row_number"] is None else str(r["row_number"]),
            r["column_name"] or "",
            "" if r["value"] is None else str(r["value"]),
            r["message"] or "",
        )
    out.print(t)
    affected = result.affected_enterprises
    _fail(
        2,
        f"Invalid input: {q.height} row(s) of {inbox} would be quarantined for {year}"
        + (
            f" (enterprises {', '.join(affected[:10])}{' …' if len(affected) > 10 else ''})"
            if affected
            else ""
        )
        + f"; first: {quarantine_where(q.row(0, named=True))}"
        + ". Nothing was published. Fix the files and check again, or run with --allow-quarantine "
        "to allocate the other enterprises.",
    )


@app.command()
def demo(
    warehouse: Path = typer.Option(None, "--warehouse", help=WAREHOUSE_HELP),
) -> None:
    """Run every sample year on the embedded inbox data/sample into the default warehouse."""
    wh = warehouse or _default_warehouse()
    out.print(f"Demo: embedded sample inbox {settings.SAMPLE_INBOX} → {wh}")
    for year in SAMPLE_YEARS:
        t0 = time.perf_counter()
        summary = execute(year, settings.SAMPLE_INBOX, wh, None, DEMO_AS_OF[year], None, False)
        _report(summary, time.perf_counter() - t0)
    out.print(f"Open the warehouse read-only: duckdb -readonly {wh}")


def _served(warehouse: Path | None) -> Path:
    wh = warehouse or _default_warehouse()
    if not wh.exists():
        _fail(1, f"No warehouse at {wh}: run `etsflow run` (or `etsflow demo`) first.")
    return wh


@app.command()
def explain(
    enterprise_id: str = typer.Argument(
        ..., help="Enterprise id, e.g. CQ001 (any case; full-width characters and spaces are normalised)."
    ),
    year: int = typer.Option(..., "--year", help="Compliance year."),
    warehouse: Path = typer.Option(None, "--warehouse", help=WAREHOUSE_HELP),
) -> None:
    """Print how an enterprise's allocation was derived, with each base year's figures, so that
    it can be checked by hand."""
    from rich.table import Table as RichTable

    from exports.explain import base_year_rows, enterprise_sentence, normalise_id
    from model.labels import METHODS, label, reason_label
    from policies import PolicyError, load_policy
    from warehouse import read

    wh = _served(warehouse)
    wanted = normalise_id(enterprise_id)
    with read.served_file(wh) as con:
        e = read.enterprise_allocation(con, year, wanted)
        if e is None:
            if read.is_left_out(con, year, wanted):
                _fail(
                    1,
                    f"{wanted} was left out of the {year} publication (partial, --allow-quarantine): an "
                    f"input row that could belong to it was quarantined; see audit.quarantine in {wh}.",
                )
            years = read.allocated_years(con, wanted)
            _fail(
                1,
                f"{wanted} has no published allocation for {year} in {wh}"
                + (f"; it has one for {', '.join(map(str, years))}." if years else "."),
            )
        eid = e["enterprise_id"]
        lines = read.line_allocations(con, year, eid)
        records = read.line_records(con, eid)
        pack = read.last_run_pack(con, year)
        version = read.current_version(con, year)
        changes = read.version_changes(con, year, version["version"], eid) if version else None
        clearance = read.enterprise_clearance(con, year, eid)
    try:
        policy = load_policy(pack) if pack else None
    except PolicyError:
        policy = None
    out.print(
        f"[bold]{eid} {e['name']}[/] ({e['sector_label']}) — {year}"
        + ("  [yellow]provisional[/]" if e["provisional"] else ""),
        highlight=False,
    )
    _explain_version(version, changes)
    for ln in lines.iter_rows(named=True):
        out.print(
            f"\n[bold]{ln['line_id']}[/] {label(METHODS, ln['method'])}: allocation {ln['allocation_t']} t "
            f"= CO2 {ln['allocation_co2_t']} + non-CO2 {ln['allocation_non_co2_t']}",
            highlight=False,
        )
        out.print(f"  why this method: {reason_label(ln['method_reason'])}", highlight=False)
        if ln["method"] in ("intensity", "total") and policy is not None:
            mine = {r["year"]: r for r in records.iter_rows(named=True) if r["line_id"] == ln["line_id"]}
            rows, notes = base_year_rows(ln, mine, policy)
            t = RichTable(
                "base year",
                "E tCO2",
                "Q output",
                "E/Q",
                "days",
                "E/day",
                "deviation",
                "test",
                "used",
                title=f"{ln['line_id']} base years",
            )
            for r in rows:
                if r["missing"]:
                    t.add_row(str(r["year"]), "no record", "", "", "", "", "", "", "dropped")
                    continue
                dev = r.get("deviation")
                t.add_row(
                    str(r["year"]),
                    _num(r["e"]),
                    _num(r["q"]),
                    _num(r["intensity"], 6),
                    str(r["days"]),
                    _num(r["daily"], 4),
                    "" if dev is None else f"{dev * 100:+.2f}%",
                    r.get("test", ""),
                    "kept" if r["kept"] else "dropped",
                )
            out.print(t)
            for note in notes:
                out.print(f"  {note}", highlight=False)
        out.print(f"  {ln['explanation']}", highlight=False, markup=False)
    t = RichTable(title="Enterprise 单位", show_header=False)
    for text, key in (
        ("verified emissions E 经核查排放量", "verified_emissions_t"),
        ("raw allocation Σ lines 核算配额", "allocation_raw_t"),
        ("adjustment 调整量", "adjustment_t"),
        ("incentive 激励配额", "incentive_t"),
        ("final allocation 年度配额", "allocation_final_t"),
        ("gap E − A 配额缺口", "gap_t"),
        ("borrowable 可预支量", "borrowable_t"),
        ("next year's pre-allocation 下年度预分配", "preallocation_next_t"),
    ):
        t.add_row(text, str(e[key]))
    out.print(t)
    out.print(enterprise_sentence(e), highlight=False, markup=False)
    if clearance:
        out.print(
            f"Clearance 清缴 as of {clearance['as_of']}: {clearance['status'].replace('_', ' ')} — surrendered "
            f"{clearance['surrendered_t']} t, shortfall {clearance['shortfall_t']} t, deadline {clearance['deadline']}",
            highlight=False,
        )


def _explain_version(version: dict | None, changes) -> None:
    """The version shown (mart.* = the current one) and, when it changed this unit, the change."""
    if version is None:
        return
    r = version
    out.print(
        f"version {r['version']} 版本: notified {r['notified_on']}, review until {r['review_deadline']}, "
        f"{r['status']} as of {r['status_as_of']}",
        highlight=False,
    )
    for c in changes.iter_rows(named=True):
        out.print(
            f"changed since version {c['previous_version']}: {c['previous_final_t']} → {c['allocation_final_t']} t; "
            f"inputs: {c['changed_inputs']}; rules: {c['changed_rules']}",
            highlight=False,
        )


def _num(v, places: int = 4) -> str:
    from decimal import ROUND_HALF_UP, Decimal

    if v is None:
        return "—"
    return f"{Decimal(v).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,}"


@app.command()
def runs(
    limit: int = typer.Option(10, "--limit", help="How many recent runs."),
    year: int = typer.Option(None, "--year", help="Only runs of this compliance year."),
    warehouse: Path = typer.Option(None, "--warehouse", help=WAREHOUSE_HELP),
) -> None:
    """List recent runs with each stage's status (succeeded, skipped, reused, failed, not run,
    interrupted), duration, rows and error. A run in progress shows once it has finished."""
    from rich.table import Table as RichTable

    from warehouse import read

    wh = _served(warehouse)
    with read.served_file(wh) as con:
        recent, stages = read.recent_runs(con, limit, year)
    if recent.height == 0:
        out.print(f"No runs recorded in {wh}" + (f" for {year}." if year else "."))
        return
    order = {s: i for i, s in enumerate(STAGES)}
    for r in recent.iter_rows(named=True):
        took = (r["finished_at"] - r["started_at"]).total_seconds() if r["finished_at"] else None
        colour = {"succeeded": "green", "running": "yellow"}.get(r["status"], "red")
        out.print(
            f"\n[bold]{r['run_id']}[/] {r['compliance_year']} [{colour}]{r['status']}[/] "
            f"started {r['started_at']:%Y-%m-%d %H:%M:%S} UTC"
            + (f", {took:.1f} s" if took is not None else "")
            + f" — {r['policy_version']}, as of {r['as_of']}"
            + (f", from stage {r['from_stage']}" if r["from_stage"] else ""),
            highlight=False,
        )
        t = RichTable("stage", "status", "seconds", "rows", "message")
        mine = sorted(
            (s for s in stages.iter_rows(named=True) if s["run_id"] == r["run_id"]),
            key=lambda s: order.get(s["stage"], 9),
        )
        for s in mine:
            t.add_row(
                s["stage"],
                s["status"],
                f"{s['duration_s']:.2f}" if s["duration_s"] is not None else "",
                f"{s['rows_out']:,}" if s["rows_out"] is not None else "",
                s["message"] or "",
            )
        out.print(t)
        if r["status"] != "succeeded" and r["message"]:
            out.print(f"  {r['message']}", highlight=False, markup=False)
        log = wh.resolve().parent / "logs" / f"{r['run_id']}.log"
        if r["status"] != "succeeded" and log.exists():
            out.print(f"  log: {log}", highlight=False)


@app.command()
def diff(
    year: int = typer.Option(..., "--year", help="Compliance year."),
    frm: int = typer.Option(None, "--from", help="Earlier version [the one before --to]."),
    to: int = typer.Option(None, "--to", help="Later version [the current one]."),
    warehouse: Path = typer.Option(None, "--warehouse", help="Served DuckDB file [var/warehouse.duckdb]."),
) -> None:
    """The enterprises whose allocation changed between two versions of a year, and why."""
    from rich.table import Table as RichTable

    from exports.versions import NoSuchVersion, version_diff
    from warehouse import read

    with read.served_file(_served(warehouse)) as con:
        try:
            n, m, rows = version_diff(con, year, frm, to)
        except NoSuchVersion as e:
            _fail(1, f"Nothing to compare: {e}.")
        vs = {r["version"]: r for r in read.versions(con, year).iter_rows(named=True)}

    def head(v: int) -> str:
        r = vs[v]
        return f"version {v} (notified {r['notified_on']}, {r['status']})"

    out.print(f"[bold]{year}[/]: {head(n)} → {head(m)}: {rows.height} enterprise(s) changed")
    if not rows.height:
        return
    t = RichTable()
    for col in ("enterprise 单位", f"v{n} A_final t", f"v{m} A_final t", "delta t 变化量", "review 复核"):
        t.add_column(col, justify="right" if " t" in col else "left", no_wrap=" t" in col)
    for r in rows.iter_rows(named=True):
        t.add_row(
            f"{r['enterprise_id']} {r['name'] or ''}",
            *(f"{r[k]:,}" if r[k] is not None else "—" for k in ("previous_final_t", "allocation_final_t")),
            f"{r['delta_t']:+,}" if r["delta_t"] is not None else "—",
            r["review_request_id"] or "—",
        )
    out.print(t)
    for r in rows.iter_rows(named=True):  # the why, as paragraphs: long texts do not fit a column
        out.print(
            f"[bold]{r['enterprise_id']}[/] changed inputs 变化的输入数据: {r['changed_inputs']}",
            highlight=False,
        )
        out.print(
            f"[bold]{r['enterprise_id']}[/] changed rules 规则变化: {r['changed_rules']}", highlight=False
        )


@app.command()
def export(
    year: int = typer.Option(..., "--year", help="Compliance year."),
    warehouse: Path = typer.Option(None, "--warehouse", help=WAREHOUSE_HELP),
    out_dir: Path = typer.Option(None, "--out", help="Folder. Default: var/out/<year> beside the warehouse."),
    pdf: bool = typer.Option(
        False,
        "--pdf",
        help="Also print each notice to PDF beside its workbook (needs chromium; ~1 s per notice).",
    ),
) -> None:
    """Rewrite the files for people of a published year: notices, report, Parquet (a run writes
    them itself; this rewrites all of them, e.g. into another folder, or adds PDFs)."""
    paths = export_year(_served(warehouse), year, out_dir)
    if pdf:
        from exports.notice_pdf import write_pdfs

        pdfs, why = write_pdfs(sorted((Path(paths["out_dir"]) / "notices").glob("*.xlsx")))
        out.print(f"{len(pdfs)} PDF notices written" if why is None else f"No PDF: {why}", highlight=False)
    out.print(
        f"{year}: {paths['notices']} notices, report {paths['report']}, Parquet in {paths['parquet']} "
        f"— publication {paths['publication_run']}",
        highlight=False,
    )


def export_year(wh: Path, year: int, out_dir: Path | None = None) -> dict:
    """Rewrite every file for people of the year's current publication (`exports.people`)."""
    from exports.people import Publication, write_files_for_people
    from warehouse import read

    with read.served_file(wh) as con:
        last = read.last_publication(con, year)
    if last is None:
        _fail(1, f"{year} has no successful run in {wh}: nothing to export.")
    version, published_by = last["policy_version"], last["run_id"]
    policy = _policy_of_run(last["policy_path"], version, year)
    publication = Publication(year, published_by, last["input_hash"], str(last["as_of"]), version)
    files = write_files_for_people(wh, year, policy, publication, out_dir, force=True)
    return files | {"publication_run": published_by}


def _policy_of_run(path: str, version: str, year: int):
    """The rule pack a run used: its file when it still has the recorded content, else an error."""
    from policies import PolicyError, load_policy

    try:
        policy = load_policy(path)
    except PolicyError as e:
        _fail(
            1, f"The {year} results were computed with {version} from {path}, which cannot be read now: {e}"
        )
    if policy.version != version:
        _fail(
            1,
            f"The {year} results were computed with {version}, but {path} now holds {policy.version}: "
            "rerun the year before exporting.",
        )
    return policy


def deployment_options(
    inbox: Path,
    warehouse: Path,
    cron: str = SERVE_CRON,
    year: int | None = None,
    timezone: str = SERVE_TIMEZONE,
    name: str = "annual",
    policy: Path | None = None,
    allow_quarantine: bool = False,
) -> dict:
    """Keyword arguments of `annual_run.serve(...)` / `.to_deployment(...)`: a cron schedule and the
    run's parameters (absolute paths: the served flow runs start elsewhere). Without `year`, each
    run allocates the previous calendar year of its own date; `as_of` is always the run's date."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    parameters: dict = {"inbox": str(inbox.resolve()), "warehouse": str(warehouse.resolve())}
    if year is not None:
        parameters["year"] = year
    if policy is not None:
        parameters["policy"] = str(policy.resolve())
    if allow_quarantine:
        parameters["allow_quarantine"] = True
    return {
        "name": name,
        "schedules": [Cron(cron, timezone=timezone)],
        "parameters": parameters,
        "tags": ["etsflow"],
        "description": f"Annual allocation run of {'year ' + str(year) if year else 'the previous calendar year'} "
        f"on {parameters['inbox']} into {parameters['warehouse']}; unchanged stages are skipped.",
        "entrypoint_type": EntrypointType.MODULE_PATH,
    }


def build_deployment(inbox: Path, warehouse: Path, **options):
    """The `RunnerDeployment` that `etsflow serve` serves (built without any server)."""
    settings.configure()
    from flows.annual import annual_run

    return annual_run.to_deployment(**deployment_options(inbox, warehouse, **options))


def prefect_server_problem() -> str | None:
    """Why `etsflow serve` cannot schedule here, or None when a Prefect server answers."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    start = (
        "Start a Prefect server in another terminal (it keeps schedules and run history):\n"
        "  PREFECT_HOME=var/prefect .venv/bin/prefect server start\n"
        "then point this shell at it and serve again:\n"
        "  export PREFECT_API_URL=http://127.0.0.1:4200/api\n"
        "  .venv/bin/etsflow serve --inbox DIR ...\n"
        "Or schedule `etsflow run` with the operating system's cron instead (docs/operations.md)."
    )
    if not url:
        return (
            "etsflow serve needs a running Prefect server: PREFECT_API_URL is not set, and Prefect's "
            'temporary per-process server cannot schedule flows ("Cannot schedule flows on an ephemeral '
            'server").\n' + start
        )
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5).raise_for_status()
    except httpx.HTTPError as e:
        return f"No Prefect server answers at PREFECT_API_URL={url} ({type(e).__name__}: {e}).\n" + start
    return None


@app.command()
def serve(
    inbox: Path = typer.Option(..., "--inbox", help="Inbox folder (contract §1)."),
    warehouse: Path = typer.Option(None, "--warehouse", help=WAREHOUSE_HELP),
    cron: str = typer.Option(SERVE_CRON, "--cron", help="When to run, as a cron expression."),
    timezone: str = typer.Option(SERVE_TIMEZONE, "--timezone", help="Time zone of the cron expression."),
    year: int = typer.Option(
        None, "--year", help="Compliance year. Default: the previous calendar year of each run's date."
    ),
    policy: Path = typer.Option(None, "--policy", help=POLICY_HELP),
    allow_quarantine: bool = typer.Option(False, "--allow-quarantine", help="As for `etsflow run`."),
    name: str = typer.Option("annual", "--name", help="Deployment name in Prefect."),
) -> None:
    """Serve the annual run on a cron schedule through a Prefect server (runs until stopped)."""
    # flow runs log their stages to the Prefect UI (the `run` command keeps Prefect quiet)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    settings.configure()
    if problem := prefect_server_problem():
        _fail(1, problem)
    from flows.annual import annual_run

    wh = warehouse or _default_warehouse()
    opts = deployment_options(inbox, wh, cron, year, timezone, name, policy, allow_quarantine)
    out.print(
        f"Serving etsflow-annual-run/{name}: cron '{cron}' ({timezone}), "
        f"year {year or 'previous calendar year'}, inbox {opts['parameters']['inbox']}, "
        f"warehouse {opts['parameters']['warehouse']}. Stop with Ctrl+C.",
        highlight=False,
    )
    # one run at a time: the work database admits one writer
    annual_run.serve(**opts, limit=1)


def _runner_socket() -> Path:
    """The socket of the runner that commands from this shell would use."""
    return launch.socket_path(launch.identity(dict(os.environ), os.getcwd()))


def _runner_status_text(status: dict) -> str:
    running = f", running {len(status['running'])} command(s)" if status["running"] else ""
    spare = f"; spare checkpoint worker {status['spare_worker']}" if status["spare_worker"] else ""
    return (
        f"Runner {status['pid']} on {status['socket']}: code {status['code']}, {status['python']}, "
        f"Prefect home {status['home']}; up {time.time() - status['started']:.0f} s, "
        f"idle {status['idle_s']:.0f} s, {status['served']} command(s) served{running}{spare}."
    )


@runner_app.command("start")
def runner_start(
    timeout: float = typer.Option(120, "--timeout", help="Seconds to wait for it to answer."),
) -> None:
    """Start a runner in the background for this Prefect home, Python, code and environment (it
    stops itself after ETSFLOW_RUNNER_IDLE_MINUTES, default 30, without a command)."""
    if sys.platform != "linux":
        _fail(
            1,
            "The warm runner needs Linux (fork, pidfd, descriptor passing); commands run in their own process.",
        )
    path = _runner_socket()
    if status := launch.request(path, {"op": "status"}):
        out.print(f"Already up. {_runner_status_text(status)}", highlight=False, soft_wrap=True)
        return
    if problem := launch.start_runner(dict(os.environ), os.getcwd()):
        _fail(1, f"No runner can serve here: {problem}.")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status := launch.request(path, {"op": "status"}):
            out.print(f"Started. {_runner_status_text(status)}", highlight=False, soft_wrap=True)
            return
        time.sleep(0.1)
    _fail(1, f"The runner did not answer within {timeout:g} s; see its log {path.with_suffix('.log')}.")


@runner_app.command("stop")
def runner_stop(
    timeout: float = typer.Option(600, "--timeout", help="Seconds to wait for its running commands."),
) -> None:
    """Stop the runner of this Prefect home, Python, code and environment: it takes no new command
    and ends once its running ones have (they are not interrupted)."""
    path = _runner_socket()
    answer = launch.request(path, {"op": "stop"})
    if not answer:
        out.print(f"No runner answers on {path}; nothing to stop.", highlight=False, soft_wrap=True)
        return
    pid, deadline = answer["stopping"], time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists():
        _fail(1, f"Runner {pid} still waits for its running commands after {timeout:g} s.")
    out.print(f"Runner {pid} stopped.", highlight=False)


@runner_app.command("status")
def runner_status() -> None:
    """Whether a runner serves commands from this shell: socket, pid, code version, idle time.
    Exit 0 when one answers, 1 when none does."""
    path = _runner_socket()
    status = launch.request(path, {"op": "status"})
    if not status:
        out.print(
            f"No runner: `etsflow` commands run in their own process (socket {path}).",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    out.print(_runner_status_text(status), highlight=False, soft_wrap=True)


def main() -> None:  # pragma: no cover  (the console script; tests call `app`)
    """Run the command, then leave without the interpreter's teardown of every loaded module: with
    Great Expectations, pandas and SciPy loaded that took ~1.5 s of each command (docs/scaling.md)
    and does nothing a finished command needs. What the teardown would do that matters is done
    first: other non-daemon threads are joined, exit handlers run (Prefect's and logging's among
    them), output is flushed."""
    try:
        app()
        code = 0
    except KeyboardInterrupt:  # outside a run (a run reports its own interruption)
        print(launch.INTERRUPTED, file=sys.stderr)
        code = 130
    except SystemExit as e:  # typer/click end every command this way
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    for t in threading.enumerate():
        if t is not threading.main_thread() and not t.daemon:
            t.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # python -m etsflow.cli
    main()
