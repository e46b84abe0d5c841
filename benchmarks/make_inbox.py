"""Write a contract-shaped synthetic inbox of N enterprises (≈2.2 lines each, years 2018–2023).

    .venv/bin/python benchmarks/make_inbox.py 100000 --form parquet --out var/bench/inbox-100000-parquet
    .venv/bin/python benchmarks/make_inbox.py 10000 --form csv --out /tmp/inbox-csv

The tables come from `tools.synthetic` (vectorised numpy/polars, seeded, the same mix of
methods and edge cases as the sample: new builds, reduction projects, outliers, shutdowns, stopped
lines, electricity restatements, non-CO2, ledger cases); `--form parquet|csv` writes one file per
table (reports per year), `--form sample` the mixed xlsx/CSV/GB18030 form of `data/sample/`
(slow beyond a few thousand enterprises: one workbook per third of the enterprises and year).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable as a script without installing the package
    sys.path.insert(0, str(REPO))

from tools import synthetic  # noqa: E402

DEFAULT_SEED = 20261108


def make_inbox(n: int, out: Path, form: str = "parquet", seed: int = DEFAULT_SEED) -> dict:
    """Build and write the inbox of `n` enterprises; returns counts and timings."""
    t0 = time.perf_counter()
    tables = synthetic.build_inbox(synthetic.synthetic_roster(n, seed), seed)
    t1 = time.perf_counter()
    written = synthetic.write_inbox(tables, out, form=form)
    t2 = time.perf_counter()
    return {
        "enterprises": tables["enterprises"].height,
        "lines": tables["lines"].height,
        "line_years": tables["line_years"].height,
        "enterprise_years": tables["enterprise_years"].height,
        "ledger": tables["ledger"].height,
        "files": len(written["files"]),
        "build_s": t1 - t0,
        "write_s": t2 - t1,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="number of enterprises")
    ap.add_argument("--form", choices=("parquet", "csv", "sample"), default="parquet")
    ap.add_argument("--out", type=Path, required=True, help="inbox folder (generated files are replaced)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    a = ap.parse_args(argv)
    s = make_inbox(a.n, a.out, a.form, a.seed)
    print(
        f"{a.out}: {s['enterprises']:,} enterprises, {s['lines']:,} lines, {s['line_years']:,} line-years, "
        f"{s['ledger']:,} ledger rows in {s['files']} {a.form} files — built in {s['build_s']:.1f} s, "
        f"written in {s['write_s']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
