"""Table rules: what a row is worth beside the other rows, of its table and of the tables before it.

Generated from the catalog for every input table, in the order of `catalog.INPUTS` (a table after
the tables it refers to):
- its key (`Table.key`) is unique: every row of a duplicated key is quarantined, naming the first;
- its references (`Column.references`): a value given nowhere is unknown, a value whose own row is
  quarantined makes this row unusable too ("itself quarantined");
- its year (`Column.folder_year`) is the year of the folder the file was read from.
Then the rules of one table (`OWN_RULES`): days within the year, the line's enterprise, the
enterprise-year of a line-year, the verified total, the ledger's fields by instrument, a review's
decision date.

Every rule of a table reads the table's rows that passed its cell and row rules (`rows`, taken as
the table's turn starts) and the valid rows of the tables before it. Two rules read the rows
without any failure so far instead (`enterprise_year_given`, `total_reconciles`), so that a row
wrong for one reason is not also reported for another it only seems to break.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from model.catalog import Column, Table
from validations.failures import Checking, fail, no_failures

Rule = Callable[[pl.DataFrame, Table, Checking], pl.DataFrame]


def table_rules(v: Checking) -> None:
    """Append the failures of every table rule to `v.failures`, table by table, rule by rule."""
    for t in v.tables.values():  # catalog.INPUTS: a table after the tables it refers to
        rows = v.good(t.name)
        for rule in (duplicates, references, folder_year, *OWN_RULES.get(t.name, ())):
            v.failures[t.name].append(rule(rows, t, v))


# ---------------------------------------------------------------------------------------------
# generated from the catalog
# ---------------------------------------------------------------------------------------------
def duplicates(rows: pl.DataFrame, t: Table, v: Checking) -> pl.DataFrame:
    """Every row of a duplicated key (provenance joined to those rows only: usually none)."""
    key = list(t.key)
    if not key:
        return no_failures()
    dups = rows.filter(pl.len().over(key) > 1)
    first = (
        pl.concat_str(pl.col("_source_file"), pl.lit(" row "), pl.col("_row").cast(pl.String))
        .first()
        .over(key, order_by="_rid")
    )
    d = dups.join(v.where(t.name), on="_rid", how="left")
    return fail(
        d,
        pl.lit(True),
        key[-1] if len(key) == 1 else key[0],
        pl.format(
            f"duplicate key ({', '.join(key)}) = ({', '.join('{}' for _ in key)}); first given at {{}} / 重复记录",
            *[pl.col(k) for k in key],
            first,
        ),
    )


def _noun(key: Column) -> tuple[str, str]:
    """What an identifier names, in English and Chinese: enterprise_id 单位编号 → enterprise 单位."""
    return key.name.removesuffix("_id"), key.zh.removesuffix("编号")


def references(rows: pl.DataFrame, t: Table, v: Checking) -> pl.DataFrame:
    """Each column's declared reference: the value is given in the referenced table, on a valid row."""
    out = [no_failures()]
    for c in t.columns:
        if c.references is None:
            continue
        parent, key = c.references.split(".")
        given, valid = v.given(parent, key).implode(), v.good(parent)[key].implode()
        what, zh = _noun(v.tables[parent].column(key))
        col = pl.col(c.name)
        out += [
            fail(
                rows,
                ~col.is_in(given) & col.is_not_null(),
                c.name,
                pl.format(f"unknown {what} {{}} / 未登记的{zh}", col),
            ),
            fail(
                rows,
                col.is_in(given) & ~col.is_in(valid),
                c.name,
                pl.format(f"{what} {{}} is itself quarantined (see its row) / 所属记录已隔离", col),
            ),
        ]
    return pl.concat(out)


