"""`etsflow scenario report NAME`: one offline HTML page comparing a scenario run with the official
allocation (contract §6). Same rules as the year's report (`exports/report.py`, whose styles and
chart helpers it uses): no outside request (Content-Security-Policy), every text escaped, every
chart an inline `<svg role="img">` with a title and a description in words, every point with its
exact figure in a `<title>`.

Sections: the cap, the reserve and the total gap against each swept parameter (line charts, the
official figure as a dashed line); winners and losers by sector at the two ends of the sweep;
one table row per scenario.
"""

from __future__ import annotations

import json
import math
import os
from decimal import Decimal
from html import escape
from pathlib import Path

import polars as pl

from exports.report import (
    COLORS,
    FONT_NOTE_SLOT,
    _empty_chart,
    _section,
    _svg_open,
    _t,
    _table,
    embed_font,
    page_head,
)

MAX_LINES = 6  # lines per chart; more combinations of the other parameters are thinned evenly


def _params(run: pl.DataFrame) -> pl.DataFrame:
    """scenario_id + one text column per parameter the scenarios set."""
    rows = [json.loads(p) for p in run["parameters"]]
    keys = sorted({k for r in rows for k in r})
    return pl.DataFrame(
        {"scenario_id": run["scenario_id"], **{k: [r.get(k) for r in rows] for k in keys}},
        schema={"scenario_id": pl.String, **{k: pl.String for k in keys}},
    )


def swept(params: pl.DataFrame) -> list[str]:
    """The parameters that take more than one value (the x axes)."""
    return [c for c in params.columns[1:] if params[c].n_unique() > 1]


