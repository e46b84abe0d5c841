"""The HTML report: self-contained, escaped, accessible charts with the marts' figures."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from decimal import Decimal as D
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from exports.report import adjustment_rows, gap_histogram, render_report, write_report
from tests.test_exports_results import make_results

CHARTS = ("chart-sector", "chart-method", "chart-gaps", "chart-clearance")


class _Outline(HTMLParser):
    """Tags, SVG ids with their <title>/<desc>, and every attribute that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.svg_children: dict[str, set[str]] = {}
        self.loads: list[str] = []
        self._svg: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "svg":
            self._svg = a.get("id", "")
            self.svg_children[self._svg] = set()
        elif self._svg is not None:
            self.svg_children[self._svg].add(tag)
        for name in ("src", "href", "data", "action", "poster"):
            if name in a:
                self.loads.append(f"{tag}[{name}]={a[name]}")

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg = None


def _outline(html: str) -> _Outline:
    p = _Outline()
    p.feed(html)
    return p


def test_report_is_self_contained_with_accessible_charts_and_figures(tmp_path: Path) -> None:
    results = make_results()
    path = write_report(results, tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]

    outline = _outline(html)
    assert outline.loads == []  # nothing is fetched: no src/href at all
    assert "link" not in outline.tags and "img" not in outline.tags and "iframe" not in outline.tags
    # the only url() is the embedded font, inline as data
    assert not re.search(r"@import|url\((?!data:font/woff;base64,)|https?://(?!www\.w3\.org/2000/svg)", html)
    assert html.count("url(data:font/woff;base64,") == 1 and "font-src data:" in html
    assert "Content-Security-Policy" in html
    # Each chart: an inline SVG with <title>, <desc> and bars.
    assert set(outline.svg_children) == set(CHARTS)
    for chart, children in outline.svg_children.items():
        assert {"title", "desc", "rect"} <= children, chart
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
    # Headline figures from cap_summary and the marts.
    for fig, value in [
        ("total_cap_t", "1,445,000"),
        ("reserve_t", "72,250"),
        ("enterprise_total_t", "1,372,750"),
        ("enterprise_count", "3"),
        ("verified_emissions_t", "1,520,000"),
    ]:
        assert re.search(rf'id="fig-{fig}"><dt>[^<]*</dt><dd>{value}</dd>', html), fig
    assert 'id="provisional"' not in html
    # Sector and method sums appear in the charts' descriptions (what a screen reader says).
    assert "水泥制造行业（1家）: 852,750 tCO2e" in html
    assert "历史排放强度下降法 / historical intensity method（2条）: 108,350 tCO2e" in html
    assert "按期完成清缴 / cleared on time: 1 家" in html
    # Exemptions and caps: E002's gap exemption of 20,000 t; borrowing 50,000 t.
    assert re.search(r"gap exemption \(share of E\)</td><td[^>]*>1</td><td[^>]*>20,000</td>", html)
    # Largest gaps, in order, with the escaped name of E002.
    body = html.split('id="top-gaps-table"')[1].split("</table>")[0]
    assert re.findall(r'data-v="(E00\d)"', body) == ["E002", "E001", "E003"]
    assert "重庆某化工有限公司 &lt;&amp;&gt;" in html and "<&>" not in html
    assert "20.0%" in body and "5.3%" in body  # 100,000 / 500,000; 47,250 / 900,000 half-up


def test_gap_histogram_bins_are_exact_and_half_open() -> None:
    bins, undefined = gap_histogram(make_results().allocation_enterprise)
    counts = dict(bins)
    # E001 5.25 %, E002 exactly 20 % (the exemption cap) → "≥ 20%", E003 0.0002 %.
    assert (counts["0…5%"], counts["5…10%"], counts["≥ 20%"], undefined) == (1, 1, 1, 0)
    assert sum(counts.values()) == 3


def test_adjustment_rows_count_each_exemption_part_apart_from_rounding_and_incentive() -> None:
    ents = make_results().allocation_enterprise.with_columns(
        adjustment_rule=pl.Series(
            ["surplus_cap_max+rounding+incentive_grade_A", "gap_exemption_share", "rounding"]
        ),
        adjustment_t=pl.Series([D("-199000.4"), D("20000"), D("-0.25")], dtype=pl.Decimal(18, 4)),
        incentive_t=pl.Series([1000, 0, 0]),
    )
    assert adjustment_rows(ents) == [
        ("缺口上限豁免（按排放量比例）/ gap exemption (share of E)", 1, D("20000")),
        ("配额上限约束（按最大盈余量）/ surplus cap (maximum surplus in t)", 1, D("-200000.4")),
        ("减污降碳协同激励 / synergy incentive", 1, 1000),
        ("可预支下年度预分配 / borrowable from next pre-allocation", 1, 50000),
    ]


