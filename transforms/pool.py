"""The shared borrowing pool (rules.md §4 "Borrowing", §6 "Borrowed pre-allocation").

2021 and 2022 gaps may be cleared with the frozen 2023 pre-allocation, together at most that
pre-allocation: the pool of an enterprise is `preallocation_next_t` of the last pool year
(2022 → 2023), and each pool year uses what the earlier ones left. The pool years and whether
borrowing applies at all are rule-pack parameters (`borrowing_pool_years`, `borrowing_enabled`).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from etsflow.catalog import INPUTS
from policies import Policy
from transforms import CoreFrames, listed_enterprise_ids
from transforms.allocate import Allocation, allocate
from transforms.baselines import compute_baselines
from transforms.clearance import borrowed_accepted, evaluate_clearance

POOL_SCHEMA = {"enterprise_id": pl.String, "pool_remaining_t": pl.Int64}
BORROWED = "borrowed_preallocation"  # the ledger instrument that draws on the pool


def allocation_for(core: CoreFrames, policy: Policy) -> Allocation:
    """Baselines and allocation of `policy.year` in one call."""
    return allocate(compute_baselines(core, policy), core, policy)


def obligations(allocation: Allocation) -> pl.DataFrame:
    """What clearance needs of an allocation: E, A_final, borrowable and the provisional flag."""
    return allocation.enterprises.select(
        "enterprise_id", "verified_emissions_t", "allocation_final_t", "borrowable_t", "provisional"
    )


def pool_years(policy: Policy) -> list[int]:
    """The earlier pool years whose borrowing counts against this year's pool, and the pool's
    source year, as [earlier…, source]; empty when this year does not borrow."""
    years = sorted(policy.borrowing_pool_years.value)
    if not policy.borrowing_enabled.value or policy.year not in years:
        return []
    return years


def borrowers(ledger: pl.DataFrame, year: int) -> pl.DataFrame:
    """enterprise_id of every enterprise with a borrowing row (borrowed pre-allocation) for `year`."""
    return (
        ledger.filter((pl.col("compliance_year") == year) & (pl.col("instrument") == BORROWED))
        .select("enterprise_id")
        .unique()
    )


def restricted(core: CoreFrames, enterprise_ids: pl.DataFrame) -> CoreFrames:
    """The inputs of these enterprises only (every input table carries enterprise_id)."""
    return CoreFrames(
        **{t.name: getattr(core, t.name).join(enterprise_ids, on="enterprise_id", how="semi") for t in INPUTS}
    )


def pool_remaining(
    core: CoreFrames,
    policy: Policy,
    as_of: date,
    policies: dict[int, Policy],
    allocation: Allocation,
) -> pl.DataFrame:
    """enterprise_id, pool_remaining_t for `policy.year`, whose allocation is `allocation`.

    `policies` holds the rule pack of every pool year. The pool is the last pool year's
    `preallocation_next_t`; earlier pool years are cleared first, as of the same date, each
    against what is left of the pool. An earlier year is allocated and cleared here for the
    enterprises with a borrowing row in its ledger only: allocation and clearance are rules per
    enterprise, and an enterprise that did not borrow used nothing of the pool.
    """
    years = pool_years(policy)
    if not years:
        return pl.DataFrame(schema=POOL_SCHEMA)
    source = allocation if years[-1] == policy.year else allocation_for(core, policies[years[-1]])
    remaining = source.enterprises.select(
        "enterprise_id", pl.col("preallocation_next_t").cast(pl.Int64).alias("pool_remaining_t")
    )
    for y in years:
        if y >= policy.year:
            break
        part = restricted(core, borrowers(core.ledger, y))
        cleared = evaluate_clearance(
            part.ledger,
            obligations(allocation_for(part, policies[y])),
            listed_enterprise_ids(part.enterprises, y),
            remaining.join(part.enterprises, on="enterprise_id", how="semi"),
            policies[y],
            as_of,
        )
        used = borrowed_accepted(cleared)
        remaining = remaining.join(used, on="enterprise_id", how="left").select(
            "enterprise_id",
            (pl.col("pool_remaining_t") - pl.col("borrowed_accepted_t").fill_null(0).cast(pl.Int64)).alias(
                "pool_remaining_t"
            ),
        )
    return remaining.cast(POOL_SCHEMA)
