"""DuckDB storage of the pipeline: work database, stage outputs, publication, served file."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from model import PARQUET_ROW_GROUP, catalog
from model.catalog import Table
from transforms import for_duckdb

SERVED_STORAGE_VERSION = "v1.5.0"  # DuckDB 1.5 clients (many BI connectors embed 1.x) can open it
# DuckDB's memory for the work database (its `memory_limit`; DuckDB's own default is 80 % of the
# machine's memory). DuckDB keeps every block it wrote or read cached up to its limit, and publish
# writes the year's history, input snapshot and marts in one transaction: at 100,000 enterprises
# the run's peak resident memory was ~0.4 GiB higher with DuckDB's default. Above the limit DuckDB
# evicts cached blocks and spills sorts, aggregates and joins to `<work database>.tmp`.
# ETSFLOW_DUCKDB_MEMORY sets another value (DuckDB's form: 512MB, 2GB).
WORK_MEMORY_LIMIT = "512MB"
SERVED_SCHEMAS = ("raw", "core", "mart", "history", "audit", "scenario")  # what the work database holds
SHARED = 0  # the cache slot of inbox-wide outputs (raw.*): shared by every year
PAUSE_ENV = "ETSFLOW_PAUSE_AT"
RAW_COMMENT = "As ingested: every cell as text, with _source_file, _sheet, _row, _file_hash"
# Comments of the raw columns that are not input columns of the catalog (provenance, manifest).
RAW_COLUMN_COMMENTS = {
    "_source_file": "来源文件 — inbox file the row was read from, relative to the inbox",
    "_sheet": "工作表 — worksheet of the row (empty for CSV and Parquet)",
    "_row": "行号 — row number in the file as a spreadsheet shows it (header = 1)",
    "_file_hash": "文件哈希 — sha256 of the source file",
    "source_file": "来源文件 — inbox file, relative to the inbox",
    "sheet": "工作表 — worksheet (empty for CSV and Parquet)",
    "table_name": "识别为 — the input table the file or sheet was recognised as (empty: not recognised)",
    "encoding": "编码 — text encoding the CSV was read with",
    "rows": "行数 — data rows read",
    "columns": "列名 — headers as found in the file, joined by |",
    "file_hash": "文件哈希 — sha256 of the file",
    "folder_year": "目录年份 — the year of the reports/<year>/ folder, if any",
    "error": "问题 — why the file or sheet was skipped (empty: read)",
    "note": "说明 — what ingest noted about the file or sheet (e.g. hidden sheets not read)",
    "row_number": "行号 — row of the problem in the file (header = 1)",
    "column_name": "列 — column of the problem",
    "value": "值 — the cell as found",
    "message": "问题说明 — what is wrong with the cell or row",
}


def raw_column_comments(name: str, columns: list[str], prefix: str = "") -> list[str]:
    """COMMENT ON COLUMN statements for a `raw.*` table: an input column gets its catalog label
    and description (as text, as ingested); provenance and manifest columns their own words."""
    known = {c.name: c for t in catalog.INPUTS for c in t.columns}
    out = []
    for col in columns:
        if col in RAW_COLUMN_COMMENTS:
            text = RAW_COLUMN_COMMENTS[col]
        elif col in known:
            text = f"{known[col].zh} — {known[col].description} (as ingested, text)"
        else:
            text = "as ingested, text: a column the catalog does not describe"
        out.append(f'COMMENT ON COLUMN {prefix}raw."{name}"."{col}" IS {_q(text)}')
    return out


class WarehouseBusy(Exception):
    """Another process holds the work database (a run in progress); the message says what to do."""


class PublicationShrinks(Exception):
    """The new served file would hold fewer published rows or years than the one it replaces;
    the message names them and says what to do."""


def pause_point(point: str, folder: Path) -> None:
    """Test hook for crash tests and drills: with `ETSFLOW_PAUSE_AT=<point>[,<point>…]` in the
    environment, stop here: write the marker file `ETSFLOW_PAUSE_MARKER` (default
    `<warehouse dir>/paused-at-<point>`, content "<pid> <point>") and sleep
    `ETSFLOW_PAUSE_SECONDS` (default 3600), then go on. A test kills the process meanwhile.

    Points: `ingest`, `validate`, `baselines`, `allocate`, `clearance`, `publish` (inside the
    stage's write transaction of the work database, rows written, not committed),
    `publish:committed` (the year committed in the work database, the served file not yet
    swapped) and `serve` (the new served file built and checkpointed, before `os.replace`).
    Without the variable this costs one dictionary look-up."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted or point not in {w.strip() for w in wanted.split(",")}:
        return
    marker = Path(os.environ.get("ETSFLOW_PAUSE_MARKER") or folder / f"paused-at-{point.replace(':', '-')}")
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(f"{os.getpid()} {point}\n", encoding="utf-8")
    os.replace(tmp, marker)  # the marker appears whole
    time.sleep(float(os.environ.get("ETSFLOW_PAUSE_SECONDS", "3600")))
    marker.unlink(missing_ok=True)


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ddl(table: Table, prefix: str = "") -> str:
    cols = ", ".join(
        f'"{c.name}" {c.duckdb_type}' + (f" USING COMPRESSION {c.compression}" if c.compression else "")
        for c in table.columns
    )
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


def _names(table: Table) -> str:
    """The catalog's column names, for an INSERT that does not depend on the stored column order."""
    return ", ".join(f'"{c.name}"' for c in table.columns)


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[str]:
    """The columns of `<schema>.<name>` in the connection's current database, in table order."""
    return [
        r[0]
        for r in con.sql(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = $1 AND table_name = $2 ORDER BY column_index",
            params=[schema, name],
        ).fetchall()
    ]


def _add_new_columns(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Columns the catalog added since the table was created (the catalog adds, never renames):
    added empty, with their comment, so that a warehouse of an earlier version takes new rows."""
    have = set(table_columns(con, table.schema, table.name))
    for c in table.columns:
        if c.name not in have:
            con.execute(f'ALTER TABLE {table.qualified} ADD COLUMN "{c.name}" {c.duckdb_type}')
            unit = f" [{c.unit}]" if c.unit else ""
            con.execute(
                f'COMMENT ON COLUMN {table.qualified}."{c.name}" IS {_q(f"{c.zh} — {c.description}{unit}")}'
            )


def _has_schema(con: duckdb.DuckDBPyConnection, schema: str) -> bool:
    return bool(
        con.sql(
            "SELECT count(*) FROM duckdb_schemas() WHERE database_name = current_database() AND schema_name = $1",
            params=[schema],
        ).fetchall()[0][0]
    )


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, df: pl.DataFrame, name: str = "_etsflow_df") -> Iterator[str]:
    """`df` readable by SQL as `name` while the block runs (handed over as `for_duckdb` says)."""
    con.register(name, for_duckdb(df))
    try:
        yield name
    finally:
        con.unregister(name)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Warehouse:
    """Paths and writes of one warehouse (a served file and its work database)."""

    def __init__(self, served: str | Path):
        self.served = Path(served).resolve()
        self.work = self.served.with_name(self.served.stem + ".work.duckdb")
        self.stage_dir = self.served.with_name(self.served.stem + ".stage")
        self.next = self.served.with_name(self.served.name + ".next")
        self._written: list[Path] = []  # stage files written since the last cache_forget
        self.seeded: str | None = None  # why connect() rebuilt the work database from the served file

    # ---- connection -------------------------------------------------------------------------
    @contextmanager
    def connect(self):
        """The work database: schemas raw, core, mart, audit — exactly what is served, in the
        served storage format. Tables are created, with their comments, on first use. A new (or
        migrated) work database starts with an empty stage folder: stage outputs and their records
        describe one work database."""
        self.served.parent.mkdir(parents=True, exist_ok=True)
        self.seeded = None
        if not self.work.exists() and self.served.exists():
            self._seed_from_served("the work database was missing")
        elif self.work.exists() and self.served.exists() and (why := self._served_is_ahead()):
            self._seed_from_served(why)
        new = not self.work.exists() or self.seeded is not None
        con = self._open()
        try:
            if _has_schema(con, "stage"):  # a work database of the layout before the stage folder
                con.close()
                self._migrate_old_layout()
                con = self._open()
                new = True
            if new:
                shutil.rmtree(self.stage_dir, ignore_errors=True)
            existing = {
                tuple(r)
                for r in con.sql(
                    "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()"
                ).fetchall()
            }
            # one commit: each statement on its own was one (a new warehouse's ~360 statements took
            # ~1 s of writes to the database file)
            with self.transaction(con):
                for schema in SERVED_SCHEMAS:
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                for t in catalog.INPUTS + catalog.PUBLISHED + catalog.SCENARIOS:
                    if (t.schema, t.name) not in existing:
                        con.execute(ddl(t))
                        for stmt in comments(t):
                            con.execute(stmt)
                    else:
                        _add_new_columns(con, t)
            yield con
        finally:
            con.close()

    def _open(self) -> duckdb.DuckDBPyConnection:
        memory = os.environ.get("ETSFLOW_DUCKDB_MEMORY", WORK_MEMORY_LIMIT)
        try:
            return duckdb.connect(
                str(self.work),
                config={"storage_compatibility_version": SERVED_STORAGE_VERSION, "memory_limit": memory},
            )
        except duckdb.ParserException as e:
            raise ValueError(
                f"ETSFLOW_DUCKDB_MEMORY={memory!r} is not a DuckDB memory size (e.g. 512MB, 2GB): {e}"
            ) from None
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise
            detail = str(e).splitlines()[0].split(" See also")[0].rstrip(". ")
            raise WarehouseBusy(
                f"another process is using the work database {self.work} (a run of this warehouse in "
                f"progress?): {detail}. Wait for it to finish, or stop it, then run again; "
                f"BI readers of {self.served} are not affected."
            ) from None

    def _served_is_ahead(self) -> str | None:
        """Why the served file is not a copy of this work database, if it is not: it records runs
        the work database does not know (restored from a backup, or copied from another machine,
        without the work database). None when the work database holds every served run (the usual
        case: the served file is the work database's copy as of the last run)."""
        con = self._open()
        try:
            con.execute(f"ATTACH {_q(str(self.served))} AS served_now (READ_ONLY)")
            tables = {
                r[0]
                for r in con.sql(
                    "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = 'served_now'"
                ).fetchall()
            }
            if "audit.pipeline_run" not in tables:
                return None
            mine = {
                r[0]
                for r in con.sql(
                    "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                    "WHERE database_name = current_database()"
                ).fetchall()
            }
            if "audit.pipeline_run" not in mine:
                return "the work database holds no run history"
            unknown = con.sql(
                "SELECT count(*) FROM served_now.audit.pipeline_run WHERE run_id NOT IN "
                "(SELECT run_id FROM audit.pipeline_run)"
            ).fetchall()[0][0]
            return (
                f"the served file records {unknown} run(s) the work database does not know"
                if unknown
                else None
            )
        finally:
            con.close()

    def _seed_from_served(self, why: str) -> None:
        """Rebuild the work database from the served file (what users keep and back up): it holds
        every table the work database holds (raw, core, mart, audit, in the same storage format).
        A work database that was there is kept beside it as `<work>.replaced-<time>`; the stage
        folder is emptied (every stage reruns). Then no run can publish less than is served."""
        tmp = self.work.with_name(self.work.name + ".seeding")
        tmp.unlink(missing_ok=True)
        shutil.copyfile(self.served, tmp)
        _fsync(tmp)
        if self.work.exists():
            aside = self.work.with_name(f"{self.work.name}.replaced-{now():%Y%m%dT%H%M%S}")
            os.replace(self.work, aside)
            wal = self.work.with_name(self.work.name + ".wal")
            if wal.exists():
                os.replace(wal, aside.with_name(aside.name + ".wal"))
        os.replace(tmp, self.work)
        _fsync_dir(self.work.parent)
        shutil.rmtree(self.stage_dir, ignore_errors=True)
        self.seeded = (
            f"{why}: rebuilt it from the served file {self.served} (its published years, inputs and run "
            "history are kept; every stage reruns)"
        )

    def _migrate_old_layout(self) -> None:
        """Before etsflow 0.2 the work database held the stage outputs too (schema `stage`), in
        DuckDB's newest storage format. Copy what is served (`SERVED_SCHEMAS`: published years,
        versions, scenarios and run history) into a new work database in the served format and drop
        the rest: stage outputs are a cache, the next run recomputes them."""
        new = self.work.with_name(self.work.name + ".migrating")
        new.unlink(missing_ok=True)
        con = duckdb.connect(str(self.work))
        try:
            con.execute(f"ATTACH {_q(str(new))} AS new (STORAGE_VERSION '{SERVED_STORAGE_VERSION}')")
            for schema in SERVED_SCHEMAS:
                con.execute(f"CREATE SCHEMA new.{schema}")
            for schema, name in con.sql(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
                f"AND schema_name IN ({', '.join(map(_q, SERVED_SCHEMAS))}) ORDER BY 1, 2"
            ).fetchall():
                con.execute(f'CREATE TABLE new.{schema}."{name}" AS SELECT * FROM {schema}."{name}"')
                if schema == "raw":
                    con.execute(f'COMMENT ON TABLE new.raw."{name}" IS {_q(RAW_COMMENT)}')
                    for stmt in raw_column_comments(name, table_columns(con, "raw", name), prefix="new."):
                        con.execute(stmt)
            for t in catalog.INPUTS + catalog.PUBLISHED + catalog.SCENARIOS:
                con.execute(ddl(t, prefix="new."))
                for stmt in comments(t, prefix="new."):
                    con.execute(stmt)
            con.execute("CHECKPOINT new")
            con.execute("DETACH new")
        finally:
            con.close()
        os.replace(new, self.work)
        self.work.with_name(self.work.name + ".wal").unlink(missing_ok=True)

    # ---- generic writes -----------------------------------------------------------------------
    @contextmanager
    def transaction(self, con: duckdb.DuckDBPyConnection, pause: str | None = None):
        """One transaction of the work database; `pause` names the test hook's point before COMMIT."""
        con.execute("BEGIN")
        try:
            yield con
            if pause:
                pause_point(pause, self.served.parent)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    @staticmethod
    def replace_table(con: duckdb.DuckDBPyConnection, qualified: str, df: pl.DataFrame) -> None:
        """Replace a whole table with `df` (raw, stage outputs)."""
        with registered(con, df) as name:
            con.execute(f"CREATE OR REPLACE TABLE {qualified} AS SELECT * FROM {name}")

    def write_raw(self, con: duckdb.DuckDBPyConnection, tables: dict[str, pl.DataFrame]) -> None:
        """Replace the `raw.*` tables (inside the caller's transaction), with their comment."""
        for name, df in tables.items():
            self.replace_table(con, f'raw."{name}"', df)
            con.execute(f'COMMENT ON TABLE raw."{name}" IS {_q(RAW_COMMENT)}')
            for stmt in raw_column_comments(name, df.columns):
                con.execute(stmt)

    @staticmethod
    def replace_typed(
        con: duckdb.DuckDBPyConnection, table: Table, df: pl.DataFrame, where: str | None = None
    ) -> None:
        """Replace the rows of a catalog table (all, or those matching `where`) with `df`,
        cast to the catalog's DuckDB types. Runs inside the caller's transaction."""
        con.execute(f"DELETE FROM {table.qualified}" + (f" WHERE {where}" if where else ""))
        _insert_frame(con, table, df)

    @staticmethod
    def read(con: duckdb.DuckDBPyConnection, qualified: str, where: str = "") -> pl.DataFrame:
        return con.sql(f"SELECT * FROM {qualified} {where}").pl()

    # ---- stage outputs (files of the stage folder, never served) ------------------------------
    def stage_path(self, year: int, name: str) -> Path:
        return self.stage_dir / f"y{year}" / f"{name}.parquet"

    def write_stage(self, year: int, frames: dict[str, pl.DataFrame], stage: str | None = None) -> int:
        """Replace the stage outputs `frames` of `year`: each a Parquet file, written beside its
        place, flushed to disk and renamed into it. `stage` names the pause point (all written, the
        stage's cache record not yet written: a crash there means "no reusable output")."""
        for name, df in frames.items():
            _write_parquet(df, self.stage_path(year, name))
            self._written.append(self.stage_path(year, name))
        _fsync_dir(self.stage_dir / f"y{year}")
        if stage:
            pause_point(stage, self.served.parent)
        return sum(df.height for df in frames.values())

    def read_stage(self, year: int, name: str) -> pl.DataFrame:
        return pl.read_parquet(self.stage_path(year, name))

    # ---- publication -----------------------------------------------------------------------------
    def publish_year(self, con, year: int, marts: dict[str, pl.DataFrame]) -> int:
        """Replace compliance year `year` in every given mart, inside the caller's transaction
        (publish's: it also holds the allocation cycle's writes, flows/cycle.py, and commits only
        after the checkpoint's verdict)."""
        for name, df in marts.items():
            table = next(t for t in catalog.MARTS if t.name == name)
            self.replace_typed(con, table, df, where=f"compliance_year = {int(year)}")
        return sum(df.height for df in marts.values())

    # ---- scenarios (contract §6) ---------------------------------------------------------------------
    def write_scenarios(self, con, name: str, frames: dict[str, pl.DataFrame]) -> int:
        """Replace scenario `name` whole in every `scenario.*` table, in one transaction of the work
        database (then `serve`, as for a publication). `mart.*` is not touched."""
        tables = {t.name: t for t in catalog.SCENARIOS}
        with self.transaction(con, pause="scenario"):
            for t in catalog.SCENARIOS:
                con.execute(f"DELETE FROM {t.qualified} WHERE {_name_column(t)} = ?", [name])
            for table_name, df in frames.items():
                self.append(con, tables[table_name], df)
        return sum(df.height for df in frames.values())

    def drop_scenario(self, con, name: str) -> int:
        """Delete scenario `name` from every `scenario.*` table; the number of scenarios it had."""
        with self.transaction(con):
            (n,) = con.sql("SELECT count(*) FROM scenario.run WHERE name = ?", params=[name]).fetchall()[0]
            for t in catalog.SCENARIOS:
                con.execute(f"DELETE FROM {t.qualified} WHERE {_name_column(t)} = ?", [name])
        return n

    # ---- validated inputs ---------------------------------------------------------------------------
    def write_validated(
        self, con, year: int, core: dict[str, pl.DataFrame], quarantine: pl.DataFrame | None
    ) -> None:
        """Store what validation of `year` produced: the year's own copy of the validated inputs
        (stage outputs `core_<table>`: validation depends on the compliance year — completeness,
        --allow-quarantine — so each year's later stages read their own, whatever year was validated
        last), then, in one transaction of the work database, `core.*` (served: the last validated
        inputs) and the quarantined rows. The stage's cache record is written only after both."""
        self.write_stage(year, {f"core_{t.name}": core[t.name] for t in catalog.INPUTS})
        with self.transaction(con, pause="validate"):
            for t in catalog.INPUTS:
                self.replace_typed(con, t, core[t.name])
            if quarantine is not None and quarantine.height:
                self.append(con, catalog.QUARANTINE, quarantine)

    def read_core(self, year: int) -> dict[str, pl.DataFrame]:
        return {t.name: self.read_stage(year, f"core_{t.name}") for t in catalog.INPUTS}

    # ---- stage cache (resume and skip) ------------------------------------------------------------
    # One JSON record per output: `<stage folder>/cache/<slot>-<stage>.json`, slot = the compliance
    # year, or SHARED for the inbox-wide raw tables. A record says which inputs the output now in
    # the warehouse was made from, and which stage files hold it; it is deleted before the stage
    # writes and written (atomically) after the stage's output is complete, so a crash in between
    # leaves no record. A record whose files are gone (deleted by hand) is not trusted either.
    def _record(self, slot: int, stage: str) -> Path:
        return self.stage_dir / "cache" / f"{slot}-{stage}.json"

    def cache_entries(self, year: int) -> dict[str, dict]:
        """The records of what the warehouse holds now for `year`: per stage, input_hash, parts
        (what went into it), run_id, rows_out, message, notes."""
        out = {}
        for slot in (SHARED, int(year)):
            for path in sorted((self.stage_dir / "cache").glob(f"{slot}-*.json")):
                r = json.loads(path.read_text(encoding="utf-8"))
                if all((self.stage_dir / f).is_file() for f in r["files"]):
                    out[r["stage"]] = r
        return out

    def cache_forget(self, slot: int, stage: str) -> None:
        """Before a stage writes: its output no longer matches any recorded inputs."""
        self._record(slot, stage).unlink(missing_ok=True)
        self._written = []

    def cache_remember(
        self,
        slot: int,
        stage: str,
        input_hash: str,
        parts: dict,
        run_id: str,
        rows_out: int,
        message: str,
        notes: list[str],
    ) -> None:
        """After a stage's output is complete: it was made from the inputs `input_hash` (and it is in
        the stage files written since `cache_forget`)."""
        record = {
            "compliance_year": slot,
            "stage": stage,
            "input_hash": input_hash,
            "parts": parts,
            "run_id": run_id,
            "finished_at": now().isoformat(),
            "rows_out": rows_out,
            "message": message,
            "notes": notes,
            "files": sorted(p.relative_to(self.stage_dir).as_posix() for p in set(self._written)),
        }
        path = self._record(slot, stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False, sort_keys=True, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    # ---- audit -----------------------------------------------------------------------------------
    def append(self, con, table: Table, rows: list[dict] | pl.DataFrame) -> None:
        """Insert `rows` (a frame, or a few rows as dicts: the run's audit records) into `table`.
        Dicts are bound as parameters: registering a one-row frame cost ~8 ms CPU a call against
        ~1 ms, and a run appends a dozen audit rows."""
        if isinstance(rows, list):
            values = ", ".join(f"CAST(? AS {c.duckdb_type})" for c in table.columns)
            if rows:
                con.executemany(
                    f"INSERT INTO {table.qualified} ({_names(table)}) VALUES ({values})",
                    [[row.get(c.name) for c in table.columns] for row in rows],
                )
            return
        _insert_frame(con, table, rows)

    @staticmethod
    def append_query(con, table: Table, select: str) -> None:
        """Insert the rows of `select` (the table's columns, in catalog order) in the order it
        gives them: computed and stored by DuckDB, no frame in between."""
        con.execute(f"INSERT INTO {table.qualified} ({_names(table)}) {select}")

    def update_run(self, con, run_id: str, **fields) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        con.execute(f"UPDATE audit.pipeline_run SET {sets} WHERE run_id = ?", [*fields.values(), run_id])

    def update_stage(self, con, run_id: str, stage: str, **fields) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        con.execute(
            f"UPDATE audit.stage_run SET {sets} WHERE run_id = ? AND stage = ?",
            [*fields.values(), run_id, stage],
        )

    @staticmethod
    def mark_interrupted(con) -> int:
        """Runs still 'running' when a new run opens the work database were killed (the work
        database admits one writer, so no other run is alive): mark them and their stage."""
        n = con.sql("SELECT count(*) FROM audit.pipeline_run WHERE status = 'running'").fetchall()[0][0]
        if n:
            con.execute(
                "UPDATE audit.stage_run SET status = 'interrupted', message = 'the process stopped during this "
                "stage (killed, crashed or machine stopped); its uncommitted writes were discarded' "
                "WHERE status = 'running'"
            )
            con.execute(
                "UPDATE audit.pipeline_run SET status = 'interrupted', message = 'interrupted: the process "
                "stopped before the run finished; published results were left as they were' WHERE status = 'running'"
            )
        return n

    # ---- serving ---------------------------------------------------------------------------------
    def shrinkage(self, con) -> list[str]:
        """What the served file holds that the work database would no longer serve: per table of
        `mart` and `history` (published years and versions; `scenario` runs may be dropped on
        purpose) and compliance year, rows that would be fewer (a year gone is 0 rows). Empty when
        nothing shrinks or nothing is served yet. Read with the served file attached read-only."""
        if not self.served.exists():
            return []
        con.execute(f"ATTACH {_q(str(self.served))} AS served_prev (READ_ONLY)")
        try:

            def counts(db: str) -> dict[tuple[str, int | None], int]:
                cols = con.sql(
                    "SELECT schema_name || '.' || table_name, bool_or(column_name = 'compliance_year') "
                    f"FROM duckdb_columns() WHERE database_name = {db} AND schema_name IN ('mart', 'history') "
                    "GROUP BY 1 ORDER BY 1"
                ).fetchall()
                out = {}
                prefix = "served_prev." if db != "current_database()" else ""
                for table, by_year in cols:
                    schema, name = table.split(".", 1)
                    qualified = f'{prefix}{schema}."{name}"'
                    if by_year:
                        rows = con.sql(
                            f"SELECT compliance_year, count(*) FROM {qualified} GROUP BY 1"
                        ).fetchall()
                    else:
                        rows = [(None, con.sql(f"SELECT count(*) FROM {qualified}").fetchall()[0][0])]
                    out |= {(table, y): n for y, n in rows}
                return out

            before, after = counts("'served_prev'"), counts("current_database()")
        finally:
            con.execute("DETACH served_prev")
        return [
            table + (f" {year}" if year is not None else "") + f": {n} → {after.get((table, year), 0)} rows"
            for (table, year), n in sorted(before.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))
            if after.get((table, year), 0) < n
        ]

    def shrink_refusal(self, shrinks: list[str]) -> str:
        """The one paragraph of a publication refused because it would hold fewer rows."""
        return (
            f"not published: the served file {self.served} would hold fewer rows than it does now "
            f"({'; '.join(shrinks[:6])}{' …' if len(shrinks) > 6 else ''}). The served file is "
            "unchanged. If the work database is stale (the served file was restored or copied "
            f"without it), move {self.work.name} aside and run again: it is rebuilt from the served "
            "file. If fewer rows are intended (inputs withdrawn on purpose), run again with "
            "--allow-shrink."
        )

    def serve(self, con, allow_shrink: bool = False) -> None:
        """Publish the work database as the served file: checkpoint it (so that the file holds every
        committed row), copy the file to `<served>.next`, flush it to disk and `os.replace` it
        over the served file.

        The work database holds exactly the served schemas in the served storage format, so the copy
        is the served file (no table is rewritten). Safe to call again after a failure or a crash:
        a leftover `.next` is overwritten, and until `os.replace` the served file is the previous
        one, untouched. Refused (`PublicationShrinks`) when the new file would hold fewer published
        rows than the served one (`shrinkage`), unless `allow_shrink`."""
        if not allow_shrink and (shrinks := self.shrinkage(con)):
            raise PublicationShrinks(self.shrink_refusal(shrinks))
        con.execute("CHECKPOINT")
        self.next.unlink(missing_ok=True)
        try:
            shutil.copyfile(self.work, self.next)
            _fsync(self.next)
        except BaseException:  # e.g. the disk is full: give the space back, the served file is untouched
            self.next.unlink(missing_ok=True)
            raise
        pause_point("serve", self.served.parent)
        os.replace(self.next, self.served)
        _fsync_dir(self.served.parent)  # the rename itself survives a power cut


def _name_column(t: Table) -> str:
    """The column of a scenario.* table that holds the scenario's name."""
    return "name" if t is catalog.SCENARIO_RUN else "scenario_name"


def _insert_frame(con: duckdb.DuckDBPyConnection, table: Table, df: pl.DataFrame) -> None:
    """Insert the rows of `df` into the catalog table `table`, cast to the catalog's DuckDB types."""
    cols = ", ".join(f'CAST("{c.name}" AS {c.duckdb_type})' for c in table.columns)
    with registered(con, df.select(table.names)) as name:
        Warehouse.append_query(con, table, f"SELECT {cols} FROM {name}")


def _write_parquet(df: pl.DataFrame, path: Path) -> None:
    """Write `df` to `path` whole or not at all: beside it, flushed to disk, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.write_parquet(tmp, row_group_size=PARQUET_ROW_GROUP)
    _fsync(tmp)
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on this platform or file system
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def served_file(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the served file, as BI tools open it (closed on leaving)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def read_published(served: str | Path, sql: str, params: list | None = None) -> pl.DataFrame:
    """Run a query on the served file with a read-only connection (as BI tools do); the named
    queries of the CLI and the exports are `warehouse.read`'s."""
    with served_file(served) as con:
        return con.sql(sql, params=params or None).pl()
