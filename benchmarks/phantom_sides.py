"""Phantom series, named side and clinical scales: does the overall verdict name the weakened side?

Sources (real healthy people, ``../shared/data``):

* every GRID talking-face clip (``talking-faces/grid``), a one-video session used as the
  ``rest`` and the ``speech`` task (as the demo's ``north``/``south`` drops do);
* the four healthy-tasks photo sessions (the sets of ``benchmarks/phantom_response.py``),
  task photos reduced to ``--max-side`` px long side as ``benchmarks/clinical_scales.py``
  does.

For each source and each side, w = 0, 0.2, ..., 1 (:data:`palsyflow.phantom.response.FRACTIONS`):
videos are weakened by :func:`palsyflow.phantom.simulate_weakness`, photos by
:func:`palsyflow.phantom.warp.warp_frame` (the rest photo kept), landmarks are detected
again on the phantom's pixels (TTA off, for every recording alike), each recording becomes
a feature row (:func:`palsyflow.features.table.recording_row`) and each session a
session-table row (:func:`palsyflow.features.table.session_table`). The normative model is
fitted as the train stage does (:func:`palsyflow.models.training.train_models`) on the
unmodified healthy sessions only, and every session is judged as the score table judges it
(:func:`palsyflow.scoring.scores.judge_sides`: leave-one-subject-out, so a phantom is never
judged against its own source). A phantom keeps its source's subject id, so each session
is judged alone (``carry=False``); then each series is also read as one patient's visits,
in recovery order (w falling to 0) and in worsening order, with the earlier-session rule
(:func:`palsyflow.measures.symmetry.carry_sides`).

Prints, per w, the share of series whose overall ``weaker_side`` is the weakened side (and
the share naming the other side), eFACE total, the Sunnybrook composite and the
House-Brackmann estimate (photo sessions; a speech-only video has no task items), their
monotonicity per series (Spearman against w), and the healthy sessions' verdicts. Saves
``benchmarks/results/phantom_sides-<date>.json`` and the session table
(``phantom_sides-<date>.parquet``, with ``.series.json``); ``--rejudge`` judges a saved
table again without detecting (to compare verdict rules).

Usage::

    python benchmarks/phantom_sides.py [--clips N] [--photo-sessions N] [--no-save]
    python benchmarks/phantom_sides.py --rejudge benchmarks/results/phantom_sides-<date>.parquet

Timings are wall clock on a shared 2-core machine (noisy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

from _results import RESULTS, save_result  # benchmarks/_results.py (scripts run with benchmarks/ on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SHARED = Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL = ROOT / "models" / "face_landmarker.task"
SITE = "bench"


def _ids(subject: str, session: str, task: str, kind: str, healthy: bool, simulated: bool, key: str) -> dict:
    return {"recording_key": key, "site": SITE, "subject": subject, "session": session, "task": task, "kind": kind,
            "healthy": healthy, "simulated": simulated, "sha256": key}


def _session_id(side: str | None, w: float) -> str:
    """A YYYYMMDD-like session id per (side, w): 20260101 healthy, 2026LSww / 2026RSww phantoms."""
    if side is None or w == 0:
        return "20260101"
    return f"2026{1 if side == 'left' else 2}{int(round(100 * w)):03d}"


def grid_rows(clips, p, fp, tmp: Path, fractions, sides) -> tuple[list[dict], list[dict]]:
    """Feature rows of each clip and its phantoms, and the series index."""
    from palsyflow.features.table import recording_row
    from palsyflow.landmarks import extract_landmarks
    from palsyflow.phantom.simulate import simulate_weakness, track_video

    rows, series = [], []
    for clip in clips:
        subject = f"grid{clip.stem}"
        tracks = track_video(clip, MODEL, p)
        for side in (None, *sides):
            for w in fractions if side else (0.0,):
                if side and w == 0:
                    continue
                src = clip
                if side:
                    src = tmp / f"{clip.stem}_{side}_{int(round(100 * w)):03d}.mp4"
                    simulate_weakness(clip, src, side, float(w), MODEL, params=p, sidecar=False, tracks=tracks)
                res = extract_landmarks(src, "video", p, MODEL)
                ses = _session_id(side, w)
                for task in ("rest", "speech"):
                    ids = _ids(subject, ses, task, "video", side is None, side is not None, f"{subject}-{ses}-{task}")
                    rows.append(recording_row(ids, res.points, res.quality, None, fp))
        for side in sides:
            series.append({"source": clip.name, "kind": "video", "subject": subject, "side": side,
                           "sessions": {float(w): _session_id(side, w) for w in fractions}})
        print(f"  {clip.stem}: {len(fractions) * len(sides) - len(sides)} phantoms measured", flush=True)
    return rows, series


def photo_rows(sets, p, fp, tmp: Path, fractions, sides, max_side: int) -> tuple[list[dict], list[dict]]:
    """Feature rows of each photo session and its phantoms (task photos warped, rest kept)."""
    import cv2

    from palsyflow.features.table import recording_row
    from palsyflow.landmarks import extract_landmarks
    from palsyflow.landmarks.media import read_photo
    from palsyflow.phantom.simulate import detect_photo
    from palsyflow.phantom.warp import warp_frame

    def reduced(path: Path) -> Path:
        rgb = read_photo(path)
        scale = max_side / max(rgb.shape[:2])
        if scale >= 1:
            return path
        small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        out = tmp / f"small-{path.parent.name}-{path.stem}.png"
        cv2.imwrite(str(out), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        return out

    subject_of = {"mpeschel-A": "mpeschel", "mpeschel-B": "mpeschel"}
    rows, series = [], []
    for label, rest, tasks in sets:
        subject = subject_of.get(label, label).replace("-", "")
        day = "20260102" if label.endswith("-B") else "20260101"
        rest = reduced(rest)
        rgb0, pts0 = detect_photo(rest, MODEL, p)
        rest_res = extract_landmarks(rest, "photo", p, MODEL)
        src = {t: detect_photo(reduced(f), MODEL, p) for t, f in tasks.items()}
        for side in (None, *sides):
            for w in fractions if side else (0.0,):
                if side and w == 0:
                    continue
                ses = day if side is None else f"{day[:4]}{day[-1]}{1 if side == 'left' else 2}{int(round(100 * w)):03d}"
                base = _ids(subject, ses, "rest", "photo", side is None, side is not None, f"{label}-{ses}-rest")
                rows.append(recording_row(base, rest_res.points, rest_res.quality, None, fp))
                for t, (rgb, pts) in src.items():
                    img = rgb if side is None else warp_frame(rgb, pts, pts0, side, float(w), neutral_image=rgb0).image
                    out = tmp / f"{label}-{ses}-{t}.png"
                    cv2.imwrite(str(out), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                    res = extract_landmarks(out, "photo", p, MODEL)
                    ids = {**base, "task": t, "recording_key": f"{label}-{ses}-{t}", "sha256": f"{label}-{ses}-{t}"}
                    rows.append(recording_row(ids, res.points, res.quality, None, fp, rest_res.points, rest_res.quality))
        for side in sides:
            sessions = {float(w): (day if w == 0 else f"{day[:4]}{day[-1]}{1 if side == 'left' else 2}{int(round(100 * w)):03d}")
                        for w in fractions}
            series.append({"source": label, "kind": "photo", "subject": subject, "side": side, "sessions": sessions})
        print(f"  {label}: {len(tasks)} task photos x {len(fractions) * len(sides) - len(sides)} phantoms measured", flush=True)
    return rows, series


def judge(table, series: list[dict], fractions) -> dict:
    """Judge every session of ``table`` as the score table does and summarise the series."""
    import numpy as np
    import polars as pl
    from scipy.stats import spearmanr

    from palsyflow.config import TrainParams
    from palsyflow.measures.symmetry import session_measures
    from palsyflow.models.training import train_models
    from palsyflow.scoring.scores import judge_sides

    normative = train_models(table, TrainParams()).normative
    measures = session_measures(table)
    # each session alone: a phantom keeps its source's subject id (for leave-one-subject-out),
    # so the sessions of one subject here are not one patient's visits
    judged = judge_sides(measures, normative, carry=False)
    verdict = {(r["subject"], r["session"]): r for r in judged.iter_rows(named=True)}
    scales = {(r["subject"], r["session"]): r for r in table.iter_rows(named=True)}
    healthy = [
        {"subject": r["subject"], "session": r["session"], "weaker_side": r["weaker_side"],
         "mov_side_asym": r.get("mov_commissure_excursion_side_asym")}
        for r in judged.iter_rows(named=True) if r["healthy"] and not r["simulated"]
    ]
    out_series = []
    for s in series:
        rows = []
        for w in fractions:
            key = (s["subject"], s["sessions"][float(w)])
            v, sc = verdict[key], scales[key]
            rows.append({"w": float(w), "weaker_side": v["weaker_side"], "mov_weaker": v["mov_weaker"],
                         "rest_weaker": v["rest_weaker"], "mov_side_asym": v.get("mov_commissure_excursion_side_asym"),
                         "eface_total": sc.get("eface_total"), "sunnybrook_composite": sc.get("sunnybrook_composite"),
                         "hb_grade": sc.get("hb_scale_grade_estimate")})
        rho = {}
        for k in ("eface_total", "sunnybrook_composite", "hb_grade"):
            pairs = [(r["w"], r[k]) for r in rows if r[k] is not None]
            rho[k] = float(spearmanr(*zip(*pairs)).statistic) if len(pairs) > 2 and len({p[1] for p in pairs}) > 1 else None
        out_series.append({**{k: s[k] for k in ("source", "kind", "subject", "side")}, "rows": rows, "spearman": rho})

    per_w = {}
    for w in fractions:
        named = [(s["side"], next(r for r in s["rows"] if r["w"] == w)["weaker_side"]) for s in out_series]
        per_w[f"{w:.1f}"] = {
            "n": len(named),
            "correct": float(np.mean([a == b for a, b in named])),
            "other_side": float(np.mean([b is not None and a != b for a, b in named])),
            "none": float(np.mean([b is None for a, b in named])),
            "by_kind": {k: float(np.mean([a == b for (a, b), s in zip(named, out_series) if s["kind"] == k]))
                        for k in sorted({s["kind"] for s in out_series})},
        }
    strong = [(s["side"], r["weaker_side"]) for s in out_series for r in s["rows"] if r["w"] >= 0.4]
    mono = {k: {"falling" if k != "hb_grade" else "rising":
                sum(1 for s in out_series if s["spearman"][k] is not None and (s["spearman"][k] > 0 if k == "hb_grade" else s["spearman"][k] < 0)),
                "n": sum(1 for s in out_series if s["spearman"][k] is not None)}
            for k in ("eface_total", "sunnybrook_composite", "hb_grade")}
    hb_steps = {k: sum(1 for s in out_series if all(
        (b["hb_grade"] or 0) >= (a["hb_grade"] or 0) for a, b in zip(s["rows"], s["rows"][1:])) and s["rows"][0]["hb_grade"] is not None)
        for k in ("hb_grade",)}
    return {
        "longitudinal": {order: visits(judged, measures, series, fractions, order) for order in ("recovery", "worsening")},
        "per_w": per_w,
        "correct_side_from_w_0_4": float(np.mean([a == b for a, b in strong])),
        "n_from_w_0_4": len(strong),
        "monotonic": mono,
        "hb_never_falls": hb_steps["hb_grade"],
        "healthy": healthy,
        "healthy_with_a_side": sum(1 for h in healthy if h["weaker_side"]),
        "series": out_series,
        "normative": None if normative is None else {"n_healthy": int(normative.n_samples_)},
    }


def visits(judged, measures, series: list[dict], fractions, order: str) -> dict:
    """Each series read as one patient's visits (:func:`palsyflow.measures.symmetry.carry_sides`).

    ``recovery``: w = 1, 0.8, ..., 0 (the last visit is the unmodified source, fully
    recovered); ``worsening``: w = 0, 0.2, ..., 1. Every visit is first judged alone
    (``judged``, leave-one-subject-out), then the series is given its own patient id and
    visit dates and the earlier-session rule is applied. Returns, per w, the share naming
    the weakened side, the other side or none, and how many of the named sides were
    carried. At w = 0 (the unmodified source) every named side is a false one, whichever
    side it names.
    """
    import datetime as dt

    import numpy as np
    import polars as pl

    from palsyflow.measures.symmetry import basis_session, carry_sides

    key = {(r["subject"], r["session"]): i for i, r in enumerate(judged.iter_rows(named=True))}
    noise_all = measures["mov_weaker"].to_list()
    ws = sorted(fractions, reverse=(order == "recovery"))
    parts, noise, tags = [], [], []
    for n, s in enumerate(series):
        idx = [key[(s["subject"], s["sessions"][float(w)])] for w in ws]
        rows = judged[idx].with_columns(
            pl.lit(f"{s['source']}/{s['side']}").alias("subject"),
            pl.Series("session", [f"2026{k + 1:02d}01" for k in range(len(ws))]),
            pl.Series("session_date", [dt.date(2026, k + 1, 1) for k in range(len(ws))]),
            pl.lit(f"series{n}").alias("site"),
        )
        parts.append(rows)
        noise += [noise_all[i] for i in idx]
        tags += [(s["side"], float(w)) for w in ws]
    carried = carry_sides(pl.concat(parts, how="vertical_relaxed"), noise)
    by_w: dict[str, dict] = {}
    for w in ws:
        got = [(side, r["weaker_side"], r["weaker_side_basis"]) for (side, tw), r in zip(tags, carried.iter_rows(named=True)) if tw == w]
        by_w[f"{w:.1f}"] = {
            "n": len(got),
            "correct": float(np.mean([a == b for a, b, _ in got])),
            "other_side": float(np.mean([b is not None and a != b for a, b, _ in got])),
            "none": float(np.mean([b is None for a, b, _ in got])),
            "carried": sum(1 for _, b, basis in got if b is not None and basis_session(basis)),
        }
    strong = [(side, r["weaker_side"]) for (side, w), r in zip(tags, carried.iter_rows(named=True)) if w >= 0.4]
    return {"per_w": by_w, "correct_side_from_w_0_4": float(np.mean([a == b for a, b in strong])), "n_from_w_0_4": len(strong)}


def report(summary: dict) -> None:
    print(f"\n{'w':>4}{'n':>5}{'correct':>9}{'other':>7}{'none':>7}   by kind")
    for w, s in summary["per_w"].items():
        kinds = " ".join(f"{k} {v:.2f}" for k, v in s["by_kind"].items())
        print(f"{w:>4}{s['n']:>5}{s['correct']:>9.2f}{s['other_side']:>7.2f}{s['none']:>7.2f}   {kinds}")
    print(f"correct side at w >= 0.4: {summary['correct_side_from_w_0_4']:.3f} of {summary['n_from_w_0_4']}")
    for order, lon in summary.get("longitudinal", {}).items():
        print(f"as one patient's visits ({order}): correct side at w >= 0.4 {lon['correct_side_from_w_0_4']:.3f} "
              f"of {lon['n_from_w_0_4']}; per w (correct/other/none, carried): "
              + "; ".join(f"{w} {v['correct']:.2f}/{v['other_side']:.2f}/{v['none']:.2f} ({v['carried']})" for w, v in lon["per_w"].items()))
    print(f"monotonic per series: {summary['monotonic']}; HB never falls in {summary['hb_never_falls']} series")
    print(f"healthy sessions with a side: {summary['healthy_with_a_side']} of {len(summary['healthy'])}: "
          + ", ".join(f"{h['subject']} {h['weaker_side']} ({h['mov_side_asym'] if h['mov_side_asym'] is None else round(h['mov_side_asym'], 3)})"
                      for h in summary["healthy"] if h["weaker_side"]))
    for s in summary["series"]:
        if s["kind"] == "photo" or any(r["w"] >= 0.4 and r["weaker_side"] != s["side"] for r in s["rows"]):
            print(f"  {s['source']:<24}{s['side']:<6}" + " ".join(f"{r['w']:.1f}:{r['weaker_side'] or '-'}" for r in s["rows"])
                  + "  eFACE " + " ".join("-" if r["eface_total"] is None else f"{r['eface_total']:.0f}" for r in s["rows"])
                  + "  HB " + " ".join("-" if r["hb_grade"] is None else f"{r['hb_grade']:.0f}" for r in s["rows"]))


def with_movement_side(table, fp):
    """The session table with ``task_movement_weaker`` recomputed from its task columns
    (:func:`palsyflow.measures.tasks.movement_side`, the features stage's rule): a table
    saved before that column existed is judged by today's rule."""
    import polars as pl

    from palsyflow.measures.registry import DYNAMIC_TASKS
    from palsyflow.measures.session import task_measure_from_row
    from palsyflow.measures.tasks import movement_side

    sides = []
    for row in table.iter_rows(named=True):
        tasks = {t: task_measure_from_row(t, row, fp) for t in DYNAMIC_TASKS if row.get(f"task_{t}_left") is not None}
        sides.append(movement_side(tasks, fp.task_side_min_asym, fp.task_side_min_tasks))
    return table.with_columns(pl.Series("task_movement_weaker", sides, dtype=pl.Utf8))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=11, help="GRID clips (0-11)")
    ap.add_argument("--photo-sessions", type=int, default=4, help="healthy-tasks photo sessions (0-4)")
    ap.add_argument("--max-side", type=int, default=1024, help="photos reduced to this long side, px")
    ap.add_argument("--rejudge", type=Path, help="a saved session table (parquet): judge it again, no detection")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    import json

    import polars as pl

    from palsyflow.config import FeatureParams, LandmarkParams
    from palsyflow.conventions import SIDES
    from palsyflow.features.table import build_feature_table, session_table
    from palsyflow.phantom.response import FRACTIONS

    fractions = tuple(float(w) for w in FRACTIONS)
    date = dt.date.today().isoformat()
    if args.rejudge:
        table = with_movement_side(pl.read_parquet(args.rejudge), FeatureParams())
        series = json.loads(args.rejudge.with_suffix(".series.json").read_text())
        for s in series:
            s["sessions"] = {float(k): v for k, v in s["sessions"].items()}
        summary = judge(table, series, fractions)
        report(summary)
        if not args.no_save:  # the verdict of today's rule on the saved detections
            save_result("phantom_sides-rejudged", {"benchmark": "phantom_sides", "date": date, "rejudged": str(args.rejudge.name),
                                                   "fractions": list(fractions), "summary": summary}, date)
        return summary
    if not SHARED.is_dir() or not MODEL.is_file():
        print(f"skipped: needs {SHARED} and {MODEL}")
        return {}
    from phantom_response import photo_sets

    p = LandmarkParams(tta_copies=1)
    fp = FeatureParams()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="palsyflow-sides-") as tmp:
        clips = sorted((SHARED / "talking-faces" / "grid").glob("*.mpg"))[: max(0, args.clips)]
        print(f"GRID clips: {len(clips)}", flush=True)
        vrows, vseries = grid_rows(clips, p, fp, Path(tmp), fractions, SIDES)
        t_video = time.perf_counter() - t0
        sets = photo_sets(SHARED)[: max(0, args.photo_sessions)]
        print(f"photo sessions: {len(sets)}", flush=True)
        prows, pseries = photo_rows(sets, p, fp, Path(tmp), fractions, SIDES, args.max_side)
    wall = time.perf_counter() - t0
    table = session_table(build_feature_table(vrows + prows), fp)
    series = vseries + pseries
    summary = judge(table, series, fractions)
    report(summary)
    print(f"videos {t_video:.0f} s, total {wall:.0f} s (wall, shared 2-core machine)")
    result = {"benchmark": "phantom_sides", "date": date, "fractions": list(fractions),
              "criteria": {"correct_side_from_w": 0.4, "correct_share_min": 0.95},
              "n_clips": len(clips), "n_photo_sessions": len(sets), "summary": summary,
              "seconds": {"videos": t_video, "total": wall}}
    if not args.no_save:
        save_result("phantom_sides", result, date)
        dest = RESULTS / f"phantom_sides-{date}.parquet"
        table.write_parquet(dest)
        dest.with_suffix(".series.json").write_text(json.dumps(series, indent=1) + "\n")
        print(f"saved {dest.relative_to(ROOT)} (the session table, for --rejudge)")
    return result


if __name__ == "__main__":
    main()
