"""Publish checkpoint: Great Expectations over the marts of a year, before they become visible.

`run_checkpoint` is called by the publish stage; `success = False` aborts the publication. It runs
in an ephemeral GX context (nothing is written into the repository or the working directory) with
a pandas data source over the mart frames, and writes the Data Docs HTML into `docs_dir`.

Exactness: GX compares floats, and the marts hold DECIMAL(18,4). Every reconciliation (Σ lines =
raw, total + reserve = cap, accepted + refused = quantity, …) is therefore computed exactly here in
Polars/Decimal first (`check_frames`), as a boolean column that GX then expects to be true; GX
sees decimals as floats only for sign and null checks.

Great Expectations takes seconds to import (3–6 CPU s here, mostly Python): it is imported inside
`validate_frames` only. The annual run never imports it: a run that will publish starts a process
of its own at once (`validations.checkpoint_process`), which imports it while the stages compute
and then validates the frames `check_frames` computed here.
"""

from __future__ import annotations

import errno
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl

from model import catalog
from model.results import MART_TABLES, YearResults
from validations.offline import make_offline

LISTED = "listed_enterprises"  # derived frame: the enterprises the year must allocate
DOCS_SITE = "etsflow"
MAX_EXAMPLES = 10


@dataclass(frozen=True)
class CheckpointResult:
    success: bool
    failures: list[str] = field(default_factory=list)
    docs_index: Path | None = None  # Data Docs index.html, when built


@dataclass(frozen=True)
class Check:
    """One expectation on one frame: GX class name, its arguments, and the rule in words."""

    table: str
    expectation: str
    kwargs: dict[str, Any]
    description: str
    context: tuple[str, ...] = ()  # columns printed (exactly) beside a failing row


def _check(table: str, expectation: str, description: str, **kwargs: Any) -> Check:
    return Check(table, expectation, kwargs, description)


def _in_set(table: str, column: str, values: list, description: str) -> Check:
    return _check(table, "ExpectColumnValuesToBeInSet", description, column=column, value_set=values)


def _true(table: str, column: str, description: str, context: tuple[str, ...] = ()) -> Check:
    """The precomputed boolean `column` of `check_frames` must be true on every row."""
    return Check(
        table, "ExpectColumnValuesToBeInSet", {"column": column, "value_set": [True]}, description, context
    )


# Rows are identified in failure messages by their key (without the year, the same on every row).
ID_COLUMNS = {
    name: [c for c in t.key if c != "compliance_year"] or list(t.key) for name, t in MART_TABLES.items()
} | {LISTED: ["enterprise_id"]}


def column_checks(table: catalog.Table, year: int) -> list[Check]:
    """The checks generated for a published table from its catalog description, so that a mart
    added to the catalog is checked without code: its key unique and not null, the columns
    declared `required` not null, every row of `year` (with a compliance_year), each declared range
    and set of values."""
    name, key = table.name, list(table.key)
    out = []
    if key:
        unique = (
            ("ExpectColumnValuesToBeUnique", {"column": key[0]})
            if len(key) == 1
            else ("ExpectCompoundColumnsToBeUnique", {"column_list": key})
        )
        out.append(Check(name, *unique, f"key ({', '.join(key)}) is unique"))
    out += [
        _check(name, "ExpectColumnValuesToNotBeNull", f"{col} is not null", column=col)
        for col in [*key, *(c.name for c in table.columns if c.required and c.name not in key)]
    ]
    if "compliance_year" in table.names:
        out.append(_in_set(name, "compliance_year", [year], f"every row is of year {year}"))
    for c in table.columns:
        if c.ge is not None:
            out.append(_between(name, c.name, f"{c.name} ≥ {c.ge}", min_value=c.ge))
        if c.gt is not None:
            out.append(_between(name, c.name, f"{c.name} > {c.gt}", min_value=c.gt, strict_min=True))
        if c.le is not None:
            out.append(_between(name, c.name, f"{c.name} ≤ {c.le}", max_value=c.le))
    out += [
        _in_set(name, c.name, list(c.isin), f"{c.name} is one of " + ", ".join(c.isin))
        for c in table.columns
        if c.isin
    ]
    return out


def _between(table: str, column: str, description: str, **bounds: Any) -> Check:
    return _check(table, "ExpectColumnValuesToBeBetween", description, column=column, **bounds)


