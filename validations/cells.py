"""Cell typing: the raw text of every input cell parsed into its catalog type, exactly.

Text is parsed exactly (full-width digits, thousands separators, dates written 2020-03-01 /
2020/3/1 / 2020年3月1日, booleans true/false/是/否/1/0). A value that does not parse is a failure
("not a number"), never coerced to null or rounded.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from model.catalog import DECIMAL_PLACES, Column, Table
from validations.failures import FAIL, no_failures

_TRUE = ["true", "t", "yes", "y", "1", "是", "√"]
_FALSE = ["false", "f", "no", "n", "0", "否"]

# Unicode normalisation is the costly part of typing millions of cells, and nearly every value is
# already in normal form. Values without one of these characters are left unchanged by their
# column's normalisation, so it runs only on the distinct values that have one (same result as
# normalising every value).
_NOT_PLAIN_NUMBER = r"[^0-9.+\-]"  # only ASCII digits, signs, points: NFKC, \s and "," change nothing
_NOT_PLAIN_TEXT = r"[^\x00-\x7f]|^\s|\s$"  # ASCII without outer whitespace: NFKC and strip change nothing


def _number_text(e: pl.Expr) -> pl.Expr:
    s = e.str.normalize("NFKC").str.replace_all(r"\s", "")
    return (
        pl.when(s.str.contains(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"))
        .then(s.str.replace_all(",", ""))
        .otherwise(s)
    )


def _nfkc(e: pl.Expr) -> pl.Expr:
    return e.str.normalize("NFKC")


def nfkc_strip(e: pl.Expr) -> pl.Expr:
    return e.str.normalize("NFKC").str.strip_chars()


def _normalisation(c: Column) -> tuple[str, Callable[[pl.Expr], pl.Expr]] | None:
    """(values that may change, normalisation) of column `c`'s text before parsing, if any."""
    if c.type == "int" or c.type in DECIMAL_PLACES:
        return _NOT_PLAIN_NUMBER, _number_text
    if c.type in ("date", "bool"):
        return _NOT_PLAIN_TEXT, nfkc_strip
    if c.code:
        return _NOT_PLAIN_TEXT, _nfkc
    return None


def _prepared(raw: pl.DataFrame, cols: tuple[Column, ...]) -> list[pl.Series]:
    """The raw text of each column in the form its parser reads; null exactly where the cell is.
    The normalisation runs on the distinct values that it may change only."""
    rules = {c.name: r for c in cols if c.name in raw.columns and (r := _normalisation(c))}
    # which columns have any such value: one pass, the columns in parallel
    dirty = (
        raw.select(pl.col(n).str.contains(needs).any() for n, (needs, _) in rules.items()).row(0)
        if rules
        else ()
    )
    dirty = {n for n, d in zip(rules, dirty, strict=True) if d}
    out = []
    for c in cols:
        if c.name not in raw.columns:
            out.append(pl.Series([None] * raw.height, dtype=pl.String))
            continue
        s = raw[c.name]
        if c.name in dirty:
            needs, normalise = rules[c.name]
            todo = s.filter(s.str.contains(needs)).unique()
            s = s.replace(todo, todo.to_frame("x").select(normalise(pl.col("x"))).to_series())
        out.append(s)
    return out


def _is_decimal_text(s: pl.Expr) -> pl.Expr:
    return s.str.contains(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _too_many_places(c: Column, s: pl.Expr) -> pl.Expr:
    """More decimal places than the type keeps, trailing zeros aside: a digit other than 0 after
    the first `places` decimals (in decimal text every character after the point is a digit)."""
    places = DECIMAL_PLACES[c.type]
    return _is_decimal_text(s) & s.str.contains(rf"\.\d{{{places}}}\d*[^0]")


def _value(c: Column, s: pl.Expr, too_many: pl.Expr) -> pl.Expr:
    """The typed value of prepared text `s`; null when it does not parse (`_message` says why)."""
    if c.type == "text":
        return s.str.replace_all(r"\s", "") if c.name == "district" else s
    if c.type == "int":
        ok = s.str.contains(r"^[+-]?\d+(\.0+)?$")
        return pl.when(ok).then(s.str.replace(r"\.0+$", "")).cast(pl.Int64, strict=False)
    if c.type in DECIMAL_PLACES:
        return pl.when(_is_decimal_text(s) & ~too_many).then(s).cast(c.polars_type, strict=False)
    if c.type == "date":
        parts = s.str.extract_groups(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00)?)?$")
        iso = pl.concat_str(
            parts.struct.field("1"),
            pl.lit("-"),
            parts.struct.field("2").str.zfill(2),
            pl.lit("-"),
            parts.struct.field("3").str.zfill(2),
        )
        return iso.str.to_date("%Y-%m-%d", strict=False)
    if c.type == "bool":
        low = s.str.to_lowercase()
        return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).otherwise(None)
    raise ValueError(f"no parser for type {c.type}")


