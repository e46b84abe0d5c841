"""pandera (polars backend) models generated from the catalog's table descriptions.

`schema_for(table)` gives the row-level model of a table: dtypes, required (not nullable),
ranges and enums. Table-level rules (keys, references, reconciliation) live in
`validations.inputs`, apart from row checks, so that a failure names the row at fault.
`check_frame` is the guard used at every stage boundary on transform outputs.
"""

from __future__ import annotations

from functools import cache

import pandera.polars as pa
import polars as pl

from model import catalog
from model.catalog import Column, Table


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
def schema_for(table: Table, *, input_rules: bool = True) -> pa.DataFrameSchema:
    """Row-level model of `table`. Input rules (required/ranges) apply to inputs; published
    tables are checked for dtype and enum only, plus their key being unique and complete."""
    cols = {}
    for c in table.columns:
        nullable = not (c.required and input_rules)
        if not input_rules and c.name in table.key:
            nullable = False
        checks = _checks(c) if input_rules else ([pa.Check.isin(list(c.isin))] if c.isin else [])
        cols[c.name] = pa.Column(c.polars_type, checks=checks, nullable=nullable)
    unique = list(table.key) if (table.key and not input_rules) else None
    return pa.DataFrameSchema(cols, unique=unique, name=table.qualified, strict=False)


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
    """Validate a stage output against `table` (columns, dtypes, enums, unique key)."""
    missing = [c for c in table.names if c not in df.columns]
    if missing:
        raise StageOutputError(f"{table.qualified}: output lacks columns {missing}")
    try:
        return schema_for(table, input_rules=False).validate(df.select(table.names), lazy=True)
    except pa.errors.SchemaErrors as e:
        head = e.failure_cases.head(5).to_dicts()
        raise StageOutputError(f"{table.qualified}: output breaks its model: {head}") from None


MART_TABLES = {t.name: t for t in catalog.MARTS}
