"""One description per table: the single source of column names, types, units and labels.

Everything that needs to know a table's shape is generated from here:
- the header maps of ingest (English name or Chinese label → column),
- the pandera models of `validations/` (types, ranges, enums, keys), the input references and
  folder years (`validations/tables.py`), the publish checkpoint's checks of every mart,
- the DuckDB DDL with `COMMENT ON` of `warehouse/`,
- `docs/data-dictionary.md` (`python -m model.catalog > docs/data-dictionary.md`).

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
    # Rules on the column's values, checked on inputs (a failing row is quarantined) and on
    # published tables (at every stage boundary and by the publish checkpoint).
    required: bool = False  # null/empty is an error
    ge: float | int | None = None  # inclusive lower bound
    gt: float | int | None = None  # exclusive lower bound
    le: float | int | None = None
    isin: tuple[str, ...] | None = None
    # Rules of input tables that read other rows (validations/tables.py):
    # "<input table>.<column>": every value is that column's value on a valid row of that table
    # (an earlier table of INPUTS); the rows of a value given nowhere and of a value whose own row
    # is quarantined are quarantined, each with its reason.
    references: str | None = None
    # the year of the folder the file was read from (reports/<year>/, attributes/<year>/,
    # reviews/<year>/): a row giving another year is quarantined
    folder_year: bool = False
    # an identifier or a code: its text is NFKC-normalised when typed (full-width letters and
    # digits become ASCII); names and labels are kept as written
    code: bool = False
    # what an empty cell of an input means in core (None: it stays null)
    if_empty: str | int | bool | None = None
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


def _enterprise_ref(description: str) -> Column:
    """An input table's enterprise: required, and an enterprise of the list (core.enterprises)."""
    return C(
        "enterprise_id",
        "text",
        "单位编号",
        description,
        required=True,
        references="enterprises.enterprise_id",
        code=True,
    )


