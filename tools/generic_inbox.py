"""The ordinary data of a synthetic inbox: rosters, line register, reports, ledger, attributes.

Each piece is a function of the pieces before it and of one numpy `Generator` drawn in a fixed
order (the order of `tools.synthetic.build_inbox`: drawing anything earlier or later moves every
number after it). The edge cases (`tools/edge_cases.py`) edit the arrays between the pieces, with
a stream of their own, so the generic data never depend on them.

All quantities are scaled integers (1/100 t, 1/1000 MWh, 1e-6 t/MWh), turned into decimals
through their exact form: no float artefacts, and an enterprise's `verified_total_t` is exactly
the sum of its lines. Generic data stay clear of the rules' thresholds (enterprise shutdown ≤ 120
days, line shutdown ≤ 180 days, intensity noise ±1.5% a year), so the special branches fire only
on the edge cases.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import polars as pl

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
ONTIME_FROM = {2021: dt.date(2023, 10, 9), 2022: dt.date(2024, 1, 15), 2023: dt.date(2024, 10, 8)}
LATE_WINDOW = {
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
def dec_series(scaled: np.ndarray, places: int, scale: int = 4) -> pl.Series:
    """Exact Decimal(18, scale) from ints holding value × 10^places (negative = null), via Arrow."""
    import pyarrow as pa

    scaled = np.asarray(scaled, dtype=np.int64)
    null = scaled < 0
    words = np.zeros((len(scaled), 2), dtype=np.int64)  # little-endian int128: (low, high = 0)
    words[:, 0] = np.where(null, 0, scaled) * 10 ** (scale - places)
    validity = pa.py_buffer(np.packbits(~null, bitorder="little")) if null.any() else None
    arr = pa.Array.from_buffers(pa.decimal128(18, scale), len(scaled), [validity, pa.py_buffer(words)])
    return pl.Series(arr)


def days_in_year(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return np.where(((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0), 366, 365)


def jan1(y: np.ndarray) -> np.ndarray:
    return (np.asarray(y) - 1970).astype("datetime64[Y]").astype("datetime64[D]")


def to_dates(d64: np.ndarray) -> pl.Series:
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


def round_half_up(x: Decimal, places: int = 0) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# Enterprises and their lines
# ---------------------------------------------------------------------------------------------
def enterprise_frame(roster: pl.DataFrame) -> pl.DataFrame:
    """The roster as the enterprises table (district and listed_years optional; listed years
    default to 2021,2022,2023)."""
    return roster.select(
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


def sector_kind(sector: np.ndarray) -> np.ndarray:
    """The kind of enterprise (K_*) a sector label implies: it decides the lines it has."""
    kind = np.full(len(sector), K_OTHER)
    kind[sector == "水泥制造行业"] = K_CEMENT
    kind[sector == "电解铝行业"] = K_ALU
    kind[sector == "生活垃圾焚烧行业"] = K_WASTE
    kind[sector == "钢铁行业"] = K_STEEL
    return kind


def enterprise_kinds(ent: pl.DataFrame) -> np.ndarray:
    """K_* of each enterprise: by sector, and shale gas by name (页岩气) within oil and gas."""
    kind = sector_kind(ent["sector_label"].to_numpy())
    kind[np.char.find(ent["name"].to_numpy().astype(str), "页岩气") >= 0] = K_SHALE
    return kind


def line_counts(kind: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Primary lines (clinker, aluminium, incineration, shale gas) and secondary lines of each
    enterprise."""
    n_e = len(kind)
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
    return n_p, n_s