def checks(results: YearResults) -> list[Check]:
    """Every expectation of the checkpoint, per frame of `check_frames`: the generated checks of
    every mart, then the rules between columns and tables (exact, precomputed by `check_frames`)."""
    out = [c for table in MART_TABLES.values() for c in column_checks(table, results.year)]
    n_ledger = results.ledger_rows
    # fmt: off
    out += [
        _true("allocation_line", "has_enterprise_row", "the line's enterprise is in allocation_enterprise",
              ("enterprise_id",)),
        _true("allocation_enterprise", "line_sum_equals_raw",
              "Σ allocation_line.allocation_t of the enterprise = allocation_raw_t (生产线配额之和 = 核算配额)",
              ("line_sum_t", "allocation_raw_t")),
        _true("allocation_enterprise", "is_listed", "the enterprise is on the year's list (expected set)"),
        _check("cap_summary", "ExpectTableRowCountToEqual", "one cap_summary row for the year", value=1),
        _true("cap_summary", "total_plus_reserve_equals_cap", "enterprise_total_t + reserve_t = total_cap_t",
              ("enterprise_total_t", "reserve_t", "total_cap_t")),
        _true("cap_summary", "total_equals_sum_final",
              "enterprise_total_t = Σ allocation_enterprise.allocation_final_t",
              ("enterprise_total_t", "sum_final_t")),
        _true("cap_summary", "count_equals_enterprises", "enterprise_count = rows of allocation_enterprise",
              ("enterprise_count", "enterprise_rows")),
        _true("cap_summary", "cap_follows_reserve_share",
              "total_cap_t = round_half_up(enterprise_total_t / (1 − reserve_share)) (rules.md §5)",
              ("enterprise_total_t", "total_cap_t", "expected_total_cap_t")),
        _true("cap_summary", "partial_says_left_out",
              "partial = (enterprises_left_out > 0), and enterprises_left_out = clearance_status rows "
              "not_allocated (a partial year never looks complete)",
              ("partial", "enterprises_left_out", "not_allocated_rows")),
        _true("clearance_item", "accepted_plus_refused_equals_quantity", "accepted_t + refused_t = quantity_t",
              ("quantity_t", "accepted_t", "refused_t")),
        _check("clearance_item", "ExpectTableRowCountToEqual",
               f"one clearance item per ledger row of the year ({n_ledger})", value=n_ledger),
        _true(LISTED, "is_allocated",
              "every listed enterprise (with verified emissions) is in allocation_enterprise"),
    ]
    # fmt: on
    return out


