"""The edge cases of the synthetic inbox, as one table: which enterprise and line, what is done to
them, the rule of `rules.md` each exercises, and the words of the sample's README.

`CASES` lists every case. A case is placed on a host enterprise picked by sector (`Host`), on the
host of another case (its name), on an appended unlisted enterprise (`Unlisted`), or on none (a
property of the whole inbox). Its edits are small records applied by kind, each by one function,
between the generic pieces of `tools.synthetic.build_inbox`:

    LineEdit    the line register (dates, flags, electricity and non-CO2 shares, scale)
    Shutdown    the enterprise's shutdown days
    Outlier, Exact, Days, Idle, GridFactor, NoElectricity, YearOnYear, Co2
                exact values of one line-year
    Listed      the years the enterprise is listed
    Surrender   a ledger row (quantities may depend on the host's obligation or borrowable amount)
    Attributes2022, Attributes2023
                the attribute tables

Three orders are fixed by the first release of the sample, and changing one moves its numbers:
hosts are picked in table order (a case added later goes at the end, on an enterprise that already
has the line counts it needs, so no random stream sized by line count moves); the edge-case stream
(`Draw`) is drawn in table order; the README lists cases first-release first, then by `kind`
(`KINDS`), then in table order.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from decimal import ROUND_FLOOR, Decimal
from functools import cached_property

import numpy as np
import polars as pl

from tools.generic_inbox import (
    COMPLIANCE_YEARS,
    DEADLINES,
    LEDGER_ROW_SCHEMA,
    YEARS,
    Attributes,
    Lines,
    LineYears,
    round_half_up,
    sector_kind,
)

# README groups, in the order the README lists them (within the first-release cases, then within
# the added ones)
KINDS = (
    "line",  # the line register
    "shutdown",  # the enterprise's shutdown days
    "line-year",  # exact values of a line-year
    "listing",  # the years an enterprise is listed
    "ledger",  # surrenders
    "pre-allocation",  # the 2023 pre-allocation cancelled
    "incentive",  # the 2023 incentive: grade, penalties, investigation, E falls
    "cap",  # gap exemption and surplus cap: E jumps or falls against last year's daily rate
    "shape",  # a property of the whole inbox
    "file",  # a property of the files (placed by the writer of the sample form)
)

# Rule-pack values the ledger edge cases are sized with (rules.md §3.4, §4; 2023 = placeholders).
_CLINKER_BENCHMARK = {2021: Decimal("0.8289"), 2022: Decimal("0.8244"), 2023: Decimal("0.8244")}
EXCLUDED_NAME = "重庆示例未纳入单位有限公司"
GREEN_CERTIFICATE = "GEC-2023-0001"  # the green-power certificate of borrowing_clinker's host


# ---------------------------------------------------------------------------------------------
# Where a case is placed
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Host:
    """An enterprise picked for the case: of the kind of the first preferred sector (cement,
    aluminium, …, or other), from the preferred sectors if one is free, else from any sector."""

    sectors: tuple[str, ...]
    lines: tuple[int, int] | None = None  # forced (primary, secondary) line counts


@dataclass(frozen=True)
class Unlisted:
    """An enterprise appended after the roster, on no list and with no lines."""

    name: str
    district: str
    sector: str


# ---------------------------------------------------------------------------------------------
# Edits
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Draw:
    """A value drawn uniformly from [low, high) on the edge-case stream (in table order)."""

    low: float
    high: float


@dataclass(frozen=True)
class LineEdit:
    """The line register of line `Case.line`: dates (ISO), flags, shares, intensity and scale;
    None leaves a value as generated, `old_line` removes the commissioning date."""

    commissioned: str | None = None
    old_line: bool = False
    reduction_project: str | None = None
    major_change: str | None = None
    stopped: str | None = None
    eligible: bool | None = None
    elec_share: float | None = None
    non_co2_share: float | Draw | None = None
    product: str | None = None  # a product in t, the line named 1#<product>生产线
    intensity: float | None = None  # tCO2 per unit of output
    trend: float | None = None  # yearly efficiency gain
    scale_t: float | Draw | None = None  # CO2 at full production, t/yr


@dataclass(frozen=True)
class Shutdown:
    """The enterprise's shutdown days of some years."""

    days: dict[int, int]


@dataclass(frozen=True)
class Outlier:
    """Intensity of `year` = `factor` × that of `of` (same CO2, output scaled)."""

    year: int
    of: int
    factor: float

    def apply(self, ly: LineYears, i: int) -> None:
        k, ko = ly.at(i, self.year), ly.at(i, self.of)
        ly.output_c[k] = round(ly.co2_c[k] * ly.output_c[ko] / ly.co2_c[ko] / self.factor)


@dataclass(frozen=True)
class Exact:
    """Exact (output, CO2) in 1/100 by year."""

    values: dict[int, tuple[int, int]]

    def apply(self, ly: LineYears, i: int) -> None:
        for y, (q, c) in self.values.items():
            k = ly.at(i, y)
            ly.output_c[k] = q
            ly.set_co2(k, c)


