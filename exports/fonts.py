"""The font embedded in pages for people (report, HTML notices): a subset of Noto Sans SC.

A bare Linux server has no CJK font, and a page that relies on system fonts shows every Chinese
character as a box there. Each page therefore carries, inline as a WOFF data URI, a subset of
Noto Sans SC Regular holding only the characters the page uses (~20–60 kB for a report).

The font comes from the PyPI package `pylopdf-fonts-zh-cn` (Noto Sans SC and Noto Serif SC,
SIL Open Font License 1.1, unmodified upstream `notofonts/noto-cjk` files); `fontTools` subsets
it. What the font knows: 30,890 code points — Latin, Greek, Cyrillic, CJK punctuation and
full-width forms, and the simplified-Chinese ideographs of GB 18030 (CJK Unified Ideographs and
Extension A, part of Extension B). Where it ends: characters outside that (rare ideographs of
Extensions B–H, emoji, private-use characters) are not in the subset; the browser draws them with
whatever system font has them, else as a box. `missing(text)` names them, and the report says so.

Without the package the pages keep the system-font stack (and say that no font is embedded).
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from pathlib import Path

FAMILY = "etsflow Noto Sans SC"
PACKAGE = "pylopdf_fonts_zh_cn"
FILE = "NotoSansSC-Regular.otf"
# Always in the subset: printable ASCII (numbers a script may write, e.g. a sorted table's arrows)
ALWAYS = "".join(chr(c) for c in range(0x20, 0x7F)) + "▲▼—–−…·×÷±≤≥Σ≈→「」《》“”‘’"


def font_path() -> Path | None:
    """The Noto Sans SC file of the installed package, or None when it is not installed."""
    try:
        import importlib.util

        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / FILE
    return path if path.exists() else None


@lru_cache(maxsize=1)
def _cmap() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    path = font_path()
    if path is None:
        return frozenset()
    with TTFont(path, lazy=True) as f:
        return frozenset(f.getBestCmap())


def missing(text: str) -> list[str]:
    """Characters of `text` (beyond control characters) that the embedded font does not have."""
    cmap = _cmap()
    if not cmap:
        return []
    return sorted({ch for ch in text if ord(ch) > 0x20 and not ch.isspace() and ord(ch) not in cmap})


def subset_woff(text: str) -> bytes | None:
    """A WOFF of Noto Sans SC with the glyphs of `text` (and ASCII), or None without the font."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    path = font_path()
    if path is None:
        return None
    options = subset.Options()
    options.flavor = "woff"  # zlib: no brotli needed
    options.layout_features = ["*"]  # keep vertical/proportional forms and kerning of the glyphs kept
    options.name_IDs = ["*"]  # keep the copyright and licence names (OFL)
    options.notdef_outline = True
    with TTFont(path, recalcBBoxes=False, recalcTimestamp=False) as font:
        subsetter = subset.Subsetter(options)
        subsetter.populate(text="".join(sorted(set(text) | set(ALWAYS))))
        subsetter.subset(font)
        out = io.BytesIO()
        font.flavor = "woff"
        font.save(out)
    return out.getvalue()


def font_face_css(text: str) -> str:
    """An `@font-face` rule for FAMILY with the subset for `text` inline; "" without the font."""
    data = subset_woff(text)
    if data is None:
        return ""
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'@font-face {{ font-family: "{FAMILY}"; font-style: normal; font-weight: 400 700; '
        f'src: url(data:font/woff;base64,{b64}) format("woff"); }}'
    )


def font_note(text: str) -> str:
    """One sentence for a page's footer on the embedded font (and on characters it lacks)."""
    if font_path() is None:
        return (
            "未嵌入字体（未安装 pylopdf-fonts-zh-cn）/ No font embedded (pylopdf-fonts-zh-cn is not "
            "installed): Chinese text needs a CJK system font."
        )
    gaps = missing(text)
    note = "字体 Font: Noto Sans SC（SIL OFL 1.1，按页面用字子集嵌入 / subset embedded）"
    if gaps:
        note += f"；字库未含 / not in the font: {' '.join(gaps)}"
    return note
