"""Rule packs: every number of the rules as data, with its source and confidence.

A rule pack is a TOML file `<jurisdiction>/<year>.toml` in a policy folder: the bundled
`policies/` (Chongqing), or a folder named by `ETSFLOW_POLICY_PATH` (folders separated by
`os.pathsep`, searched first). Each parameter is a table

    [name]
    value = ...
    source = "S0 附件2 二(三)"          # where it was read
    confidence = "verified"            # verified | inferred | provisional

Decimal values are written as strings ("0.9450") so that no float ever carries them.

A pack is composed of sections (`SECTIONS`: method choice, baselines, line methods, enterprise
adjustments, cap, clearance); a parameter may be written flat (`[k_intensity]`) or inside its
section (`[baselines.k_intensity]`). A parameter the pack leaves out takes its neutral value from
`policies/defaults.toml` (its rule off) — except what nothing can switch off (the deadline, the
review windows) and what the pack's line methods need (`policies/methods.py`), which are refused
when missing, with the key and the file named. `extends = "2022.toml"` (a path relative to the
pack) starts from another pack: the pack's own parameters replace the other's, `[pack]` entries
too. `jurisdiction.toml` next to the packs gives the jurisdiction's names (notice title) and where
the ledger's origins lie for it (`Origins`); the pack's version hash covers it.

`load_policy` turns the file into an immutable `Policy`; unknown keys are refused. Code reads
`policy.k_intensity.value`, never a literal.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from policies.methods import LINE_METHODS

POLICY_DIR = Path(__file__).parent
DEFAULTS_PATH = POLICY_DIR / "defaults.toml"
POLICY_PATH_ENV = "ETSFLOW_POLICY_PATH"
T = TypeVar("T")
Confidence = Literal["verified", "inferred", "provisional"]


class PolicyError(ValueError):
    """A rule pack that cannot be used; the message names the file and the key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Param(_Frozen, Generic[T]):
    value: T
    source: str
    confidence: Confidence

    @property
    def provisional(self) -> bool:
        return self.confidence == "provisional"


class Pack(_Frozen):
    id: str
    jurisdiction: str
    compliance_year: int
    version: str
    title: str
    sources: dict[str, str]


class Origins(_Frozen):
    """Where the ledger's `origin` codes (data contract) lie for the jurisdiction's locality rules
    (rules.md §6): `home` inside it (offsets' minimum share; green power bought there is refused),
    `region` the neighbouring region (offsets' maximum share), `elsewhere` the rest. A jurisdiction
    that names no home cannot switch the offset locality rule on."""

    home: str | None = None
    region: str | None = None
    elsewhere: tuple[str, ...] = ()

    @property
    def known(self) -> tuple[str, ...]:
        return tuple(o for o in (self.home, self.region, *self.elsewhere) if o is not None)


class Place(_Frozen):
    """The jurisdiction (`<jurisdiction>/jurisdiction.toml`): its names and titles, and where the
    ledger's origins lie for it."""

    name_zh: str
    name_en: str
    notice_title: str  # {year} is replaced by the compliance year
    report_title: str
    report_title_en: str
    origins: Origins = Origins()

    def title(self, which: Literal["notice_title", "report_title", "report_title_en"], year: int) -> str:
        return getattr(self, which).replace("{year}", str(year))


