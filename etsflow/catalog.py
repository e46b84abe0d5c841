"""One description per table: the single source of column names, types, units and labels.

Everything that needs to know a table's shape is generated from here:
- the header maps of ingest (English name or Chinese label → column),
- the pandera models of `validations/` (types, ranges, enums, keys),
- the DuckDB DDL with `COMMENT ON` of `warehouse/`,
- `docs/data-dictionary.md` (`python -m etsflow.catalog > docs/data-dictionary.md`).

Input tables follow `shared/spec/data-contract.md` §1, published tables §4. Names are fixed by
the contract: add columns, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# Logical types → (polars dtype, DuckDB type).
TYPES: dict[str, tuple[pl.DataType, str]] = {
    "text": (pl.String(), "VARCHAR"),
    "int": (pl.Int64(), "BIGINT"),
    "int32": (pl.Int32(), "INTEGER"),
    "decimal": (pl.Decimal(18, 4), "DECIMAL(18,4)"),
    "factor": (pl.Decimal(18, 6), "DECIMAL(18,6)"),  # grid emission factors carry 6 places
    "date": (pl.Date(), "DATE"),
    "bool": (pl.Boolean(), "BOOLEAN"),
    "int_list": (pl.List(pl.Int32()), "INTEGER[]"),
    "timestamp": (pl.Datetime("us"), "TIMESTAMP"),
    "double": (pl.Float64(), "DOUBLE"),
}
DECIMAL_PLACES = {"decimal": 4, "factor": 6}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    zh: str
    description: str
    unit: str = ""
    required: bool = False  # null/empty is an error (inputs)
    ge: float | int | None = None  # inclusive lower bound (inputs)
    gt: float | int | None = None  # exclusive lower bound (inputs)
    le: float | int | None = None
    isin: tuple[str, ...] | None = None
    # DuckDB storage compression, where DuckDB's own choice is poor: for the long bilingual
    # explanations (~1 KB a line) its dictionary/FSST analysis took 3.1 s per 221,760 lines and
    # 130 MiB; zstd 0.9 s and 27 MiB (docs/scaling.md). DuckDB 1.5 readers read it.
    compression: str | None = None

    @property
    def polars_type(self) -> pl.DataType:
        return TYPES[self.type][0]

    @property
    def duckdb_type(self) -> str:
        return TYPES[self.type][1]


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    zh: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.qualified} has no column {name!r}")

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.polars_type for c in self.columns}


C = Column
ACTIVITIES = ("cement_clinker", "electrolytic_aluminium", "waste_incineration", "shale_gas", "other")
INSTRUMENTS = ("allowance", "ccer", "cqcer", "other_offset", "green_power", "borrowed_preallocation")
METHODS = ("benchmark", "intensity", "total", "equal", "excluded")
STATUSES = (
    "cleared_on_time",
    "cleared_late",
    "pending",
    "not_cleared",
    "missing_verification",
    "excluded",
    "not_allocated",
)

# ---------------------------------------------------------------------------------------------
# Inputs (contract §1). `core.*` holds them clean and typed.
# ---------------------------------------------------------------------------------------------
ENTERPRISES = Table(
    "core",
    "enterprises",
    "重点排放单位名录",
    "One row per enterprise (unit) with the compliance years it is listed for.",
    (
        C("enterprise_id", "text", "单位编号", "Enterprise identifier.", required=True),
        C("name", "text", "单位名称", "Registered name.", required=True),
        C("district", "text", "所属区县", "District or county; inner whitespace removed."),
        C("sector_label", "text", "行业", "Sector label of the list (e.g. 水泥制造行业).", required=True),
        C("listed_years", "text", "纳入年度", "Comma-separated compliance years, e.g. 2021,2022,2023."),
    ),
    key=("enterprise_id",),
)
LINES = Table(
    "core",
    "lines",
    "生产线/工序台账",
    "One row per production line or process: the unit of allocation.",
    (
        C("line_id", "text", "生产线编号", "Line identifier.", required=True),
        C("enterprise_id", "text", "单位编号", "Owning enterprise.", required=True),
        C("line_name", "text", "生产线名称", "Name of the line."),
        C("product", "text", "产品", "Main product."),
        C("output_unit", "text", "产品单位", "Unit of output (t for clinker and molten aluminium)."),
        C(
            "activity",
            "text",
            "活动类型",
            "Activity, decides benchmark/equal methods.",
            required=True,
            isin=ACTIVITIES,
        ),
        C("intensity_eligible", "bool", "适用强度法", "Regulator's judgement: intensity method applies."),
        C("commissioned_on", "date", "投产日期", "Commissioning date (new builds)."),
        C("reduction_project_on", "date", "减排工程投产日期", "Reduction project in operation from."),
        C("major_change_on", "date", "重大变化日期", "Major change (expansion, equipment) from."),
        C("stopped_on", "date", "停产日期", "Line stopped from."),
    ),
    key=("line_id",),
)
LINE_YEARS = Table(
    "core",
    "line_years",
    "核查报告数据（生产线）",
    "Verified data of one line in one year.",
    (
        C("enterprise_id", "text", "单位编号", "Enterprise of the line.", required=True),
        C("line_id", "text", "生产线编号", "Line.", required=True),
        C("year", "int", "年度", "Year of the data.", required=True, ge=2013, le=2100),
        C(
            "verified_co2_t",
            "decimal",
            "经核查二氧化碳排放量",
            "Verified CO2 emissions.",
            "tCO2",
            required=True,
            ge=0,
        ),
        C(
            "verified_non_co2_t",
            "decimal",
            "经核查非二氧化碳排放量",
            "Verified non-CO2 emissions (0 if empty).",
            "tCO2e",
            ge=0,
        ),
        C(
            "output",
            "decimal",
            "产量",
            "Output in the line's output unit.",
            "output_unit",
            required=True,
            ge=0,
        ),
        C(
            "production_days",
            "int",
            "生产天数",
            "Days the line produced (0 … days in year).",
            "d",
            required=True,
            ge=0,
        ),
        C("purchased_electricity_mwh", "decimal", "外购电量", "Purchased electricity.", "MWh", ge=0),
        C("grid_ef_t_per_mwh", "factor", "电力排放因子", "Grid emission factor used.", "tCO2/MWh", ge=0),
    ),
    key=("line_id", "year"),
)
ENTERPRISE_YEARS = Table(
    "core",
    "enterprise_years",
    "核查报告数据（单位）",
    "Verified data of one enterprise in one year.",
    (
        C("enterprise_id", "text", "单位编号", "Enterprise.", required=True),
        C("year", "int", "年度", "Year of the data.", required=True, ge=2013, le=2100),
        C(
            "shutdown_days",
            "int",
            "企业年累计停产天数",
            "Enterprise's cumulative shutdown days.",
            "d",
            required=True,
            ge=0,
        ),
        C(
            "verified_total_t",
            "decimal",
            "经核查排放总量",
            "Verified total; must equal Σ lines within 1 t.",
            "tCO2e",
            ge=0,
        ),
    ),
    key=("enterprise_id", "year"),
)
ATTRIBUTES = Table(
    "core",
    "attributes",
    "年度单位属性",
    "Per compliance-year attributes of an enterprise.",
    (
        C("enterprise_id", "text", "单位编号", "Enterprise.", required=True),
        C("year", "int", "年度", "Compliance year.", required=True, ge=2013, le=2100),
        C("preallocation_cancelled", "bool", "预分配取消", "Next year's pre-allocation cancelled."),
        C("penalized", "bool", "受到行政处罚", "Administrative penalty in the year."),
        C(
            "weather_grade",
            "text",
            "重污染天气绩效分级",
            "Heavy-pollution weather performance grade.",
            isin=("A", "B", "C", "D"),
        ),
        C(
            "under_investigation",
            "bool",
            "涉嫌生态环境违法",
            "Suspected environmental violation under investigation in the year (empty = false): "
            "no synergy incentive (rules.md §4, v2).",
        ),
        C(
            "energy_efficiency_benchmark_met",
            "bool",
            "单位产品能效达到标杆水平",
            "Single-product energy efficiency at the benchmark level of 发改产业〔2023〕723号 (empty = "
            "false): the second incentive criterion (rules.md §4, v2).",
        ),
    ),
    key=("enterprise_id", "year"),
)
LEDGER = Table(
    "core",
    "ledger",
    "清缴记录",
    "Surrenders recorded by the registry, one row per transaction.",
    (
        C("txn_id", "text", "流水号", "Transaction id.", required=True),
        C("enterprise_id", "text", "单位编号", "Surrendering enterprise.", required=True),
        C(
            "compliance_year",
            "int",
            "履约年度",
            "Compliance year the surrender is for.",
            required=True,
            ge=2013,
            le=2100,
        ),
        C("surrendered_on", "date", "提交日期", "Date of surrender.", required=True),
        C("instrument", "text", "品种", "What was surrendered.", required=True, isin=INSTRUMENTS),
        C("quantity_t", "int", "数量", "Whole tonnes surrendered.", "t", required=True, gt=0),
        C("vintage", "int", "配额年度", "Vintage of allowances.", ge=2013, le=2100),
        C(
            "acquired_via",
            "text",
            "取得方式",
            "How allowances were acquired.",
            isin=("free", "purchase", "paid_reserve"),
        ),
        C(
            "origin",
            "text",
            "产生地",
            "Where offsets were generated, or green power bought (required on green power, v2; "
            "green power from chongqing is a valid row that clearance refuses).",
            isin=("chongqing", "chengdu_chongqing_circle", "other"),
        ),
        C("is_hydro", "bool", "水电项目", "Offset from a hydro project."),
        C(
            "certificate_id",
            "text",
            "绿证编号",
            "Green-power certificate (v2, optional): a certificate counts once across all rows and years.",
        ),
    ),
    key=("txn_id",),
)
INPUTS = (ENTERPRISES, LINES, LINE_YEARS, ENTERPRISE_YEARS, ATTRIBUTES, LEDGER)

# ---------------------------------------------------------------------------------------------
# Published marts (contract §4).
# ---------------------------------------------------------------------------------------------
ALLOCATION_LINE = Table(
    "mart",
    "allocation_line",
    "生产线配额分配结果",
    "Free allocation of each line, with the method and its derivation.",
    (
        C("compliance_year", "int", "履约年度", "Compliance year."),
        C("enterprise_id", "text", "单位编号", "Enterprise."),
        C("line_id", "text", "生产线编号", "Line."),
        C("method", "text", "分配方法", "benchmark, intensity, total, equal or excluded.", isin=METHODS),
        C("method_reason", "text", "方法依据", "Which rule of rules.md §2 chose the method."),
        C(
            "baseline",
            "decimal",
            "历史基准值",
            "Intensity I (t/unit) or daily total D (t/day); null otherwise.",
        ),
        C("kept_years", "int_list", "采用基准年", "Base years used."),
        C("dropped_years", "int_list", "剔除基准年", "Base years dropped (reasons in explanation)."),
        C("coefficient", "decimal", "基准值或调节系数", "Benchmark BM or adjustment coefficient k."),
        C("activity_value", "decimal", "活动水平", "Q_Y (output), N_Y (days) or E (equal)."),
        C("allocation_co2_t", "decimal", "二氧化碳配额", "CO2 component of the allocation.", "tCO2"),
        C("allocation_non_co2_t", "decimal", "非二氧化碳配额", "Non-CO2 component (equal method).", "tCO2e"),
        C("allocation_t", "decimal", "生产线配额", "Line allocation.", "tCO2e"),
        C(
            "explanation",
            "text",
            "计算说明",
            "The derivation in words (Chinese, then English).",
            compression="zstd",
        ),
        C("provisional", "bool", "含临时参数", "Computed with a provisional rule-pack parameter."),
        C(
            "is_improved_on_prior_year",
            "bool",
            "较上年改善",
            "Incentive test (2023): E/Q fell (benchmark, intensity) or E fell (total) against Y−1, "
            "E = CO2 + non-CO2; false without a Y−1 record; null where not assessed.",
        ),
    ),
    key=("compliance_year", "line_id"),
)
ALLOCATION_ENTERPRISE = Table(
    "mart",
    "allocation_enterprise",
    "单位配额分配结果",
    "Free allocation of each enterprise after exemption, caps and incentives.",
    (
        C("compliance_year", "int", "履约年度", "Compliance year."),
        C("enterprise_id", "text", "单位编号", "Enterprise."),
        C("name", "text", "单位名称", "Name."),
        C("sector_label", "text", "行业", "Sector label."),
        C("verified_emissions_t", "decimal", "经核查排放量", "E: Σ lines' verified CO2 + non-CO2.", "tCO2e"),
        C("allocation_raw_t", "decimal", "核算配额", "A_raw: Σ line allocations.", "tCO2e"),
        C("adjustment_t", "decimal", "调整量", "A_final − A_raw.", "tCO2e"),
        C("adjustment_rule", "text", "调整依据", "Rule that caused the adjustment (or none)."),
        C("incentive_t", "int", "激励配额", "Synergy incentive (2023).", "tCO2e"),
        C("allocation_final_t", "int", "年度配额", "A_final, whole tonnes.", "tCO2e"),
        C("gap_t", "decimal", "配额缺口", "E − A_final (negative: surplus).", "tCO2e"),
        C(
            "borrowable_t",
            "int",
            "可预支量",
            "Gap above 10% of E clearable with next pre-allocation.",
            "tCO2e",
        ),
        C("preallocation_next_t", "int", "下年度预分配", "Pre-allocation of Y+1 (frozen).", "tCO2e"),
        C("provisional", "bool", "含临时参数", "Computed with a provisional rule-pack parameter."),
        C(
            "explanation",
            "text",
            "计算说明",
            "The derivation in words (Chinese, then English): A_raw, adjustment, incentive, pre-allocation.",
            compression="zstd",
        ),
    ),
    key=("compliance_year", "enterprise_id"),
)
CAP_SUMMARY = Table(
    "mart",
    "cap_summary",
    "配额总量",
    "Total cap of the year: enterprise total plus the government reserve.",
    (
        C("compliance_year", "int", "履约年度", "Compliance year."),
        C("enterprise_count", "int", "单位数量", "Enterprises allocated."),
        C("enterprise_total_t", "int", "单位配额总量", "Σ A_final.", "tCO2e"),
        C("reserve_t", "int", "政府预留配额", "total_cap − enterprise_total.", "tCO2e"),
        C(
            "total_cap_t",
            "int",
            "配额总量",
            "round_half_up(enterprise_total / (1 − reserve share)).",
            "tCO2e",
        ),
        C("provisional", "bool", "含临时参数", "Computed with a provisional rule-pack parameter."),
        C(
            "partial",
            "bool",
            "部分发布",
            "True when listed enterprises were left out of this publication (--allow-quarantine): the "
            "totals above are NOT the year's cap. Their ids: clearance status not_allocated.",
        ),
        C(
            "enterprises_left_out",
            "int32",
            "未分配单位数",
            "Listed enterprises left out because an input row that could belong to them was quarantined.",
        ),
    ),
    key=("compliance_year",),
)
CLEARANCE_STATUS = Table(
    "mart",
    "clearance_status",
    "清缴状态",
    "Clearance status of each enterprise as of a date.",
    (
        C("compliance_year", "int", "履约年度", "Compliance year."),
        C("enterprise_id", "text", "单位编号", "Enterprise."),
        C("as_of", "date", "统计日期", "Status evaluated as of this date."),
        C("deadline", "date", "清缴期限", "Clearance deadline of the rule pack."),
        C("obligation_t", "decimal", "应清缴配额量", "E, verified emissions.", "tCO2e"),
        C("allowances_t", "decimal", "配额", "Accepted allowances.", "t"),
        C("offsets_accepted_t", "decimal", "减排量", "Accepted offsets.", "t"),
        C("green_power_accepted_t", "decimal", "绿电", "Accepted green power.", "t"),
        C("borrowed_accepted_t", "decimal", "预支配额", "Accepted borrowed pre-allocation.", "t"),
        C("surrendered_t", "decimal", "已清缴量", "Σ accepted.", "t"),
        C("shortfall_t", "decimal", "未清缴量", "max(0, obligation − surrendered).", "t"),
        C(
            "status",
            "text",
            "状态",
            "cleared_on_time, cleared_late, pending, not_cleared, missing_verification, excluded, or "
            "not_allocated (listed, left out of a partial publication: a quarantined input row could "
            "belong to it).",
            isin=STATUSES,
        ),
        C("provisional", "bool", "含临时参数", "Computed with a provisional rule-pack parameter."),
        C(
            "surrendered_by_deadline_t",
            "decimal",
            "期限内已清缴量",
            "Σ accepted on the rows surrendered up to min(as_of, deadline), limits re-applied to them.",
            "t",
        ),
        C("offset_cap_t", "int", "减排量抵销上限", "floor(offset share × E); null without E.", "t"),
        C(
            "green_power_cap_t",
            "int",
            "绿电抵销上限",
            "floor(min(share × max(0, E − A_final), max)); null when not allowed.",
            "t",
        ),
        C(
            "borrowing_cap_t",
            "int",
            "预支上限",
            "min(borrowable, pool remaining); null when borrowing is not allowed.",
            "t",
        ),
    ),
    key=("compliance_year", "enterprise_id"),
)
CLEARANCE_ITEM = Table(
    "mart",
    "clearance_item",
    "清缴明细",
    "Every ledger row of the year with what was accepted and refused, and why.",
    (
        C("compliance_year", "int", "履约年度", "Compliance year."),
        C("txn_id", "text", "流水号", "Ledger transaction."),
        C("enterprise_id", "text", "单位编号", "Enterprise."),
        C("instrument", "text", "品种", "Instrument.", isin=INSTRUMENTS),
        C("surrendered_on", "date", "提交日期", "Date of surrender."),
        C("quantity_t", "int", "数量", "Offered.", "t"),
        C("accepted_t", "decimal", "接受量", "Accepted.", "t"),
        C("refused_t", "decimal", "拒绝量", "Refused.", "t"),
        C("reason", "text", "原因", "Why (part of) the row was refused, or 'accepted'."),
        C("as_of", "date", "统计日期", "Evaluated as of this date."),
    ),
    key=("compliance_year", "txn_id"),
)
MARTS = (ALLOCATION_LINE, ALLOCATION_ENTERPRISE, CAP_SUMMARY, CLEARANCE_STATUS, CLEARANCE_ITEM)

# ---------------------------------------------------------------------------------------------
# Audit (contract §4): every run, every stage, every rejected row.
# ---------------------------------------------------------------------------------------------
PIPELINE_RUN = Table(
    "audit",
    "pipeline_run",
    "运行记录",
    "One row per pipeline run.",
    (
        C("run_id", "text", "运行编号", "Run id."),
        C("compliance_year", "int", "履约年度", "Compliance year."),
        C("started_at", "timestamp", "开始时间", "Start (UTC)."),
        C("finished_at", "timestamp", "结束时间", "End (UTC)."),
        C(
            "status",
            "text",
            "状态",
            "running, succeeded, failed, invalid_input (exit 2), refused (--from-stage "
            "could not reuse earlier outputs), interrupted (killed; marked by the next run).",
        ),
        C("inbox", "text", "输入目录", "Inbox folder."),
        C("policy_version", "text", "规则包版本", "Rule pack id and content hash."),
        C("policy_path", "text", "规则包文件", "Rule pack file the run used."),
        C("input_hashes", "text", "输入文件哈希", "JSON: file → sha256."),
        C("as_of", "date", "统计日期", "As-of date of clearance."),
        C("from_stage", "text", "起始阶段", "Stage the run started from."),
        C("message", "text", "信息", "Summary or error paragraph."),
    ),
    key=("run_id",),
)
STAGE_RUN = Table(
    "audit",
    "stage_run",
    "阶段记录",
    "One row per stage of a run.",
    (
        C("run_id", "text", "运行编号", "Run id."),
        C("stage", "text", "阶段", "ingest, validate, baselines, allocate, clearance, publish."),
        C("started_at", "timestamp", "开始时间", "Start (UTC)."),
        C("finished_at", "timestamp", "结束时间", "End (UTC)."),
        C("duration_s", "double", "耗时", "Seconds.", "s"),
        C(
            "status",
            "text",
            "状态",
            "running, succeeded, failed, skipped (inputs unchanged), reused (output "
            "of an earlier run, --from-stage), not_run, interrupted.",
        ),
        C("rows_out", "int", "输出行数", "Rows written by the stage."),
        C("input_hash", "text", "输入哈希", "Hash of the stage's inputs (files, rule pack, code)."),
        C("message", "text", "信息", "Summary or error paragraph."),
    ),
    key=("run_id", "stage"),
)
QUARANTINE = Table(
    "audit",
    "quarantine",
    "隔离数据",
    "Every rejected input row with where it came from and what is wrong.",
    (
        C("run_id", "text", "运行编号", "Run id."),
        C("seq", "int", "序号", "Order within the run: root causes (file problems, row failures) first."),
        C("table_name", "text", "数据表", "Input table (enterprises, lines, line_years, …)."),
        C("enterprise_id", "text", "单位编号", "Enterprise the row belongs to, when known."),
        C("source_file", "text", "文件", "File, relative to the inbox."),
        C("sheet", "text", "工作表", "Sheet (workbooks) or empty."),
        C("row_number", "int", "行号", "Row as a spreadsheet shows it (header = 1)."),
        C("column_name", "text", "列", "Column at fault."),
        C("value", "text", "值", "Offending value as read."),
        C("message", "text", "说明", "What is wrong."),
    ),
    key=("run_id", "seq"),
)
AUDIT = (PIPELINE_RUN, STAGE_RUN, QUARANTINE)
PUBLISHED = MARTS + AUDIT


def data_dictionary() -> str:
    """Markdown data dictionary of every table, generated from the descriptions above."""
    out = [
        "# Data dictionary / 数据字典",
        "",
        "Generated by `python -m etsflow.catalog` from `etsflow/catalog.py`; do not edit by hand.",
        "Input tables are read from the inbox (data contract §1) and stored clean in `core`;",
        "raw copies in `raw` keep every column as text plus `_source_file`, `_sheet`, `_row`, `_file_hash`.",
        "",
    ]
    for t in INPUTS + PUBLISHED:
        out += [f"## `{t.qualified}` — {t.zh}", "", t.description, ""]
        if t.key:
            out += [f"Key: ({', '.join(t.key)})", ""]
        out += ["| column | 中文 | type | unit | description | rule |", "|---|---|---|---|---|---|"]
        for c in t.columns:
            rule = []
            if c.required:
                rule.append("required")
            if c.ge is not None:
                rule.append(f"≥ {c.ge}")
            if c.gt is not None:
                rule.append(f"> {c.gt}")
            if c.le is not None:
                rule.append(f"≤ {c.le}")
            if c.isin:
                rule.append("one of " + ", ".join(f"`{v}`" for v in c.isin))
            out.append(
                f"| {c.name} | {c.zh} | {c.duckdb_type} | {c.unit} | {c.description} | {'; '.join(rule)} |"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(data_dictionary())
