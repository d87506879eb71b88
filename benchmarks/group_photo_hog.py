"""Cost and effect of the dlib HOG check of photos in which MediaPipe finds one face.

MediaPipe misses some faces of a group photo; a photo in which its plain pass finds one
face is therefore checked by :func:`palsyflow.landmarks.proposals.lone_face_problem` (dlib
HOG boxes outside the face, then the subject rule). Per photo (read as the pipeline reads
it, EXIF orientation applied): MediaPipe's plain pass in IMAGE mode, then, for a photo
with one face, the check with the pipeline's parameters (``--upsample N`` overrides
``subject_hog_upsample``).

Sets: ``misc-faces`` (includes ``multi_face.jpg``), every photo of ``healthy-tasks``
(single-subject task photos) and ``palsy-web``. Prints per set: photos, photos with one
MediaPipe face, seconds per checked photo (median, max; the HOG detector is built before
timing), photos the check refuses; saves the same and the photos with other than one
MediaPipe face or refused in ``benchmarks/results/group_photo_hog[-upsample<N>]-<date>.json``.

Usage::

    python benchmarks/group_photo_hog.py [--limit N] [--upsample N] 2>/dev/null
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
from palsyflow.landmarks.media import open_media  # noqa: E402
from palsyflow.landmarks.proposals import hog_boxes, lone_face_problem  # noqa: E402

SHARED = Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL = ROOT / "models" / "face_landmarker.task"


def photo_sets() -> dict[str, list[Path]]:
    ht = sorted(p for p in (SHARED / "healthy-tasks").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    misc = sorted((SHARED / "misc-faces").glob("*.jpg"))
    web = sorted(p for p in (SHARED / "palsy-web").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return {"misc-faces": misc, "healthy-tasks": ht, "palsy-web": web}


def check(rgb: np.ndarray, face: np.ndarray, params: LandmarkParams) -> tuple[float, str | None]:
    """(seconds, the refusal or None) of the pipeline's check (HOG included)."""
    t0 = time.perf_counter()
    why = lone_face_problem(rgb, face, params)
    return time.perf_counter() - t0, why


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--upsample", type=int, default=None, help="HOG upsamplings (default: the pipeline's)")
    args = ap.parse_args()
    params = LandmarkParams()
    if args.upsample is not None:
        params = params.model_copy(update={"proposal_hog_upsample": args.upsample})
    out: dict = {"params": {"hog_max_side": params.proposal_hog_max_side, "hog_upsample": params.proposal_hog_upsample}}
    hog_boxes(np.zeros((64, 64, 3), np.uint8), 64, 0, 1)  # build dlib's detector before timing
    with MediaPipeLandmarker(MODEL, "image", params) as lm:
        for name, paths in photo_sets().items():
            if args.limit:
                paths = paths[: args.limit]
            times, refused, single, details = [], [], 0, {}
            for p in paths:
                with open_media(p, "photo") as m:
                    rgb = m.rgb
                det = lm.detect(rgb)
                details[p.name] = {"mediapipe_faces": int(det.n_faces), "size": list(rgb.shape[:2])}
                if det.n_faces != 1:
                    continue
                single += 1
                dt, why = check(rgb, det.faces[0], params)
                times.append(dt)
                if why:
                    refused.append(p.name)
                details[p.name].update(check_s=round(dt, 4), refusal=why)
            row = {
                "photos": len(paths),
                "one_mediapipe_face": single,
                "check_s_median": float(np.median(times)) if times else None,
                "check_s_max": float(np.max(times)) if times else None,
                "would_refuse": refused,
            }
            notable = {k: v for k, v in details.items() if v["mediapipe_faces"] != 1 or v.get("refusal")}
            out[name] = {**row, "notable_photos": notable}
            print(
                f"{name:14s} photos {row['photos']:4d}  one face {single:4d}  check s/photo median "
                f"{row['check_s_median'] or 0:.3f} max {row['check_s_max'] or 0:.3f}  "
                f"refused {len(refused)} {refused[:8]}"
            )
    suffix = "" if args.upsample is None else f"-upsample{args.upsample}"
    save_result(f"group_photo_hog{suffix}", out)


if __name__ == "__main__":
    main()
