"""Publish checkpoint: passes on consistent marts, names every injected break.

Great Expectations is slow to import and to run, so it runs twice per session (module-scoped):
once on the good fixture, once on a fixture carrying six independent breaks. Everything else
here exercises the exact comparison frames without GX.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import polars as pl
import pytest

from model.results import YearResults
from tests.test_exports_results import make_results
from validations.checkpoint import CheckpointResult, check_frames, run_checkpoint

REPO = Path(__file__).resolve().parents[1]


def _set(df: pl.DataFrame, key: str, id_: str, **values) -> pl.DataFrame:
    """`df` with `values` written into the row whose `key` is `id_` (types kept)."""
    return df.with_columns(
        pl.when(pl.col(key) == id_).then(pl.lit(v)).otherwise(pl.col(c)).cast(df.schema[c]).alias(c)
        for c, v in values.items()
    )


def broken_results() -> YearResults:
    """Six breaks, each in a place no other check looks at."""
    r = make_results()
    return make_results(
        # a duplicated key
        clearance_status=pl.concat(
            [r.clearance_status, r.clearance_status.filter(pl.col("enterprise_id") == "E003")]
        ),
        # a negative allocation (the line total stays 120,000.25)
        allocation_line=_set(
            r.allocation_line,
            "line_id",
            "L005",
            allocation_co2_t=D("120000.5"),
            allocation_non_co2_t=D("-0.25"),
        ),
        # Σ lines ≠ raw by 0.0001 t
        allocation_enterprise=_set(
            r.allocation_enterprise, "enterprise_id", "E002", allocation_raw_t=D("380000.0001")
        ),
        # reserve off by 1
        cap_summary=r.cap_summary.with_columns(pl.col("reserve_t") + 1),
        # a listed enterprise missing from the allocation
        listed_enterprise_ids=[*r.listed_enterprise_ids, "E004"],
        # an item not reconciling
        clearance_item=_set(r.clearance_item, "txn_id", "T005", refused_t=D("19999")),
    )


EXPECTED_FAILURES = {
    "duplicated key": "clearance_status: expect_compound_columns_to_be_unique(compliance_year, enterprise_id) "
    "failed — key (compliance_year, enterprise_id) is unique: 2 of 4 row(s): enterprise_id=E003; "
    "enterprise_id=E003",
    "negative allocation": "allocation_line: expect_column_values_to_be_between(allocation_non_co2_t) failed — "
    "allocation_non_co2_t ≥ 0: 1 of 5 row(s): line_id=L005",
    "line sum ≠ raw": "allocation_enterprise: expect_column_values_to_be_in_set(line_sum_equals_raw) failed — "
    "Σ allocation_line.allocation_t of the enterprise = allocation_raw_t (生产线配额之和 = 核算配额): "
    "1 of 3 row(s): enterprise_id=E002, line_sum_t=380000.0000, allocation_raw_t=380000.0001",
    "reserve off by 1": "cap_summary: expect_column_values_to_be_in_set(total_plus_reserve_equals_cap) failed — "
    "enterprise_total_t + reserve_t = total_cap_t: 1 of 1 row(s): compliance_year=2022, "
    "enterprise_total_t=1372750, reserve_t=72251, total_cap_t=1445000",
    "missing listed enterprise": "listed_enterprises: expect_column_values_to_be_in_set(is_allocated) failed — "
    "every listed enterprise (with verified emissions) is in allocation_enterprise: 1 of 4 row(s): "
    "enterprise_id=E004",
    "item not reconciling": "clearance_item: expect_column_values_to_be_in_set(accepted_plus_refused_equals_quantity) "
    "failed — accepted_t + refused_t = quantity_t: 1 of 6 row(s): txn_id=T005, quantity_t=60000, "
    "accepted_t=40000.0000, refused_t=19999.0000",
}


def _run_in(cwd: Path, results: YearResults, docs: Path) -> CheckpointResult:
    """Run with `cwd` as working directory, to prove GX writes nothing there."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return run_checkpoint(results, docs)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> tuple[CheckpointResult, Path, Path]:
    cwd, docs = tmp_path_factory.mktemp("cwd"), tmp_path_factory.mktemp("docs_good")
    return _run_in(cwd, make_results(), docs), cwd, docs


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory) -> CheckpointResult:
    return run_checkpoint(broken_results(), tmp_path_factory.mktemp("docs_broken"))


def test_checkpoint_passes_on_consistent_marts_and_builds_data_docs(good_run) -> None:
    result, cwd, docs = good_run
    assert result.failures == [] and result.success
    assert result.docs_index == docs / "index.html" and result.docs_index.is_file()
    pages = {p.relative_to(docs).parts[1] for p in (docs / "validations").rglob("*.html")}
    assert pages == {f"{t}_2022" for t in check_frames(make_results())}
    assert list(cwd.iterdir()) == []  # nothing written into the working directory


def test_data_docs_load_nothing_from_outside(good_run) -> None:
    """Every script, style sheet and image of every page is a file of the site (intranet use)."""
    from validations.offline import CDN, outside_loads

    _, _, docs = good_run
    pages = list(docs.rglob("*.html"))
    assert len(pages) > 2
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert outside_loads(html) == set(), page
        assert not any(url in html for url in CDN), page
    index = (docs / "index.html").read_text(encoding="utf-8")
    local = [u for u in CDN.values() if f"static/vendor/{u}" in index]
    assert len(local) >= 12  # jquery, bootstrap, bootstrap-table, vega … now local
    assert all((docs / "static" / "vendor" / u).is_file() for u in CDN.values())


def test_checkpoint_names_each_injected_break(broken_run) -> None:
    assert not broken_run.success
    assert sorted(broken_run.failures) == sorted(EXPECTED_FAILURES.values())


