"""Calibration of the normative percentiles on the healthy sessions of a session table.

Fits the normative model as the train stage does (:func:`palsyflow.models.training.train_models`),
then scores every healthy session against it twice, as the score table does
(:func:`palsyflow.scoring.scores.normative_columns`): leave-one-subject-out (what the score
stage does) and in-sample (the session inside its own reference, the old behaviour). A
calibrated model gives healthy percentiles that are roughly uniform on 0-100: about 10 %
in each decile, about 1 % below the 1st percentile. Prints the decile histograms, the
Kolmogorov-Smirnov distance to the uniform and the tail fractions, per measure group;
saves ``benchmarks/results/calibration-<date>.json`` and the histogram figure
``benchmarks/results/calibration-<date>.png``.

Usage::

    python benchmarks/calibration.py [--sessions data/validated/sessions.parquet]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import kstest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, save_result  # noqa: E402

from palsyflow.config import TrainParams  # noqa: E402
from palsyflow.measures.registry import SCORE_MEASURES  # noqa: E402
from palsyflow.measures.symmetry import session_measures, subject_key  # noqa: E402
from palsyflow.models.training import SIDE_RANGE_MEASURES, train_models  # noqa: E402
from palsyflow.scoring.scores import normative_columns  # noqa: E402

FACE = tuple(m.name for m in SCORE_MEASURES if m.region != "speech")
SPEECH = tuple(m.name for m in SCORE_MEASURES if m.region == "speech")
BINS = np.linspace(0.0, 100.0, 11)


def _stats(p: np.ndarray) -> dict:
    p = p[np.isfinite(p)]
    if p.size == 0:
        return {"n": 0}
    return {
        "n": int(p.size),
        "decile_counts": np.histogram(p, BINS)[0].tolist(),
        "ks_distance": float(kstest(p / 100.0, "uniform").statistic),
        "ks_pvalue": float(kstest(p / 100.0, "uniform").pvalue),
        "below_1": float(np.mean(p < 1.0)),
        "below_5": float(np.mean(p < 5.0)),
        "above_95": float(np.mean(p > 95.0)),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default="data/validated/sessions.parquet", help="a session table (parquet)")
    ap.add_argument("--date", default=dt.date.today().isoformat())
    args = ap.parse_args(argv)

    table = pl.read_parquet(args.sessions)
    res = train_models(table, TrainParams())
    model = res.normative
    if model is None:
        raise SystemExit(f"no normative model: {res.skipped.get('normative')}")
    measures = session_measures(table)
    healthy = measures.filter(pl.col("healthy").fill_null(False) & ~pl.col("simulated").fill_null(False))
    names = [str(c) for c in model.feature_names_in_]
    groups = subject_key(healthy)
    loso_cols = normative_columns(healthy, model)
    in_cols = normative_columns(healthy, model, leave_subject_out=False)
    loso = np.column_stack([loso_cols[c][1] for c in names])
    insample = np.column_stack([in_cols[c][1] for c in names])
    groups_of = {"face": FACE, "side_asymmetry": SIDE_RANGE_MEASURES, "speech": SPEECH}
    out: dict = {
        "sessions_file": str(args.sessions),
        "n_healthy_sessions": healthy.height,
        "n_healthy_subjects": len(set(groups)),
        "reference_size_per_session": dict(
            zip([f"{g}/{s}" for g, s in zip(groups, healthy["session"])],
                model.reference_size(groups).tolist(), strict=True)
        ),
        "bins": BINS.tolist(),
    }
    for label, pct in (("leave_one_subject_out", loso), ("in_sample", insample)):
        block = {}
        for g, cols in groups_of.items():
            idx = [j for j, c in enumerate(names) if c in cols]
            block[g] = _stats(pct[:, idx].ravel()) if idx else {"n": 0}
        block["all"] = _stats(pct.ravel())
        block["per_measure_below_1"] = {
            c: int(np.sum(pct[:, j] < 1.0)) for j, c in enumerate(names) if np.isfinite(pct[:, j]).any()
        }
        out[label] = block
    for label in ("leave_one_subject_out", "in_sample"):
        print(f"\n{label}")
        for g in (*groups_of, "all"):
            s = out[label][g]
            if s["n"]:
                print(f"  {g:15s} n={s['n']:4d} deciles={s['decile_counts']} KS D={s['ks_distance']:.3f} "
                      f"p={s['ks_pvalue']:.3g} <1st={s['below_1']:.3f} <5th={s['below_5']:.3f}")
    _figure(loso, insample, names, RESULTS / f"calibration-{args.date}.png")
    save_result("calibration", out, args.date)
    return out


def _figure(loso: np.ndarray, insample: np.ndarray, names: list[str], dest: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    face = [j for j, c in enumerate(names) if c in FACE or c in SIDE_RANGE_MEASURES]
    fig = Figure(figsize=(8, 3.2))
    FigureCanvasAgg(fig)
    for k, (title, pct) in enumerate((("leave-one-subject-out", loso), ("in-sample (old)", insample))):
        ax = fig.add_subplot(1, 2, k + 1)
        p = pct[:, face].ravel()
        p = p[np.isfinite(p)]
        ax.hist(p, bins=BINS, color="#4477aa", edgecolor="white")
        ax.axhline(p.size / 10, color="k", linestyle="--", linewidth=1, label="uniform")
        ax.set_title(f"healthy face percentiles, {title}", fontsize=9)
        ax.set_xlabel("percentile")
        ax.set_ylabel("count")
        ax.legend(fontsize=8)
    fig.tight_layout()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=120)
    print(f"saved {dest}")


if __name__ == "__main__":
    main()
