"""Stage `validate`: raw text tables → typed `core` tables, every failure a quarantine row.

Order of work, per table:
1. file-level problems from ingest (unreadable, empty, unrecognised, duplicate headers) and
   missing required columns: the file is rejected, one quarantine row names file and column;
   row problems from ingest (Excel error cells, formulas never calculated, CSV rows with too few
   or too many fields): the row is quarantined, named by file, sheet, row and column, and none
   of its values is used;
2. typing: text is parsed exactly (full-width digits, thousands separators, dates written
   2020-03-01 / 2020/3/1 / 2020年3月1日, booleans true/false/是/否/1/0). A value that does not
   parse is quarantined ("not a number"), never coerced to null or rounded;
3. row rules: the pandera model generated from the catalog (required, ranges, enums);
4. table rules: unique keys, references, production/shutdown days within the year's days, the
   report folder's year, verified-total reconciliation, ledger instrument/field combinations;
5. completeness for the compliance year: every line of a listed enterprise that reported for Y
   has a record for Y and for each base year in which the line existed.
Rows that depend on a quarantined row (a line-year of a quarantined line) are quarantined too,
with a message saying so. Nothing is dropped silently: valid rows become `core`, the rest
`audit.quarantine`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from ingest.headers import closest_known, unknown_headers
from ingest.read import Inbox
from model import catalog
from model.catalog import DECIMAL_PLACES, Column, Table
from policies import Policy
from transforms import CoreFrames, listed_enterprise_ids
from validations.schemas import describe_failure, schema_for

QUARANTINE_COLUMNS = [c.name for c in catalog.QUARANTINE.columns if c.name not in ("run_id", "seq")]
QUARANTINE_SCHEMA = {
    c.name: c.polars_type for c in catalog.QUARANTINE.columns if c.name not in ("run_id", "seq")
}
# columns normalised with NFKC (identifiers and codes); names and labels are kept as written
_CODE_COLUMNS = {
    "enterprise_id",
    "line_id",
    "txn_id",
    "activity",
    "weather_grade",
    "instrument",
    "acquired_via",
    "origin",
    "certificate_id",
    "output_unit",
    "listed_years",
    "request_id",
    "decision",
}
_TRUE = ["true", "t", "yes", "y", "1", "是", "√"]
_FALSE = ["false", "f", "no", "n", "0", "否"]
_FAIL = {"_rid": pl.Int64, "column_name": pl.String, "value": pl.String, "message": pl.String}
OFFSETS = ("ccer", "cqcer", "other_offset")


@dataclass(frozen=True)
class Validated:
    core: CoreFrames
    quarantine: pl.DataFrame
    missing_reports: list[str]  # listed for Y, no report at all for Y (status missing_verification)
    # enterprises a quarantined row could belong to through its line_id (the owner of the line in
    # the line register or in the line-year reports), whatever enterprise id the row itself gives
    line_owners: tuple[str, ...] = ()

    @property
    def affected_enterprises(self) -> list[str]:
        """Every enterprise a quarantined row of the allocation's inputs could belong to: the id the
        row gives (also an id on no list, e.g. a typo) and the owners of the line it names. A bad
        review request row (复核申请) does not keep its enterprise from being allocated."""
        q = self.quarantine.filter(pl.col("table_name").fill_null("") != "reviews")
        given = q["enterprise_id"].drop_nulls().unique().to_list()
        return sorted(set(given) | set(self.line_owners))

    def left_out(self, year: int) -> list[str]:
        """The enterprises listed for `year` that --allow-quarantine leaves out of the publication."""
        listed = set(listed_enterprise_ids(self.core.enterprises, year)["enterprise_id"].to_list())
        return sorted(listed & set(self.affected_enterprises))

    def without_affected(self) -> CoreFrames:
        """Core without the enterprises touched by a quarantined row (--allow-quarantine):
        they are reported as not allocated (clearance status `not_allocated`)."""
        bad = self.affected_enterprises
        keep = ~pl.col("enterprise_id").is_in(bad)
        c = self.core
        return CoreFrames(
            enterprises=c.enterprises,
            lines=c.lines.filter(keep),
            line_years=c.line_years.filter(keep),
            enterprise_years=c.enterprise_years.filter(keep),
            attributes=c.attributes.filter(keep),
            ledger=c.ledger,
            reviews=c.reviews,
        )


# ---------------------------------------------------------------------------------------------
# typing
# ---------------------------------------------------------------------------------------------
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


def _nfkc_strip(e: pl.Expr) -> pl.Expr:
    return e.str.normalize("NFKC").str.strip_chars()


def _normalisation(c: Column) -> tuple[str, Callable[[pl.Expr], pl.Expr]] | None:
    """(values that may change, normalisation) of column `c`'s text before parsing, if any."""
    if c.type == "int" or c.type in DECIMAL_PLACES:
        return _NOT_PLAIN_NUMBER, _number_text
    if c.type in ("date", "bool"):
        return _NOT_PLAIN_TEXT, _nfkc_strip
    if c.name in _CODE_COLUMNS:
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


