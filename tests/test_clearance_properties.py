"""Property tests of the clearance engine (Hypothesis): nothing offered disappears, limits hold,
locality shares hold, and the accepted offsets are the largest feasible (brute force)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model import catalog
from policies import Param, default_policy_path, load_policy
from transforms.clearance import evaluate_clearance

P22 = load_policy(default_policy_path(2022))
P23 = P22.model_copy(
    update={
        "pack": P22.pack.model_copy(update={"compliance_year": 2023}),
        **{
            k: Param(value=v, source="test", confidence="inferred")
            for k, v in {
                "offset_types": ("cqcer",),
                "offset_limit_share": Decimal("0.05"),
                "offset_locality_enabled": False,
                "green_power_enabled": True,
                "green_power_share": Decimal("0.08"),
                "green_power_max_t": Decimal("3"),  # small, so that the t cap is reached here
                "borrowing_enabled": False,
                "deadline": date(2024, 12, 31),
            }.items()
        },
    }
)
OFFSETS = ("ccer", "cqcer", "other_offset")
ORIGINS = ("chongqing", "chengdu_chongqing_circle", "other")
# Days relative to the deadline: rows and as-of dates collide often, on and around the deadline.
DAYS = st.sampled_from([-30, -1, 0, 1, 30])
AS_OF_DAYS = st.sampled_from([-31, -30, -1, 0, 1, 30, 31])

row = st.fixed_dictionaries(
    {
        "enterprise_id": st.sampled_from(["E1", "E1", "E2", "X9"]),  # X9 is not listed
        "instrument": st.sampled_from(
            ["allowance", "allowance", *OFFSETS, *(["green_power", "borrowed_preallocation"] * 2)]
        ),
        "quantity_t": st.integers(1, 9),
        "day": DAYS,
        "vintage": st.sampled_from([2015, 2020, 2021, 2022, 2023]),
        "acquired_via": st.sampled_from(["free", "purchase", "paid_reserve"]),
        "origin": st.sampled_from(ORIGINS),
        "is_hydro": st.sampled_from([False, False, False, True]),
    }
)
offset_row = st.fixed_dictionaries(
    {
        "enterprise_id": st.just("E1"),
        "instrument": st.sampled_from(OFFSETS),
        "quantity_t": st.integers(1, 12),
        "day": DAYS,
        "origin": st.sampled_from(ORIGINS),
        "is_hydro": st.sampled_from([False, False, False, True]),
    }
)
obligation = st.tuples(
    st.integers(0, 40_000).map(lambda n: Decimal(n) / 100),  # E up to 400 t with 2 decimals
    st.integers(0, 400),  # A_final
    st.integers(0, 15),  # borrowable
    st.integers(0, 15),  # pool
)


def frames(rows, obls, policy):
    deadline = policy.deadline.value
    led = pl.DataFrame(
        [
            {
                "txn_id": f"t{i:03d}",
                "compliance_year": policy.year,
                "surrendered_on": deadline + timedelta(days=r.pop("day")),
                **r,
            }
            for i, r in enumerate(map(dict, rows))
        ],
        schema=catalog.LEDGER.polars_schema,
    )
    obl = pl.DataFrame(
        [(e, E, a, b, False) for e, (E, a, b, _) in obls.items()],
        schema={"enterprise_id": pl.String, "verified_emissions_t": pl.Decimal(18, 4),
                "allocation_final_t": pl.Int64, "borrowable_t": pl.Int64, "provisional": pl.Boolean},
        orient="row",
    )  # fmt: skip
    pool = pl.DataFrame(
        [(e, p) for e, (_, _, _, p) in obls.items()],
        schema={"enterprise_id": pl.String, "pool_remaining_t": pl.Int64},
        orient="row",
    )
    listed = pl.DataFrame({"enterprise_id": list(obls)})
    return led, obl, listed, pool


def best_offsets(cq: int, ci: int, ot: int, e: Decimal, policy) -> int:
    """Brute force over every integer split (x_CQ, x_CI, x_OT) meeting every rule: the largest total."""
    share = Fraction(policy.offset_limit_share.value) * Fraction(e)
    c, m = Fraction(policy.offset_min_chongqing_share.value), Fraction(policy.offset_max_circle_share.value)
    a, b, d = np.meshgrid(np.arange(cq + 1), np.arange(ci + 1), np.arange(ot + 1), indexing="ij")
    x = a + b + d
    ok = (  # integer cross-multiplication: x ≤ share, a ≥ c·x, b ≤ m·x
        (x * share.denominator <= share.numerator)
        & (a * c.denominator >= c.numerator * x)
        & (b * m.denominator <= m.numerator * x)
    )
    return int(x[ok].max())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(offset_row, max_size=8),
    e=st.integers(0, 60_000).map(lambda n: Decimal(n) / 100),
    as_of=AS_OF_DAYS,
)
def test_offsets_within_limits_local_and_maximal(rows, e, as_of):
    """2022 offsets: ≤ 8% of E, CQ ≥ 80% and circle ≤ 10% of the accepted, and no feasible choice of
    the eligible tonnes accepts more (brute force over all integer splits)."""
    led, obl, listed, pool = frames(rows, {"E1": (e, 0, 0, 0)}, P22)
    as_of = P22.deadline.value + timedelta(days=as_of)
    items = evaluate_clearance(led, obl, listed, pool, P22, as_of).items.join(
        led.select("txn_id", "origin", "is_hydro"), on="txn_id"
    )
    assert (items["accepted_t"] + items["refused_t"] == items["quantity_t"]).all()
    assert (items["accepted_t"] <= items["quantity_t"]).all() and (items["accepted_t"] >= 0).all()
    got = {o: int(items.filter(pl.col("origin") == o)["accepted_t"].sum()) for o in ORIGINS}
    x = sum(got.values())
    assert Fraction(x) <= Fraction(P22.offset_limit_share.value) * Fraction(e)
    assert got["chongqing"] >= Fraction(P22.offset_min_chongqing_share.value) * x
    assert got["chengdu_chongqing_circle"] <= Fraction(P22.offset_max_circle_share.value) * x
    eligible = items.filter(~pl.col("is_hydro") & (pl.col("surrendered_on") <= as_of))
    offered = [int(eligible.filter(pl.col("origin") == o)["quantity_t"].sum()) for o in ORIGINS]
    assert x == best_offsets(*offered, e, P22)
    # within an origin, rows are served in (surrendered_on, txn_id) order: accepted rows form a prefix
    for o in ORIGINS:
        mine = eligible.filter(pl.col("origin") == o).sort("surrendered_on", "txn_id")
        refused_before = mine["refused_t"].cum_sum() - mine["refused_t"]
        assert mine.filter((refused_before > 0) & (pl.col("accepted_t") > 0)).is_empty()
        assert set(mine.filter(pl.col("refused_t") > 0)["reason"]) <= {
            "offset limit 8% of obligation",
            "offset locality limit",
        }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(row, max_size=14),
    e1=obligation,
    e2=obligation,
    policy=st.sampled_from([P22, P23]),
    as_of_day=AS_OF_DAYS,
)
def test_clearance_invariants(rows, e1, e2, policy, as_of_day):
    """Every instrument, two listed units and an unlisted one, 2022 and 2023 rules."""
    y = policy.year
    as_of = policy.deadline.value + timedelta(days=as_of_day)
    led, obl, listed, pool = frames(rows, {"E1": e1, "E2": e2}, policy)
    c = evaluate_clearance(led, obl, listed, pool, policy, as_of)
    items = c.items.join(led.select("txn_id", "origin", "is_hydro", "vintage", "acquired_via"), on="txn_id")

    # every row is there; 0 ≤ accepted ≤ offered; accepted + refused = offered; reason iff refused
    assert c.items.height == led.height
    assert items.filter(
        (pl.col("accepted_t") < 0)
        | (pl.col("refused_t") < 0)
        | (pl.col("accepted_t") + pl.col("refused_t") != pl.col("quantity_t"))
        | ((pl.col("reason") == "accepted") != (pl.col("refused_t") == 0))
        | ((pl.col("surrendered_on") > as_of) & (pl.col("accepted_t") > 0))
    ).is_empty()
    assert items.filter(pl.col("enterprise_id") == "X9")["accepted_t"].sum() == 0

    status = {s["enterprise_id"]: s for s in c.status.to_dicts()}
    assert status.get("X9", {"status": "excluded"})["status"] == "excluded"
    for ent, (e, a_final, borrowable, pool_left) in {"E1": e1, "E2": e2}.items():
        mine = items.filter(pl.col("enterprise_id") == ent)
        ok = mine.filter(pl.col("surrendered_on") <= as_of)

        def accepted(*instruments, frame=mine):
            return int(frame.filter(pl.col("instrument").is_in(instruments))["accepted_t"].sum())

        s = status[ent]
        assert (
            s["surrendered_t"]
            == s["allowances_t"]
            + s["offsets_accepted_t"]
            + s["green_power_accepted_t"]
            + s["borrowed_accepted_t"]
        )
        assert s["shortfall_t"] == max(Decimal(0), e - s["surrendered_t"])

        # offsets: limit, locality shares, maximal (brute force on the eligible tonnes)
        x = accepted(*OFFSETS)
        assert Fraction(x) <= Fraction(policy.offset_limit_share.value) * Fraction(e)
        eligible = ok.filter(pl.col("instrument").is_in(policy.offset_types.value) & ~pl.col("is_hydro"))
        if policy.offset_locality_enabled.value:
            by_origin = [accepted(*OFFSETS, frame=mine.filter(pl.col("origin") == o)) for o in ORIGINS]
            assert by_origin[0] >= Fraction(policy.offset_min_chongqing_share.value) * x
            assert by_origin[1] <= Fraction(policy.offset_max_circle_share.value) * x
            offered = [int(eligible.filter(pl.col("origin") == o)["quantity_t"].sum()) for o in ORIGINS]
            assert x == best_offsets(*offered, e, policy)
        else:
            cap = int(policy.offset_limit_share.value * e // 1)
            assert x == min(cap, int(eligible["quantity_t"].sum()))

        # green power and borrowing: exactly the smaller of the limit and what was offered
        green = (pl.col("instrument") == "green_power") & (pl.col("origin") != "chongqing")  # v2: outside
        g = int(ok.filter(green)["quantity_t"].sum())
        if policy.green_power_enabled.value:
            gap = max(Decimal(0), e - a_final)
            cap = int(min(policy.green_power_share.value * gap, policy.green_power_max_t.value) // 1)
            assert accepted("green_power") == min(g, cap)
        else:
            assert accepted("green_power") == 0
        b = int(ok.filter(pl.col("instrument") == "borrowed_preallocation")["quantity_t"].sum())
        expect_b = min(b, borrowable, pool_left) if policy.borrowing_enabled.value else 0
        assert accepted("borrowed_preallocation") == expect_b

        # allowances: every eligible tonne
        lo, hi = policy.allowance_paid_only_vintages.value
        paid = pl.col("acquired_via").is_in(policy.allowance_paid_acquisitions.value)
        good = (pl.col("vintage") <= y) & ((pl.col("vintage") > hi) | paid)
        assert accepted("allowance") == int(
            ok.filter((pl.col("instrument") == "allowance") & good)["quantity_t"].sum()
        )

        # status agrees with its own definition
        dl = policy.deadline.value
        if s["surrendered_by_deadline_t"] >= e:
            assert s["status"] == "cleared_on_time"
        elif as_of <= dl:
            assert s["status"] == "pending"
        else:
            assert s["status"] == ("cleared_late" if s["surrendered_t"] >= e else "not_cleared")


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(row, max_size=12), e1=obligation, d1=AS_OF_DAYS, d2=AS_OF_DAYS)
def test_later_as_of_never_accepts_less(rows, e1, d1, d2):
    """Limits only grow with what is offered: a later as-of date never lowers what counts; and
    after the deadline, `cleared_on_time` is exactly "covered as of the deadline"."""
    led, obl, listed, pool = frames(rows, {"E1": e1}, P22)
    deadline = P22.deadline.value

    def as_of(d: int) -> dict:
        c = evaluate_clearance(led, obl, listed, pool, P22, deadline + timedelta(days=d))
        return c.status.filter(pl.col("enterprise_id") == "E1").row(0, named=True)

    (s1, s2), at_deadline = [as_of(d) for d in sorted((d1, d2))], as_of(0)
    for k in ("allowances_t", "offsets_accepted_t", "borrowed_accepted_t", "surrendered_t"):
        assert s1[k] <= s2[k]
    if max(d1, d2) >= 0:
        on_time = at_deadline["surrendered_t"] >= e1[0]
        assert (s2["status"] == "cleared_on_time") == on_time
        assert s2["surrendered_by_deadline_t"] == at_deadline["surrendered_t"]
