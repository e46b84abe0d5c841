"""Write the bad-input corpus: one small inbox per failure kind, each a copy of a tiny valid inbox
with one defect. Run from the repo root: `python tests/data/bad/make_bad.py`. Output is committed;
`tests/test_bad_inputs.py` says what each inbox must produce.

The valid base: two enterprises, three lines (clinker, intensity, total), compliance year 2021
with base years 2018–2020, as plain UTF-8 CSV.

`READING_KINDS` (issue #14) are the files real offices send: hidden draft sheets, ragged CSV
rows, Excel error cells and formulas never calculated, old binary .xls, Chinese sheet names,
files in formats or places nothing reads. Some must be read exactly like the valid base
(`PASSES` in the test), the others are rejected by name. Writing the .xls case needs `xlwt`
(`.venv/bin/pip install xlwt`; not a dependency of the project: only this script writes .xls).
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import openpyxl

HERE = Path(__file__).parent
YEARS = (2018, 2019, 2020, 2021)
ENTERPRISES = """enterprise_id,name,district,sector_label,listed_years
B1,重庆示例水泥有限公司,忠县,水泥制造行业,"2021,2022"
B2,重庆示例化工有限公司,长寿区,化工行业,"2021,2022"
"""
LINES = """line_id,enterprise_id,line_name,product,output_unit,activity,intensity_eligible,commissioned_on
B1-L1,B1,熟料生产线,熟料,t,cement_clinker,false,
B2-L1,B2,合成氨,合成氨,t,other,true,
B2-L2,B2,锅炉,蒸汽,t,other,false,
"""
LY_HEADER = "enterprise_id,line_id,year,verified_co2_t,verified_non_co2_t,output,production_days\n"


def ly_rows(year: int) -> list[str]:
    return [
        f"B1,B1-L1,{year},850000.5,0,1000000,330",
        f"B2,B2-L1,{year},60000,1200.25,100000,340",
        f"B2,B2-L2,{year},20000,0,50000,300",
    ]


def ey_rows(year: int) -> list[str]:
    return [f"B1,{year},10,850000.5", f"B2,{year},5,81200.25"]


def write_base(root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    (root / "reports").mkdir(parents=True)
    (root / "enterprises.csv").write_text(ENTERPRISES, encoding="utf-8")
    (root / "lines.csv").write_text(LINES, encoding="utf-8")
    for y in YEARS:
        d = root / "reports" / str(y)
        d.mkdir()
        (d / "line_years.csv").write_text(LY_HEADER + "\n".join(ly_rows(y)) + "\n", encoding="utf-8")
        (d / "enterprise_years.csv").write_text(
            "enterprise_id,year,shutdown_days,verified_total_t\n" + "\n".join(ey_rows(y)) + "\n",
            encoding="utf-8",
        )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def main() -> None:
    write_base(HERE / "_valid")
    kinds = {}

    def kind(name):
        def deco(fn):
            kinds[name] = fn
            return fn

        return deco

    @kind("missing_column")
    def _(r):  # no verified_co2_t column in the 2021 line-year file
        p = r / "reports/2021/line_years.csv"
        rows = [line.split(",") for line in p.read_text(encoding="utf-8").splitlines()]
        p.write_text("\n".join(",".join(c[:3] + c[4:]) for c in rows) + "\n", encoding="utf-8")

    @kind("text_in_number")
    def _(r):
        edit(
            r / "reports/2021/line_years.csv",
            "B2,B2-L1,2021,60000,1200.25,100000",
            "B2,B2-L1,2021,60000,1200.25,十万",
        )

    @kind("negative_emissions")
    def _(r):
        edit(r / "reports/2020/line_years.csv", "B2,B2-L2,2020,20000", "B2,B2-L2,2020,-20000")

    @kind("duplicate_key")
    def _(r):
        p = r / "reports/2021/line_years.csv"
        p.write_text(p.read_text(encoding="utf-8") + "B2,B2-L2,2021,20000,0,50000,300\n", encoding="utf-8")

    @kind("unknown_line")
    def _(r):
        p = r / "reports/2021/line_years.csv"
        p.write_text(p.read_text(encoding="utf-8") + "B2,B2-L9,2021,100,0,10,10\n", encoding="utf-8")

    @kind("line_of_another_enterprise")
    def _(r):
        edit(r / "reports/2019/line_years.csv", "B2,B2-L2,2019", "B1,B2-L2,2019")

    @kind("production_days_over_year")
    def _(r):  # 2021 has 365 days
        edit(
            r / "reports/2021/line_years.csv",
            "B2,B2-L2,2021,20000,0,50000,300",
            "B2,B2-L2,2021,20000,0,50000,366",
        )

    @kind("missing_base_year")
    def _(r):  # the intensity line has no 2019 record
        edit(r / "reports/2019/line_years.csv", "B2,B2-L1,2019,60000,1200.25,100000,340\n", "")
        edit(r / "reports/2019/enterprise_years.csv", "B2,2019,5,81200.25", "B2,2019,5,20000")

    @kind("unreadable_workbook")
    def _(r):
        (r / "reports/2021/B3.xlsx").write_bytes(b"PK\x03\x04 this is not really a workbook")

    @kind("empty_file")
    def _(r):
        (r / "reports/2021/enterprise_years.csv").write_bytes(b"")

    @kind("unreconciled_total")
    def _(r):
        edit(r / "reports/2020/enterprise_years.csv", "B2,2020,5,81200.25", "B2,2020,5,81202.25")

    # --- a partial year never looks complete (tests/test_bad_inputs.py, PARTIAL) -------------------
    @kind("partial_line_typo")
    def _(r):  # one line row of B2 names a mistyped enterprise: B2 must be left out, not half-allocated
        edit(r / "reports/2021/line_years.csv", "B2,B2-L2,2021", "BZ,B2-L2,2021")

    for name, fn in (kinds | READING_KINDS).items():
        root = HERE / name
        write_base(root)
        fn(root)
    # a well-formed workbook for the reader tests (sheets enterprise and lines)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "enterprise"
    ws.append(["单位编号", "年度", "企业年累计停产天数", "经核查排放总量"])
    ws.append(["B1", 2021, 10, 850000.5])
    ws = wb.create_sheet("lines")
    ws.append(["enterprise_id", "line_id", "year", "verified_co2_t", "output", "production_days"])
    ws.append(["B1", "B1-L1", 2021, 850000.5, 1000000, 330])
    wb.properties.created = wb.properties.modified = datetime(2024, 1, 1)
    wb.save(HERE / "_workbook_form.xlsx")


# ---- reading: what real offices send (issue #14) ----------------------------------------------
FIXED = datetime(2024, 1, 1)


def workbook(path: Path, sheets: list[tuple[str, list[list], bool]]) -> None:
    """An .xlsx of sheets (name, rows, hidden), byte-stable."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows, hidden in sheets:
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if hidden:
            ws.sheet_state = "hidden"
    wb.properties.created = wb.properties.modified = FIXED
    wb.save(path)


