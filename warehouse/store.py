"""DuckDB storage of the pipeline: work database, stage outputs, publication, served file."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from etsflow import catalog
from etsflow.catalog import Table

SERVED_STORAGE_VERSION = "v1.5.0"  # DuckDB 1.5 clients (many BI connectors embed 1.x) can open it


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ddl(table: Table, prefix: str = "") -> str:
    cols = ", ".join(f'"{c.name}" {c.duckdb_type}' for c in table.columns)
    return f"CREATE TABLE IF NOT EXISTS {prefix}{table.qualified} ({cols})"


def comments(table: Table, prefix: str = "") -> list[str]:
    """COMMENT ON statements: Chinese label and English description (unit in brackets)."""
    out = [f"COMMENT ON TABLE {prefix}{table.qualified} IS {_q(f'{table.zh} — {table.description}')}"]
    for c in table.columns:
        unit = f" [{c.unit}]" if c.unit else ""
        out.append(
            f'COMMENT ON COLUMN {prefix}{table.qualified}."{c.name}" IS {_q(f"{c.zh} — {c.description}{unit}")}'
        )
    return out


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Warehouse:
    """Paths and writes of one warehouse (a served file and its work database)."""

    def __init__(self, served: str | Path):
        self.served = Path(served).resolve()
        self.work = self.served.with_name(self.served.stem + ".work.duckdb")
        self.next = self.served.with_name(self.served.name + ".next")

    # ---- connection -------------------------------------------------------------------------
    @contextmanager
    def connect(self):
        """The work database, created with every schema and the published/audit tables."""
        self.served.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.work))
        try:
            for schema in ("raw", "core", "stage", "mart", "audit"):
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for t in catalog.INPUTS + catalog.PUBLISHED:
                con.execute(ddl(t))
            con.execute(
                "CREATE TABLE IF NOT EXISTS stage.cache (compliance_year INTEGER, stage VARCHAR, "
                "input_hash VARCHAR, run_id VARCHAR, finished_at TIMESTAMP, PRIMARY KEY (compliance_year, stage))"
            )
            yield con
        finally:
            con.close()

    # ---- generic writes -----------------------------------------------------------------------
    @staticmethod
    def replace_table(con: duckdb.DuckDBPyConnection, qualified: str, df: pl.DataFrame) -> None:
        """Replace a whole table with `df` (raw, stage outputs)."""
        con.register("_etsflow_df", df)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {qualified} AS SELECT * FROM _etsflow_df")
        finally:
            con.unregister("_etsflow_df")

    @staticmethod
    def replace_typed(
        con: duckdb.DuckDBPyConnection, table: Table, df: pl.DataFrame, where: str | None = None
    ) -> None:
        """Replace the rows of a catalog table (all, or those matching `where`) with `df`,
        cast to the catalog's DuckDB types. Runs inside the caller's transaction."""
        cols = ", ".join(f'CAST("{c.name}" AS {c.duckdb_type})' for c in table.columns)
        con.register("_etsflow_df", df.select(table.names))
        try:
            con.execute(f"DELETE FROM {table.qualified}" + (f" WHERE {where}" if where else ""))
            con.execute(f"INSERT INTO {table.qualified} SELECT {cols} FROM _etsflow_df")
        finally:
            con.unregister("_etsflow_df")

    @staticmethod
    def read(con: duckdb.DuckDBPyConnection, qualified: str, where: str = "") -> pl.DataFrame:
        return con.sql(f"SELECT * FROM {qualified} {where}").pl()

    # ---- stage outputs ---------------------------------------------------------------------------
    @staticmethod
    def stage_table(year: int, name: str) -> str:
        return f'stage."y{year}_{name}"'

    def write_stage(self, con, year: int, frames: dict[str, pl.DataFrame]) -> int:
        con.execute("BEGIN")
        try:
            for name, df in frames.items():
                self.replace_table(con, self.stage_table(year, name), df)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return sum(df.height for df in frames.values())

    def read_stage(self, con, year: int, name: str) -> pl.DataFrame:
        return self.read(con, self.stage_table(year, name))

    # ---- publication -----------------------------------------------------------------------------
    def publish_year(self, con, year: int, marts: dict[str, pl.DataFrame]) -> int:
        """Replace compliance year `year` in every given mart, all in one transaction."""
        con.execute("BEGIN")
        try:
            for name, df in marts.items():
                table = next(t for t in catalog.MARTS if t.name == name)
                self.replace_typed(con, table, df, where=f"compliance_year = {int(year)}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return sum(df.height for df in marts.values())

    # ---- audit -----------------------------------------------------------------------------------
    def append(self, con, table: Table, rows: list[dict] | pl.DataFrame) -> None:
        df = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows, schema=table.polars_schema)
        cols = ", ".join(f'CAST("{c.name}" AS {c.duckdb_type})' for c in table.columns)
        con.register("_etsflow_df", df.select(table.names))
        try:
            con.execute(f"INSERT INTO {table.qualified} SELECT {cols} FROM _etsflow_df")
        finally:
            con.unregister("_etsflow_df")

    def update_run(self, con, run_id: str, **fields) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        con.execute(f"UPDATE audit.pipeline_run SET {sets} WHERE run_id = ?", [*fields.values(), run_id])

    # ---- serving ---------------------------------------------------------------------------------
    def serve(self, con) -> None:
        """Rebuild the served file from the work database and swap it in atomically."""
        for p in (self.next, self.next.with_name(self.next.name + ".wal")):
            p.unlink(missing_ok=True)
        con.execute(f"ATTACH {_q(str(self.next))} AS srv (STORAGE_VERSION '{SERVED_STORAGE_VERSION}')")
        try:
            for schema in ("raw", "core", "mart", "audit"):
                con.execute(f"CREATE SCHEMA srv.{schema}")
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'raw' ORDER BY 1"
            ).fetchall():
                con.execute(f'CREATE TABLE srv.raw."{name}" AS SELECT * FROM raw."{name}"')
                con.execute(
                    f'COMMENT ON TABLE srv.raw."{name}" IS '
                    f"{_q('As ingested: every cell as text, with _source_file, _sheet, _row, _file_hash')}"
                )
            for t in catalog.INPUTS + catalog.PUBLISHED:
                con.execute(ddl(t, prefix="srv."))
                order = ", ".join(f'"{k}"' for k in t.key) if t.key else "ALL"
                con.execute(
                    f"INSERT INTO srv.{t.qualified} SELECT {', '.join(t.names)} FROM {t.qualified} "
                    f"ORDER BY {order}"
                )
                for stmt in comments(t, prefix="srv."):
                    con.execute(stmt)
            con.execute("CHECKPOINT srv")
        finally:
            con.execute("DETACH srv")
        os.replace(self.next, self.served)


def read_published(served: str | Path, sql: str, params: list | None = None) -> pl.DataFrame:
    """Run a query on the served file with a read-only connection (as BI tools do)."""
    con = duckdb.connect(str(served), read_only=True)
    try:
        return con.sql(sql, params=params or None).pl()
    finally:
        con.close()
