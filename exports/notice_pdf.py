"""A notice as a page (HTML with the embedded font) and as PDF, made from the workbook itself.

`sheet_html` renders the notice's worksheet as it is — values with their number formats, merged
cells, bold/size/colour, fills, borders, wrapping — so the page and the PDF show exactly what
the workbook holds. `write_pdfs` prints those pages to A4 landscape PDFs beside the workbooks
with headless Chromium (Debian's `chromium`), fonts embedded; without Chromium it writes nothing
and says so. One Chromium start per notice (~1 s): PDFs are made on request
(`etsflow export --pdf`), not by every run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import date, datetime
from decimal import Decimal
from html import escape
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from exports.report import FONT_NOTE_SLOT, FONT_SLOT, embed_font

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)

CSS = """
@page { size: A4 landscape; margin: 12mm; }
body { margin: 0; color: #000; font-family: "etsflow Noto Sans SC", "Noto Sans CJK SC", sans-serif; }
table.sheet { border-collapse: collapse; table-layout: fixed; font-size: 9pt; }
table.sheet td { padding: 2px 4px; vertical-align: top; overflow-wrap: anywhere; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
p.font-note { color: #888; font-size: 7pt; margin-top: 8px; }
"""


def _format(value, fmt: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, bool):
        return "是 / yes" if value else "否 / no"
    if isinstance(value, int | float | Decimal) and fmt:
        places = len(fmt.split(".")[1]) if "." in fmt else 0
        q = f"{Decimal(str(value)):,.{places}f}" if "," in fmt else f"{Decimal(str(value)):.{places}f}"
        return q
    return str(value)


def _style(cell) -> str:
    css = []
    f = cell.font
    if f is not None:
        if f.b:
            css.append("font-weight:700")
        if f.sz and float(f.sz) != 11:
            css.append(f"font-size:{float(f.sz) * 0.82:.1f}pt")
        if f.color is not None and isinstance(f.color.rgb, str) and len(f.color.rgb) == 8:
            css.append(f"color:#{f.color.rgb[2:]}")
    fill = cell.fill
    if fill is not None and fill.fill_type == "solid" and isinstance(fill.fgColor.rgb, str):
        css.append(f"background:#{fill.fgColor.rgb[-6:]}")
    for side in ("left", "right", "top", "bottom"):
        s = getattr(cell.border, side)
        if s is not None and s.style:
            colour = s.color.rgb[-6:] if s.color is not None and isinstance(s.color.rgb, str) else "000000"
            width = "2px" if s.style in ("medium", "thick") else "1px"
            css.append(f"border-{side}:{width} solid #{colour}")
    a = cell.alignment
    if a is not None:
        if a.horizontal in ("center", "right", "left"):
            css.append(f"text-align:{a.horizontal}")
        if a.vertical == "center":
            css.append("vertical-align:middle")
        if a.wrap_text:
            css.append("white-space:pre-wrap")
        elif isinstance(cell.value, str):
            css.append("white-space:nowrap;overflow:visible")  # like Excel: text runs into empty cells
    return ";".join(css)


def sheet_html(path: Path) -> str:
    """The first worksheet of the workbook at `path` (its print area) as one HTML page."""
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    max_row, max_col = ws.max_row, ws.max_column
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    hidden: set[tuple[int, int]] = set()
    for rng in ws.merged_cells.ranges:
        spans[(rng.min_row, rng.min_col)] = (rng.max_row - rng.min_row + 1, rng.max_col - rng.min_col + 1)
        hidden |= {
            (r, c) for r in range(rng.min_row, rng.max_row + 1) for c in range(rng.min_col, rng.max_col + 1)
        }
        hidden.discard((rng.min_row, rng.min_col))
    widths = [(ws.column_dimensions[get_column_letter(c)].width or 10) * 7.0 for c in range(1, max_col + 1)]
    cols = "".join(f'<col style="width:{w:.0f}px">' for w in widths)
    rows = []
    for r in range(1, max_row + 1):
        height = ws.row_dimensions[r].height
        cells = []
        for c in range(1, max_col + 1):
            if (r, c) in hidden:
                continue
            cell = ws.cell(r, c)
            rs, cs = spans.get((r, c), (1, 1))
            attrs = (f' rowspan="{rs}"' if rs > 1 else "") + (f' colspan="{cs}"' if cs > 1 else "")
            numeric = isinstance(cell.value, int | float | Decimal) and not isinstance(cell.value, bool)
            text = escape(_format(cell.value, cell.number_format)).replace("\n", "<br>")
            cls = ' class="num"' if numeric else ""
            cells.append(f'<td{attrs}{cls} style="{_style(cell)}">{text}</td>')
        style = f' style="height:{height * 1.33:.0f}px"' if height else ""
        rows.append(f"<tr{style}>{''.join(cells)}</tr>")
    title = escape(wb.properties.title or path.stem)
    # print: the sheet's width onto A4 landscape (270 mm between margins ≈ 1020 CSS px), as fitToWidth
    zoom = min(1.0, 1020 / sum(widths))
    page = (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'font-src data:">'
        f"<title>{title}</title><style>{FONT_SLOT}{CSS}"
        f"@media print {{ table.sheet {{ zoom: {zoom:.3f}; }} }}</style></head><body>"
        f'<table class="sheet" style="width:{sum(widths):.0f}px"><colgroup>{cols}</colgroup>{"".join(rows)}</table>{FONT_NOTE_SLOT}'
        "</body></html>\n"
    )
    return embed_font(page)


def chromium() -> str | None:
    """Debian's chromium (or Google Chrome) on PATH, else None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def write_pdfs(workbooks: list[Path]) -> tuple[list[Path], str | None]:
    """`<notice>.pdf` beside each workbook. Returns (PDFs written, why none were written or None)."""
    browser = chromium()
    if browser is None:
        return (
            [],
            "chromium is not installed (apt-get install chromium): no PDF written; the notices are the .xlsx files",
        )
    written = []
    with tempfile.TemporaryDirectory(prefix="etsflow-pdf-") as tmp:
        for wbp in workbooks:
            page = Path(tmp) / f"{wbp.stem}.html"
            page.write_text(sheet_html(wbp), encoding="utf-8")
            pdf = wbp.with_suffix(".pdf")
            part = pdf.with_name(f".{pdf.name}.tmp")
            subprocess.run(
                [browser, *CHROMIUM_FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}",
                 f"--print-to-pdf={part}", page.as_uri()],
                capture_output=True,
                timeout=120,
                check=True,
            )  # fmt: skip
            os.replace(part, pdf)
            written.append(pdf)
    return written, None
