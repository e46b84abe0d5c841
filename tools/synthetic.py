"""Synthetic, contract-shaped inbox tables (data contract §1) from a roster and a seed.

Two uses:
- the embedded sample inbox `data/sample/` (real names of the 308 listed enterprises, synthetic
  numbers, a catalogue of edge cases on named lines; see `data/sample/generate.py`);
- scale benchmarks: `build_inbox(synthetic_roster(100_000, seed), seed)` builds ~1.3M line-years
  in seconds (everything is vectorised numpy/polars) and `write_inbox(..., form="parquet")`.

Tables come back typed as in `model/catalog.py` (Decimal(18,4) quantities, Decimal(18,6) grid
factors, Date, Boolean, Int64), keyed by catalog table name, so `transforms.CoreFrames
.from_tables(tables)` accepts them directly. The extra key `edge_cases` is a manifest (not an inbox
table) of the special cases and where they are.

All quantities are generated as scaled integers (1/100 t, 1/1000 MWh, 1e-6 t/MWh) and converted
to decimals through their exact string form: no float artefacts, and an enterprise's
`verified_total_t` is exactly the sum of its lines. Everything is a function of the seed
(numpy `Generator`); nothing depends on dict/set iteration order, clocks or the environment.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zlib
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import polars as pl

from model import catalog

YEARS: tuple[int, ...] = (2018, 2019, 2020, 2021, 2022, 2023)
COMPLIANCE_YEARS: tuple[int, ...] = (2021, 2022, 2023)
BASE_YEARS: dict[int, tuple[int, int, int]] = {
    2021: (2018, 2019, 2020),
    2022: (2019, 2020, 2021),
    2023: (2020, 2021, 2022),
}
DEADLINES: dict[int, dt.date] = {
    2021: dt.date(2023, 12, 31),
    2022: dt.date(2024, 3, 31),
    2023: dt.date(2024, 12, 31),
}
# Window in which on-time surrenders are made, and in which late ones are.
_ONTIME_FROM = {2021: dt.date(2023, 10, 9), 2022: dt.date(2024, 1, 15), 2023: dt.date(2024, 10, 8)}
_LATE_WINDOW = {
    2021: (dt.date(2024, 1, 8), dt.date(2024, 2, 29)),
    2022: (dt.date(2024, 4, 1), dt.date(2024, 4, 1)),  # the day after the deadline
    2023: (dt.date(2025, 1, 6), dt.date(2025, 2, 28)),
}
# Grid emission factor (tCO2/MWh, in 1e-6) used in each year's verification.
GRID_EF_MICRO: dict[int, int] = {
    2018: 622_900,
    2019: 622_900,
    2020: 622_900,
    2021: 581_000,
    2022: 570_300,
    2023: 570_300,
}
# Rule-pack values the ledger edge cases are sized with (rules.md §3.4, §4; 2023 = placeholders).
_BENCHMARK = {
    2021: {"cement_clinker": Decimal("0.8289"), "electrolytic_aluminium": Decimal("7.7614")},
    2022: {"cement_clinker": Decimal("0.8244"), "electrolytic_aluminium": Decimal("7.7557")},
    2023: {"cement_clinker": Decimal("0.8244"), "electrolytic_aluminium": Decimal("7.7557")},
}

# Sector mix of the official 2021–2022 list (308 units, 渝环办〔2023〕208号 附件1之附件1).
SECTOR_MIX: tuple[tuple[str, int], ...] = (
    ("化工行业", 58),
    ("其他行业", 57),
    ("机械设备制造业", 46),
    ("水泥制造行业", 32),
    ("玻璃及玻璃制品制造业", 24),
    ("电子设备制造业", 21),
    ("其他有色金属冶炼和压延加工业", 15),
    ("食品、烟草及酒、饮料和精制茶生产行业", 13),
    ("钢铁行业", 9),
    ("造纸与纸制品生产业", 8),
    ("生活垃圾焚烧行业", 7),
    ("石油和天然气生产行业", 7),  # 2 of them shale-gas companies
    ("陶瓷生产行业", 7),
    ("电解铝行业", 3),
    ("石油化工行业", 1),
)
SHALE_GAS_SHARE_OF_OIL_GAS = 2 / 7
DISTRICTS: tuple[str, ...] = (
    "涪陵区", "长寿区", "两江新区", "江津区", "合川区", "永川区", "铜梁区", "垫江县", "巴南区",
    "万州区", "南川区", "九龙坡区", "荣昌区", "秀山县", "大足区", "南岸区", "高新区", "北碚区",
    "潼南区", "黔江区", "大渡口区", "开州区", "万盛经开区", "渝北区", "綦江区", "璧山区", "城口县",
    "沙坪坝区", "忠县", "梁平区", "丰都县", "酉阳县", "江北区", "云阳县", "武隆区", "石柱县",
    "彭水县", "奉节县",
)  # fmt: skip

# Products of `other` lines by sector: (product, output unit, intensity range tCO2/unit).
_GENERIC_PRODUCTS = (
    ("石灰", "t", 0.9, 1.2),
    ("蒸汽", "t", 0.2, 0.3),
    ("再生纸浆", "t", 0.3, 0.6),
    ("建筑材料", "t", 0.1, 0.4),
    ("机制砖", "万件", 3.0, 8.0),
    ("包装制品", "万件", 1.0, 5.0),
)
SECTOR_PRODUCTS: dict[str, tuple[tuple[str, str, float, float], ...]] = {
    "化工行业": (
        ("合成氨", "t", 1.8, 3.2), ("甲醇", "t", 1.6, 2.8), ("烧碱", "t", 0.9, 1.6),
        ("聚氯乙烯", "t", 1.2, 2.4), ("硫酸", "t", 0.05, 0.15), ("尿素", "t", 0.4, 0.9),
        ("纯碱", "t", 0.35, 0.6), ("精细化工产品", "t", 0.5, 2.5), ("氟化工产品", "t", 0.8, 2.0),
    ),
    "机械设备制造业": (
        ("汽车", "辆", 0.25, 0.9), ("摩托车", "辆", 0.05, 0.2), ("汽车零部件", "万件", 10.0, 60.0),
        ("铸件", "t", 0.3, 1.0), ("发动机", "万件", 200.0, 600.0), ("变速器", "万件", 80.0, 250.0),
    ),
    "玻璃及玻璃制品制造业": (
        ("平板玻璃", "t", 0.6, 1.0), ("玻璃瓶罐", "t", 0.4, 0.8), ("玻璃纤维", "t", 1.0, 2.0),
        ("电子玻璃", "m2", 0.01, 0.03),
    ),
    "电子设备制造业": (
        ("液晶面板", "m2", 0.02, 0.08), ("集成电路", "万件", 0.5, 3.0), ("笔记本电脑", "万件", 20.0, 60.0),
        ("印制电路板", "m2", 0.03, 0.12),
    ),
    "其他有色金属冶炼和压延加工业": (
        ("铝型材", "t", 0.3, 1.0), ("铝板带箔", "t", 0.4, 1.1), ("铜材", "t", 0.2, 0.6), ("锌锭", "t", 1.0, 3.0),
    ),
    "食品、烟草及酒、饮料和精制茶生产行业": (
        ("白酒", "t", 1.0, 3.0), ("啤酒", "t", 0.05, 0.15), ("卷烟", "万件", 0.5, 1.5),
        ("乳制品", "t", 0.08, 0.2), ("调味品", "t", 0.1, 0.4),
    ),
    "钢铁行业": (
        ("烧结矿", "t", 0.18, 0.28), ("球团矿", "t", 0.05, 0.1), ("铁水", "t", 1.2, 1.5),
        ("粗钢", "t", 0.08, 0.2), ("钢材", "t", 0.05, 0.12), ("焦炭", "t", 0.3, 0.5),
    ),
    "造纸与纸制品生产业": (("纸及纸板", "t", 0.5, 1.2), ("纸浆", "t", 0.3, 0.8), ("生活用纸", "t", 0.6, 1.1)),
    "石油和天然气生产行业": (("天然气", "万m3", 0.3, 0.9), ("液化天然气", "t", 0.3, 0.6), ("原油", "t", 0.1, 0.3)),
    "陶瓷生产行业": (("建筑陶瓷", "m2", 0.006, 0.012), ("卫生陶瓷", "t", 0.5, 1.5), ("日用陶瓷", "t", 0.8, 2.0)),
    "石油化工行业": (("乙烯", "t", 1.0, 1.5), ("聚丙烯", "t", 0.3, 0.6), ("芳烃", "t", 0.5, 1.0)),
    "水泥制造行业": (("水泥", "t", 0.02, 0.05),),  # grinding lines
    "电解铝行业": (("阳极炭块", "t", 0.35, 0.5),),
    "生活垃圾焚烧行业": (("生活垃圾", "t", 0.28, 0.45),),
    "其他行业": _GENERIC_PRODUCTS,
}  # fmt: skip

# Kinds of enterprise (decide the lines it has).
K_OTHER, K_CEMENT, K_ALU, K_WASTE, K_SHALE, K_STEEL = range(6)
_PRIMARY = {  # kind → (activity, product, unit, line name pattern)
    K_CEMENT: ("cement_clinker", "熟料", "t", "{k}#熟料生产线"),
    K_ALU: ("electrolytic_aluminium", "铝液", "t", "{k}#电解系列"),
    K_WASTE: ("waste_incineration", "生活垃圾", "t", "{k}#焚烧线"),
    K_SHALE: ("shale_gas", "天然气", "万m3", "{k}号页岩气开采区块"),
}
_UNIT_PLACES = {"辆": 0, "m2": 0}  # output decimals by unit (default 2)
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_FIXED_TIMESTAMP = dt.datetime(2023, 11, 14, 0, 0, 0)  # workbook properties: stable output


# ---------------------------------------------------------------------------------------------
# Rosters
# ---------------------------------------------------------------------------------------------
_ROSTER_BLOCK = re.compile(r"\n\t(\d+)\n\t([^\n]+)\n\t([^\n]+)\n\t([^\n]+)\n")


def parse_seed_roster(text: str) -> pl.DataFrame:
    """The official list from the seed text: repeated blocks 序号 / 单位 / 区县 / 行业.

    Returns enterprise_id (CQ%03d by 序号), seq, name, district (inner whitespace removed),
    sector_label. Raises ValueError unless the numbers run 1…n without gaps.
    """
    start = text.find("\t序号\n")
    if start < 0:
        raise ValueError("no 序号 header in the seed text")
    blocks = []
    end = text.find("\n\t1\n", start)
    for m in _ROSTER_BLOCK.finditer(text, end):
        if text[end : m.start()].strip() or int(m.group(1)) != len(blocks) + 1:
            break  # the list ends where the blocks stop being contiguous and numbered 1, 2, …
        blocks.append(m.groups())
        end = m.end()
    if len(blocks) < 2:
        raise ValueError("no numbered enterprise list after the 序号 header")
    seqs = [int(b[0]) for b in blocks]
    return pl.DataFrame(
        {
            "enterprise_id": [f"CQ{s:03d}" for s in seqs],
            "seq": seqs,
            "name": [b[1].strip() for b in blocks],
            "district": [re.sub(r"\s+", "", b[2]) for b in blocks],
            "sector_label": [b[3].strip() for b in blocks],
        },
        schema={
            "enterprise_id": pl.String,
            "seq": pl.Int64,
            "name": pl.String,
            "district": pl.String,
            "sector_label": pl.String,
        },
    )


def synthetic_roster(n: int, seed: int) -> pl.DataFrame:
    """`n` synthetic enterprises with the sector mix of the real list (ids SYN000001…)."""
    rng = np.random.default_rng([seed, 7])
    sectors = np.array([s for s, _ in SECTOR_MIX])
    p = np.array([c for _, c in SECTOR_MIX], dtype=float)
    sector = sectors[rng.choice(len(sectors), size=n, p=p / p.sum())]
    district = np.array(DISTRICTS)[rng.integers(0, len(DISTRICTS), size=n)]
    seq = np.arange(1, n + 1)
    shale = (sector == "石油和天然气生产行业") & (rng.random(n) < SHALE_GAS_SHARE_OF_OIL_GAS)
    df = pl.DataFrame({"seq": seq, "sector_label": sector, "district": district, "shale": shale})
    return df.select(
        enterprise_id=pl.format("SYN{}", pl.col("seq").cast(pl.String).str.zfill(6)),
        seq=pl.col("seq").cast(pl.Int64),
        name=pl.when(pl.col("shale"))
        .then(pl.format("合成页岩气开发{}有限公司", pl.col("seq").cast(pl.String).str.zfill(6)))
        .otherwise(pl.format("合成示例单位{}有限公司", pl.col("seq").cast(pl.String).str.zfill(6))),
        district=pl.col("district"),
        sector_label=pl.col("sector_label"),
    )


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
def _dec_series(scaled: np.ndarray, places: int, scale: int = 4) -> pl.Series:
    """Exact Decimal(18, scale) from ints holding value × 10^places (negative = null), via Arrow."""
    import pyarrow as pa

    scaled = np.asarray(scaled, dtype=np.int64)
    null = scaled < 0
    words = np.zeros((len(scaled), 2), dtype=np.int64)  # little-endian int128: (low, high = 0)
    words[:, 0] = np.where(null, 0, scaled) * 10 ** (scale - places)
    validity = pa.py_buffer(np.packbits(~null, bitorder="little")) if null.any() else None
    arr = pa.Array.from_buffers(pa.decimal128(18, scale), len(scaled), [validity, pa.py_buffer(words)])
    return pl.Series(arr)


def _days_in_year(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return np.where(((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0), 366, 365)


def _jan1(y: np.ndarray) -> np.ndarray:
    return (np.asarray(y) - 1970).astype("datetime64[Y]").astype("datetime64[D]")


def _to_dates(d64: np.ndarray) -> pl.Series:
    return pl.Series(d64.astype("datetime64[D]")).cast(pl.Date)


def _split_int(total: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split each total[i] (int ≥ 0) into k[i] random integer parts that sum exactly to it.

    Returns (group index per part, part values); parts may be 0 (callers drop them).
    """
    idx = np.nonzero(k > 0)[0]
    kk, tt = k[idx], total[idx]
    grp = np.repeat(idx, kk)
    w = rng.uniform(0.3, 1.0, size=len(grp))
    ends = np.cumsum(kk)
    starts = ends - kk
    cs = np.cumsum(w)
    base = np.concatenate([[0.0], cs])[starts]
    frac = (cs - np.repeat(base, kk)) / np.repeat(cs[ends - 1] - base, kk)
    bound = np.minimum(np.floor(np.repeat(tt, kk) * frac).astype(np.int64), np.repeat(tt, kk))
    bound[ends - 1] = tt
    prev = np.concatenate([[0], bound[:-1]])
    prev[starts] = 0
    return grp, bound - prev


