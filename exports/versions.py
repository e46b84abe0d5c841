"""Files for people about the allocation cycle (rules.md §9, contract §5).

- `version_diff`: what changed between two versions of a year (`etsflow diff`);
- `add_version_section`: the version block appended to a notice (version, notification date,
  review deadline and, for a re-issued notice, the previous and new figures and why);
- `write_changed_notices`: for version n > 1, the notices of the changed units only.

The notice's own form lives in `exports/notices.py`; these functions add their sections after
what it wrote, so both evolve independently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from openpyxl import load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from exports.notices import save_workbook
from model import catalog
from model.results import YearResults
from transforms import cycle as cy
from warehouse import read

_BOLD = Font(bold=True)
_SECTION_FILL = PatternFill("solid", fgColor="F2F2F2")
_CHANGE_FILL = PatternFill("solid", fgColor="FFF2CC")
_WRAP = Alignment(wrap_text=True, vertical="top")
FMT_INT_T = "#,##0"
FMT_DATE = "yyyy-mm-dd"


class NoSuchVersion(Exception):
    """The requested version does not exist; the message lists the versions there are."""


def version_diff(
    con: duckdb.DuckDBPyConnection, year: int, frm: int | None = None, to: int | None = None
) -> tuple[int, int, pl.DataFrame]:
    """(from, to, rows of `mart.allocation_change`'s shape) between two versions of `year`;
    default: the previous version → the current one."""
    vs = read.versions(con, year)["version"].to_list()
    if not vs:
        raise NoSuchVersion(f"{year} has no published version")
    to = vs[-1] if to is None else to
    frm = to - 1 if frm is None else frm
    for v in (frm, to):
        if v not in vs:
            raise NoSuchVersion(f"{year} has no version {v}; versions: {', '.join(map(str, vs))}")

    rows = cy.compare_versions(
        year,
        frm,
        to,
        *(
            read.version_history(con, t, year, (frm, to))
            for t in (
                catalog.HISTORY_ALLOCATION_LINE,
                catalog.HISTORY_ALLOCATION_ENTERPRISE,
                catalog.HISTORY_ALLOCATION_INPUT,
            )
        ),
        read.review_requests(con, year),
    )
    return frm, to, rows


def add_version_section(path: Path, version: dict[str, Any], change: dict[str, Any] | None = None) -> None:
    """Append the version block (and, for a re-issued notice, the change block) to a notice."""
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    row = ws.max_row + 2

    def put(text: str, value: Any = None, fmt: str | None = None, fill=None) -> None:
        nonlocal row
        c = ws.cell(row, 1, text)
        if fill is not None:
            c.font, c.fill = _BOLD, fill
        if value is not None:
            v = ws.cell(row, 2, value)
            if fmt:
                v.number_format = fmt
        row += 1

    put(f"六、告知版本 Version {version['version']}", fill=_SECTION_FILL)
    put("版本 Version", version["version"], "0")
    put("告知日期 Notified on", version["notified_on"], FMT_DATE)
    put(
        "复核申请截止日 Review requests until"
        + (" (估算 estimated)" if version["review_deadline_estimated"] else ""),
        version["review_deadline"],
        FMT_DATE,
    )
    if change is not None:
        row += 1
        put(
            f"七、变更说明 What changed since version {change['previous_version']}",
            fill=_CHANGE_FILL,
        )
        put("原年度配额 Previous final allocation", change["previous_final_t"], FMT_INT_T)
        put("新年度配额 New final allocation", change["allocation_final_t"], FMT_INT_T)
        put("变化量 Change", change["delta_t"], "+#,##0;-#,##0;0")
        for text, key in (
            ("变化的输入数据 Input rows that changed", "changed_inputs"),
            ("规则变化 Rules that fired differently", "changed_rules"),
            ("复核申请 Review request", "review_request_id"),
        ):
            ws.cell(row, 1, text)
            c = ws.cell(row, 2, change[key] or "—")
            c.alignment = _WRAP
            ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=12)
            ws.row_dimensions[row].height = 45
            row += 1
    if ws.print_area:  # the official notice prints a set area: it now ends with this block
        ws.print_area = f"A1:{get_column_letter(max(ws.max_column, 12))}{ws.max_row}"
    save_workbook(wb, path)


def write_changed_notices(
    results: YearResults, changes: pl.DataFrame, version: dict[str, Any], out_dir: Path
) -> list[Path]:
    """For version n > 1: the notices of the changed units only (`changes`: the version's rows of
    `mart.allocation_change`), each with its version block and the previous and new figures."""
    from exports.notices import write_notices, write_unallocated_notices

    ids = changes["enterprise_id"].to_list()
    mine = pl.col("enterprise_id").is_in(ids)
    sub = results.replace(
        allocation_line=results.allocation_line.filter(mine),
        allocation_enterprise=results.allocation_enterprise.filter(mine),
        clearance_status=results.clearance_status.filter(mine),
    )
    paths = write_notices(sub, out_dir)
    by_id = {r["enterprise_id"]: r for r in changes.iter_rows(named=True)}
    for p in paths:
        add_version_section(p, version, by_id[p.stem])
    # a unit no longer allocated still gets the change notice
    gone = [i for i in ids if i not in {p.stem for p in paths}]
    if gone:
        status = results.clearance_status.filter(pl.col("enterprise_id").is_in(gone))
        empty = results.replace(clearance_status=status)
        names = changes.select("enterprise_id", "name", pl.lit(None, pl.String).alias("sector_label"))
        for p in write_unallocated_notices(empty, names, out_dir):
            add_version_section(p, version, by_id[p.stem])
            paths.append(p)
    return sorted(paths)


def version_section(version: dict[str, Any], changes: pl.DataFrame | None) -> str:
    """The report's version section: the version, its notification, review deadline and status,
    and for version n > 1 the table of changed enterprises with the why."""
    from html import escape

    from exports.report import _section, _table

    v = version
    facts = [
        ("版本 Version", str(v["version"])),
        ("告知日期 Notified on", str(v["notified_on"])),
        (
            "复核申请截止日 Review requests until",
            f"{v['review_deadline']}" + (" (估算 estimated)" if v["review_deadline_estimated"] else ""),
        ),
        ("状态 Status", f"{v['status']} (as of {v['status_as_of']})"),
        ("通知单位数 Units notified", f"{v['enterprises_changed']:,}"),
    ]
    body = (
        ['<dl class="cards">']
        + [
            f'<div class="card" id="version-{i}"><dt>{escape(k)}</dt><dd>{escape(x)}</dd></div>'
            for i, (k, x) in enumerate(facts)
        ]
        + ["</dl>"]
    )
    if v["version"] > 1 and changes is not None:

        def t(x) -> str:
            return "—" if x is None else f"{x:,}"

        rows = [
            [
                (f"{r['enterprise_id']} {r['name'] or ''}", r["enterprise_id"]),
                (t(r["previous_final_t"]), r["previous_final_t"]),
                (t(r["allocation_final_t"]), r["allocation_final_t"]),
                ("—" if r["delta_t"] is None else f"{r['delta_t']:+,}", r["delta_t"]),
                (r["changed_inputs"], None),
                (r["changed_rules"], None),
                (r["review_request_id"] or "—", None),
            ]
            for r in changes.sort("enterprise_id").iter_rows(named=True)
        ]
        heads = [
            ("单位 Enterprise", False),
            (f"版本{v['version'] - 1} v{v['version'] - 1} A_final", True),
            (f"版本{v['version']} v{v['version']} A_final", True),
            ("变化量 Delta", True),
            ("变化的输入数据 Input rows changed", False),
            ("规则变化 Rules", False),
            ("复核申请 Review", False),
        ]
        body.append(
            f"<p>{len(rows)} 家单位的配额发生变化 / enterprise(s) changed since version {v['version'] - 1}.</p>"
        )
        body.append(_table("version-changes", heads, rows))
    return _section("version", "分配版本", f"Allocation version {v['version']}", *body)
