"""Synthetic, contract-shaped inbox tables (data contract §1) from a roster and a seed.

Two uses:
- the embedded sample inbox `data/sample/` (real names of the 308 listed enterprises, synthetic
  numbers, a catalogue of edge cases on named lines; see `data/sample/generate.py`);
- scale benchmarks: `build_inbox(synthetic_roster(100_000, seed), seed)` builds ~1.3M line-years
  in seconds (everything is vectorised numpy/polars) and `write_inbox(..., form="parquet")`.

Tables come back typed as in `model/catalog.py` (Decimal(18,4) quantities, Decimal(18,6) grid
factors, Date, Boolean, Int64), keyed by catalog table name, so `transforms.CoreFrames
.from_tables(tables)` accepts them directly. The extra key `edge_cases` is a manifest (not an inbox
table) of the special cases and where they are.

The ordinary data come from `tools/generic_inbox.py`, the special cases from the table of
`tools/edge_cases.py`; `build_inbox` below is the order in which they are drawn and edited. Every
number is a function of the seed (numpy `Generator`s); nothing depends on dict/set iteration
order, clocks or the environment.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zlib
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

from model import catalog
from tools import edge_cases as cases
from tools import generic_inbox as gen
from tools.generic_inbox import BASE_YEARS, COMPLIANCE_YEARS, YEARS, parse_seed_roster, synthetic_roster

__all__ = [
    "BASE_YEARS",
    "COMPLIANCE_YEARS",
    "GENERATED_PATHS",
    "YEARS",
    "build_inbox",
    "parse_seed_roster",
    "synthetic_roster",
    "write_inbox",
]

_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_FIXED_TIMESTAMP = dt.datetime(2023, 11, 14, 0, 0, 0)  # workbook properties: stable output


def build_inbox(roster: pl.DataFrame, seed: int, *, edge_cases: bool = True) -> dict[str, pl.DataFrame]:
    """Contract-shaped inbox tables for the enterprises of `roster`.

    `roster` needs enterprise_id, name, sector_label (district and listed_years optional; listed
    years default to 2021,2022,2023). With `edge_cases`, the cases of `tools.edge_cases.CASES` are
    placed on enterprises picked by sector (skipped when the roster has no fitting enterprise) and
    the unlisted enterprise with ledger rows is appended. Returns {catalog table name: typed
    frame} plus `edge_cases` (the manifest).
    """
    rng = np.random.default_rng(seed)
    erng = np.random.default_rng([seed, 1])  # edge-case stream: keeps the generic data unchanged
    ent = gen.enterprise_frame(roster)
    kind = gen.enterprise_kinds(ent)
    n_p, n_s = gen.line_counts(kind, rng)
    # placed here, the hosts can see the drawn line counts
    hosts = cases.place(ent, kind, (n_p, n_s), erng) if edge_cases else {}
    cases.force_line_counts(hosts, n_p, n_s)

    lines = gen.line_register(ent, kind, n_p, n_s, rng)
    cases.edit_lines(lines, hosts, erng)
    shutdown = gen.shutdown_days(ent.height, rng)
    cases.edit_shutdown(shutdown, hosts)
    ly = gen.line_years(lines, shutdown, rng)
    cases.edit_line_years(ly, hosts)
    eid = ent["enterprise_id"]
    ey = gen.enterprise_years(ly, shutdown, eid, rng)

    listed = ent["listed_years"].to_numpy().astype(object)
    cases.edit_listing(listed, hosts)
    enterprises = ent.with_columns(listed_years=pl.Series(listed, dtype=pl.String))
    if edge_cases:
        enterprises = pl.concat([enterprises, cases.unlisted(enterprises, hosts)])
    listed_in = gen.listed_by_year(listed)

    ledger, facts = _ledger(ey, listed_in, hosts, enterprises["enterprise_id"], ly, rng)
    attrs = gen.attributes(ent["sector_label"].to_numpy(), rng)
    cases.edit_attributes(attrs, hosts)
    if ey.n_blank:
        facts["verified_total_blank"] = {"n_blank": ey.n_blank}

    out = {
        "enterprises": enterprises,
        "lines": lines.frame(eid),
        "line_years": ly.frame(eid),
        "enterprise_years": ey.frame,
        "attributes": attrs.frame(eid, listed_in),
        "ledger": ledger.select(catalog.LEDGER.names),
    }
    for t in catalog.INPUTS:
        if t.name in out:  # review requests (复核) are not part of the synthetic inbox
            out[t.name] = out[t.name].select([pl.col(c.name).cast(c.polars_type) for c in t.columns])
    out["edge_cases"] = cases.manifest(hosts, enterprises["enterprise_id"], lines, ledger, facts)
    return out


def _ledger(
    ey: gen.EnterpriseYears,
    listed_in: dict[int, np.ndarray],
    hosts: dict[str, int],
    eid: pl.Series,
    ly: gen.LineYears,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, dict[str, dict]]:
    """The numbered ledger (with `tag`): generic surrenders of every listed enterprise-year except
    those whose ledger an edge case writes, then the cases' rows; and the cases' README facts."""
    in_cy = ey.year >= COMPLIANCE_YEARS[0]
    e, y, total_c = ey.enterprise[in_cy], ey.year[in_cy], ey.total_c[in_cy]
    listed = np.select(
        [y == cy for cy in COMPLIANCE_YEARS], [listed_in[cy][e] for cy in COMPLIANCE_YEARS], False
    )
    generic = listed & ~np.isin(e, cases.own_ledger_hosts(hosts))
    obligation = -(-total_c // 100)  # ceil to whole tonnes
    generic_rows = gen.generic_ledger(eid.gather(e[generic]), y[generic], obligation[generic], rng)
    of_hosts = np.isin(e, list(hosts.values()))
    e_c = {
        (int(a), int(b)): int(c) for a, b, c in zip(e[of_hosts], y[of_hosts], total_c[of_hosts], strict=True)
    }
    special, facts = cases.ledger_rows(hosts, eid, e_c, ly)
    return gen.numbered_ledger(generic_rows, special), facts


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------
def _csv_frame(df: pl.DataFrame, zh: bool = False, table: catalog.Table | None = None) -> pl.DataFrame:
    """Decimals as exact strings without trailing zeros; bools as true/false (是/否 with zh)."""
    exprs = []
    for c, t in df.schema.items():
        col = pl.col(c)
        if isinstance(t, pl.Decimal):
            col = col.cast(pl.String).str.replace(r"\.?0+$", "")
        elif t == pl.Boolean and zh:
            col = pl.when(col).then(pl.lit("是")).when(~col).then(pl.lit("否")).otherwise(None)
        exprs.append(col.alias(c))
    out = df.select(exprs)
    if zh and table is not None:
        out = out.rename({c.name: c.zh for c in table.columns if c.name in out.columns})
    return out


def _xlsx_value(v):
    if v is None:
        return None
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def _write_xlsx(path: Path, sheets: list[tuple[str, pl.DataFrame]]) -> None:
    """Workbook with fixed properties (byte-stable): real Excel dates, numbers as numbers."""
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(
        str(path), {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False}
    )
    wb.set_properties({"created": _FIXED_TIMESTAMP, "author": "etsflow synthetic", "title": path.stem})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    bold = wb.add_format({"bold": True})
    for name, df in sheets:
        ws = wb.add_worksheet(name)
        ws.write_row(0, 0, df.columns, bold)
        date_cols = {i for i, t in enumerate(df.dtypes) if t == pl.Date}
        for r, values in enumerate(df.iter_rows(), start=1):
            for c, v in enumerate(values):
                if v is None:
                    continue
                if c in date_cols:
                    ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), date_fmt)
                else:
                    ws.write(r, c, _xlsx_value(v))
        ws.set_column(0, max(len(df.columns) - 1, 0), 14)
    wb.close()


def _write_text(path: Path, text: str, encoding: str = "utf-8", bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)


def _is_workbook_enterprise(eid: str) -> bool:
    """About a third of the enterprises report as one workbook per year (stable, order-free)."""
    return zlib.crc32(eid.encode("utf-8")) % 3 == 0


GENERATED_PATHS = (
    "enterprises.csv",
    "enterprises.parquet",
    "lines.xlsx",
    "lines.csv",
    "lines.parquet",
    "reports",
    "attributes",
    "ledger",
)


def _clean(out: Path) -> None:
    for name in GENERATED_PATHS:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def write_inbox(tables: dict[str, pl.DataFrame], out_dir: str | Path, form: str = "sample") -> dict:
    """Write the tables as an inbox (contract §1). Returns a small manifest of what was written.

    form = "sample": the mixed form of `data/sample/` — enterprises.csv (UTF-8 BOM, Chinese
    headers), lines.xlsx, per-enterprise report workbooks for about a third of the enterprises and
    flat CSVs for the rest (2022: GB18030, Chinese headers, full-width digits in three output
    values), attributes/<year>.csv, ledger/ledger.csv + ledger/ledger_2023.xlsx.
    form = "parquet" | "csv": one file per table, reports as reports/<year>/line_years.<ext> and
    enterprise_years.<ext>; attributes always as CSV (the contract reads attributes as csv|xlsx).
    Previously generated files under `out_dir` (GENERATED_PATHS) are removed first.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    if form == "sample":
        return _write_sample(tables, out)
    if form not in ("parquet", "csv"):
        raise ValueError(f"unknown form {form!r}: sample, parquet or csv")
    files: list[str] = []

    def put(df: pl.DataFrame, rel: str) -> None:
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".parquet"):
            df.write_parquet(p, statistics=False)
        else:
            _write_text(p, _csv_frame(df).write_csv())
        files.append(rel)

    put(tables["enterprises"], f"enterprises.{form}")
    put(tables["lines"], f"lines.{form}")
    for (y,), ly in tables["line_years"].partition_by("year", as_dict=True, maintain_order=True).items():
        put(ly, f"reports/{y}/line_years.{form}")
    for (y,), ey in (
        tables["enterprise_years"].partition_by("year", as_dict=True, maintain_order=True).items()
    ):
        put(ey, f"reports/{y}/enterprise_years.{form}")
    for (y,), at in tables["attributes"].partition_by("year", as_dict=True, maintain_order=True).items():
        p = out / f"attributes/{y}.csv"
        _write_text(p, _csv_frame(at).write_csv())
        files.append(f"attributes/{y}.csv")
    put(tables["ledger"], f"ledger/ledger.{form}")
    return {"files": sorted(files), "fullwidth": [], "workbook_enterprises": 0}


