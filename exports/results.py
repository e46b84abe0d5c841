"""`YearResults`: the published marts of one compliance year, the input of every export.

The exports (notices, report, Parquet) and the publish checkpoint are pure functions of this
bundle. `YearResults.from_duckdb` reads it from an open DuckDB connection (the work database
before publication, or the warehouse afterwards).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from model import catalog
from policies import Policy
from transforms import reported_listed_ids

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


@dataclass(frozen=True)
class YearResults:
    """The five marts of one compliance year (catalog columns; clearance frames may be empty).

    `listed_enterprise_ids` is the set the publish checkpoint expects in `allocation_enterprise`
    (the year's list minus enterprises without verified emissions, or whatever the run allocated
    on purpose); `ledger_rows` is the number of ledger rows of the year (one clearance item each).
    """

    year: int
    allocation_line: pl.DataFrame
    allocation_enterprise: pl.DataFrame
    cap_summary: pl.DataFrame
    clearance_status: pl.DataFrame
    clearance_item: pl.DataFrame
    policy: Policy
    listed_enterprise_ids: list[str]
    ledger_rows: int

    @property
    def marts(self) -> dict[str, pl.DataFrame]:
        """{mart name: frame}, in catalog order."""
        return {name: getattr(self, name) for name in MART_TABLES}

    @property
    def is_provisional(self) -> bool:
        """True when any published row of the year carries `provisional = true`."""
        return any(
            "provisional" in df.columns and bool(df["provisional"].fill_null(False).any())
            for df in self.marts.values()
        )

    @classmethod
    def from_duckdb(
        cls,
        con: duckdb.DuckDBPyConnection,
        year: int,
        policy: Policy,
        *,
        listed_enterprise_ids: list[str] | None = None,
        ledger_rows: int | None = None,
        schema: str = "mart",
        core_schema: str = "core",
    ) -> YearResults:
        """Read `<schema>.<mart>` WHERE compliance_year = year for each mart.

        When `listed_enterprise_ids` or `ledger_rows` are not given they are derived from
        `<core_schema>.enterprises` / `line_years` / `ledger` of the same connection: the
        enterprises listed for the year that have verified line data for it, and the number of
        ledger rows of the year. Pass them explicitly when the run left enterprises out on purpose
        (e.g. `--allow-quarantine`).
        """
        frames = {}
        for name, table in MART_TABLES.items():
            rel = con.sql(
                f"SELECT * FROM {schema}.{name} WHERE compliance_year = $year", params={"year": year}
            )
            frames[name] = conform(rel.pl(), table)
        if listed_enterprise_ids is None:
            enterprises = con.sql(f"SELECT enterprise_id, listed_years FROM {core_schema}.enterprises").pl()
            line_years = con.sql(
                f"SELECT DISTINCT enterprise_id, year FROM {core_schema}.line_years WHERE year = $year",
                params={"year": year},
            ).pl()
            listed_enterprise_ids = reported_listed_ids(enterprises, line_years, year)
        if ledger_rows is None:
            (ledger_rows,) = con.sql(
                f"SELECT count(*) FROM {core_schema}.ledger WHERE compliance_year = $year",
                params={"year": year},
            ).fetchall()[0]
        return cls(
            year=year,
            policy=policy,
            listed_enterprise_ids=list(listed_enterprise_ids),
            ledger_rows=int(ledger_rows),
            **frames,
        )
