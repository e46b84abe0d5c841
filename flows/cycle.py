"""Wiring of the allocation cycle into `publish` (rules.md §9, contract §5).

`write_cycle` reads what the warehouse holds of the year's versions, asks the pure functions of
`transforms/cycle.py` whether the new allocation is a new version, writes the new version's
history rows and recomputes the cycle marts — inside publish's transaction, which also holds the
year's marts and commits only after the checkpoint's verdict, so a reader sees a version with its
history rows, its version row and its marts, or none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from model import catalog
from model.catalog import Table
from policies import PolicyError, policy_for_year
from transforms import CoreFrames
from transforms import cycle as cy
from warehouse.store import Warehouse, now, registered, table_columns

CYCLE_INPUT_TABLES = tuple(cy.SNAPSHOT_KEYS)


class CycleRefused(Exception):
    """The publication cannot be a version (e.g. notified before the current version)."""


@dataclass
class CycleWritten:
    version: int  # the year's current version after this publication
    is_new: bool
    notes: list[str] = field(default_factory=list)


def _history(con, table: Table, year: int) -> pl.DataFrame:
    return con.sql(
        f"SELECT * FROM {table.qualified} WHERE compliance_year = $1 ORDER BY version", params=[year]
    ).pl()


# raw rows read at a time for their row keys (`_raw_keys`)
RAW_KEYS_BATCH = 200_000


def _raw_keys(con, table: str, keys: str) -> tuple[pl.DataFrame, str]:
    """raw_row → row_key of every row of `raw.<table>` (`transforms.cycle.row_keys`), and the SQL
    of the snapshot's provenance relation over them once registered as `keys`. Read in batches of
    `RAW_KEYS_BATCH` rows: only the key's columns pass through Polars (at 100,000 enterprises the
    raw rows' file names were most of the publication's peak). No provenance when the raw table
    lacks the key's or the provenance's columns."""
    key = cy.SNAPSHOT_KEYS[table]
    found = pl.DataFrame(schema={"row_key": pl.String, "raw_row": pl.Int64})
    if not set(table_columns(con, "raw", table)).issuperset((*key, "_source_file", "_sheet", "_row")):
        return found, cy.NO_PROVENANCE
    reader = con.sql(f"SELECT rowid AS raw_row, {', '.join(key)} FROM raw.{table}").fetch_record_batch(
        RAW_KEYS_BATCH
    )
    found = pl.concat([found, *(cy.row_keys(pl.from_arrow(b), key) for b in reader)])
    return found, cy.provenance_query(keys, f"raw.{table}")


def _rules(year: int, policy) -> cy.YearRules:
    from transforms.pool import pool_years

    return cy.YearRules(
        preallocation_enabled=bool(policy.preallocation_enabled.value),
        release_after_clearance_of=tuple(pool_years(policy)),
    )


def write_cycle(
    wh: Warehouse,
    con,
    year: int,
    policy,
    marts: dict[str, pl.DataFrame],
    core: CoreFrames,
    run_id: str,
    as_of: date,
    notified_on: date | None,
) -> CycleWritten:
    """Write, inside the caller's transaction, what the publication of `marts` (the year's new
    allocation and clearance) writes of the cycle: history rows and a version row when the
    allocation numbers differ from the current version (or there is none), and the year's
    `allocation_version`, `review_request`, `allocation_change` and the whole `issuance`,
    recomputed as of `as_of`. `CycleRefused` is raised before anything is written."""
    lines, ents, cap = marts["allocation_line"], marts["allocation_enterprise"], marts["cap_summary"]
    h_lines = _history(con, catalog.HISTORY_ALLOCATION_LINE, year)
    h_ents = _history(con, catalog.HISTORY_ALLOCATION_ENTERPRISE, year)
    h_cap = _history(con, catalog.HISTORY_CAP_SUMMARY, year)
    stored = con.sql(
        "SELECT * FROM mart.allocation_version WHERE compliance_year = $1 ORDER BY version", params=[year]
    ).pl()
    current = int(stored["version"].max()) if stored.height else 0
    at = pl.col("version") == current
    # the first version is new whatever it holds: its numbers are compared with none
    changed = cy.changed_enterprises(h_lines.filter(at), h_ents.filter(at), lines, ents) if current else []
    is_new = current == 0 or bool(changed) or cy.cap_changed(h_cap.filter(at), cap)
    out = CycleWritten(version=current + 1 if is_new else current, is_new=is_new)
    versions = stored.drop("status", "status_as_of")
    if is_new:
        v = out.version
        notified = notified_on or date.today()
        if stored.height and notified < stored["notified_on"].max():
            raise CycleRefused(
                f"--notified-on {notified} is before the notification of version {current} "
                f"({stored['notified_on'].max()}); a new version is notified on or after the current one"
            )
        deadline = cy.review_deadline(notified, policy.review_window_working_days.value)
        years = sorted({year, year - 1, *policy.base_years.value})
        ids = sorted(set(ents["enterprise_id"].to_list()) | set(h_ents.filter(at)["enterprise_id"].to_list()))

        def tagged(df: pl.DataFrame, table: Table) -> pl.DataFrame:
            return df.with_columns(
                pl.lit(year, pl.Int64).alias("compliance_year"), pl.lit(v, pl.Int64).alias("version")
            ).select(table.names)

        new_lines = tagged(lines, catalog.HISTORY_ALLOCATION_LINE)
        new_ents = tagged(ents, catalog.HISTORY_ALLOCATION_ENTERPRISE)
        wh.append(con, catalog.HISTORY_ALLOCATION_LINE, new_lines)
        wh.append(con, catalog.HISTORY_ALLOCATION_ENTERPRISE, new_ents)
        wh.append(con, catalog.HISTORY_CAP_SUMMARY, tagged(cap, catalog.HISTORY_CAP_SUMMARY))
        _write_input_snapshot(wh, con, core, year, v, years, ids)
        h_lines = pl.concat([h_lines, new_lines], how="vertical_relaxed")
        h_ents = pl.concat([h_ents, new_ents], how="vertical_relaxed")
        capr = cap.row(0, named=True) if cap.height else {}
        row = {
            "compliance_year": year,
            "version": v,
            "run_id": run_id,
            "published_at": now(),
            "notified_on": notified,
            "review_deadline": deadline.day,
            "review_deadline_estimated": deadline.estimated,
            "enterprises_changed": ents.height if v == 1 else len(changed),
            "enterprise_total_t": capr.get("enterprise_total_t"),
            "total_cap_t": capr.get("total_cap_t"),
            "policy_version": policy.version,
        }
        versions = pl.concat(
            [versions, pl.DataFrame([row], schema={k: versions.schema[k] for k in versions.columns})],
            how="vertical_relaxed",
        )
        out.notes.append(
            f"{year} version {v} (published by run {run_id}): notified on {notified}, review until {deadline.day}"
            + (" (estimated: the working-day calendar does not know that year)" if deadline.estimated else "")
            + (f"; {len(changed)} enterprise(s) changed: {', '.join(changed[:10])}" if v > 1 else "")
        )
    else:
        out.notes.append(
            f"{year}: allocation numbers identical to version {current}; no new version"
            + (
                f" (--notified-on {notified_on} not used: version {current} stays notified on "
                f"{stored['notified_on'].max()})"
                if notified_on is not None and notified_on != stored["notified_on"].max()
                else ""
            )
        )

    # the input rows of each version matter only to compare two versions (17 rows an enterprise):
    # not read while the year has a single version
    h_inputs = (
        _history(con, catalog.HISTORY_ALLOCATION_INPUT, year)
        if out.version >= 2
        else pl.DataFrame(schema=catalog.HISTORY_ALLOCATION_INPUT.polars_schema)
    )
    # who was notified by which version, then the requests, the changes and the statuses
    first = cy.allocation_changes(
        year, h_lines, h_ents, h_inputs, pl.DataFrame(schema=catalog.REVIEW_REQUEST.polars_schema)
    )
    # version 1 is notified to every unit of the year: the allocated ones and those without an
    # allocation (missing verification, not on the list), who get a notice too
    v1_ids = pl.concat(
        [
            h_ents.filter(pl.col("version") == 1).select("enterprise_id"),
            marts["clearance_status"].select("enterprise_id"),
        ]
    ).unique()
    notified_to = cy.notified(versions, first, v1_ids)
    requests = cy.review_requests(
        core.reviews, year, notified_to, first, policy.review_decision_working_days.value, as_of
    )
    changes = cy.allocation_changes(year, h_lines, h_ents, h_inputs, requests)
    versions = cy.version_statuses(versions, requests, as_of).select(catalog.ALLOCATION_VERSION.names)
    late = requests.filter(~pl.col("admitted")).height
    if requests.height:
        out.notes.append(f"{requests.height} review request(s) for {year}, {late} not admitted")
    if requests["dates_estimated"].any() or versions["review_deadline_estimated"].any():
        out.notes.append(
            "some review dates are estimated (Monday–Friday): the working-day calendar (chinese-calendar) "
            "does not know that year yet; upgrade it and rerun"
        )
    where = f"compliance_year = {int(year)}"
    issuance = _issuance(con, year, policy, ents, versions, marts["clearance_status"])
    wh.replace_typed(con, catalog.ALLOCATION_VERSION, versions, where=where)
    wh.replace_typed(con, catalog.REVIEW_REQUEST, requests, where=where)
    wh.replace_typed(con, catalog.ALLOCATION_CHANGE, changes, where=where)
    wh.replace_typed(con, catalog.ISSUANCE, issuance)
    return out


def _write_input_snapshot(
    wh: Warehouse, con, core: CoreFrames, year: int, version: int, years: list[int], ids: list[str]
) -> None:
    """Append version `version`'s input snapshot to `history.allocation_input`: the validated rows
    of `ids` the allocation of `year` is computed from (`transforms.cycle.input_snapshot_query`,
    SQL over the year's validated frames), table by table in name order so that the stored rows
    are in (table_name, row_key) order. One table's raw row keys are held at a time."""
    table = catalog.HISTORY_ALLOCATION_INPUT
    ids_frame = pl.DataFrame({"enterprise_id": ids}, schema={"enterprise_id": pl.String})
    with registered(con, ids_frame, "_snapshot_ids"):
        for name in sorted(CYCLE_INPUT_TABLES):
            keys, provenance = _raw_keys(con, name, "_snapshot_keys")
            with (
                registered(con, getattr(core, name), "_snapshot_rows"),
                registered(con, keys, "_snapshot_keys"),
            ):
                wh.append_query(
                    con,
                    table,
                    cy.input_snapshot_query(
                        name, "_snapshot_rows", "_snapshot_ids", provenance, year, version, years
                    ),
                )


def _issuance(con, year: int, policy, ents: pl.DataFrame, versions: pl.DataFrame, clearance: pl.DataFrame):
    """Issuance of every year: the other years as published, this year as now being published."""
    others = f"WHERE compliance_year <> {int(year)}"
    all_ents = pl.concat(
        [
            con.sql(
                f"SELECT compliance_year, enterprise_id, allocation_final_t, preallocation_next_t FROM mart.allocation_enterprise {others}"
            ).pl(),
            ents.select("compliance_year", "enterprise_id", "allocation_final_t", "preallocation_next_t"),
        ],
        how="vertical_relaxed",
    )
    current = versions.filter(pl.col("version") == pl.col("version").max()).select(
        "compliance_year", "version", "status"
    )
    all_versions = pl.concat(
        [
            con.sql(
                "SELECT compliance_year, version, status FROM mart.allocation_version v "
                f"{others} AND version = (SELECT max(version) FROM mart.allocation_version w "
                "WHERE w.compliance_year = v.compliance_year)"
            ).pl(),
            current,
        ],
        how="vertical_relaxed",
    )
    all_clearance = pl.concat(
        [
            con.sql(
                f"SELECT compliance_year, enterprise_id, status, borrowed_accepted_t FROM mart.clearance_status {others}"
            ).pl(),
            clearance.select("compliance_year", "enterprise_id", "status", "borrowed_accepted_t"),
        ],
        how="vertical_relaxed",
    )
    rules = {}
    for y in sorted(set(all_ents["compliance_year"].to_list())):
        for yy in (y - 1, y):
            if yy in rules:
                continue
            try:
                rules[yy] = _rules(
                    yy, policy if yy == year else policy_for_year(yy, jurisdiction=policy.pack.jurisdiction)
                )
            except (PolicyError, OSError):  # no rule pack of that year: it plays no part
                continue
    return cy.issuance(all_ents, all_versions, all_clearance, rules)
