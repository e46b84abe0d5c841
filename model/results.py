"""`YearResults`: the published marts of one compliance year, the input of every export.

The exports (notices, report, Parquet) and the publish checkpoint are pure functions of this
bundle. `warehouse.read.year_results` reads it from an open DuckDB connection (the work database
before publication, or the warehouse afterwards).
"""

from __future__ import annotations

import polars as pl

from model import catalog
from policies import Policy

MART_TABLES: dict[str, catalog.Table] = {t.name: t for t in catalog.MARTS}


def conform(df: pl.DataFrame, table: catalog.Table) -> pl.DataFrame:
    """Catalog columns first, cast to their catalog types; extra columns kept after them.

    Raises ValueError naming the table and the missing columns when a catalog column is absent.
    """
    missing = [c for c in table.names if c not in df.columns]
    if missing:
        raise ValueError(f"{table.qualified}: missing column(s) {', '.join(missing)}")
    extra = [c for c in df.columns if c not in table.names]
    return df.select([pl.col(c.name).cast(c.polars_type) for c in table.columns] + extra)


class YearResults:
    """The marts of one compliance year: one frame per table of `catalog.MARTS` (catalog columns;
    clearance frames may be empty), read as attributes (`results.allocation_line`) or all at once
    (`results.marts`). A mart added to the catalog is a frame here without any change, and the
    publish checkpoint checks it (validations/checkpoint.py); a frame missing is refused.

    `listed_enterprise_ids` is the set the publish checkpoint expects in `allocation_enterprise`
    (the year's list minus enterprises without verified emissions, or whatever the run allocated
    on purpose); `ledger_rows` is the number of ledger rows of the year (one clearance item each).
    """

    def __init__(
        self,
        *,
        year: int,
        policy: Policy,
        listed_enterprise_ids: list[str],
        ledger_rows: int,
        **marts: pl.DataFrame,
    ) -> None:
        missing, unknown = (
            [n for n in MART_TABLES if n not in marts],
            [n for n in marts if n not in MART_TABLES],
        )
        if missing or unknown:
            raise ValueError(f"YearResults of {year}: marts missing {missing}, not in the catalog {unknown}")
        self.year, self.policy = year, policy
        self.listed_enterprise_ids, self.ledger_rows = listed_enterprise_ids, ledger_rows
        self.marts: dict[str, pl.DataFrame] = {n: marts[n] for n in MART_TABLES}  # catalog order

    def __getattr__(self, name: str) -> pl.DataFrame:
        marts = self.__dict__.get("marts", {})
        if name in marts:
            return marts[name]
        raise AttributeError(f"YearResults has no mart or field '{name}'")

    def replace(self, **changes) -> YearResults:
        """A copy with some fields or marts replaced."""
        fields = {
            "year": self.year,
            "policy": self.policy,
            "listed_enterprise_ids": self.listed_enterprise_ids,
            "ledger_rows": self.ledger_rows,
            **self.marts,
        }
        return YearResults(**(fields | changes))

    @property
    def is_provisional(self) -> bool:
        """True when any published row of the year carries `provisional = true`."""
        return any(
            "provisional" in df.columns and bool(df["provisional"].fill_null(False).any())
            for df in self.marts.values()
        )
