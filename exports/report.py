"""The year's report for people: ONE self-contained HTML file with inline CSS and SVG charts.

Nothing is loaded from elsewhere (no CDN, fonts or scripts; a Content-Security-Policy meta tag
makes the browser refuse any outside request). The font is embedded: a subset of Noto Sans SC
with only the characters of the page (`exports.fonts`), so Chinese renders on a server without
CJK fonts. Every text is escaped. Each chart is an inline
`<svg role="img">` with a `<title>` and a `<desc>` that says in words what it shows, and every
bar has its own `<title>` with the exact figure. A tiny inline script only makes the table of
largest gaps sortable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from pathlib import Path

import polars as pl

from exports.fonts import font_face_css, font_note
from model import catalog
from model.labels import (
    ADJUSTMENTS,
    METHODS,
    STATUSES,
    adjustment_label,
    adjustment_parts,
    is_exemption,
    label,
)
from model.results import YearResults

TOP_GAPS = 15
# Gap as % of E, half-open bins [lo, hi); None is an open end. Exactly 20% (the 2021/2022
# exemption cap) falls in "≥ 20".
GAP_BINS: tuple[tuple[int | None, int | None], ...] = (
    (None, -20), (-20, -15), (-15, -10), (-10, -5), (-5, 0),
    (0, 5), (5, 10), (10, 15), (15, 20), (20, None),
)  # fmt: skip
COLORS = ("#1f5f99", "#d9822b", "#3a8f5c", "#8a4f9e", "#b23b3b", "#5f6b73")
# Clearance colours mean something: green cleared, amber pending or late, red not cleared, grey
# for units without an obligation to judge. Labels are always printed too (colour is never alone).
STATUS_COLORS = {
    "cleared_on_time": "#2e7d32",
    "cleared_late": "#d98200",
    "pending": "#f2b705",
    "not_cleared": "#c62828",
    "missing_verification": "#7a7f85",
    "excluded": "#a9aeb3",
}

CSS = """
:root { --ink:#1d2731; --muted:#5f6b73; --line:#d5dbe0; --accent:#1f5f99; --warn:#9c0006; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 24px; color: var(--ink); line-height: 1.45;
  font-family: "etsflow Noto Sans SC", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
  system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 4px; } h2 { font-size: 1.2rem; margin: 0 0 8px; }
.en { color: var(--muted); font-size: .92em; } .sub { margin: 0 0 16px; }
section { border-top: 1px solid var(--line); padding: 16px 0; }
.banner { background: #ffc7ce; color: var(--warn); border: 1px solid var(--warn); padding: 10px 14px;
  border-radius: 6px; font-weight: 600; margin: 12px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 12px; margin: 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; margin: 0; }
.card dt { font-size: .85rem; color: var(--muted); } .card dd { margin: 4px 0 0; font-size: 1.35rem;
  font-weight: 700; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #eef3f8; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
th[data-sort] { cursor: pointer; }
svg.chart { width: 100%; height: auto; max-width: 900px; display: block; }
svg.chart text { font-size: 12px; fill: var(--ink); } svg.chart .value { fill: var(--muted); }
svg.chart .axis { stroke: var(--muted); stroke-width: 1; }
.empty { color: var(--muted); font-style: italic; }
footer { color: var(--muted); font-size: .85rem; border-top: 1px solid var(--line); padding-top: 12px; }
"""

# Sort the table of largest gaps by a click on its header; mark the page as scripted.
SCRIPT = """
(function () {
  document.documentElement.setAttribute("data-script", "ok");
  var table = document.getElementById("top-gaps-table");
  if (!table) { return; }
  var heads = table.querySelectorAll("th[data-sort]");
  heads.forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute("aria-sort") !== "ascending";
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        return asc ? c : -c;
      });
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
"""


def write_report(
    results: YearResults,
    path: Path,
    history: pl.DataFrame | None = None,
    version: dict | None = None,
    changes: pl.DataFrame | None = None,
    stamp: str | None = None,
) -> Path:
    """Write the report of the year to `path` (temporary file, then rename) and return `path`.

    `history`, when given, holds `cap_summary` rows of other compliance years (catalog columns);
    the report then adds a chart of the total cap by year. `version` (a row of
    `mart.allocation_version`) and `changes` (its rows of `mart.allocation_change`) add the
    version section (exports/versions.py).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(results, history, version, changes, stamp), encoding="utf-8")
    os.replace(tmp, path)
    return path