def _typed(raw: pl.DataFrame, table: Table) -> tuple[pl.DataFrame, pl.DataFrame]:
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
    typed = pl.concat([work.select("_rid", *table.names), raw.select(extra)], how="horizontal").rechunk()

    if not checked:
        return typed, pl.DataFrame(schema=_FAIL)
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
            schema=_FAIL,
        ).filter(pl.col("message").is_not_null())
        for c in checked
    ]
    return typed, pl.concat(failures)


def _row_rules(typed: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Failures of the pandera model (required, ranges, enums) as (_rid, column, value, message)."""
    try:
        schema_for(table).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as e:
        fc = e.failure_cases.filter(pl.col("index").is_not_null())
        words = fc.select("column", "check").unique(maintain_order=True)
        words = words.with_columns(
            pl.Series(
                "message",
                [describe_failure(table.column(col), check) for col, check in words.iter_rows()],
                dtype=pl.String,
            )
        )
        return (
            fc.with_columns(_rid=typed["_rid"].gather(fc["index"]))
            .join(words, on=["column", "check"], how="left", maintain_order="left")
            .select(
                "_rid",
                pl.col("column").alias("column_name"),
                pl.col("failure_case").alias("value"),
                "message",
            )
            .cast(_FAIL)
        )
    return pl.DataFrame(schema=_FAIL)


# ---------------------------------------------------------------------------------------------
# table rules: each returns failures (_rid, column_name, value, message) of the frame it checks
# ---------------------------------------------------------------------------------------------
def _fail(df: pl.DataFrame, mask: pl.Expr, column: str, message: pl.Expr | str) -> pl.DataFrame:
    msg = pl.lit(message) if isinstance(message, str) else message
    return (
        df.filter(mask)
        .select(
            "_rid",
            pl.lit(column).alias("column_name"),
            pl.col(column).cast(pl.String).alias("value"),
            msg.alias("message"),
        )
        .cast(_FAIL)
    )


def _duplicates(df: pl.DataFrame, key: tuple[str, ...], where: pl.DataFrame) -> pl.DataFrame:
    # every row of a duplicated key (provenance joined to those rows only: usually none)
    dups = df.filter(pl.len().over(list(key)) > 1)
    first = (
        pl.concat_str(pl.col("_source_file"), pl.lit(" row "), pl.col("_row").cast(pl.String))
        .first()
        .over(list(key), order_by="_rid")
    )
    d = dups.join(where.select("_rid", "_source_file", "_row"), on="_rid", how="left")
    keytxt = ", ".join(key)
    return _fail(
        d,
        pl.lit(True),
        key[-1] if len(key) == 1 else key[0],
        pl.format(
            f"duplicate key ({keytxt}) = ({', '.join('{}' for _ in key)}); first given at {{}} / 重复记录",
            *[pl.col(k) for k in key],
            first,
        ),
    )


_ZH = {"enterprise": "单位", "line": "生产线"}


def _reference(df: pl.DataFrame, col: str, good: pl.Series, seen: pl.Series, what: str) -> pl.DataFrame:
    unknown = ~pl.col(col).is_in(seen.implode()) & pl.col(col).is_not_null()
    bad_parent = pl.col(col).is_in(seen.implode()) & ~pl.col(col).is_in(good.implode())
    return pl.concat(
        [
            _fail(df, unknown, col, pl.format(f"unknown {what} {{}} / 未登记的{_ZH[what]}", pl.col(col))),
            _fail(
                df,
                bad_parent,
                col,
                pl.format(f"{what} {{}} is itself quarantined (see its row) / 所属记录已隔离", pl.col(col)),
            ),
        ]
    )


def _days_in_year(year: pl.Expr) -> pl.Expr:
    return pl.date(year, 12, 31).dt.ordinal_day().cast(pl.Int64)


def _folder_year(df: pl.DataFrame, col: str = "year") -> pl.DataFrame:
    if "_folder_year" not in df.columns:
        return pl.DataFrame(schema=_FAIL)
    return _fail(
        df,
        pl.col("_folder_year").is_not_null() & (pl.col(col) != pl.col("_folder_year")),
        col,
        pl.format(
            "year {} does not match the folder of the file ({}) / 年度与目录不符",
            pl.col(col),
            pl.col("_folder_year"),
        ),
    )


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


def _ledger_fields(lg: pl.DataFrame) -> list[pl.DataFrame]:
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
                _fail(
                    lg,
                    owns & pl.col(field).is_null(),
                    field,
                    pl.format(f"{{}} needs {field} ({zh}) / 须填写{zh}", a_row),
                )
            )
        out.append(
            _fail(
                lg,
                ~owns & pl.col(field).is_not_null(),
                field,
                pl.format(f"{field} is only for {_WHAT[owners]}, not {{}} / {zh}不适用于该品种", inst),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
def validate_inbox(inbox: Inbox, policy: Policy) -> Validated:
    """Validate everything read from the inbox, with the completeness rules of `policy.year`."""
    tables = {t.name: t for t in catalog.INPUTS}
    raw = {
        name: inbox.tables[name].with_row_index("_rid").with_columns(pl.col("_rid").cast(pl.Int64))
        for name in tables
    }
    failures: dict[str, list[pl.DataFrame]] = {name: [] for name in tables}
    file_q: list[dict] = []

    # 1. file-level problems and missing required columns: the whole file/sheet is rejected
    rejected: set[tuple[str, str | None]] = set()
    for m in inbox.manifest.iter_rows(named=True):
        if m["error"]:
            file_q.append(
                {
                    "table_name": m["table_name"],
                    "source_file": m["source_file"],
                    "sheet": m["sheet"],
                    "row_number": 1 if m["columns"] else None,
                    "column_name": None,
                    "value": None,
                    "message": m["error"],
                }
            )
            rejected.add((m["source_file"], m["sheet"]))
            continue
        if m["table_name"] not in tables:
            continue
        t = tables[m["table_name"]]
        present = set((m["columns"] or "").split(","))
        # unrecognised headers, each with the known column it is closest to
        near = {h: closest_known(h, t.name) for h in unknown_headers(list(present), t.name)}
        for c in t.columns:
            if (c.required or c.name in t.key) and c.name not in present:
                hint = "".join(
                    f"; header '{h}' is not recognised, closest known header: {k[0]} ({k[1]})"
                    for h, k in sorted(near.items())
                    if k and k[1] == c.name
                )
                file_q.append(
                    {
                        "table_name": t.name,
                        "source_file": m["source_file"],
                        "sheet": m["sheet"],
                        "row_number": 1,
                        "column_name": c.name,
                        "value": None,
                        "message": f"required column {c.name} ({c.zh}) is missing / 缺少必填列{hint}",
                    }
                )
                rejected.add((m["source_file"], m["sheet"]))
    rejected_rows = {}
    for name, r in raw.items():
        in_rejected = (
            pl.struct("_source_file", "_sheet").is_in(
                pl.Series(
                    [{"_source_file": f, "_sheet": s} for f, s in rejected],
                    dtype=pl.Struct({"_source_file": pl.String, "_sheet": pl.String}),
                ).implode()
            )
            if rejected
            else pl.lit(False)
        )
        rejected_rows[name] = r.filter(in_rejected)
        raw[name] = r.filter(~in_rejected)

    # 1b. rows with a problem found while reading: quarantined whole, never typed
    problem_rows: dict[str, pl.DataFrame] = {}
    unplaced = []  # problems on rows that hold no other cell (not in raw): quarantined as they are
    for name, r in raw.items():
        p = inbox.problems.filter(pl.col("table_name") == name)
        if not p.height:
            problem_rows[name] = r.clear()
            continue
        keys = ["_source_file", "_sheet", "_row"]
        placed = p.rename({"source_file": "_source_file", "sheet": "_sheet", "row_number": "_row"}).join(
            r.select("_rid", *keys), on=keys, how="left", nulls_equal=True
        )
        failures[name].append(placed.filter(pl.col("_rid").is_not_null()).select(*_FAIL).cast(_FAIL))
        unplaced.append(
            placed.filter(pl.col("_rid").is_null()).select(
                "table_name",
                pl.col("_source_file").alias("source_file"),
                pl.col("_sheet").alias("sheet"),
                pl.col("_row").alias("row_number"),
                "column_name",
                "value",
                "message",
            )
        )
        bad = placed["_rid"].drop_nulls().implode()
        problem_rows[name] = r.filter(pl.col("_rid").is_in(bad))
        raw[name] = r.filter(~pl.col("_rid").is_in(bad))
    for name in raw:  # rows set aside, for references ("itself quarantined") and partial sums
        rejected_rows[name] = pl.concat([rejected_rows[name], problem_rows[name]], how="diagonal_relaxed")
    provenance = {name: pl.concat([raw[name], problem_rows[name]], how="diagonal_relaxed") for name in raw}

    # 2–3. typing and row rules
    typed: dict[str, pl.DataFrame] = {}
    for name, t in tables.items():
        df, fails = _typed(raw[name], t)
        failures[name].append(fails)
        ok = df.filter(~pl.col("_rid").is_in(fails["_rid"].implode()))
        failures[name].append(_row_rules(ok, t))
        typed[name] = df

    def good(name: str) -> pl.DataFrame:
        bad = pl.concat(failures[name])["_rid"]
        return typed[name].filter(~pl.col("_rid").is_in(bad.implode()))

    def prov(name: str) -> pl.DataFrame:
        return raw[name].select("_rid", "_source_file", "_row")

    # 4. table rules, parents before children
    e = good("enterprises")
    failures["enterprises"].append(_duplicates(e, ("enterprise_id",), prov("enterprises")))
    ent_seen = pl.concat(
        [
            typed["enterprises"]["enterprise_id"],
            rejected_rows["enterprises"].get_column("enterprise_id", default=pl.Series([], dtype=pl.String)),
        ]
    )
    ent_good = good("enterprises")["enterprise_id"]

    ln = good("lines")
    failures["lines"].append(_duplicates(ln, ("line_id",), prov("lines")))
    failures["lines"].append(_reference(ln, "enterprise_id", ent_good, ent_seen, "enterprise"))
    line_seen = pl.concat(
        [
            typed["lines"]["line_id"],
            rejected_rows["lines"].get_column("line_id", default=pl.Series([], dtype=pl.String)),
        ]
    )
    lines_ok = good("lines")

    ly = good("line_years")
    failures["line_years"] += [
        _duplicates(ly, ("line_id", "year"), prov("line_years")),
        _reference(ly, "line_id", lines_ok["line_id"], line_seen, "line"),
        _folder_year(ly),
        _fail(
            ly,
            pl.col("production_days") > _days_in_year(pl.col("year")),
            "production_days",
            pl.format(
                "production days {} exceed the {} days of {} / 生产天数超过全年天数",
                pl.col("production_days"),
                _days_in_year(pl.col("year")),
                pl.col("year"),
            ),
        ),
    ]
    owner = ly.join(
        lines_ok.select("line_id", pl.col("enterprise_id").alias("_owner")), on="line_id", how="inner"
    )
    failures["line_years"].append(
        _fail(
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
    )

    ey = good("enterprise_years")
    failures["enterprise_years"] += [
        _duplicates(ey, ("enterprise_id", "year"), prov("enterprise_years")),
        _reference(ey, "enterprise_id", ent_good, ent_seen, "enterprise"),
        _folder_year(ey),
        _fail(
            ey,
            pl.col("shutdown_days") > _days_in_year(pl.col("year")),
            "shutdown_days",
            pl.format(
                "shutdown days {} exceed the {} days of {} / 停产天数超过全年天数",
                pl.col("shutdown_days"),
                _days_in_year(pl.col("year")),
                pl.col("year"),
            ),
        ),
    ]
    ly = good("line_years")
    failures["line_years"].append(
        _fail(
            ly.join(typed["enterprise_years"], on=["enterprise_id", "year"], how="anti"),
            pl.lit(True),
            "enterprise_id",
            pl.format(
                "no enterprise-year record (shutdown days, total) for {} in {} / 缺少单位年度记录",
                pl.col("enterprise_id"),
                pl.col("year"),
            ),
        )
    )

    # reconciliation: only where every line-year of that enterprise-year is valid
    all_ly = typed["line_years"]
    bad_ly = all_ly.filter(pl.col("_rid").is_in(pl.concat(failures["line_years"])["_rid"].implode()))
    owners = bad_ly.join(typed["lines"].select("line_id", pl.col("enterprise_id").alias("_o")), on="line_id")
    rejected_ly = rejected_rows["line_years"]
    bad_ly = pl.concat(
        [
            bad_ly.select("enterprise_id", "year"),
            owners.select(pl.col("_o").alias("enterprise_id"), "year"),
            rejected_ly.select(
                pl.col("enterprise_id")
                if "enterprise_id" in rejected_ly.columns
                else pl.lit(None, pl.String),
                pl.col("year").cast(pl.Int64, strict=False)
                if "year" in rejected_ly.columns
                else pl.lit(None, pl.Int64).alias("year"),
            ).rename(lambda c: "enterprise_id" if c == "literal" else c),
        ]
    )
    sums = (
        good("line_years")
        .group_by("enterprise_id", "year")
        .agg((pl.col("verified_co2_t") + pl.col("verified_non_co2_t").fill_null(0)).sum().alias("_sum"))
    )
    ey = (
        good("enterprise_years")
        .join(sums, on=["enterprise_id", "year"], how="left")
        .join(
            bad_ly.select("enterprise_id", "year").unique().with_columns(pl.lit(True).alias("_partial")),
            on=["enterprise_id", "year"],
            how="left",
        )
    )
    failures["enterprise_years"].append(
        _fail(
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
    )

    at = good("attributes")
    failures["attributes"] += [
        _duplicates(at, ("enterprise_id", "year"), prov("attributes")),
        _reference(at, "enterprise_id", ent_good, ent_seen, "enterprise"),
        _folder_year(at),
    ]

    lg = good("ledger")
    failures["ledger"] += [
        _duplicates(lg, ("txn_id",), prov("ledger")),
        _reference(lg, "enterprise_id", ent_good, ent_seen, "enterprise"),
        *_ledger_fields(lg),
    ]

    rv = good("reviews")
    failures["reviews"] += [
        _duplicates(rv, ("request_id",), prov("reviews")),
        _reference(rv, "enterprise_id", ent_good, ent_seen, "enterprise"),
        _folder_year(rv, "compliance_year"),
        _fail(
            rv,
            pl.col("decision").is_in(["upheld", "changed", "rejected"]) & pl.col("decided_on").is_null(),
            "decided_on",
            pl.format(
                "decision {} needs the date it was decided / 已作出结论但缺少决定日期", pl.col("decision")
            ),
        ),
        _fail(
            rv,
            pl.col("decided_on") < pl.col("received_on"),
            "decided_on",
            pl.format(
                "decided on {} before it was received ({}) / 决定日期早于收到日期",
                pl.col("decided_on"),
                pl.col("received_on"),
            ),
        ),
    ]

    # 5. completeness of the compliance year
    missing, missing_reports = _completeness(good("enterprises"), good("lines"), typed, raw, policy)

    # assemble the quarantine: root causes first (file problems, then row failures, then the
    # rows and records they made unusable), each group in file/row order
    rank = pl.lit(0).alias("_rank")
    q = [
        pl.DataFrame(
            file_q, schema={k: v for k, v in QUARANTINE_SCHEMA.items() if k != "enterprise_id"}
        ).with_columns(pl.lit(None, pl.String).alias("enterprise_id"), rank)
    ]
    for name in tables:
        f = pl.concat(failures[name]).unique(["_rid", "column_name", "message"], maintain_order=True)
        src = (
            provenance[name]
            .filter(pl.col("_rid").is_in(f["_rid"].implode()))
            .select(
                "_rid",
                "_source_file",
                "_sheet",
                "_row",
                pl.col("enterprise_id").str.normalize("NFKC").alias("enterprise_id")
                if "enterprise_id" in provenance[name].columns
                else pl.lit(None, pl.String).alias("enterprise_id"),
            )
        )
        q.append(
            f.join(src, on="_rid", how="left").select(
                pl.lit(name).alias("table_name"),
                "enterprise_id",
                pl.col("_source_file").alias("source_file"),
                pl.col("_sheet").alias("sheet"),
                pl.col("_row").alias("row_number"),
                "column_name",
                "value",
                "message",
                pl.lit(1).alias("_rank"),
            )
        )
        in_rejected_file = rejected_rows[name].filter(
            ~pl.col("_rid").is_in(problem_rows[name]["_rid"].implode())
        )
        if in_rejected_file.height and "enterprise_id" in in_rejected_file.columns:
            # rows of a rejected file: their enterprises are affected (the file-level row names the cause)
            q.append(
                in_rejected_file.select(
                    pl.lit(name).alias("table_name"),
                    pl.col("enterprise_id").str.normalize("NFKC"),
                    pl.col("_source_file").alias("source_file"),
                    pl.col("_sheet").alias("sheet"),
                    pl.col("_row").alias("row_number"),
                    pl.lit(None, pl.String).alias("column_name"),
                    pl.lit(None, pl.String).alias("value"),
                    pl.lit(
                        "row not loaded: its file was rejected (see the file's first row) / 所在文件被拒收"
                    ).alias("message"),
                    pl.lit(2).alias("_rank"),
                )
            )
    for u in unplaced:
        q.append(u.with_columns(pl.lit(None, pl.String).alias("enterprise_id"), pl.lit(1).alias("_rank")))
    q.append(missing.with_columns(pl.lit(2).alias("_rank")))
    schema = QUARANTINE_SCHEMA | {"_rank": pl.Int32}
    quarantine = (
        pl.concat([x.select(*QUARANTINE_COLUMNS, "_rank").cast(schema) for x in q])
        .sort("_rank", "source_file", "sheet", "row_number", "column_name", nulls_last=True)
        .drop("_rank")
        .with_row_index("seq", offset=1)
        .with_columns(pl.col("seq").cast(pl.Int64))
    )

    core = {}
    for name, t in tables.items():
        g = good(name).select(t.names)
        if name == "line_years":
            g = g.with_columns(pl.col("verified_non_co2_t").fill_null(0))
        if name == "lines":
            g = g.with_columns(pl.col("intensity_eligible").fill_null(False))
        if name == "reviews":
            g = g.with_columns(pl.col("decision").fill_null("pending"))
        core[name] = g
    return Validated(
        CoreFrames.from_tables(core),
        quarantine,
        missing_reports,
        _line_owners(typed, raw, rejected_rows, failures),
    )


def _line_owners(
    typed: dict[str, pl.DataFrame],
    raw: dict[str, pl.DataFrame],
    rejected_rows: dict[str, pl.DataFrame],
    failures: dict[str, list[pl.DataFrame]],
) -> tuple[str, ...]:
    """The enterprises owning a line named by a quarantined row of `lines` or `line_years` (or a
    row of a rejected file of them): by the line register, or by the line's other reports. A row
    whose enterprise id is mistyped (CQ0O4 for CQ004) still leaves its real owner out, instead of
    publishing that owner from its other lines."""

    def col(df: pl.DataFrame, name: str) -> pl.Expr:
        return _nfkc_strip(pl.col(name)) if name in df.columns else pl.lit(None, pl.String)

    named = []
    for name in ("lines", "line_years"):
        bad_rids = pl.concat(failures[name])["_rid"]
        bad = raw[name].filter(pl.col("_rid").is_in(bad_rids.implode()))
        named.append(bad.select(col(bad, "line_id").alias("line_id")))
        named.append(rejected_rows[name].select(col(rejected_rows[name], "line_id").alias("line_id")))
    named_lines = pl.concat(named).drop_nulls().unique()
    if named_lines.is_empty():
        return ()
    owners = pl.concat(
        [typed[name].select("line_id", "enterprise_id") for name in ("lines", "line_years")]
    ).drop_nulls()
    hit = owners.join(named_lines, on="line_id", how="semi")["enterprise_id"].unique().sort()
    return tuple(hit.to_list())


def line_exists(year: pl.Expr) -> pl.Expr:
    """A line exists in `year` when commissioned by 31 Dec and not stopped on or before 1 Jan."""
    return (pl.col("commissioned_on").is_null() | (pl.col("commissioned_on") <= pl.date(year, 12, 31))) & (
        pl.col("stopped_on").is_null() | (pl.col("stopped_on") > pl.date(year, 1, 1))
    )


def _completeness(
    enterprises: pl.DataFrame,
    lines: pl.DataFrame,
    typed: dict[str, pl.DataFrame],
    raw: dict[str, pl.DataFrame],
    policy: Policy,
) -> tuple[pl.DataFrame, list[str]]:
    y = policy.year
    listed = listed_enterprise_ids(enterprises, y)
    reported = pl.concat(  # (semi and anti joins only: duplicates do not matter)
        [
            typed["line_years"].filter(pl.col("year") == y).select("enterprise_id"),
            typed["enterprise_years"].filter(pl.col("year") == y).select("enterprise_id"),
        ]
    )
    missing_reports = sorted(listed.join(reported, on="enterprise_id", how="anti")["enterprise_id"].to_list())
    years = pl.DataFrame({"year": [y, *policy.base_years.value]}, schema={"year": pl.Int64}).unique()
    need = (
        lines.join(listed.join(reported, on="enterprise_id", how="semi"), on="enterprise_id", how="semi")
        .join(years, how="cross")
        .filter(line_exists(pl.col("year")))
    )
    gaps = need.join(typed["line_years"], on=["line_id", "year"], how="anti").join(
        raw["lines"].select("_rid", "_source_file", "_sheet", "_row"), on="_rid", how="left"
    )
    role = (
        pl.when(pl.col("year") == y)
        .then(pl.lit("the compliance year"))
        .otherwise(pl.lit(f"a base year of compliance year {y}"))
    )
    missing = gaps.select(
        pl.lit("lines").alias("table_name"),
        "enterprise_id",
        pl.col("_source_file").alias("source_file"),
        pl.col("_sheet").alias("sheet"),
        pl.col("_row").alias("row_number"),
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
