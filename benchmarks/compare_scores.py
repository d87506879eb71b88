"""Compare a run's scores with scores saved before a refactor.

Usage (after ``make demo``)::

    .venv/bin/python benchmarks/compare_scores.py
    .venv/bin/python benchmarks/compare_scores.py --before B.csv --after data/scores/scores.parquet

``--before`` defaults to ``benchmarks/results/baseline/demo_scores_before_issue8.csv``: the
demo cohort's scores written by commit 9613b69, before issue 8 moved the measure
definitions into ``palsyflow.measures``. Measure names renamed since then are mapped through
``--renames`` (default ``tests/data/issue8_renames.json``, key ``"scores"``).

Prints, per measure, the largest absolute difference of value, z, percentile and change
since the first session, and the sessions whose weaker side differs; exits 1 when any
difference exceeds ``--tol`` or a session/measure is missing on either side.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import polars as pl

from palsyflow.measures.registry import REST_SYMMETRY

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["site", "subject", "session", "measure"]
NUMERIC = ["value", "z", "percentile", "change_since_first"]


#: Per-region rest symmetry measures: the ones whose weaker side may become null.
REST_REGION_MEASURES = tuple(REST_SYMMETRY.values())


def compare(
    before: pl.DataFrame,
    after: pl.DataFrame,
    renames: dict[str, str],
    tol: float,
    may_unname: tuple[str, ...] = (),
) -> tuple[pl.DataFrame, list[str]]:
    """Per-measure differences between two score tables.

    Parameters
    ----------
    before, after : polars.DataFrame
        Long score tables (``palsyflow.schemas.SCORE_SCHEMA`` columns; ``before`` may be
        the CSV form with the session as text).
    renames : dict
        Old measure name -> new name, applied to ``before``.
    tol : float
        Largest absolute difference accepted, in each measure's own unit.
    may_unname : tuple of str
        Measures (new names) whose weaker side may go from named to null.

    Returns
    -------
    table : polars.DataFrame
        One row per measure: ``n``, ``max_abs_<col>`` for each numeric column, and the
        counts ``unnamed`` (side -> null), ``named`` (null -> side), ``flipped``.
    problems : list of str
        One sentence per difference beyond ``tol``, missing row or weaker-side change not
        allowed.
    """
    before = before.with_columns(pl.col("session").cast(pl.Utf8), pl.col("measure").replace(renames))
    after = after.with_columns(pl.col("session").cast(pl.Utf8))
    problems: list[str] = []
    missing = before.join(after, on=KEYS, how="anti")
    extra = after.join(before, on=KEYS, how="anti")
    for row in missing.select(KEYS).iter_rows():
        problems.append(f"missing after: {row}")
    for row in extra.select(KEYS).iter_rows():
        problems.append(f"new after (not in the baseline): {row}")
    j = before.join(after, on=KEYS, suffix="_after")
    aggs = [pl.len().alias("n")]
    for c in NUMERIC:
        diff = (pl.col(c).cast(pl.Float64) - pl.col(f"{c}_after").cast(pl.Float64)).abs()
        both_null = pl.col(c).is_null() & pl.col(f"{c}_after").is_null()
        one_null = pl.col(c).is_null() ^ pl.col(f"{c}_after").is_null()
        j = j.with_columns(pl.when(both_null).then(0.0).when(one_null).then(float("inf")).otherwise(diff).alias(f"d_{c}"))
        aggs.append(pl.col(f"d_{c}").max().alias(f"max_abs_{c}"))
    old, new = pl.col("weaker_side"), pl.col("weaker_side_after")
    aggs += [
        (old.is_not_null() & new.is_null()).sum().alias("unnamed"),
        (old.is_null() & new.is_not_null()).sum().alias("named"),
        (old.is_not_null() & new.is_not_null() & (old != new)).sum().alias("flipped"),
    ]
    table = j.group_by("measure").agg(aggs).sort("measure")
    for row in table.iter_rows(named=True):
        worst = max(row[f"max_abs_{c}"] or 0.0 for c in NUMERIC)
        if worst > tol:
            problems.append(f"{row['measure']}: max abs difference {worst:g}")
        if row["flipped"] or row["named"]:
            problems.append(f"{row['measure']}: weaker side flipped in {row['flipped']}, newly named in {row['named']} sessions")
        if row["unnamed"] and row["measure"] not in may_unname:
            problems.append(f"{row['measure']}: weaker side no longer named in {row['unnamed']} sessions")
    return table, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, default=ROOT / "tests/data/issue8_before/scores.parquet")
    ap.add_argument("--after", type=Path, default=ROOT / "data/scores/scores.parquet")
    ap.add_argument("--renames", type=Path, default=ROOT / "tests/data/issue8_renames.json")
    ap.add_argument("--tol", type=float, default=1e-9)
    ap.add_argument("--may-unname", nargs="*", default=list(REST_REGION_MEASURES), help="measures whose weaker side may become null")
    args = ap.parse_args(argv)
    renames = json.loads(args.renames.read_text()).get("scores", {}) if args.renames.exists() else {}
    if args.before.suffix == ".csv":
        before = pl.read_csv(args.before, schema_overrides={"session": pl.Utf8})
    else:
        before = pl.read_parquet(args.before)
    table, problems = compare(before, pl.read_parquet(args.after), renames, args.tol, tuple(args.may_unname))
    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_width_chars=200):
        print(table)
    for p in problems:
        print("DIFFERS:", p)
    print(f"{table['n'].sum()} scores compared, {len(problems)} differences beyond {args.tol:g}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