@dataclass
class Lines:
    """The line register as arrays, one entry per line (ordered by enterprise, then slot); the
    edge cases edit them in place before the reports are drawn from them."""

    enterprise: np.ndarray  # position of the line's enterprise
    slot: np.ndarray  # 0-based slot within the enterprise (line id suffix − 1)
    first: np.ndarray  # per enterprise: index of its first line
    count: np.ndarray  # per enterprise: number of lines
    ids: pl.Series
    primary: np.ndarray
    activity: np.ndarray
    product: np.ndarray
    unit: np.ndarray
    name: np.ndarray
    intensity: np.ndarray  # tCO2 per unit of output in 2018
    trend: np.ndarray  # yearly efficiency gain
    scale_t: np.ndarray  # CO2 at full production, t/yr
    growth: np.ndarray
    eligible: np.ndarray
    elec_share: np.ndarray  # share of CO2 from purchased electricity
    non_co2_share: np.ndarray
    commissioned: np.ndarray
    stopped: np.ndarray
    reduction: np.ndarray
    major: np.ndarray

    def index(self, enterprise: int, line_no: int) -> int:
        """Index of line `<enterprise>-L<line_no>`."""
        return int(self.first[enterprise]) + line_no - 1

    def frame(self, eid: pl.Series) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "line_id": self.ids,
                "enterprise_id": eid.gather(self.enterprise),
                "line_name": self.name.astype(str),
                "product": self.product.astype(str),
                "output_unit": self.unit.astype(str),
                "activity": self.activity.astype(str),
                "intensity_eligible": self.eligible.astype(bool),
            }
        ).with_columns(
            commissioned_on=to_dates(self.commissioned),
            reduction_project_on=to_dates(self.reduction),
            major_change_on=to_dates(self.major),
            stopped_on=to_dates(self.stopped),
        )


def line_register(
    ent: pl.DataFrame, kind: np.ndarray, n_p: np.ndarray, n_s: np.ndarray, rng: np.random.Generator
) -> Lines:
    """Every enterprise's lines: products by sector, scale, intensity, electricity share, dates."""
    n_e = ent.height
    sector = ent["sector_label"].to_numpy()
    names = ent["name"].to_numpy()
    # enterprise scale (t/yr at full production)
    log_scale = np.clip(rng.normal(4.85, 0.42, n_e), 4.12, 6.3)
    log_scale[kind == K_STEEL] = np.clip(rng.normal(5.5, 0.35, n_e), 4.6, 6.4)[kind == K_STEEL]
    log_scale[kind == K_WASTE] = np.clip(rng.normal(5.1, 0.2, n_e), 4.6, 5.6)[kind == K_WASTE]
    log_scale[kind == K_SHALE] = np.clip(rng.normal(5.0, 0.25, n_e), 4.4, 5.6)[kind == K_SHALE]
    scale = 10**log_scale
    scale[np.char.find(names.astype(str), "重庆钢铁股份") >= 0] = 6.4e6  # the integrated steel works
    prod_off = rng.integers(0, 1000, n_e)

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
    line_name[:] = np.array([f"{k + 1}#{p}生产线" for k, p in zip(l_k, product, strict=True)], dtype=object)
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
    eid = ent["enterprise_id"]
    ids = pl.DataFrame({"e": eid.gather(l_e), "k": l_k + 1}).select(pl.format("{}-L{}", "e", "k")).to_series()
    never = np.full(L, np.datetime64("NaT"), dtype="datetime64[D]")
    return Lines(
        enterprise=l_e,
        slot=l_k,
        first=first,
        count=n_l,
        ids=ids,
        primary=l_primary,
        activity=activity,
        product=product,
        unit=unit,
        name=line_name,
        intensity=r,
        trend=r_trend,
        scale_t=B,
        growth=growth,
        eligible=eligible,
        elec_share=elec_share,
        non_co2_share=np.zeros(L),
        commissioned=comm,
        stopped=never,
        reduction=never.copy(),
        major=never.copy(),
    )


def shutdown_days(n_e: int, rng: np.random.Generator) -> np.ndarray:
    """Enterprise shutdown days by (enterprise, year of YEARS): none, a few, or up to 120."""
    n_y = len(YEARS)
    us = rng.random((n_e, n_y))
    return np.where(
        us < 0.55, 0, np.where(us < 0.95, rng.integers(1, 41, (n_e, n_y)), rng.integers(41, 121, (n_e, n_y)))
    )


