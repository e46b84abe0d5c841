"""The references of the benchmark (`benchmarks/pandas_reference.py`, `benchmarks/plain_reference.py`)
and the engine give the same 2022 allocation, enterprise by enterprise, on a small synthetic inbox
with the edge cases.

This keeps the benchmark's comparison honest (a reference that drifted from the rules would make
any speed-up meaningless) and cross-checks the engine with an independent implementation
(Python Decimal per line, no shared code). No timing is asserted anywhere.
"""

from __future__ import annotations

import polars as pl
import pytest

from benchmarks import pandas_reference, plain_reference
from ingest.read import read_inbox
from policies import policy_for_year
from tools import synthetic
from transforms.allocate import allocate
from transforms.baselines import compute_baselines
from validations.inputs import validate_inbox

N = 150
SEEDS = (20261108, 7)


BASE_YEARS = (2019, 2020, 2021)


def with_rare_cases(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The synthetic tables plus the 2022 cases the generator does not place: an enterprise shut
    down ≥ 183 days in two base years (§2.2), an intensity line without output in its base years
    (§2.8 → total) and a total line without production days in them (§2.8 → equal)."""
    taken = set(tables["edge_cases"]["enterprise_id"].drop_nulls())
    lines = tables["lines"].filter(~pl.col("enterprise_id").is_in(taken) & (pl.col("activity") == "other"))
    eligible = lines.filter(pl.col("intensity_eligible"))
    shut_ent = eligible["enterprise_id"][0]
    no_output = eligible.filter(pl.col("enterprise_id") != shut_ent)["line_id"][0]
    no_days = lines.filter(
        ~pl.col("intensity_eligible") & ~pl.col("enterprise_id").is_in([shut_ent, no_output.split("-")[0]])
    )["line_id"][0]
    in_base = pl.col("year").is_in(BASE_YEARS)
    ly = tables["line_years"].with_columns(
        output=pl.when(in_base & (pl.col("line_id") == no_output))
        .then(0)
        .otherwise("output")
        .cast(pl.Decimal(18, 4)),
        production_days=pl.when(in_base & (pl.col("line_id") == no_days))
        .then(0)
        .otherwise("production_days"),
    )
    ey = tables["enterprise_years"].with_columns(
        shutdown_days=pl.when(pl.col("year").is_in(BASE_YEARS[:2]) & (pl.col("enterprise_id") == shut_ent))
        .then(200)
        .otherwise("shutdown_days")
    )
    return tables | {"line_years": ly, "enterprise_years": ey}


@pytest.fixture(scope="module", params=SEEDS)
def inbox(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"inbox-{N}-{request.param}")
    tables = synthetic.build_inbox(synthetic.synthetic_roster(N, request.param), request.param)
    synthetic.write_inbox(with_rare_cases(tables), folder, form="parquet")
    synthetic.write_inbox(with_rare_cases(tables), folder / "csv", form="csv")  # the plain script's form
    return folder


@pytest.fixture(scope="module")
def engine(inbox):
    policy = policy_for_year(2022)
    validated = validate_inbox(read_inbox(inbox), policy)
    assert validated.quarantine.height == 0
    baselines = compute_baselines(validated.core, policy)
    return baselines, allocate(baselines, validated.core, policy).enterprises


def test_the_inbox_exercises_the_rules(engine):
    """Every method, dropped base years and the gap exemption occur: the comparison is not trivial."""
    baselines, enterprises = engine
    assert set(baselines["method"]) == {"benchmark", "intensity", "total", "equal"}
    reasons = set(baselines["method_reason"])
    assert {"new_build", "activity_equal", "enterprise_shutdown"} <= reasons
    assert {"fallback_intensity_to_total", "fallback_total_to_equal"} <= reasons
    assert baselines.filter(pl.col("dropped_years").list.len() > 0).height > 0
    reasons = pl.col("dropped_reasons").list.eval(pl.element().struct.field("reason"))
    assert baselines.filter(reasons.list.contains("intensity_outlier")).height > 0  # outlier
    assert baselines.filter(pl.col("restatements").list.len() > 0).height > 0  # grid factor restated
    exempted = enterprises["adjustment_rule"].str.starts_with("gap_exemption")
    assert 0 < exempted.sum() < enterprises.height


def assert_same_allocation(enterprises: pl.DataFrame, ids, final, raw) -> None:
    """The reference's enterprises, final and raw allocations are the engine's, one for one."""
    ref = pl.DataFrame(
        {
            "enterprise_id": [str(i) for i in ids],
            "final_ref": [int(v) for v in final],
            "raw_ref": [str(v) for v in raw],
        }
    )
    both = enterprises.select(
        "enterprise_id", "allocation_final_t", pl.col("allocation_raw_t").cast(pl.String)
    ).join(ref, on="enterprise_id", how="full", coalesce=True)
    assert both.height == enterprises.height == ref.height
    differ = both.filter(
        pl.col("allocation_final_t").ne_missing(pl.col("final_ref"))
        | pl.col("allocation_raw_t").ne_missing(pl.col("raw_ref"))
    )
    assert differ.height == 0, differ.head(10)


def test_pandas_reference_equals_the_engine(inbox, engine):
    _, enterprises = engine
    reference = pandas_reference.allocate_2022(pandas_reference.read_inbox(inbox))
    assert_same_allocation(
        enterprises,
        reference["enterprise_id"].tolist(),
        reference["allocation_final_t"].tolist(),
        reference["allocation_raw_t"].tolist(),
    )


def test_plain_reference_equals_the_engine(inbox, engine):
    """The csv + Decimal script of the speed target (issue #16) computes the same numbers."""
    _, enterprises = engine
    reference = plain_reference.allocate(inbox / "csv")
    assert_same_allocation(
        enterprises,
        list(reference),
        [v["allocation_final_t"] for v in reference.values()],
        [v["allocation_raw_t"] for v in reference.values()],
    )
