"""The allocation cycle (rules.md §9, contract §5): versions, review (复核), changes, issuance.

Pure functions: frames in, frames out. `flows/stages.py` (publish) reads the year's history and
the new allocation, asks `changed_enterprises` whether the numbers differ, and if they do stores
version n+1; every cycle mart is then recomputed from the stored versions, the review requests
and the run's `--as-of`:

- `version_rows` / `version_statuses` → `mart.allocation_version`;
- `review_requests` → `mart.review_request`;
- `allocation_changes` (with `changed_inputs` / `changed_rules`) → `mart.allocation_change`,
  comparing the versions' input snapshots — `input_snapshot_query`, the one piece given as SQL:
  DuckDB computes a version's 17 input rows an enterprise and stores them as it goes;
- `issuance` → `mart.issuance`.

Who is notified by a version: version 1 notifies every unit of the year (allocated or not: all get a notice); version n > 1
only the units whose numbers changed (rules.md §9.3). A unit's review window is that of the
latest version notified to it on or before the day its request arrived.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import polars as pl

from model import catalog
from model.workdays import add_working_days

# The numbers that make a version: a change in any of them is a new version. Text (method
# reasons, explanations) follows from them and does not count on its own.
ENTERPRISE_NUMBERS = (
    "verified_emissions_t",
    "allocation_raw_t",
    "adjustment_t",
    "adjustment_rule",
    "incentive_t",
    "allocation_final_t",
    "gap_t",
    "borrowable_t",
    "preallocation_next_t",
)
LINE_NUMBERS = (
    "method",
    "baseline",
    "kept_years",
    "dropped_years",
    "coefficient",
    "activity_value",
    "allocation_co2_t",
    "allocation_non_co2_t",
    "allocation_t",
)
CAP_NUMBERS = ("enterprise_count", "enterprise_total_t", "reserve_t", "total_cap_t")
CLEARED = ("cleared_on_time", "cleared_late")
# input tables an allocation is computed from, and the key of each (ledger and reviews are not)
SNAPSHOT_KEYS = {
    "enterprises": ("enterprise_id",),
    "lines": ("line_id",),
    "line_years": ("line_id", "year"),
    "enterprise_years": ("enterprise_id", "year"),
    "attributes": ("enterprise_id", "year"),
}


def _as_text(df: pl.DataFrame, cols: list[str]) -> list[pl.Expr]:
    """Columns as exact text for comparison (decimals keep their places; lists stay lists)."""
    return [pl.col(c) if isinstance(df.schema[c], pl.List) else pl.col(c).cast(pl.String) for c in cols]


def _fingerprint(df: pl.DataFrame, key: str, cols: tuple[str, ...]) -> pl.DataFrame:
    """key (and line_id, for lines) → one JSON text of the row's number columns."""
    present = [c for c in cols if c in df.columns]
    extra = [pl.col("line_id")] if "line_id" in df.columns else []
    return df.select(key, pl.struct(_as_text(df, present)).struct.json_encode().alias("_fp"), *extra)


def changed_enterprises(
    prev_lines: pl.DataFrame,
    prev_enterprises: pl.DataFrame,
    lines: pl.DataFrame,
    enterprises: pl.DataFrame,
) -> list[str]:
    """Enterprises whose allocation numbers differ between two versions (added or removed ones
    included). Sorted."""

    def per_enterprise(ls: pl.DataFrame, es: pl.DataFrame) -> pl.DataFrame:
        lf = (
            _fingerprint(ls, "enterprise_id", LINE_NUMBERS)
            .sort("enterprise_id", "line_id")
            .group_by("enterprise_id", maintain_order=True)
            .agg(pl.concat_str(pl.col("line_id"), pl.lit("="), pl.col("_fp")).str.join("|").alias("_lines"))
        )
        ef = _fingerprint(es, "enterprise_id", ENTERPRISE_NUMBERS)
        return ef.join(lf, on="enterprise_id", how="full", coalesce=True).select(
            "enterprise_id",
            pl.concat_str(pl.col("_fp").fill_null(""), pl.col("_lines").fill_null("")).alias("_all"),
        )

    old, new = per_enterprise(prev_lines, prev_enterprises), per_enterprise(lines, enterprises)
    both = old.join(new, on="enterprise_id", how="full", coalesce=True, suffix="_new")
    diff = both.filter(pl.col("_all").ne_missing(pl.col("_all_new")))
    return sorted(diff["enterprise_id"].to_list())


