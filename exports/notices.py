"""Allocation notices (配额分配结果告知书): one Excel workbook per enterprise.

Each workbook has one printable sheet with the enterprise's details, the derivation of every
line, the enterprise block (exemption/cap, incentive, final allocation, pre-allocation,
borrowing), the clearance obligation and deadline, the review window and the rule-pack version.
Quantities are numeric cells with number formats; the cells of the enterprise block also carry
workbook-level defined names (`verified_emissions_t`, `allocation_final_t`, …) for machines.

The official form — issuing authority, document number (文号), addressee, legal basis, closing,
contact, issue date and the space for the seal — comes from the settings file
`policies/<jurisdiction>/forms/notice.toml` (or `ETSFLOW_NOTICE_SETTINGS`), not from code. The
sheet prints on A4 landscape, one page wide, with a print area and page numbers.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName

from model.labels import METHODS, STATUSES, adjustment_label, label, reason_label
from model.results import YearResults
from policies import Policy, PolicyError, jurisdiction_dir

SHEET = "告知书"
FMT_T = "#,##0.0000"  # DECIMAL(18,4) tonnes
FMT_INT_T = "#,##0"  # whole tonnes
FMT_COEF = "0.0000"
FMT_DATE = "yyyy-mm-dd"

_TITLE = Font(bold=True, size=16)
_AUTHORITY = Font(bold=True, size=20, color="C00000")  # the red masthead of an official document
_RED_RULE = Border(bottom=Side(style="medium", color="C00000"))
_SEAL = Font(size=11, color="BFBFBF")
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_RIGHT = Alignment(horizontal="right", vertical="center")
_LEFT = Alignment(horizontal="left", vertical="center")
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
    ("方法依据\nWhy this method", "reason_text", None),
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
_WIDTHS = (36, 22, 30, 14, 30, 14, 12, 16, 16, 14, 18, 60)


def write_notices(
    results: YearResults,
    out_dir: Path,
    *,
    details: Mapping[str, Mapping[str, Any]] | None = None,
    issued_on: date | None = None,
    only: Collection[str] | None = None,
    publication_runs: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write `out_dir/<enterprise_id>.xlsx` for every row of `allocation_enterprise`.

    `details` adds rows to an enterprise's details block: {enterprise_id: {label: value}}, e.g.
    {"E001": {"所属区县 District": "渝北区"}}. `issued_on` prints a date of issue when given
    (else the settings' `issue_date`, else a blank date line to fill in). `only` limits the
    enterprises written (the serial of the document number still counts every enterprise);
    `publication_runs` {enterprise_id: run id} prints the publication whose figures the notice
    shows; `settings` is the form (default `notice_settings(results.policy)`).
    Files are written to a temporary name and renamed, so a reader never sees half a workbook.
    Returns the paths written, in enterprise_id order.
    """
    form = dict(settings if settings is not None else notice_settings(results.policy))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines_by_ent: dict[str, list[dict[str, Any]]] = {}
    for line in results.allocation_line.sort("enterprise_id", "line_id").iter_rows(named=True):
        lines_by_ent.setdefault(line["enterprise_id"], []).append(_line_cells(line))
    status_by_ent = {r["enterprise_id"]: r for r in results.clearance_status.iter_rows(named=True)}
    paths = []
    for serial, ent in enumerate(
        results.allocation_enterprise.sort("enterprise_id").iter_rows(named=True), 1
    ):
        eid = ent["enterprise_id"]
        if only is not None and eid not in only:
            continue
        wb = _notice(
            results,
            ent,
            lines_by_ent.get(eid, []),
            status_by_ent.get(eid),
            (details or {}).get(eid, {}),
            issued_on,
            form=form,
            serial=serial,
            publication_run=(publication_runs or {}).get(eid),
        )
        paths.append(save_workbook(wb, out_dir / f"{eid}.xlsx"))
    return paths


def save_workbook(wb: Workbook, path: Path) -> Path:
    """Save under a temporary name and rename: a reader never sees half a workbook."""
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    os.replace(tmp, path)
    return path