class Policy(_Frozen):
    """Every parameter of rules.md for one compliance year."""

    pack: Pack

    # §2 method selection
    stopped_lines_excluded: Param[bool]
    equal_enterprise_shutdown_days: Param[int]  # enterprise shutdown days ≥ this …
    equal_enterprise_min_years: Param[int]  # … in at least this many base years → equal
    equal_activities: Param[tuple[str, ...]]
    new_build_full_years_benchmark: Param[int]  # clinker/aluminium: equal while full years < this
    new_build_full_years_other: Param[int]

    # §3 baselines
    base_years: Param[tuple[int, ...]]
    intensity_outlier_share: Param[Decimal]  # |E/Q − Ī| ≥ share × Ī is an outlier (inclusive)
    total_drop_shutdown_days: Param[int]  # line shutdown days > this (strict) drops the year
    baseline_decimals: Param[int]
    line_allocation_decimals: Param[int]
    reduction_project_window: Param[tuple[int, int]]  # inclusive years: a completion outside counts not

    # §3.4 line methods (policies/methods.py) and coefficients
    line_methods: Param[tuple[str, ...]]
    benchmarks: Param[dict[str, Decimal]]  # activity → tCO2 per t product
    benchmark_correction: Param[Decimal]  # BM × Q × correction (1: none)
    k_intensity: Param[Decimal]
    k_total: Param[Decimal]

    # §4 enterprise adjustments
    gap_exemption_enabled: Param[bool]
    gap_exemption_share: Param[Decimal]
    gap_exemption_max_t: Param[Decimal]
    surplus_cap_enabled: Param[bool]
    surplus_cap_share: Param[Decimal]
    surplus_cap_max_t: Param[Decimal]
    incentive_enabled: Param[bool]
    incentive_grades: Param[tuple[str, ...]]  # weather grades (data contract codes) earning the incentive
    incentive_grade_a_pct: Param[Decimal]
    incentive_grade_b_pct: Param[Decimal]
    incentive_max_t: Param[Decimal]
    energy_efficiency_incentive_pct: Param[Decimal]  # second criterion, under the same max (sum capped)
    cost_control_enabled: Param[bool]
    preallocation_enabled: Param[bool]
    preallocation_share: Param[Decimal]
    preallocation_excluded_sectors: Param[tuple[str, ...]]
    borrowing_enabled: Param[bool]
    borrowing_threshold_share: Param[Decimal]
    borrowing_pool_years: Param[tuple[int, ...]]  # years sharing one pool of next pre-allocation

    # §5 cap and reserve
    reserve_share: Param[Decimal]

    # §6 clearance
    deadline: Param[date]
    review_window_working_days: Param[int]
    review_decision_working_days: Param[int]  # rules.md §9.2: decision due within N working days
    allowance_paid_only_vintages: Param[tuple[int, int]]  # inclusive range: only paid lots count
    allowance_paid_acquisitions: Param[tuple[str, ...]]
    later_vintages_accepted: Param[bool]  # an allowance of a vintage after Y counts for Y
    offset_types: Param[tuple[str, ...]]
    offset_hydro_refused: Param[bool]
    offset_limit_share: Param[Decimal]
    offset_locality_enabled: Param[bool]
    offset_min_chongqing_share: Param[Decimal]
    offset_max_circle_share: Param[Decimal]
    green_power_enabled: Param[bool]
    green_power_share: Param[Decimal]
    green_power_max_t: Param[Decimal]
    green_power_origins_accepted: Param[tuple[str, ...]]  # where green power must be bought
    green_power_certificate_once: Param[bool]  # a certificate_id counts once across all rows and years

    place: Place
    source_path: str = ""
    content_hash: str = ""
    defaulted: tuple[str, ...] = ()  # parameters the pack left out (values of defaults.toml)

    @field_validator("pack")
    @classmethod
    def _pack_year(cls, v: Pack) -> Pack:
        if not 2000 <= v.compliance_year <= 2100:
            raise ValueError(f"compliance_year {v.compliance_year} out of range")
        return v

    @field_validator("line_methods")
    @classmethod
    def _known_methods(cls, v: Param) -> Param:
        unknown = [m for m in v.value if m not in LINE_METHODS]
        if unknown:
            raise ValueError(f"unknown line method(s) {unknown}; known: {', '.join(LINE_METHODS)}")
        if "equal" not in v.value:
            raise ValueError("'equal' must be listed: every other method falls back to it (rules.md §2.8)")
        return v

    @field_validator("incentive_grades")
    @classmethod
    def _graded(cls, v: Param) -> Param:
        missing = [g for g in v.value if _grade_param(g) not in cls.model_fields]
        if missing:
            raise ValueError(
                f"no parameter {', '.join(_grade_param(g) for g in missing)} for grade(s) {missing} "
                "(the grades with a percentage: A, B)"
            )
        return v

    @field_validator("place")
    @classmethod
    def _home(cls, v: Place, info: ValidationInfo) -> Place:
        locality = info.data.get("offset_locality_enabled")
        if locality is not None and locality.value and v.origins.home is None:
            raise ValueError(
                "offset_locality_enabled is true, but the jurisdiction names no home origin "
                "([origins] home in its jurisdiction.toml)"
            )
        return v

    @property
    def year(self) -> int:
        return self.pack.compliance_year

    def grade_pct(self, grade: str) -> Param[Decimal]:
        """The incentive percentage of a weather grade listed in `incentive_grades`."""
        return getattr(self, _grade_param(grade))

    @property
    def version(self) -> str:
        """Pack id, version and the first 12 hex digits of the file's sha256."""
        return f"{self.pack.id}@{self.pack.version}#{self.content_hash[:12]}"

    def __reduce__(self):
        """Picklable (scenario sweeps ship packs to Dask workers; pydantic's parametrized `Param[…]`
        classes are not): rebuilt from its values by the same model."""
        return (_policy_from_values, (self.model_dump(mode="python"),))

    def params(self) -> dict[str, Param]:
        return {k: v for k, v in self if isinstance(v, Param)}

    def provisional_params(self) -> list[str]:
        return [k for k, v in self.params().items() if v.provisional]

    def provisional_labels(self) -> list[str]:
        """The provisional parameters in words (for the CLI, the report banner and the notices)."""
        return [label(k) for k in self.provisional_params()]


