"""Unit tests of the clearance engine (rules.md §6): worked examples T10 and T12, every refusal
reason, status transitions across as-of dates, the output schemas. Tiny inline frames."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from model import catalog
from policies import Param, default_policy_path, load_policy
from transforms.clearance import Clearance, borrowed_accepted, evaluate_clearance

P22 = load_policy(default_policy_path(2022))


def _param(value, confidence="inferred"):
    return Param(value=value, source="test: 2023 pack as briefed", confidence=confidence)


# The 2023 pack as briefed (offsets cqcer only at 5%, no locality, green power 8% of the gap at most
# 2000 t, no borrowing, deadline provisional), built from 2022 so the tests do not wait for the file.
P23 = P22.model_copy(
    update={
        "pack": P22.pack.model_copy(update={"compliance_year": 2023, "id": "test-2023"}),
        "offset_types": _param(("cqcer",)),
        "offset_limit_share": _param(Decimal("0.05")),
        "offset_locality_enabled": _param(False),
        "green_power_enabled": _param(True),
        "green_power_share": _param(Decimal("0.08")),
        "green_power_max_t": _param(Decimal("2000")),
        "borrowing_enabled": _param(False),
        "deadline": _param(date(2024, 12, 31), "provisional"),
    }
)
DAY = date(2024, 1, 10)  # before both deadlines
AFTER = date(2025, 6, 30)

OBLIGATION_SCHEMA = {
    "enterprise_id": pl.String,
    "verified_emissions_t": pl.Decimal(18, 4),
    "allocation_final_t": pl.Int64,
    "borrowable_t": pl.Int64,
    "provisional": pl.Boolean,
}
POOL_SCHEMA = {"enterprise_id": pl.String, "pool_remaining_t": pl.Int64}


def ledger(*rows: dict, year: int = 2022) -> pl.DataFrame:
    """Ledger rows with defaults: enterprise E1, the year, surrendered on DAY, txn ids t01, t02, …"""
    base = {"enterprise_id": "E1", "compliance_year": year, "surrendered_on": DAY, "vintage": None,
            "acquired_via": None, "origin": None, "is_hydro": None, "certificate_id": None}  # fmt: skip
    full = [{**base, "txn_id": f"t{i:02d}", **r} for i, r in enumerate(rows, 1)]
    return pl.DataFrame(full, schema=catalog.LEDGER.polars_schema)


def allowance(q: int, vintage: int = 2022, via: str = "free", **kw) -> dict:
    return {"instrument": "allowance", "quantity_t": q, "vintage": vintage, "acquired_via": via, **kw}


def offset(q: int, origin: str = "chongqing", instrument: str = "cqcer", hydro: bool = False, **kw) -> dict:
    return {"instrument": instrument, "quantity_t": q, "origin": origin, "is_hydro": hydro, **kw}


def green(q: int, origin: str | None = "other", certificate: str | None = None, **kw) -> dict:
    """A green-power row, bought outside the city unless told."""
    return {
        "instrument": "green_power",
        "quantity_t": q,
        "origin": origin,
        "certificate_id": certificate,
        **kw,
    }


def obligations(*rows: tuple) -> pl.DataFrame:
    """(enterprise_id, E, A_final, borrowable[, provisional])"""
    full = [(r + (False,))[:5] for r in rows]
    full = [(i, Decimal(str(e)), a, b, p) for i, e, a, b, p in full]
    return pl.DataFrame(full, schema=OBLIGATION_SCHEMA, orient="row")


def run(
    led: pl.DataFrame,
    obl: pl.DataFrame | None = None,
    *,
    policy=P22,
    as_of: date = DAY,
    listed: tuple[str, ...] | None = None,
    pool: dict[str, int] | None = None,
) -> Clearance:
    obl = obligations(("E1", 100_000, 80_000, 0)) if obl is None else obl
    listed = tuple(obl["enterprise_id"]) if listed is None else listed
    pool_df = pl.DataFrame(list((pool or {}).items()), schema=POOL_SCHEMA, orient="row")
    return evaluate_clearance(led, obl, pl.DataFrame({"enterprise_id": list(listed)}), pool_df, policy, as_of)


def item(c: Clearance, txn: str) -> dict:
    row = c.items.filter(pl.col("txn_id") == txn).to_dicts()
    assert len(row) == 1
    return row[0]


def status(c: Clearance, ent: str = "E1") -> dict:
    row = c.status.filter(pl.col("enterprise_id") == ent).to_dicts()
    assert len(row) == 1
    return row[0]


def acc(c: Clearance, txn: str) -> tuple[int, int, str]:
    it = item(c, txn)
    return int(it["accepted_t"]), int(it["refused_t"]), it["reason"]


# ---------------------------------------------------------------------------------------------
# Worked examples
# ---------------------------------------------------------------------------------------------
def test_t10_offsets_2022_locality_and_hydro():
    """T10: E 100,000; CQ 7,000, circle 1,500, other 1,000, CQ hydro 500 → 8,000 accepted."""
    c = run(
        ledger(
            offset(7_000),
            offset(1_500, "chengdu_chongqing_circle", "ccer"),
            offset(1_000, "other", "other_offset"),
            offset(500, hydro=True),
        )
    )
    assert acc(c, "t01") == (7_000, 0, "accepted")
    assert acc(c, "t02") == (800, 700, "offset locality limit")  # circle ≤ 10% of 8,000
    assert acc(c, "t03") == (200, 800, "offset limit 8% of obligation")
    assert acc(c, "t04") == (0, 500, "hydro offset")
    s = status(c)
    assert s["offsets_accepted_t"] == Decimal("8000") and s["offset_cap_t"] == 8_000
    assert s["surrendered_t"] == Decimal("8000") and s["shortfall_t"] == Decimal("92000")


def test_t12_green_power_and_cqcer_2023():
    """T12: E 300,000, A_final 280,000: green power 5,000 → 1,600; CQCER cap 15,000."""
    obl = obligations(("E1", 300_000, 280_000, 0))
    c = run(
        ledger(
            green(5_000),
            offset(20_000, "other"),  # no locality in 2023: origin does not matter
            offset(1_000, "chongqing", "ccer"),
            year=2023,
        ),
        obl,
        policy=P23,
    )
    assert acc(c, "t01") == (1_600, 3_400, "green power limit")
    assert acc(c, "t02") == (15_000, 5_000, "offset limit 5% of obligation")
    assert acc(c, "t03") == (0, 1_000, "offset type not allowed this year")
    s = status(c)
    assert (s["green_power_cap_t"], s["offset_cap_t"], s["borrowing_cap_t"]) == (1_600, 15_000, None)
    assert s["green_power_accepted_t"] == Decimal("1600") and s["offsets_accepted_t"] == Decimal("15000")
    assert s["provisional"] is True  # the 2023 deadline is provisional
    assert s["deadline"] == date(2024, 12, 31)


def test_t19_green_power_from_the_city_and_a_reused_certificate():
    """T19 (v2): gap 20,000 t (limit 1,600); 1,500 t bought in Chongqing, then 800 t and 900 t bought
    outside on one certificate → 1,500 refused (inside the city), 800 accepted, 900 refused."""
    obl = obligations(("E1", 300_000, 280_000, 0))
    c = run(
        ledger(
            green(1_500, "chongqing", "GEC-A", surrendered_on=date(2024, 1, 5)),
            green(800, "other", "GEC-B", surrendered_on=date(2024, 1, 6)),
            green(900, "chengdu_chongqing_circle", "GEC-B", surrendered_on=date(2024, 1, 7)),
            year=2023,
        ),
        obl,
        policy=P23,
    )
    assert acc(c, "t01") == (0, 1_500, "bought inside the city")
    assert acc(c, "t02") == (800, 0, "accepted")
    assert acc(c, "t03") == (0, 900, "certificate already used")
    assert status(c)["green_power_accepted_t"] == Decimal("800") and status(c)["green_power_cap_t"] == 1_600


def test_t20_a_2022_allowance_offered_for_2021_is_refused():
    p21 = load_policy(default_policy_path(2021))
    assert p21.later_vintages_accepted.value is False
    c = run(ledger(allowance(5_000, 2022, "free"), allowance(5_000, 2021), year=2021), policy=p21)
    assert acc(c, "t01") == (0, 5_000, "vintage later than compliance year")
    assert acc(c, "t02") == (5_000, 0, "accepted")


def test_later_vintages_accepted_when_the_pack_says_so():
    p = P22.model_copy(update={"later_vintages_accepted": _param(True)})
    assert acc(run(ledger(allowance(5, 2023)), policy=p), "t01") == (5, 0, "accepted")


@pytest.mark.parametrize(
    ("first", "second", "reused"),
    [
        ((date(2024, 1, 5), "t01"), (date(2024, 1, 6), "t02"), "t02"),  # later day: the second reused
        ((date(2024, 1, 6), "t01"), (date(2024, 1, 5), "t02"), "t01"),  # by date, not by file order
        ((date(2024, 1, 5), "t02"), (date(2024, 1, 5), "t01"), "t02"),  # same day: by txn_id
    ],
)
def test_certificate_counts_once_ordered_by_date_then_txn(first, second, reused):
    led = ledger(
        green(100, certificate="GEC-1", surrendered_on=first[0], txn_id=first[1]),
        green(100, certificate="GEC-1", surrendered_on=second[0], txn_id=second[1]),
        year=2023,
    )
    c = run(led, obligations(("E1", 300_000, 280_000, 0)), policy=P23)
    assert acc(c, reused) == (0, 100, "certificate already used")
    other = "t01" if reused == "t02" else "t02"
    assert acc(c, other) == (100, 0, "accepted")


def test_certificate_used_in_an_earlier_year_or_by_another_unit_is_refused():
    led = pl.concat(
        [
            ledger(green(100, certificate="GEC-1", surrendered_on=date(2023, 3, 1)), year=2022),
            ledger(
                green(100, certificate="GEC-1", txn_id="u01"),  # carried over: refused
                green(100, certificate="GEC-2", txn_id="u02", enterprise_id="E2"),
                green(100, certificate="GEC-2", txn_id="u03"),  # E2 used it first
                green(100, txn_id="u04"),  # no certificate given: nothing to check
                year=2023,
            ),
        ]
    )
    obl = obligations(("E1", 300_000, 280_000, 0), ("E2", 300_000, 280_000, 0))
    c = run(led, obl, policy=P23)
    assert [acc(c, t)[2] for t in ("u01", "u02", "u03", "u04")] == [
        "certificate already used",
        "accepted",
        "certificate already used",
        "accepted",
    ]


@pytest.mark.skipif(
    not default_policy_path(2023).exists(), reason="policies/chongqing/2023.toml not yet written"
)
def test_t12_on_the_2023_pack():
    c = run(
        ledger(green(5_000), offset(20_000), year=2023),
        obligations(("E1", 300_000, 280_000, 0)),
        policy=load_policy(default_policy_path(2023)),
    )
    assert acc(c, "t01")[0] == 1_600
    assert acc(c, "t02")[0] == 15_000
    assert status(c)["provisional"] is True  # the 2023 deadline is a placeholder


def test_pool_given_as_a_bare_empty_frame():
    obl = obligations(("E1", 500_000, 400_000, 50_000))
    c = evaluate_clearance(
        ledger(borrow(10)), obl, pl.DataFrame({"enterprise_id": ["E1"]}), pl.DataFrame(), P22, DAY
    )
    assert acc(c, "t01") == (0, 10, "above borrowing pool")


def test_green_power_cap_is_2000_t_and_zero_without_gap():
    obl = obligations(("E1", 300_000, 200_000, 0), ("E2", 300_000, 310_000, 0))
    c = run(ledger(green(3_000), green(3_000, enterprise_id="E2"), year=2023), obl, policy=P23)
    assert acc(c, "t01") == (2_000, 1_000, "green power limit")  # 8% of 100,000 = 8,000 > 2,000
    assert acc(c, "t02") == (0, 3_000, "green power limit")  # surplus: no gap
    assert status(c, "E2")["green_power_cap_t"] == 0


# ---------------------------------------------------------------------------------------------
# Offsets: the locality bounds, order of rows, exact limits
# ---------------------------------------------------------------------------------------------
def test_locality_bound_cq_plus_other_over_0_9():
    """CQ 900, circle 500: X = (900 + 0)/0.9 = 1,000 → CQ 900 (90%), circle 100 (10%)."""
    c = run(ledger(offset(900), offset(500, "chengdu_chongqing_circle")))
    assert acc(c, "t01") == (900, 0, "accepted")
    assert acc(c, "t02") == (100, 400, "offset locality limit")


def test_locality_bound_1_25_cq():
    """CQ 800, other 500: X = 1.25 × 800 = 1,000 → other 200; the 8% limit (8,000) is not reached."""
    c = run(ledger(offset(800), offset(500, "other", "other_offset")))
    assert acc(c, "t02") == (200, 300, "offset locality limit")
    assert status(c)["offsets_accepted_t"] == Decimal("1000")


def test_no_chongqing_offsets_means_no_offsets():
    c = run(ledger(offset(100, "other", "ccer"), offset(100, "chengdu_chongqing_circle")))
    assert acc(c, "t01") == (0, 100, "offset locality limit")
    assert acc(c, "t02") == (0, 100, "offset locality limit")


def test_rows_of_a_category_served_by_date_then_txn_id():
    """E 10,000 → 800 t; CQ rows: t03 (1 Jan) first, then t01 and t02 (same day) by txn id."""
    c = run(
        ledger(
            offset(500, surrendered_on=date(2024, 1, 5)),
            offset(500, surrendered_on=date(2024, 1, 5)),
            offset(500, surrendered_on=date(2024, 1, 1)),
        ),
        obligations(("E1", 10_000, 9_000, 0)),
    )
    assert acc(c, "t03") == (500, 0, "accepted")
    assert acc(c, "t01") == (300, 200, "offset limit 8% of obligation")
    assert acc(c, "t02") == (0, 500, "offset limit 8% of obligation")


@pytest.mark.parametrize(
    ("e", "cap"),
    [("100012.4999", 8_000), ("100012.5000", 8_001), ("12.4999", 0), ("12.5", 1)],
)
def test_offset_limit_is_exact_and_rounds_down(e, cap):
    c = run(ledger(offset(10_000)), obligations(("E1", e, 0, 0)))
    assert status(c)["offset_cap_t"] == cap
    assert acc(c, "t01")[0] == cap


# ---------------------------------------------------------------------------------------------
# Allowances
# ---------------------------------------------------------------------------------------------
def test_allowance_vintages_and_acquisition():
    c = run(
        ledger(
            allowance(10, 2022),
            allowance(20, 2021),  # 2021 onwards up to Y: accepted
            allowance(30, 2019, "purchase"),
            allowance(40, 2015, "paid_reserve"),
            allowance(50, 2020, "free"),
            allowance(60, 2023),
            allowance(70, 2018, None),
            allowance(80, None),
        )
    )
    assert [acc(c, f"t0{i}")[0] for i in range(1, 5)] == [10, 20, 30, 40]
    assert acc(c, "t05") == (0, 50, "free 2013–2020 allowance not carried over")
    assert acc(c, "t06") == (0, 60, "vintage later than compliance year")
    assert acc(c, "t07") == (0, 70, "free 2013–2020 allowance not carried over")
    assert acc(c, "t08") == (0, 80, "allowance vintage missing")
    assert status(c)["allowances_t"] == Decimal("100")


def test_only_rows_of_the_compliance_year_are_items():
    led = pl.concat(
        [ledger(allowance(5)), ledger(allowance(7, 2021), year=2021).with_columns(txn_id=pl.lit("x"))]
    )
    c = run(led)
    assert c.items["txn_id"].to_list() == ["t01"]
    assert status(c)["allowances_t"] == Decimal("5")


# ---------------------------------------------------------------------------------------------
# Borrowing
# ---------------------------------------------------------------------------------------------
def borrow(q: int, **kw) -> dict:
    return {"instrument": "borrowed_preallocation", "quantity_t": q, **kw}


def test_borrowing_limited_by_borrowable():
    obl = obligations(("E1", 500_000, 400_000, 50_000))
    c = run(ledger(borrow(30_000), borrow(30_000)), obl, pool={"E1": 280_000})
    assert acc(c, "t01") == (30_000, 0, "accepted")
    assert acc(c, "t02") == (20_000, 10_000, "above borrowable quantity")
    assert status(c)["borrowing_cap_t"] == 50_000
    assert borrowed_accepted(c).to_dicts() == [{"enterprise_id": "E1", "borrowed_accepted_t": 50_000}]


def test_borrowing_limited_by_pool_and_missing_pool_row():
    obl = obligations(("E1", 500_000, 400_000, 50_000), ("E2", 500_000, 400_000, 50_000))
    c = run(ledger(borrow(30_000), borrow(30_000, enterprise_id="E2")), obl, pool={"E1": 12_000})
    assert acc(c, "t01") == (12_000, 18_000, "above borrowing pool")
    assert acc(c, "t02") == (0, 30_000, "above borrowing pool")  # no pool row: nothing left
    assert borrowed_accepted(c)["borrowed_accepted_t"].to_list() == [12_000, 0]


def test_borrowing_not_allowed_in_2023():
    c = run(ledger(borrow(10), year=2023), policy=P23, pool={"E1": 1_000})
    assert acc(c, "t01") == (0, 10, "borrowing not allowed this year")
    assert status(c)["borrowing_cap_t"] is None


# ---------------------------------------------------------------------------------------------
# Every refusal reason
# ---------------------------------------------------------------------------------------------
REASON_CASES = [
    ("after as-of", P22, allowance(5, surrendered_on=date(2024, 1, 11))),
    ("vintage later than compliance year", P22, allowance(5, 2023)),
    ("free 2013–2020 allowance not carried over", P22, allowance(5, 2016, "free")),
    ("vintage before 2013", P22, allowance(5, 2012, "purchase")),
    ("allowance vintage missing", P22, allowance(5, None)),
    ("hydro offset", P22, offset(5, hydro=True)),
    ("offset hydro flag missing", P22, offset(5, hydro=None)),
    ("offset origin missing", P22, offset(5, origin=None)),
    ("offset type not allowed this year", P23, offset(5, instrument="other_offset")),
    ("offset limit 8% of obligation", P22, offset(9_000)),
    ("offset locality limit", P22, offset(5, "other")),
    ("green power not allowed this year", P22, green(5)),
    ("green power limit", P23, green(5_000)),
    ("bought inside the city", P23, green(5, "chongqing")),  # v2
    ("green power origin missing", P23, green(5, None)),
    ("borrowing not allowed this year", P23, borrow(5)),
    ("above borrowable quantity", P22, borrow(20_000)),
    ("above borrowing pool", P22, borrow(5, enterprise_id="E2")),
    ("enterprise not listed for {y}", P22, allowance(5, enterprise_id="X9")),
    ("no verified emissions for {y}", P22, allowance(5, enterprise_id="E3")),
    ("unknown instrument", P22, {"instrument": "gold", "quantity_t": 5}),
]


@pytest.mark.parametrize(("reason", "policy", "row"), REASON_CASES, ids=[r for r, *_ in REASON_CASES])
def test_every_refusal_reason(reason, policy, row):
    y = policy.year
    obl = obligations(("E1", 100_000, 80_000, 10_000), ("E2", 100_000, 80_000, 10_000))
    c = run(ledger(row, year=y), obl, policy=policy, listed=("E1", "E2", "E3"), pool={"E1": 100_000})
    accepted, refused, got = acc(c, "t01")
    assert got == reason.format(y=y)
    assert refused > 0 and accepted + refused == row["quantity_t"]


# ---------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------
DEADLINE_22 = P22.deadline.value  # 2024-03-31


@pytest.mark.parametrize(
    ("as_of", "expected", "surrendered"),
    [
        (date(2024, 1, 1), "pending", 0),
        (date(2024, 2, 1), "pending", 600),  # part surrendered, deadline not passed
        (DEADLINE_22, "pending", 600),  # on the deadline, still short: not yet late
        (date(2024, 4, 1), "not_cleared", 600),
        (date(2024, 5, 1), "cleared_late", 1_000),
        (date(2026, 1, 1), "cleared_late", 1_000),
    ],
)
def test_status_transitions_late_completion(as_of, expected, surrendered):
    led = ledger(
        allowance(600, surrendered_on=date(2024, 2, 1)),
        allowance(400, surrendered_on=date(2024, 5, 1)),
    )
    c = run(led, obligations(("E1", 1_000, 900, 0)), as_of=as_of)
    s = status(c)
    assert s["status"] == expected
    assert s["surrendered_t"] == Decimal(surrendered)
    assert s["shortfall_t"] == Decimal(1_000 - surrendered)
    assert s["as_of"] == as_of and s["deadline"] == DEADLINE_22


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [(date(2024, 3, 1), "pending"), (DEADLINE_22, "cleared_on_time"), (date(2025, 1, 1), "cleared_on_time")],
)
def test_status_cleared_on_time(as_of, expected):
    led = ledger(
        allowance(500, surrendered_on=date(2024, 3, 2)),
        allowance(500, surrendered_on=DEADLINE_22),
        allowance(7, surrendered_on=date(2024, 6, 1)),  # late extra tonnes do not change on-time
    )
    s = status(run(led, obligations(("E1", 1_000, 900, 0)), as_of=as_of))
    assert s["status"] == expected


def test_on_time_reapplies_the_limits_to_the_deadline_rows():
    """Circle offsets surrendered by the deadline count only once Chongqing offsets arrive (after):
    as of the deadline they count 0, so the unit cleared late, not on time."""
    led = ledger(
        allowance(19_000, surrendered_on=date(2024, 3, 1)),
        offset(100, "chengdu_chongqing_circle", surrendered_on=date(2024, 3, 1)),
        offset(900, surrendered_on=date(2024, 4, 2)),
    )
    obl = obligations(("E1", 20_000, 18_000, 0))
    late = status(run(led, obl, as_of=date(2024, 5, 1)))
    assert late["status"] == "cleared_late"
    assert late["surrendered_t"] == Decimal("20000") and late["surrendered_by_deadline_t"] == Decimal("19000")
    assert status(run(led, obl, as_of=DEADLINE_22))["status"] == "pending"


def test_status_exact_at_the_obligation():
    obl = obligations(("E1", "1000.0001", 900, 0), ("E2", "1000.0000", 900, 0))
    led = ledger(allowance(1_000), allowance(1_000, enterprise_id="E2"))
    c = run(led, obl)
    assert status(c, "E1")["status"] == "pending" and status(c, "E1")["shortfall_t"] == Decimal("0.0001")
    assert status(c, "E2")["status"] == "cleared_on_time" and status(c, "E2")["shortfall_t"] == 0


def test_zero_obligation_is_cleared_on_time():
    assert status(run(ledger(), obligations(("E1", 0, 0, 0))))["status"] == "cleared_on_time"


def test_missing_verification_and_excluded():
    led = ledger(allowance(5, enterprise_id="E2"), allowance(6, enterprise_id="X9"), allowance(7))
    c = run(led, obligations(("E1", 7, 0, 0)), listed=("E1", "E2", "E3"))
    assert c.status["enterprise_id"].to_list() == ["E1", "E2", "E3", "X9"]
    assert c.status["status"].to_list() == ["cleared_on_time", "missing_verification", "missing_verification",
                                            "excluded"]  # fmt: skip
    for ent in ("E2", "E3", "X9"):
        s = status(c, ent)
        assert s["obligation_t"] is None and s["shortfall_t"] is None and s["surrendered_t"] == 0
    assert acc(c, "t01") == (0, 5, "no verified emissions for 2022")
    assert acc(c, "t02") == (0, 6, "enterprise not listed for 2022")


def test_provisional_from_obligation_or_deadline():
    obl = obligations(("E1", 10, 0, 0, True), ("E2", 10, 0, 0, False))
    c = run(ledger(), obl)
    assert c.status["provisional"].to_list() == [True, False]
    assert run(ledger(year=2023), obl, policy=P23).status["provisional"].to_list() == [True, True]


# ---------------------------------------------------------------------------------------------
# Shape and bad input
# ---------------------------------------------------------------------------------------------
def test_outputs_have_exactly_the_catalog_schema_and_order():
    led = ledger(
        allowance(5, txn_id="b"), allowance(6, txn_id="a"), allowance(7, txn_id="c", enterprise_id="E0")
    )
    c = run(led, obligations(("E1", 10, 0, 0), ("E0", 10, 0, 0)))
    assert c.status.schema == pl.Schema(catalog.CLEARANCE_STATUS.polars_schema)
    assert c.items.schema == pl.Schema(catalog.CLEARANCE_ITEM.polars_schema)
    assert c.items["txn_id"].to_list() == ["a", "b", "c"]
    assert c.status["enterprise_id"].to_list() == ["E0", "E1"]
    assert set(c.status["status"]) <= set(catalog.STATUSES)


def test_empty_ledger():
    c = run(ledger())
    assert c.items.height == 0 and c.items.schema == pl.Schema(catalog.CLEARANCE_ITEM.polars_schema)
    assert status(c)["status"] == "pending"


def test_inputs_are_not_mutated():
    led = ledger(offset(9_000), allowance(5))
    before = led.clone()
    run(led)
    assert led.equals(before)


def test_allocated_but_unlisted_enterprise_is_an_error():
    with pytest.raises(ValueError, match="not listed"):
        run(ledger(), obligations(("E1", 10, 0, 0)), listed=())


def test_duplicate_txn_id_is_an_error():
    with pytest.raises(ValueError, match="txn_id"):
        run(ledger(allowance(5, txn_id="a"), allowance(6, txn_id="a")))


def test_2021_pack_deadline_vintage_and_pool_chained_into_2022():
    """2021: deadline 2023-12-31, a 2022 vintage is later than the year; the pre-allocation pool of
    2023 is shared: what 2021 accepted is no longer there for 2022."""
    p21 = load_policy(default_policy_path(2021))
    obl = obligations(("E1", 500_000, 400_000, 50_000))
    c21 = run(
        ledger(borrow(30_000), allowance(5, 2022), year=2021).with_columns(surrendered_on=date(2023, 5, 1)),
        obl,
        policy=p21,
        as_of=date(2023, 6, 1),
        pool={"E1": 40_000},
    )
    assert status(c21)["deadline"] == date(2023, 12, 31)
    assert acc(c21, "t02") == (0, 5, "vintage later than compliance year")
    pool_22 = (
        pl.DataFrame({"enterprise_id": ["E1"], "pool_remaining_t": [40_000]})
        .join(borrowed_accepted(c21), on="enterprise_id", how="left")
        .select("enterprise_id", pl.col("pool_remaining_t") - pl.col("borrowed_accepted_t").fill_null(0))
    )
    assert pool_22.row(0) == ("E1", 10_000)
    c22 = run(ledger(borrow(30_000)), obl, pool=dict(pool_22.iter_rows()))
    assert acc(c22, "t01") == (10_000, 20_000, "above borrowing pool")


@pytest.mark.parametrize(
    "bad",
    [{"quantity_t": 0}, {"quantity_t": None}, {"surrendered_on": None}],
    ids=["zero", "no qty", "no date"],
)
def test_impossible_ledger_rows_are_errors(bad):
    with pytest.raises(ValueError, match="t01"):
        run(ledger(allowance(5, **bad)))


def test_negative_obligation_is_an_error():
    with pytest.raises(ValueError, match="negative"):
        run(ledger(), obligations(("E1", -1, 0, 0)))
