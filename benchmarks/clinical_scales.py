"""Clinical-scale automated estimates on healthy volunteers and on palsy phantoms.

1. Every healthy-tasks session (``../shared/data/healthy-tasks``: the two ``app_uploads``
   subjects' ``<task>-0`` photos and the mpeschel sessions A and B, the same sets as
   ``benchmarks/phantom_response.py``) is measured as ``palsyflow measure`` does
   (:func:`palsyflow.features.session.measure_results` on default landmark settings): eFACE
   static/dynamic/synkinesis/total, the Sunnybrook composite and the House-Brackmann
   estimate. Expected: House-Brackmann I or II for all.
2. Phantom series: for each session and each side, every task photo is weakened by
   w = 0, 0.2, ..., 1 (:func:`palsyflow.phantom.warp.warp_frame`, the code
   ``simulate_weakness`` runs on a photo; the rest photo is kept), written as lossless PNG,
   detected again and the session measured. To keep the run short, photos whose long side
   exceeds ``--max-side`` pixels (the mpeschel phone JPEGs, 2448x3264) are first reduced
   to it (area interpolation) and the series, its w = 0 included, is measured on those. Spearman's rho of eFACE total, Sunnybrook
   composite and House-Brackmann grade against w, per series and pooled (expected:
   eFACE and Sunnybrook fall, HB rises).

Saves ``benchmarks/results/clinical_scales-<date>.json``.

Usage::

    python benchmarks/clinical_scales.py [--sessions N] [--no-save]

Timings are wall clock on a shared 2-core machine (noisy).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _results import save_result  # benchmarks/_results.py (scripts run with benchmarks/ on sys.path)
from phantom_response import photo_sets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SHARED = Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL = ROOT / "models" / "face_landmarker.task"


def scales_of(doc: dict) -> dict:
    """The scale figures of one ``measure`` JSON."""
    e, sb, hb = doc["eface"], doc["sunnybrook"], doc["house_brackmann"]
    return {
        "eface_static": e["static"], "eface_dynamic": e["dynamic"], "eface_synkinesis": e["synkinesis"],
        "eface_total": e["total"], "sunnybrook_resting": sb["resting"], "sunnybrook_voluntary": sb["voluntary"],
        "sunnybrook_synkinesis": sb["synkinesis"], "sunnybrook_composite": sb["composite"],
        "hb_grade": hb["grade"], "hb_grade_number": hb["grade_number"],
        "eface_missing": e["missing"], "sunnybrook_missing": sb["missing"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=None, help="phantom series on the first N sessions only")
    ap.add_argument("--max-side", type=int, default=1024, help="phantom series: photos reduced to this long side, px")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()

    import cv2
    from scipy.stats import spearmanr

    from palsyflow.config import LandmarkParams
    from palsyflow.conventions import SIDES
    from palsyflow.features.session import measure_results
    from palsyflow.landmarks import extract_landmarks
    from palsyflow.phantom.response import FRACTIONS
    from palsyflow.landmarks.media import read_photo
    from palsyflow.phantom.simulate import detect_photo
    from palsyflow.phantom.warp import warp_frame

    lp = LandmarkParams()
    t0 = time.perf_counter()
    sets = photo_sets(SHARED)
    healthy: dict[str, dict] = {}
    for subj, rest, tasks in sets:
        res = {"rest": extract_landmarks(rest, "photo", lp, MODEL)}
        res.update({t: extract_landmarks(p, "photo", lp, MODEL) for t, p in tasks.items()})
        healthy[subj] = scales_of(measure_results(res))
        h = healthy[subj]
        print(f"{subj:12s} eFACE total {h['eface_total']:.1f} (static {h['eface_static']:.1f}, dynamic "
              f"{h['eface_dynamic']:.1f}, synkinesis {h['eface_synkinesis']}) Sunnybrook {h['sunnybrook_composite']} "
              f"HB {h['hb_grade']}")
    t_healthy = time.perf_counter() - t0

    series: list[dict] = []
    lp1 = lp.model_copy(update={"tta_copies": 1})
    with tempfile.TemporaryDirectory() as tmp:
        def reduced(path: Path) -> Path:
            rgb = read_photo(path)
            scale = args.max_side / max(rgb.shape[:2])
            if scale >= 1:
                return path
            small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            out = Path(tmp) / f"small-{path.parent.name}-{path.stem}.png"
            cv2.imwrite(str(out), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
            return out

        for subj, rest, tasks in sets[: args.sessions]:
            rest = reduced(rest)
            rgb0, pts0 = detect_photo(rest, MODEL, lp1)
            rest_result = extract_landmarks(rest, "photo", lp, MODEL)
            src = {t: detect_photo(reduced(p), MODEL, lp1) for t, p in tasks.items()}
            for side in SIDES:
                rows = []
                for w in FRACTIONS:
                    res = {"rest": rest_result}
                    for t, (rgb, pts) in src.items():
                        img = warp_frame(rgb, pts, pts0, side, float(w), neutral_image=rgb0).image
                        out = Path(tmp) / f"{subj}-{side}-{w:.1f}-{t}.png"
                        cv2.imwrite(str(out), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                        res[t] = extract_landmarks(out, "photo", lp, MODEL)
                    rows.append({"w": float(w), **scales_of(measure_results(res))})
                rho = {}
                for k in ("eface_total", "sunnybrook_composite", "hb_grade_number"):
                    pairs = [(r["w"], r[k]) for r in rows if r[k] is not None]
                    rho[k] = float(spearmanr(*zip(*pairs)).statistic) if len(pairs) > 2 else None
                series.append({"session": subj, "side": side, "rows": rows, "spearman": rho})
                print(f"{subj:12s} {side:5s} eFACE " + " ".join(f"{r['eface_total']:.0f}" for r in rows)
                      + " | SB " + " ".join(f"{r['sunnybrook_composite']:.0f}" for r in rows)
                      + " | HB " + " ".join(str(r["hb_grade"]) for r in rows)
                      + f" | rho {rho['eface_total']:.2f} {rho['sunnybrook_composite']:.2f} {rho['hb_grade_number']:.2f}")
    pooled = {}
    for k in ("eface_total", "sunnybrook_composite", "hb_grade_number"):
        pairs = [(r["w"], r[k]) for s in series for r in s["rows"] if r[k] is not None]
        pooled[k] = float(spearmanr(*zip(*pairs)).statistic)
    wall = time.perf_counter() - t0
    hb_ok = all(h["hb_grade"] in ("I", "II") for h in healthy.values())
    print(f"healthy HB I-II for all: {hb_ok}; pooled Spearman vs w: {pooled}; wall {wall:.0f} s")
    result = {
        "max_side_px": args.max_side,
        "healthy": healthy, "healthy_hb_I_or_II": hb_ok,
        "phantom": {"fractions": list(FRACTIONS), "series": series, "pooled_spearman": pooled,
                    "series_falling": {k: sum(1 for s in series if s["spearman"][k] is not None
                                              and (s["spearman"][k] > 0 if k == "hb_grade_number" else s["spearman"][k] < 0))
                                       for k in pooled},
                    "n_series": len(series)},
        "seconds": {"healthy": t_healthy, "total": wall},
    }
    if not args.no_save:
        save_result("clinical_scales", result)


if __name__ == "__main__":
    main()
