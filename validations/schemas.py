"""Row rules: pandera (polars backend) models generated from the catalog's table descriptions.

`schema_for(table)` gives the row-level model of a table: dtypes, required (not nullable),
ranges and enums, as declared on its columns. On inputs, `row_failures` turns its failures into
quarantine failures; table-level rules (keys, references, reconciliation) live in
`validations.tables`, so that a failure names the row at fault. On published tables,
`check_frame` is the guard used at every stage boundary on transform outputs.
"""

from __future__ import annotations

from functools import cache

import pandera.polars as pa
import polars as pl

from model.catalog import Column, Table
from validations.failures import FAIL, no_failures


def _checks(c: Column) -> list[pa.Check]:
    checks = []
    if c.ge is not None:
        checks.append(pa.Check.ge(c.ge))
    if c.gt is not None:
        checks.append(pa.Check.gt(c.gt))
    if c.le is not None:
        checks.append(pa.Check.le(c.le))
    if c.isin is not None:
        checks.append(pa.Check.isin(list(c.isin)))
    return checks


@cache
def schema_for(table: Table, *, published: bool = False) -> pa.DataFrameSchema:
    """Row-level model of `table`: the rules declared on its columns. A published table's key is
    also complete and unique (an input's duplicate keys are a table rule that names every row)."""
    cols = {
        c.name: pa.Column(
            c.polars_type, checks=_checks(c), nullable=not (c.required or (published and c.name in table.key))
        )
        for c in table.columns
    }
    unique = list(table.key) if (table.key and published) else None
    return pa.DataFrameSchema(cols, unique=unique, name=table.qualified, strict=False)


def row_failures(typed: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Failures of the pandera model (required, ranges, enums) as (_rid, column, value, message)."""
    try:
        schema_for(table).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as e:
        fc = e.failure_cases.filter(pl.col("index").is_not_null())
        words = fc.select("column", "check").unique(maintain_order=True)
        words = words.with_columns(
            pl.Series(
                "message",
                [describe_failure(table.column(col), check) for col, check in words.iter_rows()],
                dtype=pl.String,
            )
        )
        return (
            fc.with_columns(_rid=typed["_rid"].gather(fc["index"]))
            .join(words, on=["column", "check"], how="left", maintain_order="left")
            .select(
                "_rid",
                pl.col("column").alias("column_name"),
                pl.col("failure_case").alias("value"),
                "message",
            )
            .cast(FAIL)
        )
    return no_failures()


def describe_failure(c: Column, check: str) -> str:
    """Words for a pandera check failure on column `c` (label in Chinese and English)."""
    label = f"{c.zh} ({c.name})"
    if check == "not_nullable":
        return f"{label} is required but empty / 必填"
    if check.startswith("greater_than_or_equal_to"):
        return f"{label} must be ≥ {c.ge} / 不得小于{c.ge}"
    if check.startswith("greater_than"):
        return f"{label} must be > {c.gt} / 必须大于{c.gt}"
    if check.startswith("less_than_or_equal_to"):
        return f"{label} must be ≤ {c.le} / 不得大于{c.le}"
    if check.startswith("isin"):
        return f"{label} must be one of {', '.join(c.isin or ())} / 取值不在允许范围"
    return f"{label} fails {check}"


class StageOutputError(RuntimeError):
    """A transform produced a frame that breaks its published table's model."""


def check_frame(df: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Validate a stage output against `table`: columns, dtypes, the rules declared on its columns
    (not null, ranges, enums), its key complete and unique."""
    missing = [c for c in table.names if c not in df.columns]
    if missing:
        raise StageOutputError(f"{table.qualified}: output lacks columns {missing}")
    try:
        return schema_for(table, published=True).validate(df.select(table.names), lazy=True)
    except pa.errors.SchemaErrors as e:
        head = e.failure_cases.head(5).to_dicts()
        raise StageOutputError(f"{table.qualified}: output breaks its model: {head}") from None
