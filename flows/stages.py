"""The six stages of the annual run, as wiring: read from the warehouse, call a pure transform,
write through the warehouse. No business rule lives here.

Where outputs live (so that a later run can reuse them): `ingest` → `raw.*` (inbox-wide, shared
by every year); `validate` → `core.*` and its per-year copy `stage."y<year>_core_<table>"`;
`baselines`, `allocate`, `clearance` → `stage."y<year>_<name>"`; `publish` → the year's rows of
`mart.*`. The end of this module says what each output depends on (`fingerprints`): the flow
skips a stage whose recorded fingerprint in `stage.cache` equals the current one.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from etsflow import catalog
from ingest.read import DATA_SUFFIXES, Inbox, read_inbox, sha256
from policies import Policy, default_policy_path
from transforms import CoreFrames
from validations.inputs import validate_inbox
from validations.schemas import check_frame
from warehouse import Warehouse
from warehouse.store import SHARED, pause_point

STAGES = ("ingest", "validate", "baselines", "allocate", "clearance", "publish")


class InvalidInput(Exception):
    """Input data broke the contract; the message is the summary for the user (exit code 2)."""


@dataclass
class RunContext:
    run_id: str
    year: int
    inbox: Path
    wh: Warehouse
    con: duckdb.DuckDBPyConnection
    policy: Policy
    as_of: date
    allow_quarantine: bool = False
    out_dir: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StageOutcome:
    rows_out: int
    message: str = ""


def _core(ctx: RunContext) -> CoreFrames:
    """The validated inputs of the run's year (validate's per-year copy of `core.*`)."""
    return CoreFrames.from_tables(ctx.wh.read_core(ctx.con, ctx.year))


def ingest(ctx: RunContext) -> StageOutcome:
    inbox = read_inbox(ctx.inbox)
    with ctx.wh.transaction(ctx.con, pause="ingest"):
        for name, df in inbox.tables.items():
            ctx.wh.replace_table(ctx.con, f"raw.{name}", df)
        ctx.wh.replace_table(ctx.con, "raw.files", inbox.manifest)
    ctx.wh.update_run(ctx.con, ctx.run_id, input_hashes=json.dumps(inbox.file_hashes, ensure_ascii=False))
    files = inbox.manifest.height
    rows = sum(df.height for df in inbox.tables.values())
    return StageOutcome(rows, f"{files} files/sheets, {rows} rows read")


def _inbox_from_raw(ctx: RunContext) -> Inbox:
    tables = {
        name: ctx.wh.read(ctx.con, f"raw.{name}")
        for name in ("enterprises", "lines", "line_years", "enterprise_years", "attributes", "ledger")
    }
    return Inbox(tables=tables, manifest=ctx.wh.read(ctx.con, "raw.files"))


def validate(ctx: RunContext) -> StageOutcome:
    result = validate_inbox(_inbox_from_raw(ctx), ctx.policy)
    q = result.quarantine
    core = result.without_affected() if ctx.allow_quarantine else result.core
    with ctx.wh.transaction(ctx.con, pause="validate"):
        for t in catalog.INPUTS:
            ctx.wh.replace_typed(ctx.con, t, getattr(core, t.name))
        ctx.wh.snapshot_core(ctx.con, ctx.year)
        if q.height:
            ctx.wh.append(ctx.con, catalog.QUARANTINE, q.with_columns(pl.lit(ctx.run_id).alias("run_id")))
    if result.missing_reports:
        ctx.notes.append(
            f"{len(result.missing_reports)} listed enterprise(s) have no verification report for {ctx.year} "
            f"(status missing_verification): {', '.join(result.missing_reports[:10])}"
        )
    if q.height and not ctx.allow_quarantine:
        raise InvalidInput(quarantine_summary(q, ctx.wh.served))
    if q.height:
        ctx.notes.append(
            f"{q.height} rows quarantined; not allocated: {', '.join(result.affected_enterprises) or 'none'}"
        )
    rows = sum(getattr(core, t.name).height for t in catalog.INPUTS)
    return StageOutcome(rows, f"{rows} valid rows, {q.height} quarantined")


def quarantine_summary(q: pl.DataFrame, served: Path, first: int = 5) -> str:
    """One paragraph: how many rows were rejected and the first few, with file, row, column."""
    parts = []
    for r in q.head(first).iter_rows(named=True):
        where = r["source_file"] or "(inbox)"
        if r["sheet"]:
            where += f" sheet {r['sheet']}"
        if r["row_number"] is not None:
            where += f" row {r['row_number']}"
        if r["column_name"]:
            where += f" column {r['column_name']}"
        value = f" value '{r['value']}'" if r["value"] is not None else ""
        parts.append(f"{where}{value}: {r['message']}")
    more = f" … and {q.height - first} more" if q.height > first else ""
    return (
        f"Invalid input: {q.height} row(s) quarantined, nothing allocated. "
        + "; ".join(parts)
        + more
        + f". All rejected rows are in audit.quarantine of {served}; fix the files, or rerun with "
        "--allow-quarantine to allocate the other enterprises."
    )


def baselines(ctx: RunContext) -> StageOutcome:
    from transforms.baselines import compute_baselines

    df = compute_baselines(_core(ctx), ctx.policy)
    ctx.wh.write_stage(ctx.con, ctx.year, {"baselines": df}, stage="baselines")
    methods = df.group_by("method").len().sort("method")
    mix = ", ".join(f"{r['method']} {r['len']}" for r in methods.iter_rows(named=True))
    return StageOutcome(df.height, f"{df.height} lines: {mix}")


def allocate(ctx: RunContext) -> StageOutcome:
    from transforms.allocate import allocate as allocate_lines

    result = allocate_lines(ctx.wh.read_stage(ctx.con, ctx.year, "baselines"), _core(ctx), ctx.policy)
    frames = {
        "allocation_line": check_frame(result.lines, catalog.ALLOCATION_LINE),
        "allocation_enterprise": check_frame(result.enterprises, catalog.ALLOCATION_ENTERPRISE),
        "cap_summary": check_frame(result.cap, catalog.CAP_SUMMARY),
    }
    rows = ctx.wh.write_stage(
        ctx.con,
        ctx.year,
        {
            k: getattr(result, a)
            for k, a in (
                ("allocation_line", "lines"),
                ("allocation_enterprise", "enterprises"),
                ("cap_summary", "cap"),
            )
        },
        stage="allocate",
    )
    cap = frames["cap_summary"].row(0, named=True) if frames["cap_summary"].height else {}
    return StageOutcome(
        rows,
        f"{cap.get('enterprise_count', 0)} enterprises, total cap "
        f"{cap.get('total_cap_t', 0):,} t, reserve {cap.get('reserve_t', 0):,} t",
    )


def _allocation_from_stage(ctx: RunContext):
    from transforms.allocate import Allocation

    return Allocation(
        lines=ctx.wh.read_stage(ctx.con, ctx.year, "allocation_line"),
        enterprises=ctx.wh.read_stage(ctx.con, ctx.year, "allocation_enterprise"),
        cap=ctx.wh.read_stage(ctx.con, ctx.year, "cap_summary"),
    )


def clearance(ctx: RunContext) -> StageOutcome:
    from policies import policy_for_year
    from transforms import listed_enterprise_ids
    from transforms.clearance import evaluate_clearance
    from transforms.pool import allocation_for, obligations, pool_remaining, pool_years

    core = _core(ctx)
    allocation = _allocation_from_stage(ctx)
    # other pool years are computed with their bundled rule packs (they share the 2023 pool)
    policies = {y: (ctx.policy if y == ctx.year else policy_for_year(y)) for y in pool_years(ctx.policy)}
    allocations = {y: (allocation if y == ctx.year else allocation_for(core, p)) for y, p in policies.items()}
    pool = pool_remaining(core, ctx.policy, ctx.as_of, policies, allocations)
    result = evaluate_clearance(
        core.ledger,
        obligations(allocation),
        listed_enterprise_ids(core.enterprises, ctx.year),
        pool,
        ctx.policy,
        ctx.as_of,
    )
    check_frame(result.status, catalog.CLEARANCE_STATUS)
    check_frame(result.items, catalog.CLEARANCE_ITEM)
    rows = ctx.wh.write_stage(
        ctx.con,
        ctx.year,
        {"clearance_status": result.status, "clearance_item": result.items},
        stage="clearance",
    )
    counts = result.status.group_by("status").len().sort("status")
    return StageOutcome(
        rows,
        f"as of {ctx.as_of}: " + ", ".join(f"{r['status']} {r['len']}" for r in counts.iter_rows(named=True)),
    )


class PublicationRefused(Exception):
    """The warehouse checkpoint found the new results inconsistent; nothing was published."""


def publish(ctx: RunContext) -> StageOutcome:
    from exports.results import YearResults
    from validations.checkpoint import run_checkpoint

    names = [t.name for t in catalog.MARTS]
    marts = {
        n: check_frame(ctx.wh.read_stage(ctx.con, ctx.year, n), next(t for t in catalog.MARTS if t.name == n))
        for n in names
    }
    core = _core(ctx)
    results = YearResults(
        year=ctx.year,
        policy=ctx.policy,
        listed_enterprise_ids=_expected_enterprises(core, ctx),
        ledger_rows=core.ledger.filter(pl.col("compliance_year") == ctx.year).height,
        **marts,
    )
    out = ctx.out_dir or (ctx.wh.served.parent / "out" / str(ctx.year))
    check = run_checkpoint(results, out / "data-docs", run_name=ctx.run_id)
    if not check.success:
        raise PublicationRefused(
            f"the warehouse checkpoint refused the {ctx.year} results, the previous publication is kept: "
            + "; ".join(check.failures[:5])
        )
    rows = ctx.wh.publish_year(ctx.con, ctx.year, marts)
    pause_point("publish:committed", ctx.wh.served.parent)  # test hook: committed, not yet served
    return StageOutcome(
        rows, f"published {ctx.year}: " + ", ".join(f"{k} {v.height}" for k, v in marts.items())
    )


def _expected_enterprises(core: CoreFrames, ctx: RunContext) -> list[str]:
    """Listed enterprises that reported for the year: each must have an allocation row."""
    from transforms import listed_enterprise_ids

    reported = core.line_years.filter(pl.col("year") == ctx.year).select("enterprise_id").unique()
    listed = listed_enterprise_ids(core.enterprises, ctx.year).join(reported, on="enterprise_id", how="semi")
    return sorted(listed["enterprise_id"].to_list())


RUNNERS = {
    "ingest": ingest,
    "validate": validate,
    "baselines": baselines,
    "allocate": allocate,
    "clearance": clearance,
    "publish": publish,
}


# ---------------------------------------------------------------------------------------------
# Fingerprints: what each stage's output depends on (cache keys for skip and --from-stage)
# ---------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = (
    "etsflow",
    "ingest",
    "flows",
    "transforms",
    "validations",
    "warehouse",
    "exports",
    "policies",
)
# The modules a stage runs; the project modules they import (at any depth) are added.
STAGE_CODE = {
    "ingest": ("ingest.read",),
    "validate": ("validations.inputs",),
    "baselines": ("transforms.baselines",),
    "allocate": ("transforms.allocate", "validations.schemas"),
    "clearance": ("transforms.clearance", "transforms.pool", "validations.schemas"),
    "publish": ("exports.results", "validations.checkpoint", "validations.schemas"),
}
# Part of every stage's code version (files only, not their imports): this wiring, the table
# catalog, the warehouse writes and rule-pack loading.
WIRING = ("flows/stages.py", "etsflow/catalog.py", "warehouse/store.py", "policies/__init__.py")
LIBRARIES = ("duckdb", "polars", "pyarrow", "pandera", "fastexcel", "great-expectations")
# The earlier stages whose outputs a stage reads.
READS = {
    "ingest": (),
    "validate": ("ingest",),
    "baselines": ("validate",),
    "allocate": ("validate", "baselines"),
    "clearance": ("validate", "allocate"),
    "publish": ("validate", "allocate", "clearance"),
}


@dataclass(frozen=True)
class Fingerprint:
    """The inputs of one stage: `parts` (file hashes, rule pack, code, options, and the
    fingerprints of the outputs it reads); `digest` is their sha256. `slot` is the
    stage.cache.compliance_year of its output: the year, or 0 for the inbox-wide raw tables."""

    stage: str
    slot: int
    parts: dict

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.parts, sort_keys=True).encode()).hexdigest()


def inbox_files(inbox: Path) -> dict[str, str] | None:
    """sha256 of every file `ingest` reads (same selection), by path relative to the inbox."""
    if not inbox.is_dir():
        return None
    out = {}
    for path in sorted(p for p in inbox.rglob("*") if p.is_file() and p.suffix.lower() in DATA_SUFFIXES):
        rel = path.relative_to(inbox)
        if not any(part.startswith(".") or part.startswith("~$") for part in rel.parts):
            out[rel.as_posix()] = sha256(path)
    return out


def _module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _project_imports(path: Path) -> set[str]:
    """Project modules imported anywhere in a file (also inside functions), with their packages."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            parts = n.split(".")
            if parts[0] in PROJECT_PACKAGES:
                found.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return found


