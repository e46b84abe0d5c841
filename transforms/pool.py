"""The shared borrowing pool (rules.md §4 "Borrowing", §6 "Borrowed pre-allocation"), by name.

2021 and 2022 gaps may be cleared with the frozen 2023 pre-allocation, together at most that
pre-allocation: the pool of an enterprise is `preallocation_next_t` of the last pool year
(2022 → 2023), and each pool year uses what the earlier ones left. The pool years and whether
borrowing applies at all are rule-pack parameters (`borrowing_pool_years`, `borrowing_enabled`).

The computation is the engine's (`transforms.engine.pool_for`, an explicit input of the year's
clearance); this module keeps the names the pool is known by in tests and benchmarks.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from policies import Policy
from transforms import CoreFrames
from transforms.allocate import Allocation
from transforms.engine import (
    BORROWED,
    POOL_SCHEMA,
    allocation_of,
    baselines_of,
    borrowers,
    obligations,
    pool_for,
    pool_years,
    restricted,
)

__all__ = [
    "BORROWED",
    "POOL_SCHEMA",
    "allocation_for",
    "borrowers",
    "obligations",
    "pool_remaining",
    "pool_years",
    "restricted",
]


def allocation_for(core: CoreFrames, policy: Policy) -> Allocation:
    """Baselines and allocation of `policy.year` in one call (the engine without clearance)."""
    return allocation_of(baselines_of(core, policy), core, policy)


def pool_remaining(
    core: CoreFrames,
    policy: Policy,
    as_of: date,
    policies: dict[int, Policy],
    allocation: Allocation,
) -> pl.DataFrame:
    """enterprise_id, pool_remaining_t for `policy.year`, whose allocation is `allocation`
    (`policies`: the rule pack of every pool year; `policy` is used for its own year)."""
    pool = pool_for(core, policies | {policy.year: policy}, policy.year, as_of, allocation)
    if pool is None:
        return pl.DataFrame(schema=POOL_SCHEMA)
    return pool.remaining(allocation)