# Every parameter in words, Chinese / English: what a reader of the banner or the CLI needs to know
# which rule is a placeholder. tests/test_policies.py checks that every parameter has one.
LABELS: dict[str, str] = {
    "stopped_lines_excluded": "停产生产线不参与分配 / stopped lines get no allocation",
    "equal_enterprise_shutdown_days": "等量法：企业年停产天数门槛 / equal method: enterprise shutdown-days threshold",
    "equal_enterprise_min_years": "等量法：停产年度数 / equal method: number of shut-down base years",
    "equal_activities": "等量法适用行业 / industries on the equal method",
    "new_build_full_years_benchmark": "新建熟料、电解铝项目等量法年限 / new clinker and aluminium lines: years on the equal method",
    "new_build_full_years_other": "其他新建项目等量法年限 / other new lines: years on the equal method",
    "base_years": "历史基准年度 / base years",
    "intensity_outlier_share": "强度法 ±20% 剔除规则 / intensity method: ±20% outlier rule",
    "total_drop_shutdown_days": "总量法停产 183 天剔除规则 / total method: 183-day shutdown rule",
    "baseline_decimals": "基准值小数位 / decimals of the baselines",
    "line_allocation_decimals": "生产线配额小数位 / decimals of the line allocations",
    "reduction_project_window": "减排工程年度范围 / window of the reduction projects",
    "line_methods": "生产线分配方法 / line methods of the pack",
    "benchmarks": "行业基准值 / industry benchmarks",
    "benchmark_correction": "基准值修正系数 / benchmark correction factor",
    "k_intensity": "强度法调节系数 / intensity method coefficient",
    "k_total": "总量法调节系数 / total method coefficient",
    "gap_exemption_enabled": "缺口上限豁免 / gap exemption",
    "gap_exemption_share": "缺口豁免比例 / gap exemption share",
    "gap_exemption_max_t": "缺口豁免上限 / gap exemption maximum",
    "surplus_cap_enabled": "配额上限约束 / surplus cap",
    "surplus_cap_share": "盈余上限比例 / surplus cap share",
    "surplus_cap_max_t": "盈余上限 / surplus cap maximum",
    "incentive_enabled": "减污降碳协同激励 / synergy incentive",
    "incentive_grades": "享受激励的绩效分级 / weather grades earning the incentive",
    "incentive_grade_a_pct": "绩效A级激励比例 / incentive for weather grade A",
    "incentive_grade_b_pct": "绩效B级激励比例 / incentive for weather grade B",
    "incentive_max_t": "激励上限 / incentive maximum per unit",
    "energy_efficiency_incentive_pct": "能效标杆激励比例 / energy-efficiency benchmark incentive",
    "cost_control_enabled": "履约成本控制机制 / compliance-cost control",
    "preallocation_enabled": "下一年度预分配 / pre-allocation of the next year",
    "preallocation_share": "预分配比例 / pre-allocation share",
    "preallocation_excluded_sectors": "暂不预分配行业 / sectors without pre-allocation",
    "borrowing_enabled": "预支 / borrowing",
    "borrowing_threshold_share": "可预支缺口门槛 / borrowing threshold share",
    "borrowing_pool_years": "共用预支额度年度 / years sharing the borrowing pool",
    "reserve_share": "政府预留比例 / government reserve share",
    "deadline": "清缴期限 / clearance deadline",
    "review_window_working_days": "复核申请期限 / review window",
    "review_decision_working_days": "复核决定期限 / review decision period",
    "allowance_paid_only_vintages": "仅有偿配额可用的年度 / vintages usable only when paid for",
    "allowance_paid_acquisitions": "有偿取得方式 / paid acquisitions",
    "later_vintages_accepted": "以后年度配额可否清缴 / later vintages accepted",
    "offset_types": "可用减排量类型 / offset types",
    "offset_hydro_refused": "水电减排量不可用 / hydro offsets refused",
    "offset_limit_share": "减排量抵销比例 / offset limit share",
    "offset_locality_enabled": "减排量产地要求 / offset locality rule",
    "offset_min_chongqing_share": "本市减排量最低比例 / minimum Chongqing offset share",
    "offset_max_circle_share": "成渝地区减排量最高比例 / maximum Chengdu–Chongqing circle offset share",
    "green_power_enabled": "绿电抵销 / green power",
    "green_power_share": "绿电抵销比例 / green power share of the gap",
    "green_power_max_t": "绿电抵销上限 / green power maximum per unit",
    "green_power_origins_accepted": "绿电须市外购买 / green power bought outside the city",
    "green_power_certificate_once": "绿证仅可使用一次 / a certificate counts once",
}


