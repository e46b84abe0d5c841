"""The warehouse owns every write.

Beside the served file (contract §4):
- the **work database** `<name>.work.duckdb`: the authoritative state of what is served —
  `raw`, `core`, `mart` (the publications) and `audit` — in the served (DuckDB 1.5) storage
  format. Only the running pipeline opens it.
- the **stage folder** `<name>.stage/`: each stage's outputs per year as Parquet, and the cache
  records that say what they were made from (for skip and resume). Never served.
- the **served file** (`--warehouse`, default `var/warehouse.duckdb`): what BI tools open,
  read-only, at any time. It is never written in place: `serve()` checkpoints the work database,
  copies it to `<name>.next` and `os.replace`s that over the served file. Readers that have the
  old file open keep reading the old version; a crash before the rename leaves the served file
  as it was.
Publishing a year replaces its rows in every mart in one transaction of the work database.
"""

from warehouse.store import Warehouse, read_published

__all__ = ["Warehouse", "read_published"]