@dataclass(frozen=True)
class Days:
    """Production days of `year` set to `days`; output and CO2 scaled with them."""

    year: int
    days: int

    def apply(self, ly: LineYears, i: int) -> None:
        k = ly.at(i, self.year)
        before = max(int(ly.production_days[k]), 1)
        ly.production_days[k] = self.days
        ly.output_c[k] = ly.output_c[k] * self.days // before
        ly.set_co2(k, int(ly.co2_c[k]) * self.days // before)


@dataclass(frozen=True)
class Idle:
    """No output and no production days in `year`; CO2 (1/100 t) as given."""

    year: int
    co2_c: int

    def apply(self, ly: LineYears, i: int) -> None:
        k = ly.at(i, self.year)
        ly.output_c[k], ly.production_days[k] = 0, 0
        ly.set_co2(k, self.co2_c)


@dataclass(frozen=True)
class GridFactor:
    """The grid factor (1e-6 t/MWh) of `year`'s record."""

    year: int
    micro: int

    def apply(self, ly: LineYears, i: int) -> None:
        ly.grid_ef_u[ly.at(i, self.year)] = self.micro


@dataclass(frozen=True)
class NoElectricity:
    """`year`'s purchased electricity left empty."""

    year: int

    def apply(self, ly: LineYears, i: int) -> None:
        ly.mwh_m[ly.at(i, self.year)] = -1


@dataclass(frozen=True)
class YearOnYear:
    """E of `year` = `factor` × last year's: at the same output (`same_output`) or at last year's
    daily rate × this year's production days."""

    year: int
    factor: float
    same_output: bool

    def apply(self, ly: LineYears, i: int) -> None:
        kp, k = ly.at(i, self.year - 1), ly.at(i, self.year)
        if self.same_output:
            ly.output_c[k] = ly.output_c[kp]
            ly.set_co2(k, int(ly.co2_c[kp] * self.factor))
        else:
            days_before = max(int(ly.production_days[kp]), 1)
            ly.output_c[k] = ly.output_c[kp] * ly.production_days[k] // days_before
            ly.set_co2(k, int(ly.co2_c[kp] * ly.production_days[k] // days_before * self.factor))


@dataclass(frozen=True)
class Co2:
    """Exact CO2 (1/100 t) of `year`."""

    year: int
    co2_c: int

    def apply(self, ly: LineYears, i: int) -> None:
        ly.set_co2(ly.at(i, self.year), self.co2_c)


@dataclass(frozen=True)
class Listed:
    """The years the enterprise is listed."""

    years: str


@dataclass
class Due:
    """What a case's ledger rows are sized from: the host's verified E by compliance year (1/100 t)
    and, for a single-clinker host, its allocation (benchmark × the output of its line 1),
    predictable without running the engine."""

    e_c: dict[int, int]
    line_output_c: Callable[[int], int]  # output (1/100) of the host's line 1 in a year
    year: int = 0  # the year of the row being sized

    @property
    def o(self) -> int:
        """The obligation of the row's year in whole tonnes (E rounded up)."""
        return -(-self.e_c[self.year] // 100)

    @cached_property
    def _clinker(self) -> tuple[dict[int, int], dict[int, int]]:
        """A_final and borrowable by year (rules.md §4)."""
        a_final, borrowable = {}, {}
        for y in COMPLIANCE_YEARS:
            E = Decimal(self.e_c[y]) / 100
            a_raw = round_half_up(_CLINKER_BENCHMARK[y] * Decimal(self.line_output_c(y)) / 100, 4)
            a_adj = max(a_raw, Decimal("0.8") * E, E - 200000) if y < 2023 else a_raw
            a_final[y] = int(round_half_up(a_adj, 0))
            borrowable[y] = int(
                max(Decimal(0), (E - a_final[y]) - Decimal("0.10") * E).to_integral_value(ROUND_FLOOR)
            )
        return a_final, borrowable

    @property
    def borrowable(self) -> dict[int, int]:
        return self._clinker[1]

    @property
    def gap_pct(self) -> dict[int, int]:
        """The final gap in % of E, by year."""
        a_final = self._clinker[0]
        return {y: round(100 * (1 - a_final[y] * 100 / self.e_c[y])) for y in COMPLIANCE_YEARS}


@dataclass(frozen=True)
class Surrender:
    """A ledger row of the host. `tag` names the row (a tagged row's txn_id goes in the README);
    `quantity` may depend on the host (`Due`, with `o` the obligation of `year`)."""

    tag: str
    year: int
    on: str
    instrument: str
    quantity: int | Callable[[Due], int]
    vintage: int | None = None
    via: str | None = None
    origin: str | None = None
    hydro: bool | None = None
    certificate: str | None = None


@dataclass(frozen=True)
class Attributes2022:
    """The 2023 pre-allocation cancelled (attributes/2022.csv)."""

    preallocation_cancelled: bool = True


@dataclass(frozen=True)
class Attributes2023:
    """attributes/2023.csv: grade and penalty (the 2023 cancellation then off), investigation,
    energy-efficiency benchmark; None leaves a value as generated."""

    grade: str | None = None
    penalized: bool | None = None
    under_investigation: bool | None = None
    efficiency_benchmark_met: bool | None = None


LINE_YEAR_EDITS = (Outlier, Exact, Days, Idle, GridFactor, NoElectricity, YearOnYear, Co2)
Edit = (
    LineEdit
    | Shutdown
    | Outlier
    | Exact
    | Days
    | Idle
    | GridFactor
    | NoElectricity
    | YearOnYear
    | Co2
    | Listed
    | Surrender
    | Attributes2022
    | Attributes2023
)


@dataclass(frozen=True)
class Case:
    """One edge case. `line` is the line (of its host) its edits change; `shows` what the README's
    reference names: that line, all the host's lines, or none (its tagged ledger rows are always
    named); `what` is the README's words (str.format with `d` the host's `Due`, `q` the quantities
    of its tagged ledger rows, `n_blank`)."""

    name: str
    _: KW_ONLY
    kind: str  # one of KINDS
    rule: str  # the section (and worked example) of rules.md it exercises
    host: Host | Unlisted | str | None  # str: the host of that case; None: the whole inbox
    line: int | None = None
    edits: tuple[Edit, ...] = ()
    shows: str = "line"  # "line" | "lines" | "none"
    own_ledger: bool = False  # the generic ledger skips the host: the case writes every year
    added: bool = False  # added after the first release of the sample
    years: str
    what: str


_CHONGQING = {"origin": "chongqing", "hydro": False}

CASES: tuple[Case, ...] = (
    Case(
        "new_build_2020_03_01",
        kind="line",
        rule="§2.4 new build, §3.1 new lines (T15)",
        host=Host(("化工行业",), (0, 2)),
        line=2,
        edits=(LineEdit(commissioned="2020-03-01", eligible=False),),
        years="2020–2023",
        what="`other` total line commissioned 2020-03-01: equal in 2021 and 2022 (T15), historical from 2023 "
        "with base years 2021–2022",
    ),
    Case(
        "new_build_2021_01_01",
        kind="line",
        rule="§2.4 new build commissioned on 1 January",
        host=Host(("机械设备制造业",), (0, 2)),
        line=2,
        edits=(LineEdit(commissioned="2021-01-01", eligible=True),),
        years="2021–2023",
        what="intensity line commissioned exactly 2021-01-01: first full year 2021 (equal in 2021 and 2022, "
        "full_years = 2 in 2023)",
    ),
    Case(
        "clinker_new_2021_07_01",
        kind="line",
        rule="§2.4 new build (clinker: one full year), §3.4 benchmark",
        host=Host(("水泥制造行业",), (2, 0)),
        line=2,
        edits=(LineEdit(commissioned="2021-07-01"),),
        years="2021–2023",
        what="second clinker line commissioned 2021-07-01 (partial 2021): equal in 2021 and 2022, benchmark "
        "in 2023",
    ),
    Case(
        "reduction_project",
        kind="line",
        rule="§3.1 reduction project",
        host=Host(("玻璃及玻璃制品制造业",), (0, 2)),
        line=2,
        edits=(LineEdit(reduction_project="2019-07-01", eligible=True),),
        years="2018–2023",
        what="intensity line with reduction_project_on 2019-07-01: usable base years 2020 (for 2021) and "
        "2020–2021 (for 2022)",
    ),
    Case(
        "major_change_2019_01_01",
        kind="line",
        rule="§3.1 major change on a 1 January",
        host=Host(("造纸与纸制品生产业",), (0, 2)),
        line=2,
        edits=(LineEdit(major_change="2019-01-01", eligible=False),),
        years="2018–2023",
        what="total line with major_change_on 2019-01-01 (a 1 January): 2018 unusable, 2019 usable",
    ),
    Case(
        "major_change_2020_05_15",
        kind="line",
        rule="§3.1 major change, §2.8 fallback",
        host=Host(("其他有色金属冶炼和压延加工业",), (0, 2)),
        line=2,
        edits=(LineEdit(major_change="2020-05-15", eligible=True),),
        years="2018–2023",
        what="intensity line with major_change_on 2020-05-15: no usable base year for 2021 (→ fallback), only "
        "2021 for 2022",
    ),
    Case(
        "electricity_factor_intensity",
        kind="line",
        rule="§3.1 electricity factor",
        host=Host(("电子设备制造业",), (0, 2)),
        line=2,
        edits=(LineEdit(elec_share=0.8, eligible=True), GridFactor(2018, 620_512)),
        years="2018–2023",
        what="intensity line, 80% of CO2 from purchased electricity: grid_ef 0.6229 (2018 0.620512, 6 places) → "
        "0.5810 (2021) → 0.5703 (2022–2023): base years restated",
    ),
    Case(
        "electricity_factor_total",
        kind="line",
        rule="§3.1 electricity factor (no correction without electricity)",
        host=Host(("机械设备制造业",), (0, 2)),
        line=2,
        edits=(LineEdit(elec_share=0.6, eligible=False), NoElectricity(2019)),
        years="2018–2023",
        what="total line with purchased electricity and factor changes; 2019 purchased_electricity_mwh empty "
        "(no correction for that year)",
    ),
    Case(
        "non_co2_n2o_1",
        kind="line",
        rule="§2 non-CO2 by the equal method",
        host=Host(("化工行业",)),
        line=1,
        edits=(LineEdit(product="硝酸", non_co2_share=Draw(0.15, 0.4)),),
        years="2018–2023",
        what="硝酸 line with N2O: verified_non_co2_t > 0 every year",
    ),
    Case(
        "non_co2_n2o_2",
        kind="line",
        rule="§2 non-CO2 by the equal method",
        host=Host(("化工行业",)),
        line=1,
        edits=(LineEdit(product="己二酸", non_co2_share=Draw(0.15, 0.4)),),
        years="2018–2023",
        what="己二酸 line with N2O: verified_non_co2_t > 0 every year",
    ),
    Case(
        "non_co2_n2o_3",
        kind="line",
        rule="§2 non-CO2 by the equal method",
        host=Host(("化工行业", "石油化工行业")),
        line=1,
        edits=(LineEdit(product="硝酸", non_co2_share=Draw(0.15, 0.4)),),
        years="2018–2023",
        what="硝酸 line with N2O: verified_non_co2_t > 0 every year",
    ),
    Case(
        "non_co2_pfc",
        kind="line",
        rule="§2 non-CO2 by the equal method (aluminium)",
        host=Host(("电解铝行业",)),
        line=1,
        edits=(LineEdit(non_co2_share=0.012),),
        years="2018–2023",
        what="aluminium line with PFC (CF4/C2F6) non-CO2 emissions",
    ),
    Case(
        "intensity_outlier",
        kind="line-year",
        rule="§3.2 outlier",
        host=Host(("化工行业",), (0, 2)),
        line=2,
        edits=(LineEdit(eligible=True, elec_share=0.0), Outlier(2019, of=2018, factor=1.5)),
        years="2019",
        what="intensity line whose 2019 intensity is 1.5× the other years: ≥ 20% above the weighted mean → "
        "dropped in 2021 and 2022",
    ),
    Case(
        "intensity_exact_20pct",
        kind="line-year",
        rule="§3.2 outlier at exactly 20% (T3)",
        host=Host(("食品、烟草及酒、饮料和精制茶生产行业",), (0, 2)),
        line=2,
        edits=(
            LineEdit(eligible=True, elec_share=0.0),
            Exact(
                {
                    2018: (120000_00, 72000_00),
                    2019: (100000_00, 43400_00),
                    2020: (80000_00, 34600_00),
                    2021: (110000_00, 49500_00),
                    2022: (105000_00, 46200_00),
                    2023: (100000_00, 44000_00),
                }
            ),
        ),
        years="2018–2020",
        what="intensity line, base (Q, E): 2018 (120,000, 72,000), 2019 (100,000, 43,400), 2020 (80,000, 34,600): "
        "weighted mean 0.5, 2018 exactly +20% → dropped in 2021 (T3), I = 0.4333",
    ),
    Case(
        "total_shutdown_over_183",
        kind="line-year",
        rule="§3.3 more than 183 shutdown days (T5a)",
        host=Host(("玻璃及玻璃制品制造业",), (0, 2)),
        line=2,
        edits=(LineEdit(eligible=False, elec_share=0.0), Days(2019, 165)),
        years="2019",
        what="total line with 165 production days in 2019 (200 > 183 shutdown days) → 2019 dropped (T5a)",
    ),
    Case(
        "total_shutdown_exact_183",
        kind="line-year",
        rule="§3.3 exactly 183 shutdown days (T5b)",
        host=Host(("陶瓷生产行业",), (0, 2)),
        line=2,
        edits=(LineEdit(eligible=False, elec_share=0.0), Days(2020, 183)),
        years="2020",
        what="total line with exactly 183 shutdown days in leap year 2020 (production_days = 366 − 183 = 183) → "
        "kept (T5b)",
    ),
    Case(
        "equal_enterprise_shutdown",
        kind="shutdown",
        rule="§2.2 equal method, enterprise-wide (T6)",
        host=Host(("其他行业",), (0, 2)),
        edits=(Shutdown({2018: 183, 2019: 190, 2020: 0}),),
        shows="lines",
        years="2018–2020",
        what="enterprise shutdown_days 183 (2018), 190 (2019), 0 (2020): ≥ 183 in two base years → every line "
        "equal in 2021 (T6)",
    ),
    Case(
        "intensity_zero_output",
        kind="line-year",
        rule="§3.2 usable years have output",
        host=Host(("机械设备制造业",), (0, 2)),
        line=2,
        edits=(LineEdit(eligible=True, elec_share=0.0), Idle(2019, 8560)),
        years="2019",
        what="intensity line idle in 2019: output 0, production_days 0, 85.60 t standby CO2 → 2019 unusable",
    ),
    Case(
        "stopped_2022_11_01",
        kind="line",
        rule="§2.1 stopped (2023)",
        host=Host(("化工行业",), (0, 2)),
        line=2,
        edits=(LineEdit(stopped="2022-11-01"),),
        years="2018–2022",
        what="line stopped_on 2022-11-01: 2022 record (≤ 304 production days), no 2023 record → excluded in 2023",
    ),
    Case(
        "zero_days_2023",
        kind="line-year",
        rule="§2.1 stopped: no production days (2023)",
        host=Host(("其他有色金属冶炼和压延加工业",), (0, 2)),
        line=2,
        edits=(Idle(2023, 0),),
        years="2023",
        what="2023 record with production_days 0 (and zero output/emissions) → excluded in 2023",
    ),
    Case(
        "leap_2020_full_year",
        kind="line-year",
        rule="§3.3 production days of a leap year",
        host=Host(("造纸与纸制品生产业",)),
        line=1,
        edits=(Shutdown({2020: 0}), Days(2020, 366)),
        years="2020",
        what="line producing all 366 days of leap year 2020 (enterprise shutdown 0)",
    ),
    Case(
        "closed_missing_verification",
        kind="listing",
        rule="§6 status missing_verification, §4 pre-allocation cancelled",
        host=Host(("其他行业",), (0, 1)),
        line=1,
        edits=(LineEdit(stopped="2022-01-01"), Listed("2021,2022"), Attributes2022()),
        years="2022",
        what="listed 2021,2022 only; closed (line stopped_on 2022-01-01): no 2022 report → status "
        "missing_verification in 2022; pre-allocation cancelled",
    ),
    Case(
        "offsets_t10",
        kind="ledger",
        rule="§6 offsets: types, locality, hydro (T10)",
        host=Host(("其他行业",), (0, 1)),
        line=1,
        edits=(
            LineEdit(eligible=False, old_line=True, scale_t=100_000.0),
            Co2(2022, 100_000_00),
            Surrender("t10_cq", 2022, "2024-03-15", "cqcer", 7000, **_CHONGQING),
            Surrender("t10_circle", 2022, "2024-03-15", "ccer", 1500, origin="chengdu_chongqing_circle", hydro=False),
            Surrender("t10_other", 2022, "2024-03-15", "other_offset", 1000, origin="other", hydro=False),
            Surrender("t10_hydro", 2022, "2024-03-15", "ccer", 500, origin="chongqing", hydro=True),
            Surrender("", 2022, "2024-03-10", "allowance", lambda d: d.o - 8000, 2022, "free"),
        ),
        shows="none",
        own_ledger=True,
        years="2022",
        what="E = 100,000.00 exactly; offsets CQ 7,000, circle 1,500, other 1,000, CQ hydro 500 + 92,000 "
        "allowances (T10: 8,000 accepted, hydro refused) → cleared on time",
    ),
    Case(
        "borrowing_clinker",
        kind="ledger",
        rule="§4 borrowing, §6 borrowed pre-allocation and green power",
        host=Host(("水泥制造行业",), (1, 0)),
        line=1,
        edits=(
            LineEdit(intensity=1.0, trend=0.0, elec_share=0.06, scale_t=Draw(0.5e6, 0.8e6)),
            Surrender("", 2021, "2023-12-15", "allowance", lambda d: d.o - d.borrowable[2021], 2021, "free"),
            Surrender("borrow_2021", 2021, "2023-12-15", "borrowed_preallocation", lambda d: d.borrowable[2021]),
            Surrender("", 2022, "2024-03-25", "allowance", lambda d: d.o - d.borrowable[2022], 2022, "free"),
            Surrender(
                "borrow_2022_over", 2022, "2024-03-25", "borrowed_preallocation",
                lambda d: d.borrowable[2022] + 5000,
            ),
            Surrender("", 2023, "2024-12-16", "allowance", lambda d: d.o - 2000, 2023, "purchase"),
            Surrender(
                "green_power_2023", 2023, "2024-12-16", "green_power", 3000,
                origin="chengdu_chongqing_circle", certificate=GREEN_CERTIFICATE,
            ),
            Attributes2023(grade="C", penalized=False),
        ),
        own_ledger=True,
        years="2021–2023",
        what="single clinker line at ~1.0 tCO2/t (allocation = benchmark × output, gap ≈ 17% of E): "
        "borrowed_preallocation {d.borrowable[2021]:,} t in 2021 (= borrowable), {q[borrow_2022_over]:,} t in "
        "2022 (borrowable {d.borrowable[2022]:,} + 5,000 above it); 2023 green_power 3,000 t (2,000 accepted)",
    ),
    Case(
        "gap_exemption_2022",
        kind="cap",
        rule="§4 gap exemption (2021–2022)",
        host=Host(("食品、烟草及酒、饮料和精制茶生产行业",), (0, 1)),
        line=1,
        edits=(
            LineEdit(eligible=False, old_line=True, scale_t=Draw(40e3, 120e3)),
            YearOnYear(2022, 1.5, same_output=False),
        ),
        years="2022",
        what="single total line whose 2022 emissions are 1.5× the 2021 daily rate: A_raw < 0.8 E → gap exemption "
        "raises A to 0.8 E",
    ),
    Case(
        "surplus_cap_2023",
        kind="cap",
        rule="§4 surplus cap (2023)",
        host=Host(("造纸与纸制品生产业",), (0, 1)),
        line=1,
        edits=(
            LineEdit(eligible=False, old_line=True, scale_t=Draw(40e3, 120e3)),
            YearOnYear(2023, 0.6, same_output=False),
        ),
        years="2023",
        what="single total line whose 2023 emissions are 0.6× the 2022 daily rate: A_raw > 1.2 E → surplus cap",
    ),
    Case(
        "incentive_2023",
        kind="incentive",
        rule="§4 incentive (2023), energy-efficiency benchmark (2b)",
        host=Host(("玻璃及玻璃制品制造业",), (0, 1)),
        line=1,
        edits=(
            LineEdit(eligible=False, old_line=True, scale_t=Draw(40e3, 120e3)),
            YearOnYear(2023, 0.9, same_output=True),
            Attributes2023(grade="A", penalized=False, efficiency_benchmark_met=True),
        ),
        years="2022–2023",
        what="single total line whose 2023 emissions are 10% below 2022 (same output); grade A, not penalized → "
        "synergy incentive; also energy_efficiency_benchmark_met (its increment is the provisional 0 %)",
    ),
    Case(
        "incentive_penalized_2023",
        kind="incentive",
        rule="§4 incentive: none for a penalized unit",
        host=Host(("陶瓷生产行业",), (0, 1)),
        line=1,
        edits=(
            LineEdit(eligible=False, old_line=True, scale_t=Draw(40e3, 120e3)),
            YearOnYear(2023, 0.9, same_output=True),
            Attributes2023(grade="A", penalized=True),
        ),
        years="2022–2023",
        what="same improvement and grade A, but penalized = true → no incentive",
    ),
    Case(
        "vintage_later_than_year",
        kind="ledger",
        rule="§6 allowances: a later vintage is refused (T20)",
        host=Host(("机械设备制造业",)),
        edits=(
            Surrender("", 2021, "2023-12-01", "allowance", lambda d: d.o - 10000, 2021),
            Surrender("vintage_2022_in_2021", 2021, "2023-12-01", "allowance", 10000, 2022, "free"),
        ),
        own_ledger=True,
        years="2021",
        what="2021 surrender includes 10,000 t of vintage 2022 (later than the year → refused) → not cleared",
    ),
    Case(
        "free_vintage_2019_refused",
        kind="ledger",
        rule="§6 allowances: free 2013–2020 vintages refused",
        host=Host(("化工行业",)),
        edits=(
            Surrender("", 2021, "2023-12-20", "allowance", lambda d: d.o - 5000, 2021, "free"),
            Surrender("free_2019", 2021, "2023-12-20", "allowance", 5000, 2019, "free"),
            Surrender("late_topup_2021", 2021, "2024-02-20", "allowance", 5000, 2021, "purchase"),
        ),
        own_ledger=True,
        years="2021",
        what="5,000 t free vintage-2019 allowances refused (not carried over); topped up with purchased vintage 2021 "
        "on 2024-02-20 → cleared late",
    ),
    Case(
        "purchased_vintage_2018",
        kind="ledger",
        rule="§6 allowances: purchased old vintages accepted",
        host=Host(("电子设备制造业",)),
        edits=(
            Surrender("purchase_2018", 2022, "2024-03-01", "allowance", 8000, 2018, "purchase"),
            Surrender("", 2022, "2024-03-01", "allowance", lambda d: d.o - 8000, 2022),
        ),
        own_ledger=True,
        years="2022",
        what="8,000 t vintage-2018 allowances acquired by purchase → accepted; cleared on time",
    ),
    Case(
        "offsets_over_limit_2021",
        kind="ledger",
        rule="§6 offsets: the 8% limit",
        host=Host(("其他行业",)),
        edits=(
            Surrender("offsets_10pct", 2021, "2023-11-30", "ccer", lambda d: -(-d.o // 10), **_CHONGQING),
            Surrender("", 2021, "2023-11-30", "allowance", lambda d: d.o - -(-d.o // 10), 2021, "free"),
        ),
        own_ledger=True,
        years="2021",
        what="CCER (Chongqing, non-hydro) for 10% of E: only 8% of E accepted → shortfall, not cleared",
    ),
    Case(
        "green_power_2022_refused",
        kind="ledger",
        rule="§6 green power only from 2023",
        host=Host(("机械设备制造业",)),
        edits=(
            Surrender("green_power_2022", 2022, "2024-03-20", "green_power", 3000, origin="other"),
            Surrender("", 2022, "2024-03-20", "allowance", lambda d: d.o - 3000, 2022, "free"),
        ),
        own_ledger=True,
        years="2022",
        what="3,000 t green_power in 2022 (not an eligible instrument before 2023) → refused, not cleared",
    ),
    Case(
        "ccer_2023_refused",
        kind="ledger",
        rule="§6 offsets: CQCER only in 2023",
        host=Host(("化工行业",)),
        edits=(
            Surrender("ccer_2023", 2023, "2024-12-10", "ccer", 2000, **_CHONGQING),
            Surrender("cqcer_2023_ok", 2023, "2024-12-10", "cqcer", lambda d: d.o * 4 // 100, **_CHONGQING),
            Surrender("", 2023, "2024-12-10", "allowance", lambda d: d.o - d.o * 4 // 100 - 2000, 2023, "free"),
        ),
        own_ledger=True,
        years="2023",
        what="2,000 t CCER in 2023 refused (CQCER only); CQCER for 4% of E accepted → shortfall 2,000",
    ),
    Case(
        "cqcer_over_limit_2023",
        kind="ledger",
        rule="§6 offsets: the 5% limit (2023)",
        host=Host(("其他行业",)),
        edits=(
            Surrender("cqcer_6pct", 2023, "2024-12-05", "cqcer", lambda d: -(-d.o * 6 // 100), **_CHONGQING),
            Surrender("", 2023, "2024-12-05", "allowance", lambda d: d.o - -(-d.o * 6 // 100), 2022),
        ),
        own_ledger=True,
        years="2023",
        what="CQCER for 6% of E in 2023: 5% of E accepted, the rest refused → shortfall",
    ),
    Case(
        "late_2022",
        kind="ledger",
        rule="§6 deadline, status cleared_late",
        host=Host(("电子设备制造业",)),
        edits=(
            Surrender("", 2022, "2024-03-28", "allowance", lambda d: d.o * 7 // 10, 2022, "free"),
            Surrender("late_2022", 2022, "2024-04-01", "allowance", lambda d: d.o - d.o * 7 // 10, 2021, "free"),
        ),
        own_ledger=True,
        years="2022",
        what="70% surrendered 2024-03-28, the rest on 2024-04-01 (a day after the deadline) → cleared late",
    ),
    Case(
        "preallocation_cancelled_2022",
        kind="pre-allocation",
        rule="§4 pre-allocation cancelled",
        host=Host(("玻璃及玻璃制品制造业",)),
        edits=(Attributes2022(),),
        years="2022",
        what="attributes/2022.csv preallocation_cancelled = true (also the closed enterprise and the host of "
        "borrowing_above_pool) → no 2023 pre-allocation",
    ),
    Case(
        "excluded_unlisted",
        kind="ledger",
        rule="§6 status excluded",
        host=Unlisted(EXCLUDED_NAME, "渝北区", "其他行业"),
        edits=(
            Surrender("excluded_2022", 2022, "2024-03-25", "allowance", 5000, 2022, "purchase"),
            Surrender("excluded_2023", 2023, "2024-12-20", "allowance", 3000, 2023, "purchase"),
        ),
        years="2022, 2023",
        what=f"{EXCLUDED_NAME}: not on any list, no lines, ledger rows in 2022 and 2023 → status excluded",
    ),
    Case(
        "verified_total_blank",
        kind="shape",
        rule="data contract §1: verified_total_t is optional",
        host=None,
        years="all",
        what="{n_blank} enterprise-year rows leave verified_total_t empty (optional column)",
    ),
    # added after the first release: hosts with the line counts they need, ledger rows numbered last
    Case(
        "borrowing_above_pool",
        kind="ledger",
        rule="§6 borrowed pre-allocation: at most the pool",
        host=Host(("水泥制造行业",), (1, 0)),
        line=1,
        edits=(
            LineEdit(intensity=1.0, trend=0.0, elec_share=0.06, scale_t=Draw(0.3e6, 0.6e6)),
            Surrender(
                "above_pool_2022", 2022, "2024-03-26", "borrowed_preallocation",
                lambda d: max(d.borrowable[2022] // 2, 1),
            ),
            Attributes2022(),
        ),
        added=True,
        years="2022",
        what="single clinker line at ~1.0 tCO2/t like CQ013 (gap ≈ {d.gap_pct[2022]}% of E, borrowable "
        "{d.borrowable[2022]:,} t in 2022), 2023 pre-allocation cancelled (attributes/2022.csv): "
        "borrowed_preallocation {q[above_pool_2022]:,} t (within borrowable) → refused, above borrowing pool (0)",
    ),
    Case(
        "borrowing_2023_refused",
        kind="ledger",
        rule="§4 borrowing only for 2021–2022",
        host="borrowing_above_pool",
        edits=(Surrender("borrowing_2023", 2023, "2024-12-18", "borrowed_preallocation", 1000),),
        added=True,
        years="2023",
        what="1,000 t borrowed_preallocation in 2023 (borrowing only for 2021–2022) → refused, borrowing not "
        "allowed this year",
    ),
    Case(
        "major_change_2023_03_01",
        kind="line",
        rule="§3.1 major change after the base years (T18)",
        host=Host(("造纸与纸制品生产业",), (0, 2)),
        line=2,
        edits=(LineEdit(major_change="2023-03-01", eligible=False),),
        added=True,
        years="2021–2023",
        what="total line with major_change_on 2023-03-01, after the base years of every year: no base year "
        "unusable, the explanation says the date was outside (before v2: every base year wiped, equal method)",
    ),
    Case(
        "reduction_project_2021_03_01",
        kind="line",
        rule="§3.1 reduction-project window (T16), §6a 2023 window",
        host=Host(("电子设备制造业",), (0, 2)),
        line=2,
        edits=(LineEdit(reduction_project="2021-03-01", eligible=True),),
        added=True,
        years="2021–2023",
        what="intensity line with reduction_project_on 2021-03-01: outside the 2018–2020 window of 2021 and 2022 "
        "(all base years usable, T16); inside the provisional 2023 window 2020–2022 (2020, 2021 unusable, "
        "2022 kept)",
    ),
    Case(
        "incentive_under_investigation_2023",
        kind="incentive",
        rule="§4 incentive: none under investigation",
        host=Host(("陶瓷生产行业",), (0, 1)),
        line=1,
        edits=(
            YearOnYear(2023, 0.9, same_output=True),
            Attributes2023(grade="A", penalized=False, under_investigation=True),
        ),
        added=True,
        years="2022–2023",
        what="same improvement and grade A, not penalized, but under_investigation = true (attributes/2023.csv) → "
        "no incentive",
    ),
    Case(
        "green_power_from_city_2023",
        kind="ledger",
        rule="§6 green power bought inside the city (T19)",
        host="borrowing_clinker",
        edits=(
            Surrender(
                "green_power_city_2023", 2023, "2024-12-19", "green_power", 1000,
                origin="chongqing", certificate="GEC-2023-CQ-0002",
            ),
        ),
        added=True,
        years="2023",
        what="1,000 t green power bought in Chongqing (origin chongqing) → refused, bought inside the city",
    ),
    Case(
        "certificate_reused_2023",
        kind="ledger",
        rule="§6 a green-power certificate is used once (T19)",
        host="borrowing_clinker",
        edits=(
            Surrender(
                "green_power_reused_2023", 2023, "2024-12-20", "green_power", 500,
                origin="other", certificate=GREEN_CERTIFICATE,
            ),
        ),
        added=True,
        years="2023",
        what=f"500 t green power on certificate {GREEN_CERTIFICATE}, already presented on 2024-12-16 by the "
        "3,000 t row → refused, certificate already used",
    ),
    Case(
        "ledger_without_verification_2022",
        kind="ledger",
        rule="§6 status missing_verification",
        host="closed_missing_verification",
        edits=(Surrender("no_report_2022", 2022, "2024-03-20", "allowance", 2000, 2021, "purchase"),),
        added=True,
        years="2022",
        what="the closed enterprise (listed for 2022, no 2022 report) surrenders 2,000 t for 2022 → refused, no "
        "verified emissions for 2022; status stays missing_verification",
    ),
    Case(
        "fullwidth_digits",
        kind="file",
        rule="data contract §1: full-width digits are normalised",
        host=None,
        years="2022",
        what="full-width digits in the 产量 column of `reports/2022/核查数据_生产线.csv` (GB18030)",
    ),
)  # fmt: skip
CASE = {c.name: c for c in CASES}


# ---------------------------------------------------------------------------------------------
# Placing the cases
# ---------------------------------------------------------------------------------------------
def place(
    ent: pl.DataFrame, kind: np.ndarray, counts: tuple[np.ndarray, np.ndarray], rng: np.random.Generator
) -> dict[str, int]:
    """Host enterprise (position) of each case with a `Host`, picked in table order; a case with
    no fitting enterprise left is skipped. Preference among candidates is a seeded permutation."""
    sectors = ent["sector_label"].to_numpy()
    taken = np.zeros(ent.height, dtype=bool)
    order = rng.permutation(ent.height)
    hosts: dict[str, int] = {}
    for case in CASES:
        host = case.host
        if not isinstance(host, Host):
            continue
        fits = kind == sector_kind(np.array(host.sectors[:1]))[0]
        if case.added:  # on an enterprise that already has the line counts it needs
            fits &= (counts[0] == host.lines[0]) & (counts[1] == host.lines[1])
        free = order[(fits & ~taken)[order]]
        preferred = (int(i) for i in free if sectors[i] in host.sectors)
        pick = next(preferred, int(free[0]) if len(free) else None)
        if pick is not None:
            hosts[case.name] = pick
            taken[pick] = True
    return hosts


def force_line_counts(hosts: dict[str, int], n_p: np.ndarray, n_s: np.ndarray) -> None:
    """The line counts the placed cases need."""
    for case in CASES:
        if case.name in hosts and case.host.lines is not None:
            n_p[hosts[case.name]], n_s[hosts[case.name]] = case.host.lines


def host_of(case: Case, hosts: dict[str, int]) -> int | None:
    """Position of the case's enterprise, or None when it is not placed (or has none)."""
    if isinstance(case.host, str):
        return hosts.get(case.host)
    return hosts.get(case.name)


def _edits(hosts: dict[str, int], *types: type):
    """(case, host position, edit) for each edit of the given types of the placed cases, in order."""
    for case in CASES:
        e = host_of(case, hosts)
        if e is not None:
            for edit in case.edits:
                if isinstance(edit, types):
                    yield case, e, edit


# ---------------------------------------------------------------------------------------------
# Applying the edits, by kind
# ---------------------------------------------------------------------------------------------
def _value(v, rng: np.random.Generator):
    return rng.uniform(v.low, v.high) if isinstance(v, Draw) else v


def edit_lines(lines: Lines, hosts: dict[str, int], rng: np.random.Generator) -> None:
    """The line register edits (`LineEdit`); `Draw`s come from `rng`, the edge-case stream."""
    for case, e, ed in _edits(hosts, LineEdit):
        i = lines.index(e, case.line)
        for name, arr in (
            ("commissioned", lines.commissioned),
            ("reduction_project", lines.reduction),
            ("major_change", lines.major),
            ("stopped", lines.stopped),
        ):
            if getattr(ed, name) is not None:
                arr[i] = np.datetime64(getattr(ed, name))
        if ed.old_line:
            lines.commissioned[i] = np.datetime64("NaT")
        if ed.product is not None:
            lines.product[i], lines.unit[i] = ed.product, "t"
            lines.name[i] = f"{case.line}#{ed.product}生产线"
        for name, arr in (
            ("eligible", lines.eligible),
            ("elec_share", lines.elec_share),
            ("non_co2_share", lines.non_co2_share),
            ("intensity", lines.intensity),
            ("trend", lines.trend),
            ("scale_t", lines.scale_t),
        ):
            if getattr(ed, name) is not None:
                arr[i] = _value(getattr(ed, name), rng)


def edit_shutdown(shutdown: np.ndarray, hosts: dict[str, int]) -> None:
    """The enterprise shutdown days (`Shutdown`)."""
    for _, e, ed in _edits(hosts, Shutdown):
        for y, days in ed.days.items():
            shutdown[e, YEARS.index(y)] = days


def edit_line_years(ly: LineYears, hosts: dict[str, int]) -> None:
    """Exact values of line-years (each `LineYearEdit` applies itself to the case's line)."""
    for case, e, ed in _edits(hosts, *LINE_YEAR_EDITS):
        ed.apply(ly, ly.lines.index(e, case.line))


def edit_listing(listed: np.ndarray, hosts: dict[str, int]) -> None:
    """The years listed (`Listed`)."""
    for _, e, ed in _edits(hosts, Listed):
        listed[e] = ed.years


def unlisted(ent: pl.DataFrame, hosts: dict[str, int]) -> pl.DataFrame:
    """The enterprises of `Unlisted` hosts, numbered after the last of `ent`; records their
    positions in `hosts`."""
    rows = []
    last = str(ent["enterprise_id"][-1])
    for case in CASES:
        if isinstance(case.host, Unlisted):
            last = _next_id(last)
            hosts[case.name] = ent.height + len(rows)
            rows.append((last, case.host.name, case.host.district, case.host.sector, None))
    return pl.DataFrame(rows, schema=ent.schema, orient="row")


def _next_id(last: str) -> str:
    m = re.match(r"^(.*?)(\d+)$", last)
    if not m:
        return last + "X"
    return f"{m.group(1)}{int(m.group(2)) + 1:0{len(m.group(2))}d}"


def own_ledger_hosts(hosts: dict[str, int]) -> list[int]:
    """Enterprises whose whole ledger the cases write (the generic ledger skips them)."""
    return sorted(hosts[c.name] for c in CASES if c.own_ledger and c.name in hosts)


def ledger_rows(
    hosts: dict[str, int], eid: pl.Series, e_c: dict[tuple[int, int], int], ly: LineYears
) -> tuple[pl.DataFrame, dict[str, dict]]:
    """The cases' ledger rows (`Surrender`; the host of an `own_ledger` case covers its other years
    on time with free allowances), and per case what its README words are sized with (`Due`, `q`
    the quantities of its tagged rows). `e_c`: verified E (1/100 t) by (host position, year)."""
    rows: list[dict] = []
    facts: dict[str, dict] = {}
    for case in CASES:
        e = host_of(case, hosts)
        if e is None or not any(isinstance(ed, Surrender) for ed in case.edits):
            continue
        due = Due(
            {y: c for (ee, y), c in e_c.items() if ee == e},
            lambda y, e=e: int(ly.output_c[ly.at(ly.lines.index(e, 1), y)]),
        )
        q: dict[str, int] = {}
        for ed in case.edits:
            if isinstance(ed, Surrender):
                due.year = ed.year
                n = ed.quantity(due) if callable(ed.quantity) else ed.quantity
                if n <= 0:
                    raise ValueError(f"edge-case ledger row {ed.tag} with quantity {n}")
                q[ed.tag] = n
                rows.append(_ledger_row(case, eid[e], ed, n))
        if case.own_ledger:
            written = {ed.year for ed in case.edits if isinstance(ed, Surrender)}
            for y in COMPLIANCE_YEARS:
                if y not in written and y in due.e_c:
                    due.year = y
                    on = (DEADLINES[y] - dt.timedelta(days=20)).isoformat()
                    rows.append(
                        _ledger_row(case, eid[e], Surrender("", y, on, "allowance", 0, y, "free"), due.o)
                    )
        facts[case.name] = {"d": due, "q": q}
    return pl.DataFrame(rows, schema=LEDGER_ROW_SCHEMA), facts


def _ledger_row(case: Case, e: str, ed: Surrender, quantity: int) -> dict:
    return {
        "appended": case.added,
        "tag": ed.tag,
        "enterprise_id": e,
        "compliance_year": ed.year,
        "surrendered_on": dt.date.fromisoformat(ed.on),
        "instrument": ed.instrument,
        "quantity_t": quantity,
        "vintage": ed.vintage,
        "acquired_via": ed.via,
        "origin": ed.origin,
        "is_hydro": ed.hydro,
        "certificate_id": ed.certificate,
    }


def edit_attributes(attrs: Attributes, hosts: dict[str, int]) -> None:
    """The attribute tables (`Attributes2022`, `Attributes2023`)."""
    for _, e, ed in _edits(hosts, Attributes2022, Attributes2023):
        if isinstance(ed, Attributes2022):
            attrs.cancelled_2022[e] = ed.preallocation_cancelled
            continue
        if ed.grade is not None:
            attrs.grade[e], attrs.penalized[e], attrs.cancelled_2023[e] = ed.grade, ed.penalized, False
        if ed.under_investigation is not None:
            attrs.under_investigation[e] = ed.under_investigation
        if ed.efficiency_benchmark_met is not None:
            attrs.efficiency_benchmark_met[e] = ed.efficiency_benchmark_met


# ---------------------------------------------------------------------------------------------
# The manifest (the sample README's table)
# ---------------------------------------------------------------------------------------------
MANIFEST_SCHEMA = {
    "case": pl.String,
    "enterprise_id": pl.String,
    "ref": pl.String,
    "years": pl.String,
    "what": pl.String,
}


def manifest(
    hosts: dict[str, int], eid: pl.Series, lines: Lines, ledger: pl.DataFrame, facts: dict[str, dict]
) -> pl.DataFrame:
    """One row per placed case (`file` cases are the writer's): enterprise, the lines and txn_ids
    it names, years, words; first-release cases first, then by kind, then in table order."""
    txns: dict[str, list[str]] = {}
    tagged = ledger.filter(pl.col("tag") != "")
    tag_case = {ed.tag: c.name for c in CASES for ed in c.edits if isinstance(ed, Surrender) and ed.tag}
    for tag, txn in zip(tagged["tag"], tagged["txn_id"], strict=True):
        txns.setdefault(tag_case[tag], []).append(txn)
    rows = []
    for case in sorted(CASES, key=lambda c: (c.added, KINDS.index(c.kind))):
        if case.kind == "file":
            continue
        e = host_of(case, hosts)
        if (e is None) if case.host is not None else (case.name not in facts):
            continue
        refs = []
        if case.shows == "lines":
            refs.append(", ".join(lines.ids[lines.index(e, k)] for k in range(1, int(lines.count[e]) + 1)))
        elif case.shows == "line" and case.line is not None:
            refs.append(lines.ids[lines.index(e, case.line)])
        if case.name in txns:
            refs.append(", ".join(sorted(txns[case.name])))
        what = case.what.format(**facts.get(case.name, {}))
        rows.append((case.name, eid[e] if e is not None else "", " / ".join(refs), case.years, what))
    return pl.DataFrame(rows, schema=MANIFEST_SCHEMA, orient="row")