def folder_year(rows: pl.DataFrame, t: Table, v: Checking) -> pl.DataFrame:
    """The year declared `folder_year` is the year of the file's folder (where ingest knows one)."""
    out = [no_failures()]
    if "_folder_year" in rows.columns:
        for c in t.columns:
            if c.folder_year:
                out.append(
                    fail(
                        rows,
                        pl.col("_folder_year").is_not_null() & (pl.col(c.name) != pl.col("_folder_year")),
                        c.name,
                        pl.format(
                            "year {} does not match the folder of the file ({}) / 年度与目录不符",
                            pl.col(c.name),
                            pl.col("_folder_year"),
                        ),
                    )
                )
    return pl.concat(out)


# ---------------------------------------------------------------------------------------------
# rules of one table
# ---------------------------------------------------------------------------------------------
def _days_in_year(year: pl.Expr) -> pl.Expr:
    return pl.date(year, 12, 31).dt.ordinal_day().cast(pl.Int64)


def _within_year(column: str, zh: str) -> Rule:
    """A count of days (`column`, 中文 `zh`) is at most the days of the row's year."""

    def rule(rows: pl.DataFrame, t: Table, v: Checking) -> pl.DataFrame:
        days = _days_in_year(pl.col("year"))
        return fail(
            rows,
            pl.col(column) > days,
            column,
            pl.format(
                f"{column.replace('_', ' ')} {{}} exceed the {{}} days of {{}} / {zh}超过全年天数",
                pl.col(column),
                days,
                pl.col("year"),
            ),
        )

    return rule


def line_of_its_enterprise(rows: pl.DataFrame, t: Table, v: Checking) -> pl.DataFrame:
    """A line-year's enterprise is the enterprise of its line in the line register."""
    owner = rows.join(
        v.good("lines").select("line_id", pl.col("enterprise_id").alias("_owner")), on="line_id", how="inner"
    )
    return fail(
        owner,
        pl.col("_owner") != pl.col("enterprise_id"),
        "enterprise_id",
        pl.format(
            "line {} belongs to enterprise {}, not {} / 生产线不属于该单位",
            pl.col("line_id"),
            pl.col("_owner"),
            pl.col("enterprise_id"),
        ),
    )


def enterprise_year_given(rows: pl.DataFrame, t: Table, v: Checking) -> pl.DataFrame:
    """A line-year without another failure has an enterprise-year (typed, valid or not)."""
    return fail(
        v.good("line_years").join(v.typed["enterprise_years"], on=["enterprise_id", "year"], how="anti"),
        pl.lit(True),
        "enterprise_id",
        pl.format(
            "no enterprise-year record (shutdown days, total) for {} in {} / 缺少单位年度记录",
            pl.col("enterprise_id"),
            pl.col("year"),
        ),
    )


def total_reconciles(rows: pl.DataFrame, t: Table, v: Checking) -> pl.DataFrame:
    """The verified total of an enterprise-year without another failure equals the sum of its
    lines within 1 t — only where every line-year of that enterprise-year is valid (a failed or
    set-aside line-year, by its enterprise id or its line's owner, makes the sum partial)."""
    all_ly = v.typed["line_years"]
    bad_ly = all_ly.filter(pl.col("_rid").is_in(v.bad_rids("line_years").implode()))
    owners = bad_ly.join(
        v.typed["lines"].select("line_id", pl.col("enterprise_id").alias("_o")), on="line_id"
    )
    aside = v.set_aside["line_years"]
    partial = pl.concat(
        [
            bad_ly.select("enterprise_id", "year"),
            owners.select(pl.col("_o").alias("enterprise_id"), "year"),
            aside.select(
                pl.col("enterprise_id") if "enterprise_id" in aside.columns else pl.lit(None, pl.String),
                pl.col("year").cast(pl.Int64, strict=False)
                if "year" in aside.columns
                else pl.lit(None, pl.Int64).alias("year"),
            ).rename(lambda c: "enterprise_id" if c == "literal" else c),
        ]
    )
    sums = (
        v.good("line_years")
        .group_by("enterprise_id", "year")
        .agg((pl.col("verified_co2_t") + pl.col("verified_non_co2_t").fill_null(0)).sum().alias("_sum"))
    )
    ey = (
        v.good("enterprise_years")
        .join(sums, on=["enterprise_id", "year"], how="left")
        .join(
            partial.select("enterprise_id", "year").unique().with_columns(pl.lit(True).alias("_partial")),
            on=["enterprise_id", "year"],
            how="left",
        )
    )
    return fail(
        ey,
        pl.col("verified_total_t").is_not_null()
        & pl.col("_partial").is_null()
        & ((pl.col("verified_total_t") - pl.col("_sum").fill_null(0)).abs() > 1),
        "verified_total_t",
        pl.format(
            "verified total {} differs from the sum of its lines {} by more than 1 t / 排放总量与生产线合计不符",
            pl.col("verified_total_t"),
            pl.col("_sum").fill_null(0),
        ),
    )


