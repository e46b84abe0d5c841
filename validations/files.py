"""File-level rules: which files, sheets and rows of the inbox are typed at all.

A file or sheet ingest could not use (unreadable, empty, unrecognised, duplicate headers) or that
lacks a required column is rejected whole: one quarantine row names the file (and the column),
and its rows are set aside. A row with a problem found while reading (an Excel error cell, a
formula never calculated, a CSV row with too few or too many fields) is quarantined whole, named
by file, sheet, row and column, and none of its values is used.
"""

from __future__ import annotations

import polars as pl

from ingest.headers import closest_known, unknown_headers
from ingest.read import Inbox
from model.catalog import Table
from validations.failures import FAIL, QUARANTINE_SCHEMA, Checking, place_columns

# a quarantine row of this kind names no enterprise: its file, not a row, is at fault
FILE_ROW = {k: v for k, v in QUARANTINE_SCHEMA.items() if k != "enterprise_id"}


def admit(inbox: Inbox, tables: dict[str, Table]) -> Checking:
    """The inbox's tables with the rows of rejected files and the rows with a read problem set
    aside, and their quarantine rows; the failures start with the read problems."""
    file_rows, rejected = _rejected_files(inbox.manifest, tables)
    in_rejected = (
        pl.struct("_source_file", "_sheet").is_in(
            pl.Series(
                [{"_source_file": f, "_sheet": s} for f, s in rejected],
                dtype=pl.Struct({"_source_file": pl.String, "_sheet": pl.String}),
            ).implode()
        )
        if rejected
        else pl.lit(False)
    )
    raw, set_aside, problem_rows, failures, unplaced = {}, {}, {}, {}, []
    for name in tables:
        r = inbox.tables[name].with_row_index("_rid").with_columns(pl.col("_rid").cast(pl.Int64))
        of_rejected, r = r.filter(in_rejected), r.filter(~in_rejected)
        placed, lost = _read_problems(r, inbox.problems.filter(pl.col("table_name") == name))
        failures[name] = [placed]
        unplaced += lost
        bad = pl.col("_rid").is_in(placed["_rid"].implode())
        problem_rows[name], raw[name] = r.filter(bad), r.filter(~bad)
        set_aside[name] = pl.concat([of_rejected, problem_rows[name]], how="diagonal_relaxed")
    return Checking(
        tables, raw, set_aside, problem_rows, pl.DataFrame(file_rows, schema=FILE_ROW), unplaced, failures
    )


def _rejected_files(manifest: pl.DataFrame, tables: dict[str, Table]) -> tuple[list[dict], set]:
    """Quarantine rows of the files and sheets ingest could not use or that lack a required column
    (or a key column), and the (file, sheet) pairs rejected."""
    rows: list[dict] = []
    rejected: set[tuple[str, str | None]] = set()
    for m in manifest.iter_rows(named=True):
        place = {"source_file": m["source_file"], "sheet": m["sheet"], "value": None}
        if m["error"]:
            rows.append(
                place
                | {
                    "table_name": m["table_name"],
                    "row_number": 1 if m["columns"] else None,
                    "column_name": None,
                    "message": m["error"],
                }
            )
            rejected.add((m["source_file"], m["sheet"]))
            continue
        if m["table_name"] not in tables:
            continue
        t = tables[m["table_name"]]
        present = set((m["columns"] or "").split(","))
        # unrecognised headers, each with the known column it is closest to
        near = {h: closest_known(h, t.name) for h in unknown_headers(list(present), t.name)}
        for c in t.columns:
            if (c.required or c.name in t.key) and c.name not in present:
                hint = "".join(
                    f"; header '{h}' is not recognised, closest known header: {k[0]} ({k[1]})"
                    for h, k in sorted(near.items())
                    if k and k[1] == c.name
                )
                rows.append(
                    place
                    | {
                        "table_name": t.name,
                        "row_number": 1,
                        "column_name": c.name,
                        "message": f"required column {c.name} ({c.zh}) is missing / 缺少必填列{hint}",
                    }
                )
                rejected.add((m["source_file"], m["sheet"]))
    return rows, rejected


def _read_problems(raw: pl.DataFrame, problems: pl.DataFrame) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Read problems of one table as failures of the rows of `raw` they are on, and as quarantine
    rows of their own where the row holds no other cell (not in `raw`)."""
    if not problems.height:
        return pl.DataFrame(schema=FAIL), []
    keys = ["_source_file", "_sheet", "_row"]
    placed = problems.rename({"source_file": "_source_file", "sheet": "_sheet", "row_number": "_row"}).join(
        raw.select("_rid", *keys), on=keys, how="left", nulls_equal=True
    )
    unplaced = placed.filter(pl.col("_rid").is_null()).select(
        "table_name", *place_columns(), "column_name", "value", "message"
    )
    return placed.filter(pl.col("_rid").is_not_null()).select(*FAIL).cast(FAIL), [unplaced]
