"""Read queries of the warehouse: what the exports and the CLI read back from a DuckDB file.

Every query that reads the published (or work) database lives here, next to the writes of
`warehouse/store.py`; callers get frames or `YearResults`, never SQL.
"""

from __future__ import annotations

import duckdb

from model.results import MART_TABLES, YearResults, conform
from policies import Policy
from transforms import reported_listed_ids


def year_results(
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
        rel = con.sql(f"SELECT * FROM {schema}.{name} WHERE compliance_year = $year", params={"year": year})
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
    return YearResults(
        year=year,
        policy=policy,
        listed_enterprise_ids=list(listed_enterprise_ids),
        ledger_rows=int(ledger_rows),
        **frames,
    )
