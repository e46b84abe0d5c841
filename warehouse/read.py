"""Read queries of the warehouse: what the exports and the CLI read back from a DuckDB file.

Every query that reads the published (or work) database lives here, next to the writes of
`warehouse/store.py`; callers get frames or `YearResults`, never SQL.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import polars as pl

from model import catalog
from model.results import MART_TABLES, YearResults, conform
from policies import Policy
from transforms import reported_listed_ids
from warehouse.store import served_file as served_file  # callers open the served file with it


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


# ---------------------------------------------------------------------------------------------
# What the CLI and the files for people read back from the served file
# ---------------------------------------------------------------------------------------------
def _frame(con: duckdb.DuckDBPyConnection, sql: str, *params) -> pl.DataFrame:
    return con.sql(sql, params=list(params) or None).pl()


def _has_schema(con: duckdb.DuckDBPyConnection, schema: str, table: str | None = None) -> bool:
    """Whether the file has the schema (with this table, when given): files served by earlier
    versions lack what later versions added."""
    sql = "SELECT 1 FROM duckdb_tables() WHERE schema_name = $1" + (" AND table_name = $2" if table else "")
    return bool(_frame(con, sql + " LIMIT 1", schema, *([table] if table else [])).height)


def enterprise_allocation(con: duckdb.DuckDBPyConnection, year: int, enterprise_id: str) -> dict | None:
    """The enterprise's row of `mart.allocation_enterprise` (id matched case-insensitively)."""
    rows = _frame(
        con,
        "SELECT * FROM mart.allocation_enterprise WHERE compliance_year = $1 AND upper(enterprise_id) = $2",
        year,
        enterprise_id.upper(),
    )
    return rows.row(0, named=True) if rows.height else None


def is_left_out(con: duckdb.DuckDBPyConnection, year: int, enterprise_id: str) -> bool:
    """True when a partial publication left the enterprise out (status `not_allocated`)."""
    return bool(
        _frame(
            con,
            "SELECT 1 FROM mart.clearance_status WHERE compliance_year = $1 AND upper(enterprise_id) = $2 "
            "AND status = 'not_allocated'",
            year,
            enterprise_id.upper(),
        ).height
    )


def allocated_years(con: duckdb.DuckDBPyConnection, enterprise_id: str) -> list[int]:
    """The compliance years with a published allocation of the enterprise, in order."""
    return _frame(
        con,
        "SELECT DISTINCT compliance_year FROM mart.allocation_enterprise WHERE upper(enterprise_id) = $1 "
        "ORDER BY 1",
        enterprise_id.upper(),
    )["compliance_year"].to_list()


def line_allocations(con: duckdb.DuckDBPyConnection, year: int, enterprise_id: str) -> pl.DataFrame:
    """The enterprise's rows of `mart.allocation_line`, by line."""
    return _frame(
        con,
        "SELECT * FROM mart.allocation_line WHERE compliance_year = $1 AND enterprise_id = $2 ORDER BY line_id",
        year,
        enterprise_id,
    )


def line_records(con: duckdb.DuckDBPyConnection, enterprise_id: str) -> pl.DataFrame:
    """Every verified line-year record of the enterprise (`core.line_years`), by line and year."""
    return _frame(
        con, "SELECT * FROM core.line_years WHERE enterprise_id = $1 ORDER BY line_id, year", enterprise_id
    )


def last_run_pack(con: duckdb.DuckDBPyConnection, year: int) -> str | None:
    """The rule-pack file of the year's last successful run, or None when it has none."""
    rows = _frame(
        con,
        "SELECT policy_path FROM audit.pipeline_run WHERE compliance_year = $1 AND status = 'succeeded' "
        "ORDER BY finished_at DESC LIMIT 1",
        year,
    )
    return rows["policy_path"][0] if rows.height else None


def enterprise_clearance(con: duckdb.DuckDBPyConnection, year: int, enterprise_id: str) -> dict | None:
    """The enterprise's clearance status of the year (`mart.clearance_status`), or None."""
    rows = _frame(
        con,
        "SELECT status, as_of, deadline, surrendered_t, shortfall_t FROM mart.clearance_status "
        "WHERE compliance_year = $1 AND enterprise_id = $2",
        year,
        enterprise_id,
    )
    return rows.row(0, named=True) if rows.height else None


def versions(con: duckdb.DuckDBPyConnection, year: int) -> pl.DataFrame:
    """The versions of the year (`mart.allocation_version`), oldest first."""
    return _frame(
        con, "SELECT * FROM mart.allocation_version WHERE compliance_year = $1 ORDER BY version", year
    )


def current_version(con: duckdb.DuckDBPyConnection, year: int) -> dict | None:
    """The year's current (latest) version, or None when the warehouse keeps no version of it."""
    rows = versions(con, year)
    return rows.row(-1, named=True) if rows.height else None


def version_changes(
    con: duckdb.DuckDBPyConnection, year: int, version: int, enterprise_id: str | None = None
) -> pl.DataFrame:
    """The rows of `mart.allocation_change` of a version (of one enterprise when given), by enterprise."""
    where = " AND enterprise_id = $3" if enterprise_id is not None else ""
    params = (year, version, enterprise_id) if enterprise_id is not None else (year, version)
    return _frame(
        con,
        f"SELECT * FROM mart.allocation_change WHERE compliance_year = $1 AND version = $2{where} "
        "ORDER BY enterprise_id",
        *params,
    )