def _write_sample(tables: dict[str, pl.DataFrame], out: Path) -> dict:
    """The mixed form of `data/sample/` (see `write_inbox`)."""
    ent = tables["enterprises"]
    _write_text(
        out / "enterprises.csv", _csv_frame(ent, zh=True, table=catalog.ENTERPRISES).write_csv(), bom=True
    )
    _write_xlsx(out / "lines.xlsx", [("lines", tables["lines"])])
    files = ["enterprises.csv", "lines.xlsx"]

    in_workbook = pl.col("enterprise_id").map_elements(_is_workbook_enterprise, return_dtype=pl.Boolean)
    ly_all = tables["line_years"].with_columns(_wb=in_workbook)
    ey_all = tables["enterprise_years"].with_columns(_wb=in_workbook)
    edge = tables.get("edge_cases")
    avoid = set(edge["enterprise_id"].to_list()) if edge is not None else set()  # keep edge cases clean
    fullwidth: list[dict] = []
    for y in YEARS:
        ly = ly_all.filter(pl.col("year") == y)
        ey = ey_all.filter(pl.col("year") == y)
        files += _write_report_workbooks(
            out, y, ly.filter(pl.col("_wb")).drop("_wb"), ey.filter(pl.col("_wb")).drop("_wb")
        )
        ly_flat = ly.filter(~pl.col("_wb")).drop("_wb")
        ey_flat = ey.filter(~pl.col("_wb")).drop("_wb")
        if y == 2022:
            files += _write_gb18030_reports(out, y, ly_flat, ey_flat, avoid, fullwidth)
        else:
            _write_text(out / f"reports/{y}/line_years.csv", _csv_frame(ly_flat).write_csv())
            _write_text(out / f"reports/{y}/enterprise_years.csv", _csv_frame(ey_flat).write_csv())
            files += [f"reports/{y}/line_years.csv", f"reports/{y}/enterprise_years.csv"]

    for (y,), at in tables["attributes"].partition_by("year", as_dict=True, maintain_order=True).items():
        _write_text(out / f"attributes/{y}.csv", _csv_frame(at).write_csv())
        files.append(f"attributes/{y}.csv")
    led = tables["ledger"]
    _write_text(
        out / "ledger/ledger.csv", _csv_frame(led.filter(pl.col("compliance_year") < 2023)).write_csv()
    )
    _write_xlsx(out / "ledger/ledger_2023.xlsx", [("ledger", led.filter(pl.col("compliance_year") >= 2023))])
    files += ["ledger/ledger.csv", "ledger/ledger_2023.xlsx"]
    n_workbook = ey_all.filter(pl.col("_wb"))["enterprise_id"].n_unique()
    return {"files": sorted(files), "fullwidth": fullwidth, "workbook_enterprises": n_workbook}