def _grade_param(grade: str) -> str:
    return f"incentive_grade_{grade.lower()}_pct"


def label(name: str) -> str:
    """A parameter in words (its name when no label is written)."""
    return LABELS.get(name, name)


def bundled_years(jurisdiction: str = "chongqing") -> list[str]:
    """Years of the jurisdiction's packs, e.g. ['2021', '2022', '2023']."""
    return sorted(p.stem for p in jurisdiction_dir(jurisdiction).glob("*.toml") if p.stem.isdigit())


def _policy_from_values(values: dict) -> Policy:
    return Policy(**values)


# The sections of a pack: each parameter belongs to one. A section a pack does not use may be
# absent (its parameters take the neutral values of defaults.toml).
SECTIONS: dict[str, tuple[str, ...]] = {
    "method_choice": (
        "stopped_lines_excluded", "equal_enterprise_shutdown_days", "equal_enterprise_min_years",
        "equal_activities", "new_build_full_years_benchmark", "new_build_full_years_other",
    ),
    "baselines": (
        "base_years", "intensity_outlier_share", "total_drop_shutdown_days", "baseline_decimals",
        "reduction_project_window",
    ),
    "methods": (
        "line_methods", "line_allocation_decimals", "benchmarks", "benchmark_correction", "k_intensity", "k_total",
    ),
    "enterprise_adjustments": (
        "gap_exemption_enabled", "gap_exemption_share", "gap_exemption_max_t", "surplus_cap_enabled",
        "surplus_cap_share", "surplus_cap_max_t", "incentive_enabled", "incentive_grades", "incentive_grade_a_pct",
        "incentive_grade_b_pct", "incentive_max_t", "energy_efficiency_incentive_pct", "cost_control_enabled",
        "preallocation_enabled", "preallocation_share", "preallocation_excluded_sectors", "borrowing_enabled",
        "borrowing_threshold_share", "borrowing_pool_years",
    ),
    "cap": ("reserve_share",),
    "clearance": (
        "deadline", "review_window_working_days", "review_decision_working_days", "allowance_paid_only_vintages",
        "allowance_paid_acquisitions", "later_vintages_accepted", "offset_types", "offset_hydro_refused",
        "offset_limit_share", "offset_locality_enabled", "offset_min_chongqing_share", "offset_max_circle_share",
        "green_power_enabled", "green_power_share", "green_power_max_t", "green_power_origins_accepted",
        "green_power_certificate_once",
    ),
}  # fmt: skip


