"""`YearResults`: the published marts of one compliance year, the input of every export.

The exports (notices, report, Parquet) and the publish checkpoint are pure functions of this
bundle. `YearResults.from_duckdb` reads it from an open DuckDB connection (the work database
before publication, or the warehouse afterwards).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from etsflow import catalog
from policies import Policy
from transforms import reported_listed_ids

MART_TABLES: dict[str, catalog.Table] = {t.name: t for t in catalog.MARTS}

# Words for people: published codes → "中文 / English".
METHOD_LABELS = {
    "benchmark": "行业基准线法 / benchmark",
    "intensity": "历史强度下降法 / historical intensity",
    "total": "历史总量下降法 / historical total",
    "equal": "等量法 / equal to emissions",
    "excluded": "不参与分配 / not allocated",
}
STATUS_LABELS = {
    "cleared_on_time": "按期完成清缴 / cleared on time",
    "cleared_late": "逾期完成清缴 / cleared late",
    "pending": "清缴期内未完成 / pending",
    "not_cleared": "未完成清缴 / not cleared",
    "missing_verification": "缺少核查数据 / missing verification",
    "excluded": "不在名录内 / not on the list",
    "not_allocated": "未分配（输入数据被隔离）/ not allocated: left out, quarantined input",
}
# adjustment_rule is "none" or parts joined by "+", e.g. "gap_exemption_share+rounding".
ADJUSTMENT_LABELS = {
    "none": "无调整 / none",
    "gap_exemption_share": "缺口上限豁免（按排放量比例）/ gap exemption (share of E)",
    "gap_exemption_max": "缺口上限豁免（按最大缺口量）/ gap exemption (maximum gap in t)",
    "surplus_cap_share": "配额上限约束（按排放量比例）/ surplus cap (share of E)",
    "surplus_cap_max": "配额上限约束（按最大盈余量）/ surplus cap (maximum surplus in t)",
    "rounding": "取整 / rounding to whole tonnes",
    "incentive_grade_A": "减污降碳协同激励（A级）/ synergy incentive (grade A)",
    "incentive_grade_B": "减污降碳协同激励（B级）/ synergy incentive (grade B)",
    "incentive_energy_efficiency": "减污降碳协同激励（能效标杆）/ synergy incentive (energy-efficiency benchmark)",
}
# method_reason → the rule in words (rules.md §2), for people; the line's explanation adds its figures.
METHOD_REASON_LABELS = {
    "stopped": "§2.1 年度内停产的生产线不参与配额分配 / a line stopped in the year is not allocated",
    "enterprise_shutdown": "§2.2 企业多个基准年度累计停产天数达到规定天数，采用等量法 / "
    "the enterprise was shut down long enough in enough base years: equal method",
    "activity_equal": "§2.3 生活垃圾焚烧、页岩气开采采用等量法 / waste incineration and shale gas: equal method",
    "new_build": "§2.4 新建项目投产满规定完整年度前采用等量法 / new build before its full production years: "
    "equal method",
    "benchmark": "§2.5 水泥熟料、电解铝生产工序采用行业基准线法 / clinker or aluminium process: benchmark",
    "intensity": "§2.6 产品不超过两种、同质化程度高且排放边界清晰，采用历史强度下降法 / at most two "
    "homogeneous products with a clear boundary: historical intensity",
    "total": "§2.7 不适用基准线法和强度法的其他生产线，采用历史总量下降法 / neither benchmark nor "
    "intensity applies: historical total",
    "fallback_intensity_to_total": "§2.8 适用强度法但无可用基准年（无产量），改用总量法 / intensity line "
    "without a usable base year: historical total",
    "fallback_total_to_equal": "§2.8 无可用基准年或采用年度生产天数合计为0，改用等量法 / no usable base "
    "year or no production day: equal method",
}
NOT_AN_EXEMPTION = ("none", "rounding")  # … nor the incentive parts (incentive_…), counted apart


def label(labels: dict[str, str], code: str | None) -> str:
    """The label of a code, or the code itself when it has none (never hides a value)."""
    if code is None:
        return ""
    return labels.get(code, code)


def adjustment_parts(rule: str | None) -> list[str]:
    """The parts of an adjustment_rule: "gap_exemption_share+rounding" → both; null → ["none"]."""
    return [p.strip() for p in (rule or "none").split("+") if p.strip()] or ["none"]


def adjustment_label(rule: str | None) -> str:
    """An adjustment_rule in words, part by part."""
    return "；".join(label(ADJUSTMENT_LABELS, p) for p in adjustment_parts(rule))


def is_exemption(part: str) -> bool:
    """True for an exemption or cap part (or any unknown part: it is shown, never hidden)."""
    return part not in NOT_AN_EXEMPTION and not part.startswith("incentive")


def conform(df: pl.DataFrame, table: catalog.Table) -> pl.DataFrame:
    """Catalog columns first, cast to their catalog types; extra columns kept after them.

    Raises ValueError naming the table and the missing columns when a catalog column is absent.
    """
    missing = [c for c in table.names if c not in df.columns]
    if missing:
        raise ValueError(f"{table.qualified}: missing column(s) {', '.join(missing)}")
    extra = [c for c in df.columns if c not in table.names]
    return df.select([pl.col(c.name).cast(c.polars_type) for c in table.columns] + extra)


@dataclass(frozen=True)
class YearResults:
    """The five marts of one compliance year (catalog columns; clearance frames may be empty).

    `listed_enterprise_ids` is the set the publish checkpoint expects in `allocation_enterprise`
    (the year's list minus enterprises without verified emissions, or whatever the run allocated
    on purpose); `ledger_rows` is the number of ledger rows of the year (one clearance item each).
    """

    year: int
    allocation_line: pl.DataFrame
    allocation_enterprise: pl.DataFrame
    cap_summary: pl.DataFrame
    clearance_status: pl.DataFrame
    clearance_item: pl.DataFrame
    policy: Policy
    listed_enterprise_ids: list[str]
    ledger_rows: int

    @property
    def marts(self) -> dict[str, pl.DataFrame]:
        """{mart name: frame}, in catalog order."""
        return {name: getattr(self, name) for name in MART_TABLES}

    @property
    def is_provisional(self) -> bool:
        """True when any published row of the year carries `provisional = true`."""
        return any(
            "provisional" in df.columns and bool(df["provisional"].fill_null(False).any())
            for df in self.marts.values()
        )

    @classmethod
    def from_duckdb(
        cls,
        con: duckdb.DuckDBPyConnection,
        year: int,
        policy: Policy,
        *,
        listed_enterprise_ids: list[str] | None = None,
        ledger_rows: int | None = None,
        schema: str = "mart",
        core_schema: str = "core",
    ) -> YearResults:
        """Read `<schema>.<mart>` WHERE compliance_year = year for each mart.

        When `listed_enterprise_ids` or `ledger_rows` are not given they are derived from
        `<core_schema>.enterprises` / `line_years` / `ledger` of the same connection: the
        enterprises listed for the year that have verified line data for it, and the number of
        ledger rows of the year. Pass them explicitly when the run left enterprises out on purpose
        (e.g. `--allow-quarantine`).
        """
        frames = {}
        for name, table in MART_TABLES.items():
            rel = con.sql(
                f"SELECT * FROM {schema}.{name} WHERE compliance_year = $year", params={"year": year}
            )
            frames[name] = conform(rel.pl(), table)
        if listed_enterprise_ids is None:
            enterprises = con.sql(f"SELECT enterprise_id, listed_years FROM {core_schema}.enterprises").pl()
            line_years = con.sql(
                f"SELECT DISTINCT enterprise_id, year FROM {core_schema}.line_years WHERE year = $year",
                params={"year": year},
            ).pl()
            listed_enterprise_ids = reported_listed_ids(enterprises, line_years, year)
        if ledger_rows is None:
            (ledger_rows,) = con.sql(
                f"SELECT count(*) FROM {core_schema}.ledger WHERE compliance_year = $year",
                params={"year": year},
            ).fetchall()[0]
        return cls(
            year=year,
            policy=policy,
            listed_enterprise_ids=list(listed_enterprise_ids),
            ledger_rows=int(ledger_rows),
            **frames,
        )