def test_report_with_provisional_rows_history_and_no_clearance() -> None:
    base = make_results()
    results = base.replace(
        cap_summary=base.cap_summary.with_columns(provisional=pl.lit(True)),
        clearance_status=base.clearance_status.clear(),
        clearance_item=base.clearance_item.clear(),
    )
    history = pl.DataFrame({"compliance_year": [2021], "total_cap_t": [1_400_000]})
    html = render_report(results, history=history)
    assert 'id="provisional"' in html and "PROVISIONAL" in html
    assert "尚无清缴数据" in html and 'id="chart-clearance"' not in html
    assert 'id="chart-history"' in html and "2021: 1,400,000 tCO2e; 2022: 1,445,000 tCO2e." in html


# ---------------------------------------------------------------------------------------------
# Headless Chromium: the page renders its charts and logs nothing to the console.
# ---------------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _console_lines(stderr: str, page: Path) -> list[str]:
    """Console messages (any level) and uncaught errors that Chromium logged for `page`."""
    return [
        line
        for line in stderr.splitlines()
        if ("CONSOLE" in line and page.as_uri() in line) or "Uncaught" in line
    ]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (.ci/run installs it in CI)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    # The detector works: a page that throws is caught (guards against a change of log format).
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><p>x</p><script>throw new Error("boom")</script>', encoding="utf-8")
    assert _console_lines(_chromium(bad, tmp_path / "p0", "--dump-dom").stderr, bad)

    page = write_report(make_results(), tmp_path / "report.html")
    dom_run = _chromium(page, tmp_path / "p1", "--dump-dom")
    dom = dom_run.stdout
    assert _console_lines(dom_run.stderr, page) == []
    assert 'data-script="ok"' in dom  # the inline script ran to its end
    outline = _outline(dom)
    assert set(outline.svg_children) == set(CHARTS)
    assert dom.count("<rect") >= 3 + 4 + 10 + 3  # sectors, methods, gap bins, statuses

    shot = tmp_path / "shot.png"
    shot_run = _chromium(page, tmp_path / "p2", f"--screenshot={shot}", "--window-size=1280,2400")
    assert _console_lines(shot_run.stderr, page) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert (width, height) == (1280, 2400)
    assert len(data) > 30_000, "screenshot looks blank"


def test_clearance_bars_take_colours_that_mean_something() -> None:
    """Red for not cleared, amber for pending/late, green for cleared — each bar by its status."""
    from exports.report import STATUS_COLORS
    from model.labels import STATUSES, label

    html = render_report(make_results())
    chart = html[
        html.index('id="chart-clearance"') : html.index("</svg>", html.index('id="chart-clearance"'))
    ]
    bars = re.findall(r"<title>([^<]+): [^<]*</title>.*?fill=\"(#[0-9a-f]{6})\"", chart)
    assert bars, "no clearance bars"
    by_label = dict(bars)
    for status, colour in STATUS_COLORS.items():
        label_ = label(STATUSES, status)
        if label_ in by_label:
            assert by_label[label_] == colour, status
    assert STATUS_COLORS["not_cleared"] == "#c62828" and STATUS_COLORS["cleared_on_time"] == "#2e7d32"
    assert len({by_label[k] for k in by_label}) == len(by_label)  # distinct statuses, distinct colours


def test_provisional_banner_names_the_placeholders_in_words():
    from policies import policy_for_year

    base = make_results()
    results = base.replace(
        policy=policy_for_year(2023),
        cap_summary=base.cap_summary.with_columns(provisional=pl.lit(True)),
    )
    html = render_report(results)
    start = html.index('id="provisional"')
    banner = html[start : html.index("</p>", start)]
    assert "历史基准年度 / base years" in banner and "清缴期限 / clearance deadline" in banner
    assert "k_intensity" not in banner and "base_years" not in banner


def test_partial_year_says_so_first_with_the_ids():
    base = make_results()
    status = base.clearance_status
    left = status.head(1).with_columns(enterprise_id=pl.lit("E009"), status=pl.lit("not_allocated"))
    results = base.replace(
        cap_summary=base.cap_summary.with_columns(
            partial=pl.lit(True), enterprises_left_out=pl.lit(1, pl.Int32)
        ),
        clearance_status=pl.concat([status, left]),
    )
    html = render_report(results)
    banner = html[html.index('id="partial"') : html.index("</p>", html.index('id="partial"'))]
    assert html.index('id="partial"') < html.index("<main>")  # the first screen, before any figure
    assert "PARTIAL: 1 listed enterprise(s) were left out" in banner and "E009" in banner
    assert 'id="partial"' not in render_report(base)
