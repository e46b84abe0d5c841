"""Completeness of the compliance year: the reports the allocation of year Y needs.

Every line of a listed enterprise that reported for Y has a record for Y and for each base year
in which the line existed; a listed enterprise with no report at all for Y is not an error of a
row (its clearance status is missing_verification).
"""

from __future__ import annotations

import polars as pl

from policies import Policy
from transforms import listed_enterprise_ids
from validations.failures import Checking, place_columns


def line_exists(year: pl.Expr) -> pl.Expr:
    """A line exists in `year` when commissioned by 31 Dec and not stopped on or before 1 Jan."""
    return (pl.col("commissioned_on").is_null() | (pl.col("commissioned_on") <= pl.date(year, 12, 31))) & (
        pl.col("stopped_on").is_null() | (pl.col("stopped_on") > pl.date(year, 1, 1))
    )


def completeness(v: Checking, policy: Policy) -> tuple[pl.DataFrame, list[str]]:
    """(quarantine rows of the line-years missing, enterprises listed for Y with no report for Y)."""
    y = policy.year
    listed = listed_enterprise_ids(v.good("enterprises"), y)
    reported = pl.concat(  # (semi and anti joins only: duplicates do not matter)
        [
            v.typed["line_years"].filter(pl.col("year") == y).select("enterprise_id"),
            v.typed["enterprise_years"].filter(pl.col("year") == y).select("enterprise_id"),
        ]
    )
    missing_reports = sorted(listed.join(reported, on="enterprise_id", how="anti")["enterprise_id"].to_list())
    years = pl.DataFrame({"year": [y, *policy.base_years.value]}, schema={"year": pl.Int64}).unique()
    need = (
        v.good("lines")
        .join(listed.join(reported, on="enterprise_id", how="semi"), on="enterprise_id", how="semi")
        .join(years, how="cross")
        .filter(line_exists(pl.col("year")))
    )
    gaps = need.join(v.typed["line_years"], on=["line_id", "year"], how="anti").join(
        v.raw["lines"].select("_rid", "_source_file", "_sheet", "_row"), on="_rid", how="left"
    )
    role = (
        pl.when(pl.col("year") == y)
        .then(pl.lit("the compliance year"))
        .otherwise(pl.lit(f"a base year of compliance year {y}"))
    )
    missing = gaps.select(
        pl.lit("lines").alias("table_name"),
        "enterprise_id",
        *place_columns(),
        pl.lit("year").alias("column_name"),
        pl.col("year").cast(pl.String).alias("value"),
        pl.format(
            "line {} has no verified data for {} ({}) in reports/{} / 缺少该年度核查数据",
            pl.col("line_id"),
            pl.col("year"),
            role,
            pl.col("year"),
        ).alias("message"),
    ).sort("source_file", "row_number", "value")
    return missing, missing_reports
