"""Read an inbox (contract §1) into raw text tables with provenance.

Every cell is kept as text, exactly as read; typing happens in `validations`. Each row carries
`_source_file` (relative to the inbox), `_sheet`, `_row` (the row number a spreadsheet shows:
header = 1) and `_file_hash` (sha256 of the file). File-level problems (unreadable, empty,
unrecognised, duplicate headers) are recorded in the manifest, never raised, so that one bad file
does not hide the others.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import fastexcel
import polars as pl

from ingest.headers import map_headers, recognise_report

DATA_SUFFIXES = {".csv", ".xlsx", ".xlsm", ".parquet"}
PROVENANCE = ["_source_file", "_sheet", "_row", "_file_hash"]
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
}


@dataclass
class Inbox:
    """What ingest read: raw text frames per table and a manifest row per file/sheet."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    manifest: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MANIFEST_SCHEMA))

    @property
    def file_hashes(self) -> dict[str, str]:
        rows = self.manifest.select("source_file", "file_hash").unique().sort("source_file")
        return {r["source_file"]: r["file_hash"] for r in rows.iter_rows(named=True)}


class InboxError(Exception):
    """The inbox folder itself is unusable (missing, not a folder)."""


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


def _read_csv(path: Path) -> tuple[pl.DataFrame, str]:
    text, encoding = decode_csv(path.read_bytes())
    if not text.strip():
        raise ValueError("the file is empty (no header row)")
    df = pl.read_csv(
        text.encode("utf-8"),
        infer_schema=False,
        has_header=True,
        missing_columns="insert",
        truncate_ragged_lines=False,
    )
    return df, encoding


def _read_sheets(path: Path) -> list[tuple[str, pl.DataFrame]]:
    try:
        reader = fastexcel.read_excel(str(path))
    except Exception as e:  # fastexcel raises its own error types for corrupt files
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot be read as an Excel workbook ({first_line})") from None
    out = []
    for name in reader.sheet_names:
        sheet = reader.load_sheet(name, dtypes="string")
        out.append((name, sheet.to_polars()))
    return out


def _read_parquet(path: Path) -> pl.DataFrame:
    df = pl.read_parquet(path)
    return df.with_columns(pl.all().cast(pl.String))


def _with_provenance(df: pl.DataFrame, rel: str, sheet: str | None, digest: str) -> pl.DataFrame:
    """Strip cells, add provenance, drop rows that are entirely empty (row numbers stay true)."""
    # every column by one expression: inboxes of many small workbooks spent most of their reading
    # time building one expression per column
    df = df.select(pl.all().cast(pl.String).str.strip_chars().replace("", None)).with_columns(
        pl.lit(rel).alias("_source_file"),
        pl.lit(sheet, dtype=pl.String).alias("_sheet"),
        (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("_row"),
        pl.lit(digest).alias("_file_hash"),
    )
    data_cols = [c for c in df.columns if c not in PROVENANCE]
    if data_cols:
        df = df.filter(~pl.all_horizontal(pl.col(data_cols).is_null()))
    return df


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


def read_inbox(inbox: Path) -> Inbox:
    """Read every data file of the inbox. Unknown places are listed in the manifest and skipped."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise InboxError(f"inbox {inbox} is not a folder")
    frames: dict[str, list[pl.DataFrame]] = {t: [] for t in RAW_TABLES}
    manifest: list[dict] = []
    for path in sorted(p for p in inbox.rglob("*") if p.is_file() and p.suffix.lower() in DATA_SUFFIXES):
        rel = path.relative_to(inbox)
        rel_s = rel.as_posix()
        if any(part.startswith(".") or part.startswith("~$") for part in rel.parts):
            continue  # editor lock files, hidden files
        table, year = _table_of(rel)
        digest = sha256(path)
        base = {"source_file": rel_s, "file_hash": digest, "folder_year": year, "encoding": None}
        if table is None:
            manifest.append(
                base | {"sheet": None, "table_name": None, "rows": 0, "columns": None, "error": None}
            )
            continue
        suffix = path.suffix.lower()
        try:
            if suffix == ".csv":
                df, enc = _read_csv(path)
                sheets = [(None, df)]
                base["encoding"] = enc
            elif suffix == ".parquet":
                sheets = [(None, _read_parquet(path))]
            else:
                sheets = _read_sheets(path)
                if table != "reports" or not {"enterprise", "lines"} <= {s for s, _ in sheets}:
                    sheets = sheets[:1]  # flat workbook: the first sheet holds the table
        except Exception as e:  # any read failure is a file-level problem, recorded not raised
            msg = str(e) if isinstance(e, ValueError) else f"cannot be read ({type(e).__name__}: {e})"
            manifest.append(
                base | {"sheet": None, "table_name": table, "rows": 0, "columns": None, "error": msg}
            )
            continue
        for sheet, df in sheets:
            if table == "reports":
                if sheet == "enterprise":
                    target = "enterprise_years"
                elif sheet == "lines":
                    target = "line_years"
                else:
                    target = recognise_report(df.columns)
            else:
                target = table
            entry = base | {"sheet": sheet, "table_name": target, "rows": 0, "columns": None, "error": None}
            if df.width == 0 or (df.height == 0 and not df.columns):
                manifest.append(entry | {"error": "the file is empty (no header row)"})
                continue
            if target is None:
                manifest.append(
                    entry
                    | {
                        "columns": ",".join(df.columns),
                        "error": "not recognised as a report: a line-year file needs a "
                        "line_id column, an enterprise-year file shutdown_days",
                    }
                )
                continue
            names, problems = map_headers(df.columns, target)
            df = df.rename(dict(zip(df.columns, names, strict=True)))
            raw = _with_provenance(df, rel_s, sheet, digest)
            if year is not None and target in ("line_years", "enterprise_years", "attributes", "reviews"):
                raw = raw.with_columns(pl.lit(year, dtype=pl.Int64).alias("_folder_year"))
            entry |= {"rows": raw.height, "columns": ",".join(names), "error": "; ".join(problems) or None}
            manifest.append(entry)
            if not problems:
                frames[target].append(raw)
    tables = {
        t: pl.concat(fs, how="diagonal") if fs else pl.DataFrame(schema=EMPTY_RAW) for t, fs in frames.items()
    }
    return Inbox(tables=tables, manifest=pl.DataFrame(manifest, schema=MANIFEST_SCHEMA))