_NOT_PARSED = {
    "int": "not a whole number / 不是整数",
    "date": "not a date (YYYY-MM-DD) / 不是日期",
    "bool": "not true/false (是/否) / 不是布尔值",
}


def _message(c: Column, s: pl.Expr, v: pl.Expr, too_many: pl.Expr) -> pl.Expr:
    """Why prepared text `s` gave no value `v` (null when it parsed or is empty); not for text."""
    label = f"{c.zh} ({c.name})"
    if c.type in DECIMAL_PLACES:
        places = DECIMAL_PLACES[c.type]
        return (
            pl.when(s.is_null())
            .then(None)
            .when(too_many)
            .then(pl.lit(f"{label}: more than {places} decimal places / 小数位超过{places}位"))
            .when(v.is_null())
            .then(pl.lit(f"{label}: not a number / 不是数字"))
        )
    return pl.when(s.is_not_null() & v.is_null()).then(pl.lit(f"{label}: {_NOT_PARSED[c.type]}"))


def typed(raw: pl.DataFrame, table: Table) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse every catalog column of `raw`; returns (typed frame with _rid, failures).

    Failures are (_rid, column_name, raw text, message), column by column in catalog order and
    rows in input order. Three passes (prepared text, typed values, messages that read the typed
    values) so that each column's expressions run once; only failing rows are gathered."""
    cols = table.columns
    checked = [c for c in cols if c.type != "text"]
    places = {c.name for c in cols if c.type in DECIMAL_PLACES}

    def s(c: Column) -> pl.Expr:
        return pl.col(f"_s_{c.name}")

    def too_many(c: Column) -> pl.Expr:
        return pl.col(f"_tm_{c.name}") if c.name in places else pl.lit(False)

    work = pl.DataFrame(
        [raw["_rid"], *(t.alias(f"_s_{c.name}") for c, t in zip(cols, _prepared(raw, cols), strict=True))]
    )
    work = work.with_columns(
        _too_many_places(c, s(c)).alias(f"_tm_{c.name}") for c in cols if c.name in places
    )
    work = work.with_columns(_value(c, s(c), too_many(c)).cast(c.polars_type).alias(c.name) for c in cols)
    work = work.with_columns(
        _message(c, s(c), pl.col(c.name), too_many(c)).alias(f"_m_{c.name}") for c in checked
    )
    extra = [x for x in ("_folder_year",) if x in raw.columns]
    # one chunk per column: Polars 2.1 panics in pl.format over columns of different chunkings
    out = pl.concat([work.select("_rid", *table.names), raw.select(extra)], how="horizontal").rechunk()

    if not checked:
        return out, no_failures()
    failing = work.select(
        pl.any_horizontal(pl.col(f"_m_{c.name}").is_not_null() for c in checked)
    ).to_series()
    bad, bad_raw = work.filter(failing), raw.filter(failing)
    failures = [
        pl.DataFrame(
            {
                "_rid": bad["_rid"],
                "column_name": pl.Series([c.name] * bad.height, dtype=pl.String),
                "value": bad_raw[c.name] if c.name in bad_raw.columns else pl.Series([None] * bad.height),
                "message": bad[f"_m_{c.name}"],
            },
            schema=FAIL,
        ).filter(pl.col("message").is_not_null())
        for c in checked
    ]
    return out, pl.concat(failures)
