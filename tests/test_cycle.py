"""The pure functions of the allocation cycle (transforms/cycle.py) on tiny inline frames."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from model import catalog
from transforms import cycle as cy

D = pl.Decimal(18, 4)


def ents(rows):
    return pl.DataFrame(
        rows,
        schema={
            "compliance_year": pl.Int64,
            "enterprise_id": pl.String,
            "allocation_final_t": pl.Int64,
            "preallocation_next_t": pl.Int64,
        },
        orient="row",
    )


def versions(rows):
    return pl.DataFrame(
        rows, schema={"compliance_year": pl.Int64, "version": pl.Int64, "status": pl.String}, orient="row"
    )


def clearance(rows):
    return pl.DataFrame(
        rows,
        schema={
            "compliance_year": pl.Int64,
            "enterprise_id": pl.String,
            "status": pl.String,
            "borrowed_accepted_t": D,
        },
        orient="row",
    )


RULES = {
    2021: cy.YearRules(False, (2021, 2022)),
    2022: cy.YearRules(True, (2021, 2022)),
    2023: cy.YearRules(True, ()),
}


def by_key(df):
    return {(r["compliance_year"], r["enterprise_id"], r["instruction"]): r for r in df.iter_rows(named=True)}


def test_issuance_free_frozen_release_and_true_up():
    e = ents(
        [
            (2021, "A", 1000, None),
            (2022, "A", 1100, 770),
            (2023, "A", 800, 560),  # 800 − 770 = +30
            (2022, "B", 500, 350),
            (2023, "B", 300, None),  # 300 − 350 = −50
        ]
    )
    v = versions([(2021, 1, "final"), (2022, 2, "final"), (2023, 1, "in_review")])
    c = clearance(
        [
            (2021, "A", "cleared_on_time", Decimal("0")),
            (2022, "A", "cleared_late", Decimal("120")),
            (2022, "B", "not_cleared", Decimal("0")),
        ]
    )
    out = by_key(cy.issuance(e, v, c, RULES))
    assert out[(2021, "A", "issue_free")]["quantity_t"] == 1000
    assert out[(2021, "A", "issue_free")]["status"] == "ready"
    assert out[(2022, "A", "issue_free")]["status"] == "ready"
    frozen = out[(2023, "A", "issue_preallocation_frozen")]
    assert (frozen["quantity_t"], frozen["status"], frozen["source_year"], frozen["source_version"]) == (
        770,
        "ready",
        2022,
        2,
    )
    release = out[(2023, "A", "release_preallocation")]
    assert (release["quantity_t"], release["status"]) == (770 - 120, "ready")
    # B: not on the 2021 list (no row: nothing to clear), 2022 not cleared → waits
    assert out[(2023, "B", "release_preallocation")]["status"] == "waiting_clearance"
    # true-ups of 2023 wait for 2023 to be final; the sign gives the instruction
    up = out[(2023, "A", "true_up_issue")]
    assert (up["quantity_t"], up["status"]) == (30, "waiting_final")
    assert out[(2023, "B", "true_up_surrender")]["quantity_t"] == 50
    assert (2023, "A", "issue_free") not in out  # pre-allocated: trued up, not issued again
    # 2023 pre-allocates 2024 but releases after no clearance (no pool years): frozen only
    assert out[(2024, "A", "issue_preallocation_frozen")]["status"] == "waiting_final"
    assert (2024, "A", "release_preallocation") not in out


def test_only_a_final_version_makes_ready_rows():
    e = ents([(2022, "A", 1100, 770)])
    c = clearance([(2021, "A", "cleared_on_time", Decimal(0)), (2022, "A", "cleared_on_time", Decimal(0))])
    for status in ("in_review", "superseded"):
        out = cy.issuance(e, versions([(2022, 1, status)]), c, RULES)
        assert set(out["status"]) == {"waiting_final"}
    out = cy.issuance(e, versions([(2022, 1, "final")]), c, RULES)
    assert set(out["status"]) == {"ready"} and out.height == 3


def _versions_with_deadline():
    return pl.DataFrame(
        {"version": [1, 2], "review_deadline": [date(2023, 6, 12), date(2023, 7, 3)]},
        schema={"version": pl.Int64, "review_deadline": pl.Date},
    )


def _requests(rows):
    return pl.DataFrame(
        rows,
        schema={"admitted": pl.Boolean, "decision": pl.String, "resulting_version": pl.Int64},
        orient="row",
    )


def test_version_status_rule():
    v = _versions_with_deadline()
    status = lambda req, as_of: cy.version_statuses(v, req, as_of)["status"].to_list()  # noqa: E731
    none = _requests([])
    assert status(none, date(2023, 7, 3)) == ["superseded", "in_review"]  # the deadline day is still open
    assert status(none, date(2023, 7, 4)) == ["superseded", "final"]
    # an admitted request still pending holds the version; a late one does not
    assert status(_requests([(True, "pending", None)]), date(2023, 7, 4)) == ["superseded", "in_review"]
    assert status(_requests([(False, "pending", None)]), date(2023, 7, 4)) == ["superseded", "final"]
    # decided `changed` holds it until a version carries the change
    assert status(_requests([(True, "changed", None)]), date(2023, 7, 4)) == ["superseded", "in_review"]
    assert status(_requests([(True, "changed", 2), (True, "upheld", None)]), date(2023, 7, 4)) == [
        "superseded",
        "final",
    ]


def test_review_requests_window_of_the_version_notified_to_the_unit():
    notified = pl.DataFrame(
        {
            "version": [1, 1, 2],
            "enterprise_id": ["A", "B", "A"],
            "notified_on": [date(2023, 6, 1), date(2023, 6, 1), date(2023, 6, 21)],
            "review_deadline": [date(2023, 6, 12), date(2023, 6, 12), date(2023, 7, 3)],
            "review_deadline_estimated": [False, False, False],
        }
    )
    changes = pl.DataFrame({"version": [2], "enterprise_id": ["A"]})
    reviews = pl.DataFrame(
        {
            "request_id": ["r1", "r2", "r3", "r4"],
            "enterprise_id": ["A", "B", "A", "B"],
            "compliance_year": [2022] * 4,
            "received_on": [date(2023, 6, 9), date(2023, 6, 13), date(2023, 6, 30), date(2023, 6, 30)],
            "claim": ["x"] * 4,
            "decision": ["changed", "pending", "pending", "pending"],
            "decided_on": [date(2023, 6, 20), None, None, None],
        }
    )
    out = {
        r["request_id"]: r
        for r in cy.review_requests(reviews, 2022, notified, changes, 10, date(2023, 7, 20)).iter_rows(
            named=True
        )
    }
    assert (out["r1"]["admitted"], out["r1"]["version_at_receipt"], out["r1"]["resulting_version"]) == (
        True,
        1,
        2,
    )
    assert (out["r2"]["admitted"], out["r2"]["window_closes_on"]) == (False, date(2023, 6, 12))
    # A was re-notified by version 2: its new window is open on 30 June; B's (version 1) is not
    assert (out["r3"]["admitted"], out["r3"]["version_at_receipt"]) == (True, 2)
    assert out["r4"]["admitted"] is False
    # overdue: admitted, pending, after received + 10 working days
    assert out["r3"]["decision_due_on"] == date(2023, 7, 14) and out["r3"]["overdue"] is True
    assert out["r2"]["overdue"] is False  # not admitted


def _alloc(final_a: int, alloc_line: str):
    lines = pl.DataFrame(
        {
            "enterprise_id": ["A", "B"],
            "line_id": ["A-1", "B-1"],
            "method": ["benchmark", "total"],
            "kept_years": [[2018, 2019], [2019, 2020]],
            "dropped_years": [[], [2018]],
            "baseline": [None, Decimal("1.0000")],
            "coefficient": [Decimal("0.8244"), Decimal("0.9700")],
            "activity_value": [Decimal("100.0000"), Decimal("300.0000")],
            "allocation_co2_t": [Decimal(alloc_line), Decimal("291.0000")],
            "allocation_non_co2_t": [Decimal(0), Decimal(0)],
            "allocation_t": [Decimal(alloc_line), Decimal("291.0000")],
        },
        schema_overrides={"baseline": D, "kept_years": pl.List(pl.Int32), "dropped_years": pl.List(pl.Int32)},
    )
    ents_ = pl.DataFrame(
        {
            "enterprise_id": ["A", "B"],
            "name": ["a", "b"],
            "allocation_raw_t": [Decimal(alloc_line), Decimal("291")],
            "adjustment_rule": ["rounding", "rounding"],
            "incentive_t": [0, 0],
            "allocation_final_t": [final_a, 291],
            "preallocation_next_t": [None, None],
        }
    )
    return lines, ents_


def test_changed_enterprises_and_rules():
    l1, e1 = _alloc(82, "82.4400")
    l2, e2 = _alloc(82, "82.4400")
    assert cy.changed_enterprises(l1, e1, l2, e2) == []
    l3, e3 = _alloc(74, "74.1960")
    l3 = l3.with_columns(
        pl.when(pl.col("line_id") == "A-1")
        .then(Decimal("90.0000"))
        .otherwise(pl.col("activity_value"))
        .alias("activity_value")
    )
    assert cy.changed_enterprises(l1, e1, l3, e3) == ["A"]
    rules = cy.changed_rules(l1, e1, l3, e3)
    assert rules["enterprise_id"].to_list() == ["A"]
    assert "line A-1: activity_value 100.0000 → 90.0000" in rules["changed_rules"][0]
    # a unit that is no longer allocated is a change too
    assert cy.changed_enterprises(
        l1, e1, l1.filter(pl.col("enterprise_id") == "A"), e1.filter(pl.col("enterprise_id") == "A")
    ) == ["B"]


def test_changed_inputs_name_file_row_and_column():
    schema = {c.name: c.polars_type for c in catalog.HISTORY_ALLOCATION_INPUT.columns[2:]}
    before = pl.DataFrame(
        [("line_years", "A-1 2022", "A", "reports/2022/A.xlsx", "lines", 3, '{"output":"100.0000","x":"1"}')],
        schema=schema,
        orient="row",
    )
    after = before.with_columns(pl.lit('{"output":"90.0000","x":"1"}').alias("values_json"))
    out = cy.changed_inputs(before, after)
    assert out.rows() == [
        ("A", "reports/2022/A.xlsx sheet lines row 3 (line_years A-1 2022): output 100.0000 → 90.0000")
    ]
    assert cy.changed_inputs(before, before).height == 0


def test_input_snapshot_query_writes_the_json_polars_writes():
    """The snapshot is SQL (DuckDB) but its text is the one history always held: Polars'
    `struct.json_encode` of the values cast to text — every character a JSON string escapes (DuckDB's
    own JSON functions write some in upper case), decimals with their places, dates, booleans,
    nulls; rows in row_key order, each with its raw row's provenance (the first, when several
    normalise to its key), other years and enterprises left out."""
    import duckdb

    from flows.cycle import _raw_keys
    from warehouse.store import registered

    def frame(name: str, columns: dict) -> pl.DataFrame:
        table = next(t for t in catalog.INPUTS if t.name == name)
        n = len(next(iter(columns.values())))
        return pl.DataFrame({c.name: columns.get(c.name, [None] * n) for c in table.columns}).cast(
            {c.name: c.polars_type for c in table.columns}
        )

    def snapshot(name: str, rows: pl.DataFrame, ids: list[str], years: list[int], raw=None) -> pl.DataFrame:
        if raw is not None:  # a raw table as the work database holds it: its rowid orders its rows
            con.execute(f"CREATE OR REPLACE TABLE raw.{name} AS SELECT * FROM raw")
        keys, provenance = _raw_keys(con, name, "k")  # the publication's own reading of raw.<name>
        with (
            registered(con, rows, "r"),
            registered(con, pl.DataFrame({"enterprise_id": ids}, schema={"enterprise_id": pl.String}), "i"),
            registered(con, keys, "k"),
        ):
            return con.sql(cy.input_snapshot_query(name, "r", "i", provenance, 2022, 3, years)).pl()

    def polars_json(rows: pl.DataFrame, name: str) -> list[str]:
        values = [c for c in rows.columns if c not in cy.SNAPSHOT_KEYS[name]]
        return (
            rows.select(pl.struct(pl.col(values).cast(pl.String)).struct.json_encode()).to_series().to_list()
        )

    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    line_years = frame(
        "line_years",
        {
            "enterprise_id": ["B", "A", "A", "C", "A", "A"],
            "line_id": ["B-1", "A-1", "A-1", "C-1", "A-2", "A-1"],
            "year": [2022, 2022, 2021, 2022, 2022, 2018],
            "verified_co2_t": [
                Decimal("1.5"),
                Decimal("-0.25"),
                None,
                Decimal("3"),
                Decimal("0"),
                Decimal("9"),
            ],
            "output": [Decimal("10"), None, Decimal("2.125"), Decimal("1"), Decimal("7"), Decimal("1")],
            "production_days": [1, None, -3, 4, 5, 6],
        },
    )
    raw = pl.DataFrame(
        {
            "line_id": ["A-1", " A-1", "Ｂ-1"],
            "year": ["2022", "2022", "2022"],
            "_source_file": ["a.csv", "b.csv", "c.xlsx"],
            "_sheet": [None, None, "s"],
            "_row": ["2", "3", "4"],
        }
    )
    got = snapshot("line_years", line_years, ["A", "B"], [2021, 2022], raw)
    kept = line_years.filter(pl.col("enterprise_id").is_in(["A", "B"]) & pl.col("year").is_in([2021, 2022]))
    kept = kept.with_columns(pl.format("{} {}", "line_id", "year").alias("_key")).sort("_key").drop("_key")
    assert got.columns == catalog.HISTORY_ALLOCATION_INPUT.names
    assert got["row_key"].to_list() == ["A-1 2021", "A-1 2022", "A-2 2022", "B-1 2022"]
    assert got["values_json"].to_list() == polars_json(kept, "line_years")
    assert got.select("source_file", "sheet", "row_number").rows() == [
        (None, None, None),
        ("a.csv", None, 2),
        (None, None, None),
        ("c.xlsx", "s", 4),
    ]
    odd = ['say "hi"', "back\\slash \\u001A", "tab\tnl\ncr\r\x0b\x1a\x1f\x00", "重庆 \u2028 é", "", None]
    ids = [f"E{i}" for i in range(len(odd))]
    enterprises = frame("enterprises", {"enterprise_id": ids, "name": odd, "district": odd[::-1]})
    got = snapshot("enterprises", enterprises, ids, [])
    assert got["values_json"].to_list() == polars_json(enterprises, "enterprises")
    lines = frame(
        "lines",
        {
            "line_id": ["A-1"],
            "enterprise_id": ["A"],
            "intensity_eligible": [True],
            "commissioned_on": [date(2010, 5, 11)],
        },
    )
    got = snapshot("lines", lines, ["A"], [])
    assert got["values_json"].to_list() == polars_json(lines, "lines")


def test_raw_row_keys_are_read_in_batches_with_the_same_result(monkeypatch):
    """The snapshot's provenance reads the raw rows' keys a batch at a time (for memory): any
    batch size gives the same raw_row → row_key, each raw row's key normalised as validation
    normalises it (NFKC, no whitespace, years as integers); a key that does not normalise (no
    year) is left out; a raw table without the provenance's columns has none."""
    import duckdb

    import flows.cycle as fc

    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.execute(
        "CREATE TABLE raw.line_years AS SELECT * FROM (VALUES "
        "('A-1', '2022', 'a.csv', NULL, '2'), (' A-1', '2022', 'b.csv', NULL, '3'), "
        "('Ｂ-1', ' 2021 ', 'c.xlsx', 's', '4'), ('C-1', 'x', 'c.xlsx', 's', '5'), ('D-1', '2020', 'd.csv', NULL, '6')"
        ") t(line_id, year, _source_file, _sheet, _row)"
    )
    whole, provenance = fc._raw_keys(con, "line_years", "k")
    monkeypatch.setattr(fc, "RAW_KEYS_BATCH", 2)
    batched, _ = fc._raw_keys(con, "line_years", "k")
    assert (
        batched.rows() == whole.rows() == [("A-1 2022", 0), ("A-1 2022", 1), ("B-1 2021", 2), ("D-1 2020", 4)]
    )
    con.register("k", batched)
    assert con.sql(f"SELECT * FROM {provenance} ORDER BY row_key").fetchall() == [
        ("A-1 2022", "a.csv", None, 2),  # the first raw row of the key
        ("B-1 2021", "c.xlsx", "s", 4),
        ("D-1 2020", "d.csv", None, 6),
    ]
    con.execute("CREATE TABLE raw.lines AS SELECT 'L' AS line_id")  # no file, sheet or row
    keys, provenance = fc._raw_keys(con, "lines", "k")
    assert keys.height == 0 and provenance == cy.NO_PROVENANCE


