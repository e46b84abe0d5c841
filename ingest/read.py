"""Read an inbox (contract §1) into raw text tables with provenance.

Every cell is kept as text, exactly as read; typing happens in `validations`. Each row carries
`_source_file` (relative to the inbox), `_sheet`, `_row` (the row number a spreadsheet shows:
header = 1) and `_file_hash` (sha256 of the file). File-level problems (unreadable, empty,
unrecognised, duplicate headers) are recorded in the manifest, never raised, so that one bad file
does not hide the others.

Nothing is skipped quietly (docs/operations.md §10):
- every file under the inbox has a manifest row (`raw.files`): read, or `note` says why not.
  A file under the known folders (`reports/`, `attributes/`, `ledger/`) that cannot be read
  (another format, a place no table lives) is an `error`; elsewhere it is listed as not read;
- every sheet of every workbook is read or has a manifest row saying why not. Hidden sheets are
  never read as data (old drafts); a workbook whose only data is on hidden sheets is an error
  naming them. Report workbooks are read sheet by sheet, recognised by name (`enterprise`/企业/单位,
  `lines`/生产线) or by columns; a sheet recognised neither way is an error naming the workbook
  and its sheets. Other workbooks: the first visible sheet holds the table;
- cells that hold no value the file means are row problems (`Inbox.problems`, `raw.problems`),
  quarantined by file, sheet, row and column: Excel error cells (`#DIV/0!`, `#N/A`, …), formulas
  never calculated (no stored value), and CSV rows with fewer or more fields than the header;
- file names that are not UTF-8 (GBK names from a zip unpacked on Linux) are stored and printed
  decoded as GB18030, else with their undecodable bytes escaped (`readable_path`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import fastexcel
import numpy as np
import polars as pl

from ingest.headers import map_headers, recognise_report, recognise_sheet

EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}  # calamine reads them all, .xls too
DATA_SUFFIXES = {".csv", ".parquet"} | EXCEL_SUFFIXES
KNOWN_FOLDERS = ("reports", "attributes", "ledger", "reviews")
PROVENANCE = ["_source_file", "_sheet", "_row", "_file_hash"]
YEARLY_TABLES = ("line_years", "enterprise_years", "attributes", "reviews")  # rows carry _folder_year
RAW_TABLES = ("enterprises", "lines", "line_years", "enterprise_years", "attributes", "ledger", "reviews")
EMPTY_RAW = {"_source_file": pl.String, "_sheet": pl.String, "_row": pl.Int64, "_file_hash": pl.String}
MANIFEST_SCHEMA = {
    "source_file": pl.String,
    "sheet": pl.String,
    "table_name": pl.String,
    "encoding": pl.String,
    "rows": pl.Int64,
    "columns": pl.String,
    "file_hash": pl.String,
    "folder_year": pl.Int64,
    "error": pl.String,
    "note": pl.String,
}
# cells and rows that hold no value the file means (error cells, formulas never calculated,
# ragged CSV rows): quarantined by validation, by file, sheet, row and column
PROBLEM_SCHEMA = {
    "table_name": pl.String,
    "source_file": pl.String,
    "sheet": pl.String,
    "row_number": pl.Int64,
    "column_name": pl.String,
    "value": pl.String,
    "message": pl.String,
}


@dataclass
class Inbox:
    """What ingest read: raw text frames per table and a manifest row per file/sheet."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    manifest: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MANIFEST_SCHEMA))
    problems: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PROBLEM_SCHEMA))

    @property
    def not_read(self) -> list[str]:
        """Files and sheets listed but not read (hidden sheets, files in no known place), with why."""
        m = self.manifest.filter(pl.col("note").is_not_null() & pl.col("error").is_null())
        return [
            f"{r['source_file']}" + (f" sheet {r['sheet']}" if r["sheet"] else "") + f" ({r['note']})"
            for r in m.iter_rows(named=True)
        ]

    @property
    def file_hashes(self) -> dict[str, str]:
        rows = (
            self.manifest.filter(pl.col("file_hash").is_not_null())
            .select("source_file", "file_hash")
            .unique()
            .sort("source_file")
        )
        return {r["source_file"]: r["file_hash"] for r in rows.iter_rows(named=True)}


class InboxError(Exception):
    """The inbox folder itself is unusable (missing, not a folder)."""


