"""What `etsflow explain` shows, so that a reader can redo the number by hand (pure functions).

For a line allocated by historical intensity or total, each base year's verified CO2 E (with
the electricity restatement of rules.md §3.1 when the grid factor changed), output Q, E/Q,
production days and E per day; the weighted mean over the usable years and each year's
deviation from it against the ±share test (intensity), or its shutdown days against the day
limit (total). Which years were kept is what the publication says (`kept_years`); the figures
here are recomputed from `core.line_years` of the same served file for reading, exactly
(Decimal), and rounded only for display.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from model.labels import ADJUSTMENTS, adjustment_parts

_WS = re.compile(r"\s+")


def normalise_id(text: str) -> str:
    """An id as ingest normalises cell text: NFKC (full-width → half-width), whitespace removed;
    upper-cased for a case-insensitive match ('ｃｑ０１３ ' → 'CQ013')."""
    return _WS.sub("", unicodedata.normalize("NFKC", text)).upper()


def _q(value: Decimal | None, places: int = 4) -> str:
    if value is None:
        return "—"
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,}"


def restated_co2(record: dict[str, Any], grid_ef_y: Decimal | None) -> tuple[Decimal, Decimal | None]:
    """(E used for the baseline, restatement or None): E_y + MWh_y × (ef_Y − ef_y) when the year's
    grid factor differs from the compliance year's (rules.md §3.1), else E_y."""
    co2 = record["verified_co2_t"]
    mwh, ef = record.get("purchased_electricity_mwh"), record.get("grid_ef_t_per_mwh")
    if mwh is None or ef is None or grid_ef_y is None or ef == grid_ef_y:
        return co2, None
    delta = mwh * (grid_ef_y - ef)
    return co2 + delta, delta


def base_year_rows(
    line: dict[str, Any], records: dict[int, dict[str, Any]], policy
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of the base-year table of one line and the sentences under it.

    `records` maps year → the line's `core.line_years` row (base years and the compliance year)."""
    method = line["method"]
    years = list(policy.base_years.value)
    kept = set(line["kept_years"] or [])
    share = Decimal(str(policy.intensity_outlier_share.value))
    drop_days = int(policy.total_drop_shutdown_days.value)
    y_rec = records.get(int(line["compliance_year"]))
    grid_ef_y = y_rec.get("grid_ef_t_per_mwh") if y_rec else None
    rows = []
    for y in years:
        r = records.get(y)
        if r is None:
            rows.append({"year": y, "kept": False, "missing": True})
            continue
        e, delta = restated_co2(r, grid_ef_y)
        q, days = r["output"], r["production_days"]
        rows.append(
            {
                "year": y,
                "kept": y in kept,
                "missing": False,
                "e": e,
                "restatement": delta,
                "q": q,
                "intensity": e / q if q else None,
                "days": days,
                "shutdown_days": (366 if calendar.isleap(y) else 365) - days if days is not None else None,
                "daily": e / days if days else None,
            }
        )
    notes: list[str] = []
    present = [r for r in rows if not r["missing"]]
    if method == "intensity":
        usable = [r for r in present if r["q"] and r["q"] > 0]
        se, sq = sum((r["e"] for r in usable), Decimal(0)), sum((r["q"] for r in usable), Decimal(0))
        mean = se / sq if sq else None
        for r in rows:
            if not r["missing"] and r["intensity"] is not None and mean:
                r["deviation"] = (r["intensity"] - mean) / mean
                r["test"] = (
                    f"≥ ±{_pct(share)} outlier" if abs(r["deviation"]) >= share else f"< ±{_pct(share)} ok"
                )
        if mean is not None:
            notes.append(
                f"weighted mean of the usable years Ī = ΣE / ΣQ = {_q(se)} / {_q(sq)} = {_q(mean, 6)} t per unit; "
                f"a year deviating ≥ ±{_pct(share)} from it is dropped when it is the only one "
                f"(rules.md §3.2; the test applies when all {len(years)} base years are usable)"
            )
        ke = sum((r["e"] for r in present if r["kept"]), Decimal(0))
        kq = sum((r["q"] for r in present if r["kept"]), Decimal(0))
        if kq:
            notes.append(
                f"baseline I = ΣE / ΣQ over the kept years {_years(kept)} = {_q(ke)} / {_q(kq)} = {_q(ke / kq, 6)} "
                f"→ published {line['baseline']}"
            )
    elif method == "total":
        for r in present:
            if r["shutdown_days"] is not None:
                shut = r["shutdown_days"]
                r["test"] = f"{shut} days shut " + (
                    f"> {drop_days}" if shut > drop_days else f"≤ {drop_days} ok"
                )
        ke = sum((r["e"] for r in present if r["kept"]), Decimal(0))
        kd = sum((r["days"] for r in present if r["kept"]), 0)
        if kd:
            notes.append(
                f"baseline D = ΣE / Σdays over the kept years {_years(kept)} = {_q(ke)} / {kd} = {_q(ke / kd, 6)} "
                f"t per production day → published {line['baseline']}"
            )
    restated = [r for r in present if r.get("restatement") is not None]
    if restated:
        notes.append(
            "E includes the electricity restatement (grid factor of the year → that of "
            f"{line['compliance_year']}): "
            + "; ".join(
                f"{r['year']} {'+' if r['restatement'] >= 0 else ''}{_q(r['restatement'])} t"
                for r in restated
            )
        )
    return rows, notes


def _pct(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"


def _years(years) -> str:
    return "、".join(str(y) for y in sorted(years)) or "none"


def enterprise_sentence(ent: dict[str, Any]) -> str:
    """The enterprise's derivation in words: Σ lines, each adjustment named, incentive, final."""
    parts = [p for p in adjustment_parts(ent["adjustment_rule"]) if p != "none"]
    words = [ADJUSTMENTS.get(p, (p, p))[1] for p in parts]
    adj = ent["adjustment_t"]
    text = f"Σ line allocations A_raw = {_q(ent['allocation_raw_t'])} t"
    if parts:
        text += f"; adjusted by {_q(adj)} t for " + " and ".join(words)
    else:
        text += "; no adjustment"
    if ent["incentive_t"]:
        text += f"; incentive {ent['incentive_t']:,} t"
    text += (
        f"; final allocation A_final = {ent['allocation_final_t']:,} t against verified emissions "
        f"E = {_q(ent['verified_emissions_t'])} t (gap E − A_final = {_q(ent['gap_t'])} t"
        + ("; a surplus" if ent["gap_t"] is not None and ent["gap_t"] < 0 else "")
        + ")."
    )
    zh = "、".join(ADJUSTMENTS.get(p, (p, p))[0] for p in parts) or "无调整"
    return text + f" 调整依据：{zh}。"
