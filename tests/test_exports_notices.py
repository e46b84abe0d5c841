"""Allocation notices: one workbook per enterprise whose numbers are the marts' numbers."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl

from exports.notices import FMT_DATE, FMT_INT_T, FMT_T, LINE_COLUMNS, SHEET, write_notices
from model.results import YearResults
from tests.test_exports_results import make_results

COLUMN_OF = {key: i for i, (_, key, _) in enumerate(LINE_COLUMNS, start=1)}


def _named(wb: openpyxl.Workbook, name: str):
    """The cell a workbook-level defined name points at."""
    ((sheet, ref),) = wb.defined_names[name].destinations
    return wb[sheet][ref.replace("$", "")]


def _dec(v) -> Decimal:
    """A numeric cell as an exact decimal (openpyxl reads ints and floats)."""
    assert isinstance(v, int | float) and not isinstance(v, bool), f"not a number cell: {v!r}"
    return Decimal(str(v))


def _text(ws) -> str:
    return "\n".join(str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None)


def _line_row(ws, line_id: str) -> int:
    rows = [c.row for c in ws["A"] if c.value == line_id]
    assert len(rows) == 1, f"line {line_id} should appear once, found rows {rows}"
    return rows[0]


def test_each_notice_carries_the_numbers_of_the_marts(tmp_path: Path) -> None:
    results = make_results()
    paths = write_notices(results, tmp_path, details={"E001": {"所属区县 District": "渝北区"}})

    assert paths == [tmp_path / f"{e}.xlsx" for e in ("E001", "E002", "E003")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["E001.xlsx", "E002.xlsx", "E003.xlsx"]
    status = {r["enterprise_id"]: r for r in results.clearance_status.iter_rows(named=True)}
    for ent in results.allocation_enterprise.iter_rows(named=True):
        eid = ent["enterprise_id"]
        wb = openpyxl.load_workbook(tmp_path / f"{eid}.xlsx")
        ws = wb[SHEET]
        text = _text(ws)
        assert _named(wb, "enterprise_id").value == eid
        assert _named(wb, "compliance_year").value == 2022
        assert ent["name"] in text and ent["sector_label"] in text
        # Enterprise block: numeric cells with number formats, equal to the mart.
        for col, fmt in [
            ("verified_emissions_t", FMT_T),
            ("allocation_raw_t", FMT_T),
            ("adjustment_t", FMT_T),
            ("incentive_t", FMT_INT_T),
            ("allocation_final_t", FMT_INT_T),
            ("gap_t", FMT_T),
            ("preallocation_next_t", FMT_INT_T),
            ("borrowable_t", FMT_INT_T),
        ]:
            cell = _named(wb, col)
            assert _dec(cell.value) == Decimal(ent[col]), (eid, col)
            assert cell.number_format == fmt, (eid, col)
        # Lines: one row each, numbers equal to allocation_line, method in Chinese.
        lines = results.allocation_line.filter(pl.col("enterprise_id") == eid)
        for line in lines.iter_rows(named=True):
            r = _line_row(ws, line["line_id"])
            for col in ("allocation_co2_t", "allocation_non_co2_t", "allocation_t", "activity_value"):
                assert _dec(ws.cell(r, COLUMN_OF[col]).value) == line[col], (line["line_id"], col)
            for col in ("baseline", "coefficient"):
                v = ws.cell(r, COLUMN_OF[col]).value
                assert (v is None and line[col] is None) or _dec(v) == line[col], (line["line_id"], col)
        # Clearance: obligation, deadline as a real date, status in words.
        assert _dec(_named(wb, "obligation_t").value) == status[eid]["obligation_t"]
        deadline = _named(wb, "deadline")
        assert deadline.value == datetime(2024, 3, 31) and deadline.number_format == FMT_DATE
        assert _dec(_named(wb, "shortfall_t").value) == status[eid]["shortfall_t"]
        assert "可自接到通知之日起7个工作日内申请复核" in text
        assert _named(wb, "rule_pack").value == results.policy.version
        assert "PROVISIONAL" not in text

    wb = openpyxl.load_workbook(tmp_path / "E002.xlsx")
    ws, text = wb[SHEET], _text(wb[SHEET])
    assert _named(wb, "status").value == "未完成清缴 / not cleared"
    assert "缺口上限豁免（按排放量比例）/ gap exemption (share of E)" in text
    r = _line_row(ws, "L003")
    assert ws.cell(r, COLUMN_OF["method_label"]).value == "历史排放总量下降法 / historical total method"
    assert ws.cell(r, COLUMN_OF["kept_text"]).value == "2019、2021"
    assert ws.cell(r, COLUMN_OF["dropped_text"]).value.startswith("2020（原因见计算说明")
    assert "2020年停产天数200天>183" in ws.cell(r, COLUMN_OF["explanation"]).value
    wb = openpyxl.load_workbook(tmp_path / "E001.xlsx")
    ws = wb[SHEET]
    assert "渝北区" in _text(ws)
    r = _line_row(ws, "L001")
    assert ws.cell(r, COLUMN_OF["method_label"]).value == "行业基准线法 / benchmark method"
    assert ws.cell(r, COLUMN_OF["dropped_text"]).value == "—"


def test_drop_reasons_provisional_warning_and_no_clearance(tmp_path: Path) -> None:
    base = make_results()
    lines = base.allocation_line.with_columns(
        drop_reasons=pl.when(pl.col("line_id") == "L003").then(
            pl.lit(
                "2020: 停产天数200天>183 / 200 shutdown days > 183"
            )  # as transforms/baselines.py writes it
        ),
        provisional=pl.col("line_id") == "L004",
    )
    results: YearResults = base.replace(
        allocation_line=lines,
        clearance_status=base.clearance_status.clear(),
        clearance_item=base.clearance_item.clear(),
    )
    write_notices(results, tmp_path)

    wb = openpyxl.load_workbook(tmp_path / "E002.xlsx")
    ws, text = wb[SHEET], _text(wb[SHEET])
    r = _line_row(ws, "L003")
    assert ws.cell(r, COLUMN_OF["dropped_text"]).value == "2020: 停产天数200天>183 / 200 shutdown days > 183"
    assert "临时结果 PROVISIONAL" in text  # a line of E002 is provisional
    # Without a clearance status the obligation is E and no status is printed.
    assert _dec(_named(wb, "obligation_t").value) == Decimal("500000")
    assert "status" not in wb.defined_names
    assert "PROVISIONAL" not in _text(openpyxl.load_workbook(tmp_path / "E001.xlsx")[SHEET])


def test_three_hundred_notices_in_seconds(tmp_path: Path) -> None:
    """300 enterprises × ~2 lines: the publication of a real year stays well under 10 s."""
    r = make_results()

    def copies(df: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
        return pl.concat([df.with_columns(pl.col(c) + f"-{i:03d}" for c in cols) for i in range(100)])

    big = r.replace(
        allocation_enterprise=copies(r.allocation_enterprise, ["enterprise_id"]),
        allocation_line=copies(r.allocation_line, ["enterprise_id", "line_id"]),
        clearance_status=copies(r.clearance_status, ["enterprise_id"]),
    )
    start = time.process_time()  # CPU time of this process: not inflated by other jobs on the machine
    paths = write_notices(big, tmp_path)
    elapsed = time.process_time() - start
    assert len(paths) == 300 and all(p.stat().st_size > 0 for p in paths)
    assert elapsed < 10, f"300 notices took {elapsed:.1f} s of CPU"


def test_notice_has_the_official_form_from_the_settings_file(tmp_path: Path) -> None:
    """Authority, 文号, addressee, legal basis, contact, date and seal come from the settings file;
    the method column gives the rule in words; A4 landscape with a print area."""
    from exports.notices import NoticeSettingsError, notice_settings

    results = make_results()
    codes = pl.col("method").replace({"equal": "activity_equal", "excluded": "stopped"})
    results = results.replace(allocation_line=results.allocation_line.with_columns(method_reason=codes))
    settings = tmp_path / "notice.toml"
    settings.write_text(
        "[notice]\n"
        'issuing_authority = "测试市生态环境局"\n'
        'document_number = "测环配〔{issue_year}〕{serial}号"\n'
        'addressee = "{name}："\n'
        'legal_basis = "根据《{plan}》，现将你单位{year}年度配额告知如下："\n'
        'closing = "特此告知。"\n'
        'contact_person = "王工"\n'
        'contact_phone = "023-00000000"\n',
        encoding="utf-8",
    )
    form = notice_settings(results.policy, settings)
    paths = write_notices(
        results,
        tmp_path / "n",
        issued_on=datetime(2024, 5, 6).date(),
        only={"E002"},
        publication_runs={"E002": "run123"},
        settings=form,
    )
    assert [p.name for p in paths] == ["E002.xlsx"]  # only= limits the files written
    wb = openpyxl.load_workbook(paths[0])
    ws = wb[SHEET]
    assert ws["A1"].value == "测试市生态环境局" and ws["A1"].font.color.rgb.endswith("C00000")
    assert _named(wb, "document_number").value == "测环配〔2024〕2号"  # E002 is the 2nd enterprise
    text = _text(ws)
    name = results.allocation_enterprise.filter(pl.col("enterprise_id") == "E002")["name"][0]
    assert f"{name}：" in text
    assert f"根据《{results.policy.pack.title}》，现将你单位2022年度配额告知如下：" in text
    assert "特此告知。" in text and "王工" in text and "023-00000000" in text
    assert "（盖章 seal）" in text and _named(wb, "issued_on").value == "2024年5月6日"
    assert _named(wb, "publication_run").value == "run123"
    reasons = [ws.cell(r, COLUMN_OF["reason_text"]).value for r in range(1, ws.max_row + 1)]
    reasons = [v for v in reasons if v and v.startswith("§")]
    assert reasons and all(" / " in v and len(v) > 30 for v in reasons)  # the rule in words, not a code
    assert any("采用历史强度下降法" in v for v in reasons)
    assert int(ws.page_setup.paperSize) == 9 and ws.page_setup.orientation == "landscape"
    assert ws.print_area and ws.print_area.endswith(f"$L${ws.max_row}")

    settings.write_text('[notice]\nissuing_authorty = "x"\n', encoding="utf-8")
    try:
        notice_settings(results.policy, settings)
    except NoticeSettingsError as e:
        assert "issuing_authorty" in str(e) and "issuing_authority" in str(e)
    else:
        raise AssertionError("a misspelt key must be refused")


def test_bundled_notice_settings_fill_every_placeholder() -> None:
    """The Chongqing settings file parses and leaves no {placeholder} unfilled."""
    from exports.notices import _fill, notice_settings

    results = make_results()
    form = notice_settings(results.policy)
    assert form["issuing_authority"] == "重庆市生态环境局"
    values = dict(year=2022, issue_year=2024, serial=7, name="某公司", plan="方案", review_days=7)
    for key, template in form.items():
        assert "{" not in _fill(template, **values), key


def test_a_unit_without_an_allocation_gets_the_same_official_form(tmp_path: Path) -> None:
    """Missing verification (or not on the list, or left out of a partial year): the notice has
    the head, the review right and the foot of every notice, and says why there is no allocation."""
    from exports.notices import notice_settings, write_unallocated_notices

    results = make_results()
    missing = results.clearance_status.head(1).with_columns(
        enterprise_id=pl.lit("E999"), status=pl.lit("missing_verification")
    )
    results = results.replace(clearance_status=pl.concat([results.clearance_status, missing]))
    settings = tmp_path / "notice.toml"
    settings.write_text(
        '[notice]\nissuing_authority = "测试市生态环境局"\ndocument_number = "测环配〔{issue_year}〕{serial}号"\n'
        'addressee = "{name}："\ncontact_person = "王工"\n',
        encoding="utf-8",
    )
    names = pl.DataFrame({"enterprise_id": ["E999"], "name": ["某某水泥有限公司"], "sector_label": ["水泥"]})
    paths = write_unallocated_notices(
        results,
        names,
        tmp_path / "n",
        issued_on=datetime(2024, 5, 6).date(),
        publication_run="run123",
        settings=notice_settings(results.policy, settings),
    )
    assert [p.name for p in paths] == ["E999.xlsx"]  # the allocated units are not written here
    wb = openpyxl.load_workbook(paths[0])
    ws = wb[SHEET]
    allocated = results.allocation_enterprise.height
    assert ws["A1"].value == "测试市生态环境局"
    assert _named(wb, "document_number").value == f"测环配〔2024〕{allocated + 1}号"  # numbering continues
    assert _named(wb, "allocation_final_t").value == 0
    text = _text(ws)
    assert "某某水泥有限公司：" in text and "未提交2022年度核查数据" in text
    assert "一、单位信息" in text and "二、分配结果" in text and "三、复核" in text
    assert "生产线配额核算" not in text and "四、" not in text
    assert "王工" in text and "（盖章 seal）" in text and _named(wb, "issued_on").value == "2024年5月6日"
    assert _named(wb, "publication_run").value == "run123"
    assert int(ws.page_setup.paperSize) == 9 and ws.print_area