def _round_half_up(x: Decimal, places: int = 0) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# Edge-case plan
# ---------------------------------------------------------------------------------------------
@dataclass
class _Plan:
    """Which enterprise hosts which special case, and what the line register must look like."""

    cases: dict[str, str] = field(default_factory=dict)  # case → enterprise_id
    n_primary: dict[str, int] = field(default_factory=dict)  # enterprise_id → forced counts
    n_secondary: dict[str, int] = field(default_factory=dict)


# (case, preferred sectors, forced (n_primary, n_secondary) or None); hosts are picked in this order.
_LINE_CASES: tuple[tuple[str, tuple[str, ...], tuple[int, int] | None], ...] = (
    ("new_build_2020_03_01", ("化工行业",), (0, 2)),
    ("new_build_2021_01_01", ("机械设备制造业",), (0, 2)),
    ("clinker_new_2021_07_01", ("水泥制造行业",), (2, 0)),
    ("reduction_project", ("玻璃及玻璃制品制造业",), (0, 2)),
    ("major_change_2019_01_01", ("造纸与纸制品生产业",), (0, 2)),
    ("major_change_2020_05_15", ("其他有色金属冶炼和压延加工业",), (0, 2)),
    ("electricity_factor_intensity", ("电子设备制造业",), (0, 2)),
    ("electricity_factor_total", ("机械设备制造业",), (0, 2)),
    ("non_co2_n2o_1", ("化工行业",), None),
    ("non_co2_n2o_2", ("化工行业",), None),
    ("non_co2_n2o_3", ("化工行业", "石油化工行业"), None),
    ("non_co2_pfc", ("电解铝行业",), None),
    ("intensity_outlier", ("化工行业",), (0, 2)),
    ("intensity_exact_20pct", ("食品、烟草及酒、饮料和精制茶生产行业",), (0, 2)),
    ("total_shutdown_over_183", ("玻璃及玻璃制品制造业",), (0, 2)),
    ("total_shutdown_exact_183", ("陶瓷生产行业",), (0, 2)),
    ("equal_enterprise_shutdown", ("其他行业",), (0, 2)),
    ("intensity_zero_output", ("机械设备制造业",), (0, 2)),
    ("stopped_2022_11_01", ("化工行业",), (0, 2)),
    ("zero_days_2023", ("其他有色金属冶炼和压延加工业",), (0, 2)),
    ("leap_2020_full_year", ("造纸与纸制品生产业",), None),
    ("closed_missing_verification", ("其他行业",), (0, 1)),
    ("offsets_t10", ("其他行业",), (0, 1)),
    ("borrowing_clinker", ("水泥制造行业",), (1, 0)),
    ("incentive_2023", ("玻璃及玻璃制品制造业",), (0, 1)),
    ("incentive_penalized_2023", ("陶瓷生产行业",), (0, 1)),
    ("gap_exemption_2022", ("食品、烟草及酒、饮料和精制茶生产行业",), (0, 1)),
    ("surplus_cap_2023", ("造纸与纸制品生产业",), (0, 1)),
    # ledger-only cases
    ("vintage_later_than_year", ("机械设备制造业",), None),
    ("free_vintage_2019_refused", ("化工行业",), None),
    ("purchased_vintage_2018", ("电子设备制造业",), None),
    ("offsets_over_limit_2021", ("其他行业",), None),
    ("green_power_2022_refused", ("机械设备制造业",), None),
    ("ccer_2023_refused", ("化工行业",), None),
    ("cqcer_over_limit_2023", ("其他行业",), None),
    ("late_2022", ("电子设备制造业",), None),
    ("preallocation_cancelled_2022", ("玻璃及玻璃制品制造业",), None),
    # added later: last, so the hosts above keep their enterprises; its host must already have the
    # forced line counts (`_NATURAL_COUNT_CASES`), so no random stream sized by line count moves
    ("borrowing_above_pool", ("水泥制造行业",), (1, 0)),
    # rules.md v2 (added after; hosts of their natural line counts, like borrowing_above_pool)
    ("major_change_2023_03_01", ("造纸与纸制品生产业",), (0, 2)),
    ("reduction_project_2021_03_01", ("电子设备制造业",), (0, 2)),
    ("incentive_under_investigation_2023", ("陶瓷生产行业",), (0, 1)),
)
_NATURAL_COUNT_CASES = frozenset(
    {
        "borrowing_above_pool",
        "major_change_2023_03_01",
        "reduction_project_2021_03_01",
        "incentive_under_investigation_2023",
    }
)
# cases added after the first release of the sample (listed last in its README)
_ADDED_CASES = frozenset(
    {
        "borrowing_above_pool",
        "borrowing_2023_refused",
        "ledger_without_verification_2022",
        "major_change_2023_03_01",
        "reduction_project_2021_03_01",
        "incentive_under_investigation_2023",
        "green_power_from_city_2023",
        "certificate_reused_2023",
    }
)
_EXCLUDED_NAME = "重庆示例未纳入单位有限公司"
GREEN_CERTIFICATE = "GEC-2023-0001"  # the green-power certificate of CQ013-like borrowing_clinker


def _case_kind(case: str, forced: tuple[int, int] | None) -> int:
    if case == "non_co2_pfc":
        return K_ALU
    if forced is not None and forced[0] > 0:
        return K_CEMENT
    return K_OTHER


def _make_plan(
    ent: pl.DataFrame,
    kind: np.ndarray,
    rng: np.random.Generator,
    counts: tuple[np.ndarray, np.ndarray] | None = None,
) -> _Plan:
    """`counts`: the line counts (primary, secondary) drawn for each enterprise, which the hosts of
    `_NATURAL_COUNT_CASES` must already have."""
    plan = _Plan()
    ids = ent["enterprise_id"].to_numpy()
    sectors = ent["sector_label"].to_numpy()
    taken = np.zeros(len(ids), dtype=bool)
    order = rng.permutation(len(ids))  # random but seed-determined preference among candidates
    for case, prefs, forced in _LINE_CASES:
        want = _case_kind(case, forced)
        fits = np.ones(len(ids), dtype=bool)
        if case in _NATURAL_COUNT_CASES:
            if counts is None or forced is None:
                continue
            fits = (counts[0] == forced[0]) & (counts[1] == forced[1])
        pick = -1
        for pass_ in (0, 1):  # preferred sectors first, then any enterprise of the right kind
            for i in order:
                if fits[i] and not taken[i] and kind[i] == want and (pass_ == 1 or sectors[i] in prefs):
                    pick = i
                    break
            if pick >= 0:
                break
        if pick < 0:
            continue  # roster too small or lacks the kind: case skipped
        taken[pick] = True
        plan.cases[case] = str(ids[pick])
        if forced is not None:
            plan.n_primary[str(ids[pick])] = forced[0]
            plan.n_secondary[str(ids[pick])] = forced[1]
    return plan


# ---------------------------------------------------------------------------------------------
# build_inbox
# ---------------------------------------------------------------------------------------------
def _next_id(last: str) -> str:
    m = re.match(r"^(.*?)(\d+)$", last)
    if not m:
        return last + "X"
    return f"{m.group(1)}{int(m.group(2)) + 1:0{len(m.group(2))}d}"


