"""Header and cell-text normalisation (pure).

Headers may be the contract's English names or its Chinese labels, with surrounding or inner
whitespace and full-width characters ("　单位编号 ", "ＬＩＮＥ＿ＩＤ"). They are normalised with
Unicode NFKC, whitespace removed, ASCII lower-cased, and mapped to the catalog's column names.
"""

from __future__ import annotations

import re
import unicodedata

from model import catalog

_WS = re.compile(r"\s+")


def normalise_header(header: str) -> str:
    """NFKC, strip, drop inner whitespace, lower-case: '　经核查 二氧化碳排放量 ' → '经核查二氧化碳排放量'."""
    return _WS.sub("", unicodedata.normalize("NFKC", str(header))).lower()


def _header_map() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for table in catalog.INPUTS:
        m: dict[str, str] = {}
        for c in table.columns:
            m[normalise_header(c.name)] = c.name
            m[normalise_header(c.zh)] = c.name
        out[table.name] = m
    return out


HEADER_MAP = _header_map()


def map_headers(headers: list[str], table: str) -> tuple[list[str], list[str]]:
    """Column names for `headers` read from a file of `table`, and the list of problems.

    Known headers become catalog names; unknown ones keep their normalised text (kept in raw,
    ignored later). Two headers meaning the same column are a problem.
    """
    mapping = HEADER_MAP[table]
    names: list[str] = []
    problems: list[str] = []
    for h in headers:
        key = normalise_header(h)
        name = mapping.get(key, key or "_unnamed")
        if name in names:
            problems.append(f"column '{h}' appears twice (as '{name}')")
            name = f"{name}_dup{len(names)}"
        names.append(name)
    return names, problems


def closest_known(header: str, table: str) -> tuple[str, str] | None:
    """The known header of `table` closest to an unrecognised one, as (label as written in the
    contract, catalog column name) — compared against English names and Chinese labels — or None
    when nothing is close (difflib ratio < 0.6)."""
    import difflib

    labels: dict[str, tuple[str, str]] = {}
    for t in catalog.INPUTS:
        if t.name == table:
            for c in t.columns:
                labels[normalise_header(c.name)] = (c.name, c.name)
                labels[normalise_header(c.zh)] = (c.zh, c.name)
    match = difflib.get_close_matches(normalise_header(header), list(labels), n=1, cutoff=0.6)
    return labels[match[0]] if match else None


def unknown_headers(columns: list[str], table: str) -> list[str]:
    """The columns of a file of `table` that are no catalog column (after `map_headers`)."""
    known = set(HEADER_MAP[table].values())
    return [c for c in columns if c and c not in known and not c.startswith("_")]


def recognise_report(headers: list[str]) -> str | None:
    """A flat report file holds line-years when it has `line_id`, enterprise-years when it has
    `shutdown_days` (contract §1.3)."""
    keys = {normalise_header(h) for h in headers}
    if keys & {"line_id", normalise_header("生产线编号")}:
        return "line_years"
    if keys & {"shutdown_days", normalise_header("企业年累计停产天数")}:
        return "enterprise_years"
    return None


# sheet names of a per-enterprise report workbook (contract §1.3), normalised like headers:
# the English names of the contract and the Chinese ones offices use
SHEET_NAMES = {
    "enterprise_years": (
        "enterprise",
        "enterprises",
        "企业",
        "单位",
        "企业信息",
        "单位信息",
        "排放单位",
        "重点排放单位",
        "企业年度",
        "单位年度",
    ),
    "line_years": (
        "lines",
        "line",
        "生产线",
        "产线",
        "工序",
        "生产线信息",
        "生产线数据",
        "工序数据",
        "生产线年度",
    ),
}
_SHEET_MAP = {normalise_header(n): t for t, names in SHEET_NAMES.items() for n in names}


def recognise_sheet(name: str) -> str | None:
    """The table a report workbook's sheet holds, from its name ('单位' → enterprise_years,
    '生产线' → line_years); None when the name says nothing (then its columns decide)."""
    return _SHEET_MAP.get(normalise_header(name))


def normalise_number_text(value: str) -> str:
    """Full-width digits and signs to ASCII, whitespace removed, thousands separators removed
    when they group digits in threes ('１２，３４５.６' → '12345.6'). Anything else is left for
    the caller to reject."""
    s = _WS.sub("", unicodedata.normalize("NFKC", value))
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    return s