def test_review_rows_are_validated_and_quarantined_with_file_row_column(tmp_path):
    import shutil

    from ingest.read import read_inbox
    from policies import policy_for_year
    from validations.inputs import validate_inbox

    from .conftest import SAMPLE

    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE, inbox, ignore=shutil.ignore_patterns("*.py", "*.md", "roster.csv", "reports"))
    (inbox / "reviews").mkdir()
    (inbox / "reviews" / "2022.csv").write_text(
        "申请编号,单位编号,履约年度,收到日期,申请事项,复核结论,决定日期\n"
        "R1,CQ001,2022,2023年6月9日,ok,,\n"  # Chinese headers and date form; empty decision = pending
        "R2,XX999,2022,2023-06-09,unknown unit,,\n"
        "R3,CQ002,2022,2023-13-40,bad date,,\n"
        "R4,CQ003,2022,2023-06-09,bad decision,maybe,2023-06-10\n"
        "R5,CQ004,2022,2023-06-09,decided without a date,upheld,\n"
        "R6,CQ005,2021,2023-06-09,wrong year for the file,,\n",
        encoding="utf-8",
    )
    result = validate_inbox(read_inbox(inbox), policy_for_year(2022))
    q = result.quarantine.filter(pl.col("table_name") == "reviews")
    got = {(r["row_number"], r["column_name"]) for r in q.iter_rows(named=True)}
    assert got == {
        (3, "enterprise_id"),
        (4, "received_on"),
        (5, "decision"),
        (6, "decided_on"),
        (7, "compliance_year"),
    }
    assert set(q["source_file"]) == {"reviews/2022.csv"}
    assert result.core.reviews.rows() == [("R1", "CQ001", 2022, date(2023, 6, 9), "ok", "pending", None)]
    # a bad review row does not keep its enterprise from being allocated (--allow-quarantine)
    assert not {"CQ002", "CQ003", "CQ004", "CQ005"} & set(result.affected_enterprises)
