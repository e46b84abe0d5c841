"""Skip and resume: which stages a run runs, skips (unchanged) or reuses (`--from-stage`).

A stage's output has a cache record (`Warehouse.cache_entries`: one per output, the year's or slot
0 for the inbox-wide raw tables) holding the fingerprint of the inputs it was made from
(`flows.fingerprints`). The record is deleted before the stage writes (`forget`) and written after
its output is complete (`remember`), so a crash in between leaves no record and the next run
recomputes. A plain run skips every stage whose record equals its current fingerprint;
`--from-stage S` reruns S and every later stage and reuses the outputs of earlier stages only when
their records match — else it refuses (exit 2) and says why.
"""

from __future__ import annotations

from flows.fingerprints import READS, Fingerprint, describe_difference
from flows.stages import STAGES


class ResumeRefused(Exception):
    """`--from-stage` cannot reuse an earlier output (missing, or made from other inputs)."""


def matches(entry: dict | None, fp: Fingerprint) -> bool:
    return entry is not None and entry["input_hash"] == fp.digest


def plan(
    year: int, cache: dict[str, dict], fps: dict[str, Fingerprint], from_stage: str | None
) -> dict[str, str]:
    """stage → run | skip (unchanged) | reuse (--from-stage) | not_needed (--from-stage).

    Raises ResumeRefused when `--from-stage` needs an earlier output that is missing or was made
    from other inputs than the current ones."""
    if from_stage is None:
        return {s: "skip" if matches(cache.get(s), fps[s]) else "run" for s in STAGES}
    start = STAGES.index(from_stage)
    earlier, later = STAGES[:start], STAGES[start:]
    needed = {r for s in later for r in READS[s] if r in earlier}
    problems = []
    for s in earlier:
        if s not in needed or matches(cache.get(s), fps[s]):
            continue
        what = f"the {s} output" + ("" if s == "ingest" else f" for {year}")
        if s not in cache:
            problems.append(
                f"{what} is missing (never run, its last run failed or was interrupted, or its stage files were deleted)"
            )
        else:
            problems.append(
                f"{what} (run {cache[s]['run_id']}) was made from other inputs: "
                f"{describe_difference(cache[s]['parts'], fps[s])}"
            )
    if problems:
        raise ResumeRefused(
            f"Cannot resume {year} from {from_stage}: "
            + "; ".join(problems)
            + ". Nothing was run and published results are unchanged. Run without --from-stage "
            "(stages whose inputs are unchanged are skipped anyway), or resume from an earlier stage."
        )
    kept = {s: ("reuse" if s in needed or matches(cache.get(s), fps[s]) else "not_needed") for s in earlier}
    return kept | {s: "run" for s in later}


def why_it_runs(entry: dict | None, fp: Fingerprint, from_stage: str | None) -> str | None:
    """Why a stage runs although an output exists (shown next to its summary in the run history)."""
    if from_stage is not None:
        return f"--from-stage {from_stage}"
    if entry is not None:
        return describe_difference(entry["parts"], fp)
    return None
