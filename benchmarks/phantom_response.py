"""Phantom dose-response on real healthy faces: measured asymmetry against simulated weakness.

For every healthy rest/task photo pair in ``../shared/data/healthy-tasks`` (the two
``app_uploads`` subjects' 640x480 webcam PNGs ``<task>-0``, and the mpeschel
sessions A and B) and every GRID talking-face clip (speech), phantoms are made with
the patient's left and then right side weakened by w = 0, 0.2, ..., 1.0, landmarks
are detected again on the phantom's pixels and the task is measured
(:mod:`palsyflow.phantom.response`). Prints Spearman's rho per task (pooled and per
series), the weaker-side accuracy for w >= 0.4, and saves
``benchmarks/results/phantom_response-<date>.json``.

Usage::

    python benchmarks/phantom_response.py [--clips N] [--blend morph|warp] [--no-save]

Timings are wall clock on a shared 2-core machine (noisy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from _results import save_result  # benchmarks/_results.py (scripts run with benchmarks/ on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SHARED = ROOT.parent / "shared" / "data"
MODEL = ROOT / "models" / "face_landmarker.task"


def task_of(name: str) -> str | None:
    """Protocol task of a healthy-tasks file name (:func:`palsyflow.ingest.tasks.task_from_filename`)."""
    from palsyflow.config import IngestParams
    from palsyflow.ingest.tasks import task_from_filename

    return task_from_filename(name, IngestParams().task_aliases)


def photo_sets(root: Path) -> list[tuple[str, Path, dict[str, Path]]]:
    """(subject, rest photo, {task: photo}) for each healthy subject/session."""
    sets = []
    base = root / "healthy-tasks"
    for subj in sorted((base / "app_uploads").iterdir()):
        files = {task_of(p.name): p for p in sorted(subj.glob("*-0.png"))}
        sets.append((f"app-{subj.name[:6]}", files.pop("rest"), {t: p for t, p in files.items() if t}))
    for label, folder in (("mpeschel-A", "mpeschel_session_A_original_assets"), ("mpeschel-B", "mpeschel_session_B_test_resources")):
        files: dict[str, Path] = {}
        for p in sorted((base / folder).glob("*.jpg")):
            t = task_of(p.name)
            if t and t not in files:
                files[t] = p
        sets.append((label, files.pop("rest"), files))
    return sets


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=11, help="GRID clips for speech (0-11)")
    ap.add_argument("--blend", default="morph", choices=("morph", "warp"))
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--summarise", type=Path, help="only re-summarise the rows of a saved result JSON")
    args = ap.parse_args(argv)
    if args.summarise:
        from palsyflow.phantom.response import summarise

        saved = json.loads(args.summarise.read_text())
        saved["summary"] = summarise(saved["rows"])
        print(json.dumps(saved["summary"], indent=1))
        return saved
    if not SHARED.is_dir() or not MODEL.is_file():
        print(f"skipped: needs {SHARED} and {MODEL}")
        return {}

    from palsyflow.config import LandmarkParams
    from palsyflow.phantom.response import FRACTIONS, photo_sweep, summarise, video_sweep

    params = LandmarkParams(tta_copies=1)
    rows: list[dict] = []
    t0 = time.perf_counter()
    for subject, rest, tasks in photo_sets(SHARED):
        for task, photo in sorted(tasks.items()):
            for r in photo_sweep(rest, photo, task, MODEL, params=params, blend=args.blend):
                rows.append({"subject": subject, "source": photo.name, **r})
    t_photo = time.perf_counter() - t0
    clips = sorted((SHARED / "talking-faces" / "grid").glob("*.mpg"))[: max(0, args.clips)]
    t1 = time.perf_counter()
    if args.blend == "morph":
        for clip in clips:
            for r in video_sweep(clip, MODEL, params=params):
                rows.append({"subject": f"grid-{clip.stem}", "source": clip.name, **r})
    t_video = time.perf_counter() - t1
    summary = summarise(rows)

    print(f"phantom response (blend={args.blend}), w = {list(FRACTIONS)}, both sides")
    print(f"{'task':<20}{'excl':>5}{'series':>7}{'rho_pooled':>11}{'rho_med':>9}{'rho_min':>9}"
          f"{'s_rho_pool':>11}{'s_rho_med':>10}{'s_rho_min':>10}{'s>=0.9':>7}{'chg_rho':>8}"
          f"{'side_acc':>9}{'side_n':>7}{'not_act':>8}")

    def f(v):
        return "   -" if v is None else f"{v:.3f}"

    for task, s in summary.items():
        print(f"{task:<20}{s['excluded_series']:>5}{s['n_series']:>7}{f(s['rho_pooled']):>11}{f(s['rho_series_median']):>9}"
              f"{f(s['rho_series_min']):>9}{f(s['signed_rho_pooled']):>11}{f(s['signed_rho_series_median']):>10}"
              f"{f(s['signed_rho_series_min']):>10}{f(s['series_rho_at_least_0_9']):>7}{f(s['change_rho_pooled']):>8}"
              f"{f(s['side_accuracy']):>9}{s['side_n']:>7}{s['not_activated']:>8}")
    print(f"photo sweeps {t_photo:.1f} s, video sweeps ({len(clips)} clips) {t_video:.1f} s (wall, shared 2-core machine)")
    result = {
        "benchmark": "phantom_response",
        "date": dt.date.today().isoformat(),
        "blend": args.blend,
        "fractions": list(FRACTIONS),
        "criteria": {"rho_min": 0.9, "side_accuracy_from_w": 0.4},
        "summary": summary,
        "seconds": {"photos": t_photo, "videos": t_video},
        "rows": rows,
    }
    if not args.no_save:
        suffix = "" if args.blend == "morph" else f"-{args.blend}"
        save_result(f"phantom_response{suffix}", result, result["date"])
    return result


if __name__ == "__main__":
    main()