ENTERPRISES = Table(
    "core",
    "enterprises",
    "重点排放单位名录",
    "One row per enterprise (unit) with the compliance years it is listed for.",
    (
        C("enterprise_id", "text", "单位编号", "Enterprise identifier.", required=True, code=True),
        C("name", "text", "单位名称", "Registered name.", required=True),
        C("district", "text", "所属区县", "District or county; inner whitespace removed."),
        C("sector_label", "text", "行业", "Sector label of the list (e.g. 水泥制造行业).", required=True),
        C(
            "listed_years",
            "text",
            "纳入年度",
            "Comma-separated compliance years, e.g. 2021,2022,2023.",
            code=True,
        ),
    ),
    key=("enterprise_id",),
)
LINES = Table(
    "core",
    "lines",
    "生产线/工序台账",
    "One row per production line or process: the unit of allocation.",
    (
        C("line_id", "text", "生产线编号", "Line identifier.", required=True, code=True),
        _enterprise_ref("Owning enterprise."),
        C("line_name", "text", "生产线名称", "Name of the line."),
        C("product", "text", "产品", "Main product."),
        C(
            "output_unit",
            "text",
            "产品单位",
            "Unit of output (t for clinker and molten aluminium).",
            code=True,
        ),
        C(
            "activity",
            "text",
            "活动类型",
            "Activity, decides benchmark/equal methods.",
            required=True,
            isin=ACTIVITIES,
            code=True,
        ),
        C(
            "intensity_eligible",
            "bool",
            "适用强度法",
            "Regulator's judgement: intensity method applies.",
            if_empty=False,
        ),
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
        C("enterprise_id", "text", "单位编号", "Enterprise of the line.", required=True, code=True),
        C("line_id", "text", "生产线编号", "Line.", required=True, references="lines.line_id", code=True),
        C("year", "int", "年度", "Year of the data.", required=True, ge=2013, le=2100, folder_year=True),
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
            if_empty=0,
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
        _enterprise_ref("Enterprise."),
        C("year", "int", "年度", "Year of the data.", required=True, ge=2013, le=2100, folder_year=True),
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
        _enterprise_ref("Enterprise."),
        C("year", "int", "年度", "Compliance year.", required=True, ge=2013, le=2100, folder_year=True),
        C("preallocation_cancelled", "bool", "预分配取消", "Next year's pre-allocation cancelled."),
        C("penalized", "bool", "受到行政处罚", "Administrative penalty in the year."),
        C(
            "weather_grade",
            "text",
            "重污染天气绩效分级",
            "Heavy-pollution weather performance grade.",
            isin=("A", "B", "C", "D"),
            code=True,
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
        C("txn_id", "text", "流水号", "Transaction id.", required=True, code=True),
        _enterprise_ref("Surrendering enterprise."),
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
        C("instrument", "text", "品种", "What was surrendered.", required=True, isin=INSTRUMENTS, code=True),
        C("quantity_t", "int", "数量", "Whole tonnes surrendered.", "t", required=True, gt=0),
        C("vintage", "int", "配额年度", "Vintage of allowances.", ge=2013, le=2100),
        C(
            "acquired_via",
            "text",
            "取得方式",
            "How allowances were acquired.",
            isin=("free", "purchase", "paid_reserve"),
            code=True,
        ),
        C(
            "origin",
            "text",
            "产生地",
            "Where offsets were generated, or green power bought (required on green power, v2; "
            "green power from chongqing is a valid row that clearance refuses).",
            isin=("chongqing", "chengdu_chongqing_circle", "other"),
            code=True,
        ),
        C("is_hydro", "bool", "水电项目", "Offset from a hydro project."),
        C(
            "certificate_id",
            "text",
            "绿证编号",
            "Green-power certificate (v2, optional): a certificate counts once across all rows and years.",
            code=True,
        ),
    ),
    key=("txn_id",),
)
DECISIONS = ("pending", "upheld", "changed", "rejected")
REVIEWS = Table(
    "core",
    "reviews",
    "复核申请",
    "Review requests (复核) of units against a notified allocation (inbox reviews/<year>.csv|xlsx; "
    "rules.md §9.2). An empty decision means pending.",
    (
        C("request_id", "text", "申请编号", "Review request identifier.", required=True, code=True),
        _enterprise_ref("Enterprise asking for review."),
        C(
            "compliance_year",
            "int",
            "履约年度",
            "Compliance year of the allocation under review.",
            required=True,
            ge=2013,
            le=2100,
            folder_year=True,
        ),
        C("received_on", "date", "收到日期", "Date the regulator received the request.", required=True),
        C("claim", "text", "申请事项", "What the unit claims (free text)."),
        C(
            "decision",
            "text",
            "复核结论",
            "pending, upheld (allocation confirmed), changed (inputs corrected), rejected; empty = pending.",
            isin=DECISIONS,
            if_empty="pending",
            code=True,
        ),
        C("decided_on", "date", "决定日期", "Date of the decision (required once decided)."),
    ),
    key=("request_id",),
)
INPUTS = (ENTERPRISES, LINES, LINE_YEARS, ENTERPRISE_YEARS, ATTRIBUTES, LEDGER, REVIEWS)

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
        C("allocation_co2_t", "decimal", "二氧化碳配额", "CO2 component of the allocation.", "tCO2", ge=0),
        C(
            "allocation_non_co2_t",
            "decimal",
            "非二氧化碳配额",
            "Non-CO2 component (equal method).",
            "tCO2e",
            ge=0,
        ),
        C("allocation_t", "decimal", "生产线配额", "Line allocation.", "tCO2e", required=True, ge=0),
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
        C(
            "allocation_raw_t",
            "decimal",
            "核算配额",
            "A_raw: Σ line allocations.",
            "tCO2e",
            required=True,
            ge=0,
        ),
        C("adjustment_t", "decimal", "调整量", "A_final − A_raw.", "tCO2e"),
        C("adjustment_rule", "text", "调整依据", "Rule that caused the adjustment (or none)."),
        C("incentive_t", "int", "激励配额", "Synergy incentive (2023).", "tCO2e", ge=0),
        C("allocation_final_t", "int", "年度配额", "A_final, whole tonnes.", "tCO2e", required=True, ge=0),
        C("gap_t", "decimal", "配额缺口", "E − A_final (negative: surplus).", "tCO2e"),
        C(
            "borrowable_t",
            "int",
            "可预支量",
            "Gap above 10% of E clearable with next pre-allocation.",
            "tCO2e",
            ge=0,
        ),
        C("preallocation_next_t", "int", "下年度预分配", "Pre-allocation of Y+1 (frozen).", "tCO2e", ge=0),
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
        C("enterprise_count", "int", "单位数量", "Enterprises allocated.", ge=0),
        C("enterprise_total_t", "int", "单位配额总量", "Σ A_final.", "tCO2e", required=True, ge=0),
        C("reserve_t", "int", "政府预留配额", "total_cap − enterprise_total.", "tCO2e", required=True, ge=0),
        C(
            "total_cap_t",
            "int",
            "配额总量",
            "round_half_up(enterprise_total / (1 − reserve share)).",
            "tCO2e",
            required=True,
            ge=0,
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
        C("obligation_t", "decimal", "应清缴配额量", "E, verified emissions.", "tCO2e", ge=0),
        C("allowances_t", "decimal", "配额", "Accepted allowances.", "t"),
        C("offsets_accepted_t", "decimal", "减排量", "Accepted offsets.", "t"),
        C("green_power_accepted_t", "decimal", "绿电", "Accepted green power.", "t"),
        C("borrowed_accepted_t", "decimal", "预支配额", "Accepted borrowed pre-allocation.", "t"),
        C("surrendered_t", "decimal", "已清缴量", "Σ accepted.", "t", ge=0),
        C("shortfall_t", "decimal", "未清缴量", "max(0, obligation − surrendered).", "t", ge=0),
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
        C("quantity_t", "int", "数量", "Offered.", "t", ge=0),
        C("accepted_t", "decimal", "接受量", "Accepted.", "t", required=True, ge=0),
        C("refused_t", "decimal", "拒绝量", "Refused.", "t", required=True, ge=0),
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

# ---------------------------------------------------------------------------------------------
# The allocation cycle (contract §5, rules.md §9): versions, history, review, changes, issuance.
# `mart.*` above holds the current version of each year; `history.*` every version's rows.
# ---------------------------------------------------------------------------------------------
VERSION_STATUSES = ("in_review", "final", "superseded")
INSTRUCTIONS = (
    "issue_free",
    "issue_preallocation_frozen",
    "release_preallocation",
    "true_up_issue",
    "true_up_surrender",
)
ISSUANCE_STATUSES = ("waiting_final", "waiting_clearance", "ready")


def _history(t: Table) -> Table:
    """`history.<name>`: the rows of `mart.<name>` of every version, with the version number."""
    version = C("version", "int", "版本", "Allocation version (1, 2, …) these rows belong to.")
    cols = (t.columns[0], version, *t.columns[1:])
    return Table(
        "history",
        t.name,
        f"{t.zh}（历次版本）",
        f"Every version of mart.{t.name}: rows written once when the version is published, never "
        "rewritten. " + t.description,
        cols,
        key=(t.key[0], "version", *t.key[1:]),
    )


HISTORY_ALLOCATION_LINE = _history(ALLOCATION_LINE)
HISTORY_ALLOCATION_ENTERPRISE = _history(ALLOCATION_ENTERPRISE)
HISTORY_CAP_SUMMARY = _history(CAP_SUMMARY)
HISTORY_ALLOCATION_INPUT = Table(
    "history",
    "allocation_input",
    "分配所依据的输入数据（历次版本）",
    "The validated input rows each version was computed from, with where they came from: the "
    "basis of mart.allocation_change.changed_inputs. Written once per version, never rewritten.",
    (
        C("compliance_year", "int", "履约年度", "Compliance year."),
        C("version", "int", "版本", "Allocation version."),
        C(
            "table_name",
            "text",
            "数据表",
            "Input table (enterprises, lines, line_years, enterprise_years, attributes).",
        ),
        C("row_key", "text", "行键", "Key of the row in its table, e.g. CQ001-L1 2022."),
        C("enterprise_id", "text", "单位编号", "Enterprise the row belongs to."),
        C("source_file", "text", "文件", "File the row was read from, relative to the inbox."),
        C("sheet", "text", "工作表", "Sheet (workbooks) or empty."),
        C("row_number", "int", "行号", "Row as a spreadsheet shows it (header = 1)."),
        C("values_json", "text", "数值", "The row's validated values (JSON, text of each column)."),
    ),
    key=("compliance_year", "version", "table_name", "row_key"),
)
HISTORY = (
    HISTORY_ALLOCATION_LINE,
    HISTORY_ALLOCATION_ENTERPRISE,
    HISTORY_CAP_SUMMARY,
    HISTORY_ALLOCATION_INPUT,
)
ALLOCATION_VERSION = Table(
    "mart",
    "allocation_version",
    "配额分配版本",
    "Every published version of a year's allocation, its notification, review deadline and status.",
    (
        C("compliance_year", "int", "履约年度", "Compliance year."),
        C("version", "int", "版本", "1 for the first publication, n+1 when the allocation numbers change."),
        C("run_id", "text", "运行编号", "Run that published the version."),
        C("published_at", "timestamp", "发布时间", "When the version was published (UTC)."),
        C(
            "notified_on",
            "date",
            "告知日期",
            "Notification date (--notified-on; default the publication date).",
        ),
        C(
            "review_deadline",
            "date",
            "复核申请截止日",
            "notified_on + the rule pack's review window in Chinese working days (7): last day to ask.",
        ),
        C(
            "review_deadline_estimated",
            "bool",
            "截止日为估算",
            "True when the deadline falls in a year the working-day calendar does not know yet "
            "(Monday–Friday assumed; recheck).",
        ),
        C(
            "status",
            "text",
            "状态",
            "in_review, final (window closed, no admitted request undecided) or superseded (a later "
            "version exists), as of status_as_of.",
            isin=VERSION_STATUSES,
        ),
        C("status_as_of", "date", "状态日期", "The run's --as-of date the status was evaluated at."),
        C(
            "enterprises_changed",
            "int",
            "变化单位数",
            "Enterprises notified by this version: all allocated for version 1, the changed ones after.",
        ),
        C("enterprise_total_t", "int", "单位配额总量", "Σ A_final of the version.", "tCO2e"),
        C("total_cap_t", "int", "配额总量", "Total cap of the version.", "tCO2e"),
        C("policy_version", "text", "规则包版本", "Rule pack of the version."),
    ),
    key=("compliance_year", "version"),
)
REVIEW_REQUEST = Table(
    "mart",
    "review_request",
    "复核申请处理",
    "Every review request with its window, admission, decision deadline and outcome.",
    (
        C("request_id", "text", "申请编号", "Review request."),
        C("compliance_year", "int", "履约年度", "Compliance year."),
        C("enterprise_id", "text", "单位编号", "Enterprise."),
        C("received_on", "date", "收到日期", "Date received."),
        C("claim", "text", "申请事项", "What the unit claims."),
        C(
            "version_at_receipt",
            "int",
            "所针对版本",
            "The version last notified to the unit on or before received_on (null: none yet).",
        ),
        C("window_closes_on", "date", "复核期限", "Review deadline of that version."),
        C("admitted", "bool", "受理", "Received within the window of the version current at receipt."),
        C("admission", "text", "受理说明", "Why admitted or not, in words."),
        C("decision", "text", "复核结论", "pending, upheld, changed, rejected.", isin=DECISIONS),
        C(
            "decision_due_on",
            "date",
            "决定期限",
            "received_on + the rule pack's decision period in Chinese working days (10).",
        ),
        C("decided_on", "date", "决定日期", "Date decided."),
        C("overdue", "bool", "逾期", "Admitted, still pending and past decision_due_on as of the run."),
        C(
            "resulting_version",
            "int",
            "结果版本",
            "First later version in which the unit's allocation changed (decision changed).",
        ),
        C(
            "dates_estimated",
            "bool",
            "日期为估算",
            "True when a deadline falls in a year the working-day calendar does not know yet.",
        ),
        C("as_of", "date", "统计日期", "The run's --as-of date."),
    ),
    key=("request_id",),
)
ALLOCATION_CHANGE = Table(
    "mart",
    "allocation_change",
    "配额变化",
    "Per version n > 1, every enterprise whose allocation changed against version n−1, and why.",
    (
        C("compliance_year", "int", "履约年度", "Compliance year."),
        C("version", "int", "版本", "The version with the change."),
        C("enterprise_id", "text", "单位编号", "Enterprise."),
        C("name", "text", "单位名称", "Name."),
        C("previous_version", "int", "原版本", "The version compared against (n − 1)."),
        C(
            "previous_final_t",
            "int",
            "原年度配额",
            "A_final in the previous version (null: not allocated).",
            "tCO2e",
        ),
        C(
            "allocation_final_t",
            "int",
            "年度配额",
            "A_final in this version (null: no longer allocated).",
            "tCO2e",
        ),
        C("delta_t", "int", "变化量", "allocation_final_t − previous_final_t.", "tCO2e"),
        C(
            "changed_inputs",
            "text",
            "变化的输入数据",
            "Input rows that changed: file, sheet, row, column, old → new value.",
        ),
        C(
            "changed_rules",
            "text",
            "规则变化",
            "Rules that fired differently: method, kept/dropped base years, adjustment rule, other numbers.",
        ),
        C("review_request_id", "text", "复核申请编号", "Review request(s) this change answers, if any."),
    ),
    key=("compliance_year", "version", "enterprise_id"),
)
ISSUANCE = Table(
    "mart",
    "issuance",
    "配额发放指令",
    "Instructions for the registry that follow from the final allocations (rules.md §9.4).",
    (
        C("compliance_year", "int", "履约年度", "Compliance year whose allowances are concerned."),
        C("enterprise_id", "text", "单位编号", "Enterprise."),
        C("instruction", "text", "指令", "What the registry does.", isin=INSTRUCTIONS),
        C(
            "quantity_t",
            "int",
            "数量",
            "Whole allowances (always ≥ 0; the instruction gives the direction).",
            "t",
        ),
        C(
            "status",
            "text",
            "状态",
            "waiting_final (a version it depends on is not final), waiting_clearance, ready.",
            isin=ISSUANCE_STATUSES,
        ),
        C("reason", "text", "依据", "Where the quantity comes from and what it waits for."),
        C("source_year", "int", "来源年度", "Compliance year whose allocation gives the quantity."),
        C("source_version", "int", "来源版本", "Version of that allocation."),
    ),
    key=("compliance_year", "enterprise_id", "instruction"),
)
CYCLE = (ALLOCATION_VERSION, REVIEW_REQUEST, ALLOCATION_CHANGE, ISSUANCE)
PUBLISHED = MARTS + CYCLE + HISTORY + AUDIT

# ---------------------------------------------------------------------------------------------
# Scenarios (contract §6): what-if allocations, never touching mart.*. Every row carries the
# scenario's parameters and the official publication it is compared with.
# ---------------------------------------------------------------------------------------------
_SCENARIO_ROW = (
    C("compliance_year", "int", "履约年度", "Compliance year allocated."),
    C(
        "parameters",
        "text",
        "情景参数",
        "JSON object: every rule-pack parameter the scenario changed (`--set`, `--sweep`) → its value "
        "as text; `{}` = the official pack.",
    ),
    C(
        "official_run_id",
        "text",
        "对照正式运行",
        "run_id (audit.pipeline_run) of the year's publication the scenario is compared with.",
    ),
    C(
        "official_version",
        "int",
        "对照正式版本",
        "Version (mart.allocation_version) of that publication, when the warehouse keeps versions; else null.",
    ),
)


def _scenario_row(name: str) -> tuple[Column, ...]:
    """The columns every scenario row starts with; the scenario's name is `name` in scenario.run
    (contract §6) and `scenario_name` elsewhere (`name` of allocation_enterprise is the enterprise's)."""
    return (
        C("scenario_id", "text", "情景编号", "Scenario: `<name>:<n>`, n = 1, 2, … in sweep order."),
        C(name, "text", "情景名称", "Name given to `etsflow scenario run` (a run replaces its name whole)."),
        *_SCENARIO_ROW,
    )


SCENARIO_RUN = Table(
    "scenario",
    "run",
    "情景运行",
    "One row per scenario: its parameters, the rule pack they changed and the official publication.",
    (
        *_scenario_row("name"),
        C(
            "base_policy_version",
            "text",
            "基础规则包",
            "Rule pack the parameters were applied to (id, version, hash).",
        ),
        C(
            "inputs",
            "text",
            "输入来源",
            "Where the validated inputs came from (inbox and file hashes, or a stored run).",
        ),
        C("created_at", "timestamp", "创建时间", "When the scenario was computed (UTC)."),
        C(
            "provisional",
            "bool",
            "含临时参数",
            "Some row used a provisional parameter of the pack that the scenario did not set.",
        ),
        C(
            "provisional_parameters",
            "text",
            "临时参数",
            "Provisional parameters left in the scenario's pack.",
        ),
    ),
    key=("scenario_id",),
)
SCENARIO_ALLOCATION_ENTERPRISE = Table(
    "scenario",
    "allocation_enterprise",
    "情景单位配额",
    "mart.allocation_enterprise under each scenario's parameters (no explanation column: rerun "
    "`etsflow run --policy` with the scenario's pack for the words).",
    (
        *_scenario_row("scenario_name"),
        *(c for c in ALLOCATION_ENTERPRISE.columns if c.name not in ("compliance_year", "explanation")),
    ),
    key=("scenario_id", "enterprise_id"),
)
SCENARIO_SUMMARY = Table(
    "scenario",
    "summary",
    "情景汇总",
    "Cap, reserve and gaps of each scenario.",
    (
        *_scenario_row("scenario_name"),
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
        C("units_with_gap", "int", "缺口单位数", "Enterprises with gap_t > 0 (E > A_final)."),
        C("gap_total_t", "decimal", "缺口合计", "Σ gap_t over the enterprises with a gap.", "tCO2e"),
        C(
            "exempted_units",
            "int",
            "缺口豁免单位数",
            "Enterprises whose allocation the gap exemption raised (adjustment_rule gap_exemption_*).",
        ),
        C("provisional", "bool", "含临时参数", "Computed with a provisional rule-pack parameter."),
    ),
    key=("scenario_id",),
)
SCENARIO_DELTA_ENTERPRISE = Table(
    "scenario",
    "delta_enterprise",
    "情景单位变化",
    "Each enterprise's final allocation under the scenario against the official publication.",
    (
        *_scenario_row("scenario_name"),
        C("enterprise_id", "text", "单位编号", "Enterprise."),
        C("sector_label", "text", "行业", "Sector label."),
        C(
            "official_allocation_final_t",
            "int",
            "正式年度配额",
            "A_final published (null: not allocated).",
            "tCO2e",
        ),
        C(
            "allocation_final_t",
            "int",
            "情景年度配额",
            "A_final under the scenario (null: not allocated).",
            "tCO2e",
        ),
        C("delta_t", "int", "变化量", "Scenario − official (missing side counted as 0).", "tCO2e"),
    ),
    key=("scenario_id", "enterprise_id"),
)
SCENARIOS = (SCENARIO_RUN, SCENARIO_ALLOCATION_ENTERPRISE, SCENARIO_SUMMARY, SCENARIO_DELTA_ENTERPRISE)


def data_dictionary() -> str:
    """Markdown data dictionary of every table, generated from the descriptions above."""
    out = [
        "# Data dictionary / 数据字典",
        "",
        "Generated by `python -m model.catalog` from `model/catalog.py`; do not edit by hand.",
        "Input tables are read from the inbox (data contract §1) and stored clean in `core`;",
        "raw copies in `raw` keep every column as text plus `_source_file`, `_sheet`, `_row`, `_file_hash`.",
        "",
    ]
    for t in INPUTS + PUBLISHED + SCENARIOS:
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
            if c.references:
                rule.append(f"references `{c.references}`")
            if c.folder_year:
                rule.append("= the year of the file's folder")
            if c.if_empty is not None:
                rule.append(f"empty = `{str(c.if_empty).lower()}`")
            out.append(
                f"| {c.name} | {c.zh} | {c.duckdb_type} | {c.unit} | {c.description} | {'; '.join(rule)} |"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(data_dictionary())
