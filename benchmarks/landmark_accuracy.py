"""Landmark accuracy against hand annotations: NME on ../shared/data/faces-68pt.

faces-68pt holds 43 faces in 9 photos (training split: 18 faces in 4 photos; testing:
25 faces in 5 photos) annotated in the iBUG 68-point scheme with dlib's own tool
(imglab). The faces are small (37-109 px boxes), so each face is cropped around its
ANNOTATED BOX (centre of the box, side = ``--margin`` x the box side) and upscaled to
``--crop`` px before detection. The annotated landmarks are used only for scoring
(and, with ``--learn``, on the training split only, to learn the MediaPipe->iBUG
offsets and the dlib fallback box relation).

Backends and rows:

- ``mediapipe``: 478 points mapped to iBUG 68 (:data:`palsyflow.landmarks.schemes.ibug68.MP_TO_IBUG68`)
  without (``mediapipe-raw``) and with (``mediapipe-corr``) the learned offset
  correction; TTA by :func:`palsyflow.landmarks.tta.run_tta`.
- ``dlib``: HOG + 68-point predictor (:class:`palsyflow.landmarks.backends.dlib.DlibLandmarker`);
  TTA by the same :func:`palsyflow.landmarks.tta.run_tta` (whole downscaled frame layout).

For N = 1, 4, 8, 16, 32 TTA copies: NME in % of the annotated outer-canthal distance
(iBUG 36-45), mean over faces, all 68 points and the 51 inner points (17-67), per
split (the headline is the testing split), and time per face (noisy: 2 shared cores).
A face not found counts as a miss and is left out of the NME (the miss count is printed).

Flip symmetry: with TTA (including mirrored copies) on, each testing face crop is
also mirrored, detected, and un-mirrored (x mirrored, left/right indices swapped);
the mean point distance to the detection on the unmirrored crop, in % of the
inter-ocular distance (eye-corner midpoints, annotated), is reported for N = 1 and 16.

Usage::

    python benchmarks/landmark_accuracy.py [--learn] [--n 1 4 8 16 32] 2>/dev/null

``--learn`` first learns the offsets and box relation on the training split and writes
``models/ibug68_offsets.json``. Saves ``benchmarks/results/landmark_accuracy-<date>.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from palsyflow.config import LandmarkParams  # noqa: E402
from palsyflow.landmarks.schemes import ibug68 as ib  # noqa: E402
from palsyflow.landmarks.backends.dlib import DlibLandmarker  # noqa: E402
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker  # noqa: E402
from palsyflow.landmarks.schemes.mediapipe478 import flip_points  # noqa: E402
from palsyflow.landmarks.tta import run_tta  # noqa: E402

DATA = Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data")) / "faces-68pt"
MODEL = ROOT / "models" / "face_landmarker.task"
NOTE = (
    "faces-68pt was annotated with dlib's own tooling (imglab), in the scheme dlib's "
    "68-point predictor reproduces: dlib is favoured on these numbers."
)


def load_faces(data: Path) -> list[dict]:
    """Faces of ``dlib_faces_68pt_landmarks.csv``: split, image, box (l, t, w, h), truth (68, 2)."""
    faces = []
    with open(data / "dlib_faces_68pt_landmarks.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            faces.append(
                {
                    "split": r["split"],
                    "image": r["image"],
                    "box": tuple(float(r[k]) for k in ("box_left", "box_top", "box_width", "box_height")),
                    "truth": np.array([[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(68)]),
                }
            )
    return faces


def crop_face(rgb: np.ndarray, box, margin: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Square crop around the annotated box, upscaled to ``size`` px (bicubic).

    Returns the crop and the 2x3 affine from original to crop pixels (pixel centres at
    integers).
    """
    left, top, w, h = box
    cx, cy = left + (w - 1) / 2.0, top + (h - 1) / 2.0
    side = margin * max(w, h)
    s = size / side
    m = np.array([[s, 0.0, (size - 1) / 2.0 - s * cx], [0.0, s, (size - 1) / 2.0 - s * cy]])
    crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return crop, m