def check_frames(results: YearResults) -> dict[str, pl.DataFrame]:
    """The marts plus the exact comparison columns, and the frame of listed enterprises.

    Pure Polars/Decimal: the columns ending in `_equals_…`, `has_…`, `is_…` are booleans that are
    false (never null) when the rule is broken or cannot be evaluated.
    """
    lines, ents, cap = results.allocation_line, results.allocation_enterprise, results.cap_summary
    allocated = ents["enterprise_id"].drop_nulls().unique()
    listed = pl.Series("enterprise_id", sorted(set(results.listed_enterprise_ids)), dtype=pl.String)

    line_sums = lines.group_by("enterprise_id").agg(pl.col("allocation_t").sum().alias("line_sum_t"))
    ents_checked = ents.join(line_sums, on="enterprise_id", how="left").with_columns(
        pl.col("line_sum_t").fill_null(Decimal(0)),
        is_listed=pl.col("enterprise_id").is_in(listed.implode()).fill_null(False),
    )
    ents_checked = ents_checked.with_columns(
        line_sum_equals_raw=(pl.col("line_sum_t") == pl.col("allocation_raw_t")).fill_null(False)
    )

    share = results.policy.reserve_share.value
    cap_checked = cap.with_columns(
        sum_final_t=pl.lit(ents["allocation_final_t"].sum(), pl.Int64),
        enterprise_rows=pl.lit(ents.height, pl.Int64),
        expected_total_cap_t=pl.Series(
            [_expected_cap(t, share) for t in cap["enterprise_total_t"]], dtype=pl.Int64
        ),
    )
    cap_checked = cap_checked.with_columns(
        total_plus_reserve_equals_cap=(
            pl.col("enterprise_total_t") + pl.col("reserve_t") == pl.col("total_cap_t")
        ).fill_null(False),
        total_equals_sum_final=(pl.col("enterprise_total_t") == pl.col("sum_final_t")).fill_null(False),
        count_equals_enterprises=(pl.col("enterprise_count") == pl.col("enterprise_rows")).fill_null(False),
        cap_follows_reserve_share=(pl.col("total_cap_t") == pl.col("expected_total_cap_t")).fill_null(False),
        not_allocated_rows=pl.lit(
            results.clearance_status.filter(pl.col("status") == "not_allocated").height, pl.Int64
        ),
    )
    cap_checked = cap_checked.with_columns(
        partial_says_left_out=(
            (pl.col("partial") == (pl.col("enterprises_left_out") > 0))
            & (pl.col("enterprises_left_out") == pl.col("not_allocated_rows"))
        ).fill_null(False),
    )

    items = results.clearance_item
    items_checked = items.with_columns(
        accepted_plus_refused_equals_quantity=(
            pl.col("accepted_t") + pl.col("refused_t") == pl.col("quantity_t").cast(pl.Decimal(38, 4))
        ).fill_null(False)
    )
    return dict(results.marts) | {  # every mart is checked; these five with their comparison columns
        "allocation_line": lines.with_columns(
            has_enterprise_row=pl.col("enterprise_id").is_in(allocated.implode()).fill_null(False)
        ),
        "allocation_enterprise": ents_checked,
        "cap_summary": cap_checked,
        "clearance_status": results.clearance_status,
        "clearance_item": items_checked,
        LISTED: pl.DataFrame({"enterprise_id": listed}).with_columns(
            is_allocated=pl.col("enterprise_id").is_in(allocated.implode())
        ),
    }


def _expected_cap(enterprise_total: int | None, reserve_share: Decimal) -> int | None:
    if enterprise_total is None:
        return None
    cap = Decimal(enterprise_total) / (Decimal(1) - reserve_share)
    return int(cap.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _to_pandas(df: pl.DataFrame, table_checks: list[Check], table: str):
    """Frame for GX: the columns its expectations and failure reports read (GX hashes every column
    of a batch: the explanations alone cost seconds at 100,000 enterprises), decimals as floats."""
    wanted = set(ID_COLUMNS[table])
    for c in table_checks:
        wanted.update([c.kwargs["column"]] if "column" in c.kwargs else c.kwargs.get("column_list", []))
    keep = [c for c in df.columns if c in wanted]
    return df.select(
        [pl.col(c).cast(pl.Float64) if df.schema[c].is_decimal() else pl.col(c) for c in keep]
    ).to_pandas()


_LOGGED_ERROR = re.compile(r'(\w+Error): "(.*?)"\.  Traceback', re.S)
_OS_ERRORS = {c.__name__ for c in (OSError, PermissionError, FileNotFoundError, IsADirectoryError)}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _gx_file_errors():
    """Great Expectations logs, rather than raises, a failure to write Data Docs (with a traceback
    on stderr). Collect its error records instead; an OSError among them (the disk is full, no
    permission) is raised, so that the run fails with its one paragraph; other records are passed
    on as before."""
    handler, logger = _Collect(), logging.getLogger("great_expectations")
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    for record in handler.records:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f"Data Docs could not be written: {exc.strerror or exc}") from exc
        # GX's site builder logs `<type>: "<message>".  Traceback: …` as text, without exc_info
        m = _LOGGED_ERROR.search(record.getMessage())
        if m and (m.group(1) in _OS_ERRORS or "[Errno" in m.group(2)):
            code = errno.ENOSPC if "No space left on device" in m.group(2) else None
            raise OSError(code, f"Data Docs could not be written: {m.group(1)}: {m.group(2)}")
    if propagate and logger.parent is not None:
        for record in handler.records:
            logger.parent.handle(record)