def policy_dirs() -> list[Path]:
    """The policy folders, searched in order: ETSFLOW_POLICY_PATH's, then the bundled one."""
    extra = [Path(p) for p in os.environ.get(POLICY_PATH_ENV, "").split(os.pathsep) if p]
    return [*extra, POLICY_DIR]


def jurisdiction_dir(jurisdiction: str) -> Path:
    """The folder of a jurisdiction's packs (the first policy folder that has it)."""
    for d in policy_dirs():
        if (d / jurisdiction).is_dir():
            return d / jurisdiction
    searched = ", ".join(str(d) for d in policy_dirs())
    raise PolicyError(
        f"jurisdiction '{jurisdiction}': no folder {jurisdiction}/ in {searched} ({POLICY_PATH_ENV})"
    )


def default_policy_path(year: int, jurisdiction: str = "chongqing") -> Path:
    return jurisdiction_dir(jurisdiction) / f"{year}.toml"


def _toml(path: Path) -> tuple[dict, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PolicyError(f"rule pack {path}: cannot be read ({e.strerror})") from e
    try:
        return tomllib.loads(raw.decode("utf-8")), raw
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise PolicyError(f"rule pack {path}: not valid TOML ({e})") from e


def _read_pack(path: Path, chain: tuple[Path, ...] = ()) -> tuple[dict, bytes]:
    """A pack's parameters (sections flattened, `extends` resolved) and the bytes it was read from."""
    if path.resolve() in chain:
        raise PolicyError(f"rule pack {path}: extends itself ({' → '.join(str(p) for p in chain)})")
    data, raw = _toml(path)
    flat: dict = {}
    for key, v in data.items():
        if key in SECTIONS and isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()):
            for name, param in v.items():
                if name not in SECTIONS[key]:
                    raise PolicyError(
                        f"rule pack {path}: key '{key}.{name}': not a parameter of section {key}"
                    )
                flat[name] = param
        else:
            flat[key] = v
    for key, v in flat.items():  # floats would carry binary rounding into exact rules
        if isinstance(v, dict) and isinstance(v.get("value"), float):
            raise PolicyError(
                f"rule pack {path}: key '{key}': write decimal values as strings, e.g. \"0.9450\""
            )
    parent = flat.pop("extends", None)
    if parent is None:
        return flat, raw
    if not isinstance(parent, str):
        raise PolicyError(f"rule pack {path}: 'extends' must be a file name, e.g. \"2022.toml\"")
    base, base_raw = _read_pack(path.parent / parent, (*chain, path.resolve()))
    merged = base | flat
    merged["pack"] = base.get("pack", {}) | flat.get("pack", {})
    return merged, base_raw + raw


def _place(path: Path, jurisdiction: object) -> tuple[dict, bytes]:
    """The jurisdiction from `jurisdiction.toml` next to the pack, else from the folder of the
    jurisdiction the pack names (a pack copied elsewhere to edit its values keeps its titles and
    origins), else its name only and no origin; and the bytes it was read from."""
    name = str(jurisdiction)
    for folder in (path.parent, *(d / name for d in policy_dirs())):
        if (folder / "jurisdiction.toml").is_file():
            return _toml(folder / "jurisdiction.toml")
    return {
        "name_zh": name,
        "name_en": name,
        "notice_title": name + " {year}",
        "report_title": name + " {year}",
        "report_title_en": name + " {year}",
    }, b""


