"""Parquet files of the year: one file per mart, typed as in the catalog (DECIMAL stays decimal)."""

from __future__ import annotations

import os
from pathlib import Path

from model.results import MART_TABLES, YearResults


def write_parquet(results: YearResults, out_dir: Path) -> list[Path]:
    """Write `out_dir/<mart>_<year>.parquet` for each of the five marts (empty ones too).

    Each file carries key-value metadata: table, compliance year and rule-pack version. Files are
    written to a temporary name and renamed. Returns the paths in catalog order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in results.marts.items():
        path = out_dir / f"{name}_{results.year}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        df.write_parquet(
            tmp,
            compression="zstd",
            metadata={
                "etsflow.table": MART_TABLES[name].qualified,
                "etsflow.compliance_year": str(results.year),
                "etsflow.rule_pack": results.policy.version,
            },
        )
        os.replace(tmp, path)
        paths.append(path)
    return paths
