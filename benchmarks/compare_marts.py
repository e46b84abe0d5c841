"""Compare the published marts of two warehouses row by row (refactoring check).

    python benchmarks/compare_marts.py BEFORE AFTER

BEFORE and AFTER are each a served warehouse file (`*.duckdb`) or a folder of `<mart>.parquet`
files (e.g. a copy of the marts made before a change). Every table of schema `mart` present in
BEFORE must be in AFTER with the same columns, types and rows (compared sorted by every column
but the run-dependent ones, which are listed). Exit 0 when identical, 1 with the differences.

Used for the engine refactoring (issue #15, item 1): run the three sample years into a temporary
warehouse before the change, save `mart.*` as Parquet, do the same after, compare.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import polars as pl


def marts(source: Path) -> dict[str, pl.DataFrame]:
    if source.is_dir():
        return {p.stem: pl.read_parquet(p) for p in sorted(source.glob("*.parquet"))}
    con = duckdb.connect(str(source), read_only=True)
    try:
        names = [
            r[0]
            for r in con.sql("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'mart'").fetchall()
        ]
        return {n: con.sql(f'SELECT * FROM mart."{n}"').pl() for n in sorted(names)}
    finally:
        con.close()


# Columns that differ between two runs of the same inputs by design (which run, and when).
RUN_DEPENDENT = ("run_id", "published_at")


def compare(before: dict[str, pl.DataFrame], after: dict[str, pl.DataFrame]) -> list[str]:
    problems = []
    for name, old in before.items():
        new = after.get(name)
        if new is None:
            problems.append(f"mart.{name}: missing after")
            continue
        old, new = (df.drop(RUN_DEPENDENT, strict=False) for df in (old, new))
        if old.schema != new.schema:
            problems.append(f"mart.{name}: columns/types differ: {old.schema} vs {new.schema}")
            continue
        keys = [c for c, t in old.schema.items() if not isinstance(t, pl.List)]
        a, b = old.sort(keys, nulls_last=True), new.sort(keys, nulls_last=True)
        if a.height != b.height:
            problems.append(f"mart.{name}: {a.height} rows before, {b.height} after")
        elif not a.equals(b):
            diff = [c for c in a.columns if not a[c].equals(b[c])]
            problems.append(f"mart.{name}: {a.height} rows, columns differ: {diff}")
    return problems


def main(argv: list[str]) -> int:
    before, after = marts(Path(argv[1])), marts(Path(argv[2]))
    problems = compare(before, after)
    for p in problems:
        print(p)
    if not problems:
        print(", ".join(f"mart.{n} {df.height} rows" for n, df in before.items()) + ": identical")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
