"""Static asymmetry measures on real palsy vs healthy photos, against the image-size shortcut.

Data: ``../shared/data/palsy-web`` (``labels.csv``: ``file,label,origin``; 333
``palsy``, 243 ``healthy``; web-scraped, noisy labels, internal use only).

**Source bias.** Every ``healthy`` photo is an aligned 178x218 CelebA crop; the
``palsy`` photos come from elsewhere in all sizes and framings. Image size or framing
alone therefore separates the classes, and so can anything that depends on
resolution, framing or the photo source (landmark precision, head pose, expression,
ethnicity, age, make-up ...). An AUC here is an upper bound on what a measure could do,
NOT evidence that it detects palsy. This script prints the image-size AUCs beside every
measure's AUC, and a "framing-matched" control in which every photo is re-cropped
and resized to CelebA-like framing (178x218, same inter-ocular distance) before
landmarking, which removes the resolution/framing part of the bias (not the
population/source part).

Per photo
    * iBUG-68 points with dlib: HOG frontal face detector (``upsample`` 1, 2 for
      photos under 300 px, the largest face) + the 68-point shape predictor of
      ``face_recognition_models``. When dlib finds no face, MediaPipe FaceLandmarker
      (IMAGE mode) gives a face box (bounding box of its 478 points, enlarged 10 %)
      for dlib's shape predictor; the counts of each path are printed.
    * MediaPipe 478 points (IMAGE mode, :class:`palsyflow.landmarks.backends.mediapipe.
      MediaPipeLandmarker`) for the regional static measures of
      :func:`palsyflow.features.regional.recording_measures` (``*_asym``).
    * Parra-Dominguez f0-f28 (:func:`palsyflow.features.parra.parra_features`), plus
      the derived ``parra_f23_dev = |f23 - 90|`` (f23 itself is side-sensitive).

Per measure: median and IQR by label, ROC AUC (``sklearn.metrics.roc_auc_score``,
palsy = positive), oriented so that AUC >= 0.5 with the direction stated
(``palsy>`` = larger in palsy photos). Then 5x5-fold stratified cross-validated
logistic regression (standardised) on the Parra features, on the regional measures,
and on image size alone (log area, aspect ratio, "is exactly 178x218"), all on the same photos.

Landmarks are cached in ``/tmp/palsyflow-palsy-web-cache-v1.npz`` (never in the repo).

Usage::

    python benchmarks/palsy_web_auc.py [--data DIR] [--model PATH] [--no-save] 2>/dev/null

Saves ``benchmarks/results/palsy_web_auc-<date>.json``. Timings are not the point
here; the machine is shared (2 CPUs), so the run time printed is noisy.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

from _results import save_result  # benchmarks/_results.py (scripts run with benchmarks/ on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CACHE = Path("/tmp/palsyflow-palsy-web-cache-v1.npz")
CELEBA_W, CELEBA_H = 178, 218
REGIONAL = ("rest_brow_height_asym", "rest_palpebral_fissure_height_asym", "rest_nasolabial_height_asym", "rest_commissure_height_asym", "rest_commissure_midline_distance_asym")


# --------------------------------------------------------------------------- images
def read_rgb(path: Path) -> np.ndarray | None:
    """Decoded RGB uint8 with EXIF orientation applied (cv2 does this by default)."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        try:
            from PIL import Image, ImageOps

            with Image.open(path) as im:
                return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        except Exception:
            return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class Landmarkers:
    """dlib detector + 68-pt predictor, and a MediaPipe IMAGE-mode landmarker."""

    def __init__(self, model: Path):
        import dlib
        import face_recognition_models

        from palsyflow.config import LandmarkParams
        from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker

        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
        self.mp = MediaPipeLandmarker(model, "image", LandmarkParams())
        self.mp.__enter__()

    def close(self) -> None:
        self.mp.__exit__(None, None, None)

    def mediapipe(self, rgb: np.ndarray) -> np.ndarray | None:
        det = self.mp.detect(np.ascontiguousarray(rgb))
        return det.points

    def dlib68(self, rgb: np.ndarray, mp_points: np.ndarray | None) -> tuple[np.ndarray | None, str]:
        """(68, 2) pixels and the path used: ``dlib``, ``mp_box`` or ``none``."""
        gray = np.ascontiguousarray(rgb.mean(axis=2).astype(np.uint8))
        up = 2 if max(gray.shape) < 300 else 1
        rects = self.detector(gray, up)
        if len(rects) > 0:
            rect = max(rects, key=lambda r: r.width() * r.height())
            path = "dlib"
        elif mp_points is not None:
            lo, hi = mp_points[:, :2].min(axis=0), mp_points[:, :2].max(axis=0)
            c, half = (lo + hi) / 2, (hi - lo) * 0.55
            rect = self.dlib.rectangle(
                int(round(c[0] - half[0])), int(round(c[1] - half[1])), int(round(c[0] + half[0])), int(round(c[1] + half[1]))
            )
            path = "mp_box"
        else:
            return None, "none"
        shape = self.predictor(np.ascontiguousarray(rgb), rect)
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64)
        return pts, path