def code_files(stage: str) -> dict[str, str]:
    """The source files that are the stage's code version, each with its sha256 (16 digits)."""
    files = {ROOT / w for w in WIRING}
    todo, seen = list(STAGE_CODE[stage]), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for i in range(1, name.count(".") + 1):  # importing a.b runs a/__init__.py
            todo.append(name.rsplit(".", i)[0])
        path = _module_file(name)
        if path is not None:
            files.add(path)
            todo.extend(_project_imports(path))
    return {
        p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        for p in sorted(files)
        if p.is_file()
    }


def library_versions() -> dict[str, str]:
    out = {}
    for dist in LIBRARIES:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def _pack_hash(year: int, current: Policy) -> str:
    """Content hash of the rule pack clearance uses for pool year `year` (bundled pack)."""
    if year == current.year:
        return current.content_hash
    path = default_policy_path(year)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def fingerprints(ctx: RunContext, files: dict[str, str] | None) -> dict[str, Fingerprint]:
    """Every stage's fingerprint for this run, from the inbox files, rule pack(s), options,
    library versions and code; each includes the fingerprints of the outputs it reads, so a change
    anywhere upstream changes every fingerprint downstream."""
    from transforms.pool import pool_years

    libs = library_versions()
    out: dict[str, Fingerprint] = {}
    for stage in STAGES:
        parts: dict = {"code": code_files(stage), "libraries": libs}
        parts |= {f"input:{r}": out[r].digest for r in READS[stage]}
        if stage == "ingest":
            parts["inbox_files"] = files
        else:
            parts |= {"year": ctx.year, "rule_pack": ctx.policy.content_hash}
        if stage == "validate":
            parts["allow_quarantine"] = ctx.allow_quarantine
        if stage == "clearance":
            parts["as_of"] = ctx.as_of.isoformat()
            parts["pool_rule_packs"] = {str(y): _pack_hash(y, ctx.policy) for y in pool_years(ctx.policy)}
        out[stage] = Fingerprint(stage, SHARED if stage == "ingest" else ctx.year, parts)
    return out