def run_checkpoint(results: YearResults, docs_dir: Path, *, run_name: str | None = None) -> CheckpointResult:
    """Validate the marts of `results`; write Data Docs into `docs_dir`; never raises on a failure.

    Returns `success` and one readable string per failed expectation, naming the table, the
    expectation, the rule in words and up to ten offending rows by their identifying columns.
    The exact columns are computed here (`check_frames`), Great Expectations runs in this process
    (`validate_frames`); the annual run does the same in a separate process
    (`validations.checkpoint_process`).
    """
    return validate_frames(
        check_frames(results),
        checks(results),
        results.year,
        docs_dir,
        run_name=run_name or f"publish-{results.year}",
    )


def validate_frames(
    frames: dict[str, pl.DataFrame], all_checks: list[Check], year: int, docs_dir: Path, *, run_name: str
) -> CheckpointResult:
    """Great Expectations over `frames` (from `check_frames`) with `all_checks` (from `checks`):
    one suite and validation per frame, then the Data Docs site in `docs_dir`."""
    import great_expectations as gx  # slow import: only when a publication is checked
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    docs_dir = Path(docs_dir).resolve()
    docs_dir.mkdir(parents=True, exist_ok=True)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={
            DOCS_SITE: {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    source = context.data_sources.add_pandas("marts")
    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))

    by_table: dict[str, list[Check]] = {}
    for check in all_checks:
        by_table.setdefault(check.table, []).append(check)

    failures: list[str] = []
    unchecked = sorted(set(by_table) - set(frames))
    if unchecked:  # a check without its frame would never run: refuse, never skip silently
        raise ValueError(f"checkpoint: checks for {unchecked} but no frame to check")
    for table, frame in frames.items():
        suite = context.suites.add(gx.ExpectationSuite(name=f"{table}_{year}"))
        table_checks = {c.description: c for c in by_table.get(table, [])}
        for check in table_checks.values():
            suite.add_expectation(
                getattr(gx.expectations, check.expectation)(**check.kwargs, description=check.description)
            )
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("year")
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{table}_{year}", data=batch, suite=suite)
        )
        result = definition.run(
            batch_parameters={"dataframe": _to_pandas(frame, list(table_checks.values()), table)},
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ID_COLUMNS[table]},
            run_id=run_id,
        )
        failures += [
            _describe(table, r, table_checks[r.expectation_config.description], frame)
            for r in result.results
            if not r.success
        ]

    with _gx_file_errors():
        index = context.build_data_docs(site_names=[DOCS_SITE]).get(DOCS_SITE)
    make_offline(docs_dir)  # the pages' CDN scripts and styles, served from the site itself
    return CheckpointResult(
        success=not failures,
        failures=failures,
        docs_index=Path(index.removeprefix("file://")) if index else None,
    )


def _describe(table: str, r, check: Check, frame: pl.DataFrame) -> str:
    """'table: expectation(column) — rule: what was found' for one failed expectation result.

    Rows failing a precomputed boolean are listed from the Polars frame, with the exact values of
    the check's context columns; others from GX's unexpected index list.
    """
    cfg = r.expectation_config
    target = cfg.kwargs.get("column") or ", ".join(cfg.kwargs.get("column_list") or []) or "table"
    head = f"{table}: {cfg.type}({target}) failed — {cfg.description}"
    info = r.exception_info or {}
    if info.get("raised_exception"):
        return f"{head}: error {info.get('exception_message')}"
    res = r.result or {}
    if res.get("unexpected_count") is None:
        return f"{head}: observed {res.get('observed_value')!r}"
    cols = list(dict.fromkeys([*ID_COLUMNS[table], *check.context]))
    if check.context:
        rows = frame.filter(~pl.col(check.kwargs["column"])).select(cols).head(MAX_EXAMPLES).to_dicts()
    else:
        rows = (res.get("unexpected_index_list") or [])[:MAX_EXAMPLES]
    examples = [", ".join(f"{c}={_plain(row.get(c))}" for c in cols) for row in rows]
    values = res.get("partial_unexpected_list") or []
    shown = "; ".join(examples) if examples else ", ".join(_plain(v) for v in values[:MAX_EXAMPLES])
    more = " …" if res["unexpected_count"] > MAX_EXAMPLES else ""
    return f"{head}: {res['unexpected_count']} of {res.get('element_count')} row(s): {shown}{more}"


def _plain(v: Any) -> str:
    """numpy scalars and NaN as people read them."""
    if v is None or (isinstance(v, float) and v != v):
        return "null"
    return str(v.item() if hasattr(v, "item") else v)