# ---------------------------------------------------------------------------------------------
# Reports: line-years and enterprise-years
# ---------------------------------------------------------------------------------------------
def _mwh(co2_c: np.ndarray, share: np.ndarray, ef: np.ndarray) -> np.ndarray:
    """Purchased electricity (1/1000 MWh) behind `share` of the CO2 (1/100 t) at factor `ef`."""
    return np.round(co2_c / 100 * share / np.maximum(ef, 1) * 1e6 * 1000).astype(np.int64)


@dataclass
class LineYears:
    """The verified line-years as arrays (rows ordered by line, then year); values in 1/100 t,
    1/100 unit of output, 1/1000 MWh and 1e-6 t/MWh, −1 for empty."""

    lines: Lines
    line: np.ndarray  # index into `lines`
    year_idx: np.ndarray  # index into YEARS
    year: np.ndarray
    production_days: np.ndarray
    co2_c: np.ndarray
    output_c: np.ndarray
    grid_ef_u: np.ndarray
    mwh_m: np.ndarray
    non_co2_c: np.ndarray

    def at(self, line: int, year: int) -> int:
        """Row of (line, year); KeyError when the line has no record that year."""
        lo, hi = np.searchsorted(self.line, line), np.searchsorted(self.line, line, side="right")
        k = lo + int(np.searchsorted(self.year[lo:hi], year))
        if k >= hi or self.year[k] != year:
            raise KeyError((line, year))
        return k

    def set_co2(self, k: int, c: int) -> None:
        """New CO2 for row `k`: its electricity and non-CO2 follow."""
        i = self.line[k]
        self.co2_c[k] = c
        self.non_co2_c[k] = round(c * self.lines.non_co2_share[i])
        if self.mwh_m[k] >= 0:
            self.mwh_m[k] = _mwh(np.array([c]), self.lines.elec_share[i], np.array([self.grid_ef_u[k]]))[0]

    def frame(self, eid: pl.Series) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "enterprise_id": eid.gather(self.lines.enterprise[self.line]),
                "line_id": self.lines.ids.gather(self.line),
                "year": self.year.astype(np.int64),
                "verified_co2_t": dec_series(self.co2_c, 2),
                "verified_non_co2_t": dec_series(self.non_co2_c, 2),
                "output": dec_series(self.output_c, 2),
                "production_days": self.production_days,
                "purchased_electricity_mwh": dec_series(self.mwh_m, 3),
                "grid_ef_t_per_mwh": dec_series(self.grid_ef_u, 6, scale=6),
            }
        )


def line_years(lines: Lines, shutdown: np.ndarray, rng: np.random.Generator) -> LineYears:
    """One record per line and year it existed: production days within the enterprise's
    shutdowns, CO2 from scale, growth and noise, output from the intensity and its trend."""
    Y = np.array(YEARS)
    n_y = len(Y)
    days_y = days_in_year(Y)
    L = len(lines.enterprise)
    li = np.repeat(np.arange(L), n_y)
    yi = np.tile(np.arange(n_y), L)
    yy = Y[yi]
    jan1_ = jan1(yy)
    dec31 = jan1(yy + 1) - np.timedelta64(1, "D")
    c_ = lines.commissioned[li]
    s_ = lines.stopped[li]
    exists = (np.isnat(c_) | (c_ <= dec31)) & (np.isnat(s_) | (s_ > jan1_))
    li, yi, yy, jan1_, dec31, c_, s_ = (a[exists] for a in (li, yi, yy, jan1_, dec31, c_, s_))
    n_ly = len(li)
    days = days_y[yi]
    start = np.where(np.isnat(c_) | (c_ < jan1_), jan1_, c_)
    end = np.where(np.isnat(s_) | (s_ > dec31), dec31, s_ - np.timedelta64(1, "D"))
    avail = (end - start).astype(np.int64) + 1
    extra = np.where(rng.random(n_ly) < 0.6, 0, rng.integers(1, 61, n_ly))
    pdays = np.clip(np.minimum(avail, days - shutdown[lines.enterprise[li], yi]) - extra, 0, None).astype(
        np.int64
    )
    co2 = lines.scale_t[li] * pdays / days * lines.growth[li] ** (yy - 2018) * rng.uniform(0.92, 1.08, n_ly)
    inten = lines.intensity[li] * (1 - lines.trend[li]) ** (yy - 2018) * rng.uniform(0.985, 1.015, n_ly)
    unit_places = np.array([_UNIT_PLACES.get(u, 2) for u in lines.unit.tolist()], dtype=np.int64)
    whole = unit_places[li] == 0
    ef_y = np.array([GRID_EF_MICRO[int(y)] for y in Y], dtype=np.int64)
    co2_c = np.round(co2 * 100).astype(np.int64)  # 1/100 t
    q = co2 / inten
    out_c = np.where(whole, np.round(q) * 100, np.round(q * 100)).astype(np.int64)
    has_ef = lines.elec_share[li] > 0
    ef_u = np.where(has_ef, ef_y[yi], -1)  # 1e-6 t/MWh, -1 = empty
    has_mwh = has_ef & (rng.random(n_ly) > 0.03)  # a few years without the electricity figure
    mwh_m = np.where(has_mwh, _mwh(co2_c, lines.elec_share[li], ef_u), -1)
    non_c = np.round(co2_c * lines.non_co2_share[li]).astype(np.int64)
    return LineYears(lines, li, yi, yy, pdays, co2_c, out_c, ef_u, mwh_m, non_c)


