"""Every published code in words, Chinese and English, and the explanations built from them.

The transforms compute numbers and name the rule that fired (a code column: `method`,
`method_reason`, `adjustment_rule`, `incentive_reason`, `preallocation_reason`, `status`); this
module is the one place that turns codes and numbers into words:

- the label tables below (`METHODS`, `REASONS`, `ADJUSTMENTS`, `STATUSES`): a code → (中文, English);
- `line_explanation` / `enterprise_explanation`: the `explanation` column of
  `mart.allocation_line` / `mart.allocation_enterprise`, as Polars expressions over the columns
  the allocation emits (vectorised: no Python per row);
- `label` / `adjustment_label`: a code in words for the notices, the report and the CLI.

No arithmetic happens here: every number in an explanation is a column the transform computed,
or a rule-pack value as the pack writes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from policies import Policy

# ---------------------------------------------------------------------------------------------
# The label tables: code → (中文, English)
# ---------------------------------------------------------------------------------------------
METHODS: dict[str, tuple[str, str]] = {
    "benchmark": ("行业基准线法", "benchmark method"),
    "intensity": ("历史排放强度下降法", "historical intensity method"),
    "total": ("历史排放总量下降法", "historical total method"),
    "equal": ("等量法", "equal method"),
    "excluded": ("不参与分配", "excluded"),
}


@dataclass(frozen=True)
class ReasonText:
    rule: str  # the section of rules.md §2 that fires
    zh: str  # why, in the line's explanation; {placeholders} are filled per line from its columns
    en: str
    rule_zh: str  # the rule in general words (notices, explain)
    rule_en: str


# Why a line got its method (method_reason → words); the method and the rule-pack parameters of
# each reason are arithmetic and live with the rule (`transforms.baselines.REASONS`).
REASONS: dict[str, ReasonText] = {
    "stopped": ReasonText(
        "§2.1",
        "年度内停产（生产天数为0或停产日期不晚于1月1日）的生产线不参与配额分配",
        "a line stopped in the year (no production day, or stopped on or before 1 January) is not allocated",
        "年度内停产的生产线不参与配额分配",
        "a line stopped in the year is not allocated",
    ),
    "enterprise_shutdown": ReasonText(
        "§2.2",
        "企业历史基准年度中有{enterprise_shutdown_years}个年度累计停产天数≥{ent_days}天",
        "the enterprise was shut down ≥ {ent_days} days in {enterprise_shutdown_years} base years",
        "企业多个基准年度累计停产天数达到规定天数，采用等量法",
        "the enterprise was shut down long enough in enough base years: equal method",
    ),
    "activity_equal": ReasonText(
        "§2.3",
        "生活垃圾焚烧、页岩气开采采用等量法",
        "waste incineration and shale gas take the equal method",
        "生活垃圾焚烧、页岩气开采采用等量法",
        "waste incineration and shale gas: equal method",
    ),
    "new_build": ReasonText(
        "§2.4",
        "新建项目（投产日期{commissioned_on}，首个完整生产年度{first_full_year}）投产满{new_build_years}个"
        "完整年度前采用等量法",
        "new build (commissioned {commissioned_on}, first full year {first_full_year}) before "
        "{new_build_years} full year(s) of production",
        "新建项目投产满规定完整年度前采用等量法",
        "new build before its full production years: equal method",
    ),
    "benchmark": ReasonText(
        "§2.5",
        "水泥熟料、电解铝生产工序",
        "clinker or aluminium process",
        "水泥熟料、电解铝生产工序采用行业基准线法",
        "clinker or aluminium process: benchmark",
    ),
    "intensity": ReasonText(
        "§2.6",
        "产品不超过两种、同质化程度高且排放边界清晰（适用强度法）",
        "at most two homogeneous products with a clear boundary (intensity eligible)",
        "产品不超过两种、同质化程度高且排放边界清晰，采用历史强度下降法",
        "at most two homogeneous products with a clear boundary: historical intensity",
    ),
    "total": ReasonText(
        "§2.7",
        "不适用基准线法和强度法的其他生产线",
        "neither benchmark nor intensity applies",
        "不适用基准线法和强度法的其他生产线，采用历史总量下降法",
        "neither benchmark nor intensity applies: historical total",
    ),
    "fallback_intensity_to_total": ReasonText(
        "§2.8",
        "适用强度法但无可用基准年（无产量），改用总量法",
        "intensity line without a usable base year (no output) falls back to the total method",
        "适用强度法但无可用基准年（无产量），改用总量法",
        "intensity line without a usable base year: historical total",
    ),
    "fallback_total_to_equal": ReasonText(
        "§2.8",
        "无可用基准年或采用年度生产天数合计为0，改用等量法",
        "no usable base year, or no production day in the kept years: falls back to the equal method",
        "无可用基准年或采用年度生产天数合计为0，改用等量法",
        "no usable base year or no production day: equal method",
    ),
    "equal_by_pack": ReasonText(
        "line_methods",
        "规则包未采用历史强度法或总量法，其他生产线采用等量法",
        "the rule pack has no historical method: every other line takes the equal method",
        "规则包未采用历史强度法或总量法，其他生产线采用等量法",
        "the rule pack has no historical method: equal method",
    ),
}

# What the base-year rules did (rules.md §3.1–§3.3), from the codes and numbers of
# `transforms.baselines`: code → (中文, English); {placeholders} are filled with the numbers that
# fired ({share_pct}, {drop_days} and the windows are the pack's).
BASE_YEAR_REASONS: dict[str, tuple[str, str]] = {  # why a base year was not kept (`dropped_reasons`)
    "no_record": ("无核查数据", "no verified record"),
    "before_first_full_year": (
        "早于新建生产线首个完整生产年度{first_full_year}",
        "before the first full year {first_full_year} of the new line",
    ),
    "before_reduction_project": ("早于减排工程投产（{date}）", "before the reduction project ({date})"),
    "before_major_change": ("早于排放重大变化（{date}）", "before the major change ({date})"),
    "zero_output": ("产量为0", "zero output"),
    "intensity_outlier": (
        "强度偏离加权平均值 {deviation} ≥ {share_pct}%",
        "intensity {deviation} ≥ ±{share_pct}% of the weighted mean",
    ),
    "long_shutdown": (
        "生产线停产{shutdown_days}天 > {drop_days}天",
        "line shut down {shutdown_days} days > {drop_days}",
    ),
}
BASE_YEAR_NOTES: dict[str, tuple[str, str]] = {  # a rule that kept the years (`base_year_note`)
    "all_outliers": (
        "{years}年强度均偏离加权平均值 ≥ {share_pct}%，基准年保持不变",
        "{years} all deviate ≥ ±{share_pct}% from the weighted mean: all years kept",
    ),
    "all_long_shutdowns": (
        "{years}年生产线停产均 > {drop_days}天，基准年全部保留并标记",
        "{years} all have > {drop_days} line shutdown days: all years kept, line flagged",
    ),
    "no_production_day": ("可用年度生产天数合计为0", "the usable years have no production day"),
}
RESTATEMENT = (  # §3.1: one restated base year (`restatements`)
    "{year}年电力排放因子{grid_ef}→{grid_ef_y}，外购电{mwh} MWh，排放量修正{restatement_t} t",
    "{year} grid factor {grid_ef}→{grid_ef_y} on {mwh} MWh: CO2 restated by {restatement_t} t",
)
BASE_YEAR_DATES: dict[str, tuple[str, str]] = {  # §3.1 (v2): what a line's dates did
    "reduction_outside": (
        "减排工程完成投产日期{date}不在{window}年窗口内，不影响基准年",
        "reduction project completed {date}, outside the window {window}: no base year made unusable",
    ),
    "reduction_inside": (
        "减排工程完成投产日期{date}在{window}年窗口内，{hit}",
        "reduction project completed {date}, inside the window {window}: {hit}",
    ),
    "major_change_outside": (
        "排放重大变化日期{date}不在历史基准年度{window}年内，不影响基准年",
        "major change on {date}, outside the base years {window}: no base year made unusable",
    ),
    "major_change_inside": (
        "排放重大变化日期{date}在历史基准年度{window}年内，{hit}",
        "major change on {date}, inside the base years {window}: {hit}",
    ),
    "no_year_hit": ("无基准年早于该日期", "no base year starts before it"),
    "years_hit": ("{years}年不可用", "{years} unusable"),
}
SEPARATORS = (("、", "；", "—"), (", ", "; ", "–"))  # (years, notes, ranges): 中文, English

# adjustment_rule is "none" or parts joined by "+", e.g. "gap_exemption_share+rounding".
ADJUSTMENTS: dict[str, tuple[str, str]] = {
    "none": ("无调整", "none"),
    "gap_exemption_share": ("缺口上限豁免（按排放量比例）", "gap exemption (share of E)"),
    "gap_exemption_max": ("缺口上限豁免（按最大缺口量）", "gap exemption (maximum gap in t)"),
    "surplus_cap_share": ("配额上限约束（按排放量比例）", "surplus cap (share of E)"),
    "surplus_cap_max": ("配额上限约束（按最大盈余量）", "surplus cap (maximum surplus in t)"),
    "rounding": ("取整", "rounding to whole tonnes"),
    "incentive_grade_A": ("减污降碳协同激励（A级）", "synergy incentive (grade A)"),
    "incentive_grade_B": ("减污降碳协同激励（B级）", "synergy incentive (grade B)"),
    "incentive_energy_efficiency": (
        "减污降碳协同激励（能效标杆）",
        "synergy incentive (energy-efficiency benchmark)",
    ),
}
NOT_AN_EXEMPTION = ("none", "rounding")  # … nor the incentive parts (incentive_…), counted apart

STATUSES: dict[str, tuple[str, str]] = {
    "cleared_on_time": ("按期完成清缴", "cleared on time"),
    "cleared_late": ("逾期完成清缴", "cleared late"),
    "pending": ("清缴期内未完成", "pending"),
    "not_cleared": ("未完成清缴", "not cleared"),
    "missing_verification": ("缺少核查数据", "missing verification"),
    "excluded": ("不在名录内", "not on the list"),
    "not_allocated": ("未分配（输入数据被隔离）", "not allocated: left out, quarantined input"),
}


def label(table: dict[str, tuple[str, str]], code: str | None) -> str:
    """A code as "中文 / English", or the code itself when it has none (never hides a value)."""
    if code is None:
        return ""
    words = table.get(code)
    if not words:
        return code
    zh, en = words
    return f"{zh}/ {en}" if zh.endswith("）") else f"{zh} / {en}"  # no space after a full-width ）


def reason_label(code: str | None) -> str:
    """Why a line has its method, in general words: "§2.1 中文 / English" (the code when unknown)."""
    r = REASONS.get(code or "")
    return f"{r.rule} {r.rule_zh} / {r.rule_en}" if r else (code or "")


def adjustment_parts(rule: str | None) -> list[str]:
    """The parts of an adjustment_rule: "gap_exemption_share+rounding" → both; null → ["none"]."""
    return [p.strip() for p in (rule or "none").split("+") if p.strip()] or ["none"]


def adjustment_label(rule: str | None) -> str:
    """An adjustment_rule in words, part by part."""
    return "；".join(label(ADJUSTMENTS, p) for p in adjustment_parts(rule))


def is_exemption(part: str) -> bool:
    """True for an exemption or cap part (or any unknown part: it is shown, never hidden)."""
    return part not in NOT_AN_EXEMPTION and not part.startswith("incentive")


# ---------------------------------------------------------------------------------------------
# Explanations: Polars expressions over the columns the allocation emits
# ---------------------------------------------------------------------------------------------
def _s(name: str) -> pl.Expr:
    """A column as text ('' when null, as SQL's concat treats it)."""
    return pl.col(name).cast(pl.String).fill_null("")


def _cat(*parts: pl.Expr | str) -> pl.Expr:
    return pl.concat_str([p if isinstance(p, pl.Expr) else pl.lit(p) for p in parts], ignore_nulls=True)


def _years(col: str, sep: str) -> pl.Expr:
    return pl.col(col).cast(pl.List(pl.String)).list.join(sep)


def _by_code(col: str, table: dict[str, str]) -> pl.Expr:
    return pl.col(col).replace_strict(table, default=None, return_dtype=pl.String)


def _why(lang: int, ent_days: str) -> pl.Expr:
    """The reason of the line's method with its placeholders filled."""
    facts = ("enterprise_shutdown_years", "commissioned_on", "first_full_year", "new_build_years")
    words = {k: (r.zh, r.en)[lang] for k, r in REASONS.items()}
    return _worded(pl.col("method_reason"), words, {"ent_days": ent_days} | {f: pl.col(f) for f in facts})


def _filled(template: str, values: dict[str, pl.Expr | str]) -> pl.Expr:
    """A template's text with its {placeholders} filled by `values` (a null value as empty text),
    concatenated piece by piece."""
    filled = {
        k: (pl.lit(v) if isinstance(v, str) else v).cast(pl.String).fill_null("") for k, v in values.items()
    }
    pieces = re.split(r"\{(\w+)\}", template)
    return _cat(*(filled.get(p, "{" + p + "}") if i % 2 else p for i, p in enumerate(pieces) if p))


def _worded(code: pl.Expr, words: dict[str, str], values: dict[str, pl.Expr | str]) -> pl.Expr:
    """The words of each code, its template filled with `values`; an unknown code as itself."""
    out = None
    for k, template in words.items():
        out = (pl.when if out is None else out.when)(code == k).then(_filled(template, values))
    return out.otherwise(code)


def _deviation(bp: pl.Expr) -> pl.Expr:
    """Hundredths of a percent, signed → '+20.37%'."""
    return pl.concat_str(
        pl.when(bp >= 0).then(pl.lit("+")).otherwise(pl.lit("-")),
        (bp.abs() // 100).cast(pl.String),
        pl.lit("."),
        (bp.abs() % 100).cast(pl.String).str.zfill(2),
        pl.lit("%"),
    )


def _joined(parts: list[pl.Expr], sep: str) -> pl.Expr:
    """The parts that are not null joined by `sep`; null when every part is (each part is
    evaluated once: the words of a large year cost no second pass)."""
    return pl.concat_str(parts, separator=sep, ignore_nulls=True).replace("", None)


def base_year_texts(policy: Policy, lang: int) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """The words of a line's base years in one language (0: 中文, 1: English), from the codes and
    numbers of `transforms.baselines`: (the years not kept with why, and the rule that kept them
    all; the electricity restatements; what the §3.1 dates did). Each is null when there is nothing
    to say (always for a line whose method uses no base year)."""
    year_sep, note_sep, range_sep = SEPARATORS[lang]
    base_years = [int(y) for y in policy.base_years.value]
    rp_first, rp_last = policy.reduction_project_window.value
    pack = {
        "share_pct": pct_text(policy.intensity_outlier_share.value),
        "drop_days": str(policy.total_drop_shutdown_days.value),
    }

    def words(table: dict[str, tuple[str, str]]) -> dict[str, str]:  # the pack's values written in
        out = {k: v[lang] for k, v in table.items()}
        for name, value in pack.items():
            out = {k: v.replace("{" + name + "}", value) for k, v in out.items()}
        return out

    y = pl.element().struct.field
    year = y("year").cast(pl.String) + ("年" if lang == 0 else " ")
    reason = _worded(
        y("reason"),
        words(BASE_YEAR_REASONS),
        {
            "first_full_year": y("first_full_year"),
            "date": y("date"),
            "deviation": _deviation(y("deviation_bp")),
            "shutdown_days": y("shutdown_days"),
        },
    )
    dropped = pl.col("dropped_reasons").list.eval(pl.concat_str(year, reason)).list.join(note_sep)
    dropped = pl.when(pl.col("dropped_reasons").list.len() > 0).then(dropped)
    code = pl.col("base_year_note")
    note = _worded(code, words(BASE_YEAR_NOTES), {"years": _years("note_years", year_sep)})
    restated = (
        pl.col("restatements")
        .list.eval(
            _filled(
                RESTATEMENT[lang],
                {k: y(k) for k in ("year", "grid_ef", "grid_ef_y", "mwh")}
                | {"restatement_t": y("restatement_t").cast(pl.String).str.replace(r"\.?0+$", "")},
            )
        )
        .list.join(note_sep)
    )
    restated = pl.when(pl.col("restatements").list.len() > 0).then(restated)

    def dates(prefix: str, on: str, inside: str, years: str, window: str) -> pl.Expr:
        texts = words(BASE_YEAR_DATES)
        hit = (
            pl.when(pl.col(years).list.len() == 0)
            .then(pl.lit(texts["no_year_hit"]))
            .otherwise(_filled(texts["years_hit"], {"years": _years(years, year_sep)}))
        )
        values = {"date": pl.col(on), "window": window, "hit": hit}
        text = pl.when(pl.col(inside)).then(_filled(texts[f"{prefix}_inside"], values))
        return pl.when(pl.col(on).is_not_null()).then(
            text.otherwise(_filled(texts[f"{prefix}_outside"], values))
        )

    base_window = f"{min(base_years, default=0)}{range_sep}{max(base_years, default=0)}"
    said = _joined(
        [
            dates("reduction", "reduction_project_on", "reduction_in_window", "reduction_project_years",
                  f"{rp_first}{range_sep}{rp_last}"),
            dates("major_change", "major_change_on", "major_change_in_window", "major_change_years", base_window),
        ],
        note_sep,
    )  # fmt: skip
    return _joined([dropped, note], note_sep), restated, said


# Rows an explanation is written for at a time: Polars evaluates every branch of the expressions
# below for every row before it picks one, so over a whole year of 100,000 enterprises (222,000
# lines, ~1 KB of words each) the branches' texts held ~0.8 GB at once, the run's largest peak.
EXPLAINED_AT_ONCE = 20_000


def explained(df: pl.DataFrame, explanation: pl.Expr) -> pl.DataFrame:
    """`df` with the column of `explanation` (`line_explanation`, `enterprise_explanation`),
    written `EXPLAINED_AT_ONCE` rows at a time: the same words (each row's come from its own
    columns and the pack), a bounded part of the memory."""
    if df.height <= EXPLAINED_AT_ONCE:
        return df.with_columns(explanation)
    return pl.concat([part.with_columns(explanation) for part in df.iter_slices(EXPLAINED_AT_ONCE)])


def pct_text(share: Decimal) -> str:
    """0.20 → '20' (a share as the percentage an explanation cites)."""
    return format((Decimal(share) * 100).normalize(), "f")


def line_explanation(policy: Policy) -> pl.Expr:
    """The `explanation` of `mart.allocation_line` (Chinese, then English).

    Columns used: the line's codes (`method`, `method_reason`), its facts (`enterprise_shutdown_years`,
    `commissioned_on`, `first_full_year`, `new_build_years`, `kept_years`, and the base-year codes
    and numbers of `base_year_texts`), its numbers (`benchmark_text`: the
    benchmark as the pack writes it, `baseline`, `output_y`, `production_days_y`, `co2_y_t`, the
    three allocations) and `is_improved_on_prior_year`; the other values are the pack's."""
    base_years = [int(y) for y in policy.base_years.value]
    version = policy.version
    ent_days = str(policy.equal_enterprise_shutdown_days.value)
    m = pl.col("method")
    historical = m.is_in(["intensity", "total"]) | (pl.col("method_reason") == "fallback_total_to_equal")
    a_co2, a_non, a = _s("allocation_co2_t"), _s("allocation_non_co2_t"), _s("allocation_t")
    improved = pl.col("is_improved_on_prior_year")

    def note(text: pl.Expr, lead: str) -> pl.Expr:  # null (left out) when there is nothing to say
        return pl.concat_str(pl.lit(lead), text)

    def years(lang: int, head: str, none: str, dropped: str, end: str) -> pl.Expr:
        """The base years kept, the others with why, the restatements and the dates' effect."""
        sep = SEPARATORS[lang][0]
        kept = _years("kept_years", sep)
        why, restated, dates = base_year_texts(policy, lang)
        return (
            pl.when(historical)
            .then(
                _cat(
                    head.replace("{years}", sep.join(map(str, base_years))),
                    kept.replace("", none),
                    note(why, dropped),
                    note(restated, end),
                    note(dates, end),
                    end,
                )
            )
            .otherwise(pl.lit(""))
        )

    years_zh = years(0, "基准年{years}中采用", "无", "，剔除：", "；")
    years_en = years(1, "of base years {years} kept ", "none", ", dropped: ", "; ")
    ki, kt = str(policy.k_intensity.value), str(policy.k_total.value)
    bc = policy.benchmark_correction.value
    corrected_zh, corrected_en = ("", "") if bc == 1 else (f" × 修正系数 {bc}", f" × correction {bc}")
    formula_zh = (
        pl.when(m == "benchmark")
        .then(_cat("二氧化碳配额 = 基准值 ", _s("benchmark_text"), " × 产量 ", _s("output_y"), corrected_zh))
        .when(m == "intensity")
        .then(
            _cat(
                "强度基准值 I = ",
                _s("baseline"),
                "，二氧化碳配额 = I × 产量 ",
                _s("output_y"),
                " × 调节系数 " + ki,
            )
        )
        .when(m == "total")
        .then(
            _cat(
                "日均排放基准值 D = ",
                _s("baseline"),
                " t/天，二氧化碳配额 = D × 生产天数 ",
                _s("production_days_y"),
                " × 调节系数 " + kt,
            )
        )
        .when(m == "equal")
        .then(_cat("二氧化碳配额 = ", _s("compliance_year"), "年度经核查二氧化碳排放量 ", _s("co2_y_t")))
        .otherwise(pl.lit(""))
    )
    formula_en = (
        pl.when(m == "benchmark")
        .then(_cat("CO2 allocation = BM ", _s("benchmark_text"), " × Q ", _s("output_y"), corrected_en))
        .when(m == "intensity")
        .then(_cat("I = ", _s("baseline"), ", CO2 allocation = I × Q ", _s("output_y"), " × k " + ki))
        .when(m == "total")
        .then(
            _cat(
                "D = ",
                _s("baseline"),
                " t/day, CO2 allocation = D × N ",
                _s("production_days_y"),
                " days × k " + kt,
            )
        )
        .when(m == "equal")
        .then(_cat("CO2 allocation = verified CO2 of ", _s("compliance_year"), " ", _s("co2_y_t")))
        .otherwise(pl.lit(""))
    )
    amounts_zh = (
        pl.when(m == "excluded")
        .then(pl.lit("不分配配额"))
        .otherwise(
            _cat(formula_zh, " = ", a_co2, " t；非二氧化碳（等量法）", a_non, " t；生产线配额 ", a, " t")
        )
    )
    amounts_en = (
        pl.when(m == "excluded")
        .then(pl.lit("no allocation"))
        .otherwise(
            _cat(formula_en, " = ", a_co2, " t; non-CO2 (equal) ", a_non, " t; line allocation ", a, " t")
        )
    )
    improved_zh = (
        pl.when(improved).then(pl.lit("；较上年改善")).when(~improved).then(pl.lit("；未较上年改善"))
    )
    improved_en = (
        pl.when(improved)
        .then(pl.lit("; improved on the prior year"))
        .when(~improved)
        .then(pl.lit("; not improved on the prior year"))
    )
    rule = _by_code("method_reason", {k: r.rule for k, r in REASONS.items()})
    return _cat(
        _s("line_id"), "（", _s("compliance_year"), "年度）：",
        _by_code("method", {k: v[0] for k, v in METHODS.items()}), "（规则", rule, "：", _why(0, ent_days), "）。", years_zh,
        amounts_zh, improved_zh.otherwise(pl.lit("")), f"。规则包 {version}。 / ",
        "Line ", _s("line_id"), " (", _s("compliance_year"), "): ",
        _by_code("method", {k: v[1] for k, v in METHODS.items()}), " (rule ", rule, ": ", _why(1, ent_days), "); ", years_en,
        amounts_en, improved_en.otherwise(pl.lit("")), f". Rule pack {version}.",
    ).alias("explanation")  # fmt: skip


def enterprise_explanation(policy: Policy) -> pl.Expr:
    """The `explanation` of `mart.allocation_enterprise` (Chinese, then English).

    Columns used: the enterprise's numbers (`verified_emissions_t`, `allocation_raw_t`,
    `allocation_adjusted_t` = A_adj before rounding, `incentive_t`, `allocation_final_t`, `gap_t`,
    `borrowable_t`, `preallocation_next_t`) and the rules that fired (`adjustment_step`: the
    exemption or cap that bound; `incentive_reason`, with `weather_grade` and
    `lines_not_improved`; `is_energy_efficiency_eligible`; `preallocation_reason`); the pack gives
    the shares and maxima as it writes them, and the weather grades that earn the incentive."""
    p = policy
    year, version = p.year, p.version
    gap_pct, gap_max = pct_text(p.gap_exemption_share.value), str(p.gap_exemption_max_t.value)
    sur_pct, sur_max = pct_text(p.surplus_cap_share.value), str(p.surplus_cap_max_t.value)
    ee_pct, inc_max = str(p.energy_efficiency_incentive_pct.value), str(p.incentive_max_t.value)
    bor_pct, pre_pct = pct_text(p.borrowing_threshold_share.value), pct_text(p.preallocation_share.value)
    step, inc, pre = pl.col("adjustment_step"), pl.col("incentive_reason"), pl.col("preallocation_reason")
    adj, grade, sector = _s("allocation_adjusted_t"), _s("weather_grade"), _s("sector_label")
    has_incentive = (inc == "eligible").fill_null(False) | pl.col("is_energy_efficiency_eligible")
    none = pl.lit("")

    def adjustment(words: dict[str, tuple[str, ...]]) -> pl.Expr:
        out = pl.when(pl.lit(False)).then(none)
        for code, parts in words.items():
            out = out.when(step == code).then(_cat(*parts))
        return out.otherwise(none)

    adj_zh = adjustment(
        {
            "gap_exemption_share": (
                f"缺口超过排放量的{gap_pct}%，按 (1 − {gap_pct}%) × E 核定为 ",
                adj,
                " t；",
            ),
            "gap_exemption_max": (f"缺口超过{gap_max} t，按 E − {gap_max} 核定为 ", adj, " t；"),
            "surplus_cap_share": (
                f"盈余超过排放量的{sur_pct}%，按 (1 + {sur_pct}%) × E 核定为 ",
                adj,
                " t；",
            ),
            "surplus_cap_max": (f"盈余超过{sur_max} t，按 E + {sur_max} 核定为 ", adj, " t；"),
        }
    )
    adj_en = adjustment(
        {
            "gap_exemption_share": (f"gap above {gap_pct}% of E: A = (1 − {gap_pct}%) × E = ", adj, " t; "),
            "gap_exemption_max": (f"gap above {gap_max} t: A = E − {gap_max} = ", adj, " t; "),
            "surplus_cap_share": (f"surplus above {sur_pct}% of E: A = (1 + {sur_pct}%) × E = ", adj, " t; "),
            "surplus_cap_max": (f"surplus above {sur_max} t: A = E + {sur_max} = ", adj, " t; "),
        }
    )
    not_improved = _s("lines_not_improved")
    grades = p.incentive_grades.value  # the pack's grades earning the incentive
    grades_zh = f"重污染天气绩效分级非{'、'.join(grades)}级" if grades else "规则包无享受激励的绩效分级"
    grades_en = f"weather grade not {' or '.join(grades)}" if grades else "the rule pack lists no grade"
    incentive_zh = (
        pl.when(inc == "eligible")
        .then(
            _cat(
                "减污降碳协同激励（重污染天气绩效",
                grade,
                "级、无行政处罚、未涉嫌违法、各生产线较上年均改善）",
            )
        )
        .when(inc == "penalized")
        .then(pl.lit("受到生态环境行政处罚，不享受协同激励；"))
        .when(inc == "under_investigation")
        .then(pl.lit("涉嫌生态环境违法，不享受协同激励；"))
        .when(inc == "weather_grade")
        .then(pl.lit(f"{grades_zh}，不享受协同激励（绩效条件）；"))
        .when(inc == "no_comparable_line")
        .then(pl.lit("无基准线法、强度法或总量法生产线，不享受协同激励（绩效条件）；"))
        .when(inc == "not_improved")
        .then(_cat(not_improved, "条生产线未较上年改善，不享受协同激励（绩效条件）；"))
        .otherwise(none)
    )
    incentive_en = (
        pl.when(inc == "eligible")
        .then(
            _cat(
                "synergy incentive (weather grade ", grade,
                ", no penalty, no suspected violation, every line improved on the prior year)",
            )
        )
        .when(inc == "penalized")
        .then(pl.lit("no synergy incentive: administrative penalty; "))
        .when(inc == "under_investigation")
        .then(pl.lit("no synergy incentive: suspected violation under investigation; "))
        .when(inc == "weather_grade")
        .then(pl.lit(f"no synergy incentive (grade criterion): {grades_en}; "))
        .when(inc == "no_comparable_line")
        .then(pl.lit("no synergy incentive (grade criterion): no benchmark, intensity or total line; "))
        .when(inc == "not_improved")
        .then(_cat("no synergy incentive (grade criterion): ", not_improved, " line(s) did not improve on the prior year; "))
        .otherwise(none)
    )  # fmt: skip
    ee = pl.col("is_energy_efficiency_eligible")
    ee_zh = pl.when(ee).then(pl.lit(f"单位产品能效达到标杆水平（激励比例 {ee_pct}%）")).otherwise(none)
    ee_en = pl.when(ee).then(pl.lit(f" energy efficiency at the benchmark level ({ee_pct}%)")).otherwise(none)
    plus_zh = pl.when(has_incentive).then(_cat("增发 ", _s("incentive_t"), f" t（合计不超过 {inc_max} t）；"))
    plus_en = pl.when(has_incentive).then(_cat(" +", _s("incentive_t"), f" t (at most {inc_max} t in all); "))
    borrow_zh = f"，缺口超过排放量{bor_pct}%的部分可预支 " if p.borrowing_enabled.value else None
    borrow_en = f", borrowable (gap above {bor_pct}% of E) " if p.borrowing_enabled.value else None
    borrowable = _s("borrowable_t")
    nxt = year + 1
    pre_zh = (
        pl.when(pre == "cancelled")
        .then(pl.lit(f"，{nxt}年度预分配已取消"))
        .when(pre == "excluded_sector")
        .then(_cat("，", sector, f"暂不预分配{nxt}年度配额"))
        .when(pre == "granted")
        .then(_cat(f"，{nxt}年度预分配 ", _s("preallocation_next_t"), f" t（{pre_pct}%）"))
        .otherwise(none)
    )
    pre_en = (
        pl.when(pre == "cancelled")
        .then(pl.lit(f", pre-allocation of {nxt} cancelled"))
        .when(pre == "excluded_sector")
        .then(_cat(f", no pre-allocation of {nxt} for ", sector))
        .when(pre == "granted")
        .then(_cat(f", pre-allocation of {nxt} ", _s("preallocation_next_t"), f" t ({pre_pct}%)"))
        .otherwise(none)
    )
    e, a_raw, a_final, gap = (
        _s("verified_emissions_t"), _s("allocation_raw_t"), _s("allocation_final_t"), _s("gap_t"),
    )  # fmt: skip
    return _cat(
        _s("name"), "（", _s("enterprise_id"), f"，{year}年度）：经核查排放量 E = ", e,
        " t，各生产线配额合计 A_raw = ", a_raw, " t；", adj_zh, incentive_zh, ee_zh, plus_zh.otherwise(none),
        "年度配额 A_final = ", a_final, " t，缺口 ", gap, " t",
        _cat(borrow_zh, borrowable, " t") if borrow_zh else none, pre_zh, f"。规则包 {version}。 / ",
        "Enterprise ", _s("enterprise_id"), f" ({year}): verified emissions E = ", e,
        " t, sum of line allocations A_raw = ", a_raw, " t; ", adj_en, incentive_en, ee_en, plus_en.otherwise(none),
        "A_final = ", a_final, " t, gap ", gap, " t",
        _cat(borrow_en, borrowable, " t") if borrow_en else none, pre_en, f". Rule pack {version}.",
    ).alias("explanation")  # fmt: skip


def quarantine_where(r: dict) -> str:
    """ "file sheet S row N column C value 'v': message" of a row of audit.quarantine."""
    where = r["source_file"] or "(inbox)"
    if r["sheet"]:
        where += f" sheet {r['sheet']}"
    if r["row_number"] is not None:
        where += f" row {r['row_number']}"
    if r["column_name"]:
        where += f" column {r['column_name']}"
    value = f" value '{r['value']}'" if r["value"] is not None else ""
    return f"{where}{value}: {r['message']}"