def readable_path(path: str | Path) -> str:
    """A path as text that can be stored and printed. Names that are not UTF-8 (GBK names from a
    zip unpacked on Linux) reach Python as lone surrogates (surrogateescape), which cannot be
    written anywhere: decode their bytes as GB18030, else escape the undecodable bytes (\\xNN)."""
    s = path.as_posix() if isinstance(path, Path) else str(path)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        pass
    data = os.fsencode(s)
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="backslashreplace")


def inbox_listing(inbox: Path) -> list[tuple[Path, str | None]]:
    """Every file under the inbox, sorted, with why it is never opened (None: it is read or
    judged by ingest): editor lock files and hidden files."""
    out = []
    for path in sorted(p for p in Path(inbox).rglob("*") if p.is_file()):
        rel = path.relative_to(inbox)
        skip = None
        if any(part.startswith("~$") for part in rel.parts):
            skip = "not read: an editor's lock file"
        elif any(part.startswith(".") for part in rel.parts):
            skip = "not read: a hidden file"
        out.append((path, skip))
    return out


def judged(rel: Path) -> bool:
    """Whether ingest reads a file, or rejects it (an error), rather than only listing it as not
    read: data formats anywhere, and every file under the known folders or named like a table."""
    return (
        rel.suffix.lower() in DATA_SUFFIXES
        or _table_of(rel)[0] is not None
        or (len(rel.parts) > 1 and rel.parts[0] in KNOWN_FOLDERS)
    )


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def decode_csv(data: bytes) -> tuple[str, str]:
    """Text and encoding of a CSV: UTF-8 (BOM or not), else GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 or GB18030/GBK text (byte {e.start})") from None


_QUOTED = re.compile(r'"[^"]*"')


def _field_counts(text: str) -> tuple[pl.Series, pl.Series]:
    """Fields of every record of CSV text, header first, and which records are blank lines (Polars
    reads those as rows of nulls). Quoted fields are blanked first, so that their commas and line
    breaks do not count; vectorised, so that big files cost little."""
    plain = _QUOTED.sub('""', text) if '"' in text else text
    if "\x1f" in plain:  # (the separator of the fast path below: never in real files)
        lines = pl.Series(plain.split("\n"), dtype=pl.String).str.strip_suffix("\r")
        if lines.len() and lines[-1] == "":
            lines = lines.head(-1)
    else:  # every line as one field, in parallel: 3× faster than splitting in Python
        lines = pl.read_csv(
            plain.encode("utf-8"),
            has_header=False,
            separator="\x1f",
            quote_char=None,
            new_columns=["line"],
            infer_schema=False,
        )["line"]
    return (
        (lines.str.count_matches(",", literal=True) + 1).fill_null(1),
        lines.str.strip_chars().fill_null("") == "",
    )


def _ragged_message(header: list[str], fields: list[str]) -> tuple[int | None, str, str]:
    """(column index, value, message) of a record whose field count differs from the header's."""
    n, m = len(fields), len(header)
    if n < m:
        missing = ", ".join(header[n:])
        return (
            n,
            ",".join(fields),
            f"the row has {n} fields, the header has {m}: {missing} missing (a row cut short?); "
            "none of its values is used / 字段数少于表头",
        )
    if n == m + 1:
        for i in range(n - 1):
            a, b = fields[i].strip(), fields[i + 1].strip()
            if re.fullmatch(r"[+-]?\d{1,3}", a) and re.fullmatch(r"\d{3}(\.\d+)?", b):
                return (
                    i,
                    ",".join(fields),
                    f"the row has {n} fields, the header has {m}: probably an unquoted thousands "
                    f"separator in {header[i]} ('{a},{b}'); write {a}{b} or quote the value; none of "
                    "its values is used / 字段数多于表头(疑似千分位逗号未加引号)",
                )
    return (
        None,
        ",".join(fields),
        f"the row has {n} fields, the header has {m}: a value with an unquoted comma (e.g. a thousands "
        "separator like 1,234)? none of its values is used / 字段数多于表头",
    )