def render_report(
    results: YearResults,
    history: pl.DataFrame | None = None,
    version: dict | None = None,
    changes: pl.DataFrame | None = None,
    stamp: str | None = None,
) -> str:
    """The report as one HTML string (see `write_report`); `stamp` names the publication it shows
    (printed under the title)."""
    from exports.versions import version_section

    y, place = results.year, results.policy.place
    sections = [
        _headline(results),
        *([version_section(version, changes)] if version is not None else []),
        _by_sector(results.allocation_enterprise),
        _by_method(results.allocation_line),
        _gap_histogram(results.allocation_enterprise),
        _adjustments(results.allocation_enterprise),
        _clearance(results.clearance_status),
        _top_gaps(results.allocation_enterprise, results.clearance_status),
    ]
    if history is not None:
        sections.append(_history(results, history))
    banner = ""
    if results.is_provisional:
        params = "；".join(results.policy.provisional_labels()) or "—"
        banner = (
            '<p class="banner" role="alert" id="provisional">临时结果：本年度结果使用了待确认的临时参数（'
            f"{escape(params)}），正式参数确认后可能变化。<br>PROVISIONAL: computed with provisional "
            "rule-pack parameters; figures may change when the official values are confirmed.</p>"
        )
    banner = _partial_banner(results) + banner
    title = f"{y}年度碳排放配额分配与清缴报告 / Allocation and clearance report {y}"
    page = "\n".join(
        [
            *page_head(title),
            "<body>",
            "<header>",
            f"<h1>{escape(place.title('report_title', y))}</h1>",
            f'<p class="en sub">{escape(place.title("report_title_en", y))}</p>',
            f'<p class="en sub" id="publication">{escape(stamp)}</p>' if stamp else "",
            "</header>",
            banner,
            "<main>",
            *sections,
            "</main>",
            "<footer>",
            f"<p>规则包 Rule pack: {escape(results.policy.version)} — "
            f"{escape(results.policy.pack.title)}</p>",
            "<p>数据来源 Source: mart.allocation_line, mart.allocation_enterprise, mart.cap_summary, "
            "mart.clearance_status, mart.clearance_item. 单位 Unit: tCO2e.</p>",
            FONT_NOTE_SLOT,
            "</footer>",
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )
    return embed_font(page)


def page_head(title: str) -> list[str]:
    """The lines from the doctype to `</head>` of a page for people: no outside request allowed
    (Content-Security-Policy), the styles, and the slot of the embedded font (`embed_font`)."""
    return [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; font-src data:\">",
        f"<title>{escape(title)}</title>",
        f"<style>{FONT_SLOT}{CSS}</style>",
        "</head>",
    ]


FONT_SLOT = "/*font-face*/"
FONT_NOTE_SLOT = "<!--font-note-->"


def embed_font(page: str) -> str:
    """Fill the page's font slots: the `@font-face` of the subset for the page's characters and
    the footer's sentence about the font (`exports.fonts`)."""
    note = f'<p class="font-note">{escape(font_note(page))}</p>'
    page = page.replace(FONT_NOTE_SLOT, note, 1)
    return page.replace(FONT_SLOT, font_face_css(page), 1)


def _partial_banner(results: YearResults) -> str:
    """First thing on the page when listed enterprises were left out (mart.cap_summary.partial):
    how many, which (clearance status not_allocated), and that the totals are not the year's."""
    cap = results.cap_summary
    if cap.height == 0 or "partial" not in cap.columns or not cap["partial"].fill_null(False).any():
        return ""
    n = int(cap["enterprises_left_out"].fill_null(0).sum())
    ids = sorted(
        results.clearance_status.filter(pl.col("status") == "not_allocated")["enterprise_id"].to_list()
    )
    return (
        '<p class="banner" role="alert" id="partial">部分结果：本年度有 '
        f"{n} 家重点排放单位因输入数据被隔离未参与分配，配额总量及各项合计不含这些单位：{escape('、'.join(ids))}。"
        f"<br>PARTIAL: {n} listed enterprise(s) were left out of this publication (quarantined input); "
        f"the total cap and every total here exclude them: {escape(', '.join(ids))}.</p>"
    )


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------
def _section(id_: str, zh: str, en: str, *body: str) -> str:
    return (
        f'<section id="{id_}" aria-labelledby="{id_}-h">'
        f'<h2 id="{id_}-h">{escape(zh)} <span class="en">{escape(en)}</span></h2>'
        + "".join(body)
        + "</section>"
    )


def _headline(results: YearResults) -> str:
    ents = results.allocation_enterprise
    cards: list[tuple[str, str, str]] = []
    if results.cap_summary.height:
        cap = results.cap_summary.row(0, named=True)
        cards += [
            ("total_cap_t", "配额总量 Total cap", _t(cap["total_cap_t"])),
            ("reserve_t", "政府预留配额 Government reserve", _t(cap["reserve_t"])),
            ("enterprise_total_t", "单位配额总量 Enterprise total", _t(cap["enterprise_total_t"])),
            ("enterprise_count", "纳入单位数量 Enterprises allocated", _t(cap["enterprise_count"])),
        ]
    e_total = _sum(ents["verified_emissions_t"])
    cards += [
        ("verified_emissions_t", "经核查排放量 Verified emissions", _t(e_total)),
        ("gap_t", "净缺口 Net gap (E − final)", _t(_sum(ents["gap_t"]))),
        ("line_count", "生产线数量 Lines", _t(results.allocation_line.height)),
    ]
    dl = "".join(
        f'<div class="card" id="fig-{k}"><dt>{escape(name)}</dt><dd>{escape(v)}</dd></div>'
        for k, name, v in cards
    )
    return _section("headline", "总体情况", "Headline figures (tCO2e)", f'<dl class="cards">{dl}</dl>')


def _by_sector(ents: pl.DataFrame) -> str:
    rows = (
        ents.group_by("sector_label")
        .agg(pl.col("allocation_final_t").sum().alias("t"), pl.len().alias("n"))
        .sort(["t", "sector_label"], descending=[True, False])
    )
    items = [(f"{r['sector_label'] or '—'}（{r['n']}家）", r["t"]) for r in rows.iter_rows(named=True)]
    chart = _hbar(
        "chart-sector",
        "按行业的年度配额 / Final allocation by sector",
        "Horizontal bars: Σ allocation_final_t (tCO2e) of each sector label, number of enterprises "
        "in brackets. " + _listing(items),
        items,
    )
    return _section("by-sector", "分行业配额", "Allocation by sector", chart)


def _by_method(lines: pl.DataFrame) -> str:
    rows = {
        r["method"]: r
        for r in lines.group_by("method")
        .agg(pl.col("allocation_t").sum().alias("t"), pl.len().alias("n"))
        .iter_rows(named=True)
    }
    order = [m for m in catalog.METHODS if m in rows] + sorted(m for m in rows if m not in catalog.METHODS)
    items = [(f"{label(METHODS, m)}（{rows[m]['n']}条）", rows[m]["t"]) for m in order]
    chart = _hbar(
        "chart-method",
        "按分配方法的生产线配额 / Line allocation by method",
        "Horizontal bars: Σ allocation_t (tCO2e) of the lines of each method, number of lines in "
        "brackets. " + _listing(items),
        items,
    )
    return _section("by-method", "分方法配额", "Allocation by method", chart)


def gap_pct(gap: Decimal | None, emissions: Decimal | None) -> Decimal | None:
    """Gap as a percentage of E (exact decimal); None when E is missing or zero."""
    if gap is None or not emissions:
        return None
    return Decimal(gap) * 100 / Decimal(emissions)


def gap_histogram(ents: pl.DataFrame) -> tuple[list[tuple[str, int]], int]:
    """[(bin label, enterprises)] over GAP_BINS, and the number of enterprises with E = 0."""
    counts = [0] * len(GAP_BINS)
    undefined = 0
    for gap, e in ents.select("gap_t", "verified_emissions_t").iter_rows():
        pct = gap_pct(gap, e)
        if pct is None:
            undefined += 1
            continue
        for i, (lo, hi) in enumerate(GAP_BINS):
            if (lo is None or pct >= lo) and (hi is None or pct < hi):
                counts[i] += 1
                break
    return [(_bin_label(lo, hi), n) for (lo, hi), n in zip(GAP_BINS, counts, strict=True)], undefined


def _bin_label(lo: int | None, hi: int | None) -> str:
    if lo is None:
        return f"< {hi}%"
    if hi is None:
        return f"≥ {lo}%"
    return f"{lo}…{hi}%"


def _gap_histogram(ents: pl.DataFrame) -> str:
    bins, undefined = gap_histogram(ents)
    note = f" {undefined} enterprise(s) with E = 0 are not shown." if undefined else ""
    chart = _vbar(
        "chart-gaps",
        "配额缺口占排放量比例分布 / Distribution of gap as % of verified emissions",
        "Histogram of enterprises by (E − final allocation) / E in percent, bins of 5 points, "
        "lower bound included; negative means surplus. " + _listing(bins, unit="家 enterprises") + note,
        bins,
    )
    return _section("gaps", "缺口分布", "Distribution of gaps", chart)


def adjustment_rows(ents: pl.DataFrame) -> list[tuple[str, int, Decimal | int]]:
    """(rule in words, enterprises, tonnes) per exemption/cap part of adjustment_rule, then the
    incentive and the borrowable tonnes.

    The tonnes of an exemption or cap are A_final − A_raw − incentive (so they include the
    rounding of that enterprise to whole tonnes).
    """
    by_part: dict[str, tuple[int, Decimal]] = {}
    for rule, adj, inc in ents.select("adjustment_rule", "adjustment_t", "incentive_t").iter_rows():
        for part in filter(is_exemption, adjustment_parts(rule)):
            n, t = by_part.get(part, (0, Decimal(0)))
            by_part[part] = (n + 1, t + (adj or Decimal(0)) - (inc or 0))
    out: list[tuple[str, int, Decimal | int]] = [
        (label(ADJUSTMENTS, part), n, t) for part, (n, t) in sorted(by_part.items())
    ]
    for col, name in (
        ("incentive_t", "减污降碳协同激励 / synergy incentive"),
        ("borrowable_t", "可预支下年度预分配 / borrowable from next pre-allocation"),
    ):
        applied = ents.filter(pl.col(col) > 0)
        if applied.height:
            out.append((name, applied.height, applied[col].sum()))
    return out


def _adjustments(ents: pl.DataFrame) -> str:
    body = adjustment_rows(ents)
    if not body:
        return _section(
            "adjustments", "豁免与上限调整", "Exemptions and caps applied",
            '<p class="empty">本年度没有单位适用豁免或上限调整。No exemption or cap was applied.</p>',
        )  # fmt: skip
    table = _table(
        "adjustments-table",
        [("调整 Rule", False), ("单位数 Enterprises", True), ("调整量合计 Tonnes (tCO2e)", True)],
        [[(name, None), (_t(n), n), (_t(t), t)] for name, n, t in body],
    )
    return _section("adjustments", "豁免与上限调整", "Exemptions and caps applied", table)


def _clearance(status: pl.DataFrame) -> str:
    if status.height == 0:
        return _section(
            "clearance", "清缴状态", "Clearance status",
            '<p class="empty">尚无清缴数据。No clearance data for this year yet.</p>',
        )  # fmt: skip
    counts = dict(status.group_by("status").len().iter_rows())
    order = [s for s in catalog.STATUSES if s in counts] + sorted(
        s for s in counts if s not in catalog.STATUSES
    )
    items = [(label(STATUSES, s), counts[s]) for s in order]
    as_of = status["as_of"].max()
    chart = _hbar(
        "chart-clearance",
        f"清缴状态（截至{as_of}）/ Clearance status as of {as_of}",
        "Horizontal bars: number of enterprises in each clearance status. " + _listing(items, unit="家"),
        items,
        colors=[STATUS_COLORS.get(s, COLORS[5]) for s in order],
    )
    shortfall = _sum(status["shortfall_t"])
    text = (
        f"<p>截至 As of {escape(str(as_of))}：未清缴量合计 total shortfall "
        f'<strong id="fig-shortfall_t">{escape(_t(shortfall))}</strong> t；'
        f"清缴期限 deadline {escape(str(status['deadline'].max()))}。</p>"
    )
    return _section("clearance", "清缴状态", "Clearance status", chart, text)


def _top_gaps(ents: pl.DataFrame, status: pl.DataFrame) -> str:
    statuses = dict(status.select("enterprise_id", "status").iter_rows()) if status.height else {}
    top = ents.sort(["gap_t", "enterprise_id"], descending=[True, False]).head(TOP_GAPS)
    heads = [
        ("# ", True), ("单位编号 ID", False), ("单位名称 Name", False), ("行业 Sector", False),
        ("排放量 E", True), ("年度配额 Final", True), ("缺口 Gap", True), ("缺口% Gap % of E", True),
        ("调整 Adjustment", False), ("可预支 Borrowable", True), ("清缴状态 Status", False),
    ]  # fmt: skip
    rows = []
    for i, r in enumerate(top.iter_rows(named=True), start=1):
        pct = gap_pct(r["gap_t"], r["verified_emissions_t"])
        rows.append(
            [
                (str(i), i),
                (r["enterprise_id"], None),
                (r["name"] or "", None),
                (r["sector_label"] or "", None),
                (_t(r["verified_emissions_t"]), r["verified_emissions_t"]),
                (_t(r["allocation_final_t"]), r["allocation_final_t"]),
                (_t(r["gap_t"]), r["gap_t"]),
                ("—" if pct is None else _pct(pct), pct),
                (adjustment_label(r["adjustment_rule"]), None),
                (_t(r["borrowable_t"]), r["borrowable_t"]),
                (label(STATUSES, statuses.get(r["enterprise_id"])) or "—", None),
            ]
        )
    table = _table("top-gaps-table", heads, rows, sortable=True)
    return _section(
        "top-gaps",
        f"缺口最大的{TOP_GAPS}家单位",
        f"The {TOP_GAPS} enterprises with the largest gaps (tCO2e)",
        table,
    )


def _history(results: YearResults, history: pl.DataFrame) -> str:
    cols = ["compliance_year", "total_cap_t"]
    both = (
        pl.concat([history.select(cols).cast({c: pl.Int64 for c in cols}),
                   results.cap_summary.select(cols).cast({c: pl.Int64 for c in cols})])
        .unique("compliance_year", keep="last")
        .sort("compliance_year")
    )  # fmt: skip
    items = [(str(y), t) for y, t in both.iter_rows()]
    chart = _vbar(
        "chart-history",
        "历年配额总量 / Total cap by compliance year",
        "Vertical bars: total_cap_t (tCO2e) of each published compliance year. " + _listing(items),
        items,
    )
    return _section("history", "历年对比", "Compared with other years", chart)


# ---------------------------------------------------------------------------------------------
# Charts and tables
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Geom:
    width: int = 900
    label_w: int = 300  # horizontal bars: room for the labels on the left
    value_w: int = 120  # … and for the figures on the right
    bar_h: int = 24
    gap: int = 8
    pad: int = 10


def _svg_open(id_: str, title: str, desc: str, width: int, height: int) -> str:
    return (
        f'<figure><svg class="chart" id="{id_}" role="img" aria-labelledby="{id_}-title {id_}-desc" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">'
        f'<title id="{id_}-title">{escape(title)}</title><desc id="{id_}-desc">{escape(desc)}</desc>'
    )


def _empty_chart(id_: str, title: str) -> str:
    return f'<p class="empty" id="{id_}">{escape(title)}: 无数据 / no data.</p>'


def _hbar(
    id_: str,
    title: str,
    desc: str,
    items: Sequence[tuple[str, object]],
    colors: Sequence[str] | None = None,
) -> str:
    """Horizontal bar chart of (label, value ≥ 0) pairs; negative values are drawn as zero.
    `colors` gives each bar its colour (else the palette in turn)."""
    if not items:
        return _empty_chart(id_, title)
    g = _Geom()
    values = [max(float(v or 0), 0.0) for _, v in items]
    top = max(values) or 1.0
    plot_w = g.width - g.label_w - g.value_w
    height = g.pad * 2 + len(items) * (g.bar_h + g.gap)
    out = [_svg_open(id_, title, desc, g.width, height)]
    for i, ((name, v), fv) in enumerate(zip(items, values, strict=True)):
        y = g.pad + i * (g.bar_h + g.gap)
        w = plot_w * fv / top
        mid = y + g.bar_h / 2 + 4
        out.append(
            f'<g class="bar"><title>{escape(name)}: {escape(_t(v))}</title>'
            f'<text x="{g.label_w - 8}" y="{mid:.1f}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{g.label_w}" y="{y}" width="{w:.1f}" height="{g.bar_h}" '
            f'fill="{colors[i] if colors else COLORS[i % len(COLORS)]}"/>'
            f'<text class="value" x="{g.label_w + w + 6:.1f}" y="{mid:.1f}">{escape(_t(v))}</text></g>'
        )
    out.append(
        f'<line class="axis" x1="{g.label_w}" y1="{g.pad / 2}" x2="{g.label_w}" y2="{height - g.pad / 2}"/>'
    )
    out.append("</svg></figure>")
    return "".join(out)


def _vbar(id_: str, title: str, desc: str, items: Sequence[tuple[str, object]]) -> str:
    """Vertical bar chart (histogram look) of (label, value ≥ 0) pairs."""
    if not items:
        return _empty_chart(id_, title)
    g = _Geom()
    plot_h, top_pad, label_h = 220, 24, 30
    height = top_pad + plot_h + label_h
    values = [max(float(v or 0), 0.0) for _, v in items]
    top = max(values) or 1.0
    slot = min((g.width - 2 * g.pad) / len(items), 110)
    base = top_pad + plot_h
    out = [_svg_open(id_, title, desc, g.width, height)]
    for i, ((name, v), fv) in enumerate(zip(items, values, strict=True)):
        h = plot_h * fv / top
        x = g.pad + i * slot
        cx = x + slot / 2
        out.append(
            f'<g class="bar"><title>{escape(name)}: {escape(_t(v))}</title>'
            f'<rect x="{x + slot * 0.1:.1f}" y="{base - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
            f'fill="{COLORS[0]}"/>'
            f'<text class="value" x="{cx:.1f}" y="{base - h - 6:.1f}" '
            f'text-anchor="middle">{escape(_t(v))}</text>'
            f'<text x="{cx:.1f}" y="{base + 18}" text-anchor="middle">{escape(name)}</text></g>'
        )
    out.append(
        f'<line class="axis" x1="{g.pad}" y1="{base}" x2="{g.pad + slot * len(items):.1f}" y2="{base}"/>'
    )
    out.append("</svg></figure>")
    return "".join(out)


def _table(
    id_: str,
    heads: Sequence[tuple[str, bool]],
    rows: Iterable[Sequence[tuple[str, object]]],
    *,
    sortable: bool = False,
) -> str:
    """A table; heads are (text, is_numeric), cells are (text, sort value or None)."""
    sort = " data-sort" if sortable else ""
    num_cls = ' class="num"'
    th = "".join(f'<th scope="col"{sort}{num_cls if num else ""}>{escape(text)}</th>' for text, num in heads)
    body = []
    for row in rows:
        cells = []
        for (text, raw), (_, num) in zip(row, heads, strict=True):
            v = escape(str(raw if raw is not None else text))
            cells.append(f'<td{num_cls if num else ""} data-v="{v}">{escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="{id_}"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _listing(items: Sequence[tuple[str, object]], unit: str = "tCO2e") -> str:
    return "; ".join(f"{name}: {_t(v)} {unit}" for name, v in items) + "."


def _sum(s: pl.Series) -> Decimal | int:
    v = s.sum()
    return 0 if v is None else v


def _t(v: object) -> str:
    """Whole tonnes with thousands separators, rounded half-up; '—' for null."""
    if v is None:
        return "—"
    d = Decimal(str(v)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return f"{d:,}"


def _pct(v: Decimal) -> str:
    return f"{v.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"