def _store_landmarks(out: dict, prefix: str, i: int, lm, rgb) -> None:
    """MediaPipe 478 and dlib 68 points of one photo into ``out[prefix + ...][i]``."""
    mp = lm.mediapipe(rgb)
    if mp is not None:
        out[f"{prefix}mp478"][i] = mp
    pts, path = lm.dlib68(rgb, mp)
    out["dlib_path" if not prefix else f"{prefix}path"][i] = path
    if pts is not None:
        out[f"{prefix}dlib68"][i] = pts


def celeba_like_crop(rgb: np.ndarray, pts68: np.ndarray, iod_target: float, eye_y: float) -> np.ndarray:
    """Crop + resize to 178x218 with the eye midpoint at CelebA's position and the
    inter-ocular distance (eye-centre to eye-centre, iBUG 36-41 / 42-47) = ``iod_target``
    px. Rotation is not changed (CelebA crops are eye-aligned; the features level the
    face themselves)."""
    import cv2

    er, el = pts68[36:42].mean(axis=0), pts68[42:48].mean(axis=0)
    iod = float(np.linalg.norm(el - er))
    s = iod_target / max(iod, 1e-6)
    mid = (er + el) / 2
    m = np.array([[s, 0.0, CELEBA_W / 2 - s * mid[0]], [0.0, s, eye_y - s * mid[1]]])
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(rgb, m, (CELEBA_W, CELEBA_H), flags=interp, borderMode=cv2.BORDER_REPLICATE)


# --------------------------------------------------------------------------- extraction
def extract(data: Path, model: Path, files: list[str]) -> dict[str, np.ndarray]:
    if CACHE.is_file():
        z = np.load(CACHE, allow_pickle=False)
        if list(z["files"]) == files:
            print(f"landmarks from cache {CACHE}")
            return {k: z[k] for k in z.files}
    n = len(files)
    out = {
        "files": np.array(files),
        "width": np.zeros(n),
        "height": np.zeros(n),
        "dlib68": np.full((n, 68, 2), np.nan),
        "dlib_path": np.array(["none"] * n, dtype="<U8"),
        "mp478": np.full((n, 478, 3), np.nan),
        "crop_dlib68": np.full((n, 68, 2), np.nan),
        "crop_path": np.array(["none"] * n, dtype="<U8"),
        "crop_mp478": np.full((n, 478, 3), np.nan),
    }
    lm = Landmarkers(model)
    t0 = time.perf_counter()
    try:
        for i, f in enumerate(files):
            rgb = read_rgb(data / f)
            if rgb is None:
                continue
            out["height"][i], out["width"][i] = rgb.shape[:2]
            _store_landmarks(out, "", i, lm, rgb)
            if (i + 1) % 100 == 0:
                print(f"  {i + 1}/{n} photos, {time.perf_counter() - t0:.0f} s", flush=True)
        # framing-matched control: CelebA-like geometry from the healthy photos' medians
        healthy = np.array([f.startswith("healthy") for f in files])
        ok = np.isfinite(out["dlib68"]).all(axis=(1, 2))
        er, el = out["dlib68"][:, 36:42].mean(axis=1), out["dlib68"][:, 42:48].mean(axis=1)
        iod_t = float(np.median(np.linalg.norm(el - er, axis=1)[healthy & ok]))
        eye_y = float(np.median(((er + el) / 2)[healthy & ok, 1]))
        out["celeba_iod_eye_y"] = np.array([iod_t, eye_y])
        for i, f in enumerate(files):
            if not ok[i]:
                continue
            rgb = read_rgb(data / f)
            if rgb is None:
                continue
            crop = rgb if healthy[i] else celeba_like_crop(rgb, out["dlib68"][i], iod_t, eye_y)
            _store_landmarks(out, "crop_", i, lm, crop)
    finally:
        lm.close()
    print(f"landmarked {n} photos (+ framing-matched crops) in {time.perf_counter() - t0:.0f} s")
    np.savez_compressed(CACHE, **out)
    return out


