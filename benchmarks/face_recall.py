"""Face detection recall on every face photo in ../shared/data, without and with face-box proposals.

Each photo is read as the pipeline reads it (EXIF orientation applied,
:func:`palsyflow.landmarks.media.open_media`) and searched with the MediaPipe backend
in IMAGE mode through :func:`palsyflow.landmarks.pipeline.detect_frame`, the routine
every photo and video key frame goes through:

- ``before`` (``--no-proposals`` alone runs only this): the plain pass
  (``LandmarkParams.proposals = False``: the backend's padded retry and small-face
  second pass included, as on main);
- ``after``: the default (proposals when the plain pass finds no face);
- ``union``: the plain pass's faces plus every face the proposals find, to show what
  the second search can add on group photos where the plain pass already found one face
  (the pipeline measures one face, so this is not what it runs).

Sets:

- ``faces-68pt``: 43 annotated faces in the dlib example photos; a face counts as found
  when both annotated iBUG-68 eye centres (means of points 36-41 and 42-47) fall
  inside the landmark bounding box of a detected face. Recall = found / annotated.
- ``healthy-tasks``, ``misc-faces``, ``palsy-web`` (all photos; every one shows a face,
  no box ground truth): recall = share of photos with at least one face found.
- ``phone-4k-upscaled``: the healthy-tasks phone JPEGs (every ``.jpg``: the app uploads'
  ``-1``/``-2`` photos, stored sideways, and both mpeschel sessions) upscaled to 3840 px on the long
  side (bicubic); ``phone-4k-small``: the photo shrunk so the face is about 85 px wide
  and placed off-centre in a 3840x2160 grey canvas; ``portrait-817x1024-small``: the
  same at 817x1024 (the issue's case); ``phone-tight-crop`` / ``phone-4k-tight-crop``:
  the face's landmark box (from the plain pass on the original photo) shrunk by 20 %
  of its size per side, cut from the photo or its 4K upscale. Recall = share found.
  Photos whose plain pass finds no face on the original are left out of the derived
  sets (no box to build them from).

Prints a table (per set and mode: photos, faces, found, recall, seconds per photo) and
saves ``benchmarks/results/face_recall-<date>.json``.

Usage::

    python benchmarks/face_recall.py [--no-proposals] [--sets a,b] [--limit N] 2>/dev/null
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks._results import save_result  # noqa: E402
from palsyflow.config import LandmarkParams  # noqa: E402
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker  # noqa: E402
from palsyflow.landmarks.base import Detection  # noqa: E402
from palsyflow.landmarks.media import open_media  # noqa: E402
from palsyflow.landmarks.pipeline import detect_frame  # noqa: E402
from palsyflow.landmarks.proposals import find_faces  # noqa: E402

SHARED = Path(os.environ.get("PALSYFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL = ROOT / "models" / "face_landmarker.task"
INSET = 0.2  # tight crops: landmark box shrunk by this fraction of its size per side
SMALL_FACE_PX = 85.0


def read(path: Path) -> np.ndarray:
    with open_media(path, "photo") as m:
        return m.rgb


def boxes(det: Detection) -> np.ndarray:
    """(n_faces, 4) landmark boxes x0, y0, x1, y1."""
    if det.n_faces == 0:
        return np.empty((0, 4))
    xy = det.faces[..., :2]
    return np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)


def detectors(lm, mode: str):
    plain = LandmarkParams(proposals=False)
    default = LandmarkParams()

    def before(rgb):
        return detect_frame(rgb, lm, plain)[0]

    def after(rgb):
        return detect_frame(rgb, lm, default)[0]

    def union(rgb):
        det = lm.detect(rgb)
        more = find_faces(rgb, lm, default).detection
        faces = [f for f in det.faces]
        for f in more.faces:
            iod = max(1.0, float(lm.scheme.interocular_distance(f)))
            if not any(np.linalg.norm(f[:, :2] - g[:, :2], axis=-1).mean() < 0.5 * iod for g in faces):
                faces.append(f)
        stack = np.stack(faces) if faces else np.empty((0, lm.scheme.n_points, 3))
        return Detection(stack, 0 if faces else None)

    table = {"before": before, "after": after, "union": union}
    return {"before": before} if mode == "before" else table


def eyes_found(bx: np.ndarray, eyes: np.ndarray) -> bool:
    """Both eye centres (2, 2) inside one box of ``bx``."""
    for x0, y0, x1, y1 in bx:
        if np.all((eyes[:, 0] >= x0) & (eyes[:, 0] <= x1) & (eyes[:, 1] >= y0) & (eyes[:, 1] <= y1)):
            return True
    return False


def faces68():
    """(path, list of (2, 2) eye centres) per annotated photo."""
    by_img: dict[str, list[np.ndarray]] = {}
    with open(SHARED / "faces-68pt" / "dlib_faces_68pt_landmarks.csv") as fh:
        for row in csv.DictReader(fh):
            pts = np.array([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(68)])
            eyes = np.stack([pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)])
            by_img.setdefault(row["image"], []).append(eyes)
    return [(SHARED / "faces-68pt" / Path(k).name, v) for k, v in sorted(by_img.items())]


def photo_sets(limit: int | None):
    ht = sorted(p for p in (SHARED / "healthy-tasks").rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    misc = sorted((SHARED / "misc-faces").glob("*.jpg"))
    web = sorted(p for p in (SHARED / "palsy-web").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    sets = {"healthy-tasks": ht, "misc-faces": misc, "palsy-web": web}
    return {k: v[:limit] if limit else v for k, v in sets.items()}


def derived(phone: list[Path], lm) -> dict[str, list]:
    """The 4K, small-face and tight-crop variants (lazy builders) of the phone JPEGs."""
    out: dict[str, list] = {k: [] for k in ("phone-4k-upscaled", "phone-4k-small", "portrait-817x1024-small",
                                             "phone-tight-crop", "phone-4k-tight-crop")}
    for path in phone:
        rgb = read(path)
        det = lm.detect(rgb)
        if det.chosen is None:
            continue
        x0, y0, x1, y1 = boxes(det)[det.chosen]
        s4 = 3840.0 / max(rgb.shape[:2])
        out["phone-4k-upscaled"].append((path.name, lambda rgb=rgb, s=s4: cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)))
        f = SMALL_FACE_PX / (x1 - x0)
        for key, (cw, ch) in (("phone-4k-small", (3840, 2160)), ("portrait-817x1024-small", (817, 1024))):
            out[key].append((path.name, lambda rgb=rgb, f=f, cw=cw, ch=ch: place(rgb, f, cw, ch)))
        w, h = x1 - x0, y1 - y0
        box = (x0 + INSET * w, y0 + INSET * h, x1 - INSET * w, y1 - INSET * h)
        out["phone-tight-crop"].append((path.name, lambda rgb=rgb, b=box: cut(rgb, b, 1.0)))
        out["phone-4k-tight-crop"].append((path.name, lambda rgb=rgb, b=box, s=s4: cut(cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC), b, s)))
    return out


def place(rgb: np.ndarray, f: float, cw: int, ch: int) -> np.ndarray:
    small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)[:ch, :cw]
    canvas = np.full((ch, cw, 3), 128, np.uint8)
    y0, x0 = (ch - small.shape[0]) // 3, (cw - small.shape[1]) // 3
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return canvas


def cut(rgb: np.ndarray, box, s: float) -> np.ndarray:
    x0, y0, x1, y1 = (int(round(v * s)) for v in box)
    return np.ascontiguousarray(rgb[max(0, y0) : y1, max(0, x0) : x1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-proposals", action="store_true", help="only the plain pass (the 'before' column)")
    ap.add_argument("--sets", default="", help="comma-separated set names (default: all)")
    ap.add_argument("--limit", type=int, default=None, help="at most N photos per underived set (quick look)")
    args = ap.parse_args()
    want = set(filter(None, args.sets.split(",")))
    mode = "before" if args.no_proposals else "all"
    rows = []
    with MediaPipeLandmarker(MODEL, "image", LandmarkParams()) as lm:
        dets = detectors(lm, mode)
        todo: dict[str, list] = {}
        if not want or "faces-68pt" in want:
            todo["faces-68pt"] = [(p.name, (lambda p=p: read(p)), eyes) for p, eyes in faces68()]
        sets = photo_sets(args.limit)
        for name, paths in sets.items():
            if not want or name in want:
                todo[name] = [(p.name, (lambda p=p: read(p)), None) for p in paths]
        phone = [p for p in sets["healthy-tasks"] if p.suffix.lower() == ".jpg"]
        for name, items in derived(phone, lm).items():
            if not want or name in want:
                todo[name] = [(n, b, None) for n, b in items]
        for set_name, items in todo.items():
            for det_name, fn in dets.items():
                n_faces = found = 0
                missed = []
                seconds = 0.0
                for name, build, truth in items:
                    rgb = build()
                    t0 = time.perf_counter()
                    det = fn(rgb)
                    seconds += time.perf_counter() - t0
                    if truth is None:
                        n_faces += 1
                        ok = det.n_faces > 0
                        found += ok
                        if not ok:
                            missed.append(name)
                    else:
                        bx = boxes(det)
                        for k, eyes in enumerate(truth):
                            n_faces += 1
                            ok = eyes_found(bx, eyes)
                            found += ok
                            if not ok:
                                missed.append(f"{name}#{k}")
                row = {
                    "set": set_name,
                    "mode": det_name,
                    "photos": len(items),
                    "faces": n_faces,
                    "found": found,
                    "recall": found / n_faces if n_faces else float("nan"),
                    "s_per_photo": seconds / max(1, len(items)),
                    "ground_truth": "eye centres in box" if set_name == "faces-68pt" else "photo has >= 1 face",
                    "missed": missed,
                }
                rows.append(row)
                print(f"{set_name:24s} {det_name:7s} photos {row['photos']:4d} faces {n_faces:4d} found {found:4d} "
                      f"recall {row['recall']:.3f}  {row['s_per_photo']:.3f} s/photo", flush=True)
    save_result("face_recall" + ("-no-proposals" if args.no_proposals else ""), {
        "load_average": os.getloadavg(),
        "params": LandmarkParams().model_dump() if hasattr(LandmarkParams(), "model_dump") else {},
        "rows": rows,
    })


if __name__ == "__main__":
    main()