OFFSETS = ("ccer", "cqcer", "other_offset")
# contract §1.5: which instruments carry which ledger field, and whether they must
_LEDGER_FIELDS = (  # (field, 中文, instruments it belongs to, required for them)
    ("vintage", "配额年度", ("allowance",), True),
    ("acquired_via", "取得方式", ("allowance",), False),
    ("origin", "产生地", (*OFFSETS, "green_power"), True),  # v2: where green power was bought
    ("is_hydro", "水电项目", OFFSETS, True),
    ("certificate_id", "绿证编号", ("green_power",), False),  # v2
)
_WHAT = {  # owners → the rows they are, in words
    ("allowance",): "allowances",
    OFFSETS: "offsets",
    (*OFFSETS, "green_power"): "offsets and green power",
    ("green_power",): "green power",
}


def ledger_fields(rows: pl.DataFrame, t: Table, v: Checking) -> pl.DataFrame:
    """A field missing where its instrument needs it, or present on another instrument."""
    inst = pl.col("instrument")
    a_row = (
        pl.when(inst == "allowance")
        .then(pl.lit("an allowance"))
        .when(inst.is_in(OFFSETS))
        .then(pl.lit("an offset"))
        .otherwise(pl.lit("a green-power row"))
    )
    out = []
    for field, zh, owners, required in _LEDGER_FIELDS:
        owns = inst.is_in(owners)
        if required:
            out.append(
                fail(
                    rows,
                    owns & pl.col(field).is_null(),
                    field,
                    pl.format(f"{{}} needs {field} ({zh}) / 须填写{zh}", a_row),
                )
            )
        out.append(
            fail(
                rows,
                ~owns & pl.col(field).is_not_null(),
                field,
                pl.format(f"{field} is only for {_WHAT[owners]}, not {{}} / {zh}不适用于该品种", inst),
            )
        )
    return pl.concat(out)


def decision_dated(rows: pl.DataFrame, t: Table, v: Checking) -> pl.DataFrame:
    """A review decided (upheld, changed, rejected) says when, and not before it was received."""
    return pl.concat(
        [
            fail(
                rows,
                pl.col("decision").is_in(["upheld", "changed", "rejected"]) & pl.col("decided_on").is_null(),
                "decided_on",
                pl.format(
                    "decision {} needs the date it was decided / 已作出结论但缺少决定日期", pl.col("decision")
                ),
            ),
            fail(
                rows,
                pl.col("decided_on") < pl.col("received_on"),
                "decided_on",
                pl.format(
                    "decided on {} before it was received ({}) / 决定日期早于收到日期",
                    pl.col("decided_on"),
                    pl.col("received_on"),
                ),
            ),
        ]
    )


OWN_RULES: dict[str, tuple[Rule, ...]] = {
    "line_years": (
        _within_year("production_days", "生产天数"),
        line_of_its_enterprise,
        enterprise_year_given,
    ),
    "enterprise_years": (_within_year("shutdown_days", "停产天数"), total_reconciles),
    "ledger": (ledger_fields,),
    "reviews": (decision_dated,),
}
