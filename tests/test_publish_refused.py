"""A publication that fails the warehouse checkpoint is refused and the previous one is kept."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

import transforms.allocate
import transforms.engine
from warehouse import read_published

from .conftest import BAD


def test_broken_mart_is_refused_and_previous_publication_kept(cli, tmp_path, monkeypatch):
    inbox, wh = BAD / "_valid", tmp_path / "wh.duckdb"
    ok = cli("run", "--year", 2021, "--inbox", inbox, "--warehouse", wh, "--as-of", "2024-01-01")
    assert ok.exit_code == 0, ok.output
    before = read_published(wh, "SELECT * FROM mart.allocation_line ORDER BY line_id")
    assert before.height == 3

    real = transforms.allocate.allocate

    def broken(*args):  # one line no longer sums to its enterprise's raw allocation
        a = real(*args)
        lines = a.lines.with_columns(
            pl.when(pl.col("line_id") == "B2-L1")
            .then(pl.col("allocation_t") + Decimal("1"))
            .otherwise(pl.col("allocation_t"))
            .cast(pl.Decimal(18, 4))  # right type, wrong value: only the checkpoint can see it
            .alias("allocation_t")
        )
        return transforms.allocate.Allocation(lines=lines, enterprises=a.enterprises, cap=a.cap)

    monkeypatch.setattr(transforms.engine, "allocate", broken)  # where the engine calls it
    # inputs are unchanged, so a plain rerun would skip allocate: resume from it to recompute
    r = cli(
        "run",
        "--year",
        2021,
        "--inbox",
        inbox,
        "--warehouse",
        wh,
        "--as-of",
        "2024-01-01",
        "--from-stage",
        "allocate",
    )
    assert r.exit_code == 1
    assert "checkpoint refused the 2021 results" in r.stderr and "B2" in r.stderr
    after = read_published(wh, "SELECT * FROM mart.allocation_line ORDER BY line_id")
    assert after.equals(before)
    stages = dict(
        read_published(
            wh,
            "SELECT stage, status FROM audit.stage_run WHERE run_id = "
            "(SELECT run_id FROM audit.pipeline_run ORDER BY started_at DESC LIMIT 1)",
        ).rows()
    )
    assert stages["publish"] == "failed" and stages["allocate"] == "succeeded"
    assert (tmp_path / "out" / "2021" / "data-docs").is_dir()
