"""Does the landmark estimate treat the patient's two sides alike? N = 1 against TTA N = 16.

On real frontal photos (../shared/data/healthy-tasks, all task photos, EXIF-rotated),
for a few symmetric point pairs (outer and inner eye corners, outer brow ends, alar
bases, mouth corners) the signed left-right asymmetry is measured in the eye-line face
frame (:func:`palsyflow.landmarks.keyframes.normalise_shapes`: origin at the eye-centre
midpoint, x along the eye line, unit = inter-ocular distance; printed in % IOD):

* horizontal ``h = x_L + x_R - 2 c`` with ``c`` the mean x of the facial midline
  points (:data:`palsyflow.landmarks.schemes.mediapipe478.MIDLINE`): > 0 when the pair sits
  towards the image right of the midline;
* vertical ``v = y_L - y_R``: > 0 when the patient's left point is lower.

Each photo is also measured MIRRORED (``cv2.flip``). Mirroring swaps the sides, so an
estimator that treats both sides alike returns the negated asymmetry; the
**side bias** ``b = (A(image) + A(mirror)) / 2`` is what the estimator adds on its own
(zero for an exactly side-equivariant estimator). Its mean over photos shows a
systematic preference for one side, its mean magnitude the per-photo inconsistency.
TTA with flipped copies averages each face with its mirror image, so it should shrink
``b``; this script measures whether it does.

Usage::

    python benchmarks/tta_symmetry.py [--n 16] [--model PATH] [--no-save] 2>/dev/null

Saves ``benchmarks/results/tta_symmetry-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path

import cv2
import numpy as np

from _results import save_result  # benchmarks/_results.py (scripts run with benchmarks/ on sys.path)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
GLOBS = ("app_uploads/*/*", "mpeschel_session_A_original_assets/*", "mpeschel_session_B_test_resources/*")

#: (name, patient's right index, patient's left index), MediaPipe 478 scheme
PAIRS = (
    ("eye_outer", 33, 263),
    ("eye_inner", 133, 362),
    ("brow_outer", 70, 300),
    ("alar", 129, 358),
    ("mouth_corner", 61, 291),
)


def asymmetry(points: np.ndarray) -> np.ndarray:
    """Signed asymmetry of :data:`PAIRS`, % IOD.

    Parameters
    ----------
    points : ndarray, shape (478, >=2), pixels

    Returns
    -------
    ndarray, shape (len(PAIRS), 2): (horizontal h, vertical v) per pair, % IOD.
    """
    from palsyflow.landmarks.keyframes import normalise_shapes
    from palsyflow.landmarks.schemes.mediapipe478 import MIDLINE

    s = normalise_shapes(points[None])[0]
    c = s[list(MIDLINE), 0].mean()
    out = np.empty((len(PAIRS), 2))
    for k, (_, r, l) in enumerate(PAIRS):
        out[k, 0] = s[l, 0] + s[r, 0] - 2.0 * c
        out[k, 1] = s[l, 1] - s[r, 1]
    return 100.0 * out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="TTA copies to compare with N = 1")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "face_landmarker.task")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    from palsyflow.config import LandmarkParams
    from palsyflow.landmarks.media import read_photo
    from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker
    from palsyflow.landmarks.tta import run_tta

    root = DATA / "healthy-tasks"
    photos = sorted(p for g in GLOBS for p in root.glob(g) if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not photos:
        raise SystemExit(f"no photos under {root}")
    params = LandmarkParams(tta_copies=args.n)
    a1, an, b1, bn = [], [], [], []  # per photo: (pairs, 2)
    with MediaPipeLandmarker(args.model, "image", params) as lm:
        for path in photos:
            rgb = read_photo(path)
            mir = np.ascontiguousarray(cv2.flip(rgb, 1))
            one = [lm.detect(img).points for img in (rgb, mir)]
            tta = [run_tta(img, lm, params) for img in (rgb, mir)]
            if any(p is None for p in one) or not all(t.face_found for t in tta):
                print(f"skipped {path.name}: no face")
                continue
            A1, A1m = asymmetry(one[0]), asymmetry(one[1])
            An, Anm = asymmetry(tta[0].points), asymmetry(tta[1].points)
            a1.append(A1)
            an.append(An)
            b1.append((A1 + A1m) / 2.0)
            bn.append((An + Anm) / 2.0)
    a1, an, b1, bn = map(np.array, (a1, an, b1, bn))
    n = a1.shape[0]

    rows = []
    hdr = (
        f"{'pair':<13}{'dir':>4}{'mean A N=1':>12}{f'mean A N={args.n}':>13}"
        f"{'mean b N=1':>12}{f'mean b N={args.n}':>13}{'|b| N=1':>10}{f'|b| N={args.n}':>11}"
    )
    print(f"{n} photos; asymmetry A and side bias b = (A(image) + A(mirror))/2, % IOD")
    print(hdr)
    print("-" * len(hdr))
    for k, (name, _, _) in enumerate(PAIRS):
        for j, d in enumerate(("h", "v")):
            row = {
                "pair": name,
                "direction": d,
                "mean_asym_n1": float(a1[:, k, j].mean()),
                "mean_asym_tta": float(an[:, k, j].mean()),
                "mean_bias_n1": float(b1[:, k, j].mean()),
                "mean_bias_tta": float(bn[:, k, j].mean()),
                "mean_abs_bias_n1": float(np.abs(b1[:, k, j]).mean()),
                "mean_abs_bias_tta": float(np.abs(bn[:, k, j]).mean()),
            }
            rows.append(row)
            print(
                f"{name:<13}{d:>4}{row['mean_asym_n1']:>12.2f}{row['mean_asym_tta']:>13.2f}"
                f"{row['mean_bias_n1']:>12.2f}{row['mean_bias_tta']:>13.2f}"
                f"{row['mean_abs_bias_n1']:>10.2f}{row['mean_abs_bias_tta']:>11.2f}"
            )
    overall = {
        "mean_abs_bias_n1": float(np.abs(b1).mean()),
        "mean_abs_bias_tta": float(np.abs(bn).mean()),
        "mean_abs_asym_n1": float(np.abs(a1).mean()),
        "mean_abs_asym_tta": float(np.abs(an).mean()),
    }
    print("-" * len(hdr))
    print(
        f"all pairs: mean |b| N=1 {overall['mean_abs_bias_n1']:.2f} %IOD, N={args.n} "
        f"{overall['mean_abs_bias_tta']:.2f} %IOD; mean |A| N=1 {overall['mean_abs_asym_n1']:.2f}, "
        f"N={args.n} {overall['mean_abs_asym_tta']:.2f}"
    )
    result = {
        "date": dt.date.today().isoformat(),
        "photos": n,
        "data": "healthy-tasks (all task photos, EXIF-rotated)",
        "tta_copies": args.n,
        "tta_crop_side": params.tta_crop_side,
        "units": "% of inter-ocular distance (eye-corner midpoints)",
        "rows": rows,
        "overall": overall,
    }
    if not args.no_save:
        save_result("tta_symmetry", result, result["date"])
    return result


if __name__ == "__main__":
    main()
