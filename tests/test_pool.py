"""The shared borrowing pool (`transforms.pool`) equals its straightforward computation.

`pool_remaining` allocates and clears an earlier pool year only for the enterprises that borrowed
in it. The reference here does what the rules say literally: allocate every pool year for every
enterprise, clear every enterprise of the earlier year, subtract what each borrowed. Both must
give the same pool for every enterprise, on the sample (which has the borrowing edge cases) and
on synthetic inboxes, at dates before, at and after the deadlines.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from ingest.read import read_inbox
from policies import policy_for_year
from tools import synthetic
from transforms import listed_enterprise_ids
from transforms.clearance import borrowed_accepted, evaluate_clearance
from transforms.pool import BORROWED, allocation_for, obligations, pool_remaining, pool_years
from validations.inputs import validate_inbox

from .conftest import SAMPLE

AS_OF = (date(2022, 6, 1), date(2023, 12, 31), date(2024, 4, 1), date(2025, 1, 1))


def reference_pool(core, year: int, as_of: date) -> pl.DataFrame:
    policies = {y: policy_for_year(y) for y in pool_years(policy_for_year(year))}
    years = sorted(policies)
    allocations = {y: allocation_for(core, p) for y, p in policies.items()}
    remaining = allocations[years[-1]].enterprises.select(
        "enterprise_id", pl.col("preallocation_next_t").cast(pl.Int64).alias("pool_remaining_t")
    )
    for y in (y for y in years if y < year):
        cleared = evaluate_clearance(
            core.ledger,
            obligations(allocations[y]),
            listed_enterprise_ids(core.enterprises, y),
            remaining,
            policies[y],
            as_of,
        )
        remaining = remaining.join(borrowed_accepted(cleared), on="enterprise_id", how="left").select(
            "enterprise_id", pl.col("pool_remaining_t") - pl.col("borrowed_accepted_t").fill_null(0)
        )
    return remaining.sort("enterprise_id")


def engine_pool(core, year: int, as_of: date) -> pl.DataFrame:
    policy = policy_for_year(year)
    policies = {y: policy_for_year(y) for y in pool_years(policy)}
    return pool_remaining(core, policy, as_of, policies, allocation_for(core, policy)).sort("enterprise_id")


def _core(inbox, year: int = 2022):
    v = validate_inbox(read_inbox(inbox), policy_for_year(year))
    assert v.quarantine.height == 0
    return v.core


@pytest.fixture(scope="module")
def sample_core():
    return _core(SAMPLE)


@pytest.fixture(scope="module", params=(11, 12))
def synthetic_core(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"pool-inbox-{request.param}")
    synthetic.write_inbox(
        synthetic.build_inbox(synthetic.synthetic_roster(400, request.param), request.param), folder
    )
    return _core(folder)


def _used(core, year: int, as_of: date) -> int:
    """Enterprises whose pool the earlier years' borrowing reduced (the test is not trivial)."""
    full = reference_pool(core, year, as_of)
    policy = policy_for_year(year)
    source = allocation_for(core, policy).enterprises.select("enterprise_id", "preallocation_next_t")
    return (
        full.join(source, on="enterprise_id")
        .filter(pl.col("pool_remaining_t") != pl.col("preallocation_next_t"))
        .height
    )


@pytest.mark.parametrize("as_of", AS_OF)
def test_pool_of_2022_on_the_sample(sample_core, as_of):
    assert engine_pool(sample_core, 2022, as_of).equals(reference_pool(sample_core, 2022, as_of))


def test_the_sample_borrows_in_2021_and_reduces_the_2022_pool(sample_core):
    assert sample_core.ledger.filter(
        (pl.col("compliance_year") == 2021) & (pl.col("instrument") == BORROWED)
    ).height
    assert _used(sample_core, 2022, date(2024, 4, 1)) > 0


@pytest.mark.parametrize("year", (2021, 2022))
@pytest.mark.parametrize("as_of", AS_OF[1:])
def test_pool_on_synthetic_inboxes(synthetic_core, year, as_of):
    assert engine_pool(synthetic_core, year, as_of).equals(reference_pool(synthetic_core, year, as_of))


def test_no_pool_in_2023(sample_core):
    assert engine_pool(sample_core, 2023, date(2025, 1, 1)).height == 0


def test_synthetic_inboxes_borrow_in_2021_and_reduce_the_2022_pool(synthetic_core):
    assert _used(synthetic_core, 2022, date(2024, 4, 1)) > 0