# Why a unit of the year has no allocation (its clearance status), in its notice.
NOT_ALLOCATED = {
    "missing_verification": "未提交{year}年度核查数据，未分配配额。请尽快提交经核查的排放报告。"
    " / No verified report for {year}: no allocation. Submit the verified report.",
    "excluded": "本单位不在{year}年度重点排放单位名录内，不分配配额。 / Not on the list of {year}: no allocation.",
    "not_allocated": "可能属于本单位的输入数据被隔离，本单位未参与本次{year}年度分配，数据更正后另行告知。"
    " / Input rows that could belong to this unit were quarantined: it was left out of this {year} "
    "publication and will be notified once the data are corrected.",
}


def write_unallocated_notices(
    results: YearResults,
    enterprises: pl.DataFrame,
    out_dir: Path,
    *,
    issued_on: date | None = None,
    publication_run: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> list[Path]:
    """A notice, in the same official form, for every unit with a clearance status but no
    allocation of the year (missing verification, not on the list, left out of a partial year):
    who it is, why it has no allocation, its review right. `enterprises`: enterprise_id, name,
    sector_label (core.enterprises). Returns the paths written, in enterprise_id order."""
    form = dict(settings if settings is not None else notice_settings(results.policy))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    allocated = set(results.allocation_enterprise["enterprise_id"].to_list())
    info = {r["enterprise_id"]: r for r in enterprises.iter_rows(named=True)}
    serial = len(allocated)  # document numbers continue after the allocated units'
    paths = []
    for status in results.clearance_status.sort("enterprise_id").iter_rows(named=True):
        eid = status["enterprise_id"]
        if eid in allocated:
            continue
        serial += 1
        e = info.get(eid, {})
        ent = {"enterprise_id": eid, "name": e.get("name") or eid, "sector_label": e.get("sector_label")}
        why = NOT_ALLOCATED.get(status["status"], "").format(year=results.year)
        wb = _notice(
            results, ent, [], status, {}, issued_on,
            form=form, serial=serial, publication_run=publication_run, why=why,
        )  # fmt: skip
        paths.append(save_workbook(wb, out_dir / f"{eid}.xlsx"))
    return paths


SETTINGS_ENV = "ETSFLOW_NOTICE_SETTINGS"
FORM_KEYS = (
    "issuing_authority",
    "issuing_authority_en",
    "document_number",
    "addressee",
    "legal_basis",
    "legal_basis_en",
    "closing",
    "contact_department",
    "contact_person",
    "contact_phone",
    "address",
    "issue_date",
)


class NoticeSettingsError(ValueError):
    """The notice settings file cannot be used; the message names the file and the problem."""


def notice_settings(policy: Policy, path: str | Path | None = None) -> dict[str, str]:
    """The `[notice]` table of the form's settings file: `path`, else `ETSFLOW_NOTICE_SETTINGS`,
    else `policies/<jurisdiction>/forms/notice.toml`. Missing keys are empty (a line to fill in);
    unknown keys are refused (a misspelt key would silently print nothing)."""
    if not path and not os.environ.get(SETTINGS_ENV):
        try:
            path = jurisdiction_dir(policy.pack.jurisdiction) / "forms" / "notice.toml"
        except PolicyError:  # a pack of a jurisdiction without a folder: no form settings
            return dict.fromkeys(FORM_KEYS, "")
    path = Path(path or os.environ[SETTINGS_ENV])
    if not path.is_file():
        return dict.fromkeys(FORM_KEYS, "")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("notice", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise NoticeSettingsError(f"notice settings {path}: not valid TOML ({e})") from None
    unknown = sorted(set(table) - set(FORM_KEYS))
    if unknown:
        raise NoticeSettingsError(
            f"notice settings {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(FORM_KEYS)}"
        )
    return {k: str(table.get(k, "") or "") for k in FORM_KEYS}


def _fill(template: str, **values: Any) -> str:
    """`template` with its {placeholders}; an unknown placeholder is left visible, never dropped."""

    class Keep(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    return template.format_map(Keep(values))


def _line_cells(line: dict[str, Any]) -> dict[str, Any]:
    """A row of allocation_line plus the text cells of the notice (method label, kept/dropped years)."""
    return {
        **line,
        "method_label": label(METHODS, line["method"]),
        "reason_text": reason_label(line["method_reason"]),
        "kept_text": _years(line["kept_years"]),
        "dropped_text": _dropped(line["dropped_years"], line.get("drop_reasons")),
    }


def _years(years: list[int] | None) -> str:
    return "、".join(str(y) for y in years or []) or "—"


def _dropped(years: list[int] | None, reasons: str | None) -> str:
    """The dropped base years with their reasons.

    `drop_reasons` (text a caller may add to the line, e.g. "2020: 理由 / reason; …") is printed
    alone when it names every dropped year, otherwise after the years. Without it (the published
    lines: the engine gives the reasons as codes, `model.labels.base_year_texts` words them in the
    explanation column) the notice points to the explanation.
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
    *,
    form: Mapping[str, str],
    serial: int = 1,
    publication_run: str | None = None,
    why: str | None = None,
) -> Workbook:
    """One notice. `why` (a unit without an allocation): the reason replaces the line, enterprise
    and clearance sections; the head (authority, number, addressee, legal basis), the review
    right and the foot (contact, signature, seal) are the same."""
    policy = results.policy
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    width = len(_WIDTHS)
    for i, w in enumerate(_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.oddFooter.center.text = "第 &P 页 共 &N 页 / page &P of &N"
    wb.properties.title = f"{results.year}年度配额分配结果告知书 {ent['enterprise_id']}"
    wb.properties.creator = "etsflow"
    issue_year = (issued_on or date.today()).year
    values = {
        "year": results.year,
        "issue_year": issue_year,
        "serial": serial,
        "name": ent["name"],
        "plan": policy.pack.title,
        "review_days": policy.review_window_working_days.value,
    }

    def banner(r: int, text: str, font: Font, height: float | None = None, align=_CENTER) -> None:
        c = ws.cell(r, 1, text)
        c.font, c.alignment = font, align
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
        if height:
            ws.row_dimensions[r].height = height

    row = 1
    banner(row, form["issuing_authority"] or "（签发机关 issuing authority）", _AUTHORITY, 34)
    row += 1
    if form["issuing_authority_en"]:
        banner(row, form["issuing_authority_en"], Font(color="C00000"))
        row += 1
    number = _fill(form["document_number"], **values) if form["document_number"] else "〔    〕    号"
    banner(row, number, Font(size=12), 22)
    wb.defined_names["document_number"] = DefinedName("document_number", attr_text=f"'{SHEET}'!$A${row}")
    for col in range(1, width + 1):
        ws.cell(row, col).border = _RED_RULE
    row += 2
    banner(row, results.policy.place.title("notice_title", results.year), _TITLE, 26)
    row += 1
    banner(row, f"Notice of free allocation of emission allowances, compliance year {results.year}", Font())
    row += 2
    banner(row, _fill(form["addressee"] or "{name}：", **values), Font(bold=True, size=12), align=_LEFT)
    row += 1
    if form["legal_basis"]:
        text = _fill(form["legal_basis"], **values)
        if form["legal_basis_en"]:
            text += "\n" + _fill(form["legal_basis_en"], **values)
        banner(row, text, Font(), 44, _WRAP)
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

    numerals = iter("一二三四五六七八九")

    def section(text: str) -> None:  # numbered in order: 一、二、…
        nonlocal row
        c = ws.cell(row, 1, f"{next(numerals)}、{text}")
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

    section("单位信息 Enterprise")
    field("单位编号 Enterprise ID", ent["enterprise_id"], name="enterprise_id")
    field("单位名称 Name", ent["name"])
    field("行业 Sector", ent["sector_label"])
    field("履约年度 Compliance year", results.year, "0", name="compliance_year")
    for k, v in extra.items():
        field(str(k), v)
    row += 1

    if why is not None:
        section("分配结果 Allocation")
        field("年度配额 Final allocation", 0, FMT_INT_T, "tCO2e", "allocation_final_t")
        field("状态 Status", label(STATUSES, status["status"]) if status else "—", name="status")
        ws.cell(row, 1, "说明 Why").border = _BOX
        c = ws.cell(row, 2, why)
        c.alignment, c.border = _WRAP, _BOX
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=len(_WIDTHS))
        ws.row_dimensions[row].height = 32
        row += 2
    else:
        section("生产线配额核算 Allocation of each line")
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

        section("单位配额 Allocation of the enterprise")
        field(
            "经核查排放量 Verified emissions E",
            ent["verified_emissions_t"],
            FMT_T,
            "tCO2e",
            "verified_emissions_t",
        )
        field(
            "核算配额 Raw allocation (Σ lines)", ent["allocation_raw_t"], FMT_T, "tCO2e", "allocation_raw_t"
        )
        field("调整依据 Exemption or cap applied", adjustment_label(ent["adjustment_rule"]))
        field("调整量 Adjustment", ent["adjustment_t"], FMT_T, "tCO2e", "adjustment_t")
        field("协同激励配额 Incentive", ent["incentive_t"], FMT_INT_T, "tCO2e", "incentive_t")
        field(
            "年度配额 Final allocation", ent["allocation_final_t"], FMT_INT_T, "tCO2e", "allocation_final_t"
        )
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

        section("配额清缴 Clearance")
        obligation = status["obligation_t"] if status else ent["verified_emissions_t"]
        field("应清缴配额量 Obligation", obligation, FMT_T, "tCO2e", "obligation_t")
        field("清缴期限 Deadline", policy.deadline.value, FMT_DATE, name="deadline")
        if status:
            field("统计日期 Status as of", status["as_of"], FMT_DATE)
            field("已清缴量 Surrendered (accepted)", status["surrendered_t"], FMT_T, "t", "surrendered_t")
            field("未清缴量 Shortfall", status["shortfall_t"], FMT_T, "t", "shortfall_t")
            field("状态 Status", label(STATUSES, status["status"]), name="status")
        row += 1

    section("复核 Review")
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
    if publication_run:
        field("发布批次 Publication run", publication_run, name="publication_run")
    row += 1
    if form["closing"]:
        ws.cell(row, 1, form["closing"])
        row += 2

    # contact (left) and signature with the space for the seal (right)
    first_sig_col = width - 3
    contact = [
        ("联系部门 Department", form["contact_department"]),
        ("联系人 Contact", form["contact_person"]),
        ("联系电话 Telephone", form["contact_phone"]),
        ("地址 Address", form["address"]),
    ]
    sig_top = row
    for text, value in contact:
        ws.cell(row, 1, text)
        c = ws.cell(row, 2, value or "＿＿＿＿＿＿＿＿")
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=4)
        c.alignment = Alignment(horizontal="left")
        row += 1
    seal_rows = 5
    c = ws.cell(sig_top, first_sig_col, "（盖章 seal）")
    c.font, c.alignment = _SEAL, _CENTER
    ws.merge_cells(
        start_row=sig_top, start_column=first_sig_col, end_row=sig_top + seal_rows - 1, end_column=width
    )
    for r in range(sig_top, sig_top + seal_rows):
        ws.row_dimensions[r].height = 22
    row = max(row, sig_top + seal_rows)
    c = ws.cell(row, first_sig_col, form["issuing_authority"] or "")
    c.alignment = _RIGHT
    ws.merge_cells(start_row=row, start_column=first_sig_col, end_row=row, end_column=width)
    row += 1
    when = issued_on or (date.fromisoformat(form["issue_date"]) if form["issue_date"] else None)
    if when:
        c = ws.cell(row, first_sig_col, f"{when.year}年{when.month}月{when.day}日")
        wb.defined_names["issued_on"] = DefinedName(
            "issued_on", attr_text=f"'{SHEET}'!${get_column_letter(first_sig_col)}${row}"
        )
    else:
        c = ws.cell(row, first_sig_col, "        年    月    日")
    c.alignment = _RIGHT
    ws.merge_cells(start_row=row, start_column=first_sig_col, end_row=row, end_column=width)
    ws.print_area = f"A1:{get_column_letter(width)}{row}"
    return wb