def load_policy(path: str | Path) -> Policy:
    """Read and check a rule pack; raise PolicyError naming the file and the key on any problem."""
    path = Path(path)
    data, raw = _read_pack(path)
    defaults, _ = _toml(DEFAULTS_PATH)
    defaulted = tuple(k for k in defaults if k not in data)
    methods = (data.get("line_methods") or defaults["line_methods"]).get("value", [])
    needed = [
        f"missing key '{k}' (needed by line method {m})"
        for m in methods if m in LINE_METHODS for k in LINE_METHODS[m].needs if k not in data and k in defaults
    ]  # fmt: skip
    if needed:
        raise PolicyError(f"rule pack {path}: " + "; ".join(dict.fromkeys(needed)))
    place, place_raw = _place(path, data.get("pack", {}).get("jurisdiction"))
    try:
        policy = Policy(
            **({k: defaults[k] for k in defaulted} | data),
            place=place,
            source_path=str(path),
            # the jurisdiction's file shapes results (origins) and words (titles): the version covers it
            content_hash=hashlib.sha256(raw + place_raw).hexdigest(),
            defaulted=defaulted,
        )
    except ValidationError as e:
        raise PolicyError(f"rule pack {path}: " + _problems(e)) from None
    return policy


def _problems(e: ValidationError) -> str:
    """The pydantic errors of a pack in words, each naming its key."""
    msgs = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "missing":
            msgs.append(f"missing key '{loc}'")
        elif err["type"] == "extra_forbidden":
            msgs.append(f"unknown key '{loc}'")
        else:
            msgs.append(f"key '{loc}': {err['msg']}")
    return "; ".join(msgs)


def with_changes(policy: Policy, changes: dict[str, str], origin: str) -> Policy:
    """`policy` with some parameter values replaced, checked exactly as a pack file is.

    `changes`: parameter name as in the packs (`k_intensity`, `gap_exemption_share`; an entry of a
    table parameter as `benchmarks.cement_clinker`) → the value as text, as a pack would write it
    (decimals as "0.93"; lists as JSON, e.g. `["purchase"]`). The new Policy is built by the same
    pydantic model, so a wrong type or an unknown key is refused with the key named (PolicyError).

    A changed parameter becomes the user's value: its source says so (`origin`) and its confidence
    is `inferred` — no longer `provisional`, since the user chose it (docs/scenarios.md, "Provisional
    parameters").
    `content_hash` is the base pack's hash with the changes, so two packs with the same changes
    have the same version."""
    import json

    data = policy.model_dump(mode="python")
    params = policy.params()
    for key, text in changes.items():
        name, _, entry = key.partition(".")
        if name not in params:
            raise PolicyError(f"{origin}: unknown rule-pack parameter '{key}'")
        value: object = text
        if text[:1] in "[{":
            try:
                value = json.loads(text)
            except ValueError as e:
                raise PolicyError(f"{origin}: key '{key}': not valid JSON ({e})") from None
        if entry:
            current = data[name]["value"]
            if not isinstance(current, dict):
                raise PolicyError(f"{origin}: key '{key}': '{name}' has no entries (it is not a table)")
            if entry not in current:
                raise PolicyError(
                    f"{origin}: unknown key '{key}' ({name} has {', '.join(sorted(current)) or 'no entries'})"
                )
            data[name]["value"] = {**current, entry: value}
        else:
            data[name]["value"] = value
        old = params[name]
        data[name]["source"] = f"{origin} (pack value {old.value!r}, {old.confidence}: {old.source})"
        data[name]["confidence"] = "inferred"
    digest = hashlib.sha256(
        (policy.content_hash + json.dumps(changes, sort_keys=True, ensure_ascii=False)).encode()
    ).hexdigest()
    try:
        return Policy(**(data | {"source_path": policy.source_path, "content_hash": digest}))
    except ValidationError as e:
        raise PolicyError(f"{origin}: " + _problems(e).replace(".value'", "'")) from None


def policy_for_year(year: int, path: str | Path | None = None, jurisdiction: str = "chongqing") -> Policy:
    """The pack given by the user, or the jurisdiction's pack of the year; its year must match."""
    if path is None and not default_policy_path(year, jurisdiction).is_file():
        folder = jurisdiction_dir(jurisdiction)
        raise PolicyError(
            f"there is no bundled rule pack for {year}; bundled packs: "
            f"{', '.join(bundled_years(jurisdiction)) or 'none'} (in {folder}). Pass a pack for {year} with "
            "--policy FILE, e.g. a copy of the nearest year's pack with its values edited (docs/rule-packs.md)."
        )
    policy = load_policy(path or default_policy_path(year, jurisdiction))
    if policy.year != year:
        raise PolicyError(f"rule pack {policy.source_path} is for compliance year {policy.year}, not {year}")
    return policy


