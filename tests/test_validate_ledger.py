"""Ledger rows (contract §1.5) are validated like every other table: an unknown enterprise or an
instrument/field combination that cannot exist is quarantined with a clear message."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from ingest.read import read_inbox
from policies import policy_for_year
from validations.inputs import validate_inbox

from .conftest import BAD

HEADER = "txn_id,enterprise_id,compliance_year,surrendered_on,instrument,quantity_t,vintage,acquired_via,origin,is_hydro"
GOOD = [
    "T1,B1,2021,2023-06-01,allowance,800000,2021,free,,",
    "T2,B2,2021,2023-06-01,ccer,3000,,,chongqing,false",
    "T3,B2,2021,2023-06-02,borrowed_preallocation,100,,,,",
]


def _validate(tmp_path, rows):
    inbox = tmp_path / "inbox"
    shutil.copytree(BAD / "_valid", inbox)
    (inbox / "ledger").mkdir()
    (inbox / "ledger" / "ledger.csv").write_text("\n".join([HEADER, *GOOD, *rows]) + "\n", encoding="utf-8")
    return validate_inbox(read_inbox(inbox), policy_for_year(2021))


def test_valid_ledger_becomes_core(tmp_path):
    v = _validate(tmp_path, [])
    assert v.quarantine.height == 0
    assert v.core.ledger.sort("txn_id")["txn_id"].to_list() == ["T1", "T2", "T3"]
    assert v.core.ledger.schema["surrendered_on"] == pl.Date


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("T9,B7,2021,2023-06-01,allowance,10,2021,,,", "enterprise_id", "unknown enterprise B7"),
        ("T9,B1,2021,2023-06-01,allowance,10,,,,", "vintage", "an allowance needs vintage"),
        (
            "T9,B1,2021,2023-06-01,green_power,10,2021,,,",
            "vintage",
            "vintage is only for allowances, not green_power",
        ),
        (
            "T9,B1,2021,2023-06-01,ccer,10,,purchase,chongqing,false",
            "acquired_via",
            "acquired_via is only for allowances, not ccer",
        ),
        ("T9,B1,2021,2023-06-01,cqcer,10,,,,false", "origin", "an offset needs origin"),
        ("T9,B1,2021,2023-06-01,other_offset,10,,,other,", "is_hydro", "an offset needs is_hydro"),
        (
            "T9,B1,2021,2023-06-01,allowance,10,2021,,chongqing,",
            "origin",
            "origin is only for offsets and green power, not allowance",
        ),
        # v2: green power needs where it was bought (chongqing is valid; clearance refuses it)
        ("T9,B1,2021,2023-06-01,green_power,10,,,,", "origin", "a green-power row needs origin"),
        ("T9,B1,2021,2023-06-01,allowance,10.5,2021,,,", "quantity_t", "not a whole number"),
        ("T9,B1,2021,2023-06-01,allowance,0,2021,,,", "quantity_t", "must be > 0"),
        ("T9,B1,2021,2023-06-01,futures,10,,,,", "instrument", "must be one of allowance"),
        ("T1,B1,2021,2023-06-05,allowance,10,2021,,,", "txn_id", "duplicate key (txn_id) = (T1)"),
        ("T9,B1,2021,2023-13-01,allowance,10,2021,,,", "surrendered_on", "not a date"),
    ],
)
def test_bad_ledger_row_is_quarantined(tmp_path, row, column, message):
    q = _validate(tmp_path, [row]).quarantine
    hit = q.filter((pl.col("column_name") == column) & pl.col("message").str.contains(message, literal=True))
    assert hit.height >= 1, q.select("row_number", "column_name", "message").to_dicts()
    assert hit["source_file"][0] == "ledger/ledger.csv" and hit["table_name"][0] == "ledger"
    assert hit["row_number"].max() == 5  # the offending row as the spreadsheet numbers it


def test_green_power_origin_and_certificate(tmp_path):
    """v2: a green-power row from Chongqing is valid (clearance refuses it); certificate_id belongs to
    green power only."""
    inbox = tmp_path / "inbox"
    shutil.copytree(BAD / "_valid", inbox)
    (inbox / "ledger").mkdir()
    rows = [
        HEADER + ",certificate_id",
        *(r + "," for r in GOOD),
        "T4,B1,2021,2023-06-01,green_power,10,,,chongqing,,GEC-1",
        "T5,B1,2021,2023-06-01,green_power,10,,,other,,",
        "T6,B1,2021,2023-06-01,allowance,10,2021,,,,GEC-2",
    ]
    (inbox / "ledger" / "ledger.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    v = validate_inbox(read_inbox(inbox), policy_for_year(2021))
    assert v.quarantine.select("row_number", "column_name").to_dicts() == [
        {"row_number": 7, "column_name": "certificate_id"}
    ]
    assert "certificate_id is only for green power, not allowance" in v.quarantine["message"][0]
    assert v.core.ledger.filter(pl.col("txn_id") == "T4")["certificate_id"].to_list() == ["GEC-1"]