def test_exact_comparisons_without_gx() -> None:
    """Σ lines vs raw is exact to 0.0001 t; an enterprise without lines sums to 0; T13's cap."""
    r = make_results()
    ents = _set(r.allocation_enterprise, "enterprise_id", "E001", allocation_raw_t=D("852750.0001"))
    lines = r.allocation_line.filter(pl.col("enterprise_id") != "E003")
    frames = check_frames(make_results(allocation_enterprise=ents, allocation_line=lines))
    ok = dict(frames["allocation_enterprise"].select("enterprise_id", "line_sum_equals_raw").iter_rows())
    assert ok == {"E001": False, "E002": True, "E003": False}

    cap = r.cap_summary.with_columns(enterprise_total_t=pl.lit(95_000_000), total_cap_t=pl.lit(100_000_000))
    row = check_frames(make_results(cap_summary=cap))["cap_summary"].row(0, named=True)
    assert row["expected_total_cap_t"] == 100_000_000 and row["cap_follows_reserve_share"]


def test_exports_and_checkpoint_import_without_great_expectations() -> None:
    code = (
        "import sys; import exports.notices, exports.report, exports.parquet, validations.checkpoint; "
        "sys.exit('great_expectations' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_the_checkpoint_process_gives_the_same_verdicts_and_data_docs(
    tmp_path, monkeypatch, good_run, broken_run
) -> None:
    """The run's checkpoint (Great Expectations in its own process, frames via Parquet) says what
    the in-process checkpoint says: the same failures, word for word, and a Data Docs site."""
    from validations.checkpoint_process import CheckpointProcess

    monkeypatch.delenv("ETSFLOW_CHECKPOINT")
    verdicts = []
    for name, results in (("good", make_results()), ("broken", broken_results())):
        worker = CheckpointProcess.start()
        try:
            assert worker._proc is not None  # a process, not the tests' inline mode
            verdicts.append(worker.check(results, tmp_path / name, run_name="t"))
        finally:
            worker.close()
    good, broken = verdicts
    assert good.success and good.failures == [] and good.docs_index == tmp_path / "good" / "index.html"
    assert not broken.success and broken.failures == broken_run.failures


def test_a_checkpoint_process_that_dies_refuses_the_publication(tmp_path, monkeypatch) -> None:
    from validations.checkpoint_process import CheckpointProcess

    monkeypatch.delenv("ETSFLOW_CHECKPOINT")
    worker = CheckpointProcess.start()
    worker._proc.kill()
    worker._proc.wait()
    with pytest.raises(RuntimeError, match="without a verdict"):
        worker.check(make_results(), tmp_path, run_name="t")
    worker.close()


def test_every_mart_of_the_catalog_is_checked() -> None:
    """A mart added to the catalog is a frame of YearResults and a frame of the checkpoint, so its
    generated checks (key, not null, year, ≥ 0) run; a missing frame is refused, never skipped."""
    from model.results import MART_TABLES
    from validations.checkpoint import checks

    r = make_results()
    frames = check_frames(r)
    assert set(MART_TABLES) <= set(frames)
    assert {c.table for c in checks(r)} <= set(frames)
    marts = dict(r.marts)
    marts.pop("clearance_item")
    with pytest.raises(ValueError, match="marts missing \\['clearance_item'\\]"):
        YearResults(year=r.year, policy=r.policy, listed_enterprise_ids=[], ledger_rows=0, **marts)


def test_a_new_mart_is_checked_from_its_catalog_description() -> None:
    """The output rules of a mart are declared on its catalog columns: a table added to
    catalog.MARTS gets its checkpoint expectations and its stage guard without code."""
    from model.catalog import Column, Table
    from validations.checkpoint import column_checks
    from validations.schemas import StageOutputError, check_frame

    t = Table(
        "mart",
        "new_mart",
        "新表",
        "A mart no code knows.",
        (
            Column("compliance_year", "int", "履约年度", "Year."),
            Column("enterprise_id", "text", "单位编号", "Enterprise."),
            Column("amount_t", "int", "数量", "Amount.", required=True, ge=0),
            Column("kind", "text", "种类", "Kind.", isin=("a", "b")),
        ),
        key=("compliance_year", "enterprise_id"),
    )
    assert [(c.expectation, c.kwargs, c.description) for c in column_checks(t, 2023)] == [
        (
            "ExpectCompoundColumnsToBeUnique",
            {"column_list": ["compliance_year", "enterprise_id"]},
            "key (compliance_year, enterprise_id) is unique",
        ),
        ("ExpectColumnValuesToNotBeNull", {"column": "compliance_year"}, "compliance_year is not null"),
        ("ExpectColumnValuesToNotBeNull", {"column": "enterprise_id"}, "enterprise_id is not null"),
        ("ExpectColumnValuesToNotBeNull", {"column": "amount_t"}, "amount_t is not null"),
        (
            "ExpectColumnValuesToBeInSet",
            {"column": "compliance_year", "value_set": [2023]},
            "every row is of year 2023",
        ),
        ("ExpectColumnValuesToBeBetween", {"column": "amount_t", "min_value": 0}, "amount_t ≥ 0"),
        ("ExpectColumnValuesToBeInSet", {"column": "kind", "value_set": ["a", "b"]}, "kind is one of a, b"),
    ]
    ok = pl.DataFrame(
        {"compliance_year": [2023], "enterprise_id": ["E1"], "amount_t": [5], "kind": ["a"]},
        schema=t.polars_schema,
    )
    check_frame(ok, t)
    for broken in (ok.with_columns(amount_t=pl.lit(-1, pl.Int64)), ok.with_columns(kind=pl.lit("c"))):
        with pytest.raises(StageOutputError, match="new_mart"):
            check_frame(broken, t)
