"""The embedded sample inbox `data/sample/`: contract shape, internal consistency, edge cases.

Reads the files with polars/fastexcel directly (no ingest code), in every form the sample mixes:
UTF-8-BOM CSV with Chinese headers, xlsx, per-enterprise report workbooks, GB18030 CSV with
Chinese headers and full-width digits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import io
import re
import sys
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import fastexcel
import polars as pl
import pytest

from model import catalog
from tools import edge_cases, synthetic

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
SEED_GLOB = "000_*.txt"
FULLWIDTH = str.maketrans("０１２３４５６７８９．", "0123456789.")
TABLES = {t.name: t for t in catalog.INPUTS}
ZH_TO_EN = {t.name: {c.zh: c.name for c in t.columns} for t in catalog.INPUTS}
INT_COLS = {"year", "production_days", "shutdown_days", "compliance_year", "quantity_t", "vintage"}
DATE_COLS = {"commissioned_on", "reduction_project_on", "major_change_on", "stopped_on", "surrendered_on"}
BASE = synthetic.BASE_YEARS
REQUIRED_CASES = {
    "new_build_2020_03_01",
    "new_build_2021_01_01",
    "clinker_new_2021_07_01",
    "reduction_project",
    "major_change_2019_01_01",
    "major_change_2020_05_15",
    "electricity_factor_intensity",
    "electricity_factor_total",
    "non_co2_n2o_1",
    "intensity_outlier",
    "intensity_exact_20pct",
    "total_shutdown_over_183",
    "total_shutdown_exact_183",
    "equal_enterprise_shutdown",
    "intensity_zero_output",
    "stopped_2022_11_01",
    "zero_days_2023",
    "leap_2020_full_year",
    "closed_missing_verification",
    "excluded_unlisted",
    "offsets_t10",
    "borrowing_clinker",
    "vintage_later_than_year",
    "free_vintage_2019_refused",
    "purchased_vintage_2018",
    "offsets_over_limit_2021",
    "green_power_2022_refused",
    "ccer_2023_refused",
    "cqcer_over_limit_2023",
    "late_2022",
    "preallocation_cancelled_2022",
    "borrowing_above_pool",
    "borrowing_2023_refused",
    "ledger_without_verification_2022",
    "verified_total_blank",
    "fullwidth_digits",
}


# ---------------------------------------------------------------------------------------------
# Reading the inbox (strings first, exactly as written)
# ---------------------------------------------------------------------------------------------
def _decode(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def _read_csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(io.StringIO(_decode(path.read_bytes())), infer_schema=False)


def _read_sheet(path: Path, sheet: str | int) -> pl.DataFrame:
    reader = fastexcel.read_excel(str(path))
    s = (
        reader.load_sheet_by_name(sheet, dtypes="string")
        if isinstance(sheet, str)
        else reader.load_sheet(sheet, dtypes="string")
    )
    df = s.to_polars()
    return df.with_columns([pl.col(c).str.slice(0, 10) for c in df.columns if c in DATE_COLS])


def _english(df: pl.DataFrame, table: str) -> pl.DataFrame:
    """Chinese labels → English names; every header must be one or the other."""
    t = TABLES[table]
    ren = {}
    for c in df.columns:
        name = c.strip()
        if name in ZH_TO_EN[table]:
            ren[c] = ZH_TO_EN[table][name]
        else:
            assert name in t.names, f"unknown header {c!r} for {table}"
            ren[c] = name
    out = df.rename(ren)
    return out.with_columns(
        [pl.col(c).str.strip_chars().str.replace_all(r"^$", "").replace("", None) for c in out.columns]
    )


def _typed(df: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for c in df.columns:
        col = pl.col(c).map_elements(lambda v: v.translate(FULLWIDTH), return_dtype=pl.String)
        if c in INT_COLS:
            col = col.cast(pl.Int64)
        elif c in DATE_COLS:
            col = col.str.to_date("%Y-%m-%d")
        exprs.append(col.alias(c))
    return df.select(exprs)


def load_inbox(root: Path) -> dict:
    out: dict = {"sources": {}}
    out["enterprises"] = _typed(_english(_read_csv(root / "enterprises.csv"), "enterprises"))
    out["lines"] = _typed(_english(_read_sheet(root / "lines.xlsx", 0), "lines"))
    ly_parts, ey_parts = [], []
    for ydir in sorted((root / "reports").iterdir()):
        for f in sorted(ydir.iterdir()):
            rel = f.relative_to(root).as_posix()
            if f.suffix == ".xlsx":
                e = _english(_read_sheet(f, "enterprise"), "enterprise_years")
                lines = _english(_read_sheet(f, "lines"), "line_years")
                ey_parts.append(e.with_columns(_file=pl.lit(rel)))
                ly_parts.append(lines.with_columns(_file=pl.lit(rel)))
            else:
                df = _read_csv(f)
                table = (
                    "line_years"
                    if ("line_id" in df.columns or "生产线编号" in df.columns)
                    else "enterprise_years"
                )
                df = _english(df, table).with_columns(_file=pl.lit(rel))
                (ly_parts if table == "line_years" else ey_parts).append(df)
    out["line_years"] = _typed(pl.concat(ly_parts, how="diagonal"))
    out["enterprise_years"] = _typed(pl.concat(ey_parts, how="diagonal"))
    out["attributes"] = _typed(
        pl.concat([_english(_read_csv(f), "attributes") for f in sorted((root / "attributes").glob("*.csv"))])
    )
    out["ledger"] = _typed(
        pl.concat(
            [
                _english(_read_csv(root / "ledger" / "ledger.csv"), "ledger"),
                _english(_read_sheet(root / "ledger" / "ledger_2023.xlsx", 0), "ledger"),
            ],
            how="diagonal",
        )
    )
    return out


@pytest.fixture(scope="module")
def inbox() -> dict:
    return load_inbox(SAMPLE)


def D(v) -> Decimal:
    return Decimal(str(v)) if v is not None else Decimal(0)


def _seed_roster() -> pl.DataFrame:
    seeds = sorted((REPO.parent / "shared" / "seeds").glob(SEED_GLOB))
    if seeds:
        return synthetic.parse_seed_roster(seeds[0].read_text(encoding="utf-8"))
    return pl.read_csv(SAMPLE / "roster.csv", schema_overrides={"seq": pl.Int64})


def _load_generate_module():
    spec = importlib.util.spec_from_file_location("sample_generate", SAMPLE / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sample_generate", mod)
    spec.loader.exec_module(mod)
    return mod


def _readme_cases() -> dict[str, dict]:
    cases = {}
    for line in (SAMPLE / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `([a-z0-9_]+)` \|(.*)\|\s*$", line)
        if m:
            cells = [c.strip() for c in m.group(2).split(" | ")]
            cases[m.group(1)] = {
                "enterprise_id": cells[0],
                "ref": cells[1],
                "years": cells[2],
                "what": cells[3],
                "rule": cells[4],
            }
    return cases


# ---------------------------------------------------------------------------------------------
# Shape and roster
# ---------------------------------------------------------------------------------------------
def test_enterprises_are_the_seed_list_plus_one(inbox):
    ent = inbox["enterprises"]
    roster = _seed_roster()
    assert roster.height == 308
    assert ent.height == 309
    assert ent["enterprise_id"].to_list() == [f"CQ{i:03d}" for i in range(1, 310)]
    real = ent.head(308)
    assert real["name"].to_list() == roster["name"].to_list()
    assert real["sector_label"].to_list() == roster["sector_label"].to_list()
    assert real["district"].to_list() == roster["district"].to_list()
    assert not real["district"].str.contains(r"\s").any()
    assert "忠县" in real["district"].to_list()
    assert ent.filter(pl.col("enterprise_id") == "CQ027")["name"][0] == "重庆海螺水泥有限责任公司"
    last = ent.row(308, named=True)
    assert last["name"] == "重庆示例未纳入单位有限公司" and last["listed_years"] is None
    assert last["sector_label"] == "其他行业"
    committed = pl.read_csv(SAMPLE / "roster.csv", schema_overrides={"seq": pl.Int64})
    assert committed.equals(roster.select(committed.columns))


def test_forms_encodings_and_headers():
    raw = (SAMPLE / "enterprises.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw[3:].decode("utf-8").splitlines()[0] == ",".join(c.zh for c in catalog.ENTERPRISES.columns)
    gb = (SAMPLE / "reports/2022/核查数据_生产线.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        gb.decode("utf-8")
    assert gb.decode("gb18030").splitlines()[0] == ",".join(c.zh for c in catalog.LINE_YEARS.columns)
    gb_e = (SAMPLE / "reports/2022/核查数据_单位.csv").read_bytes().decode("gb18030")
    assert gb_e.splitlines()[0] == ",".join(c.zh for c in catalog.ENTERPRISE_YEARS.columns)
    for y in (2018, 2019, 2020, 2021, 2023):
        head = (SAMPLE / f"reports/{y}/line_years.csv").read_text(encoding="utf-8").splitlines()[0]
        assert head == ",".join(catalog.LINE_YEARS.names)
    n_wb = {y: len(list((SAMPLE / f"reports/{y}").glob("CQ*.xlsx"))) for y in synthetic.YEARS}
    assert all(60 <= n <= 140 for n in n_wb.values()), n_wb  # about a third of ~300 enterprises
    wb = fastexcel.read_excel(str(next((SAMPLE / "reports/2021").glob("CQ*.xlsx"))))
    assert wb.sheet_names == ["enterprise", "lines"]
    lines = fastexcel.read_excel(str(SAMPLE / "lines.xlsx")).load_sheet(0).to_polars()
    assert lines.columns == catalog.LINES.names
    assert lines.schema["commissioned_on"] in (pl.Date, pl.Datetime("ms"), pl.Datetime("us"))  # real dates


def test_csv_numbers_are_exact_decimal_strings():
    bad = re.compile(r"\d[eE][+-]?\d|\.\d{7,}")
    for f in sorted(SAMPLE.rglob("*.csv")):
        text = _decode(f.read_bytes())
        assert not bad.search(text), f"float artefact in {f}"
        rows = text.splitlines()
        header = rows[0].split(",")
        for col, places in (
            ("verified_co2_t", 4),
            ("经核查二氧化碳排放量", 4),
            ("output", 4),
            ("grid_ef_t_per_mwh", 6),
        ):
            if col in header:
                i = header.index(col)
                for r in rows[1:]:
                    v = r.split(",")[i].translate(FULLWIDTH)
                    assert re.fullmatch(rf"\d+(\.\d{{1,{places}}})?|", v), (f, col, v)


# ---------------------------------------------------------------------------------------------
# Internal consistency
# ---------------------------------------------------------------------------------------------
def test_line_years_belong_to_their_lines(inbox):
    ly, lines, ent = inbox["line_years"], inbox["lines"], inbox["enterprises"]
    assert lines["line_id"].is_unique().all()
    assert set(lines["enterprise_id"]) <= set(ent["enterprise_id"])
    j = ly.join(lines.select("line_id", line_ent="enterprise_id"), on="line_id", how="left")
    assert j["line_ent"].null_count() == 0, "line-year of an unknown line"
    assert (j["line_ent"] == j["enterprise_id"]).all(), "line-year under another enterprise"
    assert lines.filter(pl.col("enterprise_id") == "CQ309").height == 0


def test_line_year_keys_unique_across_files(inbox):
    ly = inbox["line_years"]
    dup = (
        ly.group_by("line_id", "year").agg(n=pl.len(), files=pl.col("_file").unique()).filter(pl.col("n") > 1)
    )
    assert dup.height == 0, dup
    ey = inbox["enterprise_years"]
    assert ey.group_by("enterprise_id", "year").len().filter(pl.col("len") > 1).height == 0


def test_days_within_year(inbox):
    ly = inbox["line_years"].with_columns(days=366 - (pl.col("year") % 4 != 0).cast(pl.Int64))
    assert (
        ly.filter((pl.col("production_days") < 0) | (pl.col("production_days") > pl.col("days"))).height == 0
    )
    assert ly.filter((pl.col("year") == 2020) & (pl.col("production_days") == 366)).height > 0
    assert ly.filter((pl.col("year") != 2020) & (pl.col("production_days") == 366)).height == 0
    ey = inbox["enterprise_years"].with_columns(days=366 - (pl.col("year") % 4 != 0).cast(pl.Int64))
    assert ey.filter((pl.col("shutdown_days") < 0) | (pl.col("shutdown_days") > pl.col("days"))).height == 0
    assert (
        ey["year"].is_between(2018, 2023).all() and inbox["line_years"]["year"].is_between(2018, 2023).all()
    )


def test_enterprise_totals_reconcile(inbox):
    ly = inbox["line_years"].with_columns(
        e=pl.col("verified_co2_t").cast(pl.Decimal(18, 4))
        + pl.col("verified_non_co2_t").fill_null("0").cast(pl.Decimal(18, 4))
    )
    sums = ly.group_by("enterprise_id", "year").agg(s=pl.col("e").sum())
    ey = inbox["enterprise_years"].join(sums, on=["enterprise_id", "year"], how="full", coalesce=True)
    assert ey["s"].null_count() == 0, "enterprise-year without lines"
    assert ey["shutdown_days"].null_count() == 0, "lines without enterprise-year"
    given = ey.filter(pl.col("verified_total_t").is_not_null())
    diff = (given["verified_total_t"].cast(pl.Decimal(18, 4)) - given["s"]).abs()
    assert (diff <= 1).all()
    assert (diff == 0).all()  # generated exactly
    assert 0 < ey["verified_total_t"].null_count() < 40


def _exists(line: dict, year: int) -> bool:
    c, s = line["commissioned_on"], line["stopped_on"]
    return (c is None or c <= dt.date(year, 12, 31)) and (s is None or s > dt.date(year, 1, 1))


def test_every_existing_line_is_reported(inbox):
    lines_by_ent: dict[str, list[dict]] = {}
    for ln in inbox["lines"].iter_rows(named=True):
        lines_by_ent.setdefault(ln["enterprise_id"], []).append(ln)
    have = set(inbox["line_years"].select("line_id", "year").iter_rows())
    reports = set(inbox["enterprise_years"].select("enterprise_id", "year").iter_rows())
    checked = 0
    for e in inbox["enterprises"].iter_rows(named=True):
        for y in [int(v) for v in (e["listed_years"] or "").split(",") if v]:
            if (e["enterprise_id"], y) not in reports:
                continue
            for ln in lines_by_ent.get(e["enterprise_id"], []):
                for yy in (y, *BASE[y]):
                    if _exists(ln, yy):
                        assert (ln["line_id"], yy) in have, (ln["line_id"], yy)
                        checked += 1
                    else:
                        assert (ln["line_id"], yy) not in have, (ln["line_id"], yy)
    assert checked > 8000
    # no line-year for a year in which the line did not exist
    lines = {ln["line_id"]: ln for ln in inbox["lines"].iter_rows(named=True)}
    assert all(_exists(lines[lid], y) for lid, y in have)


def test_lines_consistent_with_sector(inbox):
    j = inbox["lines"].join(inbox["enterprises"], on="enterprise_id")
    per_ent = j.group_by("enterprise_id", "sector_label", "name").agg(acts=pl.col("activity").unique())
    for e, sector, name, acts in per_ent.iter_rows():
        acts = set(acts)
        if sector == "水泥制造行业":
            assert "cement_clinker" in acts and acts <= {"cement_clinker", "other"}, e
        elif sector == "电解铝行业":
            assert "electrolytic_aluminium" in acts and acts <= {"electrolytic_aluminium", "other"}, e
        elif sector == "生活垃圾焚烧行业":
            assert acts == {"waste_incineration"}, e
        elif "页岩气" in name:
            assert acts == {"shale_gas"}, e
        else:
            assert acts == {"other"}, e
    assert per_ent.filter(pl.col("sector_label") == "电解铝行业").height == 3
    assert per_ent.filter(pl.col("name").str.contains("页岩气")).height == 2
    n_lines = inbox["lines"].height
    assert 2.0 <= n_lines / 308 <= 2.4
    clinker = j.filter(pl.col("activity") == "cement_clinker")
    assert set(clinker["product"]) == {"熟料"} and set(clinker["output_unit"]) == {"t"}
    alu = j.filter(pl.col("activity") == "electrolytic_aluminium")
    assert set(alu["product"]) == {"铝液"} and set(alu["output_unit"]) == {"t"}
    other = j.filter(pl.col("activity") == "other")
    share = (other["intensity_eligible"] == "true").mean()
    assert 0.4 <= share <= 0.6
    assert set(inbox["lines"]["intensity_eligible"]) <= {"true", "false"}
    mixed = (
        other.group_by("enterprise_id").agg(m=pl.col("intensity_eligible").n_unique()).filter(pl.col("m") > 1)
    )
    assert mixed.height > 20


def test_magnitudes_are_plausible(inbox):
    ly = (
        inbox["line_years"]
        .with_columns(co2=pl.col("verified_co2_t").cast(pl.Float64), q=pl.col("output").cast(pl.Float64))
        .join(inbox["lines"].select("line_id", "activity"), on="line_id")
    )
    ratio = ly.filter(pl.col("q") > 0).with_columns(i=pl.col("co2") / pl.col("q"))
    cl = ratio.filter(pl.col("activity") == "cement_clinker")["i"]
    assert cl.quantile(0.05) > 0.78 and cl.quantile(0.95) < 1.03
    al = ratio.filter(pl.col("activity") == "electrolytic_aluminium")["i"]
    assert al.min() > 7.2 and al.max() < 8.5
    e21 = inbox["enterprise_years"].filter(pl.col("year") == 2021)["verified_total_t"].cast(pl.Float64)
    assert e21.quantile(0.1) > 10_000 and e21.quantile(0.9) < 3_000_000
    steel = inbox["enterprises"].filter(pl.col("name") == "重庆钢铁股份有限公司")["enterprise_id"][0]
    big = ly.filter((pl.col("enterprise_id") == steel) & (pl.col("year") == 2021))["co2"].sum()
    assert 2e6 < big < 9e6


def test_ledger_rows_are_coherent(inbox):
    led = inbox["ledger"]
    assert led["txn_id"].is_unique().all()
    assert (led["quantity_t"] > 0).all()
    assert set(led["compliance_year"]) == {2021, 2022, 2023}
    assert set(led["instrument"]) == set(catalog.INSTRUMENTS)
    allow = led.filter(pl.col("instrument") == "allowance")
    assert allow["vintage"].null_count() == 0
    assert allow["origin"].null_count() == allow.height and allow["is_hydro"].null_count() == allow.height
    assert set(allow["acquired_via"].drop_nulls()) <= {"free", "purchase", "paid_reserve"}
    offsets = led.filter(pl.col("instrument").is_in(["ccer", "cqcer", "other_offset"]))
    assert offsets["origin"].null_count() == 0 and offsets["is_hydro"].null_count() == 0
    assert (
        offsets["vintage"].null_count() == offsets.height
        and offsets["acquired_via"].null_count() == offsets.height
    )
    borrowed = led.filter(pl.col("instrument") == "borrowed_preallocation")
    for c in ("vintage", "acquired_via", "origin", "is_hydro", "certificate_id"):
        assert borrowed[c].null_count() == borrowed.height
    green = led.filter(pl.col("instrument") == "green_power")  # v2: origin required, certificate optional
    assert green["origin"].null_count() == 0
    assert set(green["origin"]) == {"chongqing", "chengdu_chongqing_circle", "other"}
    for c in ("vintage", "acquired_via", "is_hydro"):
        assert green[c].null_count() == green.height
    assert (
        led.filter(pl.col("instrument") != "green_power")["certificate_id"].null_count()
        == led.height - green.height
    )
    assert set(offsets["origin"]) <= {"chongqing", "chengdu_chongqing_circle", "other"}
    assert set(offsets["is_hydro"]) <= {"true", "false"}
    # free allowances only of vintages the year may use, except the named refusal
    assert allow.filter((pl.col("acquired_via") == "free") & (pl.col("vintage") < 2021)).height == 1
    # most listed enterprises clear on time with allowances
    e = inbox["enterprise_years"].filter(pl.col("year") == 2022).select("enterprise_id")
    assert led.filter(pl.col("compliance_year") == 2022)["enterprise_id"].n_unique() > 0.9 * e.height


def test_attributes(inbox):
    at = inbox["attributes"]
    ent = inbox["enterprises"]
    listed23 = set(ent.filter(pl.col("listed_years").str.contains("2023"))["enterprise_id"])
    a23 = at.filter(pl.col("year") == 2023)
    assert set(a23["enterprise_id"]) == listed23
    assert set(a23["weather_grade"].drop_nulls()) <= {"A", "B", "C", "D"}
    assert a23["weather_grade"].null_count() > 0
    assert 1 <= (a23["penalized"] == "true").sum() <= 30
    a22 = at.filter(pl.col("year") == 2022)
    assert (a22["preallocation_cancelled"] == "true").sum() == 3


# ---------------------------------------------------------------------------------------------
# Edge cases listed in the README
# ---------------------------------------------------------------------------------------------
class Ctx:
    def __init__(self, inbox: dict):
        self.ib = inbox
        self.lines = {r["line_id"]: r for r in inbox["lines"].iter_rows(named=True)}
        self.ly = {(r["line_id"], r["year"]): r for r in inbox["line_years"].iter_rows(named=True)}
        self.ey = {
            (r["enterprise_id"], r["year"]): r for r in inbox["enterprise_years"].iter_rows(named=True)
        }
        self.ent = {r["enterprise_id"]: r for r in inbox["enterprises"].iter_rows(named=True)}
        self.led = inbox["ledger"]

    def rec(self, lid: str, y: int) -> dict:
        return self.ly[(lid, y)]

    def E(self, e: str, y: int) -> Decimal:
        return sum(
            (D(r["verified_co2_t"]) + D(r["verified_non_co2_t"]))
            for (lid, yy), r in self.ly.items()
            if yy == y and r["enterprise_id"] == e
        )

    def lines_of(self, e: str) -> list[str]:
        return [lid for lid, r in self.lines.items() if r["enterprise_id"] == e]

    def corrected(self, lid: str, b: int, y: int) -> Fraction:
        """Base-year CO2 with the electricity-factor restatement (rules.md §3.1)."""
        r, ry = self.rec(lid, b), self.rec(lid, y)
        co2 = Fraction(D(r["verified_co2_t"]))
        if r["purchased_electricity_mwh"] and r["grid_ef_t_per_mwh"] and ry["grid_ef_t_per_mwh"]:
            co2 += Fraction(D(r["purchased_electricity_mwh"])) * (
                Fraction(D(ry["grid_ef_t_per_mwh"])) - Fraction(D(r["grid_ef_t_per_mwh"]))
            )
        return co2

    def outliers(self, lid: str, y: int) -> list[int]:
        years = BASE[y]
        e = {b: self.corrected(lid, b, y) for b in years}
        q = {b: Fraction(D(self.rec(lid, b)["output"])) for b in years}
        mean = sum(e.values()) / sum(q.values())
        return [b for b in years if abs(e[b] / q[b] - mean) >= Fraction(1, 5) * mean]

    def daily_total(self, lid: str, y: int) -> Fraction:
        years = BASE[y]
        return sum(self.corrected(lid, b, y) for b in years) / sum(
            self.rec(lid, b)["production_days"] for b in years
        )

    def rows(self, e: str, y: int) -> pl.DataFrame:
        return self.led.filter((pl.col("enterprise_id") == e) & (pl.col("compliance_year") == y))


def _line(case: dict) -> str:
    return case["ref"].split(" / ")[0].split(",")[0].strip()


def _txns(case: dict) -> list[str]:
    return re.findall(r"T\d{4}-\d{6}", case["ref"])


def check_new_build_2020_03_01(c: Ctx, k: dict) -> None:
    ln = c.lines[_line(k)]
    assert ln["commissioned_on"] == dt.date(2020, 3, 1) and ln["activity"] == "other"
    assert [y for y in range(2018, 2024) if (ln["line_id"], y) in c.ly] == [2020, 2021, 2022, 2023]
    assert c.rec(ln["line_id"], 2020)["production_days"] <= 306


def check_new_build_2021_01_01(c: Ctx, k: dict) -> None:
    ln = c.lines[_line(k)]
    assert ln["commissioned_on"] == dt.date(2021, 1, 1)
    assert [y for y in range(2018, 2024) if (ln["line_id"], y) in c.ly] == [2021, 2022, 2023]


def check_clinker_new_2021_07_01(c: Ctx, k: dict) -> None:
    ln = c.lines[_line(k)]
    assert ln["activity"] == "cement_clinker" and ln["commissioned_on"] == dt.date(2021, 7, 1)
    assert (ln["line_id"], 2020) not in c.ly and c.rec(ln["line_id"], 2021)["production_days"] <= 184


def check_reduction_project(c: Ctx, k: dict) -> None:
    ln = c.lines[_line(k)]
    assert ln["reduction_project_on"] == dt.date(2019, 7, 1) and ln["intensity_eligible"] == "true"


def check_major_change_2019_01_01(c: Ctx, k: dict) -> None:
    assert c.lines[_line(k)]["major_change_on"] == dt.date(2019, 1, 1)


def check_major_change_2023_03_01(c: Ctx, k: dict) -> None:
    ln = c.lines[_line(k)]
    assert ln["major_change_on"] == dt.date(2023, 3, 1) and ln["intensity_eligible"] == "false"


def check_reduction_project_2021_03_01(c: Ctx, k: dict) -> None:
    ln = c.lines[_line(k)]
    assert ln["reduction_project_on"] == dt.date(2021, 3, 1) and ln["intensity_eligible"] == "true"


def check_green_power_from_city_2023(c: Ctx, k: dict) -> None:
    (r,) = c.led.filter(pl.col("txn_id") == k["ref"]).to_dicts()
    assert (r["instrument"], r["origin"], r["quantity_t"]) == ("green_power", "chongqing", 1000)


def check_certificate_reused_2023(c: Ctx, k: dict) -> None:
    (r,) = c.led.filter(pl.col("txn_id") == k["ref"]).to_dicts()
    first = c.led.filter(
        (pl.col("certificate_id") == r["certificate_id"]) & (pl.col("txn_id") != r["txn_id"])
    ).to_dicts()
    assert r["instrument"] == "green_power" and r["origin"] != "chongqing"
    assert len(first) == 1 and first[0]["surrendered_on"] < r["surrendered_on"]


def check_major_change_2020_05_15(c: Ctx, k: dict) -> None:
    assert c.lines[_line(k)]["major_change_on"] == dt.date(2020, 5, 15)


def check_electricity_factor_intensity(c: Ctx, k: dict) -> None:
    lid = _line(k)
    efs = {y: c.rec(lid, y)["grid_ef_t_per_mwh"] for y in range(2018, 2024)}
    assert (
        efs[2018] == "0.620512" and efs[2019] == "0.6229" and efs[2021] == "0.581" and efs[2022] == "0.5703"
    )
    assert all(c.rec(lid, y)["purchased_electricity_mwh"] for y in (2019, 2020, 2021, 2022))
    assert c.corrected(lid, 2019, 2022) < Fraction(D(c.rec(lid, 2019)["verified_co2_t"]))


def check_electricity_factor_total(c: Ctx, k: dict) -> None:
    lid = _line(k)
    assert c.lines[lid]["intensity_eligible"] == "false"
    assert c.rec(lid, 2019)["purchased_electricity_mwh"] is None and c.rec(lid, 2019)["grid_ef_t_per_mwh"]
    assert c.rec(lid, 2020)["purchased_electricity_mwh"] and c.rec(lid, 2020)["grid_ef_t_per_mwh"] == "0.6229"


def _check_non_co2(c: Ctx, k: dict) -> None:
    lid = _line(k)
    assert all(D(c.rec(lid, y)["verified_non_co2_t"]) > 0 for y in range(2018, 2024))


check_non_co2_n2o_1 = check_non_co2_n2o_2 = check_non_co2_n2o_3 = check_non_co2_pfc = _check_non_co2


def check_intensity_outlier(c: Ctx, k: dict) -> None:
    lid = _line(k)
    assert c.lines[lid]["intensity_eligible"] == "true"
    assert c.outliers(lid, 2021) == [2019] and c.outliers(lid, 2022) == [2019]
    assert c.outliers(lid, 2023) == []


def check_intensity_exact_20pct(c: Ctx, k: dict) -> None:
    lid = _line(k)
    e = {b: Fraction(D(c.rec(lid, b)["verified_co2_t"])) for b in BASE[2021]}
    q = {b: Fraction(D(c.rec(lid, b)["output"])) for b in BASE[2021]}
    mean = sum(e.values()) / sum(q.values())
    assert mean == Fraction(1, 2) and e[2018] / q[2018] - mean == Fraction(1, 5) * mean  # exactly 20%
    assert c.outliers(lid, 2021) == [2018]
    kept = (e[2019] + e[2020]) / (q[2019] + q[2020])
    assert Decimal(kept.numerator) / Decimal(kept.denominator) < Decimal("0.43335")


def check_total_shutdown_over_183(c: Ctx, k: dict) -> None:
    lid = _line(k)
    assert c.lines[lid]["intensity_eligible"] == "false"
    shut = {b: 365 + (b == 2020) - c.rec(lid, b)["production_days"] for b in BASE[2021]}
    assert shut[2019] > 183 and shut[2018] <= 183 and shut[2020] <= 183


def check_total_shutdown_exact_183(c: Ctx, k: dict) -> None:
    lid = _line(k)
    assert c.rec(lid, 2020)["production_days"] == 183  # 366 − 183
    assert all(365 - c.rec(lid, b)["production_days"] <= 183 for b in (2018, 2019, 2021, 2022))


def check_equal_enterprise_shutdown(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    assert [c.ey[(e, y)]["shutdown_days"] for y in (2018, 2019, 2020)] == [183, 190, 0]
    for lid in c.lines_of(e):
        assert (
            c.rec(lid, 2018)["production_days"] <= 365 - 183
            and c.rec(lid, 2019)["production_days"] <= 365 - 190
        )


def check_intensity_zero_output(c: Ctx, k: dict) -> None:
    r = c.rec(_line(k), 2019)
    assert D(r["output"]) == 0 and r["production_days"] == 0 and D(r["verified_co2_t"]) > 0


def check_stopped_2022_11_01(c: Ctx, k: dict) -> None:
    lid = _line(k)
    assert c.lines[lid]["stopped_on"] == dt.date(2022, 11, 1)
    assert (lid, 2022) in c.ly and (lid, 2023) not in c.ly
    assert c.rec(lid, 2022)["production_days"] <= 304 and (k["enterprise_id"], 2023) in c.ey


def check_zero_days_2023(c: Ctx, k: dict) -> None:
    r = c.rec(_line(k), 2023)
    assert r["production_days"] == 0 and c.lines[_line(k)]["stopped_on"] is None


def check_leap_2020_full_year(c: Ctx, k: dict) -> None:
    assert c.rec(_line(k), 2020)["production_days"] == 366
    assert c.ey[(k["enterprise_id"], 2020)]["shutdown_days"] == 0


def check_closed_missing_verification(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    assert c.ent[e]["listed_years"] == "2021,2022"
    assert (e, 2021) in c.ey and (e, 2022) not in c.ey and (e, 2023) not in c.ey
    assert not [1 for (lid, y), r in c.ly.items() if r["enterprise_id"] == e and y >= 2022]
    # its only 2022 ledger row is the one of `ledger_without_verification_2022`
    assert c.rows(e, 2022)["txn_id"].to_list() == _txns(_readme_cases()["ledger_without_verification_2022"])
    assert c.rows(e, 2021).height > 0


def check_excluded_unlisted(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    assert e == "CQ309" and c.ent[e]["listed_years"] is None and not c.lines_of(e)
    assert c.rows(e, 2022).height > 0 and c.rows(e, 2023).height > 0


def check_offsets_t10(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    assert len(c.lines_of(e)) == 1 and c.E(e, 2022) == Decimal(100000)
    r = c.rows(e, 2022)
    offs = sorted(
        (x["instrument"], x["origin"], x["is_hydro"], x["quantity_t"])
        for x in r.filter(pl.col("instrument") != "allowance").iter_rows(named=True)
    )
    assert offs == sorted(
        [
            ("cqcer", "chongqing", "false", 7000),
            ("ccer", "chengdu_chongqing_circle", "false", 1500),
            ("other_offset", "other", "false", 1000),
            ("ccer", "chongqing", "true", 500),
        ]
    )
    assert r.filter(pl.col("instrument") == "allowance")["quantity_t"].sum() == 92000


def _round(x: Decimal, places: int = 0) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def check_borrowing_clinker(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    (lid,) = c.lines_of(e)
    assert c.lines[lid]["activity"] == "cement_clinker"
    bm = {2021: Decimal("0.8289"), 2022: Decimal("0.8244")}
    for y in (2021, 2022):
        r = c.rec(lid, y)
        E = c.E(e, y)
        assert Decimal("0.98") < E / D(r["output"]) < Decimal("1.02")
        a = _round(bm[y] * D(r["output"]), 4)
        assert a > Decimal("0.8") * E and a > E - 200000  # no gap exemption
        a_final = _round(a)
        borrowable = int(max(Decimal(0), (E - a_final) - Decimal("0.1") * E).to_integral_value(ROUND_FLOOR))
        assert (E - a_final) > Decimal("0.1") * E
        b = c.rows(e, y).filter(pl.col("instrument") == "borrowed_preallocation")["quantity_t"].to_list()
        assert b == ([borrowable] if y == 2021 else [borrowable + 5000])
    gp = c.rows(e, 2023).filter(pl.col("instrument") == "green_power").sort("txn_id")
    assert gp["quantity_t"].to_list() == [3000, 1000, 500]  # v2 rows: bought in the city, reused certificate
    assert gp["origin"].to_list()[0] == "chengdu_chongqing_circle"
    a23 = _round(bm[2022] * D(c.rec(lid, 2023)["output"]))
    assert min(Decimal("0.08") * (c.E(e, 2023) - a23), Decimal(2000)) == 2000


def _clinker_borrowable(c: Ctx, e: str, lid: str, y: int) -> int:
    """Borrowable quantity of a single-clinker enterprise (allocation = benchmark × output)."""
    bm = {2021: Decimal("0.8289"), 2022: Decimal("0.8244")}[y]
    E = c.E(e, y)
    assert Decimal("0.98") < E / D(c.rec(lid, y)["output"]) < Decimal("1.02")
    a = _round(bm * D(c.rec(lid, y)["output"]), 4)
    assert a > Decimal("0.8") * E and a > E - 200000  # no gap exemption
    return int(max(Decimal(0), (E - _round(a)) - Decimal("0.1") * E).to_integral_value(ROUND_FLOOR))


def check_borrowing_above_pool(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    (lid,) = c.lines_of(e)
    assert c.lines[lid]["activity"] == "cement_clinker" and _line(k) == lid
    borrowable = _clinker_borrowable(c, e, lid, 2022)
    assert borrowable > 0
    # 2023 pre-allocation cancelled → the shared borrowing pool of 2021–2022 is empty
    a = c.ib["attributes"].filter((pl.col("year") == 2022) & (pl.col("enterprise_id") == e))
    assert a["preallocation_cancelled"].to_list() == ["true"]
    b = c.rows(e, 2022).filter(pl.col("instrument") == "borrowed_preallocation")
    assert b["txn_id"].to_list() == _txns(k)
    assert 0 < b["quantity_t"][0] <= borrowable  # refused for the pool, not the borrowable quantity
    assert c.rows(e, 2021).filter(pl.col("instrument") == "borrowed_preallocation").height == 0
    assert f"borrowable {borrowable:,} t" in k["what"] and f"{b['quantity_t'][0]:,} t" in k["what"]


def check_borrowing_2023_refused(c: Ctx, k: dict) -> None:
    b = c.rows(k["enterprise_id"], 2023).filter(pl.col("instrument") == "borrowed_preallocation")
    assert b["txn_id"].to_list() == _txns(k) and b["quantity_t"].to_list() == [1000]
    led23 = c.led.filter(pl.col("compliance_year") == 2023)
    assert led23.filter(pl.col("instrument") == "borrowed_preallocation").height == 1


def check_ledger_without_verification_2022(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    assert "2022" in c.ent[e]["listed_years"].split(",") and (e, 2022) not in c.ey
    r = c.rows(e, 2022)
    assert r["txn_id"].to_list() == _txns(k) and r["instrument"].to_list() == ["allowance"]
    assert r["vintage"].to_list() == [2021] and r["acquired_via"].to_list() == ["purchase"]


def test_added_ledger_rows_are_numbered_last(inbox):
    """Rows of cases added after the first release take the last txn_ids of their year, so every
    earlier row keeps its id (e.g. T10's T2022-000489…492)."""
    cases = _readme_cases()
    added = sorted(t for case in edge_cases.CASES if case.added for t in _txns(cases[case.name]))
    assert added == ["T2022-000629", "T2022-000630", "T2023-000644", "T2023-000645", "T2023-000646"]
    led = inbox["ledger"]
    for y in (2022, 2023):
        ids = sorted(led.filter(pl.col("compliance_year") == y)["txn_id"].to_list())
        mine = [t for t in added if t.startswith(f"T{y}-")]
        assert ids[-len(mine) :] == mine
    assert _txns(cases["offsets_t10"]) == [f"T2022-{n:06d}" for n in range(489, 493)]


def check_vintage_later_than_year(c: Ctx, k: dict) -> None:
    r = c.rows(k["enterprise_id"], 2021).filter(pl.col("instrument") == "allowance")
    assert r.filter(pl.col("vintage") > 2021).height == 1


def check_free_vintage_2019_refused(c: Ctx, k: dict) -> None:
    r = c.rows(k["enterprise_id"], 2021)
    assert r.filter((pl.col("vintage") == 2019) & (pl.col("acquired_via") == "free")).height == 1
    assert r.filter(pl.col("surrendered_on") > dt.date(2023, 12, 31)).height == 1


def check_purchased_vintage_2018(c: Ctx, k: dict) -> None:
    r = c.rows(k["enterprise_id"], 2022)
    assert r.filter((pl.col("vintage") == 2018) & (pl.col("acquired_via") == "purchase")).height == 1
    assert r["quantity_t"].sum() >= c.E(k["enterprise_id"], 2022)


def check_offsets_over_limit_2021(c: Ctx, k: dict) -> None:
    r = c.rows(k["enterprise_id"], 2021).filter(pl.col("instrument") != "allowance")
    assert r["quantity_t"].sum() > Decimal("0.08") * c.E(k["enterprise_id"], 2021)


def check_green_power_2022_refused(c: Ctx, k: dict) -> None:
    assert c.rows(k["enterprise_id"], 2022).filter(pl.col("instrument") == "green_power").height == 1


def check_ccer_2023_refused(c: Ctx, k: dict) -> None:
    r = c.rows(k["enterprise_id"], 2023)
    assert r.filter(pl.col("instrument") == "ccer").height == 1
    assert r.filter(pl.col("instrument") == "cqcer")["quantity_t"].sum() <= Decimal("0.05") * c.E(
        k["enterprise_id"], 2023
    )


def check_cqcer_over_limit_2023(c: Ctx, k: dict) -> None:
    r = c.rows(k["enterprise_id"], 2023).filter(pl.col("instrument") == "cqcer")
    assert r["quantity_t"].sum() > Decimal("0.05") * c.E(k["enterprise_id"], 2023)


def check_late_2022(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    r = c.rows(e, 2022)
    E = c.E(e, 2022)
    assert r.filter(pl.col("surrendered_on") <= dt.date(2024, 3, 31))["quantity_t"].sum() < E
    assert r["quantity_t"].sum() >= E
    assert set(r.filter(pl.col("surrendered_on") > dt.date(2024, 3, 31))["surrendered_on"]) == {
        dt.date(2024, 4, 1)
    }


def check_preallocation_cancelled_2022(c: Ctx, k: dict) -> None:
    a = c.ib["attributes"].filter((pl.col("year") == 2022) & (pl.col("preallocation_cancelled") == "true"))
    assert k["enterprise_id"] in a["enterprise_id"].to_list()


def _attr23(c: Ctx, e: str) -> dict:
    return (
        c.ib["attributes"]
        .filter((pl.col("year") == 2023) & (pl.col("enterprise_id") == e))
        .row(0, named=True)
    )


def check_incentive_2023(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    (lid,) = c.lines_of(e)
    a = _attr23(c, e)
    assert a["weather_grade"] == "A" and a["penalized"] == "false"
    assert c.E(e, 2023) < c.E(e, 2022)


def check_incentive_penalized_2023(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    a = _attr23(c, e)
    assert a["weather_grade"] == "A" and a["penalized"] == "true" and c.E(e, 2023) < c.E(e, 2022)


def check_incentive_under_investigation_2023(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    a = _attr23(c, e)
    assert a["weather_grade"] == "A" and a["penalized"] == "false" and a["under_investigation"] == "true"
    assert c.E(e, 2023) < c.E(e, 2022)


def check_gap_exemption_2022(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    (lid,) = c.lines_of(e)
    a_raw = c.daily_total(lid, 2022) * c.rec(lid, 2022)["production_days"]
    assert a_raw < Fraction(4, 5) * Fraction(c.E(e, 2022))


def check_surplus_cap_2023(c: Ctx, k: dict) -> None:
    e = k["enterprise_id"]
    (lid,) = c.lines_of(e)
    a_raw = c.daily_total(lid, 2023) * c.rec(lid, 2023)["production_days"]
    assert a_raw > Fraction(6, 5) * Fraction(c.E(e, 2023))


def check_verified_total_blank(c: Ctx, k: dict) -> None:
    n = int(re.match(r"(\d+)", k["what"]).group(1))
    assert c.ib["enterprise_years"]["verified_total_t"].null_count() == n


def check_fullwidth_digits(c: Ctx, k: dict) -> None:
    ids = re.findall(r"(CQ\d{3}-L\d+)", k["ref"])
    assert len(ids) == 3
    text = (SAMPLE / "reports/2022/核查数据_生产线.csv").read_bytes().decode("gb18030")
    for lid in ids:
        (row,) = [r for r in text.splitlines() if r.split(",")[1] == lid]
        assert re.search("[０-９]", row.split(",")[5]), row
        assert re.fullmatch(r"\d+(\.\d+)?", c.rec(lid, 2022)["output"])  # normalises to a number


def test_readme_lists_every_required_edge_case():
    cases = _readme_cases()
    assert REQUIRED_CASES <= set(cases), REQUIRED_CASES - set(cases)


def test_readme_lists_the_table_of_edge_cases():
    """The README's list is the table of `tools/edge_cases.py`: every case placed in the sample,
    in the table's words."""
    cases = _readme_cases()
    assert set(cases) == {c.name for c in edge_cases.CASES}
    for c in edge_cases.CASES:
        assert cases[c.name]["years"] == c.years, c.name
        assert cases[c.name]["rule"] == c.rule, c.name
        if "{" not in c.what:  # the others carry numbers of the sample
            assert cases[c.name]["what"] == c.what, c.name


@pytest.fixture(scope="module")
def ctx(inbox) -> Ctx:
    return Ctx(inbox)


@pytest.mark.parametrize("case", sorted(_readme_cases()))
def test_edge_case_present(ctx, case):
    check = globals().get(f"check_{case}")
    assert check is not None, f"no check for README case {case}"
    check(ctx, _readme_cases()[case])


def test_generic_data_stays_clear_of_thresholds(ctx):
    """Only the named edge cases hit the outlier, shutdown and zero-output branches."""
    named = {v["enterprise_id"] for v in _readme_cases().values()}
    for (e, y), r in ctx.ey.items():
        if e not in named:
            assert r["shutdown_days"] < 183, (e, y)
    for lid, ln in ctx.lines.items():
        if ln["enterprise_id"] in named or ln["commissioned_on"] and ln["commissioned_on"].year > 2017:
            continue
        for y in (2021, 2022, 2023):
            if not all((lid, b) in ctx.ly for b in BASE[y]):
                continue
            assert all(D(ctx.rec(lid, b)["output"]) > 0 for b in BASE[y]), lid
            assert all(366 - ctx.rec(lid, b)["production_days"] <= 183 for b in BASE[y]), lid
            if ln["intensity_eligible"] == "true" and ln["activity"] == "other" and (lid, y) in ctx.ly:
                assert ctx.outliers(lid, y) == [], (lid, y)


# ---------------------------------------------------------------------------------------------
# Determinism and the library
# ---------------------------------------------------------------------------------------------
def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "generate.py" and "__pycache__" not in p.parts
    }


def test_generator_is_deterministic_and_committed_sample_is_current(tmp_path):
    gen = _load_generate_module()
    a, b = tmp_path / "a", tmp_path / "b"
    gen.generate(a)
    gen.generate(b)
    ha, hb = _hashes(a), _hashes(b)
    assert len(ha) > 300
    assert ha == hb
    committed = _hashes(SAMPLE)
    assert committed == ha, "data/sample/ is stale: run data/sample/generate.py"


def test_generator_falls_back_to_committed_roster(tmp_path, monkeypatch):
    gen = _load_generate_module()
    monkeypatch.setattr(gen, "REPO", tmp_path)  # no ../shared/seeds here
    roster, source = gen.load_roster()
    assert source == "data/sample/roster.csv"
    assert roster.equals(_seed_roster().select(roster.columns))


def test_files_round_trip_to_the_built_tables(inbox):
    tables = synthetic.build_inbox(_seed_roster(), _load_generate_module().SEED)
    ly = tables["line_years"].select("line_id", "year", "verified_co2_t", "output", "production_days")
    got = inbox["line_years"].select(
        "line_id",
        "year",
        pl.col("verified_co2_t").cast(pl.Decimal(18, 4)),
        pl.col("output").cast(pl.Decimal(18, 4)),
        "production_days",
    )
    assert ly.sort("line_id", "year").equals(got.sort("line_id", "year"))
    led = inbox["ledger"].select("txn_id", "quantity_t").sort("txn_id")
    assert tables["ledger"].select("txn_id", "quantity_t").sort("txn_id").equals(led)


def test_synthetic_scale_small_and_plain_forms(tmp_path):
    roster = synthetic.synthetic_roster(3000, 7)
    assert roster["enterprise_id"].is_unique().all()
    mix = roster.group_by("sector_label").len()
    cement = mix.filter(pl.col("sector_label") == "水泥制造行业")["len"][0]
    assert 3000 * 32 / 308 * 0.8 < cement < 3000 * 32 / 308 * 1.2
    t1 = synthetic.build_inbox(roster, 7)
    t2 = synthetic.build_inbox(roster, 7)
    for name in ("lines", "line_years", "enterprise_years", "ledger", "attributes"):
        assert t1[name].equals(t2[name]), name
    assert 2.0 < t1["lines"].height / 3000 < 2.5
    # every input table but the review requests (an inbox's optional reviews/ folder, issue #18)
    assert set(TABLES) - set(t1) == {"reviews"}
    for name, t in TABLES.items():
        if name not in t1:
            continue
        assert t1[name].columns == t.names
        assert t1[name].schema == pl.Schema({c.name: c.polars_type for c in t.columns}), name
    m = synthetic.write_inbox(t1, tmp_path / "pq", form="parquet")
    assert "reports/2021/line_years.parquet" in m["files"]
    back = pl.read_parquet(tmp_path / "pq/reports/2021/line_years.parquet")
    assert back.equals(t1["line_years"].filter(pl.col("year") == 2021))
    synthetic.write_inbox(t1, tmp_path / "csv", form="csv")
    csv = pl.read_csv(tmp_path / "csv/reports/2021/enterprise_years.csv", infer_schema=False)
    assert csv.columns == catalog.ENTERPRISE_YEARS.names
    assert (tmp_path / "csv/attributes/2023.csv").exists() and (tmp_path / "csv/ledger/ledger.csv").exists()
