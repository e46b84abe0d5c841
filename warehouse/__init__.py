"""The warehouse owns every write.

Two DuckDB files (contract §4):
- the **work database** `<name>.work.duckdb` beside the served file: the pipeline's own state —
  `raw`, `core`, `stage` (outputs of each stage, for resume), `mart` (the authoritative
  publications) and `audit`. Only the running pipeline opens it.
- the **served file** (`--warehouse`, default `var/warehouse.duckdb`): what BI tools open,
  read-only, at any time. It is never written in place: `serve()` builds `<name>.next` in the
  DuckDB 1.5 storage format from the work database, checkpoints it and `os.replace`s it over
  the served file. Readers that have the old file open keep reading the old version; a crash
  before the rename leaves the served file as it was.
Publishing a year replaces its rows in every mart in one transaction of the work database.
"""

from warehouse.store import Warehouse, read_published

__all__ = ["Warehouse", "read_published"]
