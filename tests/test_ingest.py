"""Reading inboxes: header maps, encodings, full-width characters, workbook forms, provenance."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from ingest.headers import map_headers, normalise_header, normalise_number_text, recognise_report
from ingest.read import decode_csv, read_inbox
from policies import policy_for_year
from validations.inputs import validate_inbox

from .conftest import BAD


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("line_id", "line_id"),
        ("  LINE_ID ", "line_id"),
        ("ｌｉｎｅ＿ｉｄ", "line_id"),  # full-width
        ("生产线编号", "line_id"),
        ("　经核查 二氧化碳排放量 ", "verified_co2_t"),  # ideographic space, inner space
        ("经核查非二氧化碳排放量", "verified_non_co2_t"),
        ("电力排放因子", "grid_ef_t_per_mwh"),
        ("备注", "备注"),  # unknown: kept, ignored later
    ],
)
def test_header_mapping(header, expected):
    names, problems = map_headers([header], "line_years")
    assert names == [expected]
    assert problems == []


def test_two_headers_for_one_column_is_a_problem():
    names, problems = map_headers(["line_id", "生产线编号"], "line_years")
    assert names[0] == "line_id" and names[1] != "line_id"
    assert problems == ["column '生产线编号' appears twice (as 'line_id')"]


def test_report_recognised_by_columns():
    assert recognise_report(["单位编号", "生产线编号", "年度"]) == "line_years"
    assert recognise_report(["enterprise_id", "year", "shutdown_days"]) == "enterprise_years"
    assert recognise_report(["enterprise_id", "year"]) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("１２３４.５", "1234.5"), ("12,345.6", "12345.6"), (" 7 ", "7"), ("1,2", "1,2"), ("－３", "-3")],
)
def test_number_text(text, expected):
    assert normalise_number_text(text) == expected


def test_header_normalisation_is_idempotent():
    assert normalise_header(normalise_header("  Verified_CO2_t ")) == "verified_co2_t"


@pytest.mark.parametrize(
    ("encoding", "bom", "label"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
        ("gb18030", b"", "gb18030"),
        ("gbk", b"", "gb18030"),
    ],
)
def test_csv_encodings(encoding, bom, label):
    text = "单位编号,单位名称\nE1,重庆（示例）有限公司\n"
    decoded, enc = decode_csv(bom + text.encode(encoding))
    assert decoded == text
    assert enc == label


def _copy_valid(tmp_path: Path) -> Path:
    dst = tmp_path / "inbox"
    shutil.copytree(BAD / "_valid", dst)
    return dst


def test_gbk_chinese_headers_and_full_width_numbers_validate_exactly(tmp_path):
    inbox = _copy_valid(tmp_path)
    p = inbox / "reports/2021/line_years.csv"
    rows = p.read_text(encoding="utf-8").splitlines()
    header = "单位编号,生产线编号,年度,经核查二氧化碳排放量,经核查非二氧化碳排放量,产量,生产天数"
    body = [r.replace("850000.5", "８５０，０００.５") for r in rows[1:]]
    p.write_bytes(("\n".join([header, *body]) + "\n").encode("gb18030"))
    inbox_read = read_inbox(inbox)
    enc = inbox_read.manifest.filter(pl.col("source_file") == "reports/2021/line_years.csv")["encoding"][0]
    assert enc == "gb18030"
    v = validate_inbox(inbox_read, policy_for_year(2021))
    assert v.quarantine.height == 0
    co2 = v.core.line_years.filter((pl.col("line_id") == "B1-L1") & (pl.col("year") == 2021))[
        "verified_co2_t"
    ]
    assert str(co2[0]) == "850000.5000"


def test_workbook_form_and_provenance(tmp_path):
    inbox = _copy_valid(tmp_path)
    # move B1's 2021 report into a per-enterprise workbook (sheets enterprise + lines)
    for name in ("line_years.csv", "enterprise_years.csv"):
        p = inbox / "reports/2021" / name
        p.write_text(
            "\n".join(r for r in p.read_text(encoding="utf-8").splitlines() if not r.startswith("B1,")) + "\n"
        )
    shutil.copy(BAD / "_workbook_form.xlsx", inbox / "reports/2021/B1.xlsx")
    read = read_inbox(inbox)
    ly = read.tables["line_years"].filter(pl.col("_source_file") == "reports/2021/B1.xlsx")
    assert ly.select("_sheet", "_row", "line_id").to_dicts() == [
        {"_sheet": "lines", "_row": 2, "line_id": "B1-L1"}
    ]
    assert ly["_file_hash"][0] == read.file_hashes["reports/2021/B1.xlsx"]
    v = validate_inbox(read, policy_for_year(2021))
    assert v.quarantine.height == 0
    ey = v.core.enterprise_years.filter((pl.col("enterprise_id") == "B1") & (pl.col("year") == 2021))
    assert ey["shutdown_days"].to_list() == [10]


def test_parquet_inbox_reads_like_csv(tmp_path):
    inbox = _copy_valid(tmp_path)
    lines = pl.read_csv(inbox / "lines.csv", infer_schema=False)
    (inbox / "lines.csv").unlink()
    lines.write_parquet(inbox / "lines.parquet")
    v = validate_inbox(read_inbox(inbox), policy_for_year(2021))
    assert v.quarantine.height == 0
    assert sorted(v.core.lines["line_id"].to_list()) == ["B1-L1", "B2-L1", "B2-L2"]


def test_district_whitespace_removed_and_names_kept(tmp_path):
    inbox = _copy_valid(tmp_path)
    p = inbox / "enterprises.csv"
    p.write_text(p.read_text(encoding="utf-8").replace("忠县", "忠  县"), encoding="utf-8")
    v = validate_inbox(read_inbox(inbox), policy_for_year(2021))
    row = v.core.enterprises.filter(pl.col("enterprise_id") == "B1").to_dicts()[0]
    assert row["district"] == "忠县"
    assert row["name"] == "重庆示例水泥有限公司"


def test_more_decimal_places_than_the_column_holds_is_quarantined_not_rounded(tmp_path):
    inbox = _copy_valid(tmp_path)
    p = inbox / "reports/2020/line_years.csv"
    p.write_text(p.read_text(encoding="utf-8").replace("B2,B2-L2,2020,20000,", "B2,B2-L2,2020,20000.00001,"))
    q = validate_inbox(read_inbox(inbox), policy_for_year(2021)).quarantine
    assert q.select("source_file", "row_number", "column_name", "value").to_dicts()[0] == {
        "source_file": "reports/2020/line_years.csv",
        "row_number": 4,
        "column_name": "verified_co2_t",
        "value": "20000.00001",
    }
    assert "more than 4 decimal places" in q["message"][0]
