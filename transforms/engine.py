"""The engine of a compliance year: validated inputs and a rule pack in, the year's results out.

    run_year(core, policy, as_of=…, pool=…) -> YearFrames

is the whole computation of one year, pure (no Prefect, no warehouse, no files): baselines
(rules.md §2–§3) → allocation (§3.4–§5) → clearance (§6). Its pieces, `baselines_of`,
`allocation_of` and `clearance_of`, are what the stages of the annual flow call
(`flows/stages.py`), each on the output of the previous one, so that a stage can be skipped or
resumed from its stored output; chained, they are `run_year`.

The shared borrowing pool (rules.md §4 "Borrowing") is an explicit input of the year, never
computed inside clearance: `pool_for(core, policies, year, as_of)` computes it with this same
engine on the earlier pool years, restricted to the enterprises that borrowed in them (allocation
and clearance are rules per enterprise: an enterprise that did not borrow used nothing of the
pool). A year with no pool (2023) takes `pool=None`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from model.catalog import INPUTS
from policies import Policy
from transforms import CoreFrames, listed_enterprise_ids
from transforms.allocate import Allocation, allocate
from transforms.baselines import compute_baselines
from transforms.clearance import Clearance, borrowed_accepted, evaluate_clearance

POOL_SCHEMA = {"enterprise_id": pl.String, "pool_remaining_t": pl.Int64}
BORROWED = "borrowed_preallocation"  # the ledger instrument that draws on the pool


@dataclass(frozen=True)
class Pool:
    """The borrowing pool a year clears against (rules.md §4, §6 "Borrowed pre-allocation").

    `source_year`: the pool year whose `preallocation_next_t` is the pool (2022 → the 2023
    pre-allocation). `source`: enterprise_id, preallocation_next_t of that year, or None when the
    source year is the year being computed (its own allocation is the source). `used`:
    enterprise_id, borrowed_accepted_t — what the earlier pool years' clearance accepted.
    """

    source_year: int
    source: pl.DataFrame | None
    used: pl.DataFrame

    def remaining(self, own: Allocation | None = None) -> pl.DataFrame:
        """enterprise_id, pool_remaining_t: the source less what the earlier years used."""
        if self.source is not None:
            source = self.source
        elif own is not None:
            source = own.enterprises.select("enterprise_id", "preallocation_next_t")
        else:
            raise ValueError(f"the pool's source is the year {self.source_year} itself: pass its allocation")
        return (
            source.select(
                "enterprise_id", pl.col("preallocation_next_t").cast(pl.Int64).alias("pool_remaining_t")
            )
            .join(self.used, on="enterprise_id", how="left")
            .select(
                "enterprise_id",
                (
                    pl.col("pool_remaining_t") - pl.col("borrowed_accepted_t").fill_null(0).cast(pl.Int64)
                ).alias("pool_remaining_t"),
            )
            .cast(POOL_SCHEMA)
        )


@dataclass(frozen=True)
class YearFrames:
    """Everything the engine computes for a year: the stage output `baselines` and the marts."""

    baselines: pl.DataFrame
    allocation_line: pl.DataFrame
    allocation_enterprise: pl.DataFrame
    cap_summary: pl.DataFrame
    clearance_status: pl.DataFrame
    clearance_item: pl.DataFrame

    @property
    def allocation(self) -> Allocation:
        return Allocation(
            lines=self.allocation_line, enterprises=self.allocation_enterprise, cap=self.cap_summary
        )

    @property
    def clearance(self) -> Clearance:
        return Clearance(status=self.clearance_status, items=self.clearance_item)

    def marts(self) -> dict[str, pl.DataFrame]:
        return {
            "allocation_line": self.allocation_line,
            "allocation_enterprise": self.allocation_enterprise,
            "cap_summary": self.cap_summary,
            "clearance_status": self.clearance_status,
            "clearance_item": self.clearance_item,
        }


# ---- the pieces (one per stage) -----------------------------------------------------------------
def baselines_of(core: CoreFrames, policy: Policy) -> pl.DataFrame:
    """Method, kept base years and baseline of every line to allocate (rules.md §2–§3)."""
    return compute_baselines(core, policy)


def allocation_of(baselines: pl.DataFrame, core: CoreFrames, policy: Policy, left_out: int = 0) -> Allocation:
    """Lines, enterprises and the cap of the year from its baselines (rules.md §3.4–§5);
    `left_out`: how many listed enterprises the inputs left out (the cap is then partial)."""
    return allocate(baselines, core, policy, left_out)


def obligations(allocation: Allocation) -> pl.DataFrame:
    """What clearance needs of an allocation: E, A_final, borrowable and the provisional flag."""
    return allocation.enterprises.select(
        "enterprise_id", "verified_emissions_t", "allocation_final_t", "borrowable_t", "provisional"
    )


def clearance_of(
    core: CoreFrames,
    allocation: Allocation,
    policy: Policy,
    as_of: date,
    pool: Pool | None,
    left_out: tuple[str, ...] | list[str] = (),
) -> Clearance:
    """The year's clearance as of `as_of` against its allocation and the given pool (rules.md §6);
    `left_out`: listed enterprises left out of the inputs (--allow-quarantine)."""
    remaining = pool.remaining(allocation) if pool is not None else pl.DataFrame(schema=POOL_SCHEMA)
    return evaluate_clearance(
        core.ledger,
        obligations(allocation),
        listed_enterprise_ids(core.enterprises, policy.year),
        remaining,
        policy,
        as_of,
        left_out,
    )


def run_year(
    core: CoreFrames,
    policy: Policy,
    *,
    as_of: date,
    pool: Pool | None,
    left_out: tuple[str, ...] | list[str] = (),
) -> YearFrames:
    """The year `policy.year` computed whole from its validated inputs (the engine); `left_out`:
    the listed enterprises the inputs left out (--allow-quarantine)."""
    baselines = baselines_of(core, policy)
    allocation = allocation_of(baselines, core, policy, len(left_out))
    clearance = clearance_of(core, allocation, policy, as_of, pool, left_out)
    return YearFrames(
        baselines=baselines,
        allocation_line=allocation.lines,
        allocation_enterprise=allocation.enterprises,
        cap_summary=allocation.cap,
        clearance_status=clearance.status,
        clearance_item=clearance.items,
    )


# ---- the borrowing pool, from the earlier years ----------------------------------------------------
def pool_years(policy: Policy) -> list[int]:
    """The pool years [earlier…, source] when `policy.year` borrows from a shared pool, else []."""
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


def _allocation_only(core: CoreFrames, policy: Policy) -> Allocation:
    return allocation_of(baselines_of(core, policy), core, policy)


def pool_for(
    core: CoreFrames, policies: dict[int, Policy], year: int, as_of: date, own: Allocation | None = None
) -> Pool | None:
    """The borrowing pool of `year`, or None when the year does not borrow.

    `policies` holds the rule pack of every pool year (the year's own included). Each earlier pool
    year is computed by the engine for its borrowers only, cleared as of `as_of` against what the
    years before it left, and what it accepted is used. The source allocation is the engine's
    allocation of the source year (for the earlier years: of their borrowers only). `own`: the
    allocation of `year` from `core` and `policies[year]`, when the caller has it — the earlier
    years' borrowers then take their source rows from it (allocation is per enterprise, so those
    rows are what computing the borrowers alone gives) instead of from the engine run again."""
    years = pool_years(policies[year])
    if not years:
        return None
    src_year = years[-1]
    used = pl.DataFrame(schema={"enterprise_id": pl.String, "borrowed_accepted_t": pl.Int64})
    for y in years:
        if y >= year:
            break
        ids = borrowers(core.ledger, y)
        part = restricted(core, ids)
        if own is not None and src_year == year:
            source_alloc = own.enterprises.join(ids, on="enterprise_id", how="semi")
        else:
            source_alloc = _allocation_only(part, policies[src_year]).enterprises
        source = source_alloc.select("enterprise_id", "preallocation_next_t")
        frames = run_year(part, policies[y], as_of=as_of, pool=Pool(src_year, source, used))
        used = (
            pl.concat([used, borrowed_accepted(frames.clearance)])
            .group_by("enterprise_id")
            .agg(pl.col("borrowed_accepted_t").sum().cast(pl.Int64))
        )
    source = None
    if src_year != year:
        source = _allocation_only(core, policies[src_year]).enterprises.select(
            "enterprise_id", "preallocation_next_t"
        )
    return Pool(src_year, source, used)