def cap_changed(prev_cap: pl.DataFrame, cap: pl.DataFrame) -> bool:
    present = [c for c in CAP_NUMBERS if c in cap.columns]
    return prev_cap.select(present).rows() != cap.select(present).rows()


# ---------------------------------------------------------------------------------------------
# input snapshot and changed inputs
# ---------------------------------------------------------------------------------------------
def input_snapshot_query(
    name: str, core: str, ids: str, provenance: str, year: int, version: int, years: list[int]
) -> str:
    """The SELECT of the validated input rows of table `name` that version `version` of `year`'s
    allocation is computed from: the rows of relation `core` (the year's validated `name` rows) of
    the enterprises in relation `ids` (column enterprise_id) and, for tables by year, of `years`;
    each with its provenance from relation `provenance` (`provenance_query`: row_key, source_file,
    sheet, row_number) and its values as JSON text. Columns of `catalog.HISTORY_ALLOCATION_INPUT`,
    ordered by row_key: a version's rows are stored table by table in table_name order, so that
    they are stored in (table_name, row_key) order.

    SQL, run in the work database: at 100,000 enterprises the snapshot is 1.7 M rows, which as a
    Polars frame handed to DuckDB was the publication's largest memory. The JSON text is the one
    Polars' `struct.json_encode` writes of the values cast to text (`_json_text`)."""
    table = next(t for t in catalog.INPUTS if t.name == name)
    key = SNAPSHOT_KEYS[name]
    values = [c for c in table.names if c not in key]
    row_key = " || ' ' || ".join(f'CAST("{k}" AS VARCHAR)' for k in key)
    texts = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in values)
    members = ", ',', ".join(_sql_text(f'"{c}":') + f", {_json_text(f'v.{c}')}" for c in values)
    by_year = f" AND year IN ({', '.join(str(int(y)) for y in years)})" if "year" in key else ""
    rows = (
        f"SELECT {row_key} AS row_key, enterprise_id, {texts} FROM {core} "
        f"WHERE enterprise_id IN (SELECT enterprise_id FROM {ids}){by_year}"
    )
    return (
        f"SELECT {int(year)} AS compliance_year, {int(version)} AS version, '{name}' AS table_name, v.row_key, v.enterprise_id, p.source_file, p.sheet, p.row_number, "
        f"concat('{{', {members}, '}}') AS values_json "
        f"FROM ({rows}) v LEFT JOIN {provenance} p ON v.row_key = p.row_key ORDER BY v.row_key NULLS FIRST"
    )


