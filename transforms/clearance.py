"""Clearance (清缴) of one compliance year: which surrendered tonnes count, and each unit's status.

rules.md §6 [S0 notice 二–四, 方案 五(二)(三)(四); S4 §5]. Every ledger row of the year is kept
(`mart.clearance_item`): it is accepted whole, in part, or refused, with the reason. The steps are
set-based, one pass over all enterprises:

1. `_classify`   each row gets a refusal reason (eligibility: list, as-of, vintage, type, hydro…)
                 or, when eligible, a limit category (allowance, offsets by origin, green power,
                 borrowing);
2. `_caps`       per enterprise and category, how many tonnes the limits allow on the eligible
                 rows offered (offset limit and locality split, green-power limit, borrowing);
3. `_evaluate`   rows of a category are served in order of (surrendered_on, txn_id) up to its cap:
                 a running sum over an ordered window, no loop per row or enterprise.

The status needs the limits twice — on the rows up to the deadline (cleared on time?) and on the
rows up to the as-of date — because the offset limits depend on which rows are present; both
evaluations run the same function with a different cut-off date.

Arithmetic is exact: quantities are whole tonnes (integers); E is DECIMAL(18,4), carried as an
integer of 1/10⁴ t; parameter shares are turned into exact fractions p/q once, so every limit is an
integer floor division ("不得超过" rounds down) and no float touches a threshold (rules.md §8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import polars as pl

from model import catalog
from policies import Policy

SCALE = 10 ** catalog.DECIMAL_PLACES["decimal"]  # E is carried as an integer number of 1/SCALE t
OFFSET_INSTRUMENTS = ("ccer", "cqcer", "other_offset")
INSTRUMENT_KIND = {  # status column each accepted instrument adds to
    "allowance": "allowances_t",
    **{i: "offsets_accepted_t" for i in OFFSET_INSTRUMENTS},
    "green_power": "green_power_accepted_t",
    "borrowed_preallocation": "borrowed_accepted_t",
}
ACCEPTED = "accepted"
AFTER_AS_OF = "after as-of"
CERTIFICATE_USED = "certificate already used"
LEFT_OUT = "enterprise not allocated: left out of this publication (quarantined input)"
I128 = pl.Int128()


@dataclass(frozen=True)
class Clearance:
    """`status`: catalog CLEARANCE_STATUS, one row per enterprise; `items`: CLEARANCE_ITEM, one per row."""

    status: pl.DataFrame
    items: pl.DataFrame


def _fraction(share: Decimal, name: str) -> tuple[int, int]:
    """An exact share as (numerator, denominator) of integers, 0 ≤ share ≤ 1."""
    if not Decimal(0) <= share <= Decimal(1):
        raise ValueError(f"rule-pack parameter {name} = {share}: a share must be between 0 and 1")
    return share.as_integer_ratio()


def _pct(share: Decimal) -> str:
    """0.08 → '8', 0.125 → '12.5' (for reason strings)."""
    return format((share * 100).normalize(), "f")


@dataclass(frozen=True)
class _Rules:
    """The §6 parameters of a pack, read once: fractions, switches and reason strings."""

    year: int
    deadline: date
    paid_only: tuple[int, int]
    paid_acquisitions: tuple[str, ...]
    offset_types: tuple[str, ...]
    hydro_refused: bool
    offset_share: tuple[int, int]
    locality: bool
    min_cq: tuple[int, int]
    max_circle: tuple[int, int]
    green_power: bool
    green_share: tuple[int, int]
    green_max_t: int
    borrowing: bool
    later_vintages: bool
    green_origins: tuple[str, ...]
    origin_category: dict[str, str]  # offset origin → its locality category (the jurisdiction's)
    home: str | None  # the jurisdiction's own origin (green power bought there is refused)
    certificate_once: bool
    provisional: bool
    offset_limit_reason: str

    @classmethod
    def of(cls, policy: Policy) -> _Rules:
        used = ["deadline", "allowance_paid_only_vintages", "allowance_paid_acquisitions", "offset_types",
                "offset_hydro_refused", "offset_limit_share", "offset_locality_enabled",
                "green_power_enabled", "borrowing_enabled", "later_vintages_accepted"]  # fmt: skip
        if policy.offset_locality_enabled.value:
            used += ["offset_min_chongqing_share", "offset_max_circle_share"]
        if policy.green_power_enabled.value:
            used += ["green_power_share", "green_power_max_t", "green_power_origins_accepted",
                     "green_power_certificate_once"]  # fmt: skip
        lo, hi = policy.allowance_paid_only_vintages.value
        if lo > hi:
            raise ValueError(f"rule-pack parameter allowance_paid_only_vintages = {lo, hi}: not a range")
        min_cq = _fraction(policy.offset_min_chongqing_share.value, "offset_min_chongqing_share")
        if policy.offset_locality_enabled.value and min_cq[0] == 0:
            raise ValueError("rule-pack parameter offset_min_chongqing_share must be > 0 with locality on")
        return cls(
            year=policy.year,
            deadline=policy.deadline.value,
            paid_only=(lo, hi),
            paid_acquisitions=tuple(policy.allowance_paid_acquisitions.value),
            offset_types=tuple(policy.offset_types.value),
            hydro_refused=policy.offset_hydro_refused.value,
            offset_share=_fraction(policy.offset_limit_share.value, "offset_limit_share"),
            locality=policy.offset_locality_enabled.value,
            min_cq=min_cq,
            max_circle=_fraction(policy.offset_max_circle_share.value, "offset_max_circle_share"),
            green_power=policy.green_power_enabled.value,
            green_share=_fraction(policy.green_power_share.value, "green_power_share"),
            green_max_t=int(policy.green_power_max_t.value // 1),  # a limit: whole tonnes, down
            borrowing=policy.borrowing_enabled.value,
            later_vintages=policy.later_vintages_accepted.value,
            green_origins=tuple(policy.green_power_origins_accepted.value),
            origin_category=_origin_categories(policy),
            home=policy.place.origins.home,
            certificate_once=policy.green_power_certificate_once.value,
            provisional=any(getattr(policy, k).provisional for k in used),
            offset_limit_reason=f"offset limit {_pct(policy.offset_limit_share.value)}% of obligation",
        )


def _origin_categories(policy: Policy) -> dict[str, str]:
    """The jurisdiction's origins (`jurisdiction.toml` [origins]) → the offset locality categories:
    home (minimum share), region (maximum share), other."""
    o = policy.place.origins
    return (
        {origin: "offset_other" for origin in o.elsewhere}
        | ({o.region: "offset_region"} if o.region else {})
        | ({o.home: "offset_home"} if o.home else {})
    )


def _floor_share(x: pl.Expr, share: tuple[int, int], scale: int = 1) -> pl.Expr:
    """floor(share × x / scale) for x ≥ 0, in integers."""
    p, q = share
    return (x.cast(I128) * p) // (q * scale)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
def _unique(df: pl.DataFrame, key: str, what: str) -> None:
    dup = df.filter(pl.col(key).is_duplicated())[key].unique().sort().to_list()
    if dup:
        raise ValueError(f"{what}: {key} given more than once: {dup[:10]}")


def _enterprises(
    ledger_y: pl.DataFrame,
    obligations: pl.DataFrame,
    listed: pl.DataFrame,
    pool_remaining: pl.DataFrame,
    left_out: tuple[str, ...] = (),
) -> pl.DataFrame:
    """One row per enterprise concerned (listed, allocated, or with ledger rows for the year)."""
    if pool_remaining.width == 0:  # `pl.DataFrame()`: no pool information at all
        pool_remaining = pl.DataFrame(schema={"enterprise_id": pl.String, "pool_remaining_t": pl.Int64})
    if listed.width == 0:
        listed = pl.DataFrame(schema={"enterprise_id": pl.String})
    _unique(obligations, "enterprise_id", "obligations")
    for col in ("verified_emissions_t", "allocation_final_t"):
        bad = obligations.filter(pl.col(col).is_null() | (pl.col(col) < 0))["enterprise_id"].to_list()
        if bad:
            raise ValueError(f"obligations: {col} is empty or negative for enterprises {bad[:10]}")
    _unique(pool_remaining, "enterprise_id", "pool_remaining")
    listed_ids = listed.select(pl.col("enterprise_id").cast(pl.String)).unique()
    unlisted = obligations.join(listed_ids, on="enterprise_id", how="anti")["enterprise_id"].to_list()
    if unlisted:
        raise ValueError(f"obligations: enterprises allocated but not listed for the year: {unlisted[:10]}")
    both = sorted(set(left_out) & set(obligations["enterprise_id"].to_list()))
    if both:
        raise ValueError(f"obligations: enterprises allocated but also left out: {both[:10]}")
    not_listed = sorted(set(left_out) - set(listed_ids["enterprise_id"].to_list()))
    if not_listed:
        raise ValueError(f"left out: enterprises not listed for the year: {not_listed[:10]}")
    ob = obligations.lazy().select(
        "enterprise_id",
        pl.col("verified_emissions_t").cast(catalog.TYPES["decimal"][0]).alias("obligation_t"),
        (pl.col("verified_emissions_t").cast(catalog.TYPES["decimal"][0]) * SCALE).cast(I128).alias("e4"),
        pl.col("allocation_final_t").cast(I128).alias("a_final"),
        pl.col("borrowable_t").cast(I128).fill_null(0).alias("borrowable"),
        pl.col("provisional").fill_null(False).alias("obligation_provisional"),
        pl.lit(True).alias("has_obligation"),
    )
    pool = pool_remaining.lazy().select(
        pl.col("enterprise_id").cast(pl.String), pl.col("pool_remaining_t").cast(I128).alias("pool")
    )
    ids = pl.concat(
        [listed_ids.lazy(), ledger_y.lazy().select("enterprise_id"), ob.select("enterprise_id")]
    ).unique()
    return (
        ids.join(listed_ids.lazy().with_columns(is_listed=pl.lit(True)), on="enterprise_id", how="left")
        .join(ob, on="enterprise_id", how="left")
        .join(pool, on="enterprise_id", how="left")
        .with_columns(
            pl.col("is_listed", "has_obligation", "obligation_provisional").fill_null(False),
            pl.col("pool").fill_null(0),  # no pool row: nothing left to borrow
            is_left_out=pl.col("enterprise_id").is_in(list(left_out)),
        )
        .collect()
    )


# ---------------------------------------------------------------------------------------------
# 1. Eligibility
# ---------------------------------------------------------------------------------------------
def _classify(rows: pl.LazyFrame, r: _Rules, cutoff: date) -> pl.LazyFrame:
    """Add `refusal` (why the whole row is refused, null if eligible) and `category` (its limit)."""
    inst, vintage = pl.col("instrument"), pl.col("vintage")
    lo, hi = r.paid_only
    allowance = pl.when(vintage.is_null()).then(pl.lit("allowance vintage missing"))
    if not r.later_vintages:  # rules.md §6 (v2): also 2022 for 2021, though issued together
        allowance = allowance.when(vintage > r.year).then(pl.lit("vintage later than compliance year"))
    allowance = (
        allowance.when(vintage < lo)
        .then(pl.lit(f"vintage before {lo}"))
        .when((vintage <= hi) & ~pl.col("acquired_via").is_in(r.paid_acquisitions).fill_null(False))
        .then(pl.lit(f"free {lo}–{hi} allowance not carried over"))
    )
    offset = pl.when(~inst.is_in(r.offset_types)).then(pl.lit("offset type not allowed this year"))
    if r.hydro_refused:
        offset = (
            offset.when(pl.col("is_hydro").is_null())
            .then(pl.lit("offset hydro flag missing"))
            .when(pl.col("is_hydro"))
            .then(pl.lit("hydro offset"))
        )
    if r.locality:
        offset = offset.when(~pl.col("origin").is_in(list(r.origin_category)).fill_null(False)).then(
            pl.lit("offset origin missing")
        )
    eligible = pl.lit(None, pl.String)
    if r.green_power:  # rules.md §6 (v2): bought outside the city, each certificate once
        origin = pl.col("origin")
        green = pl.when(origin.is_null()).then(pl.lit("green power origin missing"))
        if r.home is not None:
            green = green.when(~origin.is_in(r.green_origins) & (origin == r.home))
            green = green.then(pl.lit("bought inside the city"))
        green = green.when(~origin.is_in(r.green_origins)).then(pl.lit("green power origin not accepted"))
        if r.certificate_once:
            green = green.when(pl.col("is_certificate_reused")).then(pl.lit(CERTIFICATE_USED))
        green = green.otherwise(eligible)
    else:
        green = pl.lit("green power not allowed this year")
    borrow = eligible if r.borrowing else pl.lit("borrowing not allowed this year")
    refusal = (
        pl.when(~pl.col("is_listed"))
        .then(pl.lit(f"enterprise not listed for {r.year}"))
        .when(pl.col("is_left_out"))
        .then(pl.lit(LEFT_OUT))
        .when(pl.col("surrendered_on") > cutoff)
        .then(pl.lit(AFTER_AS_OF))
        .when(~pl.col("has_obligation"))
        .then(pl.lit(f"no verified emissions for {r.year}"))
        .when(inst == "allowance")
        .then(allowance)
        .when(inst.is_in(OFFSET_INSTRUMENTS))
        .then(offset)
        .when(inst == "green_power")
        .then(green)
        .when(inst == "borrowed_preallocation")
        .then(borrow)
        .when(~inst.is_in(list(INSTRUMENT_KIND)))
        .then(pl.lit("unknown instrument"))
    )
    offset_category = (
        pl.col("origin").replace_strict(r.origin_category, default=None) if r.locality else pl.lit("offset")
    )
    category = (
        pl.when(inst == "allowance")
        .then(pl.lit("allowance"))
        .when(inst.is_in(OFFSET_INSTRUMENTS))
        .then(offset_category)
        .when(inst == "green_power")
        .then(pl.lit("green_power"))
        .when(inst == "borrowed_preallocation")
        .then(pl.lit("borrowing"))
    )
    return rows.with_columns(refusal=refusal).with_columns(
        category=pl.when(pl.col("refusal").is_null()).then(category)
    )


# ---------------------------------------------------------------------------------------------
# 2. Caps per enterprise and category
# ---------------------------------------------------------------------------------------------
def _caps(rows: pl.DataFrame, ents: pl.DataFrame, r: _Rules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per enterprise and category: the tonnes the limits accept on the eligible rows, and why they
    stop (`cap_t` null: no limit); and per enterprise the caps of the status columns.

    Offsets with locality (rules.md §6): with CQ, CI, OT the eligible tonnes from the jurisdiction's
    home origin (Chongqing), its region (the circle) and elsewhere (`Origins`), c the minimum home
    share and m the maximum region share, the largest
    integer X with a split x_CQ ≤ CQ, x_CI ≤ CI, x_OT ≤ OT, x_CQ ≥ c·X, x_CI ≤ m·X is
    X = floor(min(share·E, CQ/c, (CQ+OT)/(1−m), CQ+CI+OT)), split x_CQ = min(CQ, X),
    x_CI = min(CI, floor(m·X), X − x_CQ), x_OT = the rest. (Each bound is necessary; with X at the
    minimum the split meets every constraint, and floor keeps it feasible since x's are integers.)
    """
    q = pl.col("quantity_t").cast(I128)
    eligible = rows.filter(pl.col("category").is_not_null())

    def offered(cat: str) -> pl.Expr:
        return q.filter(pl.col("category") == cat).sum().alias(cat)

    cats = ["offset_home", "offset_region", "offset_other", "offset", "green_power", "borrowing"]
    sums = eligible.group_by("enterprise_id").agg([offered(c) for c in cats])
    e = ents.join(sums, on="enterprise_id", how="left").with_columns(pl.col(cats).fill_null(0).cast(I128))

    cq, ci, ot = pl.col("offset_home"), pl.col("offset_region"), pl.col("offset_other")
    share_cap = _floor_share(pl.col("e4"), r.offset_share, SCALE)
    (pc, qc), (pm, qm) = r.min_cq, r.max_circle
    if r.locality:
        bounds = [share_cap, (cq * qc) // pc, cq + ci + ot]
        if pm < qm:  # m = 1 sets no circle bound
            bounds.append((cq + ot) * qm // (qm - pm))
        x = pl.min_horizontal(bounds)
    else:
        x = pl.min_horizontal(share_cap, pl.col("offset"))
    has = pl.col("has_obligation")  # without E there is no limit to compute (rows are refused anyway)
    e = e.with_columns(offset_cap_t=pl.when(has).then(share_cap), x=pl.when(has).then(x))
    x = pl.col("x")
    x_cq = pl.min_horizontal(cq, x)
    circle_by_share = (x * pm) // qm
    x_ci = pl.min_horizontal(ci, circle_by_share, x - x_cq)
    reason_x = pl.when(x == pl.col("offset_cap_t")).then(pl.lit(r.offset_limit_reason))
    reason_x = reason_x.otherwise(pl.lit("offset locality limit"))

    gap4 = pl.max_horizontal(pl.col("e4") - pl.col("a_final") * SCALE, pl.lit(0, I128))
    green_cap = pl.min_horizontal(_floor_share(gap4, r.green_share, SCALE), pl.lit(r.green_max_t, I128))
    borrow_cap = pl.min_horizontal(pl.col("borrowable"), pl.col("pool"))
    e = e.with_columns(
        x_cq=x_cq,
        x_ci=x_ci,
        x_ot=x - x_cq - x_ci,
        circle_reason=pl.when(circle_by_share < pl.min_horizontal(ci, x - x_cq))
        .then(pl.lit("offset locality limit"))
        .otherwise(reason_x),
        reason_x=reason_x,
        green_power_cap_t=pl.when(has).then(green_cap) if r.green_power else pl.lit(None, I128),
        borrowing_cap_t=pl.when(has).then(borrow_cap) if r.borrowing else pl.lit(None, I128),
        borrow_reason=pl.when(pl.col("pool") < pl.col("borrowable"))
        .then(pl.lit("above borrowing pool"))
        .otherwise(pl.lit("above borrowable quantity")),
    )

    def cap(category: str, cap_t: pl.Expr, reason: pl.Expr) -> pl.DataFrame:
        return e.select(
            "enterprise_id",
            pl.lit(category).alias("category"),
            cap_t.cast(I128).alias("cap_t"),
            reason.alias("limit_reason"),
        )

    parts = [
        cap("offset_home", pl.col("x_cq"), pl.col("reason_x")),
        cap("offset_region", pl.col("x_ci"), pl.col("circle_reason")),
        cap("offset_other", pl.col("x_ot"), pl.col("reason_x")),
        cap("offset", pl.col("x"), pl.col("reason_x")),
        cap("green_power", pl.col("green_power_cap_t"), pl.lit("green power limit")),
        cap("borrowing", pl.col("borrowing_cap_t"), pl.col("borrow_reason")),
    ]
    return pl.concat(parts), e.select("enterprise_id", "offset_cap_t", "green_power_cap_t", "borrowing_cap_t")


# ---------------------------------------------------------------------------------------------
# 3. Acceptance in order within a category
# ---------------------------------------------------------------------------------------------
def _evaluate(
    ledger_y: pl.DataFrame, ents: pl.DataFrame, r: _Rules, cutoff: date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows with accepted/refused/reason, counting only rows surrendered on or before `cutoff`;
    and the caps of each enterprise. (Eager between steps: small plans optimise much faster.)"""
    rows = _classify(ledger_y.lazy().join(ents.lazy(), on="enterprise_id", how="left"), r, cutoff).collect()
    caps, ent_caps = _caps(rows, ents, r)
    q = pl.col("quantity_t").cast(I128)
    served_before = q.cum_sum().over(["enterprise_id", "category"], order_by=["surrendered_on", "txn_id"]) - q
    cap_t = pl.col("cap_t")
    accepted = (
        pl.when(pl.col("category").is_null())
        .then(pl.lit(0, I128))
        .when(cap_t.is_null())  # no limit on the category (allowances)
        .then(q)
        .otherwise(pl.min_horizontal(q, pl.max_horizontal(cap_t - served_before, pl.lit(0, I128))))
    )
    items = (
        rows.join(caps, on=["enterprise_id", "category"], how="left")
        .with_columns(accepted=accepted)
        .with_columns(
            refused=q - pl.col("accepted"),
            reason=pl.coalesce(
                pl.col("refusal"),
                pl.when(pl.col("accepted") < q).then(pl.col("limit_reason")),
                pl.lit(ACCEPTED),
            ),
        )
    )
    return items, ent_caps


def _totals(items: pl.DataFrame) -> pl.DataFrame:
    """Accepted tonnes per enterprise and kind (allowances, offsets, green power, borrowing)."""
    kind = pl.col("instrument").replace_strict(INSTRUMENT_KIND, default=None)
    kinds = sorted(set(INSTRUMENT_KIND.values()))
    return (
        items.group_by("enterprise_id")
        .agg([pl.col("accepted").filter(kind == k).sum().alias(k) for k in kinds])
        .with_columns(pl.col(kinds).fill_null(0).cast(I128))
        .with_columns(surrendered=pl.sum_horizontal(kinds))
    )


def _certificate_reuse(ledger: pl.DataFrame) -> pl.DataFrame:
    """Add `is_certificate_reused`: a green-power row whose certificate_id an earlier green-power
    row already presented (by surrendered_on, then txn_id, across all rows and years: rules.md §6
    v2, "shall only be used once … not carried over"). The first row to present a certificate
    claims it, whatever became of that row."""
    if "certificate_id" not in ledger.columns:
        ledger = ledger.with_columns(pl.lit(None, pl.String).alias("certificate_id"))
    green = (pl.col("instrument") == "green_power") & pl.col("certificate_id").is_not_null()
    return (
        ledger.with_row_index("_i")
        .with_columns(_green=green)
        .sort("surrendered_on", "txn_id")
        .with_columns(_nth=pl.int_range(pl.len()).over("_green", "certificate_id"))  # 0 = first
        .sort("_i")
        .with_columns(is_certificate_reused=pl.col("_green") & (pl.col("_nth") > 0))
        .drop("_i", "_green", "_nth")
    )


# ---------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------
def evaluate_clearance(
    ledger: pl.DataFrame,
    obligations: pl.DataFrame,
    listed: pl.DataFrame,
    pool_remaining: pl.DataFrame,
    policy: Policy,
    as_of: date,
    left_out: tuple[str, ...] | list[str] = (),
) -> Clearance:
    """Clearance of `policy.year` as of `as_of` (rules.md §6).

    ledger: core.ledger, all years. obligations: one row per allocated enterprise of the year with
    verified_emissions_t, allocation_final_t, borrowable_t, provisional. listed: enterprise_id of
    every enterprise listed for the year. pool_remaining: enterprise_id, pool_remaining_t — what is
    left of the shared borrowing pool for the year (a missing row means nothing is left).
    left_out: listed enterprises left out of the year's inputs (--allow-quarantine): status
    `not_allocated`, their ledger rows refused with that reason, never `missing_verification`.
    """
    r = _Rules.of(policy)
    ledger_y = _certificate_reuse(ledger).filter(pl.col("compliance_year") == r.year)
    _unique(ledger_y, "txn_id", "ledger")
    for col, bad in (
        ("quantity_t", pl.col("quantity_t").is_null() | (pl.col("quantity_t") <= 0)),
        ("surrendered_on", pl.col("surrendered_on").is_null()),
    ):
        txns = ledger_y.filter(bad)["txn_id"].to_list()
        if txns:
            raise ValueError(f"ledger: {col} must be given (quantity > 0) — transactions {txns[:10]}")
    ents = _enterprises(ledger_y, obligations, listed, pool_remaining, tuple(left_out))

    items_now, caps_now = _evaluate(ledger_y, ents, r, as_of)
    items_dl, _ = _evaluate(ledger_y, ents, r, min(as_of, r.deadline))
    now, by_deadline = (
        _totals(items_now),
        _totals(items_dl).select("enterprise_id", surrendered_dl="surrendered"),
    )

    dec = catalog.TYPES["decimal"][0]
    kinds = sorted(set(INSTRUMENT_KIND.values()))
    covers = pl.col("surrendered") * SCALE >= pl.col("e4")
    status = (
        ents.join(now, on="enterprise_id", how="left")
        .join(by_deadline, on="enterprise_id", how="left")
        .join(caps_now, on="enterprise_id", how="left")
        .with_columns(pl.col([*kinds, "surrendered", "surrendered_dl"]).fill_null(0))
        .with_columns(
            status=pl.when(~pl.col("is_listed"))
            .then(pl.lit("excluded"))
            .when(pl.col("is_left_out"))
            .then(pl.lit("not_allocated"))
            .when(~pl.col("has_obligation"))
            .then(pl.lit("missing_verification"))
            .when(pl.col("surrendered_dl") * SCALE >= pl.col("e4"))
            .then(pl.lit("cleared_on_time"))
            .when(pl.lit(as_of <= r.deadline))
            .then(pl.lit("pending"))
            .when(covers)
            .then(pl.lit("cleared_late"))
            .otherwise(pl.lit("not_cleared")),
            shortfall=pl.max_horizontal(
                pl.col("obligation_t") - pl.col("surrendered").cast(dec), pl.lit(0).cast(dec)
            ),
            provisional=pl.col("obligation_provisional") | r.provisional,
        )
        .select(
            pl.lit(r.year, pl.Int64).alias("compliance_year"),
            "enterprise_id",
            pl.lit(as_of, pl.Date).alias("as_of"),
            pl.lit(r.deadline, pl.Date).alias("deadline"),
            "obligation_t",
            *[pl.col(k).cast(dec) for k in kinds],
            pl.col("surrendered").cast(dec).alias("surrendered_t"),
            pl.when(pl.col("has_obligation")).then(pl.col("shortfall")).cast(dec).alias("shortfall_t"),
            "status",
            "provisional",
            pl.col("surrendered_dl").cast(dec).alias("surrendered_by_deadline_t"),
            *[pl.col(c).cast(pl.Int64) for c in ("offset_cap_t", "green_power_cap_t", "borrowing_cap_t")],
        )
    )
    items = items_now.select(
        pl.col("compliance_year").cast(pl.Int64),
        "txn_id",
        "enterprise_id",
        "instrument",
        "surrendered_on",
        pl.col("quantity_t").cast(pl.Int64),
        pl.col("accepted").cast(dec).alias("accepted_t"),
        pl.col("refused").cast(dec).alias("refused_t"),
        "reason",
        pl.lit(as_of, pl.Date).alias("as_of"),
    )
    return Clearance(
        status=_conform(status.sort("enterprise_id"), catalog.CLEARANCE_STATUS),
        items=_conform(items.sort("txn_id"), catalog.CLEARANCE_ITEM),
    )


def _conform(df: pl.DataFrame, table: catalog.Table) -> pl.DataFrame:
    """Exactly the catalog's columns, in order, with its dtypes (strict casts: no silent coercion)."""
    return df.select([pl.col(c.name).cast(c.polars_type) for c in table.columns])


def borrowed_accepted(clearance: Clearance) -> pl.DataFrame:
    """enterprise_id, borrowed_accepted_t (Int64): pre-allocation used by this year's clearance,
    to subtract from the shared borrowing pool of the next year of the pool (2021 → 2022)."""
    return clearance.status.select(
        "enterprise_id", pl.col("borrowed_accepted_t").cast(pl.Int64).alias("borrowed_accepted_t")
    )