def rule_pack_docs(jurisdiction: str = "chongqing") -> str:
    """Markdown page of every parameter of every bundled pack (docs/rule-packs.md)."""
    packs = [load_policy(p) for p in sorted(jurisdiction_dir(jurisdiction).glob("[0-9]*.toml"))]
    out = [
        "# Rule packs / 规则包",
        "",
        "Generated by `python -m policies > docs/rule-packs.md` from `policies/<jurisdiction>/<year>.toml`;",
        "do not edit by hand. Every number the pipeline uses is a parameter below, never a literal in code.",
        "",
        "A pack is a TOML file; each parameter is a table with `value`, `source` (where in the plan it",
        "was read) and `confidence`: **verified** (read in a seed document), **inferred** (the project's",
        "reading, see `shared/spec/rules.md`), **provisional** (not recoverable: a placeholder the user",
        "must confirm; every result computed with one carries `provisional = true`). Decimals are",
        'written as strings (`"0.9450"`) so that no binary float enters an exact rule. Unknown or',
        "missing keys are refused with the key and the file named.",
        "",
        "A pack is composed of sections (below); a parameter is written flat (`[k_intensity]`) or in its",
        "section (`[baselines.k_intensity]`). A parameter a pack leaves out takes its neutral value from",
        "`policies/defaults.toml` (its rule off), shown *(default)* below — except the deadline, the review",
        "windows and what the pack's `line_methods` need (`policies/methods.py`), which are refused when",
        'missing. `extends = "2022.toml"` starts from another pack of the same folder. Packs live in',
        "`<folder>/<jurisdiction>/<year>.toml`: the bundled `policies/`, or a folder of",
        "`ETSFLOW_POLICY_PATH` (`etsflow run --jurisdiction NAME`); `jurisdiction.toml` next to them",
        "names the jurisdiction in the notices and the report.",
        "",
        "To use official values, copy the pack of the year, edit it and pass it with",
        "`etsflow run --year Y --policy my-pack.toml`; the run records the pack's version and hash.",
        "",
        "| pack | title | version |",
        "|---|---|---|",
    ]
    out += [f"| `{p.pack.id}` | {p.pack.title} | `{p.version}` |" for p in packs]
    o = packs[0].place.origins if packs else None
    if o is not None:
        out += [
            "",
            f"Origins of the ledger (`jurisdiction.toml` `[origins]`, rules.md §6): home `{o.home or '—'}`, "
            f"region `{o.region or '—'}`, elsewhere {', '.join(f'`{x}`' for x in o.elsewhere) or '—'}.",
        ]
    out += ["", "## Sections", ""]
    out += [f"- **{name}**: " + ", ".join(f"`{k}`" for k in keys) for name, keys in SECTIONS.items()]
    out += ["", "## Parameters", ""]
    out += [
        "| parameter | in words | " + " | ".join(str(p.year) for p in packs) + " |",
        "|---|---|" + "---|" * len(packs),
    ]

    def show(pack: Policy, name: str) -> str:
        param = pack.params()[name]
        v = param.value
        if isinstance(v, dict):
            v = ", ".join(f"{k} {x}" for k, x in v.items())
        elif isinstance(v, tuple | list):
            v = ", ".join(str(x) for x in v) or "—"
        mark = {"verified": "", "inferred": " *(inferred)*", "provisional": " **(provisional)**"}[
            param.confidence
        ]
        return f"{v} *(default)*" if name in pack.defaulted else f"{v}{mark}"

    for name in packs[0].params():
        out.append(f"| `{name}` | {label(name)} | " + " | ".join(show(p, name) for p in packs) + " |")
    out += ["", "## Sources", ""]
    for p in packs:
        out += [f"### {p.year}", ""]
        out += [f"- `{name}`: {param.source}" for name, param in p.params().items()]
        out.append("")
    return "\n".join(out)
