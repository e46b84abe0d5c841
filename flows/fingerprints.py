"""Fingerprints: what each stage's output depends on (cache keys for skip and --from-stage).

A stage's fingerprint hashes its input files (ingest), the rule pack, year and options, the code
version of the stage (its modules and every project module they import, plus the wiring), the
library versions, and the fingerprints of the earlier outputs it reads. The flow skips a stage
whose recorded fingerprint (`Warehouse.cache_entries`) equals the current one.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

from flows.stages import STAGES, RunSettings
from ingest.read import inbox_listing, judged, readable_path, sha256
from model import PACKAGES
from policies import Policy, default_policy_path
from warehouse.store import SHARED

ROOT = Path(__file__).resolve().parents[1]
# The modules a stage runs; the project modules they import (at any depth) are added.
STAGE_CODE = {
    "ingest": ("ingest.read",),
    "validate": ("validations.inputs",),
    "baselines": ("transforms.baselines",),
    "allocate": ("transforms.allocate", "validations.schemas"),
    "clearance": ("transforms.clearance", "transforms.engine", "validations.schemas"),
    "publish": (
        "model.results",
        "validations.checkpoint",
        "validations.checkpoint_process",
        "validations.schemas",
    ),
}
# Part of every stage's code version (files only, not their imports): this wiring, the table
# catalog, the warehouse writes and rule-pack loading (with its defaults).
WIRING = (
    "flows/stages.py",
    "flows/fingerprints.py",
    "transforms/engine.py",  # the pieces every transform stage calls (its imports: per stage above)
    "model/catalog.py",
    "warehouse/store.py",
    "policies/__init__.py",
    "policies/defaults.toml",  # the values of the parameters a pack leaves out
)
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
    fingerprints of the outputs it reads); `digest` is their sha256. `slot` is the cache slot of
    its output: the year, or 0 for the inbox-wide raw tables."""

    stage: str
    slot: int
    parts: dict

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.parts, sort_keys=True).encode()).hexdigest()


def inbox_files(inbox: Path) -> dict[str, str] | None:
    """sha256 of every file `ingest` reads or rejects (`ingest.read.judged`), by readable path
    relative to the inbox."""
    if not inbox.is_dir():
        return None
    return {
        readable_path(p.relative_to(inbox)): sha256(p)
        for p, skip in inbox_listing(inbox)
        if skip is None and judged(p.relative_to(inbox))
    }


def inbox_unread(inbox: Path) -> list[str]:
    """The other files (README, scripts, other folders; not lock or hidden files): ingest only lists
    them as not read, so their names are part of its fingerprint (a file added or removed reruns
    it, a README edited does not)."""
    if not inbox.is_dir():
        return []
    return [
        readable_path(p.relative_to(inbox))
        for p, skip in inbox_listing(inbox)
        if skip is None and not judged(p.relative_to(inbox))
    ]


def _module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _project_imports(path: Path) -> frozenset[str]:
    """Project modules imported anywhere in a file (also inside functions), with their packages."""
    return _imports_in(path, path.stat().st_mtime_ns)


@functools.cache
def _imports_in(path: Path, _mtime_ns: int) -> frozenset[str]:
    """(Parsed once per version of the file: every stage's code version reads most files.)"""
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
            if parts[0] in PACKAGES:
                found.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return frozenset(found)


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
    """Content hash of the rule pack clearance uses for pool year `year` (the jurisdiction's pack)."""
    if year == current.year:
        return current.content_hash
    path = default_policy_path(year, current.pack.jurisdiction)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def fingerprints(run: RunSettings, files: dict[str, str] | None) -> dict[str, Fingerprint]:
    """Every stage's fingerprint for this run, from the inbox files, rule pack(s), options,
    library versions and code; each includes the fingerprints of the outputs it reads, so a change
    anywhere upstream changes every fingerprint downstream."""
    from transforms.engine import pool_years

    libs = library_versions()
    out: dict[str, Fingerprint] = {}
    for stage in STAGES:
        parts: dict = {"code": code_files(stage), "libraries": libs}
        parts |= {f"input:{r}": out[r].digest for r in READS[stage]}
        if stage == "ingest":
            parts["inbox_files"] = files
            parts["inbox_unread"] = inbox_unread(run.inbox)
        else:
            parts |= {"year": run.year, "rule_pack": run.policy.content_hash}
        if stage == "validate":
            parts["allow_quarantine"] = run.allow_quarantine
            if run.allow_partial:  # (absent when off: records of earlier versions stay valid)
                parts["allow_partial"] = True
        if stage == "clearance":
            parts["as_of"] = run.as_of.isoformat()
            parts["pool_rule_packs"] = {str(y): _pack_hash(y, run.policy) for y in pool_years(run.policy)}
        if stage == "publish" and run.notified_on is not None:  # the notification date of a new version
            parts["notified_on"] = run.notified_on.isoformat()
        out[stage] = Fingerprint(stage, SHARED if stage == "ingest" else run.year, parts)
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
    if "inbox_unread" in _changed_keys(old, new):
        before, now = set(old.get("inbox_unread") or ()), set(new.get("inbox_unread") or ())
        for label, names in (("added", now - before), ("removed", before - now)):
            if names:
                why.append(f"files not read {label}: {_few(sorted(names))}")
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
        ("allow_partial", "--allow-partial"),
        ("as_of", "--as-of"),
        ("notified_on", "--notified-on"),
    ):
        if key in _changed_keys(old, new):
            why.append(f"{label} was {old.get(key)}, now {new.get(key)}")
    if "pool_rule_packs" in _changed_keys(old, new):
        why.append("a rule pack of the borrowing pool years changed")
    if not why:
        upstream = [k.removeprefix("input:") for k in _changed_keys(old, new) if k.startswith("input:")]
        why.append("it read outputs of " + " and ".join(upstream) + " made from other inputs")
    return "; ".join(why)