def build_inbox(roster: pl.DataFrame, seed: int, *, edge_cases: bool = True) -> dict[str, pl.DataFrame]:
    """Contract-shaped inbox tables for the enterprises of `roster`.

    `roster` needs enterprise_id, name, sector_label (district and listed_years optional; listed
    years default to 2021,2022,2023). With `edge_cases`, the special cases of `_LINE_CASES` are
    placed on enterprises picked by sector (skipped when the roster has no fitting enterprise),
    one closed enterprise is listed 2021,2022 only, and one unlisted enterprise with ledger rows
    is appended. Returns {catalog table name: typed frame} plus `edge_cases` (the manifest).
    """
    rng = np.random.default_rng(seed)
    erng = np.random.default_rng([seed, 1])  # edge-case stream: keeps the generic data unchanged
    ent = roster.select(
        pl.col("enterprise_id").cast(pl.String),
        pl.col("name").cast(pl.String),
        (pl.col("district") if "district" in roster.columns else pl.lit(None))
        .cast(pl.String)
        .alias("district"),
        pl.col("sector_label").cast(pl.String),
        (pl.col("listed_years") if "listed_years" in roster.columns else pl.lit("2021,2022,2023"))
        .cast(pl.String)
        .alias("listed_years"),
    )
    n_e = ent.height
    sector = ent["sector_label"].to_numpy()
    names = ent["name"].to_numpy()
    kind = np.full(n_e, K_OTHER)
    kind[sector == "水泥制造行业"] = K_CEMENT
    kind[sector == "电解铝行业"] = K_ALU
    kind[sector == "生活垃圾焚烧行业"] = K_WASTE
    kind[sector == "钢铁行业"] = K_STEEL
    kind[np.char.find(names.astype(str), "页岩气") >= 0] = K_SHALE

    eid_s = ent["enterprise_id"]
    pos = {e: i for i, e in enumerate(ent["enterprise_id"].to_list())}

    # ---- line counts ------------------------------------------------------------------------
    u1, u2 = rng.random(n_e), rng.random(n_e)
    n_p = np.zeros(n_e, dtype=np.int64)
    n_s = np.zeros(n_e, dtype=np.int64)
    n_p[kind == K_CEMENT] = 1 + (u1[kind == K_CEMENT] < 0.35)
    n_s[kind == K_CEMENT] = u2[kind == K_CEMENT] < 0.45
    n_p[kind == K_ALU] = 1 + (u1[kind == K_ALU] < 0.34)
    n_s[kind == K_ALU] = u2[kind == K_ALU] < 0.5
    n_p[kind == K_WASTE] = 1 + (u1[kind == K_WASTE] < 0.3)
    n_p[kind == K_SHALE] = 1 + (u1[kind == K_SHALE] < 0.5)
    n_s[kind == K_STEEL] = 2 + np.minimum((u1[kind == K_STEEL] * 4).astype(int), 3)
    other_counts = rng.choice([1, 2, 3, 4, 5], size=n_e, p=[0.33, 0.3, 0.2, 0.11, 0.06])
    n_s[kind == K_OTHER] = other_counts[kind == K_OTHER]
    # the plan draws from the edge-case stream only: made here, it can see the drawn line counts
    plan = _make_plan(ent, kind, erng, (n_p, n_s)) if edge_cases else _Plan()
    for e, v in plan.n_primary.items():
        n_p[pos[e]] = v
    for e, v in plan.n_secondary.items():
        n_s[pos[e]] = v

    # ---- enterprise scale (t/yr at full production) ------------------------------------------
    log_scale = np.clip(rng.normal(4.85, 0.42, n_e), 4.12, 6.3)
    log_scale[kind == K_STEEL] = np.clip(rng.normal(5.5, 0.35, n_e), 4.6, 6.4)[kind == K_STEEL]
    log_scale[kind == K_WASTE] = np.clip(rng.normal(5.1, 0.2, n_e), 4.6, 5.6)[kind == K_WASTE]
    log_scale[kind == K_SHALE] = np.clip(rng.normal(5.0, 0.25, n_e), 4.4, 5.6)[kind == K_SHALE]
    scale = 10**log_scale
    scale[np.char.find(names.astype(str), "重庆钢铁股份") >= 0] = 6.4e6  # the integrated steel works
    prod_off = rng.integers(0, 1000, n_e)

    # ---- lines ------------------------------------------------------------------------------
    n_l = n_p + n_s
    L = int(n_l.sum())
    l_e = np.repeat(np.arange(n_e), n_l)
    first = np.cumsum(n_l) - n_l
    l_k = np.arange(L) - np.repeat(first, n_l)  # 0-based slot within the enterprise
    l_primary = l_k < n_p[l_e]
    l_kind = kind[l_e]
    # product table (flat) with per-sector start/len
    sec_names = sorted(SECTOR_PRODUCTS)
    flat = [p for s in sec_names for p in SECTOR_PRODUCTS[s]]
    starts = np.cumsum([0] + [len(SECTOR_PRODUCTS[s]) for s in sec_names])[:-1]
    lens = np.array([len(SECTOR_PRODUCTS[s]) for s in sec_names])
    generic_idx = sec_names.index("其他行业")
    sec_idx_map = {s: i for i, s in enumerate(sec_names)}
    e_sec_idx = np.array([sec_idx_map.get(s, generic_idx) for s in sector], dtype=np.int64)
    ls = e_sec_idx[l_e]
    sk = l_k - n_p[l_e]  # slot among secondary lines
    p_idx = starts[ls] + (prod_off[l_e] + np.maximum(sk, 0)) % lens[ls]
    f_prod = np.array([p[0] for p in flat])
    f_unit = np.array([p[1] for p in flat])
    f_lo = np.array([p[2] for p in flat])
    f_hi = np.array([p[3] for p in flat])

    activity = np.full(L, "other", dtype=object)
    product = f_prod[p_idx].astype(object)
    unit = f_unit[p_idx].astype(object)
    r = rng.uniform(f_lo[p_idx], f_hi[p_idx])
    line_name = np.empty(L, dtype=object)
    sec_names_arr = np.array([f"{k + 1}#{p}生产线" for k, p in zip(l_k, product, strict=True)], dtype=object)
    line_name[:] = sec_names_arr
    for kd, (act, prod, un, pat) in _PRIMARY.items():
        m = l_primary & (l_kind == kd)
        activity[m] = act
        product[m] = prod
        unit[m] = un
        line_name[m] = [pat.format(k=k + 1) for k in l_k[m]]
    m_grind = (~l_primary) & (l_kind == K_CEMENT)
    line_name[m_grind] = "水泥粉磨站"
    m_anode = (~l_primary) & (l_kind == K_ALU)
    line_name[m_anode] = "阳极炭素车间"

    ur = rng.random(L)
    r = np.where(l_primary & (l_kind == K_CEMENT), 0.815 + 0.08 * ur, r)  # ~0.80–0.90 t/t clinker
    r = np.where(l_primary & (l_kind == K_ALU), 7.56 + 0.58 * ur, r)  # ~7.5–8.2 t/t aluminium
    r = np.where(l_primary & (l_kind == K_WASTE), 0.28 + 0.17 * ur, r)
    r = np.where(l_primary & (l_kind == K_SHALE), 0.4 + 0.8 * ur, r)

    # base emission B (t/yr at full production)
    w = rng.gamma(2.0, 1.0, L)
    w_sum = np.bincount(l_e, weights=np.where(l_primary, 0.0, w), minlength=n_e)
    B = scale[l_e] * w / np.where(w_sum[l_e] > 0, w_sum[l_e], 1.0)
    q_cap = rng.uniform(0.6e6, 1.5e6, L)
    B = np.where(l_primary & (l_kind == K_CEMENT), q_cap * r, B)
    al_cap = rng.uniform(150e3, 350e3, L) / np.maximum(n_p[l_e], 1)
    B = np.where(l_primary & (l_kind == K_ALU), al_cap * r, B)
    B = np.where(l_primary & np.isin(l_kind, [K_WASTE, K_SHALE]), scale[l_e] / np.maximum(n_p[l_e], 1), B)
    prim_sum = np.bincount(l_e, weights=np.where(l_primary, B, 0.0), minlength=n_e)
    B = np.where(m_grind, prim_sum[l_e] * rng.uniform(0.03, 0.06, L), B)
    B = np.where(m_anode, prim_sum[l_e] * rng.uniform(0.02, 0.04, L), B)

    eligible = np.where(l_primary, False, rng.random(L) < np.where(m_grind, 0.7, 0.5))
    elec_share = np.where(rng.random(L) < 0.6, rng.uniform(0.2, 0.7, L), 0.0)
    elec_share = np.where(l_primary & (l_kind == K_CEMENT), rng.uniform(0.05, 0.08, L), elec_share)
    elec_share = np.where(l_primary & (l_kind == K_ALU), rng.uniform(0.75, 0.82, L), elec_share)
    elec_share = np.where(m_grind, rng.uniform(0.85, 0.95, L), elec_share)
    elec_share = np.where(
        l_primary & np.isin(l_kind, [K_WASTE, K_SHALE]),
        np.where(rng.random(L) < 0.5, rng.uniform(0.05, 0.2, L), 0.0),
        elec_share,
    )
    growth = rng.uniform(0.97, 1.03, L)
    r_trend = rng.uniform(0.0, 0.02, L)  # yearly efficiency gain; benchmark lines barely move
    r_trend = np.where(l_primary & np.isin(l_kind, [K_CEMENT, K_ALU]), r_trend / 10, r_trend)
    old = rng.random(L) < 0.3
    comm = np.where(
        old,
        np.datetime64("1995-01-01") + rng.integers(0, 8216, L).astype("timedelta64[D]"),  # …2017-06-30
        np.datetime64("NaT"),
    ).astype("datetime64[D]")
    stop = np.full(L, np.datetime64("NaT"), dtype="datetime64[D]")
    reduction = np.full(L, np.datetime64("NaT"), dtype="datetime64[D]")
    major = np.full(L, np.datetime64("NaT"), dtype="datetime64[D]")
    non_co2_share = np.zeros(L)
    line_ids_s = (
        pl.DataFrame({"e": eid_s.gather(l_e), "k": l_k + 1}).select(pl.format("{}-L{}", "e", "k")).to_series()
    )

    def pos_line(lid: str) -> int:
        e, k = lid.rsplit("-L", 1)
        return int(first[pos[e]]) + int(k) - 1

    manifest: list[dict] = []

    def note(case: str, e: str, line: str | None, years: str, what: str) -> None:
        manifest.append({"case": case, "enterprise_id": e, "ref": line or "", "years": years, "what": what})

    def host_line(case: str, k: int = 2) -> tuple[str, str, int] | None:
        e = plan.cases.get(case)
        if e is None:
            return None
        lid = f"{e}-L{k}"
        return e, lid, pos_line(lid)

    D = np.datetime64
    # ---- line-register edge cases ----------------------------------------------------------
    if (h := host_line("new_build_2020_03_01")) is not None:
        e, lid, i = h
        comm[i], eligible[i] = D("2020-03-01"), False
        note(
            "new_build_2020_03_01",
            e,
            lid,
            "2020–2023",
            "`other` total line commissioned 2020-03-01: equal in 2021 and 2022 (T15), historical "
            "from 2023 with base years 2021–2022",
        )
    if (h := host_line("new_build_2021_01_01")) is not None:
        e, lid, i = h
        comm[i], eligible[i] = D("2021-01-01"), True
        note(
            "new_build_2021_01_01",
            e,
            lid,
            "2021–2023",
            "intensity line commissioned exactly 2021-01-01: first full year 2021 (equal in 2021 and "
            "2022, full_years = 2 in 2023)",
        )
    if (h := host_line("clinker_new_2021_07_01")) is not None:
        e, lid, i = h
        comm[i] = D("2021-07-01")
        note(
            "clinker_new_2021_07_01",
            e,
            lid,
            "2021–2023",
            "second clinker line commissioned 2021-07-01 (partial 2021): equal in 2021 and 2022, "
            "benchmark in 2023",
        )
    if (h := host_line("reduction_project")) is not None:
        e, lid, i = h
        reduction[i], eligible[i] = D("2019-07-01"), True
        note(
            "reduction_project",
            e,
            lid,
            "2018–2023",
            "intensity line with reduction_project_on 2019-07-01: usable base years 2020 (for 2021) "
            "and 2020–2021 (for 2022)",
        )
    if (h := host_line("major_change_2019_01_01")) is not None:
        e, lid, i = h
        major[i], eligible[i] = D("2019-01-01"), False
        note(
            "major_change_2019_01_01",
            e,
            lid,
            "2018–2023",
            "total line with major_change_on 2019-01-01 (a 1 January): 2018 unusable, 2019 usable",
        )
    if (h := host_line("major_change_2020_05_15")) is not None:
        e, lid, i = h
        major[i], eligible[i] = D("2020-05-15"), True
        note(
            "major_change_2020_05_15",
            e,
            lid,
            "2018–2023",
            "intensity line with major_change_on 2020-05-15: no usable base year for 2021 "
            "(→ fallback), only 2021 for 2022",
        )
    # rules.md v2 §3.1: dates outside their window change no base year (before v2 they wiped them all)
    if (h := host_line("major_change_2023_03_01")) is not None:
        e, lid, i = h
        major[i], eligible[i] = D("2023-03-01"), False
        note(
            "major_change_2023_03_01",
            e,
            lid,
            "2021–2023",
            "total line with major_change_on 2023-03-01, after the base years of every year: no base "
            "year unusable, the explanation says the date was outside (before v2: every base year "
            "wiped, equal method)",
        )
    if (h := host_line("reduction_project_2021_03_01")) is not None:
        e, lid, i = h
        reduction[i], eligible[i] = D("2021-03-01"), True
        note(
            "reduction_project_2021_03_01",
            e,
            lid,
            "2021–2023",
            "intensity line with reduction_project_on 2021-03-01: outside the 2018–2020 window of 2021 and "
            "2022 (all base years usable, T16); inside the provisional 2023 window 2020–2022 (2020, 2021 "
            "unusable, 2022 kept)",
        )
    if (h := host_line("electricity_factor_intensity")) is not None:
        e, lid, i = h
        elec_share[i], eligible[i] = 0.8, True
        note(
            "electricity_factor_intensity",
            e,
            lid,
            "2018–2023",
            "intensity line, 80% of CO2 from purchased electricity: grid_ef 0.6229 (2018 0.620512, "
            "6 places) → 0.5810 (2021) → 0.5703 (2022–2023): base years restated",
        )
    if (h := host_line("electricity_factor_total")) is not None:
        e, lid, i = h
        elec_share[i], eligible[i] = 0.6, False
        note(
            "electricity_factor_total",
            e,
            lid,
            "2018–2023",
            "total line with purchased electricity and factor changes; 2019 purchased_electricity_mwh "
            "empty (no correction for that year)",
        )
    for c, prod_name in (("non_co2_n2o_1", "硝酸"), ("non_co2_n2o_2", "己二酸"), ("non_co2_n2o_3", "硝酸")):
        if (h := host_line(c, 1)) is not None:
            e, lid, i = h
            product[i], unit[i] = prod_name, "t"
            line_name[i] = f"1#{prod_name}生产线"
            non_co2_share[i] = erng.uniform(0.15, 0.4)
            note(c, e, lid, "2018–2023", f"{prod_name} line with N2O: verified_non_co2_t > 0 every year")
    if (h := host_line("non_co2_pfc", 1)) is not None:
        e, lid, i = h
        non_co2_share[i] = 0.012
        note("non_co2_pfc", e, lid, "2018–2023", "aluminium line with PFC (CF4/C2F6) non-CO2 emissions")
    for c in ("intensity_outlier", "intensity_exact_20pct", "intensity_zero_output"):
        if (h := host_line(c)) is not None:
            eligible[h[2]], elec_share[h[2]] = True, 0.0
    for c in ("total_shutdown_over_183", "total_shutdown_exact_183"):
        if (h := host_line(c)) is not None:
            eligible[h[2]], elec_share[h[2]] = False, 0.0
    if (h := host_line("stopped_2022_11_01")) is not None:
        e, lid, i = h
        stop[i] = D("2022-11-01")
        note(
            "stopped_2022_11_01",
            e,
            lid,
            "2018–2022",
            "line stopped_on 2022-11-01: 2022 record (≤ 304 production days), no 2023 record → "
            "excluded in 2023",
        )
    if (h := host_line("closed_missing_verification", 1)) is not None:
        e, lid, i = h
        stop[i] = D("2022-01-01")
    for c in ("offsets_t10", "gap_exemption_2022", "surplus_cap_2023", "incentive_penalized_2023"):
        if (h := host_line(c, 1)) is not None:
            eligible[h[2]], comm[h[2]] = False, np.datetime64("NaT")
    if (h := host_line("incentive_2023", 1)) is not None:
        eligible[h[2]], comm[h[2]] = False, np.datetime64("NaT")
    if (h := host_line("offsets_t10", 1)) is not None:
        B[h[2]] = 100_000.0
    if (h := host_line("borrowing_clinker", 1)) is not None:
        r[h[2]], r_trend[h[2]], elec_share[h[2]] = 1.0, 0.0, 0.06
        B[h[2]] = erng.uniform(0.5e6, 0.8e6)
    for c in ("gap_exemption_2022", "surplus_cap_2023", "incentive_2023", "incentive_penalized_2023"):
        if (h := host_line(c, 1)) is not None:
            B[h[2]] = erng.uniform(40e3, 120e3)
    if (h := host_line("borrowing_above_pool", 1)) is not None:  # a second CQ013-like line
        r[h[2]], r_trend[h[2]], elec_share[h[2]] = 1.0, 0.0, 0.06
        B[h[2]] = erng.uniform(0.3e6, 0.6e6)

    # ---- enterprise shutdown days -----------------------------------------------------------
    Y = np.array(YEARS)
    n_y = len(Y)
    days_y = _days_in_year(Y)
    us = rng.random((n_e, n_y))
    es = np.where(
        us < 0.55, 0, np.where(us < 0.95, rng.integers(1, 41, (n_e, n_y)), rng.integers(41, 121, (n_e, n_y)))
    )
    if (e := plan.cases.get("equal_enterprise_shutdown")) is not None:
        es[pos[e], :3] = (183, 190, 0)
        refs = ", ".join(f"{e}-L{k + 1}" for k in range(int(n_l[pos[e]])))
        note(
            "equal_enterprise_shutdown",
            e,
            refs,
            "2018–2020",
            "enterprise shutdown_days 183 (2018), 190 (2019), 0 (2020): ≥ 183 in two base years → every "
            "line equal in 2021 (T6)",
        )
    if (h := host_line("leap_2020_full_year", 1)) is not None:
        es[pos[h[0]], 2] = 0

    # ---- line-years (numpy until the end; rows ordered by line, then year) ------------------
    li = np.repeat(np.arange(L), n_y)
    yi = np.tile(np.arange(n_y), L)
    yy = Y[yi]
    jan1 = _jan1(yy)
    dec31 = _jan1(yy + 1) - np.timedelta64(1, "D")
    c_ = comm[li]
    s_ = stop[li]
    exists = (np.isnat(c_) | (c_ <= dec31)) & (np.isnat(s_) | (s_ > jan1))
    li, yi, yy, jan1, dec31, c_, s_ = (a[exists] for a in (li, yi, yy, jan1, dec31, c_, s_))
    n_ly = len(li)
    days = days_y[yi]
    start = np.where(np.isnat(c_) | (c_ < jan1), jan1, c_)
    end = np.where(np.isnat(s_) | (s_ > dec31), dec31, s_ - np.timedelta64(1, "D"))
    avail = (end - start).astype(np.int64) + 1
    extra = np.where(rng.random(n_ly) < 0.6, 0, rng.integers(1, 61, n_ly))
    pdays = np.clip(np.minimum(avail, days - es[l_e[li], yi]) - extra, 0, None).astype(np.int64)
    co2 = B[li] * pdays / days * growth[li] ** (yy - 2018) * rng.uniform(0.92, 1.08, n_ly)
    inten = r[li] * (1 - r_trend[li]) ** (yy - 2018) * rng.uniform(0.985, 1.015, n_ly)
    unit_places = np.array([_UNIT_PLACES.get(u, 2) for u in unit.tolist()], dtype=np.int64)
    whole = unit_places[li] == 0
    ef_y = np.array([GRID_EF_MICRO[int(y)] for y in Y], dtype=np.int64)
    co2_c = np.round(co2 * 100).astype(np.int64)  # 1/100 t
    q = co2 / inten
    out_c = np.where(whole, np.round(q) * 100, np.round(q * 100)).astype(np.int64)
    has_ef = elec_share[li] > 0
    ef_u = np.where(has_ef, ef_y[yi], -1)  # 1e-6 t/MWh, -1 = empty
    has_mwh = has_ef & (rng.random(n_ly) > 0.03)  # a few years without the electricity figure

    def mwh_of(c: np.ndarray, share: np.ndarray, ef: np.ndarray) -> np.ndarray:  # 1/1000 MWh
        return np.round(c / 100 * share / np.maximum(ef, 1) * 1e6 * 1000).astype(np.int64)

    mwh_m = np.where(has_mwh, mwh_of(co2_c, elec_share[li], ef_u), -1)
    non_c = np.round(co2_c * non_co2_share[li]).astype(np.int64)

    def ix(i: int, year: int) -> int:
        lo, hi = np.searchsorted(li, i), np.searchsorted(li, i, side="right")
        k = lo + int(np.searchsorted(yy[lo:hi], year))
        if k >= hi or yy[k] != year:
            raise KeyError((i, year))
        return k

    def set_co2(k: int, c: int) -> None:  # CO2 changed: electricity and non-CO2 follow
        co2_c[k] = c
        non_c[k] = round(c * non_co2_share[li[k]])
        if mwh_m[k] >= 0:
            mwh_m[k] = mwh_of(np.array([c]), elec_share[li[k]], np.array([ef_u[k]]))[0]

    # ---- line-year overrides (exact values on named lines) ----------------------------------
    if (h := host_line("intensity_outlier")) is not None:
        e, lid, i = h
        k18, k19 = ix(i, 2018), ix(i, 2019)
        out_c[k19] = round(co2_c[k19] * out_c[k18] / co2_c[k18] / 1.5)  # 2019 intensity = 1.5 × 2018's
        note(
            "intensity_outlier",
            e,
            lid,
            "2019",
            "intensity line whose 2019 intensity is 1.5× the other years: ≥ 20% above the weighted mean "
            "→ dropped in 2021 and 2022",
        )
    if (h := host_line("intensity_exact_20pct")) is not None:
        e, lid, i = h
        exact = {
            2018: (120000_00, 72000_00),
            2019: (100000_00, 43400_00),
            2020: (80000_00, 34600_00),
            2021: (110000_00, 49500_00),
            2022: (105000_00, 46200_00),
            2023: (100000_00, 44000_00),
        }
        for y, (qq, c) in exact.items():
            k = ix(i, y)
            out_c[k] = qq
            set_co2(k, c)
        note(
            "intensity_exact_20pct",
            e,
            lid,
            "2018–2020",
            "intensity line, base (Q, E): 2018 (120,000, 72,000), 2019 (100,000, 43,400), 2020 (80,000, "
            "34,600): weighted mean 0.5, 2018 exactly +20% → dropped in 2021 (T3), I = 0.4333",
        )
    for case, y, n_days in (("total_shutdown_over_183", 2019, 165), ("total_shutdown_exact_183", 2020, 183)):
        if (h := host_line(case)) is not None:
            e, lid, i = h
            k = ix(i, y)
            pd0 = max(int(pdays[k]), 1)
            pdays[k] = n_days
            out_c[k] = out_c[k] * n_days // pd0
            set_co2(k, int(co2_c[k]) * n_days // pd0)
    if (h := host_line("total_shutdown_over_183")) is not None:
        note(
            "total_shutdown_over_183",
            h[0],
            h[1],
            "2019",
            "total line with 165 production days in 2019 (200 > 183 shutdown days) → 2019 dropped (T5a)",
        )
    if (h := host_line("total_shutdown_exact_183")) is not None:
        note(
            "total_shutdown_exact_183",
            h[0],
            h[1],
            "2020",
            "total line with exactly 183 shutdown days in leap year 2020 (production_days = 366 − 183 = 183) "
            "→ kept (T5b)",
        )
    if (h := host_line("intensity_zero_output")) is not None:
        e, lid, i = h
        k = ix(i, 2019)
        out_c[k], pdays[k] = 0, 0
        set_co2(k, 8560)
        note(
            "intensity_zero_output",
            e,
            lid,
            "2019",
            "intensity line idle in 2019: output 0, production_days 0, 85.60 t standby CO2 → 2019 unusable",
        )
    if (h := host_line("zero_days_2023")) is not None:
        e, lid, i = h
        k = ix(i, 2023)
        out_c[k], pdays[k] = 0, 0
        set_co2(k, 0)
        note(
            "zero_days_2023",
            e,
            lid,
            "2023",
            "2023 record with production_days 0 (and zero output/emissions) → excluded in 2023",
        )
    if (h := host_line("leap_2020_full_year", 1)) is not None:
        e, lid, i = h
        k = ix(i, 2020)
        pd0 = max(int(pdays[k]), 1)
        pdays[k] = 366
        out_c[k] = out_c[k] * 366 // pd0
        set_co2(k, int(co2_c[k]) * 366 // pd0)
        note(
            "leap_2020_full_year",
            e,
            lid,
            "2020",
            "line producing all 366 days of leap year 2020 (enterprise shutdown 0)",
        )
    if (h := host_line("electricity_factor_intensity")) is not None:
        ef_u[ix(h[2], 2018)] = 620_512
    if (h := host_line("electricity_factor_total")) is not None:
        mwh_m[ix(h[2], 2019)] = -1
    for case, y, f in (
        ("gap_exemption_2022", 2022, 1.5),
        ("surplus_cap_2023", 2023, 0.6),
        ("incentive_2023", 2023, 0.9),
        ("incentive_penalized_2023", 2023, 0.9),
        ("incentive_under_investigation_2023", 2023, 0.9),
    ):
        if (h := host_line(case, 1)) is not None:
            kp, k = ix(h[2], y - 1), ix(h[2], y)
            if case.startswith("incentive"):  # E itself falls, at the same output (E/Q falls too)
                out_c[k] = out_c[kp]
                set_co2(k, int(co2_c[kp] * f))
            else:  # last year's daily rate × this year's days × f
                prev_pd = max(int(pdays[kp]), 1)
                out_c[k] = out_c[kp] * pdays[k] // prev_pd
                set_co2(k, int(co2_c[kp] * pdays[k] // prev_pd * f))
    if (h := host_line("offsets_t10", 1)) is not None:
        set_co2(ix(h[2], 2022), 100_000_00)

    # ---- assemble typed tables --------------------------------------------------------------
    ly_e = l_e[li]
    line_years = pl.DataFrame(
        {
            "enterprise_id": eid_s.gather(ly_e),
            "line_id": line_ids_s.gather(li),
            "year": yy.astype(np.int64),
            "verified_co2_t": _dec_series(co2_c, 2),
            "verified_non_co2_t": _dec_series(non_c, 2),
            "output": _dec_series(out_c, 2),
            "production_days": pdays,
            "purchased_electricity_mwh": _dec_series(mwh_m, 3),
            "grid_ef_t_per_mwh": _dec_series(ef_u, 6, scale=6),
        }
    )
    # enterprise-years: Σ over the enterprise's lines of the year, exact in 1/100 t
    ey_key = ly_e * n_y + yi
    tot_all = np.bincount(ey_key, weights=None, minlength=n_e * n_y)  # presence
    sums = np.zeros(n_e * n_y, dtype=np.int64)
    np.add.at(sums, ey_key, co2_c + non_c)
    keys = np.nonzero(tot_all)[0]
    te, tyi = keys // n_y, keys % n_y
    ty = Y[tyi]
    tot_c = sums[keys]
    blank_total = rng.random(len(keys)) < 0.01
    enterprise_years = pl.DataFrame(
        {
            "enterprise_id": eid_s.gather(te),
            "year": ty.astype(np.int64),
            "shutdown_days": es[te, tyi].astype(np.int64),
            "verified_total_t": _dec_series(np.where(blank_total, -1, tot_c), 2),
        }
    )
    n_blank = int(blank_total.sum())

    # listed years, extra unlisted enterprise
    listed = ent["listed_years"].to_numpy().astype(object)
    closed = plan.cases.get("closed_missing_verification")
    if closed is not None:
        listed[pos[closed]] = "2021,2022"
        note(
            "closed_missing_verification",
            closed,
            f"{closed}-L1",
            "2022",
            "listed 2021,2022 only; closed (line stopped_on 2022-01-01): no 2022 report → status "
            "missing_verification in 2022; pre-allocation cancelled",
        )
    enterprises = ent.with_columns(listed_years=pl.Series(listed, dtype=pl.String))
    excluded_id = None
    if edge_cases:
        excluded_id = _next_id(str(eid_s[-1]))
        enterprises = pl.concat(
            [
                enterprises,
                pl.DataFrame(
                    {
                        "enterprise_id": [excluded_id],
                        "name": [_EXCLUDED_NAME],
                        "district": ["渝北区"],
                        "sector_label": ["其他行业"],
                        "listed_years": [None],
                    },
                    schema=enterprises.schema,
                ),
            ]
        )

    lines = pl.DataFrame(
        {
            "line_id": line_ids_s,
            "enterprise_id": eid_s.gather(l_e),
            "line_name": line_name.astype(str),
            "product": product.astype(str),
            "output_unit": unit.astype(str),
            "activity": activity.astype(str),
            "intensity_eligible": eligible.astype(bool),
        }
    ).with_columns(
        commissioned_on=_to_dates(comm),
        reduction_project_on=_to_dates(reduction),
        major_change_on=_to_dates(major),
        stopped_on=_to_dates(stop),
    )

    # ---- ledger -----------------------------------------------------------------------------
    listed_mat = (
        pl.DataFrame({"l": listed}, schema={"l": pl.String})
        .select(
            [
                pl.col("l")
                .fill_null("")
                .str.split(",")
                .list.eval(pl.element().str.strip_chars())
                .list.contains(str(y))
                .alias(str(y))
                for y in COMPLIANCE_YEARS
            ]
        )
        .to_numpy()
        .astype(bool)
    )
    listed_sets = {y: listed_mat[:, j] for j, y in enumerate(COMPLIANCE_YEARS)}
    in_cy = ty >= COMPLIANCE_YEARS[0]
    ey_e, ey_y, ey_c = te[in_cy], ty[in_cy], tot_c[in_cy]
    keep = listed_mat[ey_e, ey_y - COMPLIANCE_YEARS[0]]
    ledger_only_special = (
        "offsets_t10",
        "borrowing_clinker",
        "vintage_later_than_year",
        "free_vintage_2019_refused",
        "purchased_vintage_2018",
        "offsets_over_limit_2021",
        "green_power_2022_refused",
        "ccer_2023_refused",
        "cqcer_over_limit_2023",
        "late_2022",
    )
    host_idx = np.array(
        sorted(pos[plan.cases[c]] for c in ledger_only_special if c in plan.cases), dtype=np.int64
    )
    is_host = np.isin(ey_e, host_idx)
    gen = keep & ~is_host
    obligation = -(-ey_c // 100)  # ceil to whole tonnes
    generic_ledger = _generic_ledger(eid_s.gather(ey_e[gen]), ey_y[gen], obligation[gen], rng)

    # special ledger rows (tagged) for the hosts only
    oblig = {
        (eid_s[int(e)], int(y)): int(o)
        for e, y, o in zip(ey_e[is_host], ey_y[is_host], obligation[is_host], strict=True)
    }
    exact_e = {
        (eid_s[int(e)], int(y)): int(c)
        for e, y, c in zip(ey_e[is_host], ey_y[is_host], ey_c[is_host], strict=True)
    }
    rows: list[dict] = []

    def row(
        tag: str,
        e: str,
        y: int,
        on: dt.date,
        instrument: str,
        q: int,
        vintage: int | None = None,
        via: str | None = None,
        origin: str | None = None,
        hydro: bool | None = None,
        appended: bool = False,
        certificate: str | None = None,
    ) -> None:
        if q <= 0:
            raise ValueError(f"edge-case ledger row {tag} with quantity {q}")
        rows.append(
            {
                "appended": appended,
                "tag": tag,
                "enterprise_id": e,
                "compliance_year": y,
                "surrendered_on": on,
                "instrument": instrument,
                "quantity_t": q,
                "vintage": vintage,
                "acquired_via": via,
                "origin": origin,
                "is_hydro": hydro,
                "certificate_id": certificate,
            }
        )

    def cover_normally(e: str, years: tuple[int, ...]) -> None:
        for y in years:
            if (e, y) in oblig:
                row("", e, y, DEADLINES[y] - dt.timedelta(days=20), "allowance", oblig[(e, y)], y, "free")

    if (e := plan.cases.get("offsets_t10")) is not None:
        d = dt.date(2024, 3, 15)
        row("t10_cq", e, 2022, d, "cqcer", 7000, origin="chongqing", hydro=False)
        row("t10_circle", e, 2022, d, "ccer", 1500, origin="chengdu_chongqing_circle", hydro=False)
        row("t10_other", e, 2022, d, "other_offset", 1000, origin="other", hydro=False)
        row("t10_hydro", e, 2022, d, "ccer", 500, origin="chongqing", hydro=True)
        row("", e, 2022, dt.date(2024, 3, 10), "allowance", oblig[(e, 2022)] - 8000, 2022, "free")
        cover_normally(e, (2021, 2023))
        note(
            "offsets_t10",
            e,
            None,
            "2022",
            "E = 100,000.00 exactly; offsets CQ 7,000, circle 1,500, other 1,000, CQ hydro 500 + 92,000 "
            "allowances (T10: 8,000 accepted, hydro refused) → cleared on time",
        )
    if (e := plan.cases.get("borrowing_clinker")) is not None:
        k0 = ix(pos_line(f"{e}-L1"), 2021)
        outs = {int(yy[k]): int(out_c[k]) for k in range(k0, k0 + 3)}
        info = _borrowing_rows(e, outs, exact_e, row)
        note(
            "borrowing_clinker",
            e,
            f"{e}-L1",
            "2021–2023",
            "single clinker line at ~1.0 tCO2/t (allocation = benchmark × output, gap ≈ 17% of E): "
            f"borrowed_preallocation {info['b21']:,} t in 2021 (= borrowable), {info['b22'] + 5000:,} t in "
            f"2022 (borrowable {info['b22']:,} + 5,000 above it); 2023 green_power 3,000 t (2,000 accepted)",
        )
    if (e := plan.cases.get("vintage_later_than_year")) is not None:
        o = oblig[(e, 2021)]
        row("", e, 2021, dt.date(2023, 12, 1), "allowance", o - 10000, 2021, None)
        row("vintage_2022_in_2021", e, 2021, dt.date(2023, 12, 1), "allowance", 10000, 2022, "free")
        cover_normally(e, (2022, 2023))
        note(
            "vintage_later_than_year",
            e,
            None,
            "2021",
            "2021 surrender includes 10,000 t of vintage 2022 (later than the year → refused) → not cleared",
        )
    if (e := plan.cases.get("free_vintage_2019_refused")) is not None:
        o = oblig[(e, 2021)]
        row("", e, 2021, dt.date(2023, 12, 20), "allowance", o - 5000, 2021, "free")
        row("free_2019", e, 2021, dt.date(2023, 12, 20), "allowance", 5000, 2019, "free")
        row("late_topup_2021", e, 2021, dt.date(2024, 2, 20), "allowance", 5000, 2021, "purchase")
        cover_normally(e, (2022, 2023))
        note(
            "free_vintage_2019_refused",
            e,
            None,
            "2021",
            "5,000 t free vintage-2019 allowances refused (not carried over); topped up with purchased "
            "vintage 2021 on 2024-02-20 → cleared late",
        )
    if (e := plan.cases.get("purchased_vintage_2018")) is not None:
        o = oblig[(e, 2022)]
        row("purchase_2018", e, 2022, dt.date(2024, 3, 1), "allowance", 8000, 2018, "purchase")
        row("", e, 2022, dt.date(2024, 3, 1), "allowance", o - 8000, 2022, None)
        cover_normally(e, (2021, 2023))
        note(
            "purchased_vintage_2018",
            e,
            None,
            "2022",
            "8,000 t vintage-2018 allowances acquired by purchase → accepted; cleared on time",
        )
    if (e := plan.cases.get("offsets_over_limit_2021")) is not None:
        o = oblig[(e, 2021)]
        f = -(-o // 10)  # 10% of E
        row("offsets_10pct", e, 2021, dt.date(2023, 11, 30), "ccer", f, origin="chongqing", hydro=False)
        row("", e, 2021, dt.date(2023, 11, 30), "allowance", o - f, 2021, "free")
        cover_normally(e, (2022, 2023))
        note(
            "offsets_over_limit_2021",
            e,
            None,
            "2021",
            "CCER (Chongqing, non-hydro) for 10% of E: only 8% of E accepted → shortfall, not cleared",
        )
    if (e := plan.cases.get("green_power_2022_refused")) is not None:
        o = oblig[(e, 2022)]
        row("green_power_2022", e, 2022, dt.date(2024, 3, 20), "green_power", 3000, origin="other")
        row("", e, 2022, dt.date(2024, 3, 20), "allowance", o - 3000, 2022, "free")
        cover_normally(e, (2021, 2023))
        note(
            "green_power_2022_refused",
            e,
            None,
            "2022",
            "3,000 t green_power in 2022 (not an eligible instrument before 2023) → refused, not cleared",
        )
    if (e := plan.cases.get("ccer_2023_refused")) is not None:
        o = oblig[(e, 2023)]
        cq = o * 4 // 100
        row("ccer_2023", e, 2023, dt.date(2024, 12, 10), "ccer", 2000, origin="chongqing", hydro=False)
        row("cqcer_2023_ok", e, 2023, dt.date(2024, 12, 10), "cqcer", cq, origin="chongqing", hydro=False)
        row("", e, 2023, dt.date(2024, 12, 10), "allowance", o - cq - 2000, 2023, "free")
        cover_normally(e, (2021, 2022))
        note(
            "ccer_2023_refused",
            e,
            None,
            "2023",
            "2,000 t CCER in 2023 refused (CQCER only); CQCER for 4% of E accepted → shortfall 2,000",
        )
    if (e := plan.cases.get("cqcer_over_limit_2023")) is not None:
        o = oblig[(e, 2023)]
        cq = -(-o * 6 // 100)
        row("cqcer_6pct", e, 2023, dt.date(2024, 12, 5), "cqcer", cq, origin="chongqing", hydro=False)
        row("", e, 2023, dt.date(2024, 12, 5), "allowance", o - cq, 2022, None)
        cover_normally(e, (2021, 2022))
        note(
            "cqcer_over_limit_2023",
            e,
            None,
            "2023",
            "CQCER for 6% of E in 2023: 5% of E accepted, the rest refused → shortfall",
        )
    if (e := plan.cases.get("late_2022")) is not None:
        o = oblig[(e, 2022)]
        row("", e, 2022, dt.date(2024, 3, 28), "allowance", o * 7 // 10, 2022, "free")
        row("late_2022", e, 2022, dt.date(2024, 4, 1), "allowance", o - o * 7 // 10, 2021, "free")
        cover_normally(e, (2021, 2023))
        note(
            "late_2022",
            e,
            None,
            "2022",
            "70% surrendered 2024-03-28, the rest on 2024-04-01 (a day after the deadline) → cleared late",
        )
    # Rows added after the first release of the sample: numbered after every other row of their
    # year (`appended`), so the txn_id of each earlier row stays what it was.
    if (e := plan.cases.get("borrowing_above_pool")) is not None:
        k0 = ix(pos_line(f"{e}-L1"), 2021)
        outs = {int(yy[k]): int(out_c[k]) for k in range(k0, k0 + 3)}
        exact = {(e, int(y)): int(c) for ee, y, c in zip(ey_e, ey_y, ey_c, strict=True) if ee == pos[e]}
        a_final, borrowable = _clinker_allocation(e, outs, exact)
        gap_pct = round(100 * (1 - a_final[2022] * 100 / exact[(e, 2022)]))
        b22 = max(borrowable[2022] // 2, 1)  # within the borrowable quantity, above the pool (0)
        row("above_pool_2022", e, 2022, dt.date(2024, 3, 26), "borrowed_preallocation", b22, appended=True)
        note(
            "borrowing_above_pool",
            e,
            f"{e}-L1",
            "2022",
            f"single clinker line at ~1.0 tCO2/t like CQ013 (gap ≈ {gap_pct}% of E, borrowable "
            f"{borrowable[2022]:,} t in 2022), 2023 pre-allocation cancelled (attributes/2022.csv): "
            f"borrowed_preallocation {b22:,} t (within borrowable) → refused, above borrowing pool (0)",
        )
        row("borrowing_2023", e, 2023, dt.date(2024, 12, 18), "borrowed_preallocation", 1000, appended=True)
        note(
            "borrowing_2023_refused",
            e,
            None,
            "2023",
            "1,000 t borrowed_preallocation in 2023 (borrowing only for 2021–2022) → refused, borrowing "
            "not allowed this year",
        )
    if (e := plan.cases.get("borrowing_clinker")) is not None:  # rules.md v2 §6, green power
        row(
            "green_power_city_2023", e, 2023, dt.date(2024, 12, 19), "green_power", 1000,
            origin="chongqing", certificate="GEC-2023-CQ-0002", appended=True,
        )  # fmt: skip
        note(
            "green_power_from_city_2023",
            e,
            None,
            "2023",
            "1,000 t green power bought in Chongqing (origin chongqing) → refused, bought inside the city",
        )
        row(
            "green_power_reused_2023", e, 2023, dt.date(2024, 12, 20), "green_power", 500,
            origin="other", certificate=GREEN_CERTIFICATE, appended=True,
        )  # fmt: skip
        note(
            "certificate_reused_2023",
            e,
            None,
            "2023",
            f"500 t green power on certificate {GREEN_CERTIFICATE}, already presented on 2024-12-16 by "
            "the 3,000 t row → refused, certificate already used",
        )
    if closed is not None:
        row(
            "no_report_2022",
            closed,
            2022,
            dt.date(2024, 3, 20),
            "allowance",
            2000,
            2021,
            "purchase",
            appended=True,
        )
        note(
            "ledger_without_verification_2022",
            closed,
            None,
            "2022",
            "the closed enterprise (listed for 2022, no 2022 report) surrenders 2,000 t for 2022 → refused, "
            "no verified emissions for 2022; status stays missing_verification",
        )
    if excluded_id is not None:
        row("excluded_2022", excluded_id, 2022, dt.date(2024, 3, 25), "allowance", 5000, 2022, "purchase")
        row("excluded_2023", excluded_id, 2023, dt.date(2024, 12, 20), "allowance", 3000, 2023, "purchase")
        note(
            "excluded_unlisted",
            excluded_id,
            None,
            "2022, 2023",
            f"{_EXCLUDED_NAME}: not on any list, no lines, ledger rows in 2022 and 2023 → status excluded",
        )
    special_ledger = pl.DataFrame(
        rows,
        schema={
            "appended": pl.Boolean,
            "tag": pl.String,
            "enterprise_id": pl.String,
            "compliance_year": pl.Int64,
            "surrendered_on": pl.Date,
            "instrument": pl.String,
            "quantity_t": pl.Int64,
            "vintage": pl.Int64,
            "acquired_via": pl.String,
            "origin": pl.String,
            "is_hydro": pl.Boolean,
            "certificate_id": pl.String,
        },
    )
    ledger = pl.concat(
        [generic_ledger.with_columns(appended=pl.lit(False)), special_ledger], how="diagonal_relaxed"
    )
    ledger = ledger.sort(
        "compliance_year",
        "appended",
        "surrendered_on",
        "enterprise_id",
        "instrument",
        "quantity_t",
        "tag",
        maintain_order=True,
    )
    ledger = ledger.with_columns(
        txn_id=pl.format(
            "T{}-{}",
            pl.col("compliance_year").cast(pl.String),
            (pl.int_range(pl.len()).over("compliance_year") + 1).cast(pl.String).str.zfill(6),
        )
    )
    tag_to_txn = dict(zip(*ledger.filter(pl.col("tag") != "").select("tag", "txn_id"), strict=True))
    for m in manifest:  # attach txn ids of the tagged rows of each ledger case
        refs = [t for tag, t in sorted(tag_to_txn.items()) if _tag_case(tag) == m["case"]]
        if refs and not m["ref"]:
            m["ref"] = ", ".join(sorted(refs))
        elif refs:
            m["ref"] += " / " + ", ".join(sorted(refs))
    ledger = ledger.select(catalog.LEDGER.names)

    # ---- attributes -------------------------------------------------------------------------
    attributes = _attributes(enterprises, listed_sets, sector, plan, rng, note)

    if n_blank:
        note(
            "verified_total_blank",
            "",
            None,
            "all",
            f"{n_blank} enterprise-year rows leave verified_total_t empty (optional column)",
        )
    # cases added after the first release come last, so the earlier rows keep their order
    manifest.sort(key=lambda m: m["case"] in _ADDED_CASES)
    edge = pl.DataFrame(
        manifest,
        schema={
            "case": pl.String,
            "enterprise_id": pl.String,
            "ref": pl.String,
            "years": pl.String,
            "what": pl.String,
        },
    )

    out = {
        "enterprises": enterprises,
        "lines": lines,
        "line_years": line_years,
        "enterprise_years": enterprise_years,
        "attributes": attributes,
        "ledger": ledger,
    }
    for t in catalog.INPUTS:
        if t.name not in out:  # review requests (复核) are not part of the synthetic inbox
            continue
        out[t.name] = out[t.name].select([pl.col(c.name).cast(c.polars_type) for c in t.columns])
    out["edge_cases"] = edge
    return out


_TAG_CASE = {
    "t10_": "offsets_t10",
    "borrow_": "borrowing_clinker",
    "vintage_2022_in_2021": "vintage_later_than_year",
    "free_2019": "free_vintage_2019_refused",
    "late_topup_2021": "free_vintage_2019_refused",
    "purchase_2018": "purchased_vintage_2018",
    "offsets_10pct": "offsets_over_limit_2021",
    "green_power_2022": "green_power_2022_refused",
    "green_power_2023": "borrowing_clinker",
    "ccer_2023": "ccer_2023_refused",
    "cqcer_2023_ok": "ccer_2023_refused",
    "cqcer_6pct": "cqcer_over_limit_2023",
    "late_2022": "late_2022",
    "excluded_": "excluded_unlisted",
    "above_pool_2022": "borrowing_above_pool",
    "borrowing_2023": "borrowing_2023_refused",
    "no_report_2022": "ledger_without_verification_2022",
    "green_power_city_2023": "green_power_from_city_2023",
    "green_power_reused_2023": "certificate_reused_2023",
}


def _tag_case(tag: str) -> str:
    for prefix, case in _TAG_CASE.items():
        if tag == prefix or (prefix.endswith("_") and tag.startswith(prefix)):
            return case
    return ""


def _clinker_allocation(e: str, out: dict[int, int], exact_e: dict) -> tuple[dict, dict]:
    """A_final and borrowable of a single-clinker enterprise (benchmark × output), by year, from
    its outputs and exact E (both in 1/100): predictable without running the allocation."""
    a_final, borrowable = {}, {}
    for y in (2021, 2022, 2023):
        E = Decimal(exact_e[(e, y)]) / 100
        a_raw = _round_half_up(_BENCHMARK[y]["cement_clinker"] * Decimal(out[y]) / 100, 4)
        a_adj = max(a_raw, Decimal("0.8") * E, E - 200000) if y < 2023 else a_raw
        a_final[y] = int(_round_half_up(a_adj, 0))
        borrowable[y] = int(
            max(Decimal(0), (E - a_final[y]) - Decimal("0.10") * E).to_integral_value(ROUND_FLOOR)
        )
    return a_final, borrowable


def _borrowing_rows(e: str, out: dict[int, int], exact_e: dict, row) -> dict:
    """Ledger of the single-clinker enterprise: borrowing sized from its predictable allocation."""
    a_final, borrowable = _clinker_allocation(e, out, exact_e)
    o = {y: -(-exact_e[(e, y)] // 100) for y in (2021, 2022, 2023)}
    b21, b22 = borrowable[2021], borrowable[2022]
    row("", e, 2021, dt.date(2023, 12, 15), "allowance", o[2021] - b21, 2021, "free")
    row("borrow_2021", e, 2021, dt.date(2023, 12, 15), "borrowed_preallocation", b21)
    row("", e, 2022, dt.date(2024, 3, 25), "allowance", o[2022] - b22, 2022, "free")
    row("borrow_2022_over", e, 2022, dt.date(2024, 3, 25), "borrowed_preallocation", b22 + 5000)
    row("", e, 2023, dt.date(2024, 12, 16), "allowance", o[2023] - 2000, 2023, "purchase")
    row(
        "green_power_2023", e, 2023, dt.date(2024, 12, 16), "green_power", 3000,
        origin="chengdu_chongqing_circle", certificate=GREEN_CERTIFICATE,
    )  # fmt: skip
    return {"b21": b21, "b22": b22, "a_final": a_final}


def _generic_ledger(
    e_ids: pl.Series, years: np.ndarray, oblig: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """Surrenders of ordinary enterprises: on time, with offsets, late, partial or nothing."""
    m = len(e_ids)
    cat = rng.choice(5, size=m, p=[0.76, 0.08, 0.07, 0.06, 0.03])  # ontime, offsets, late, partial, none
    limit = np.where(years == 2023, 0.05, 0.08)
    off_q = np.where(cat == 1, np.floor(oblig * rng.uniform(0.02, limit - 0.01)), 0).astype(np.int64)
    cover = np.where(cat == 3, np.floor(oblig * rng.uniform(0.6, 0.95, m)).astype(np.int64), oblig)
    cover = np.where(cat == 4, 0, cover)
    late_q = np.where(cat == 2, cover - np.floor(cover * rng.uniform(0.5, 0.9, m)).astype(np.int64), 0)
    allow_q = cover - off_q - late_q
    k = np.where(allow_q > 0, rng.integers(1, 4, m), 0)
    grp, parts = _split_int(allow_q, k, rng)
    # allowance rows
    y = years[grp]
    uv = rng.random(len(grp))
    vintage = np.where(
        y == 2021,
        2021,
        np.where(
            y == 2022,
            np.where(uv < 0.8, 2022, 2021),
            np.where(uv < 0.7, 2023, np.where(uv < 0.9, 2022, 2021)),
        ),
    )
    via = np.array(["", "free", "purchase"])[rng.choice(3, size=len(grp), p=[0.55, 0.35, 0.1])]
    ontime_from = np.array([np.datetime64(_ONTIME_FROM[int(v)]) for v in (2021, 2022, 2023)])
    deadline = np.array([np.datetime64(DEADLINES[int(v)]) for v in (2021, 2022, 2023)])
    span = (deadline - ontime_from).astype(np.int64)
    yi = y - 2021
    d_allow = ontime_from[yi] + (rng.random(len(grp)) * (span[yi] + 1)).astype(np.int64).astype(
        "timedelta64[D]"
    )
    frames = [
        pl.DataFrame(
            {
                "enterprise_id": e_ids.gather(grp),
                "compliance_year": y.astype(np.int64),
                "surrendered_on": d_allow,
                "instrument": "allowance",
                "quantity_t": parts,
                "vintage": vintage.astype(np.int64),
                "acquired_via": via,
            }
        )
    ]
    # offsets (one row)
    oi = np.nonzero(off_q > 0)[0]
    yo = years[oi]
    kind = np.where(yo == 2023, "cqcer", np.where(rng.random(len(oi)) < 0.5, "ccer", "cqcer"))
    d_off = ontime_from[yo - 2021] + (rng.random(len(oi)) * (span[yo - 2021] + 1)).astype(np.int64).astype(
        "timedelta64[D]"
    )
    frames.append(
        pl.DataFrame(
            {
                "enterprise_id": e_ids.gather(oi),
                "compliance_year": yo.astype(np.int64),
                "surrendered_on": d_off,
                "instrument": kind,
                "quantity_t": off_q[oi],
                "origin": "chongqing",
                "is_hydro": False,
            }
        )
    )
    # late remainder (one row)
    li_ = np.nonzero(late_q > 0)[0]
    yl = years[li_]
    lo = np.array([np.datetime64(_LATE_WINDOW[int(v)][0]) for v in yl], dtype="datetime64[D]")
    hi = np.array([np.datetime64(_LATE_WINDOW[int(v)][1]) for v in yl], dtype="datetime64[D]")
    d_late = lo + (rng.random(len(li_)) * ((hi - lo).astype(np.int64) + 1)).astype(np.int64).astype(
        "timedelta64[D]"
    )
    frames.append(
        pl.DataFrame(
            {
                "enterprise_id": e_ids.gather(li_),
                "compliance_year": yl.astype(np.int64),
                "surrendered_on": d_late,
                "instrument": "allowance",
                "quantity_t": late_q[li_],
                "vintage": yl.astype(np.int64),
                "acquired_via": "free",
            }
        )
    )
    schema = {
        "tag": pl.String,
        "enterprise_id": pl.String,
        "compliance_year": pl.Int64,
        "surrendered_on": pl.Date,
        "instrument": pl.String,
        "quantity_t": pl.Int64,
        "vintage": pl.Int64,
        "acquired_via": pl.String,
        "origin": pl.String,
        "is_hydro": pl.Boolean,
    }
    out = pl.concat(
        [
            f.with_columns(pl.col("surrendered_on").cast(pl.Date)).select(
                [(pl.col(c) if c in f.columns else pl.lit(None)).cast(t).alias(c) for c, t in schema.items()]
            )
            for f in frames
        ]
    )
    return out.with_columns(
        tag=pl.lit(""),
        acquired_via=pl.when(pl.col("acquired_via") == "").then(None).otherwise(pl.col("acquired_via")),
    ).filter(pl.col("quantity_t") > 0)


def _attributes(
    enterprises: pl.DataFrame,
    listed_sets: dict,
    sector: np.ndarray,
    plan: _Plan,
    rng: np.random.Generator,
    note,
) -> pl.DataFrame:
    eid = enterprises["enterprise_id"].head(len(sector))
    n = len(sector)
    # 2022: pre-allocation of 2023 cancelled for the closed enterprise, one more, and the host of
    # borrowing_above_pool (whose borrowing pool is then empty)
    cancel22 = np.zeros(n, dtype=bool)
    pos = {e: i for i, e in enumerate(eid.to_list())}
    for c in ("closed_missing_verification", "preallocation_cancelled_2022", "borrowing_above_pool"):
        if c in plan.cases:
            cancel22[pos[plan.cases[c]]] = True
    if "preallocation_cancelled_2022" in plan.cases:
        note(
            "preallocation_cancelled_2022",
            plan.cases["preallocation_cancelled_2022"],
            None,
            "2022",
            "attributes/2022.csv preallocation_cancelled = true (also the closed enterprise and the host of "
            "borrowing_above_pool) → no 2023 pre-allocation",
        )
    m22 = listed_sets[2022]
    a22 = pl.DataFrame(
        {
            "enterprise_id": eid.filter(pl.Series(m22)),
            "year": 2022,
            "preallocation_cancelled": cancel22[m22],
            "penalized": False,
            "weather_grade": None,
            "under_investigation": None,
            "energy_efficiency_benchmark_met": None,
        },
        schema_overrides={
            "weather_grade": pl.String,
            "under_investigation": pl.Boolean,
            "energy_efficiency_benchmark_met": pl.Boolean,
        },
    )
    # 2023: grades for heavy industries, a few penalties and cancellations
    heavy = np.isin(
        sector,
        [
            "水泥制造行业",
            "钢铁行业",
            "玻璃及玻璃制品制造业",
            "陶瓷生产行业",
            "化工行业",
            "电解铝行业",
            "石油化工行业",
            "其他有色金属冶炼和压延加工业",
        ],
    )
    g = np.array(["A", "B", "C", "D", ""])
    grade = np.where(
        heavy,
        g[rng.choice(5, size=n, p=[0.15, 0.3, 0.3, 0.1, 0.15])],
        g[rng.choice(5, size=n, p=[0.05, 0.1, 0.1, 0.0, 0.75])],
    ).astype(object)
    penal = rng.random(n) < 0.04
    cancel23 = rng.random(n) < 0.01
    for c, gr, pen in (
        ("incentive_2023", "A", False),
        ("incentive_penalized_2023", "A", True),
        ("borrowing_clinker", "C", False),
        ("incentive_under_investigation_2023", "A", False),
    ):
        if c in plan.cases:
            i = pos[plan.cases[c]]
            grade[i], penal[i], cancel23[i] = gr, pen, False
    if "incentive_2023" in plan.cases:
        e = plan.cases["incentive_2023"]
        note(
            "incentive_2023",
            e,
            f"{e}-L1",
            "2022–2023",
            "single total line whose 2023 emissions are 10% below 2022 (same output); grade A, not penalized "
            "→ synergy incentive; also energy_efficiency_benchmark_met (its increment is the provisional 0 %)",
        )
    if "incentive_penalized_2023" in plan.cases:
        e = plan.cases["incentive_penalized_2023"]
        note(
            "incentive_penalized_2023",
            e,
            f"{e}-L1",
            "2022–2023",
            "same improvement and grade A, but penalized = true → no incentive",
        )
    if "gap_exemption_2022" in plan.cases:
        e = plan.cases["gap_exemption_2022"]
        note(
            "gap_exemption_2022",
            e,
            f"{e}-L1",
            "2022",
            "single total line whose 2022 emissions are 1.5× the 2021 daily rate: A_raw < 0.8 E → gap "
            "exemption raises A to 0.8 E",
        )
    if "surplus_cap_2023" in plan.cases:
        e = plan.cases["surplus_cap_2023"]
        note(
            "surplus_cap_2023",
            e,
            f"{e}-L1",
            "2023",
            "single total line whose 2023 emissions are 0.6× the 2022 daily rate: A_raw > 1.2 E → surplus cap",
        )
    # rules.md v2 §4: empty = false; one unit under investigation, one at the energy-efficiency
    # benchmark (the incentive_2023 host: its increment is the provisional 0 %)
    investigated = np.full(n, None, dtype=object)
    efficient = np.full(n, None, dtype=object)
    if "incentive_under_investigation_2023" in plan.cases:
        e = plan.cases["incentive_under_investigation_2023"]
        investigated[pos[e]] = True
        note(
            "incentive_under_investigation_2023",
            e,
            f"{e}-L1",
            "2022–2023",
            "same improvement and grade A, not penalized, but under_investigation = true (attributes/2023.csv) "
            "→ no incentive",
        )
    if "incentive_2023" in plan.cases:
        efficient[pos[plan.cases["incentive_2023"]]] = True
    m23 = listed_sets[2023]
    a23 = pl.DataFrame(
        {
            "enterprise_id": eid.filter(pl.Series(m23)),
            "year": 2023,
            "preallocation_cancelled": cancel23[m23],
            "penalized": penal[m23],
            "weather_grade": grade[m23],
            "under_investigation": pl.Series(investigated[m23].tolist(), dtype=pl.Boolean),
            "energy_efficiency_benchmark_met": pl.Series(efficient[m23].tolist(), dtype=pl.Boolean),
        },
        schema_overrides={
            "weather_grade": pl.String,
            "under_investigation": pl.Boolean,
            "energy_efficiency_benchmark_met": pl.Boolean,
        },
    )
    a23 = a23.with_columns(
        weather_grade=pl.when(pl.col("weather_grade") == "").then(None).otherwise("weather_grade")
    )
    return pl.concat([a22, a23], how="vertical_relaxed")


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------
def _csv_frame(df: pl.DataFrame, zh: bool = False, table: catalog.Table | None = None) -> pl.DataFrame:
    """Decimals as exact strings without trailing zeros; bools as true/false (是/否 with zh)."""
    exprs = []
    for c, t in df.schema.items():
        col = pl.col(c)
        if isinstance(t, pl.Decimal):
            col = col.cast(pl.String).str.replace(r"\.?0+$", "")
        elif t == pl.Boolean and zh:
            col = pl.when(col).then(pl.lit("是")).when(~col).then(pl.lit("否")).otherwise(None)
        exprs.append(col.alias(c))
    out = df.select(exprs)
    if zh and table is not None:
        out = out.rename({c.name: c.zh for c in table.columns if c.name in out.columns})
    return out


def _xlsx_value(v):
    if v is None:
        return None
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def _write_xlsx(path: Path, sheets: list[tuple[str, pl.DataFrame]]) -> None:
    """Workbook with fixed properties (byte-stable): real Excel dates, numbers as numbers."""
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(
        str(path), {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False}
    )
    wb.set_properties({"created": _FIXED_TIMESTAMP, "author": "etsflow synthetic", "title": path.stem})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    bold = wb.add_format({"bold": True})
    for name, df in sheets:
        ws = wb.add_worksheet(name)
        ws.write_row(0, 0, df.columns, bold)
        date_cols = {i for i, t in enumerate(df.dtypes) if t == pl.Date}
        for r, values in enumerate(df.iter_rows(), start=1):
            for c, v in enumerate(values):
                if v is None:
                    continue
                if c in date_cols:
                    ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), date_fmt)
                else:
                    ws.write(r, c, _xlsx_value(v))
        ws.set_column(0, max(len(df.columns) - 1, 0), 14)
    wb.close()


def _write_text(path: Path, text: str, encoding: str = "utf-8", bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)


def _is_workbook_enterprise(eid: str) -> bool:
    """About a third of the enterprises report as one workbook per year (stable, order-free)."""
    return zlib.crc32(eid.encode("utf-8")) % 3 == 0


GENERATED_PATHS = (
    "enterprises.csv",
    "enterprises.parquet",
    "lines.xlsx",
    "lines.csv",
    "lines.parquet",
    "reports",
    "attributes",
    "ledger",
)


def _clean(out: Path) -> None:
    for name in GENERATED_PATHS:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def write_inbox(tables: dict[str, pl.DataFrame], out_dir: str | Path, form: str = "sample") -> dict:
    """Write the tables as an inbox (contract §1). Returns a small manifest of what was written.

    form = "sample": the mixed form of `data/sample/` — enterprises.csv (UTF-8 BOM, Chinese
    headers), lines.xlsx, per-enterprise report workbooks for about a third of the enterprises and
    flat CSVs for the rest (2022: GB18030, Chinese headers, full-width digits in three output
    values), attributes/<year>.csv, ledger/ledger.csv + ledger/ledger_2023.xlsx.
    form = "parquet" | "csv": one file per table, reports as reports/<year>/line_years.<ext> and
    enterprise_years.<ext>; attributes always as CSV (the contract reads attributes as csv|xlsx).
    Previously generated files under `out_dir` (GENERATED_PATHS) are removed first.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    if form == "sample":
        return _write_sample(tables, out)
    if form not in ("parquet", "csv"):
        raise ValueError(f"unknown form {form!r}: sample, parquet or csv")
    files: list[str] = []

    def put(df: pl.DataFrame, rel: str) -> None:
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".parquet"):
            df.write_parquet(p, statistics=False)
        else:
            _write_text(p, _csv_frame(df).write_csv())
        files.append(rel)

    put(tables["enterprises"], f"enterprises.{form}")
    put(tables["lines"], f"lines.{form}")
    for (y,), ly in tables["line_years"].partition_by("year", as_dict=True, maintain_order=True).items():
        put(ly, f"reports/{y}/line_years.{form}")
    for (y,), ey in (
        tables["enterprise_years"].partition_by("year", as_dict=True, maintain_order=True).items()
    ):
        put(ey, f"reports/{y}/enterprise_years.{form}")
    for (y,), at in tables["attributes"].partition_by("year", as_dict=True, maintain_order=True).items():
        p = out / f"attributes/{y}.csv"
        _write_text(p, _csv_frame(at).write_csv())
        files.append(f"attributes/{y}.csv")
    put(tables["ledger"], f"ledger/ledger.{form}")
    return {"files": sorted(files), "fullwidth": [], "workbook_enterprises": 0}


def _write_sample(tables: dict[str, pl.DataFrame], out: Path) -> dict:
    files: list[str] = []
    ent = tables["enterprises"]
    _write_text(
        out / "enterprises.csv", _csv_frame(ent, zh=True, table=catalog.ENTERPRISES).write_csv(), bom=True
    )
    files.append("enterprises.csv")
    _write_xlsx(out / "lines.xlsx", [("lines", tables["lines"])])
    files.append("lines.xlsx")

    ly_all = tables["line_years"].with_columns(
        _wb=pl.col("enterprise_id").map_elements(_is_workbook_enterprise, return_dtype=pl.Boolean)
    )
    ey_all = tables["enterprise_years"].with_columns(
        _wb=pl.col("enterprise_id").map_elements(_is_workbook_enterprise, return_dtype=pl.Boolean)
    )
    wb_ents = set(ey_all.filter(pl.col("_wb"))["enterprise_id"].to_list())
    edge = tables.get("edge_cases")
    avoid = set(edge["enterprise_id"].to_list()) if edge is not None else set()  # keep edge cases clean
    fullwidth: list[dict] = []
    for y in YEARS:
        ly = ly_all.filter(pl.col("year") == y)
        ey = ey_all.filter(pl.col("year") == y)
        # (a) one workbook per enterprise
        ly_wb = ly.filter(pl.col("_wb")).drop("_wb")
        by_ent = ly_wb.partition_by("enterprise_id", as_dict=True, maintain_order=True)
        for row in ey.filter(pl.col("_wb")).drop("_wb").sort("enterprise_id").iter_slices(1):
            e = row["enterprise_id"][0]
            rel = f"reports/{y}/{e}.xlsx"
            _write_xlsx(out / rel, [("enterprise", row), ("lines", by_ent[(e,)])])
            files.append(rel)
        # (b) flat files for the rest
        ly_flat = ly.filter(~pl.col("_wb")).drop("_wb")
        ey_flat = ey.filter(~pl.col("_wb")).drop("_wb")
        if y == 2022:
            lyc = _csv_frame(ly_flat, zh=True, table=catalog.LINE_YEARS)
            col = catalog.LINE_YEARS.column("output").zh
            pick = [
                i
                for i, (e, lid) in enumerate(zip(ly_flat["enterprise_id"], ly_flat["line_id"], strict=True))
                if e not in avoid and zlib.crc32(lid.encode()) % 101 == 0
            ][:3]
            vals = lyc[col].to_list()
            for i in pick:
                vals[i] = vals[i].translate(_FULLWIDTH)
                fullwidth.append(
                    {
                        "file": f"reports/{y}/核查数据_生产线.csv",
                        "line_id": ly_flat["line_id"][i],
                        "column": col,
                        "value": vals[i],
                    }
                )
            lyc = lyc.with_columns(pl.Series(col, vals, dtype=pl.String))
            _write_text(out / f"reports/{y}/核查数据_生产线.csv", lyc.write_csv(), encoding="gb18030")
            eyc = _csv_frame(ey_flat, zh=True, table=catalog.ENTERPRISE_YEARS)
            _write_text(out / f"reports/{y}/核查数据_单位.csv", eyc.write_csv(), encoding="gb18030")
            files += [f"reports/{y}/核查数据_生产线.csv", f"reports/{y}/核查数据_单位.csv"]
        else:
            _write_text(out / f"reports/{y}/line_years.csv", _csv_frame(ly_flat).write_csv())
            _write_text(out / f"reports/{y}/enterprise_years.csv", _csv_frame(ey_flat).write_csv())
            files += [f"reports/{y}/line_years.csv", f"reports/{y}/enterprise_years.csv"]

    for (y,), at in tables["attributes"].partition_by("year", as_dict=True, maintain_order=True).items():
        _write_text(out / f"attributes/{y}.csv", _csv_frame(at).write_csv())
        files.append(f"attributes/{y}.csv")
    led = tables["ledger"]
    _write_text(
        out / "ledger/ledger.csv", _csv_frame(led.filter(pl.col("compliance_year") < 2023)).write_csv()
    )
    _write_xlsx(out / "ledger/ledger_2023.xlsx", [("ledger", led.filter(pl.col("compliance_year") >= 2023))])
    files += ["ledger/ledger.csv", "ledger/ledger_2023.xlsx"]
    return {"files": sorted(files), "fullwidth": fullwidth, "workbook_enterprises": len(wb_ents)}