def csv_rows(path: Path) -> list[list]:
    """The rows of a CSV of the base (header first), numbers as numbers."""

    def cell(v: str):
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return v

    return [[cell(v) for v in line.split(",")] for line in path.read_text(encoding="utf-8").splitlines()]


def move_out(r: Path, enterprise: str, year: int) -> tuple[list[list], list[list]]:
    """Take `enterprise`'s rows of `year` out of the flat CSVs: (line-year rows, enterprise-year
    rows), each with its header first."""
    out = []
    for name in ("line_years.csv", "enterprise_years.csv"):
        p = r / f"reports/{year}/{name}"
        rows = csv_rows(p)
        keep = [rows[0]] + [x for x in rows[1:] if x[0] != enterprise]
        p.write_text("\n".join(",".join(str(v) for v in x) for x in keep) + "\n", encoding="utf-8")
        out.append([rows[0]] + [x for x in rows[1:] if x[0] == enterprise])
    return out[0], out[1]


def _hidden_draft_sheet(r: Path) -> None:
    # the 2021 line-years as a workbook whose FIRST sheet is a hidden old draft with other numbers
    p = r / "reports/2021/line_years.csv"
    rows = csv_rows(p)
    draft = [rows[0]] + [x[:3] + [x[3] * 2] + x[4:] for x in rows[1:]]
    p.unlink()
    workbook(r / "reports/2021/line_years.xlsx", [("草稿", draft, True), ("2021", rows, False)])


