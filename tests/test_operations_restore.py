"""A warehouse survives its own restore, and a publication never shrinks unnoticed (issue #14).

- Only the served file restored (backup, new machine: no work database, no stage folder): the next
  run rebuilds its work state from the served file, so no published year is lost.
- A stale work database beside a newer served file: the same.
- A run whose publication would hold fewer rows than the served file is refused, unless
  `--allow-shrink`.
- A full disk (ENOSPC) anywhere: one paragraph, exit 1, published results unchanged.
"""

from __future__ import annotations

import errno
import shutil

import polars as pl
import pytest

from warehouse import read_published

from .conftest import BAD

COUNTS = (
    "SELECT 'allocation_line' t, compliance_year y, count(*) n FROM mart.allocation_line GROUP BY ALL "
    "UNION ALL SELECT 'allocation_enterprise', compliance_year, count(*) FROM mart.allocation_enterprise GROUP BY ALL "
    "UNION ALL SELECT 'cap_summary', compliance_year, count(*) FROM mart.cap_summary GROUP BY ALL "
    "ORDER BY ALL"
)


def _run(cli, year, inbox, wh, *extra, as_of="2024-01-01"):
    return cli("run", "--year", year, "--inbox", inbox, "--warehouse", wh, "--as-of", as_of, *extra)


def _one_paragraph(text: str) -> bool:
    return text.count("\n") <= 1 and "Traceback" not in text


def test_only_the_served_file_restored_keeps_every_published_year(cli, tmp_path):
    inbox, wh = BAD / "_valid", tmp_path / "wh.duckdb"
    assert _run(cli, 2021, inbox, wh).exit_code == 0
    lines_2021 = read_published(wh, "SELECT * FROM mart.allocation_line ORDER BY line_id")
    assert lines_2021.height == 3
    # restore on a new machine: the served file only
    moved = tmp_path / "new-machine" / "wh.duckdb"
    moved.parent.mkdir()
    shutil.copyfile(wh, moved)
    r = _run(cli, 2022, inbox, moved)
    assert r.exit_code == 0, r.output
    assert "rebuilt it from the served file" in r.output
    assert read_published(moved, "SELECT * FROM mart.allocation_line ORDER BY line_id").equals(lines_2021)
    assert read_published(moved, "SELECT compliance_year FROM mart.cap_summary ORDER BY 1")[
        "compliance_year"
    ].to_list() == [2021, 2022]
    runs = read_published(moved, "SELECT compliance_year, status FROM audit.pipeline_run ORDER BY started_at")
    assert runs.rows() == [(2021, "succeeded"), (2022, "succeeded")]  # the history travelled too


def test_a_stale_work_database_beside_a_newer_served_file_is_replaced_by_it(cli, tmp_path):
    inbox, wh = BAD / "_valid", tmp_path / "wh.duckdb"
    work = tmp_path / "wh.work.duckdb"
    assert _run(cli, 2021, inbox, wh).exit_code == 0
    old_work = tmp_path / "old-work.duckdb"
    shutil.copyfile(work, old_work)
    assert _run(cli, 2022, inbox, wh).exit_code == 0
    served = read_published(wh, COUNTS)
    shutil.copyfile(old_work, work)  # e.g. the work database restored from an older backup
    r = _run(cli, 2021, inbox, wh, as_of="2024-02-01")
    assert r.exit_code == 0, r.output
    assert "records 1 run(s) the work database does not know" in r.output
    assert read_published(wh, COUNTS).equals(served)
    assert list(tmp_path.glob("wh.work.duckdb.replaced-*"))  # the old one is kept aside, not deleted


def test_a_publication_with_fewer_rows_is_refused_unless_allowed(cli, tmp_path):
    inbox, wh = tmp_path / "inbox", tmp_path / "wh.duckdb"
    shutil.copytree(BAD / "_valid", inbox)
    assert _run(cli, 2021, inbox, wh).exit_code == 0
    before = read_published(wh, COUNTS)
    served_bytes = wh.read_bytes()
    # B2 withdrawn from 2021 (listed from 2022 only): 2021 would publish one line instead of three
    p = inbox / "enterprises.csv"
    p.write_text(p.read_text(encoding="utf-8").replace('长寿区,化工行业,"2021,2022"', "长寿区,化工行业,2022"))
    r = _run(cli, 2021, inbox, wh)
    assert r.exit_code == 1, r.output
    assert _one_paragraph(r.stderr)
    assert "would hold fewer rows than it does now" in r.stderr
    assert "mart.allocation_line 2021: 3 → 1 rows" in r.stderr and "--allow-shrink" in r.stderr
    assert wh.read_bytes() == served_bytes  # not even the audit rows: the served file is untouched
    # a plain rerun does not slip it through (every stage skipped, serving refused again)
    assert _run(cli, 2021, inbox, wh).exit_code == 1
    assert read_published(wh, COUNTS).equals(before)
    ok = _run(cli, 2021, inbox, wh, "--allow-shrink")
    assert ok.exit_code == 0, ok.output
    assert "published with fewer rows than before (--allow-shrink)" in ok.output
    assert read_published(wh, "SELECT line_id FROM mart.allocation_line")["line_id"].to_list() == ["B1-L1"]
    msg = read_published(wh, "SELECT message FROM audit.pipeline_run ORDER BY started_at DESC LIMIT 1")
    assert "mart.allocation_line 2021: 3 → 1 rows" in msg["message"][0]


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_in_a_stage_is_one_paragraph_and_publishes_nothing(cli, tmp_path, monkeypatch):
    import warehouse.store

    inbox, wh = BAD / "_valid", tmp_path / "wh.duckdb"
    assert _run(cli, 2021, inbox, wh).exit_code == 0
    before = read_published(wh, "SELECT * FROM mart.allocation_line ORDER BY line_id")
    monkeypatch.setattr(warehouse.store, "_write_parquet", _no_space)
    r = _run(cli, 2021, inbox, wh, as_of="2024-03-01")  # clearance reruns and writes its stage file
    assert r.exit_code == 1
    assert _one_paragraph(r.stderr), r.stderr
    assert "the disk is full (" in r.stderr and "Published results are unchanged" in r.stderr
    assert read_published(wh, "SELECT * FROM mart.allocation_line ORDER BY line_id").equals(before)
    monkeypatch.undo()
    assert _run(cli, 2021, inbox, wh, as_of="2024-03-01").exit_code == 0  # free space, rerun: done


