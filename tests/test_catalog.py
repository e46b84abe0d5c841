"""The catalog is the one description of every table: docs, DDL and pandera models follow it."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from model import catalog
from validations.schemas import StageOutputError, check_frame, schema_for
from warehouse.store import comments, ddl

from .conftest import REPO


def test_data_dictionary_is_generated_from_the_catalog():
    on_disk = (REPO / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert on_disk.strip() == catalog.data_dictionary().strip(), (
        "regenerate: python -m model.catalog > docs/data-dictionary.md"
    )


def test_contract_names_are_present():
    # data-contract.md §4: these names are fixed
    assert catalog.ALLOCATION_LINE.names[:3] == ["compliance_year", "enterprise_id", "line_id"]
    for t, cols in {
        catalog.ALLOCATION_LINE: [
            "method",
            "method_reason",
            "baseline",
            "kept_years",
            "dropped_years",
            "coefficient",
            "activity_value",
            "allocation_co2_t",
            "allocation_non_co2_t",
            "allocation_t",
            "explanation",
            "provisional",
        ],
        catalog.ALLOCATION_ENTERPRISE: [
            "verified_emissions_t",
            "allocation_raw_t",
            "adjustment_t",
            "adjustment_rule",
            "incentive_t",
            "allocation_final_t",
            "gap_t",
            "borrowable_t",
            "preallocation_next_t",
            "provisional",
        ],
        catalog.CAP_SUMMARY: ["enterprise_count", "enterprise_total_t", "reserve_t", "total_cap_t"],
        catalog.CLEARANCE_STATUS: [
            "as_of",
            "deadline",
            "obligation_t",
            "allowances_t",
            "offsets_accepted_t",
            "green_power_accepted_t",
            "borrowed_accepted_t",
            "surrendered_t",
            "shortfall_t",
            "status",
        ],
        catalog.CLEARANCE_ITEM: ["txn_id", "accepted_t", "refused_t", "reason"],
    }.items():
        assert set(cols) <= set(t.names), (t.qualified, set(cols) - set(t.names))


def test_every_column_has_chinese_and_english_descriptions():
    for t in catalog.INPUTS + catalog.PUBLISHED:
        for c in t.columns:
            assert c.zh and c.description, (t.qualified, c.name)
            assert any("\u4e00" <= ch <= "\u9fff" for ch in c.zh), (t.qualified, c.name)


def test_ddl_and_comments_apply_and_types_match_contract():
    con = duckdb.connect()
    for s in ("core", "mart", "history", "audit"):
        con.execute(f"CREATE SCHEMA {s}")
    for t in catalog.INPUTS + catalog.PUBLISHED:
        con.execute(ddl(t))
        for stmt in comments(t):
            con.execute(stmt)
    types = dict(
        con.sql(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'allocation_line'"
        ).fetchall()
    )
    assert types["allocation_t"] == "DECIMAL(18,4)" and types["kept_years"] == "INTEGER[]"
    types = dict(
        con.sql(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'allocation_enterprise'"
        ).fetchall()
    )
    assert types["allocation_final_t"] == "BIGINT" and types["gap_t"] == "DECIMAL(18,4)"
    (comment,) = con.sql(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'allocation_enterprise' "
        "AND column_name = 'allocation_final_t'"
    ).fetchall()[0]
    assert comment.startswith("年度配额 — ")


def test_output_guard_checks_the_rules_declared_on_the_columns():
    t = catalog.CAP_SUMMARY
    ok = pl.DataFrame({c.name: [None] for c in t.columns}, schema=t.polars_schema).with_columns(
        compliance_year=pl.lit(2021, pl.Int64),
        enterprise_total_t=pl.lit(0, pl.Int64),
        reserve_t=pl.lit(0, pl.Int64),
        total_cap_t=pl.lit(0, pl.Int64),
    )
    check_frame(ok, t)
    for broken in (
        pl.concat([ok, ok]),  # key unique
        ok.with_columns(compliance_year=pl.lit(None, pl.Int64)),  # key complete
        ok.with_columns(reserve_t=pl.lit(-1, pl.Int64)),  # ge=0
        ok.with_columns(total_cap_t=pl.lit(None, pl.Int64)),  # required
    ):
        with pytest.raises(StageOutputError, match="cap_summary"):
            check_frame(broken, t)
    assert schema_for(catalog.LINES).columns["activity"].checks  # enums come from the catalog


def test_references_name_a_column_of_an_earlier_input_table():
    """The reference rule checks a table after the tables it refers to (catalog.INPUTS order)."""
    order = [t.name for t in catalog.INPUTS]
    for i, t in enumerate(catalog.INPUTS):
        for c in t.columns:
            if c.references:
                parent, column = c.references.split(".")
                assert parent in order[:i], (t.name, c.name, c.references)
                assert catalog.INPUTS[order.index(parent)].column(column).type == c.type
    for t in catalog.PUBLISHED:  # input rules only: published tables are checked by the checkpoint
        assert not any(c.references or c.folder_year or c.code or c.if_empty is not None for c in t.columns)