def _write_report_workbooks(out: Path, y: int, ly: pl.DataFrame, ey: pl.DataFrame) -> list[str]:
    """One workbook per enterprise of `ey`: sheets `enterprise` (its row) and `lines`."""
    files = []
    by_ent = ly.partition_by("enterprise_id", as_dict=True, maintain_order=True)
    for row in ey.sort("enterprise_id").iter_slices(1):
        e = row["enterprise_id"][0]
        rel = f"reports/{y}/{e}.xlsx"
        _write_xlsx(out / rel, [("enterprise", row), ("lines", by_ent[(e,)])])
        files.append(rel)
    return files


def _write_gb18030_reports(
    out: Path, y: int, ly: pl.DataFrame, ey: pl.DataFrame, avoid: set[str], fullwidth: list[dict]
) -> list[str]:
    """核查数据_生产线.csv and 核查数据_单位.csv: GB18030, Chinese headers, full-width digits in
    the output of three lines (of enterprises not in `avoid`), recorded in `fullwidth`."""
    lyc = _csv_frame(ly, zh=True, table=catalog.LINE_YEARS)
    col = catalog.LINE_YEARS.column("output").zh
    pick = [
        i
        for i, (e, lid) in enumerate(zip(ly["enterprise_id"], ly["line_id"], strict=True))
        if e not in avoid and zlib.crc32(lid.encode()) % 101 == 0
    ][:3]
    vals = lyc[col].to_list()
    lines_file = f"reports/{y}/核查数据_生产线.csv"
    for i in pick:
        vals[i] = vals[i].translate(_FULLWIDTH)
        fullwidth.append({"file": lines_file, "line_id": ly["line_id"][i], "column": col, "value": vals[i]})
    lyc = lyc.with_columns(pl.Series(col, vals, dtype=pl.String))
    _write_text(out / lines_file, lyc.write_csv(), encoding="gb18030")
    eyc = _csv_frame(ey, zh=True, table=catalog.ENTERPRISE_YEARS)
    _write_text(out / f"reports/{y}/核查数据_单位.csv", eyc.write_csv(), encoding="gb18030")
    return [lines_file, f"reports/{y}/核查数据_单位.csv"]