@dataclass
class EnterpriseYears:
    """Σ over each enterprise's lines of a year, exact in 1/100 t (`total_c`), by (enterprise, year)."""

    frame: pl.DataFrame
    enterprise: np.ndarray
    year: np.ndarray
    total_c: np.ndarray
    n_blank: int  # rows whose verified_total_t is left empty (an optional column)


def enterprise_years(
    ly: LineYears, shutdown: np.ndarray, eid: pl.Series, rng: np.random.Generator
) -> EnterpriseYears:
    n_e, n_y = shutdown.shape
    ey_key = ly.lines.enterprise[ly.line] * n_y + ly.year_idx
    present = np.bincount(ey_key, weights=None, minlength=n_e * n_y)
    sums = np.zeros(n_e * n_y, dtype=np.int64)
    np.add.at(sums, ey_key, ly.co2_c + ly.non_co2_c)
    keys = np.nonzero(present)[0]
    te, tyi = keys // n_y, keys % n_y
    ty = np.array(YEARS)[tyi]
    tot_c = sums[keys]
    blank_total = rng.random(len(keys)) < 0.01
    frame = pl.DataFrame(
        {
            "enterprise_id": eid.gather(te),
            "year": ty.astype(np.int64),
            "shutdown_days": shutdown[te, tyi].astype(np.int64),
            "verified_total_t": dec_series(np.where(blank_total, -1, tot_c), 2),
        }
    )
    return EnterpriseYears(frame, te, ty, tot_c, int(blank_total.sum()))


