"""Healthy-vs-palsy detector against the image-size / framing shortcut, before and after re-framing.

Data (never copied into the repo): ``../shared/data/palsy-web`` (labels.csv: 333 palsy,
243 healthy; every healthy photo an aligned 178x218 CelebA crop) plus healthy faces
from other sources so that "healthy" is not one source: the at-rest photos of
``healthy-tasks`` (group = subject / session), three frames (0, 1, 2 s) of each GRID
video in ``talking-faces/grid`` (group = video) and the single-face photos of
``misc-faces`` (group = photo).

Per photo (:func:`palsyflow.features.detector_data.extract_images`): MediaPipe landmarks
on the photo as given, :func:`palsyflow.features.photo.reframe` (same face box,
native resolution, size and JPEG encoding for all), MediaPipe again on the re-framed
photo; :data:`~palsyflow.features.photo.DETECTOR_FEATURES` and the shortcut
:data:`~palsyflow.features.photo.FRAMING_FEATURES` on both.

Evaluation (:func:`palsyflow.models.detector.evaluate`): groups = dHash near-duplicates
joined with the known groups; stratified group 5-fold out-of-fold probabilities of a
standardised L2 logistic regression; ROC AUC, sensitivity at 90 % specificity, Brier
score and ECE with 95 % group-bootstrap intervals, for the detector features and for the
shortcut features, before and after re-framing, on palsy-web alone and with the extra
healthy sources. Also: the share of extra-source healthy faces called palsy at the
90 %-specificity threshold of the out-of-fold scores, and the SHAP summary of the
detector fitted on everything.

Features are cached in ``/tmp/palsyflow-palsy-detector-cache-v1.npz`` (never in the repo).

Usage::

    python benchmarks/palsy_detector.py [--data DIR] [--model PATH] [--no-save] 2>/dev/null
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

from _results import save_result  # benchmarks/_results.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CACHE = Path("/tmp/palsyflow-palsy-detector-cache-v1.npz")


def extra_healthy(shared: Path) -> list[tuple[str, str, str]]:
    """(path-or-video#seconds, source, group) of the healthy faces from other sources."""
    out = []
    ht = shared / "healthy-tasks"
    for p in sorted(ht.glob("app_uploads/*/at-rest-*")):
        out.append((str(p), "healthy-tasks", f"ht-{p.parent.name}"))
    for p in sorted(ht.glob("mpeschel_*/*at*rest*")):
        out.append((str(p), "healthy-tasks", "ht-mpeschel"))
    for p in sorted((shared / "talking-faces" / "grid").glob("*.mpg")):
        for s in (0.0, 1.0, 2.0):
            out.append((f"{p}#{s}", "grid", f"grid-{p.stem}"))
    for p in sorted((shared / "misc-faces").glob("*.jpg")):
        if p.name != "multi_face.jpg":
            out.append((str(p), "misc-faces", f"misc-{p.stem}"))
    return out


def video_frame(spec: str) -> np.ndarray | None:
    import cv2

    path, sec = spec.rsplit("#", 1)
    cap = cv2.VideoCapture(path)
    try:
        cap.set(cv2.CAP_PROP_POS_MSEC, float(sec) * 1000)
        ok, bgr = cap.read()
    finally:
        cap.release()
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None


def images(names: list[str]):
    from palsyflow.landmarks.media import LandmarkError, read_photo

    for n in names:
        if "#" in n and n.rsplit("#", 1)[0].endswith(".mpg"):
            yield n, video_frame(n)
            continue
        try:
            yield n, read_photo(Path(n))
        except LandmarkError:
            yield n, None


def extract(names: list[str], model: Path, params) -> dict[str, np.ndarray]:
    from palsyflow.features.detector_data import extract_images

    if CACHE.is_file():
        z = np.load(CACHE, allow_pickle=False)
        if list(z["names"]) == names and str(z["params"]) == params.digest():
            print(f"features from cache {CACHE}")
            return {k: z[k] for k in z.files}
    t0 = time.perf_counter()
    tab = extract_images(images(names), model, params)
    print(f"landmarked {len(names)} images twice in {time.perf_counter() - t0:.0f} s; {len(tab.problems)} unusable")
    out = {
        "names": np.array(names),
        "params": np.array(params.digest()),
        "features": tab.features,
        "features_before": tab.features_before,
        "framing_before": tab.framing_before,
        "framing_after": tab.framing_after,
        "hashes": np.array([str(h) for h in tab.hashes]),
        "face": tab.face,
    }
    np.savez_compressed(CACHE, **out)
    return out


def fmt(r: dict) -> str:
    return (
        f"AUC {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}]  "
        f"sens@{r['specificity']:.0%}spec {r['sensitivity_at_spec']:.3f} [{r['sensitivity_at_spec_ci'][0]:.3f}, {r['sensitivity_at_spec_ci'][1]:.3f}]  "
        f"Brier {r['brier']:.3f} [{r['brier_ci'][0]:.3f}, {r['brier_ci'][1]:.3f}]  "
        f"ECE {r['ece']:.3f} [{r['ece_ci'][0]:.3f}, {r['ece_ci'][1]:.3f}]  n={r['n']} ({r['n_palsy']}/{r['n_healthy']}), {r['n_groups']} groups"
    )


def main(argv: list[str] | None = None) -> int:
    from palsyflow.config import DetectorParams, load_params
    from palsyflow.features.photo import DETECTOR_FEATURES
    from palsyflow.models.detector import evaluate, fit_detector, hash_groups, sensitivity_at_specificity
    from palsyflow.features.detector_data import read_labels

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "face_landmarker.task")
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args(argv)
    labels = a.data / "palsy-web" / "labels.csv"
    if not labels.is_file():
        print(f"palsy-web data not found at {labels} (see ../shared/data/README.md); nothing to do")
        return 0
    params = load_params(ROOT / "params.yaml").detector if (ROOT / "params.yaml").is_file() else DetectorParams()
    t0 = time.perf_counter()
    rows = read_labels(labels)
    extra = extra_healthy(a.data)
    names = [str(r.path) for r in rows] + [e[0] for e in extra]
    palsy = np.array([r.palsy for r in rows] + [False] * len(extra))
    source = np.array(["palsy-web"] * len(rows) + [e[1] for e in extra])
    known = [None] * len(rows) + [e[2] for e in extra]
    z = extract(names, a.model, params)
    face = z["face"]
    groups = hash_groups([int(h) for h in z["hashes"]], params.hash_max_distance, known)
    counts = {
        "images": len(names),
        "palsy": int(palsy.sum()),
        "healthy": int((~palsy).sum()),
        "healthy_by_source": {s: int(((source == s) & ~palsy).sum()) for s in np.unique(source)},
        "face_found_both_passes": int(face.sum()),
        "no_face_palsy": int((~face & palsy).sum()),
        "no_face_healthy": int((~face & ~palsy).sum()),
        "groups": int(len(np.unique(groups[face]))),
        "groups_with_more_than_one_photo": int(sum(np.bincount(groups[face]) > 1)),
    }
    print("SOURCE BIAS: palsy-web's healthy photos are all 178x218 CelebA crops. Read each detector AUC against")
    print("the shortcut AUC of the same photos; only the re-framed rows, where the shortcut is near 0.5, say")
    print("anything about geometry, and even they keep the population/pose/expression differences of the sources.")
    print(f"\n{counts}")

    sets = {
        "palsy_web": face & (source == "palsy-web"),
        "palsy_web_plus_other_healthy": face.copy(),
    }
    results: dict = {}
    for set_name, sel in sets.items():
        y, g = palsy[sel], groups[sel]
        print(f"\n== {set_name}")
        for label, X in (
            ("shortcut_before_reframing", z["framing_before"]),
            ("shortcut_after_reframing", z["framing_after"]),
            ("detector_before_reframing", z["features_before"]),
            ("detector_after_reframing", z["features"]),
        ):
            r = evaluate(X[sel], y, g, params)
            oof = np.array(r.pop("oof"))
            if set_name == "palsy_web_plus_other_healthy" and label == "detector_after_reframing":
                other = source[sel] != "palsy-web"
                thr = np.quantile(oof[~y], params.specificity)
                r["other_sources_called_palsy"] = {
                    s: float((oof[(source[sel] == s)] > thr).mean()) for s in np.unique(source[sel][other])
                }
                r["celeba_called_palsy"] = float((oof[(source[sel] == "palsy-web") & ~y] > thr).mean())
                r["check_sensitivity_at_spec"] = sensitivity_at_specificity(y, oof, params.specificity)
            results.setdefault(set_name, {})[label] = r
            print(f"  {label:<28} {fmt(r)}")
        if "other_sources_called_palsy" in results[set_name].get("detector_after_reframing", {}):
            r = results[set_name]["detector_after_reframing"]
            print(f"  healthy called palsy at the 90 %-specificity threshold: CelebA {r['celeba_called_palsy']:.2f}, other sources {r['other_sources_called_palsy']}")

    sel = sets["palsy_web_plus_other_healthy"]
    model = fit_detector(z["features"][sel], palsy[sel], groups[sel], params, DETECTOR_FEATURES)
    top = dict(list(model.shap_summary.items())[:10])
    coef = dict(zip(model.feature_names, model.estimator[-1].coef_[0].tolist()))
    print("\nSHAP summary of the detector fitted on all re-framed photos (mean |SHAP|, log-odds; sign = coefficient)")
    for k, v in top.items():
        print(f"  {k:<44} {v:.3f}  {'palsy>' if coef[k] > 0 else 'palsy<'}")
    elapsed = time.perf_counter() - t0
    print(f"\nrun time {elapsed:.0f} s (shared 2-CPU machine: noisy)")
    result = {
        "benchmark": "palsy_detector",
        "date": dt.date.today().isoformat(),
        "data": str(a.data),
        "params": params.model_dump(),
        "counts": counts,
        "results": results,
        "shap_top10_mean_abs_logodds": top,
        "shap_direction": {k: ("palsy>" if coef[k] > 0 else "palsy<") for k in top},
        "run_time_s": round(elapsed, 1),
    }
    if not a.no_save:
        save_result("palsy_detector", result, result["date"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