def to_original(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    inv = cv2.invertAffineTransform(m)
    out = np.array(points, dtype=np.float64, copy=True)
    xy = out[..., :2].copy()
    out[..., :2] = xy @ inv[:, :2].T + inv[:, 2]
    return out


def detect(lm, crop, params, n):
    """One detection (n <= 1) or the TTA median of either backend."""
    if n <= 1:
        return lm.detect(crop).points
    res = run_tta(crop, lm, params)
    return res.points if res.face_found else None


def run_all(faces, images, ns, margin, size, offsets):
    """Detect every face with both backends for every N; returns rows and raw points."""
    rows = []
    raw = {}  # (backend, n, face index) -> original-frame points (478 or 68)
    base = LandmarkParams()
    with MediaPipeLandmarker(MODEL, "image", base) as mp_lm, DlibLandmarker(MODEL, "image", base) as dl_lm:
        for n in ns:
            params = base.model_copy(update={"tta_copies": n}) if hasattr(base, "model_copy") else LandmarkParams(tta_copies=n)
            for backend, lm, fn in (("mediapipe", mp_lm, detect), ("dlib", dl_lm, detect)):
                print(f"  {backend} N={n} ...", file=sys.stderr, flush=True)
                for i, f in enumerate(faces):
                    crop, m = crop_face(images[f["image"]], f["box"], margin, size)
                    t0 = time.perf_counter()
                    pts = fn(lm, crop, params, n)
                    dt_s = time.perf_counter() - t0
                    pts = None if pts is None else to_original(pts, m)
                    raw[(backend, n, i)] = pts
                    variants = (
                        [("mediapipe-raw", False), ("mediapipe-corr", True)] if backend == "mediapipe" else [("dlib", None)]
                    )
                    for name, corr in variants:
                        if pts is None:
                            p68 = None
                        elif backend == "mediapipe":
                            p68 = ib.mediapipe_to_ibug68(pts, correct=corr, offsets=offsets if corr else None)
                        else:
                            p68 = pts
                        rows.append(
                            {
                                "backend": name,
                                "n": n,
                                "split": f["split"],
                                "face": i,
                                "found": p68 is not None,
                                "nme68": float(ib.nme(p68, f["truth"])) if p68 is not None else None,
                                "nme51": float(ib.nme(p68, f["truth"], ib.INNER)) if p68 is not None else None,
                                "time_s": dt_s,
                            }
                        )
    return rows, raw


def learn(faces, images, margin, size) -> tuple[np.ndarray, dict, int]:
    """Offsets and dlib box relation from the TRAINING split (MediaPipe N=1, dlib HOG)."""
    train = [f for f in faces if f["split"] == "training"]
    mp_pts, truth, boxes = [], [], []
    params = LandmarkParams()
    with MediaPipeLandmarker(MODEL, "image", params) as mp_lm, DlibLandmarker(None, "image", params) as dl_lm:
        for f in train:
            crop, m = crop_face(images[f["image"]], f["box"], margin, size)
            p = mp_lm.detect(crop).points
            if p is None:
                continue
            mp_pts.append(p)  # crop frame: the relation is scale/rotation-free anyway
            truth.append(ib_truth_in_crop(f["truth"], m))
            hog = dl_lm.hog_boxes(crop)
            if hog:
                c = np.array([[(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0] for b in hog])
                q = p[ib.MP_TO_IBUG68, :2]
                origin, basis, d = ib.eye_frame(q[36], q[45])
                j = int(np.argmin(np.linalg.norm(c - origin, axis=1)))
                b = hog[j]
                rel = (c[j] - origin) / d
                boxes.append([rel @ basis[0], rel @ basis[1], (b[2] - b[0]) / d])
    off = ib.learn_offsets(np.stack(mp_pts), np.stack(truth))
    bx = np.mean(boxes, axis=0) if boxes else None
    box = None if bx is None else {"cx": round(float(bx[0]), 4), "cy": round(float(bx[1]), 4), "side": round(float(bx[2]), 4), "n_faces": len(boxes)}
    return off, box, len(mp_pts)


def ib_truth_in_crop(truth, m):
    return truth @ m[:, :2].T + m[:, 2]


def flip_symmetry(faces, images, margin, size, ns=(1, 16)):
    """Mean |f(x) - unflip(f(flip x))| in % IOD over testing faces, per backend and N."""
    out = {}
    base = LandmarkParams()
    test = [f for f in faces if f["split"] == "testing"]
    with MediaPipeLandmarker(MODEL, "image", base) as mp_lm, DlibLandmarker(MODEL, "image", base) as dl_lm:
        for n in ns:
            params = base.model_copy(update={"tta_copies": n})
            for backend, lm, fn, unflip in (
                ("mediapipe", mp_lm, detect, flip_points),
                ("dlib", dl_lm, detect, ib.flip_points68),
            ):
                diffs = []
                for f in test:
                    crop, m = crop_face(images[f["image"]], f["box"], margin, size)
                    a = fn(lm, crop, params, n)
                    b = fn(lm, np.ascontiguousarray(cv2.flip(crop, 1)), params, n)
                    if a is None or b is None:
                        continue
                    b = unflip(b, crop.shape[1])
                    if backend == "mediapipe":  # compare in the iBUG scheme, like the NME
                        a, b = ib.mediapipe_to_ibug68(a, correct=False), ib.mediapipe_to_ibug68(b, correct=False)
                    iod = float(ib.interocular_distance68(ib_truth_in_crop(f["truth"], m)))
                    diffs.append(100.0 * np.linalg.norm(a[:, :2] - b[:, :2], axis=1).mean() / iod)
                out[f"{backend}/N={n}"] = {"mean_pct_iod": float(np.mean(diffs)), "n_faces": len(diffs)}
    return out


def summarise(rows, ns):
    table = []
    for split in ("testing", "training"):
        for backend in ("mediapipe-raw", "mediapipe-corr", "dlib"):
            for n in ns:
                sel = [r for r in rows if r["split"] == split and r["backend"] == backend and r["n"] == n]
                ok = [r for r in sel if r["found"]]
                table.append(
                    {
                        "split": split,
                        "backend": backend,
                        "n": n,
                        "faces": len(sel),
                        "missed": len(sel) - len(ok),
                        "nme68_pct": float(np.mean([r["nme68"] for r in ok])) if ok else None,
                        "nme51_pct": float(np.mean([r["nme51"] for r in ok])) if ok else None,
                        "nme68_median_pct": float(np.median([r["nme68"] for r in ok])) if ok else None,
                        "ms_per_face": 1000.0 * float(np.mean([r["time_s"] for r in sel])),
                    }
                )
    return table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--n", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    ap.add_argument("--margin", type=float, default=2.2, help="crop side / annotated box side")
    ap.add_argument("--crop", type=int, default=400, help="crop size after upscaling, px")
    ap.add_argument("--learn", action="store_true", help="learn offsets + box on the training split first")
    ap.add_argument("--offsets", type=Path, default=ib.DEFAULT_OFFSETS_PATH)
    ap.add_argument("--no-flip", action="store_true", help="skip the flip-symmetry measurement")
    args = ap.parse_args(argv)
    if not (args.data / "dlib_faces_68pt_landmarks.csv").is_file():
        print(f"faces-68pt not available at {args.data}; nothing to measure")
        return 0
    faces = load_faces(args.data)
    images = {f["image"]: cv2.cvtColor(cv2.imread(str(args.data / f["image"])), cv2.COLOR_BGR2RGB) for f in faces}

    if args.learn:
        off, box, n_train = learn(faces, images, args.margin, args.crop)
        prov = {
            "data": "faces-68pt (dlib examples/faces, dlib_faces_68pt_landmarks.csv)",
            "split": "training",
            "n_faces": n_train,
            "images": sorted({f["image"] for f in faces if f["split"] == "training"}),
            "detector": "MediaPipe FaceLandmarker (IMAGE mode, no TTA) on crops of the annotated box",
            "crop": {"margin": args.margin, "size_px": args.crop},
            "symmetric": True,
            "script": "benchmarks/landmark_accuracy.py --learn",
        }
        ib.save_offsets(args.offsets, off, prov, extra={"dlib_box": box} if box else None)
        print(f"learned offsets on {n_train} training faces -> {args.offsets}; dlib box: {box}")
    offsets, prov = ib.load_offsets(args.offsets)

    t0 = time.time()
    rows, _ = run_all(faces, images, args.n, args.margin, args.crop, offsets)
    table = summarise(rows, args.n)
    flip = {} if args.no_flip else flip_symmetry(faces, images, args.margin, args.crop)
    wall = time.time() - t0

    print(f"\nNME on faces-68pt (% of outer-canthal distance iBUG 36-45; mean over found faces). {NOTE}")
    print(f"{'split':9s} {'backend':15s} {'N':>3s} {'found':>7s} {'NME68 %':>8s} {'NME51 %':>8s} {'med68 %':>8s} {'ms/face':>8s}")
    for t in table:
        f68 = "—" if t["nme68_pct"] is None else f"{t['nme68_pct']:.2f}"
        f51 = "—" if t["nme51_pct"] is None else f"{t['nme51_pct']:.2f}"
        m68 = "—" if t["nme68_median_pct"] is None else f"{t['nme68_median_pct']:.2f}"
        found = f"{t['faces'] - t['missed']}/{t['faces']}"
        print(f"{t['split']:9s} {t['backend']:15s} {t['n']:3d} {found:>7s} {f68:>8s} {f51:>8s} {m68:>8s} {t['ms_per_face']:8.1f}")

    test = {(t["backend"], t["n"]): t for t in table if t["split"] == "testing"}
    checks = {}
    for backend in ("mediapipe-raw", "mediapipe-corr"):
        t1 = test.get((backend, 1))
        if t1 and t1["nme51_pct"] is not None:
            checks[f"{backend}: inner-51 NME < 3.5 % (N=1)"] = t1["nme51_pct"] < 3.5
            checks[f"{backend}: all-68 NME < 5 % (N=1)"] = t1["nme68_pct"] < 5.0
    for backend in ("mediapipe-raw", "mediapipe-corr", "dlib"):
        base = test.get((backend, 1))
        for n in args.n:
            t = test.get((backend, n))
            if n > 1 and t and base and t["nme68_pct"] is not None:
                checks[f"{backend}: TTA N={n} not worse than N=1 (all-68)"] = t["nme68_pct"] <= base["nme68_pct"]
                checks[f"{backend}: TTA N={n} not worse than N=1 (inner-51)"] = t["nme51_pct"] <= base["nme51_pct"]
    print("\nTargets (testing split):")
    for k, v in checks.items():
        print(f"  {'MET ' if v else 'MISS'}  {k}")
    if flip:
        print("\nFlip symmetry (testing split): mean |f(x) - unflip(f(mirror x))|, % IOD (eye-corner midpoints)")
        for k, v in flip.items():
            print(f"  {k:16s} {v['mean_pct_iod']:.2f} % IOD  ({v['n_faces']} faces)")
    print(f"\nwall time {wall:.0f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (timings are noisy)")

    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"landmark_accuracy-{dt.date.today().isoformat()}.json"
    out.write_text(
        json.dumps(
            {
                "date": dt.datetime.now().isoformat(timespec="seconds"),
                "note": NOTE,
                "data": str(args.data.name),
                "crop": {"margin": args.margin, "size_px": args.crop},
                "offsets_provenance": prov,
                "table": table,
                "targets": checks,
                "flip_symmetry": flip,
                "per_face": rows,
                "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()[0]},
            },
            indent=1,
        )
    )
    print(f"saved {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