def _thin(items: list, n: int) -> list:
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def line_chart(
    id_: str,
    title: str,
    desc: str,
    series: list[tuple[str, list[tuple[Decimal, int | Decimal]]]],
    official,
    x_name: str = "",
) -> str:
    """Lines of (x, y) points, a legend below when there are several; `official` (y) is drawn
    dashed across."""
    if not series or not any(pts for _, pts in series):
        return _empty_chart(id_, title)
    per_row = 3  # legend entries per row, below the plot
    legend_rows = math.ceil(len(series) / per_row) if len(series) > 1 else 0
    width, left, right, top, bottom = 900, 110, 150, 16, 40
    height = 280 + top + bottom + 22 * legend_rows
    xs = [float(x) for _, pts in series for x, _ in pts]
    ys = [float(y) for _, pts in series for _, y in pts] + ([float(official)] if official is not None else [])
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    pw, ph = width - left - right, 280

    def px(x: float) -> float:
        return left + pw * (x - x0) / (x1 - x0)

    def py(y: float) -> float:
        return top + ph * (1 - (y - y0) / (y1 - y0))

    out = [_svg_open(id_, title, desc, width, height)]
    out.append(f'<line class="axis" x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}"/>')
    out.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}"/>')
    for v, y in ((y0, top + ph), (y1, top)):
        out.append(
            f'<text class="value" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_t(v))}</text>'
        )
    for v, anchor in ((x0, "start"), (x1, "end")):
        label = min(xs) if v == x0 else max(xs)
        out.append(
            f'<text class="value" x="{px(v):.1f}" y="{top + ph + 18}" text-anchor="{anchor}">{label:g}</text>'
        )
    out.append(
        f'<text class="value" x="{left + pw / 2:.1f}" y="{top + ph + 18}" text-anchor="middle">'
        f"{escape(x_name)}</text>"
    )
    if official is not None:
        oy = py(float(official))
        out.append(
            f'<g class="official"><title>正式 Official: {escape(_t(official))}</title>'
            f'<line x1="{left}" y1="{oy:.1f}" x2="{left + pw}" y2="{oy:.1f}" stroke="#5f6b73" '
            f'stroke-dasharray="6 4"/><text class="value" x="{left + pw + 6}" y="{oy + 4:.1f}">'
            f"正式 official {escape(_t(official))}</text></g>"
        )
    for i, (name, pts) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{px(float(x)):.1f},{py(float(y)):.1f}" for x, y in pts)
        out.append(f'<g class="line"><title>{escape(name)}</title>')
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in pts:
            out.append(
                f'<circle cx="{px(float(x)):.1f}" cy="{py(float(y)):.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(name)} x = {escape(str(x))}: {escape(_t(y))}</title></circle>"
            )
        if legend_rows:
            lx = left + (i % per_row) * (pw // per_row)
            ly = top + ph + bottom + 22 * (i // per_row)
            out.append(
                f'<rect x="{lx}" y="{ly - 9}" width="14" height="3" fill="{color}"/>'
                f'<text x="{lx + 20}" y="{ly}">{escape(name)}</text>'
            )
        out.append("</g>")
    out.append("</svg></figure>")
    return "".join(out)


FIGURES = (
    ("total_cap_t", "配额总量", "total cap"),
    ("reserve_t", "政府预留配额", "reserve"),
    ("gap_total_t", "缺口合计", "total gap"),
)


def _charts(summary: pl.DataFrame, params: pl.DataFrame, official: dict, official_gap) -> str:
    keys = swept(params)
    data = summary.join(params, on="scenario_id")
    if not keys:
        return _section(
            "sweep",
            "参数扫描",
            "Sweep",
            '<p class="empty">没有扫描参数 / no parameter was swept: see the table below.</p>',
        )
    body = []
    for key in keys:
        others = [k for k in keys if k != key]
        combos = data.select(others).unique(maintain_order=True).rows() if others else [()]
        shown = _thin(combos, MAX_LINES)
        thinned = (
            f" {len(combos)} combinations of the other parameters; {len(shown)} shown, evenly spaced."
            if len(shown) < len(combos)
            else ""
        )
        for col, zh, en in FIGURES:
            series = []
            for combo in shown:
                part = data
                for k, v in zip(others, combo, strict=True):
                    part = part.filter(pl.col(k) == v)
                pts = sorted((Decimal(x), y) for x, y in part.select(key, col).rows())
                name = ", ".join(f"{k}={v}" for k, v in zip(others, combo, strict=True)) or en
                series.append((name, pts))
            ref = official_gap if col == "gap_total_t" else official.get(col)
            lo = min(y for _, pts in series for _, y in pts)
            hi = max(y for _, pts in series for _, y in pts)
            desc = f"{en} (tCO2e) against {key}: from {_t(lo)} to {_t(hi)}; official {_t(ref)}.{thinned}"
            body.append(f"<h3>{escape(zh)} / {escape(en)} — {escape(key)}</h3>")
            body.append(
                line_chart(f"chart-{col}-{key}".replace(".", "-"), f"{en} vs {key}", desc, series, ref, key)
            )
    return _section(
        "sweep", "参数扫描：总量、预留与缺口", "Cap, reserve and gap against each swept parameter", *body
    )


def _sectors(delta: pl.DataFrame, run: pl.DataFrame) -> str:
    ids = run["scenario_id"].to_list()
    ends = [ids[0]] if len(ids) == 1 else [ids[0], ids[-1]]
    body = []
    for sid in ends:
        params = run.filter(pl.col("scenario_id") == sid)["parameters"][0]
        by_sector = (
            delta.filter(pl.col("scenario_id") == sid)
            .group_by("sector_label")
            .agg(
                pl.col("official_allocation_final_t").sum().alias("official"),
                pl.col("allocation_final_t").sum().alias("scenario"),
                pl.col("delta_t").sum().alias("delta"),
                (pl.col("delta_t") > 0).sum().alias("winners"),
                (pl.col("delta_t") < 0).sum().alias("losers"),
            )
            .sort("delta", "sector_label")
        )
        body.append(f"<h3>{escape(sid)} <span class='en'>{escape(params)}</span></h3>")
        body.append(
            _table(
                f"sectors-{sid}".replace(":", "-"),
                [
                    ("行业 sector", False),
                    ("正式 official", True),
                    ("情景 scenario", True),
                    ("变化 delta", True),
                    ("增加单位 winners", True),
                    ("减少单位 losers", True),
                ],
                (
                    [
                        (r["sector_label"] or "—", None),
                        (_t(r["official"]), r["official"]),
                        (_t(r["scenario"]), r["scenario"]),
                        (("+" if (r["delta"] or 0) > 0 else "") + _t(r["delta"]), r["delta"]),
                        (str(r["winners"]), r["winners"]),
                        (str(r["losers"]), r["losers"]),
                    ]
                    for r in by_sector.iter_rows(named=True)
                ),
            )
        )
    return _section(
        "sectors",
        "各行业增减（相对正式分配）",
        "Winners and losers by sector against the official allocation, at the ends of the sweep",
        *body,
    )


def _scenario_table(summary: pl.DataFrame, run: pl.DataFrame, official: dict) -> str:
    data = summary.join(run.select("scenario_id", "provisional_parameters"), on="scenario_id").sort(
        pl.col("scenario_id").str.split(":").list.last().cast(pl.Int64)
    )
    cap0 = official.get("total_cap_t") or 0
    rows = (
        [
            (r["scenario_id"], None),
            (r["parameters"], None),
            (_t(r["enterprise_total_t"]), r["enterprise_total_t"]),
            (_t(r["reserve_t"]), r["reserve_t"]),
            (_t(r["total_cap_t"]), r["total_cap_t"]),
            (
                ("+" if r["total_cap_t"] - cap0 > 0 else "") + _t(r["total_cap_t"] - cap0),
                r["total_cap_t"] - cap0,
            ),
            (str(r["units_with_gap"]), r["units_with_gap"]),
            (_t(r["gap_total_t"]), r["gap_total_t"]),
            (str(r["exempted_units"]), r["exempted_units"]),
            ("是 yes" if r["provisional"] else "否 no", None),
        ]
        for r in data.iter_rows(named=True)
    )
    table = _table(
        "scenario-table",
        [
            ("情景 scenario", False),
            ("参数 parameters", False),
            ("单位配额总量 enterprise total", True),
            ("预留 reserve", True),
            ("总量 cap", True),
            ("总量变化 Δ cap", True),
            ("缺口单位 units with gap", True),
            ("缺口合计 total gap", True),
            ("豁免单位 exempted", True),
            ("临时 provisional", False),
        ],
        rows,
    )
    return _section("scenarios", "各情景", "Every scenario", table)


def render_scenario_report(
    name: str,
    run: pl.DataFrame,
    summary: pl.DataFrame,
    delta: pl.DataFrame,
    official: dict,
    official_gap,
) -> str:
    """The page as one HTML string. `official`: the year's mart.cap_summary row; `official_gap`:
    Σ gap_t > 0 of the published allocation."""
    year = run["compliance_year"][0]
    first = run.row(0, named=True)
    version = f"version {first['official_version']}" if first["official_version"] is not None else ""
    title = f"情景 {name}：{year}年度配额分配 / Scenario {name}, compliance year {year}"
    params = _params(run)
    head = (
        f"<p>{len(run)} 个情景 scenarios, compared with the official publication of {year} "
        f"(run {escape(first['official_run_id'])}{', ' + escape(version) if version else ''}): "
        f"total cap {escape(_t(official.get('total_cap_t')))} t, reserve {escape(_t(official.get('reserve_t')))} t, "
        f"total gap {escape(_t(official_gap))} t. Base rule pack {escape(first['base_policy_version'])}.</p>"
    )
    banner = ""
    if run["provisional"].any():
        banner = (
            '<p class="banner" role="alert" id="provisional">临时结果：部分情景使用了规则包中待确认的临时参数。'
            "<br>PROVISIONAL: some scenarios use provisional parameters of the rule pack that they did not set "
            "(column 临时 provisional).</p>"
        )
    page = "\n".join(
        [
            *page_head(title),
            "<body>",
            "<header>",
            f"<h1>{escape(title)}</h1>",
            head,
            "</header>",
            banner,
            "<main>",
            _charts(summary, params, official, official_gap),
            _sectors(delta, run),
            _scenario_table(summary, run, official),
            "</main>",
            "<footer><p>数据来源 Source: scenario.run, scenario.summary, scenario.delta_enterprise, "
            "mart.cap_summary, mart.allocation_enterprise. 单位 Unit: tCO2e.</p>",
            FONT_NOTE_SLOT,
            "</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )
    return embed_font(page)  # the Chinese of the page renders on a server without CJK fonts


def write_scenario_report(html: str, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path
