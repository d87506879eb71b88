"""What a dlib HOG check of photos where MediaPipe finds only one face would cost and change.

MediaPipe misses some faces of a group photo; when its plain pass finds exactly one face,
the pipeline measures it without asking whether others are there. This measures the
proposed check before it is built: per photo (read as the pipeline reads it, EXIF
orientation applied), MediaPipe's plain pass in IMAGE mode, then, for a photo with one
face, dlib's HOG boxes (:func:`palsyflow.landmarks.proposals.hog_boxes`, the pipeline's
parameters) and the subject rule (:func:`palsyflow.landmarks.base.unclear_subject`) applied to
the MediaPipe face plus every HOG box lying outside it (the face's own box stands for it
when HOG found it, so sizes compare box to box).

Sets: ``misc-faces`` (includes ``multi_face.jpg``), every photo of ``healthy-tasks``
(single-subject task photos) and ``palsy-web``. Prints per set: photos, photos with one
MediaPipe face, HOG seconds per photo (median, max), photos where HOG adds boxes, photos the
check would refuse; saves ``benchmarks/results/group_photo_hog-<date>.json``.

Usage::

    python benchmarks/group_photo_hog.py [--limit N] 2>/dev/null
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks._results import save_result  # noqa: E402
from palsyflow.config import LandmarkParams  # noqa: E402
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker  # noqa: E402
from palsyflow.landmarks.base import unclear_subject  # noqa: E402
from palsyflow.landmarks.media import open_media  # noqa: E402
from palsyflow.landmarks.proposals import hog_boxes  # noqa: E402

SHARED = Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL = ROOT / "models" / "face_landmarker.task"


def photo_sets() -> dict[str, list[Path]]:
    ht = sorted(p for p in (SHARED / "healthy-tasks").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    misc = sorted((SHARED / "misc-faces").glob("*.jpg"))
    web = sorted(p for p in (SHARED / "palsy-web").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return {"misc-faces": misc, "healthy-tasks": ht, "palsy-web": web}


def box_face(cx: float, cy: float, side: float) -> np.ndarray:
    h = side / 2.0
    return np.array([[cx - h, cy - h], [cx + h, cy + h]])


def check(rgb: np.ndarray, face: np.ndarray, params: LandmarkParams) -> tuple[float, int, str | None]:
    """(HOG seconds, HOG boxes outside the face, the subject rule's refusal or None)."""
    t0 = time.perf_counter()
    boxes = hog_boxes(rgb, params.proposal_hog_max_side, params.proposal_hog_upsample, max_boxes=64)
    dt = time.perf_counter() - t0
    lo, hi = np.nanmin(face[:, :2], axis=0), np.nanmax(face[:, :2], axis=0)
    inside = [b for b in boxes if lo[0] <= b[0] <= hi[0] and lo[1] <= b[1] <= hi[1]]
    outside = [b for b in boxes if b not in inside]
    if not outside:
        return dt, 0, None
    own = box_face(*inside[0]) if inside else np.array([lo, hi])
    faces = np.stack([own, *(box_face(*b) for b in outside)])
    h, w = rgb.shape[:2]
    why = unclear_subject(faces, w, h, params.subject_min_size_ratio, params.subject_max_centre_offset)
    return dt, len(outside), why


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    params = LandmarkParams()
    out: dict = {"params": {"hog_max_side": params.proposal_hog_max_side, "hog_upsample": params.proposal_hog_upsample}}
    with MediaPipeLandmarker(MODEL, "image", params) as lm:
        for name, paths in photo_sets().items():
            if args.limit:
                paths = paths[: args.limit]
            times, added, refused, single, details = [], 0, [], 0, {}
            for p in paths:
                with open_media(p, "photo") as m:
                    rgb = m.rgb
                det = lm.detect(rgb)
                details[p.name] = {"mediapipe_faces": int(det.n_faces), "size": list(rgb.shape[:2])}
                if det.n_faces != 1:
                    continue
                single += 1
                dt, n_out, why = check(rgb, det.faces[0], params)
                times.append(dt)
                added += n_out > 0
                if why:
                    refused.append(p.name)
                details[p.name].update(hog_s=round(dt, 4), hog_extra_boxes=n_out, refusal=why)
            row = {
                "photos": len(paths),
                "one_mediapipe_face": single,
                "hog_s_median": float(np.median(times)) if times else None,
                "hog_s_max": float(np.max(times)) if times else None,
                "with_extra_hog_boxes": int(added),
                "would_refuse": refused,
            }
            out[name] = {**row, "photos_detail": details}
            print(
                f"{name:14s} photos {row['photos']:4d}  one face {single:4d}  HOG s/photo median "
                f"{row['hog_s_median'] or 0:.3f} max {row['hog_s_max'] or 0:.3f}  extra boxes {added:3d}  "
                f"would refuse {len(refused)} {refused[:8]}"
            )
    save_result("group_photo_hog", out)


if __name__ == "__main__":
    main()