def _changed_keys(old: dict | None, new: dict | None) -> list[str]:
    old, new = old or {}, new or {}
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _few(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def describe_difference(recorded: dict, current: Fingerprint) -> str:
    """In words: why the recorded output of a stage was made from other inputs than now."""
    old, new = recorded, current.parts
    why = []
    if "inbox_files" in _changed_keys(old, new):
        before, now = old.get("inbox_files"), new.get("inbox_files")
        if now is None:
            why.append("the inbox folder cannot be read")
        else:
            before = before or {}
            changed = [f for f in now if f in before and before[f] != now[f]]
            added = [f for f in now if f not in before]
            removed = [f for f in before if f not in now]
            for label, names in (("changed", changed), ("added", added), ("removed", removed)):
                if names:
                    why.append(f"input files {label}: {_few(names)}")
    if "rule_pack" in _changed_keys(old, new):
        why.append("the rule pack changed")
    if "code" in _changed_keys(old, new):
        why.append(f"code changed: {_few(_changed_keys(old.get('code'), new.get('code')))}")
    if "libraries" in _changed_keys(old, new):
        libs = _changed_keys(old.get("libraries"), new.get("libraries"))
        why.append("library versions changed: " + _few(libs))
    for key, label in (
        ("year", "compliance year"),
        ("allow_quarantine", "--allow-quarantine"),
        ("as_of", "--as-of"),
    ):
        if key in _changed_keys(old, new):
            why.append(f"{label} was {old.get(key)}, now {new.get(key)}")
    if "pool_rule_packs" in _changed_keys(old, new):
        why.append("a rule pack of the borrowing pool years changed")
    if not why:
        upstream = [k.removeprefix("input:") for k in _changed_keys(old, new) if k.startswith("input:")]
        why.append("it read outputs of " + " and ".join(upstream) + " made from other inputs")
    return "; ".join(why)
