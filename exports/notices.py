"""Allocation notices (配额分配结果告知书): one Excel workbook per enterprise.

Each workbook has one printable sheet with the enterprise's details, the derivation of every
line, the enterprise block (exemption/cap, incentive, final allocation, pre-allocation,
borrowing), the clearance obligation and deadline, the review window and the rule-pack version.
Quantities are numeric cells with number formats; the cells of the enterprise block also carry
workbook-level defined names (`verified_emissions_t`, `allocation_final_t`, …) for machines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.workbook.defined_name import DefinedName

from model.labels import METHODS, STATUSES, adjustment_label, label
from model.results import YearResults

SHEET = "告知书"
FMT_T = "#,##0.0000"  # DECIMAL(18,4) tonnes
FMT_INT_T = "#,##0"  # whole tonnes
FMT_COEF = "0.0000"
FMT_DATE = "yyyy-mm-dd"

_TITLE = Font(bold=True, size=15)
_BOLD = Font(bold=True)
_WARN_FONT = Font(bold=True, color="9C0006")
_WARN_FILL = PatternFill("solid", fgColor="FFC7CE")
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_SECTION_FILL = PatternFill("solid", fgColor="F2F2F2")
_THIN = Side(style="thin", color="A6A6A6")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")

# Line table: (header, column of allocation_line or derived key, number format).
LINE_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("生产线编号\nLine", "line_id", None),
    ("分配方法\nMethod", "method_label", None),
    ("方法依据\nWhy this method", "method_reason", None),
    ("采用基准年\nBase years kept", "kept_text", None),
    ("剔除基准年及原因\nBase years dropped (reason)", "dropped_text", None),
    ("历史基准值\nBaseline I or D", "baseline", FMT_T),
    ("基准值或调节系数\nBenchmark or k", "coefficient", FMT_COEF),
    ("活动水平\nActivity Q, N or E", "activity_value", FMT_T),
    ("二氧化碳配额\nCO2 (tCO2)", "allocation_co2_t", FMT_T),
    ("非二氧化碳配额\nNon-CO2 (tCO2e)", "allocation_non_co2_t", FMT_T),
    ("生产线配额\nLine allocation (tCO2e)", "allocation_t", FMT_T),
    ("计算说明\nExplanation", "explanation", None),
)
_WIDTHS = (30, 22, 30, 14, 30, 14, 12, 16, 16, 14, 18, 60)


def write_notices(
    results: YearResults,
    out_dir: Path,
    *,
    details: Mapping[str, Mapping[str, Any]] | None = None,
    issued_on: date | None = None,
) -> list[Path]:
    """Write `out_dir/<enterprise_id>.xlsx` for every row of `allocation_enterprise`.

    `details` adds rows to an enterprise's details block: {enterprise_id: {label: value}}, e.g.
    {"E001": {"所属区县 District": "渝北区"}}. `issued_on` prints a date of issue when given.
    Files are written to a temporary name and renamed, so a reader never sees half a workbook.
    Returns the paths in enterprise_id order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines_by_ent: dict[str, list[dict[str, Any]]] = {}
    for line in results.allocation_line.sort("enterprise_id", "line_id").iter_rows(named=True):
        lines_by_ent.setdefault(line["enterprise_id"], []).append(_line_cells(line))
    status_by_ent = {r["enterprise_id"]: r for r in results.clearance_status.iter_rows(named=True)}
    paths = []
    for ent in results.allocation_enterprise.sort("enterprise_id").iter_rows(named=True):
        eid = ent["enterprise_id"]
        wb = _notice(
            results,
            ent,
            lines_by_ent.get(eid, []),
            status_by_ent.get(eid),
            (details or {}).get(eid, {}),
            issued_on,
        )
        path = out_dir / f"{eid}.xlsx"
        tmp = path.with_name(f".{path.name}.tmp")
        wb.save(tmp)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def _line_cells(line: dict[str, Any]) -> dict[str, Any]:
    """A row of allocation_line plus the text cells of the notice (method label, kept/dropped years)."""
    return {
        **line,
        "method_label": label(METHODS, line["method"]),
        "kept_text": _years(line["kept_years"]),
        "dropped_text": _dropped(line["dropped_years"], line.get("drop_reasons")),
    }


