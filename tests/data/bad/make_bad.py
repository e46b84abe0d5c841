"""Write the bad-input corpus: one small inbox per failure kind, each a copy of a tiny valid inbox
with one defect. Run from the repo root: `python tests/data/bad/make_bad.py`. Output is committed;
`tests/test_bad_inputs.py` says what each inbox must produce.

The valid base: two enterprises, three lines (clinker, intensity, total), compliance year 2021
with base years 2018–2020, as plain UTF-8 CSV.
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

    for name, fn in kinds.items():
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


if __name__ == "__main__":
    main()
