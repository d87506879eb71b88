"""Minimal detectable change (MDC95) of the score-table measures from repeated healthy sessions.

Repeated sessions of stable (healthy) subjects, measured through the pipeline's own
functions:

* ``../shared/data/healthy-tasks`` (internal use only, nothing copied): ``mpeschel``
  sessions A and B (the same person on two days) and the ``app_uploads`` subjects'
  repeated takes (``-0`` webcam, ``-1``/``-2`` phone); landmarks by
  :func:`palsyflow.landmarks.extract_landmarks`, the session row by
  :func:`palsyflow.measures.session.aggregate_session` over
  :func:`palsyflow.features.table.face_measures` (as ``palsyflow measure`` does), the
  scores by :func:`palsyflow.measures.symmetry.session_measures`;
* the demo cohort's GRID speaker ``S05`` (two clips, two sessions): read from the
  score table of a finished demo run (``--scores``, default
  ``data/derivatives/scores/scores.parquet``), face and speech measures.

SEM = pooled within-subject SD, MDC95 = 1.96 * sqrt(2) * SEM
(:mod:`palsyflow.measures.longitudinal`; Weir 2005, doi:10.1519/15184.1);
for the speech clarity, whose one repeated pair says little (a 0-100 score in steps
of one word), the larger of that and the binomial SEM of a 6-word sentence at the
healthy clarity reference (``binomial_score_sem``). Also saves
the healthy range (min, max) of each measure over every healthy session seen (the
photo sessions and the demo's healthy sessions), the band drawn on the trend plot.

Prints the per-session values, the table, and the ``MDC_TABLE`` figures; saves
``benchmarks/results/mdc-<date>.json`` (``measures.longitudinal`` reads the 2026-12-02 file).

Usage::

    python benchmarks/mdc.py [--data DIR] [--model PATH] [--scores FILE] 2>/dev/null
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import save_result  # noqa: E402
from healthy_asymmetry import detect, sessions  # noqa: E402


def photo_scores(data: Path, model: Path) -> dict[str, dict[str, float | None]]:
    """Session label -> score-table measures of the healthy-tasks photo sessions."""
    import datetime as dt

    import polars as pl

    from palsyflow.config import FeatureParams
    from palsyflow.features.table import face_measures
    from palsyflow.measures.session import aggregate_session
    from palsyflow.measures.symmetry import session_measures
    from palsyflow.measures.longitudinal import MDC_MEASURES

    fp = FeatureParams()
    out: dict[str, dict[str, float | None]] = {}
    for label, files in sessions(data).items():
        res = detect(files, model)
        rest_pts, rest_q = res["rest"].points, res["rest"].quality
        rows = []
        for task, r in res.items():
            cols, _ = face_measures(task, r.points, r.quality, fp, rest_pts, rest_q)
            rows.append({**cols, "task": task})
        row = aggregate_session(rows, fp).row
        ids = {"site": "bench", "subject": label.split("-")[0], "session": label, "session_date": dt.date(2026, 1, 1)}
        sm = session_measures(pl.DataFrame([{**ids, **row}], infer_schema_length=None))
        out[label] = {m: (sm[m][0] if m in sm.columns else None) for m in MDC_MEASURES}
    return out


def demo_scores(path: Path) -> tuple[dict[str, dict[str, float | None]], dict[str, str]]:
    """(site:subject:session -> measures, same key -> subject) of the demo's healthy sessions."""
    import polars as pl

    from palsyflow.measures.longitudinal import MDC_MEASURES

    if not path.is_file():
        return {}, {}
    t = pl.read_parquet(path).filter(~pl.col("simulated").fill_null(False) & pl.col("measure").is_in(MDC_MEASURES))
    out: dict[str, dict[str, float | None]] = {}
    subj: dict[str, str] = {}
    for r in t.iter_rows(named=True):
        key = f"{r['site']}:{r['subject']}:{r['session']}"
        out.setdefault(key, {})[r["measure"]] = r["value"]
        subj[key] = f"{r['site']}:{r['subject']}"
    return out, subj


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/healthy-tasks"))
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "face_landmarker.task")
    ap.add_argument("--scores", type=Path, default=ROOT / "data" / "scores" / "scores.parquet")
    args = ap.parse_args()

    from palsyflow.measures.registry import SCORE_BY_NAME
    from palsyflow.measures.longitudinal import MDC_MEASURES, MDC_SOURCE, binomial_score_sem, mdc95, within_subject_sem
    from palsyflow.speech.prompts import grid_sentence
    from palsyflow.speech.reference import HEALTHY_REFERENCE

    photos = photo_scores(args.data, args.model) if args.data.is_dir() else {}
    demo, demo_subject = demo_scores(args.scores)
    groups: dict[str, list[list[float | None]]] = {}  # subject -> sessions x measures
    by_subject: dict[str, list[dict]] = {}
    for label, v in photos.items():
        by_subject.setdefault("photos:" + label.split("-")[0], []).append(v)
    for key, v in demo.items():
        by_subject.setdefault(demo_subject[key], []).append(v)
    repeated = {s: vs for s, vs in by_subject.items() if len(vs) >= 2}

    print(f"{'session':<28} " + " ".join(f"{m[:14]:>14}" for m in MDC_MEASURES))
    for label, v in {**{'photos:' + k: x for k, x in photos.items()}, **demo}.items():
        print(f"{label:<28} " + " ".join(f"{'-' if v.get(m) is None else format(v[m], '.2f'):>14}" for m in MDC_MEASURES))
    print(f"\nrepeated subjects: {', '.join(f'{s} ({len(v)})' for s, v in repeated.items())}\n")

    table: dict[str, dict] = {}
    print(f"{'measure':<40} {'unit':<6} {'dof':>3} {'SEM':>7} {'MDC95':>7} {'healthy min':>11} {'max':>7} {'n':>3}")
    for m in MDC_MEASURES:
        sem, dof = within_subject_sem([[s.get(m) for s in vs] for vs in repeated.values()])
        empirical = sem
        if m == "speech_clarity":  # one pair, both at 100: use the binomial model where it is larger
            n_words = len(grid_sentence("lwbsza").split())
            binomial = binomial_score_sem(HEALTHY_REFERENCE[m].mean, n_words)
            sem = binomial if math.isnan(sem) or binomial > sem else sem
        healthy = [v[m] for v in list(photos.values()) + list(demo.values()) if v.get(m) is not None]
        contributing = sorted(s for s, vs in repeated.items() if sum(x.get(m) is not None for x in vs) >= 2)
        table[m] = {
            "unit": SCORE_BY_NAME[m].unit,
            "sem": None if math.isnan(sem) else round(sem, 3),
            "mdc95": None if math.isnan(sem) else round(mdc95(sem), 3),
            "dof": dof,
            "sem_within_subject": None if math.isnan(empirical) else round(empirical, 3),
            "subjects": contributing,
            "healthy_min": round(min(healthy), 3) if healthy else None,
            "healthy_max": round(max(healthy), 3) if healthy else None,
            "healthy_n": len(healthy),
        }
        t = table[m]
        print(f"{m:<40} {t['unit']:<6} {dof:>3} {t['sem'] if t['sem'] is not None else '-':>7} {t['mdc95'] if t['mdc95'] is not None else '-':>7} "
              f"{t['healthy_min'] if t['healthy_min'] is not None else '-':>11} {t['healthy_max'] if t['healthy_max'] is not None else '-':>7} {t['healthy_n']:>3}")
    save_result("mdc", {
        "formula": "SEM = pooled within-subject SD of repeated healthy sessions; MDC95 = 1.96*sqrt(2)*SEM",
        "source": MDC_SOURCE,
        "sessions": {"photos": photos, "demo": demo},
        "repeated_subjects": {s: len(v) for s, v in repeated.items()},
        "measures": table,
    })

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