def _years(years: list[int] | None) -> str:
    return "、".join(str(y) for y in years or []) or "—"


def _dropped(years: list[int] | None, reasons: str | None) -> str:
    """The dropped base years with their reasons.

    `drop_reasons` (a column the engine may add) is printed alone when it names every dropped
    year, as the engine's "2020: 理由 / reason; …" does; otherwise after the years. Without it the
    reasons are in the explanation column.
    """
    years = list(years or [])
    if not years:
        return "—"
    if not reasons:
        return _years(years) + "（原因见计算说明 / see explanation）"
    reasons = str(reasons)
    return reasons if all(str(y) in reasons for y in years) else f"{_years(years)}：{reasons}"


def _notice(
    results: YearResults,
    ent: dict[str, Any],
    lines: list[dict[str, Any]],
    status: dict[str, Any] | None,
    extra: Mapping[str, Any],
    issued_on: date | None,
) -> Workbook:
    policy = results.policy
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    for i, w in enumerate(_WIDTHS, start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = w
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.properties.title = f"{results.year}年度配额分配结果告知书 {ent['enterprise_id']}"
    wb.properties.creator = "etsflow"

    row = 1
    ws.cell(row, 1, results.policy.place.title("notice_title", results.year)).font = _TITLE
    row += 1
    ws.cell(row, 1, f"Notice of free allocation of emission allowances, compliance year {results.year}")
    row += 2

    provisional = bool(ent.get("provisional")) or any(r.get("provisional") for r in lines)
    provisional = provisional or bool(status and status.get("provisional"))
    if provisional:
        params = "；".join(policy.provisional_labels()) or "—"
        c = ws.cell(
            row,
            1,
            "【临时结果 PROVISIONAL】本告知书的数值使用了待确认的临时参数（" + params + "），"
            "正式参数确认后可能变化。/ Computed with provisional rule-pack parameters; "
            "figures may change when the official values are confirmed.",
        )
        c.font, c.fill, c.alignment = _WARN_FONT, _WARN_FILL, _WRAP
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(_WIDTHS))
        ws.row_dimensions[row].height = 32
        row += 2
    cap = results.cap_summary
    if cap.height and "partial" in cap.columns and cap["partial"].fill_null(False).any():
        n = int(cap["enterprises_left_out"].fill_null(0).sum())
        c = ws.cell(
            row,
            1,
            f"【部分发布 PARTIAL】本年度有 {n} 家重点排放单位因输入数据被隔离未参与本次分配，配额总量尚未最终确定。"
            f"/ {n} listed enterprise(s) were left out of this publication (quarantined input): the "
            "year's total cap is not final.",
        )
        c.font, c.fill, c.alignment = _WARN_FONT, _WARN_FILL, _WRAP
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(_WIDTHS))
        ws.row_dimensions[row].height = 32
        row += 2

    def section(text: str) -> None:
        nonlocal row
        c = ws.cell(row, 1, text)
        c.font, c.fill = _BOLD, _SECTION_FILL
        row += 1

    def field(text: str, value: Any, fmt: str | None = None, unit: str = "", name: str | None = None) -> None:
        nonlocal row
        ws.cell(row, 1, text).border = _BOX
        c = ws.cell(row, 2, value)
        c.border = _BOX
        if fmt and value is not None:
            c.number_format = fmt
        if unit:
            ws.cell(row, 3, unit)
        if name:
            wb.defined_names[name] = DefinedName(name, attr_text=f"'{SHEET}'!$B${row}")
        row += 1

    section("一、单位信息 Enterprise")
    field("单位编号 Enterprise ID", ent["enterprise_id"], name="enterprise_id")
    field("单位名称 Name", ent["name"])
    field("行业 Sector", ent["sector_label"])
    field("履约年度 Compliance year", results.year, "0", name="compliance_year")
    for k, v in extra.items():
        field(str(k), v)
    row += 1

    section("二、生产线配额核算 Allocation of each line")
    for col, (head, _, _) in enumerate(LINE_COLUMNS, start=1):
        c = ws.cell(row, col, head)
        c.font, c.fill, c.border, c.alignment = _BOLD, _HEAD_FILL, _BOX, _WRAP
    ws.row_dimensions[row].height = 30
    row += 1
    for line in lines:
        for col, (_, key, fmt) in enumerate(LINE_COLUMNS, start=1):
            c = ws.cell(row, col, line[key])
            c.border = _BOX
            if fmt:
                c.number_format = fmt
            elif isinstance(line[key], str):
                c.alignment = _WRAP
        row += 1
    total = ws.cell(row, 1, "合计 Total")
    total.font = _BOLD
    c = ws.cell(row, len(LINE_COLUMNS) - 1, ent["allocation_raw_t"])
    c.number_format, c.font, c.border = FMT_T, _BOLD, _BOX
    row += 2

    section("三、单位配额 Allocation of the enterprise")
    field(
        "经核查排放量 Verified emissions E",
        ent["verified_emissions_t"],
        FMT_T,
        "tCO2e",
        "verified_emissions_t",
    )
    field("核算配额 Raw allocation (Σ lines)", ent["allocation_raw_t"], FMT_T, "tCO2e", "allocation_raw_t")
    field("调整依据 Exemption or cap applied", adjustment_label(ent["adjustment_rule"]))
    field("调整量 Adjustment", ent["adjustment_t"], FMT_T, "tCO2e", "adjustment_t")
    field("协同激励配额 Incentive", ent["incentive_t"], FMT_INT_T, "tCO2e", "incentive_t")
    field("年度配额 Final allocation", ent["allocation_final_t"], FMT_INT_T, "tCO2e", "allocation_final_t")
    field("配额缺口 Gap (E − final; negative: surplus)", ent["gap_t"], FMT_T, "tCO2e", "gap_t")
    field(
        f"{results.year + 1}年度预分配配额 Pre-allocation {results.year + 1} (frozen)",
        ent["preallocation_next_t"],
        FMT_INT_T,
        "tCO2e",
        "preallocation_next_t",
    )
    field("可预支量 Borrowable", ent["borrowable_t"], FMT_INT_T, "tCO2e", "borrowable_t")
    row += 1

    section("四、配额清缴 Clearance")
    obligation = status["obligation_t"] if status else ent["verified_emissions_t"]
    field("应清缴配额量 Obligation", obligation, FMT_T, "tCO2e", "obligation_t")
    field("清缴期限 Deadline", policy.deadline.value, FMT_DATE, name="deadline")
    if status:
        field("统计日期 Status as of", status["as_of"], FMT_DATE)
        field("已清缴量 Surrendered (accepted)", status["surrendered_t"], FMT_T, "t", "surrendered_t")
        field("未清缴量 Shortfall", status["shortfall_t"], FMT_T, "t", "shortfall_t")
        field("状态 Status", label(STATUSES, status["status"]), name="status")
    row += 1

    section("五、复核 Review")
    n = policy.review_window_working_days.value
    c = ws.cell(
        row,
        1,
        f"如对本告知书所列结果有异议，可自接到通知之日起{n}个工作日内申请复核。"
        f" / You may request a review within {n} working days of receiving this notice.",
    )
    c.alignment = _WRAP
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(_WIDTHS))
    row += 2
    field("规则包版本 Rule pack", policy.version, name="rule_pack")
    field("规则包 Rule pack title", policy.pack.title)
    if issued_on:
        field("告知日期 Issued on", issued_on, FMT_DATE)
    return wb