def test_a_full_disk_while_serving_leaves_the_served_file_and_no_leftover(cli, tmp_path, monkeypatch):
    import warehouse.store

    inbox, wh = BAD / "_valid", tmp_path / "wh.duckdb"
    assert _run(cli, 2021, inbox, wh).exit_code == 0
    served_bytes = wh.read_bytes()
    real = shutil.copyfile

    def half_copy(src, dst, *a, **k):  # writes part of the file, then the disk is full
        if str(dst).endswith(".next"):
            with open(dst, "wb") as f:
                f.write(b"\0" * 4096)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(warehouse.store.shutil, "copyfile", half_copy)
    r = _run(cli, 2021, inbox, wh, as_of="2024-03-01")
    assert r.exit_code == 1
    assert _one_paragraph(r.stderr) and "the disk is full" in r.stderr, r.stderr
    assert wh.read_bytes() == served_bytes
    assert not (tmp_path / "wh.duckdb.next").exists()


@pytest.mark.parametrize("where", ["static assets", "pages"])
def test_a_full_disk_while_writing_data_docs_is_one_paragraph(where, cli, tmp_path, monkeypatch, capfd):
    """Great Expectations raises from copying its static assets, but only logs (with a traceback on
    stderr) a page it cannot write: both end as the one paragraph."""
    from great_expectations.data_context.store.html_site_store import HtmlSiteStore
    from great_expectations.data_context.store.tuple_store_backend import TupleFilesystemStoreBackend

    real = TupleFilesystemStoreBackend._set

    def pages_fail(self, key, *a, **k):  # validation pages fail (logged by GX), the index is written
        return real(self, key, *a, **k) if key == () else _no_space()  # () is the index page

    monkeypatch.setattr(
        TupleFilesystemStoreBackend, "_set", _no_space if where == "static assets" else pages_fail
    )
    if where == "pages":
        monkeypatch.setattr(HtmlSiteStore, "copy_static_assets", lambda self, *a, **k: None)
    wh = tmp_path / "wh.duckdb"
    r = _run(cli, 2021, BAD / "_valid", wh)
    assert r.exit_code == 1, r.output
    assert _one_paragraph(r.stderr) and "the disk is full" in r.stderr, r.stderr
    if where == "pages":
        assert "Data Docs could not be written" in r.stderr
    assert "Traceback" not in capfd.readouterr().err  # nothing from Great Expectations' logger either
    assert read_published(wh, "SELECT count(*) n FROM mart.allocation_line")["n"][0] == 0
    stages = dict(read_published(wh, "SELECT stage, status FROM audit.stage_run").rows())
    assert stages["publish"] == "failed"


def test_shrinkage_compares_every_mart_per_year(tmp_path):
    """Unit: what `Warehouse.shrinkage` reports, with frames written straight into both files."""
    import duckdb

    from warehouse.store import PublicationShrinks, Warehouse

    wh = Warehouse(tmp_path / "wh.duckdb")
    with wh.connect() as con:
        con.execute(
            "INSERT INTO mart.cap_summary (compliance_year, enterprise_count) VALUES (2021, 2), (2022, 2)"
        )
        wh.serve(con)
        con.execute("DELETE FROM mart.cap_summary WHERE compliance_year = 2021")
        assert wh.shrinkage(con) == ["mart.cap_summary 2021: 1 → 0 rows"]
        served = wh.served.read_bytes()
        with pytest.raises(PublicationShrinks, match="mart.cap_summary 2021: 1 → 0 rows"):
            wh.serve(con)  # every serve is guarded (scenario commands serve too)
        assert wh.served.read_bytes() == served
        con.execute(
            "INSERT INTO mart.cap_summary (compliance_year, enterprise_count) VALUES (2021, 2), (2023, 1)"
        )
        assert wh.shrinkage(con) == []
    assert isinstance(duckdb.__version__, str) and pl.__version__
