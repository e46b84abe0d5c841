"""Stage `validate`: raw text tables → typed `core` tables, every failure a quarantine row.

The rules run kind by kind, each kind a module of `validations/`:
1. file level (`files`): files and sheets ingest could not use and files lacking a required column
   are rejected whole; rows with a problem found while reading are quarantined whole;
2. cells (`cells`): every value parsed exactly into its catalog type, or quarantined;
3. row rules (`schemas`): the pandera model generated from the catalog (required, ranges, enums);
4. table rules (`tables`): unique keys, references and folder years declared in the catalog, then
   each table's own (days within the year, the line's enterprise, verified-total reconciliation,
   ledger fields by instrument, review decision dates);
5. completeness (`completeness`): every line of a listed enterprise that reported for Y has a
   record for Y and for each base year in which the line existed.
Rows that depend on a quarantined row (a line-year of a quarantined line) are quarantined too,
with a message saying so. Nothing is dropped silently: valid rows become `core`, the rest
`audit.quarantine`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ingest.read import Inbox
from model import catalog
from policies import Policy
from transforms import CoreFrames, listed_enterprise_ids
from validations.cells import nfkc_strip, typed
from validations.completeness import completeness
from validations.failures import QUARANTINE_SCHEMA, Checking, place_columns
from validations.files import admit
from validations.schemas import row_failures
from validations.tables import table_rules


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


def validate_inbox(inbox: Inbox, policy: Policy) -> Validated:
    """Validate everything read from the inbox, with the completeness rules of `policy.year`."""
    tables = {t.name: t for t in catalog.INPUTS}
    v = admit(inbox, tables)  # 1. files, sheets, required columns; rows unreadable
    for name, t in tables.items():
        v.typed[name], fails = typed(v.raw[name], t)  # 2. cells
        v.failures[name] += [fails, row_failures(v.typed[name].filter(~_in(fails)), t)]  # 3. rows
    table_rules(v)  # 4. keys, references, folder years, each table's own
    missing, missing_reports = completeness(v, policy)  # 5. the compliance year's reports
    return Validated(_core(v), _quarantine(v, missing), missing_reports, _line_owners(v))


def _in(rows: pl.DataFrame) -> pl.Expr:
    """A row is one of `rows` (failures or rows, by `_rid`)."""
    return pl.col("_rid").is_in(rows["_rid"].implode())


def _core(v: Checking) -> CoreFrames:
    """The valid rows of every table, in catalog columns, empty cells as the catalog says."""
    core = {}
    for name, t in v.tables.items():
        core[name] = v.good(name).select(
            pl.col(c.name) if c.if_empty is None else pl.col(c.name).fill_null(c.if_empty) for c in t.columns
        )
    return CoreFrames.from_tables(core)


def _quarantine(v: Checking, missing: pl.DataFrame) -> pl.DataFrame:
    """Every failure as a quarantine row naming file, sheet, row and column: root causes first
    (file problems, then row failures, then the rows and records they made unusable), each group
    in file/row order."""
    q = [v.file_rows.with_columns(pl.lit(None, pl.String).alias("enterprise_id"), pl.lit(0).alias("_rank"))]
    for name in v.tables:
        f = pl.concat(v.failures[name]).unique(["_rid", "column_name", "message"], maintain_order=True)
        provenance = pl.concat([v.raw[name], v.problem_rows[name]], how="diagonal_relaxed")
        src = provenance.filter(_in(f)).select(
            "_rid",
            "_source_file",
            "_sheet",
            "_row",
            pl.col("enterprise_id").str.normalize("NFKC").alias("enterprise_id")
            if "enterprise_id" in provenance.columns
            else pl.lit(None, pl.String).alias("enterprise_id"),
        )
        q.append(
            f.join(src, on="_rid", how="left").select(
                pl.lit(name).alias("table_name"),
                "enterprise_id",
                *place_columns(),
                "column_name",
                "value",
                "message",
                pl.lit(1).alias("_rank"),
            )
        )
        in_rejected_file = v.set_aside[name].filter(~_in(v.problem_rows[name]))
        if in_rejected_file.height and "enterprise_id" in in_rejected_file.columns:
            # rows of a rejected file: their enterprises are affected (the file-level row names the cause)
            q.append(
                in_rejected_file.select(
                    pl.lit(name).alias("table_name"),
                    pl.col("enterprise_id").str.normalize("NFKC"),
                    *place_columns(),
                    pl.lit(None, pl.String).alias("column_name"),
                    pl.lit(None, pl.String).alias("value"),
                    pl.lit(
                        "row not loaded: its file was rejected (see the file's first row) / 所在文件被拒收"
                    ).alias("message"),
                    pl.lit(2).alias("_rank"),
                )
            )
    for u in v.unplaced:
        q.append(u.with_columns(pl.lit(None, pl.String).alias("enterprise_id"), pl.lit(1).alias("_rank")))
    q.append(missing.with_columns(pl.lit(2).alias("_rank")))
    schema = QUARANTINE_SCHEMA | {"_rank": pl.Int32}
    return (
        pl.concat([x.select(*QUARANTINE_SCHEMA, "_rank").cast(schema) for x in q])
        .sort("_rank", "source_file", "sheet", "row_number", "column_name", nulls_last=True)
        .drop("_rank")
        .with_row_index("seq", offset=1)
        .with_columns(pl.col("seq").cast(pl.Int64))
    )


def _line_owners(v: Checking) -> tuple[str, ...]:
    """The enterprises owning a line named by a quarantined row of `lines` or `line_years` (or a
    row of a rejected file of them): by the line register, or by the line's other reports. A row
    whose enterprise id is mistyped (CQ0O4 for CQ004) still leaves its real owner out, instead of
    publishing that owner from its other lines."""

    def col(df: pl.DataFrame, name: str) -> pl.Expr:
        return nfkc_strip(pl.col(name)) if name in df.columns else pl.lit(None, pl.String)

    named = []
    for name in ("lines", "line_years"):
        bad = v.raw[name].filter(pl.col("_rid").is_in(v.bad_rids(name).implode()))
        named.append(bad.select(col(bad, "line_id").alias("line_id")))
        named.append(v.set_aside[name].select(col(v.set_aside[name], "line_id").alias("line_id")))
    named_lines = pl.concat(named).drop_nulls().unique()
    if named_lines.is_empty():
        return ()
    owners = pl.concat(
        [v.typed[name].select("line_id", "enterprise_id") for name in ("lines", "line_years")]
    ).drop_nulls()
    hit = owners.join(named_lines, on="line_id", how="semi")["enterprise_id"].unique().sort()
    return tuple(hit.to_list())
