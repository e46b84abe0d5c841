"""The shared borrowing pool (rules.md §4 "Borrowing", §6 "Borrowed pre-allocation").

2021 and 2022 gaps may be cleared with the frozen 2023 pre-allocation, together at most that
pre-allocation: the pool of an enterprise is `preallocation_next_t` of the last pool year
(2022 → 2023), and each pool year uses what the earlier ones left. The pool years and whether
borrowing applies at all are rule-pack parameters (`borrowing_pool_years`, `borrowing_enabled`).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from policies import Policy
from transforms import CoreFrames, listed_enterprise_ids
from transforms.allocate import Allocation, allocate
from transforms.baselines import compute_baselines
from transforms.clearance import borrowed_accepted, evaluate_clearance

POOL_SCHEMA = {"enterprise_id": pl.String, "pool_remaining_t": pl.Int64}


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


def pool_remaining(
    core: CoreFrames,
    policy: Policy,
    as_of: date,
    policies: dict[int, Policy],
    allocations: dict[int, Allocation],
) -> pl.DataFrame:
    """enterprise_id, pool_remaining_t for `policy.year`.

    `policies` and `allocations` hold every pool year (this year's included). Earlier pool years
    are cleared first, as of the same date, each against what is left of the pool.
    """
    years = pool_years(policy)
    if not years:
        return pl.DataFrame(schema=POOL_SCHEMA)
    source = allocations[years[-1]].enterprises
    remaining = source.select(
        "enterprise_id", pl.col("preallocation_next_t").cast(pl.Int64).alias("pool_remaining_t")
    )
    for y in years:
        if y >= policy.year:
            break
        listed = listed_enterprise_ids(core.enterprises, y)
        cleared = evaluate_clearance(
            core.ledger, obligations(allocations[y]), listed, remaining, policies[y], as_of
        )
        used = borrowed_accepted(cleared)
        remaining = remaining.join(used, on="enterprise_id", how="left").select(
            "enterprise_id",
            (pl.col("pool_remaining_t") - pl.col("borrowed_accepted_t").fill_null(0).cast(pl.Int64)).alias(
                "pool_remaining_t"
            ),
        )
    return remaining.cast(POOL_SCHEMA)
