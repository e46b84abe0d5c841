"""The files for people of a published year: notices, report, Parquet — stamped with the
publication they describe, and rewritten only when that publication changed.

`var/out/<year>/publication.json` (the stamp) names the publication the folder's files show:
the run that published it, its fingerprint, the as-of date and the rule pack, and for each
notice a digest of what it shows. Rules:

- the stamp is deleted before anything is written and written last, so a folder without a stamp
  (a run killed while writing, or writing failed) claims nothing; `etsflow export` rewrites it;
- the same publication as the stamp's → nothing is written ("current");
- a new publication → report and Parquet are rewritten, notices only where what they show
  changed (digest, which includes the version block), notices of units without an allocation
  (few) always, the changed units' re-issued notices of a version n > 1 under `v<n>/changed/`,
  and notices of units no longer in the publication are removed;
- the report's footer and every notice name the run whose figures they show.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from policies import Policy

STAMP = "publication.json"


@dataclass(frozen=True)
class Publication:
    """What identifies a published year: the run that published it and its publish fingerprint."""

    year: int
    run_id: str
    fingerprint: str
    as_of: str | None
    policy_version: str

    def as_dict(self) -> dict:
        return {
            "year": self.year,
            "run_id": self.run_id,
            "fingerprint": self.fingerprint,
            "as_of": self.as_of,
            "policy_version": self.policy_version,
        }


def read_stamp(out_dir: Path) -> dict | None:
    try:
        return json.loads((Path(out_dir) / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_current(out_dir: Path, publication: Publication) -> bool:
    """True when the folder's stamp names `publication` and its files are all there."""
    stamp = read_stamp(out_dir)
    if not stamp or stamp.get("publication") != publication.as_dict():
        return False
    return all((Path(out_dir) / f).is_file() for f in stamp.get("files", []))


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()[:16]


def notice_digests(results, settings_digest: str) -> dict[str, str]:
    """Per enterprise, a digest of everything its notice shows (not the run id)."""
    lines: dict[str, list] = {}
    for r in results.allocation_line.sort("enterprise_id", "line_id").iter_rows(named=True):
        lines.setdefault(r["enterprise_id"], []).append(r)
    status = {r["enterprise_id"]: r for r in results.clearance_status.iter_rows(named=True)}
    code = Path(__file__).with_name("notices.py").read_bytes()
    base = (results.policy.version, settings_digest, hashlib.sha256(code).hexdigest())
    return {
        e["enterprise_id"]: _digest(
            base, e, lines.get(e["enterprise_id"], []), status.get(e["enterprise_id"])
        )
        for e in results.allocation_enterprise.iter_rows(named=True)
    }


def write_files_for_people(
    served: Path,
    year: int,
    policy: Policy,
    publication: Publication,
    out_dir: Path | None = None,
    *,
    force: bool = False,
) -> dict:
    """Bring `out_dir` (default `<served dir>/out/<year>`) up to `publication`, read from the
    served file. Returns {status: current|written, out_dir, report, notices_written,
    notices_removed, notices, parquet}."""
    from exports.notices import notice_settings, write_notices, write_unallocated_notices
    from exports.parquet import write_parquet
    from exports.report import write_report
    from exports.versions import add_version_section, write_changed_notices
    from warehouse import read

    out_dir = Path(out_dir or Path(served).parent / "out" / str(year))
    report = out_dir / f"report-{year}.html"
    if not force and is_current(out_dir, publication):
        stamp = read_stamp(out_dir) or {}
        return {
            "status": "current",
            "out_dir": out_dir,
            "report": report,
            "notices": max(len(stamp.get("files", [])) - 1, 0),
            "notices_written": 0,
            "notices_removed": 0,
        }
    old = read_stamp(out_dir) or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / STAMP).unlink(missing_ok=True)  # from here on the folder claims no publication

    with read.served_file(served) as con:
        results = read.year_results(con, year, policy)
        current = read.current_version(con, year)
        changes = read.version_changes(con, year, current["version"] if current else 0)
        names = read.enterprise_names(con)
    settings = notice_settings(policy)
    digests = notice_digests(results, _digest(settings, current))  # the version block is on every notice
    previous = {} if force else old.get("notices", {})
    notice_dir = out_dir / "notices"
    changed = {
        eid
        for eid, d in digests.items()
        if previous.get(eid, {}).get("digest") != d or not (notice_dir / f"{eid}.xlsx").is_file()
    }
    shown_run = {eid: (publication.run_id if eid in changed else previous[eid]["run_id"]) for eid in digests}
    written = write_notices(results, notice_dir, only=changed, publication_runs=shown_run, settings=settings)
    if current is not None:
        for path in written:
            add_version_section(path, current)
    # units without an allocation (missing verification, not on the list): few, always rewritten
    unallocated = write_unallocated_notices(
        results, names, notice_dir, publication_run=publication.run_id, settings=settings
    )
    if current is not None:
        for path in unallocated:
            add_version_section(path, current)
    keep = set(digests) | {p.stem for p in unallocated}
    removed = 0
    if notice_dir.is_dir():
        for stale in notice_dir.glob("*.xlsx"):
            if stale.stem not in keep:
                stale.unlink()
                removed += 1
    if current and current["version"] > 1:  # re-issued notices of the changed units only
        write_changed_notices(results, changes, current, out_dir / f"v{current['version']}" / "changed")
    stamp_text = f"发布批次 Publication: run {publication.run_id}" + (
        f"，统计日期 as of {publication.as_of}" if publication.as_of else ""
    )
    write_report(results, report, version=current, changes=changes, stamp=stamp_text)
    parquet = write_parquet(results, out_dir / "parquet")
    files = [report.relative_to(out_dir).as_posix()] + [f"notices/{eid}.xlsx" for eid in sorted(keep)]
    stamp = {
        "publication": publication.as_dict(),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
        "notices": {eid: {"digest": d, "run_id": shown_run[eid]} for eid, d in sorted(digests.items())},
    }
    tmp = out_dir / f".{STAMP}.tmp"
    tmp.write_text(json.dumps(stamp, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, out_dir / STAMP)
    return {
        "status": "written",
        "out_dir": out_dir,
        "report": report,
        "notices": len(keep),
        "notices_written": len(changed) + len(unallocated),
        "notices_removed": removed,
        "parquet": out_dir / "parquet",
        "parquet_files": len(parquet),
    }