def listed_by_year(listed: np.ndarray) -> dict[int, np.ndarray]:
    """Per compliance year, whether each enterprise is on that year's list."""
    mat = (
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
    return {y: mat[:, j] for j, y in enumerate(COMPLIANCE_YEARS)}


# ---------------------------------------------------------------------------------------------
# Ledger and attributes
# ---------------------------------------------------------------------------------------------
# a ledger row while the generator builds it (`tag`: the edge-case row it is; `appended`: see
# `numbered_ledger`)
LEDGER_ROW_SCHEMA = {
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
}


def generic_ledger(
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
    ontime_from = np.array([np.datetime64(ONTIME_FROM[int(v)]) for v in (2021, 2022, 2023)])
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
    lo = np.array([np.datetime64(LATE_WINDOW[int(v)][0]) for v in yl], dtype="datetime64[D]")
    hi = np.array([np.datetime64(LATE_WINDOW[int(v)][1]) for v in yl], dtype="datetime64[D]")
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
    schema = {c: t for c, t in LEDGER_ROW_SCHEMA.items() if c not in ("appended", "certificate_id")}
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


def numbered_ledger(generic: pl.DataFrame, special: pl.DataFrame) -> pl.DataFrame:
    """Both ledgers in one, numbered T<year>-<n> per compliance year in order of surrender. Rows
    `appended` (of cases added after the first release of the sample) come after every other row
    of their year, so the txn_id of each earlier row stays what it was. Keeps `tag`."""
    ledger = pl.concat([generic.with_columns(appended=pl.lit(False)), special], how="diagonal_relaxed")
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
    return ledger.with_columns(
        txn_id=pl.format(
            "T{}-{}",
            pl.col("compliance_year").cast(pl.String),
            (pl.int_range(pl.len()).over("compliance_year") + 1).cast(pl.String).str.zfill(6),
        )
    )


_HEAVY = (
    "水泥制造行业",
    "钢铁行业",
    "玻璃及玻璃制品制造业",
    "陶瓷生产行业",
    "化工行业",
    "电解铝行业",
    "石油化工行业",
    "其他有色金属冶炼和压延加工业",
)


@dataclass
class Attributes:
    """Attributes of the listed enterprises as arrays (2022: cancellations; 2023: weather grade,
    penalties, cancellations, investigation, energy-efficiency benchmark; None = empty)."""

    cancelled_2022: np.ndarray
    grade: np.ndarray
    penalized: np.ndarray
    cancelled_2023: np.ndarray
    under_investigation: np.ndarray
    efficiency_benchmark_met: np.ndarray

    def frame(self, eid: pl.Series, listed: dict[int, np.ndarray]) -> pl.DataFrame:
        m22, m23 = listed[2022], listed[2023]
        flags = {
            "weather_grade": pl.String,
            "under_investigation": pl.Boolean,
            "energy_efficiency_benchmark_met": pl.Boolean,
        }
        a22 = pl.DataFrame(
            {
                "enterprise_id": eid.filter(pl.Series(m22)),
                "year": 2022,
                "preallocation_cancelled": self.cancelled_2022[m22],
                "penalized": False,
                "weather_grade": None,
                "under_investigation": None,
                "energy_efficiency_benchmark_met": None,
            },
            schema_overrides=flags,
        )
        a23 = pl.DataFrame(
            {
                "enterprise_id": eid.filter(pl.Series(m23)),
                "year": 2023,
                "preallocation_cancelled": self.cancelled_2023[m23],
                "penalized": self.penalized[m23],
                "weather_grade": self.grade[m23],
                "under_investigation": pl.Series(self.under_investigation[m23].tolist(), dtype=pl.Boolean),
                "energy_efficiency_benchmark_met": pl.Series(
                    self.efficiency_benchmark_met[m23].tolist(), dtype=pl.Boolean
                ),
            },
            schema_overrides=flags,
        )
        a23 = a23.with_columns(
            weather_grade=pl.when(pl.col("weather_grade") == "").then(None).otherwise("weather_grade")
        )
        return pl.concat([a22, a23], how="vertical_relaxed")


def attributes(sector: np.ndarray, rng: np.random.Generator) -> Attributes:
    """Grades for heavy industries (rarely elsewhere), a few penalties and 2023 cancellations."""
    n = len(sector)
    heavy = np.isin(sector, _HEAVY)
    g = np.array(["A", "B", "C", "D", ""])
    grade = np.where(
        heavy,
        g[rng.choice(5, size=n, p=[0.15, 0.3, 0.3, 0.1, 0.15])],
        g[rng.choice(5, size=n, p=[0.05, 0.1, 0.1, 0.0, 0.75])],
    ).astype(object)
    penal = rng.random(n) < 0.04
    cancel23 = rng.random(n) < 0.01
    return Attributes(
        cancelled_2022=np.zeros(n, dtype=bool),
        grade=grade,
        penalized=penal,
        cancelled_2023=cancel23,
        under_investigation=np.full(n, None, dtype=object),
        efficiency_benchmark_met=np.full(n, None, dtype=object),
    )
