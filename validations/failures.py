"""What every kind of input rule shares: the failure frame, and the input tables as they are checked.

A rule returns its failures as rows (_rid, column_name, value, message): `_rid` is the row's
number in its raw table, so that the quarantine row names the file, sheet and row it was read
from (`validations.inputs` joins them), whichever kind of rule found it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from model import catalog
from model.catalog import Table

FAIL = {"_rid": pl.Int64, "column_name": pl.String, "value": pl.String, "message": pl.String}
QUARANTINE_SCHEMA = {
    c.name: c.polars_type for c in catalog.QUARANTINE.columns if c.name not in ("run_id", "seq")
}


def place_columns() -> list[pl.Expr]:
    """A raw row's file, sheet and row, named as the quarantine names them."""
    return [
        pl.col("_source_file").alias("source_file"),
        pl.col("_sheet").alias("sheet"),
        pl.col("_row").alias("row_number"),
    ]


def no_failures() -> pl.DataFrame:
    return pl.DataFrame(schema=FAIL)


def fail(df: pl.DataFrame, mask: pl.Expr, column: str, message: pl.Expr | str) -> pl.DataFrame:
    """The rows of `df` where `mask` holds, as failures of `column` with `message`."""
    msg = pl.lit(message) if isinstance(message, str) else message
    return (
        df.filter(mask)
        .select(
            "_rid",
            pl.lit(column).alias("column_name"),
            pl.col(column).cast(pl.String).alias("value"),
            msg.alias("message"),
        )
        .cast(FAIL)
    )


@dataclass
class Checking:
    """The input tables while they are validated, filled kind by kind.

    `raw`: the rows that are typed (text, with `_rid` and provenance); `set_aside`: the rows never
    typed, of a rejected file or with a problem found while reading (`problem_rows`, a part of
    them); `file_rows`: quarantine rows naming a file or sheet; `unplaced`: read problems on rows
    that hold no other cell. `typed` and `failures` grow as the kinds of rules run."""

    tables: dict[str, Table]
    raw: dict[str, pl.DataFrame]
    set_aside: dict[str, pl.DataFrame]
    problem_rows: dict[str, pl.DataFrame]
    file_rows: pl.DataFrame
    unplaced: list[pl.DataFrame]
    failures: dict[str, list[pl.DataFrame]]
    typed: dict[str, pl.DataFrame] = field(default_factory=dict)

    def bad_rids(self, name: str) -> pl.Series:
        """The rows of `name` with a failure so far."""
        return pl.concat(self.failures[name])["_rid"]

    def good(self, name: str) -> pl.DataFrame:
        """The typed rows of `name` without a failure so far."""
        return self.typed[name].filter(~pl.col("_rid").is_in(self.bad_rids(name).implode()))

    def where(self, name: str) -> pl.DataFrame:
        """File and row of each typed row of `name`."""
        return self.raw[name].select("_rid", "_source_file", "_row")

    def given(self, name: str, column: str) -> pl.Series:
        """Every value of `column` given in `name`: typed rows, and rows set aside (as read)."""
        aside = self.set_aside[name].get_column(column, default=pl.Series([], dtype=pl.String))
        return pl.concat([self.typed[name][column], aside])