# --------------------------------------------------------------------------- statistics
def describe(x: np.ndarray, y: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(x)
    x, y = x[ok], y[ok]
    res: dict = {"n_palsy": int(y.sum()), "n_healthy": int((~y).sum())}
    for name, sel in (("palsy", y), ("healthy", ~y)):
        q = np.percentile(x[sel], [25, 50, 75]) if sel.any() else [np.nan] * 3
        res[f"{name}_median"] = float(q[1])
        res[f"{name}_iqr"] = [float(q[0]), float(q[2])]
    if y.all() or (~y).all():
        res["auc"], res["direction"] = None, None
        return res
    auc = float(roc_auc_score(y, x))
    res["auc"] = max(auc, 1 - auc)
    res["direction"] = "palsy>" if auc >= 0.5 else "palsy<"
    return res


def cv_logreg(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=seed)
    s = cross_val_score(model, x, y, cv=cv, scoring="roc_auc")
    return {"auc_mean": float(s.mean()), "auc_sd": float(s.std()), "n": int(len(y)), "n_features": int(x.shape[1])}


def measures(pts68: np.ndarray, mp478: np.ndarray) -> dict[str, np.ndarray]:
    from palsyflow.features.parra import parra_features_batch
    from palsyflow.features.regional import recording_measures

    m = parra_features_batch(pts68)
    m["parra_f23_dev"] = np.abs(m["parra_f23"] - 90.0)
    n = pts68.shape[0]
    reg = {k: np.full(n, np.nan) for k in REGIONAL}
    for i in range(n):
        if np.isfinite(mp478[i]).all():
            r = recording_measures(mp478[i][None])
            for k in REGIONAL:
                v = r.get(k)
                reg[k][i] = np.nan if v is None else float(v)
    m.update(reg)
    return m


def table(rows: dict[str, dict], title: str) -> None:
    print(f"\n{title}")
    print(f"{'measure':<22}{'n(P/H)':>10}{'palsy median [IQR]':>30}{'healthy median [IQR]':>30}{'AUC':>7}  dir")
    for k, r in rows.items():
        if r.get("auc") is None:
            print(f"{k:<22}{r['n_palsy']:>5}/{r['n_healthy']:<4}   (one class only)")
            continue
        p = f"{r['palsy_median']:.4g} [{r['palsy_iqr'][0]:.4g}, {r['palsy_iqr'][1]:.4g}]"
        h = f"{r['healthy_median']:.4g} [{r['healthy_iqr'][0]:.4g}, {r['healthy_iqr'][1]:.4g}]"
        print(f"{k:<22}{r['n_palsy']:>5}/{r['n_healthy']:<4}{p:>30}{h:>30}{r['auc']:>7.3f}  {r['direction']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "palsy-web")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "face_landmarker.task")
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args(argv)
    if not (a.data / "labels.csv").is_file():
        print(f"palsy-web data not found at {a.data} (see ../shared/data/README.md); nothing to do")
        return 0
    t0 = time.perf_counter()
    with open(a.data / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    files = [r["file"] for r in rows]
    y_all = np.array([r["label"] == "palsy" for r in rows])
    lm = extract(a.data, a.model, files)

    w, h = lm["width"], lm["height"]
    read_ok = w > 0
    paths = lm["dlib_path"]
    counts = {
        "photos": len(files),
        "unreadable": int((~read_ok).sum()),
        "dlib_detector": int((paths == "dlib").sum()),
        "mediapipe_box_for_dlib": int((paths == "mp_box").sum()),
        "no_face": int((read_ok & (paths == "none")).sum()),
        "mediapipe_478": int(np.isfinite(lm["mp478"]).all(axis=(1, 2)).sum()),
        "no_face_palsy": int((read_ok & (paths == "none") & y_all).sum()),
        "no_face_healthy": int((read_ok & (paths == "none") & ~y_all).sum()),
    }
    print("\nSOURCE BIAS: every healthy photo is a 178x218 aligned CelebA crop; palsy photos are web images")
    print("of all sizes. Image size alone separates the classes, and so may anything tied to resolution,")
    print("framing or source. Read every AUC below against the image-size AUCs; none of this is evidence")
    print("that a measure detects palsy. Framing/pose differences (CelebA crops are often turned heads,")
    print("clinical palsy photos frontal) also reach the geometry: compare the framing-matched control.")
    print(f"\nphotos: {counts}")
    sizes = {f"{int(a_)}x{int(b_)}": int(c) for (a_, b_), c in zip(*np.unique(np.c_[w, h][~y_all], axis=0, return_counts=True))}
    print(f"healthy image sizes: {sizes}")

    size_meas = {
        "image_area_px": w * h,
        "image_aspect_h_over_w": np.where(w > 0, h / np.where(w > 0, w, 1), np.nan),
        "is_178x218": ((w == CELEBA_W) & (h == CELEBA_H)).astype(float),
    }
    er, el = lm["dlib68"][:, 36:42].mean(axis=1), lm["dlib68"][:, 42:48].mean(axis=1)
    size_meas["iod_over_width"] = np.linalg.norm(el - er, axis=1) / np.where(w > 0, w, np.nan)
    # head-yaw proxy (not image size, a pose shortcut): nose tip offset from the jaw-end midpoint
    d68 = lm["dlib68"]
    jaw_w = np.linalg.norm(d68[:, 16] - d68[:, 0], axis=1)
    size_meas["yaw_proxy"] = np.abs(d68[:, 30, 0] - (d68[:, 0, 0] + d68[:, 16, 0]) / 2) / jaw_w
    size_rows = {k: describe(np.where(read_ok, v, np.nan), y_all) for k, v in size_meas.items()}
    table(size_rows, "Shortcut baselines (all readable photos; iod_over_width = framing and yaw_proxy = |x30 - mid(x0, x16)| / jaw width = head turn, dlib faces only)")

    def size_line(ok: np.ndarray) -> str:
        parts = []
        for k in ("image_area_px", "image_aspect_h_over_w", "is_178x218"):
            r = describe(np.where(ok & read_ok, size_meas[k], np.nan), y_all)
            parts.append(f"{k} AUC {r['auc']:.3f}")
        return "  image size alone on the same photos: " + ", ".join(parts)

    m = measures(lm["dlib68"], lm["mp478"])
    m_rows = {k: describe(v, y_all) for k, v in m.items()}
    table(m_rows, "Static measures on the original photos (Parra: dlib 68; *_asym: MediaPipe 478, regional)")
    print(size_line(np.isfinite(m["parra_f00"])) + "  [Parra rows]")
    print(size_line(np.isfinite(m["rest_commissure_height_asym"])) + "  [*_asym rows]")

    mc = measures(lm["crop_dlib68"], lm["crop_mp478"])
    mc_rows = {k: describe(v, y_all) for k, v in mc.items()}
    table(
        mc_rows,
        "Framing-matched control: palsy photos re-cropped to CelebA framing (178x218, same IOD) before landmarking",
    )
    print(size_line(np.isfinite(mc["parra_f00"])) + "  [original image sizes; after re-cropping all are 178x218]")

    from palsyflow.features.parra import FEATURE_NAMES

    size_x = np.column_stack(
        [np.log(np.where(read_ok, w * h, 1.0)), size_meas["image_aspect_h_over_w"], size_meas["is_178x218"]]
    )
    parra_ok = np.isfinite(np.column_stack([m[k] for k in FEATURE_NAMES])).all(axis=1) & read_ok
    reg_ok = np.isfinite(np.column_stack([m[k] for k in REGIONAL])).all(axis=1) & read_ok
    crop_ok = np.isfinite(np.column_stack([mc[k] for k in FEATURE_NAMES])).all(axis=1) & read_ok
    lr = {
        "parra_f00_f28": cv_logreg(np.column_stack([m[k] for k in FEATURE_NAMES])[parra_ok], y_all[parra_ok]),
        "image_size_same_photos_as_parra": cv_logreg(size_x[parra_ok], y_all[parra_ok]),
        "regional_asym": cv_logreg(np.column_stack([m[k] for k in REGIONAL])[reg_ok], y_all[reg_ok]),
        "image_size_same_photos_as_regional": cv_logreg(size_x[reg_ok], y_all[reg_ok]),
        "parra_framing_matched": cv_logreg(np.column_stack([mc[k] for k in FEATURE_NAMES])[crop_ok], y_all[crop_ok]),
        "image_size_same_photos_as_framing_matched": cv_logreg(size_x[crop_ok], y_all[crop_ok]),
    }
    print("\nCross-validated logistic regression (5x5 stratified folds, standardised; ROC AUC mean ± sd)")
    for k, r in lr.items():
        print(f"  {k:<44} AUC {r['auc_mean']:.3f} ± {r['auc_sd']:.3f}  (n={r['n']}, {r['n_features']} features)")
    elapsed = time.perf_counter() - t0
    print(f"\nrun time {elapsed:.0f} s (shared 2-CPU machine: noisy)")

    result = {
        "benchmark": "palsy_web_auc",
        "date": dt.date.today().isoformat(),
        "data": str(a.data),
        "source_bias": "every healthy photo is a 178x218 aligned CelebA crop; image size alone separates the classes",
        "landmarks": "dlib HOG detector + face_recognition_models 68-pt predictor (MediaPipe box fallback); MediaPipe 478 IMAGE mode",
        "counts": counts,
        "healthy_image_sizes": sizes,
        "celeba_iod_eye_y_px": [float(v) for v in lm.get("celeba_iod_eye_y", [np.nan, np.nan])],
        "framing_matched_no_face": int((parra_ok & ~crop_ok).sum()),
        "shortcut_baselines": size_rows,
        "measures": m_rows,
        "measures_framing_matched": mc_rows,
        "logistic_regression_cv": lr,
        "run_time_s": round(elapsed, 1),
    }
    if not a.no_save:
        save_result("palsy_web_auc", result, result["date"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