def _read_csv(path: Path) -> tuple[pl.DataFrame, str, list[tuple[int, int | None, str, str]]]:
    """The frame, the encoding, and the ragged records as (row, column index, value, message).

    A ragged record (fewer or more fields than the header) is reported, and kept in the frame as
    read (cut to the header's width, or padded with nulls) so that row numbers stay true and its
    enterprise is known; validation quarantines it whole, none of its values is used."""
    text, encoding = decode_csv(path.read_bytes())
    if not text.strip():
        raise ValueError("the file is empty (no header row)")
    counts, blank = _field_counts(text)
    if ((counts == counts[0]) | blank).all():
        df = pl.read_csv(
            text.encode("utf-8"),
            infer_schema=False,
            has_header=True,
            missing_columns="insert",
            truncate_ragged_lines=False,
        )
        return df, encoding, []
    # exact parse of every record (only files with ragged rows take this path)
    records = list(csv.reader(io.StringIO(text, newline="")))
    header = _unique(records[0])
    rows, problems = [], []
    for i, rec in enumerate(records[1:]):
        if not rec or len(rec) == len(header):
            rows.append(rec or [None] * len(header))
            continue
        col, value, message = _ragged_message(header, rec)
        problems.append((i + 2, col, value, message))
        rows.append((rec + [None] * len(header))[: len(header)])
    df = pl.DataFrame(rows, schema={h: pl.String for h in header}, orient="row")
    return df, encoding, problems


def _unique(header: list[str]) -> list[str]:
    out: list[str] = []
    for h in header:
        name, k = h, 0
        while name in out:
            name, k = f"{h}_duplicated_{k}", k + 1
        out.append(name)
    return out


@dataclass
class Sheet:
    name: str
    df: pl.DataFrame
    visible: bool
    problems: list[tuple[int, int | None, str, str]]  # (row, column index, value, message)


_EXCEL_ERRORS = {
    "Div0": "#DIV/0!",
    "NA": "#N/A",
    "Value": "#VALUE!",
    "Ref": "#REF!",
    "Name": "#NAME?",
    "Num": "#NUM!",
    "Null": "#NULL!",
    "GettingData": "#GETTING_DATA",
}


def _error_code(detail: str) -> str | None:
    m = re.search(r"Error\((\w+)\)", detail)
    return _EXCEL_ERRORS.get(m.group(1), f"#{m.group(1).upper()}") if m else None


def _read_sheets(path: Path) -> list[Sheet]:
    """Every sheet of a workbook, hidden or not, each with its problem cells: Excel error cells
    (calamine reports them; as text they would read as empty), any other cell calamine cannot give
    as text, and formulas without a stored value (never calculated: calamine reads them as empty;
    found in the sheet's XML of .xlsx/.xlsm — .xls and .xlsb files always store a formula's result)."""
    try:
        reader = fastexcel.read_excel(str(path))
    except Exception as e:  # fastexcel raises its own error types for corrupt files
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot be read as an Excel workbook ({first_line})") from None
    uncalculated = _formulas_without_value(path) if path.suffix.lower() in (".xlsx", ".xlsm") else {}
    out = []
    for name in reader.sheet_names:
        sheet = reader.load_sheet(name, dtypes="string")
        batch, errors = sheet.to_arrow_with_errors()
        df = pl.DataFrame(batch)  # through the Arrow C interface: ~40 µs a sheet less than from_arrow
        if any(dtype != pl.String for dtype in df.dtypes):  # calamine gives text; guard an odd column
            df = df.cast(pl.String)
        problems = []
        for err in errors.errors if errors is not None else ():
            row, col = err.offset_position
            if (code := _error_code(err.detail)) is None:  # numbers, dates, booleans read as text; else:
                problems.append((row + 2, col, None, f"the cell could not be read as text ({err.detail})"))
                continue
            problems.append(
                (
                    row + 2,
                    col,
                    code,
                    f"the cell holds the Excel error {code}, not a value: correct the formula or type "
                    "the value / 单元格为Excel错误值",
                )
            )
        for row, col, ref, formula in uncalculated.get(name, ()):
            problems.append(
                (
                    row,
                    col,
                    f"={formula}",
                    f"cell {ref} holds a formula that was never calculated (no stored value): open the "
                    "workbook in Excel or WPS and save it, or type the value / 公式未计算，无数值",
                )
            )
        out.append(Sheet(name, df, str(sheet.visible) == "visible", problems))
    return out


_CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_FORMULA = re.compile(rb"<f\b[^>]*?(?:/>|>(.*?)</f>)", re.S)
_VALUE = re.compile(rb"<v>[^<]+</v>|<is>")