def version_history(
    con: duckdb.DuckDBPyConnection, table: catalog.Table, year: int, versions: tuple[int, ...]
) -> pl.DataFrame:
    """The rows of a `history.*` table of the year for the given versions."""
    return _frame(
        con,
        f"SELECT * FROM {table.qualified} WHERE compliance_year = $1 AND list_contains($2, version)",
        year,
        list(versions),
    )


def review_requests(con: duckdb.DuckDBPyConnection, year: int) -> pl.DataFrame:
    """The review requests of the year (`mart.review_request`)."""
    return _frame(con, "SELECT * FROM mart.review_request WHERE compliance_year = $1", year)


def enterprise_names(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Id, name and sector label of every enterprise of the inputs (`core.enterprises`)."""
    return _frame(con, "SELECT enterprise_id, name, sector_label FROM core.enterprises")


def recent_runs(
    con: duckdb.DuckDBPyConnection, limit: int, year: int | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The `limit` latest runs (of `year` when given), latest first, and the rows of their stages."""
    where = "WHERE compliance_year = $2" if year else ""
    params = (limit, year) if year else (limit,)
    runs = _frame(con, f"SELECT * FROM audit.pipeline_run {where} ORDER BY started_at DESC LIMIT $1", *params)
    stages = _frame(
        con,
        "SELECT * FROM audit.stage_run WHERE run_id IN (SELECT run_id FROM audit.pipeline_run "
        f"{where} ORDER BY started_at DESC LIMIT $1)",
        *params,
    )
    return runs, stages


def last_publication(con: duckdb.DuckDBPyConnection, year: int) -> dict | None:
    """What published the year last: the run's rule pack (version, path), run id, publish
    fingerprint and as-of date; None when no run published the year."""
    rows = _frame(
        con,
        "SELECT r.policy_version, r.policy_path, s.run_id, s.input_hash, r.as_of "
        "FROM audit.stage_run s JOIN audit.pipeline_run r USING (run_id) "
        "WHERE r.compliance_year = $1 AND r.status = 'succeeded' AND s.stage = 'publish' "
        "AND s.status = 'succeeded' ORDER BY s.finished_at DESC LIMIT 1",
        year,
    )
    return rows.row(0, named=True) if rows.height else None


def publishing_run(con: duckdb.DuckDBPyConnection, year: int) -> str | None:
    """The run whose publish stage published the year last (latest succeeded publish stage of
    the year in `audit.stage_run`), or None when the year was never published."""
    rows = _frame(
        con,
        "SELECT r.run_id FROM audit.pipeline_run AS r JOIN audit.stage_run AS s USING (run_id) "
        "WHERE r.compliance_year = $1 AND s.stage = 'publish' AND s.status = 'succeeded' "
        "ORDER BY s.finished_at DESC LIMIT 1",
        year,
    )
    return rows["run_id"][0] if rows.height else None


def enterprise_allocations(con: duckdb.DuckDBPyConnection, year: int) -> pl.DataFrame:
    """Id, sector label and final allocation of every enterprise allocated for the year, by id."""
    return _frame(
        con,
        "SELECT enterprise_id, sector_label, allocation_final_t FROM mart.allocation_enterprise "
        "WHERE compliance_year = $1 ORDER BY enterprise_id",
        year,
    )


def keeps_versions(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse keeps allocation versions (`mart.allocation_version`, contract §5):
    files served before the cycle existed do not."""
    return _has_schema(con, "mart", "allocation_version")


def cap_summary(con: duckdb.DuckDBPyConnection, year: int) -> dict | None:
    """The year's row of `mart.cap_summary`, or None when the year is not published."""
    rows = _frame(con, "SELECT * FROM mart.cap_summary WHERE compliance_year = $1", year)
    return rows.row(0, named=True) if rows.height else None


def total_gap(con: duckdb.DuckDBPyConnection, year: int) -> Decimal:
    """Σ of the positive gaps E − A_final of the year's enterprises (0 when none)."""
    return _frame(
        con,
        "SELECT coalesce(sum(gap_t) FILTER (WHERE gap_t > 0), 0) AS g FROM mart.allocation_enterprise "
        "WHERE compliance_year = $1",
        year,
    )["g"][0]


def scenario_names(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per scenario run name and year (latest first); empty when there is none."""
    if not _has_schema(con, "scenario"):
        return pl.DataFrame()
    return _frame(
        con,
        "SELECT name, compliance_year, count(*) AS scenarios, min(created_at) AS created_at, "
        "any_value(official_run_id) AS official_run_id, bool_or(provisional) AS provisional "
        "FROM scenario.run GROUP BY name, compliance_year ORDER BY created_at DESC",
    )


def scenario_tables(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, pl.DataFrame] | None:
    """The rows of a scenario run: `run`, `summary`, `delta_enterprise` of `scenario.*`; None
    when no scenario has that name."""
    if not _has_schema(con, "scenario"):
        return None
    run = _frame(con, "SELECT * FROM scenario.run WHERE name = $1 ORDER BY created_at, scenario_id", name)
    if not run.height:
        return None
    return {
        "run": run,
        "summary": _frame(con, "SELECT * FROM scenario.summary WHERE scenario_name = $1", name),
        "delta_enterprise": _frame(
            con, "SELECT * FROM scenario.delta_enterprise WHERE scenario_name = $1", name
        ),
    }
