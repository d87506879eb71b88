"""Task asymmetry of healthy volunteers, the repeated-session pair, and the mirror test.

Reads ``../shared/data/healthy-tasks`` (internal use only: nothing is copied):

* ``app_uploads/<subject>/<task>-<n>``: one session per (subject, n) that has an
  ``at-rest`` photo (``-0`` = 640x480 webcam PNG, ``-1``/``-2`` = phone JPEGs stored
  sideways with an EXIF orientation tag);
* ``mpeschel_session_A_*`` / ``mpeschel_session_B_*``: the same person on two days.

For every session it runs :func:`palsyflow.features.session.measure_results` on the
photos (landmarks: :func:`palsyflow.landmarks.extract_landmarks`, default
``LandmarkParams``, TTA on) and, for the mirror test, on the same photos mirrored
left-right (pixels flipped after EXIF orientation, landmarks re-detected).

Prints four tables:

1. every session x task: left, right, asymmetry, cosine, activation;
2. per task over the healthy sessions: the normal range of the asymmetry score
   (n, median, max) and of the cosine score (min);
3. mpeschel session A vs B: per-task differences;
4. mirror test: per session x task |asym - asym_mirrored|, |cos - cos_mirrored| and
   whether the weaker side swapped.

Saves ``benchmarks/results/healthy_asymmetry-<date>.json``.

Usage::

    python benchmarks/healthy_asymmetry.py [--data DIR] [--model PATH] [--no-mirror] 2>/dev/null

Timings are wall-clock on a shared 2-core machine (noisy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def sessions(data: Path) -> dict[str, dict[str, Path]]:
    """Session label -> {task: photo} (protocol task names; unmapped files skipped)."""
    from palsyflow.config import IngestParams
    from palsyflow.ingest.tasks import task_from_filename

    out: dict[str, dict[str, Path]] = {}
    uploads = data / "app_uploads"
    for subject in sorted(p for p in uploads.iterdir() if p.is_dir()) if uploads.is_dir() else []:
        for f in sorted(subject.iterdir()):
            m = re.search(r"-(\d+)$", f.stem)
            task = task_from_filename(f.name, IngestParams().task_aliases)
            if m is None or task is None:
                continue
            out.setdefault(f"{subject.name[:6]}-{m.group(1)}", {}).setdefault(task, f)
    for label, pattern in (("mpeschel-A", "mpeschel_session_A*"), ("mpeschel-B", "mpeschel_session_B*")):
        for d in sorted(data.glob(pattern)):
            for f in sorted(d.iterdir()):
                task = task_from_filename(f.name, IngestParams().task_aliases)
                if task is not None and f.suffix.lower() in (".jpg", ".jpeg", ".png"):
                    out.setdefault(label, {}).setdefault(task, f)
    return {k: v for k, v in out.items() if "rest" in v}


def detect(files: dict[str, Path], model: Path, mirror_dir: Path | None = None) -> dict:
    """Landmark results per task (optionally of the mirrored photos)."""
    import cv2

    from palsyflow.config import LandmarkParams
    from palsyflow.landmarks import extract_landmarks
    from palsyflow.landmarks.media import read_photo

    lp = LandmarkParams()
    out = {}
    for task, f in files.items():
        path = f
        if mirror_dir is not None:
            rgb = read_photo(f)[:, ::-1]
            path = mirror_dir / f"{f.parent.name}-{f.stem}-mirrored.png"
            cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
        out[task] = extract_landmarks(path, "photo", lp, model)
    return out


def _f(v, fmt="{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "healthy-tasks")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "face_landmarker.task")
    ap.add_argument("--no-mirror", action="store_true")
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"healthy-tasks data not found at {args.data}; nothing to do")
        return 0

    from palsyflow.features.session import measure_results
    from palsyflow.features.tasks import DYNAMIC_TASKS

    sess = sessions(args.data)
    results: dict[str, dict] = {}
    mirrored: dict[str, dict] = {}
    t0 = time.perf_counter()
    n_photos = 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, files in sess.items():
            results[label] = measure_results(detect(files, args.model))
            n_photos += len(files)
            if not args.no_mirror:
                mirrored[label] = measure_results(detect(files, args.model, Path(tmp)))
    elapsed = time.perf_counter() - t0

    print("\n1. Sessions x tasks (healthy volunteers; left/right = patient's sides)\n")
    print(f"{'session':<13} {'task':<19} {'unit':<4} {'left':>6} {'right':>6} {'thresh':>6} {'act':>3} {'asym':>6} {'cosine':>6} {'weaker':>6}")
    for label, r in results.items():
        for task, m in r["tasks"].items():
            print(f"{label:<13} {task:<19} {m['unit']:<4} {_f(m['left']):>6} {_f(m['right']):>6} {_f(m['threshold']):>6} "
                  f"{'yes' if m['activated'] else 'no':>3} {_f(m['asymmetry_score']):>6} {_f(m['cosine_score']):>6} {m['weaker_side'] or '-':>6}")
        hb = r["hb_measure"]
        print(f"{label:<13} static asym brow {_f(r['static'].get('rest_brow_height_asym'))} eye {_f(r['static'].get('rest_palpebral_fissure_height_asym'))} "
              f"cheek {_f(r['static'].get('rest_nasolabial_height_asym'))} mouth {_f(r['static'].get('rest_commissure_height_asym'))}; "
              f"eFACE static {_f(r['eface']['static'], '{:.1f}')} dynamic {_f(r['eface']['dynamic'], '{:.1f}')}; "
              f"HB measure {'-' if hb is None else str(hb['points']) + '/8 (' + hb['side'] + ')'}")

    print("\n2. Normal range per task over healthy sessions (activated tasks)\n")
    summary = {}
    print(f"{'task':<19} {'n':>2} {'n_act':>5} {'asym_med':>8} {'asym_max':>8} {'cos_min':>7} {'eface_min':>9}")
    for task in DYNAMIC_TASKS:
        ms = [r["tasks"][task] for r in results.values() if task in r["tasks"]]
        act = [m for m in ms if m["activated"]]
        asym = [m["asymmetry_score"] for m in act]
        cos = [m["cosine_score"] for m in act if m["cosine_score"] is not None]
        ef = [m["eface"] for m in act]
        summary[task] = {
            "n": len(ms), "n_activated": len(act),
            "asym_median": float(np.median(asym)) if asym else None,
            "asym_max": float(np.max(asym)) if asym else None,
            "cosine_min": float(np.min(cos)) if cos else None,
            "eface_min": float(np.min(ef)) if ef else None,
        }
        s = summary[task]
        print(f"{task:<19} {s['n']:>2} {s['n_activated']:>5} {_f(s['asym_median']):>8} {_f(s['asym_max']):>8} {_f(s['cosine_min']):>7} {_f(s['eface_min'], '{:.1f}'):>9}")
    static_summary = {}
    for fam in ("rest_brow_height", "rest_palpebral_fissure_height", "rest_nasolabial_height", "rest_commissure_height"):
        vals = [r["static"].get(f"{fam}_asym") for r in results.values()]
        vals = [v for v in vals if v is not None]
        static_summary[fam] = {"n": len(vals), "asym_median": float(np.median(vals)) if vals else None,
                               "asym_max": float(np.max(vals)) if vals else None}
        print(f"static {fam:<12} {len(vals):>2}       {_f(static_summary[fam]['asym_median']):>8} {_f(static_summary[fam]['asym_max']):>8}")

    repeat = {}
    if "mpeschel-A" in results and "mpeschel-B" in results:
        print("\n3. Repeated sessions, mpeschel A vs B (same person, two days)\n")
        print(f"{'task':<19} {'asym_A':>6} {'asym_B':>6} {'|d|':>6} {'cos_A':>6} {'cos_B':>6} {'|d|':>6} {'weakA':>6} {'weakB':>6}")
        a, b = results["mpeschel-A"], results["mpeschel-B"]
        for task in DYNAMIC_TASKS:
            if task not in a["tasks"] or task not in b["tasks"]:
                continue
            ma, mb = a["tasks"][task], b["tasks"][task]
            da = None if ma["asymmetry_score"] is None or mb["asymmetry_score"] is None else abs(ma["asymmetry_score"] - mb["asymmetry_score"])
            dc = None if ma["cosine_score"] is None or mb["cosine_score"] is None else abs(ma["cosine_score"] - mb["cosine_score"])
            repeat[task] = {"asym_A": ma["asymmetry_score"], "asym_B": mb["asymmetry_score"], "asym_absdiff": da,
                            "cos_A": ma["cosine_score"], "cos_B": mb["cosine_score"], "cos_absdiff": dc,
                            "weaker_A": ma["weaker_side"], "weaker_B": mb["weaker_side"],
                            "left_A": ma["left"], "right_A": ma["right"], "left_B": mb["left"], "right_B": mb["right"]}
            print(f"{task:<19} {_f(ma['asymmetry_score']):>6} {_f(mb['asymmetry_score']):>6} {_f(da):>6} "
                  f"{_f(ma['cosine_score']):>6} {_f(mb['cosine_score']):>6} {_f(dc):>6} {ma['weaker_side'] or '-':>6} {mb['weaker_side'] or '-':>6}")
        for fam in ("rest_brow_height", "rest_palpebral_fissure_height", "rest_nasolabial_height", "rest_commissure_height"):
            va, vb = a["static"].get(f"{fam}_asym"), b["static"].get(f"{fam}_asym")
            d = None if va is None or vb is None else abs(va - vb)
            repeat[f"static_{fam}"] = {"asym_A": va, "asym_B": vb, "asym_absdiff": d}
            print(f"static {fam:<12} {_f(va):>6} {_f(vb):>6} {_f(d):>6}")

    mirror = {}
    if mirrored:
        print("\n4. Mirror test (pixels flipped, landmarks re-detected)\n")
        print(f"{'session':<13} {'task':<19} {'d_asym':>6} {'d_cos':>6} {'weaker':>7} {'mirrored':>8} {'swapped':>7}")
        for label, r in results.items():
            rm = mirrored[label]
            for task, m in r["tasks"].items():
                mm = rm["tasks"].get(task)
                if mm is None:
                    continue
                da = None if m["asymmetry_score"] is None or mm["asymmetry_score"] is None else abs(m["asymmetry_score"] - mm["asymmetry_score"])
                dc = None if m["cosine_score"] is None or mm["cosine_score"] is None else abs(m["cosine_score"] - mm["cosine_score"])
                swapped = None
                if m["weaker_side"] and mm["weaker_side"]:
                    swapped = m["weaker_side"] != mm["weaker_side"]
                mirror[f"{label}/{task}"] = {"asym": m["asymmetry_score"], "asym_mirrored": mm["asymmetry_score"],
                                             "asym_absdiff": da, "cos_absdiff": dc, "weaker": m["weaker_side"],
                                             "weaker_mirrored": mm["weaker_side"], "swapped": swapped,
                                             "activated": m["activated"], "activated_mirrored": mm["activated"]}
                print(f"{label:<13} {task:<19} {_f(da):>6} {_f(dc):>6} {m['weaker_side'] or '-':>7} {mm['weaker_side'] or '-':>8} {str(swapped):>7}")
        das = [v["asym_absdiff"] for v in mirror.values() if v["asym_absdiff"] is not None]
        dcs = [v["cos_absdiff"] for v in mirror.values() if v["cos_absdiff"] is not None]
        sw = [v["swapped"] for v in mirror.values() if v["swapped"] is not None]
        big = [v["swapped"] for v in mirror.values() if v["swapped"] is not None and v["asym"] is not None and v["asym"] > 0.1]
        print(f"\nmirror |d_asym|: median {np.median(das):.4f}, max {np.max(das):.4f}, share <= 0.03: {np.mean(np.array(das) <= 0.03):.2f} (n={len(das)})")
        print(f"mirror |d_cos|:  median {np.median(dcs):.4f}, max {np.max(dcs):.4f} (n={len(dcs)})")
        print(f"weaker side swapped: {sum(sw)}/{len(sw)}; where asym > 0.1: {sum(big)}/{len(big)}")
        print(f"activation agrees: {sum(v['activated'] == v['activated_mirrored'] for v in mirror.values())}/{len(mirror)}")

    print(f"\n{len(results)} sessions, {n_photos} photos, {elapsed:.1f} s wall (incl. mirrored re-detection: {not args.no_mirror}; shared 2-core machine, noisy)")
    date = dt.date.today().isoformat()
    dest = ROOT / "benchmarks" / "results" / f"healthy_asymmetry-{date}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({
        "date": date, "data": str(args.data), "sessions": {k: sorted(v) for k, v in sess.items()},
        "results": results, "normal_range": summary, "static_normal_range": static_summary,
        "repeated_session": repeat, "mirror": mirror, "elapsed_s": elapsed,
        "loadavg": os.getloadavg(),
    }, indent=2, default=str) + "\n")
    print(f"saved {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