def _hidden_sheet_only(r: Path) -> None:
    p = r / "reports/2021/line_years.csv"
    rows = csv_rows(p)
    p.unlink()
    workbook(r / "reports/2021/line_years.xlsx", [("说明", [], False), ("2021", rows, True)])


def _ragged_row_short(r: Path) -> None:  # the last two fields of a row cut off
    edit(r / "reports/2021/line_years.csv", "B2,B2-L2,2021,20000,0,50000,300", "B2,B2-L2,2021,20000,0")


def _ragged_row_thousands(r: Path) -> None:  # an unquoted thousands separator shifts the row
    edit(
        r / "reports/2021/line_years.csv",
        "B2,B2-L1,2021,60000,1200.25,100000,340",
        "B2,B2-L1,2021,60000,1200.25,100,000,340",
    )


def _excel_error_cells(r: Path) -> None:
    # the 2021 line-years as a workbook: a formula never calculated, #DIV/0!, #N/A
    p = r / "reports/2021/line_years.csv"
    rows = csv_rows(p)
    p.unlink()
    rows[1][5] = "=1000*1000"  # B1-L1 output: openpyxl stores the formula without a value
    rows[2][4] = "#DIV/0!"  # B2-L1 verified_non_co2_t
    rows[3][4] = "#N/A"  # B2-L2 verified_non_co2_t
    workbook(r / "reports/2021/line_years.xlsx", [("lines", rows, False)])


def _xls_report(r: Path) -> None:  # B2's 2021 report as an old binary .xls workbook
    import xlwt  # only for writing this case (module docstring)

    ly, ey = move_out(r, "B2", 2021)
    wb = xlwt.Workbook()
    for name, rows in (("enterprise", ey), ("lines", ly)):
        ws = wb.add_sheet(name)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                ws.write(i, j, v)
    wb.save(str(r / "reports/2021/B2.xls"))


def _chinese_sheet_names(r: Path) -> None:  # B2's 2021 report, sheets 单位 / 生产线, Chinese headers
    ly, ey = move_out(r, "B2", 2021)
    ly[0] = [
        "单位编号",
        "生产线编号",
        "年度",
        "经核查二氧化碳排放量",
        "经核查非二氧化碳排放量",
        "产量",
        "生产天数",
    ]
    ey[0] = ["单位编号", "年度", "企业年累计停产天数", "经核查排放总量"]
    workbook(r / "reports/2021/B2.xlsx", [("单位", ey, False), ("生产线", ly, False)])


def _unrecognised_sheet(r: Path) -> None:  # a sheet neither its name nor its columns place
    ly, ey = move_out(r, "B2", 2021)
    workbook(
        r / "reports/2021/B2.xlsx",
        [("基本情况", [["项目", "内容"], ["单位", "B2"]] + ey[1:], False), ("排放", ly, False)],
    )


def _unreadable_format(r: Path) -> None:  # a report in a format nothing reads
    (r / "reports/2021/B3.pdf").write_bytes(b"%PDF-1.4 not data")


def _misplaced_report(r: Path) -> None:  # a report outside any year folder
    (r / "reports/B3.csv").write_text(LY_HEADER + "B2,B2-L2,2021,1,0,1,1\n", encoding="utf-8")


READING_KINDS = {
    "hidden_draft_sheet": _hidden_draft_sheet,
    "hidden_sheet_only": _hidden_sheet_only,
    "ragged_row_short": _ragged_row_short,
    "ragged_row_thousands": _ragged_row_thousands,
    "excel_error_cells": _excel_error_cells,
    "xls_report": _xls_report,
    "chinese_sheet_names": _chinese_sheet_names,
    "unrecognised_sheet": _unrecognised_sheet,
    "unreadable_format": _unreadable_format,
    "misplaced_report": _misplaced_report,
}


if __name__ == "__main__":
    main()