def _formulas_without_value(path: Path) -> dict[str, list[tuple[int, int, str, str]]]:
    """sheet name → (row, column index, cell reference, formula) of every formula cell with no
    stored value, from the workbook's XML. Sheets without formulas cost one substring search."""
    out: dict[str, list[tuple[int, int, str, str]]] = {}
    try:
        with zipfile.ZipFile(path) as z:
            wb = z.read("xl/workbook.xml")
            rels = z.read("xl/_rels/workbook.xml.rels")
            targets = {
                m.group(1).decode(): m.group(2).decode()
                for m in re.finditer(rb'<Relationship\b[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)
            }
            targets |= {
                m.group(2).decode(): m.group(1).decode()
                for m in re.finditer(rb'<Relationship\b[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)
            }
            for m in re.finditer(rb"<sheet\b([^>]*)/?>", wb):
                attrs = m.group(1)
                name_m = re.search(rb'\bname="([^"]*)"', attrs)
                rid_m = re.search(rb'\br:id="([^"]*)"', attrs)
                if not name_m or not rid_m or rid_m.group(1).decode() not in targets:
                    continue
                target = targets[rid_m.group(1).decode()]
                member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                data = z.read(member)
                if b"<f" not in data:
                    continue
                name = _xml_text(name_m.group(1))
                for cm in _CELL.finditer(data):
                    body = cm.group(2) or b""
                    f = _FORMULA.search(body)
                    if f is None or _VALUE.search(body):
                        continue
                    ref = _REF.search(cm.group(1))
                    if ref is None:
                        continue
                    letters, row = ref.group(1).decode(), int(ref.group(2))
                    col = 0
                    for ch in letters:
                        col = col * 26 + ord(ch) - 64
                    formula = _xml_text(f.group(1) or b"")
                    out.setdefault(name, []).append((row, col - 1, f"{letters}{row}", formula))
    except (KeyError, zipfile.BadZipFile, OSError):
        return out  # not the usual layout: calamine has read it; nothing more to find here
    return out


def _xml_text(b: bytes) -> str:
    import html

    return html.unescape(b.decode("utf-8"))


def _read_parquet(path: Path) -> pl.DataFrame:
    df = pl.read_parquet(path)
    return df.with_columns(pl.all().cast(pl.String))


@dataclass
class _Piece:
    """One file's or sheet's cells (columns already named as the table's), waiting for its table
    to be built: where it came from, and its manifest entry (whose row count is filled then)."""

    df: pl.DataFrame | None  # None once its table is built
    source_file: str
    sheet: str | None
    file_hash: str
    folder_year: int | None
    entry: dict


def _raw_table(pieces: list[_Piece]) -> pl.DataFrame:
    """The raw frame of one table from all its pieces, in one pass: cells stripped, empty text as
    null, provenance added, rows with no value dropped (row numbers stay true), and each piece's
    manifest entry given its row count.

    One frame build per table, not one per sheet: the sample's ~1,000 workbook sheets spent most of
    their reading time in Polars' per-query overhead. Columns come in the order of their first
    appearance (each piece's data columns, then the provenance), `_folder_year` where a piece of
    a yearly folder has it."""
    if not pieces:
        return pl.DataFrame(schema=EMPTY_RAW)
    yearly = any(p.folder_year is not None for p in pieces)
    tail = PROVENANCE + (["_folder_year"] if yearly else [])
    order = list(dict.fromkeys(c for p in pieces for c in [*p.df.columns, *tail]))
    heights = np.array([p.df.height for p in pieces], dtype=np.int64)
    which = np.repeat(np.arange(len(pieces)), heights)  # the piece of every row
    starts = np.cumsum(heights) - heights
    meta = pl.DataFrame(
        [(p.source_file, p.sheet, p.file_hash, p.folder_year) for p in pieces],
        schema={c: EMPTY_RAW[c] for c in ("_source_file", "_sheet", "_file_hash")}
        | {"_folder_year": pl.Int64},
        orient="row",
    )[which]
    cells = pl.concat([p.df for p in pieces], how="diagonal", rechunk=False)  # no copy yet
    data_cols = [c for c in cells.columns if c not in tail]
    row = pl.Series("_row", np.arange(len(which)) - starts[which] + 2, dtype=pl.Int64)
    df = cells.select(pl.col(data_cols).str.strip_chars().replace("", None)).with_columns(
        [row, *(meta[c] for c in tail if c != "_row")]
    )
    del cells  # the cells as read are let go before the filter copies the table (peak memory)
    for p in pieces:
        p.df = None
    keep = ~pl.all_horizontal(pl.col(data_cols).is_null())
    kept = df.select(keep).to_series().to_numpy()
    for p, n in zip(pieces, np.bincount(which[kept], minlength=len(pieces)), strict=True):
        p.entry["rows"] = int(n)
    return df.filter(pl.Series(kept)).select(order)


def _table_of(rel: Path) -> tuple[str | None, int | None]:
    """Which table a file holds, from its place in the inbox; ('reports', year) for reports."""
    parts = rel.parts
    stem = rel.stem.lower()
    if len(parts) == 1 and stem in ("enterprises", "lines"):
        return stem, None
    if len(parts) == 3 and parts[0] == "reports" and re.fullmatch(r"\d{4}", parts[1]):
        return "reports", int(parts[1])
    if len(parts) == 2 and parts[0] == "attributes":
        return "attributes", int(stem) if re.fullmatch(r"\d{4}", stem) else None
    if len(parts) == 2 and parts[0] == "ledger":
        return "ledger", None
    if len(parts) == 2 and parts[0] == "reviews":  # review requests (复核申请), contract §5
        return "reviews", int(stem) if re.fullmatch(r"\d{4}", stem) else None
    return None, None


def _not_read_reason(rel: Path, table: str | None) -> tuple[str | None, str | None]:
    """(error, note) for a file ingest does not read: an error under the known folders or with
    the name of a table, a note elsewhere (README, scripts, other folders)."""
    suffix = rel.suffix.lower()
    known = len(rel.parts) > 1 and rel.parts[0] in KNOWN_FOLDERS
    if suffix not in DATA_SUFFIXES:
        why = f"{suffix or 'a file without extension'} is not a data format (CSV, Excel, Parquet)"
    else:
        why = "no table lives in this place (contract §1)"
    if known or table is not None:
        return (
            f"not read: {why}; the pipeline reads CSV, Excel (.xlsx/.xlsm/.xls/.xlsb/.ods) and Parquet, "
            "reports in reports/<year>/, attributes as attributes/<year>.csv, surrenders in ledger/, "
            "review requests as reviews/<year>.csv: "
            "convert or move the file, or take it out of the inbox / 无法读取的文件",
            None,
        )
    return None, f"not read: {why}"


def _plan_sheets(
    table: str, sheets: list[Sheet]
) -> list[tuple[Sheet | None, str | None, str | None, str | None]]:
    """(sheet, target table, error, note) for every sheet of a workbook of `table`: each visible
    sheet read or said why not, hidden sheets never read. A (None, …) entry is about the workbook."""
    names = ", ".join(f"'{x.name}'" + ("" if x.visible else " (hidden)") for x in sheets)

    def empty(x: Sheet) -> bool:
        return x.df.width == 0

    def recognised(x: Sheet) -> str | None:
        if table != "reports":
            return table
        return recognise_sheet(x.name) or recognise_report(x.df.columns)

    plan: list[tuple[Sheet | None, str | None, str | None, str | None]] = []
    read: dict[str, str] = {}
    visible = [x for x in sheets if x.visible]
    first = next((x for x in visible if not empty(x)), None)
    for x in visible:
        if empty(x):
            plan.append((x, None, None, "not read: the sheet is empty"))
        elif table != "reports" and x is not first:
            plan.append(
                (x, None, None, f"not read: the first visible sheet ('{first.name}') holds the table")
            )
        elif (target := recognised(x)) is None:
            plan.append(
                (
                    x,
                    None,
                    f"sheet '{x.name}' is not recognised as a report (the workbook's sheets: {names}): a "
                    "report workbook has a sheet enterprise (企业/单位) and a sheet lines (生产线), or "
                    "sheets recognised by their columns (line_id: line-years; shutdown_days: "
                    "enterprise-years) / 工作表无法识别",
                    None,
                )
            )
        else:
            plan.append((x, target, None, None))
            read.setdefault(target, x.name)
    hidden_data = []
    for x in sheets:
        if x.visible:
            continue
        note = "not read: hidden sheets are never read as data"
        if not empty(x):
            hidden_data.append(x.name)
            target = recognised(x)
            if target in read:
                note += f"; the visible sheet '{read[target]}' with the same table was read"
        plan.append((x, None, None, note))
    if not read and not any(err for _, _, err, _ in plan):
        if hidden_data:
            error = (
                f"the workbook's only data is on hidden sheet(s) {', '.join(repr(n) for n in hidden_data)} "
                f"(its sheets: {names}): hidden sheets are never read as data; unhide the sheet that "
                "holds the current data and delete old drafts / 数据仅在隐藏工作表中"
            )
        else:
            error = "the file is empty (no header row)"
        plan.append((None, None, error, None))
    return plan


def read_inbox(inbox: Path) -> Inbox:
    """Read every data file of the inbox; every other file is listed in the manifest, with an
    error under the known folders and a note elsewhere (module docstring)."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise InboxError(f"inbox {readable_path(inbox)} is not a folder")
    pieces: dict[str | None, list[_Piece]] = {t: [] for t in (*RAW_TABLES, None)}
    manifest: list[dict] = []
    problems: list[dict] = []
    empty_entry = {"sheet": None, "table_name": None, "rows": 0, "columns": None, "error": None, "note": None}
    for path, skip in inbox_listing(inbox):
        rel = path.relative_to(inbox)
        rel_s = readable_path(rel)
        table, year = _table_of(rel)
        base = {"source_file": rel_s, "file_hash": None, "folder_year": year, "encoding": None}
        if skip:
            manifest.append(base | empty_entry | {"note": skip})
            continue
        base["file_hash"] = digest = sha256(path)
        suffix = path.suffix.lower()
        if table is None or suffix not in DATA_SUFFIXES:
            error, note = _not_read_reason(rel, table)
            where = table or (rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in KNOWN_FOLDERS else None)
            manifest.append(base | empty_entry | {"table_name": where, "error": error, "note": note})
            continue
        try:
            if suffix == ".csv":
                df, enc, ragged = _read_csv(path)
                plan = [(Sheet(None, df, True, ragged), None if table == "reports" else table, None, None)]
                base["encoding"] = enc
            elif suffix == ".parquet":
                plan = [
                    (
                        Sheet(None, _read_parquet(path), True, []),
                        None if table == "reports" else table,
                        None,
                        None,
                    )
                ]
            else:
                plan = _plan_sheets(table, _read_sheets(path))
        except Exception as e:  # any read failure is a file-level problem, recorded not raised
            msg = str(e) if isinstance(e, ValueError) else f"cannot be read ({type(e).__name__}: {e})"
            manifest.append(base | empty_entry | {"table_name": table, "error": msg})
            continue
        for sheet, target, error, note in plan:
            df = sheet.df if sheet is not None else pl.DataFrame()
            name = sheet.name if sheet is not None else None
            if table == "reports" and target is None and suffix in (".csv", ".parquet"):
                target = recognise_report(df.columns)
                if target is None and df.width:
                    error = (
                        "not recognised as a report: a line-year file needs a line_id column, "
                        "an enterprise-year file shutdown_days"
                    )
            entry = base | empty_entry | {"sheet": name, "table_name": target or table, "note": note}
            if error or note:
                manifest.append(entry | {"error": error, "columns": ",".join(df.columns) or None})
                continue
            if df.width == 0 or (df.height == 0 and not df.columns):
                manifest.append(entry | {"error": "the file is empty (no header row)"})
                continue
            names, header_problems = map_headers(df.columns, target)
            df.columns = names
            entry |= {"columns": ",".join(names), "error": "; ".join(header_problems) or None}
            manifest.append(entry)
            yearly = year is not None and target in YEARLY_TABLES
            # a sheet refused for its header is built too (apart), for the rows its manifest entry counts
            pieces[None if header_problems else target].append(
                _Piece(df, rel_s, name, digest, year if yearly else None, entry)
            )
            if header_problems:
                continue
            for row, col, value, message in sheet.problems:
                problems.append(
                    {
                        "table_name": target,
                        "source_file": rel_s,
                        "sheet": name,
                        "row_number": row,
                        "column_name": names[col] if col is not None and 0 <= col < len(names) else None,
                        "value": value,
                        "message": message,
                    }
                )
    _raw_table(pieces.pop(None))
    # each table's pieces let go once it is built (100,000 enterprises: ~0.4 GiB of read cells)
    tables = {t: _raw_table(pieces.pop(t)) for t in RAW_TABLES}
    return Inbox(
        tables=tables,
        manifest=pl.DataFrame(manifest, schema=MANIFEST_SCHEMA),
        problems=pl.DataFrame(problems, schema=PROBLEM_SCHEMA),
    )