# JSON escapes of the characters a JSON string cannot hold as they are: quote, backslash and the
# control characters, short forms where JSON has one, else \u00xx in lower case (as Polars writes
# them; DuckDB's JSON functions write upper case, so they cannot make history's text).
_ESCAPES = [("\\", "\\\\"), ('"', '\\"')] + [
    (code, {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(code, "\\u" + format(code, "04x")))
    for code in range(32)
]


_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'


def _json_text(value: str) -> str:
    """SQL of the JSON value of the text expression `value`: null, or the string quoted and escaped
    as Polars' `struct.json_encode` does (backslash first, so that no escape is escaped again).
    Most values hold nothing to escape and are only quoted. `concat`, not `||`: one string built
    per call rather than one per operator (the JSON of 1.3 M line-years: 1.5 → 0.6 CPU s; the
    check for characters to escape adds 0.6 s)."""
    escaped = value
    for char, escape in _ESCAPES:
        found = f"chr({char})" if isinstance(char, int) else _sql_text(char)
        escaped = f"replace({escaped}, {found}, {_sql_text(escape)})"
    return (
        f"CASE WHEN {value} IS NULL THEN 'null' "
        f"WHEN regexp_matches({value}, {_sql_text(_NEEDS_ESCAPE)}) THEN concat('\"', {escaped}, '\"') "
        f"ELSE concat('\"', {value}, '\"') END"
    )


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def row_keys(raw: pl.DataFrame, key: tuple[str, ...]) -> pl.DataFrame:
    """raw_row → row_key of raw rows (a batch of them: columns `raw_row` and the key's, as read):
    the key's columns normalised as validation normalises identifiers (NFKC, no whitespace, years
    as integers) and joined as the snapshot's row_key; a row whose key does not normalise is left
    out. In Polars: DuckDB has no NFKC. Only the key is taken from the raw rows, so that their
    file names are not held for 1.3 M line-years (`provenance_query` joins them in SQL)."""
    parts = []
    for k in key:
        e = pl.col(k).str.normalize("NFKC").str.replace_all(r"\s", "")
        if k == "year":
            e = e.cast(pl.Int64, strict=False).cast(pl.String)
        parts.append(e)
    return raw.select(pl.concat_str(parts, separator=" ").alias("row_key"), "raw_row").drop_nulls("row_key")


NO_PROVENANCE = (
    "(SELECT NULL::VARCHAR AS row_key, NULL::VARCHAR AS source_file, NULL::VARCHAR AS sheet, "
    "NULL::BIGINT AS row_number WHERE false)"
)


def provenance_query(keys: str, raw: str) -> str:
    """SQL of the relation row_key → source_file, sheet, row_number: the file, sheet and row of the
    raw row each row_key was validated from, the first (lowest `rowid` of the raw table `raw`) when
    several normalise to one key. `keys`: a relation of `row_keys` of `raw`'s rows."""
    return (
        "(SELECT k.row_key, r._source_file AS source_file, r._sheet AS sheet, CAST(r._row AS BIGINT) AS row_number "
        f"FROM (SELECT row_key, min(raw_row) AS raw_row FROM {keys} GROUP BY row_key) k "
        f"JOIN {raw} r ON r.rowid = k.raw_row)"
    )


def _where(r: dict) -> str:
    if not r.get("source_file"):
        return f"{r['table_name']} {r['row_key']}"
    sheet = f" sheet {r['sheet']}" if r.get("sheet") else ""
    row = f" row {r['row_number']}" if r.get("row_number") is not None else ""
    return f"{r['source_file']}{sheet}{row} ({r['table_name']} {r['row_key']})"


def changed_inputs(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """enterprise_id → text naming every input row that was added, removed or changed between two
    snapshots (`input_snapshot`), with its file, sheet, row, and each changed column old → new."""
    both = before.join(after, on=["table_name", "row_key"], how="full", coalesce=True, suffix="_new")
    diff = both.filter(pl.col("values_json").ne_missing(pl.col("values_json_new")))
    texts: dict[str, list[str]] = {}
    for r in diff.sort("table_name", "row_key").iter_rows(named=True):
        eid = r["enterprise_id_new"] or r["enterprise_id"]
        new = {k[:-4] if k.endswith("_new") else k: v for k, v in r.items() if k.endswith("_new")}
        new |= {"table_name": r["table_name"], "row_key": r["row_key"]}
        if r["values_json"] is None:
            texts.setdefault(eid, []).append(f"{_where(new)}: row added / 新增")
        elif r["values_json_new"] is None:
            texts.setdefault(eid, []).append(f"{_where(r)}: row removed / 删除")
        else:
            old_v, new_v = json.loads(r["values_json"]), json.loads(r["values_json_new"])
            cols = [f"{c} {old_v.get(c)} → {new_v.get(c)}" for c in new_v if old_v.get(c) != new_v.get(c)]
            texts.setdefault(eid, []).append(f"{_where(new)}: " + ", ".join(cols))
    return pl.DataFrame(
        {"enterprise_id": list(texts), "changed_inputs": ["; ".join(v) for v in texts.values()]},
        schema={"enterprise_id": pl.String, "changed_inputs": pl.String},
    )


def changed_rules(
    prev_lines: pl.DataFrame, prev_enterprises: pl.DataFrame, lines: pl.DataFrame, enterprises: pl.DataFrame
) -> pl.DataFrame:
    """enterprise_id → text naming the rules that fired differently: per line the method, kept
    and dropped base years, baseline, coefficient and activity value that differ; per enterprise
    the adjustment rule, incentive and pre-allocation."""
    texts: dict[str, list[str]] = {}

    def compare(old: pl.DataFrame, new: pl.DataFrame, key: list[str], cols: tuple[str, ...], label) -> None:
        old, new = old.with_columns(pl.lit(True).alias("_in")), new.with_columns(pl.lit(True).alias("_in"))
        both = old.join(new, on=key, how="full", coalesce=True, suffix="_new")
        for r in both.sort(key).iter_rows(named=True):
            eid = r.get("enterprise_id_new") or r["enterprise_id"]
            if not r["_in_new"]:
                texts.setdefault(eid, []).append(f"{label(r)}: no longer allocated / 不再分配")
            elif not r["_in"]:
                texts.setdefault(eid, []).append(f"{label(r)}: newly allocated / 新增分配")
            else:
                diffs = [f"{c} {_show(r[c])} → {_show(r[f'{c}_new'])}" for c in cols if r[c] != r[f"{c}_new"]]
                if diffs:
                    texts.setdefault(eid, []).append(f"{label(r)}: " + ", ".join(diffs))

    rule_cols = ("method", "kept_years", "dropped_years", "baseline", "coefficient", "activity_value")
    compare(
        prev_lines.select("enterprise_id", "line_id", *rule_cols),
        lines.select("enterprise_id", "line_id", *rule_cols),
        ["line_id"],
        rule_cols,
        lambda r: f"line {r['line_id']}",
    )
    ent_cols = ("adjustment_rule", "incentive_t", "preallocation_next_t")
    compare(
        prev_enterprises.select("enterprise_id", *ent_cols).with_columns(pl.col("enterprise_id").alias("_e")),
        enterprises.select("enterprise_id", *ent_cols).with_columns(pl.col("enterprise_id").alias("_e")),
        ["_e"],
        ent_cols,
        lambda r: "enterprise",
    )
    return pl.DataFrame(
        {"enterprise_id": list(texts), "changed_rules": ["; ".join(v) for v in texts.values()]},
        schema={"enterprise_id": pl.String, "changed_rules": pl.String},
    )


def _show(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, list):
        return "[" + ",".join(str(x) for x in v) + "]"
    return str(v)


# ---------------------------------------------------------------------------------------------
# versions and review requests
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deadline:
    day: date
    estimated: bool


def review_deadline(notified_on: date, working_days: int) -> Deadline:
    """Last day a unit may ask for review: `working_days` Chinese working days after notification."""
    d = add_working_days(notified_on, working_days)
    return Deadline(d.day, d.estimated)


def notified(versions: pl.DataFrame, changes: pl.DataFrame, allocated: pl.DataFrame) -> pl.DataFrame:
    """(version, enterprise_id, notified_on, review_deadline): who each version was notified to —
    version 1 every unit of the year (`allocated`: the enterprise_ids it was notified to), later versions the
    changed ones (`changes`: version, enterprise_id)."""
    first = versions.filter(pl.col("version") == 1).join(allocated, how="cross")
    later = versions.filter(pl.col("version") > 1).join(
        changes.select("version", "enterprise_id"), on="version"
    )
    cols = ["version", "enterprise_id", "notified_on", "review_deadline", "review_deadline_estimated"]
    return pl.concat([first.select(cols), later.select(cols)])


def review_requests(
    reviews: pl.DataFrame,
    year: int,
    notified_to: pl.DataFrame,
    changes: pl.DataFrame,
    decision_days: int,
    as_of: date,
) -> pl.DataFrame:
    """`mart.review_request` for the requests of `year`.

    A request is admitted when it arrived on or before the review deadline of the version last
    notified to its unit on or before the day it arrived; it is late otherwise, and not admitted
    when no version had been notified to the unit yet. Its decision is due `decision_days`
    working days after receipt; it is overdue when still pending after that date (as of
    `as_of`). `resulting_version`: the first later version in which the unit's numbers changed."""
    rows = []
    for r in reviews.filter(pl.col("compliance_year") == year).sort("request_id").iter_rows(named=True):
        mine = notified_to.filter(
            (pl.col("enterprise_id") == r["enterprise_id"]) & (pl.col("notified_on") <= r["received_on"])
        ).sort("version")
        due = add_working_days(r["received_on"], decision_days)
        estimated = due.estimated
        if mine.height:
            v = mine.row(-1, named=True)
            at, closes = v["version"], v["review_deadline"]
            estimated |= bool(v["review_deadline_estimated"])
            admitted = r["received_on"] <= closes
            admission = (
                f"received {r['received_on']} within the window of version {at} (until {closes}) / 期限内受理"
                if admitted
                else f"late: received {r['received_on']}, the window of version {at} closed on {closes} "
                "/ 逾期，不予受理"
            )
        else:
            at, closes, admitted = None, None, False
            admission = (
                f"no version had been notified to {r['enterprise_id']} by {r['received_on']} / 尚未告知"
            )
        later = changes.filter(
            (pl.col("enterprise_id") == r["enterprise_id"]) & (pl.col("version") > (at or 0))
        ).sort("version")
        resulting = later["version"][0] if r["decision"] == "changed" and later.height else None
        rows.append(
            {
                "request_id": r["request_id"],
                "compliance_year": year,
                "enterprise_id": r["enterprise_id"],
                "received_on": r["received_on"],
                "claim": r["claim"],
                "version_at_receipt": at,
                "window_closes_on": closes,
                "admitted": admitted,
                "admission": admission,
                "decision": r["decision"],
                "decision_due_on": due.day,
                "decided_on": r["decided_on"],
                "overdue": admitted and r["decision"] == "pending" and as_of > due.day,
                "resulting_version": resulting,
                "dates_estimated": estimated,
                "as_of": as_of,
            }
        )
    return pl.DataFrame(rows, schema=catalog.REVIEW_REQUEST.polars_schema)


def version_statuses(versions: pl.DataFrame, requests: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Status of every version of a year as of `as_of` (rules.md §9.4): `superseded` when a later
    version exists; `final` when its review window has closed (as_of after review_deadline) and no
    admitted request is still undecided — pending, or decided `changed` with no version carrying
    the change yet; `in_review` otherwise. A late request never holds a version."""
    holding = requests.filter(
        pl.col("admitted")
        & (
            (pl.col("decision") == "pending")
            | ((pl.col("decision") == "changed") & pl.col("resulting_version").is_null())
        )
    ).height
    last = versions["version"].max() if versions.height else None
    status = (
        pl.when(pl.col("version") < last)
        .then(pl.lit("superseded"))
        .when((pl.lit(as_of) > pl.col("review_deadline")) & pl.lit(holding == 0))
        .then(pl.lit("final"))
        .otherwise(pl.lit("in_review"))
    )
    return versions.with_columns(status.alias("status"), pl.lit(as_of).alias("status_as_of"))


def compare_versions(
    year: int,
    m: int,
    n: int,
    history_lines: pl.DataFrame,
    history_enterprises: pl.DataFrame,
    history_inputs: pl.DataFrame,
    requests: pl.DataFrame,
) -> pl.DataFrame:
    """The enterprises whose numbers differ between versions `m` and `n` of `year` (columns of
    `mart.allocation_change`, previous_version = m): final allocations, delta, the input rows and
    rules behind the change, and the review requests whose resulting version is in (m, n]."""

    def at(df: pl.DataFrame, v: int) -> pl.DataFrame:
        return df.filter(pl.col("version") == v)

    old_l, old_e, new_l, new_e = (
        at(history_lines, m),
        at(history_enterprises, m),
        at(history_lines, n),
        at(history_enterprises, n),
    )
    changed = changed_enterprises(old_l, old_e, new_l, new_e)
    if not changed:
        return pl.DataFrame(schema=catalog.ALLOCATION_CHANGE.polars_schema)
    ids = pl.DataFrame({"enterprise_id": changed}, schema={"enterprise_id": pl.String})
    old = old_e.select("enterprise_id", "name", pl.col("allocation_final_t").alias("previous_final_t"))
    answered = requests.filter(pl.col("resulting_version").is_between(m + 1, n))
    rows = (
        ids.join(old, on="enterprise_id", how="left")
        .join(
            new_e.select("enterprise_id", "name", "allocation_final_t"),
            on="enterprise_id",
            how="left",
            suffix="_new",
        )
        .with_columns(pl.coalesce("name_new", "name").alias("name"))
        .join(changed_inputs(at(history_inputs, m), at(history_inputs, n)), on="enterprise_id", how="left")
        .join(changed_rules(old_l, old_e, new_l, new_e), on="enterprise_id", how="left")
        .join(
            answered.group_by("enterprise_id").agg(
                pl.col("request_id").sort().str.join(", ").alias("review_request_id")
            ),
            on="enterprise_id",
            how="left",
        )
        .with_columns(
            pl.lit(year).alias("compliance_year"),
            pl.lit(n).alias("version"),
            pl.lit(m).alias("previous_version"),
            (pl.col("allocation_final_t") - pl.col("previous_final_t")).alias("delta_t"),
            pl.col("changed_inputs").fill_null(
                "no input row of the allocation changed (rule pack or code) / 输入数据未变"
            ),
            pl.col("changed_rules").fill_null("same rules, different numbers / 规则未变"),
        )
    )
    return rows.select(catalog.ALLOCATION_CHANGE.names).cast(catalog.ALLOCATION_CHANGE.polars_schema)


def allocation_changes(
    year: int,
    history_lines: pl.DataFrame,
    history_enterprises: pl.DataFrame,
    history_inputs: pl.DataFrame,
    requests: pl.DataFrame,
) -> pl.DataFrame:
    """`mart.allocation_change`: for each version n > 1 of `year`, `compare_versions(n − 1, n)`."""
    versions = sorted(history_enterprises["version"].unique().to_list())
    out = [
        compare_versions(year, n - 1, n, history_lines, history_enterprises, history_inputs, requests)
        for n in versions[1:]
    ]
    if not out:
        return pl.DataFrame(schema=catalog.ALLOCATION_CHANGE.polars_schema)
    return pl.concat(out)


# ---------------------------------------------------------------------------------------------
# issuance instructions
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class YearRules:
    """What issuance needs of a year's rule pack: does it pre-allocate the next year, and which
    years' clearance releases that frozen pre-allocation (the borrowing pool years)."""

    preallocation_enabled: bool
    release_after_clearance_of: tuple[int, ...]


def issuance(
    enterprises: pl.DataFrame,
    versions: pl.DataFrame,
    clearance: pl.DataFrame,
    rules: dict[int, YearRules],
) -> pl.DataFrame:
    """`mart.issuance` from the current allocation of every published year.

    - `enterprises`: compliance_year, enterprise_id, allocation_final_t, preallocation_next_t;
    - `versions`: compliance_year, version, status (the current version of each year);
    - `clearance`: compliance_year, enterprise_id, status, borrowed_accepted_t;
    - `rules`: per year, `YearRules`.

    For an allocation of year Y (ready only when Y's version is final; `waiting_final` else):
    `issue_free` A_final(Y) when the unit received no pre-allocation of Y; otherwise the true-up
    A_final(Y) − pre-allocation(Y) (`true_up_issue` when positive, `true_up_surrender` when
    negative, no row when equal; waits for Y−1 and Y final). A pre-allocation of Y+1 made by Y's
    allocation (> 0) gives `issue_preallocation_frozen` (compliance year Y+1) and, where the rule
    pack names the years whose clearance releases it, `release_preallocation` of what borrowing
    did not use (`waiting_clearance` until the unit has cleared each of those years; a year in
    which the unit was not obliged does not hold it)."""
    years = sorted(set(enterprises["compliance_year"].to_list()))
    enabled = [y for y, r in rules.items() if r.preallocation_enabled]
    v = versions.select(
        pl.col("compliance_year").cast(pl.Int64),
        pl.col("version").cast(pl.Int64),
        (pl.col("status") == "final").alias("final"),
        pl.format("{} version {} ({})", "compliance_year", "version", "status").alias("vtext"),
    )

    def with_version(df: pl.DataFrame, year: pl.Expr, prefix: str) -> pl.DataFrame:
        """Join the version (number, final, text) of year `year` as <prefix>version/final/vtext."""
        return (
            df.with_columns(year.cast(pl.Int64).alias("_y"))
            .join(v.rename({"compliance_year": "_y"}), on="_y", how="left")
            .with_columns(
                pl.col("final").fill_null(False),
                pl.coalesce("vtext", pl.format("{} not published", "_y")).alias("vtext"),
            )
            .rename({"version": f"{prefix}version", "final": f"{prefix}final", "vtext": f"{prefix}vtext"})
            .drop("_y")
        )

    e = enterprises.select(
        pl.col("compliance_year").cast(pl.Int64),
        "enterprise_id",
        pl.col("allocation_final_t").cast(pl.Int64),
        pl.col("preallocation_next_t").cast(pl.Int64),
    )
    pre = e.filter(pl.col("compliance_year").is_in(enabled) & (pl.col("preallocation_next_t") > 0)).select(
        (pl.col("compliance_year") + 1).alias("compliance_year"),
        "enterprise_id",
        pl.col("preallocation_next_t").alias("pre"),
    )
    base = e.filter(pl.col("allocation_final_t").is_not_null()).join(
        pre, on=["compliance_year", "enterprise_id"], how="left"
    )
    base = with_version(
        with_version(base, pl.col("compliance_year") - 1, "prev_"), pl.col("compliance_year"), ""
    )
    ready = pl.when(pl.col("final")).then(pl.lit("ready")).otherwise(pl.lit("waiting_final"))
    out = [
        base.filter(pl.col("pre").is_null()).select(
            "compliance_year",
            "enterprise_id",
            pl.lit("issue_free").alias("instruction"),
            pl.col("allocation_final_t").alias("quantity_t"),
            ready.alias("status"),
            pl.format(
                "A_final {} t of {}; no pre-allocation of {} was made / 年度配额免费发放",
                "allocation_final_t",
                "vtext",
                "compliance_year",
            ).alias("reason"),
            pl.col("compliance_year").alias("source_year"),
            pl.col("version").alias("source_version"),
        )
    ]
    delta = pl.col("allocation_final_t") - pl.col("pre")
    out.append(
        base.filter(pl.col("pre").is_not_null() & (delta != 0)).select(
            "compliance_year",
            "enterprise_id",
            pl.when(delta > 0)
            .then(pl.lit("true_up_issue"))
            .otherwise(pl.lit("true_up_surrender"))
            .alias("instruction"),
            delta.abs().alias("quantity_t"),
            pl.when(pl.col("final") & pl.col("prev_final"))
            .then(pl.lit("ready"))
            .otherwise(pl.lit("waiting_final"))
            .alias("status"),
            pl.format(
                "A_final {} t of {} − pre-allocation {} t of {} = {} t / 多退少补",
                "allocation_final_t",
                "vtext",
                "pre",
                "prev_vtext",
                pl.when(delta > 0).then(pl.format("+{}", delta)).otherwise(delta.cast(pl.String)),
            ).alias("reason"),
            pl.col("compliance_year").alias("source_year"),
            pl.col("version").alias("source_version"),
        )
    )
    src = with_version(
        e.filter(pl.col("compliance_year").is_in(enabled) & (pl.col("preallocation_next_t") > 0)),
        pl.col("compliance_year"),
        "",
    )
    out.append(
        src.select(
            (pl.col("compliance_year") + 1).alias("compliance_year"),
            "enterprise_id",
            pl.lit("issue_preallocation_frozen").alias("instruction"),
            pl.col("preallocation_next_t").alias("quantity_t"),
            ready.alias("status"),
            pl.format(
                "pre-allocation of {} = {} t from {}, issued frozen / 预分配配额冻结发放",
                pl.col("compliance_year") + 1,
                "preallocation_next_t",
                "vtext",
            ).alias("reason"),
            pl.col("compliance_year").alias("source_year"),
            pl.col("version").alias("source_version"),
        )
    )
    # release: per source year with pool years (few years: a loop over years, frames within)
    published = set(clearance["compliance_year"].to_list())
    for y in years:
        pool = rules[y].release_after_clearance_of if y in rules and y in enabled else ()
        if not pool:
            continue
        mine = src.filter(pl.col("compliance_year") == y)
        in_pool = clearance.filter(pl.col("compliance_year").is_in(list(pool)))
        used = in_pool.group_by("enterprise_id").agg(
            pl.col("borrowed_accepted_t").fill_null(0).sum().ceil().cast(pl.Int64).alias("used")
        )
        unpublished = [str(p) for p in pool if p not in published]
        holding = (
            in_pool.filter(~pl.col("status").is_in(CLEARED))
            .group_by("enterprise_id")
            .agg(pl.col("compliance_year").sort().cast(pl.String).alias("_h"))
        )
        pool_text = ", ".join(map(str, pool))
        waiting = (
            pl.concat_list(pl.lit(unpublished, dtype=pl.List(pl.String)), pl.col("_h").fill_null([]))
            .list.unique(maintain_order=True)
            .list.sort()
        )
        rel = (
            mine.join(used, on="enterprise_id", how="left")
            .join(holding, on="enterprise_id", how="left")
            .with_columns(pl.col("used").fill_null(0), waiting.alias("_w"))
        )
        out.append(
            rel.select(
                (pl.col("compliance_year") + 1).alias("compliance_year"),
                "enterprise_id",
                pl.lit("release_preallocation").alias("instruction"),
                pl.max_horizontal(pl.col("preallocation_next_t") - pl.col("used"), pl.lit(0)).alias(
                    "quantity_t"
                ),
                pl.when(~pl.col("final"))
                .then(pl.lit("waiting_final"))
                .when(pl.col("_w").list.len() > 0)
                .then(pl.lit("waiting_clearance"))
                .otherwise(pl.lit("ready"))
                .alias("status"),
                pl.format(
                    "frozen pre-allocation {} t − borrowed {} t used for clearance of {}; released once {} are "
                    "cleared{} / 履约后解冻",
                    "preallocation_next_t",
                    "used",
                    pl.lit(pool_text),
                    pl.lit(" and ".join(map(str, pool))),
                    pl.when(pl.col("_w").list.len() > 0)
                    .then(pl.format(" (waiting for {})", pl.col("_w").list.join(", ")))
                    .otherwise(pl.lit("")),
                ).alias("reason"),
                pl.col("compliance_year").alias("source_year"),
                pl.col("version").alias("source_version"),
            )
        )
    schema = catalog.ISSUANCE.polars_schema
    return (
        pl.concat([df.cast(schema) for df in out])
        .select(catalog.ISSUANCE.names)
        .sort("compliance_year", "enterprise_id", "instruction")
    )
