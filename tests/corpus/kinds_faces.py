"""Corpus kinds of the faces area: faces MediaPipe's plain pass misses, and group photos.

Each kind is built from real photos of :class:`~tests.corpus.base.Sources` (the webcam
photo at rest, the sideways phone JPEG, ``misc-faces/multi_face.jpg``); the face boxes
the builders cut and place come from the MediaPipe backend's plain pass on the source.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np

from tests.corpus.base import Kind, Row, Sources

__all__ = ["KINDS"]

MODEL = Path(__file__).resolve().parents[2] / "models" / "face_landmarker.task"


def _rgb(path: Path) -> np.ndarray:
    from palsyflow.landmarks.media import open_media

    with open_media(path, "photo") as m:
        return m.rgb


@cache
def _face_box(path: Path) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the plain pass's face landmarks in the upright photo, pixels."""
    from palsyflow.config import LandmarkParams
    from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker

    with MediaPipeLandmarker(MODEL, "image", LandmarkParams()) as lm:
        pts = lm.detect(_rgb(path)).points
    lo, hi = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def _write(rgb: np.ndarray, path: Path) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _row(subject: str, name: str) -> Row:
    return {"subject": subject, "session_date": "2026-03-01", "task": "at-rest", "file": name, "healthy": "yes"}


def _small_face_portrait(drop: Path, src: Sources) -> list[Row]:
    """The webcam face about 85 px wide in an 817x1024 portrait (the issue's case)."""
    rgb = _rgb(src.photo)
    x0, _, x1, _ = _face_box(src.photo)
    f = 85.0 / (x1 - x0)
    small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    canvas = np.full((1024, 817, 3), 128, np.uint8)
    canvas[300 : 300 + small.shape[0], 250 : 250 + small.shape[1]] = small
    name = "small-face-portrait.png"
    _write(canvas, drop / name)
    return [_row("FACESMALL", name)]


def _tight_crop(drop: Path, src: Sources) -> list[Row]:
    """A phone JPEG cut to its face's landmark box shrunk by 20 % per side (eyebrows, chin cut).

    The volunteer's nose-wrinkle photo, whose crop the plain pass misses (padded retry included).
    """
    path = src.photo_exif.with_name("nose-wrinkle-1.jpg")
    rgb = _rgb(path)
    x0, y0, x1, y1 = _face_box(path)
    w, h = x1 - x0, y1 - y0
    crop = rgb[int(y0 + 0.2 * h) : int(y1 - 0.2 * h), int(x0 + 0.2 * w) : int(x1 - 0.2 * w)]
    name = "tight-crop-face.png"
    _write(np.ascontiguousarray(crop), drop / name)
    return [_row("FACETIGHT", name)]


def _group_no_subject(drop: Path, src: Sources) -> list[Row]:
    """A group photo as uploaded: several people of similar size."""
    name = "multi-face-group.jpg"
    (drop / name).write_bytes(src.multi_face.read_bytes())
    return [_row("FACEGROUP", name)]


def _group_clear_subject(drop: Path, src: Sources) -> list[Row]:
    """The patient's webcam photo with a second, small face (from the group photo) pasted top left."""
    rgb = _rgb(src.photo)
    group = _rgb(src.multi_face)
    from palsyflow.landmarks.crop import face_square, square_crop

    x0, y0, x1, y1 = _face_box(src.multi_face)
    cx, cy, side = face_square(np.array([[x0, y0], [x1, y1]]), 0.5)
    face, _ = square_crop(group, cx, cy, side, 180)
    rgb = rgb.copy()
    rgb[4:184, 4:184] = face
    name = "patient-with-corner-face.png"
    _write(rgb, drop / name)
    return [_row("FACEPLUS", name)]


KINDS: list[Kind] = [
    Kind("face-small-in-large-frame", _small_face_portrait, "measured",
         notes="face about 85 px wide in an 817x1024 portrait; the plain MediaPipe pass finds none"),
    Kind("face-tight-crop", _tight_crop, "measured",
         notes="face fills the frame, eyebrows and chin cut; the black padded retry misses it"),
    Kind("face-group-no-subject", _group_no_subject, "refused", rule="none is clearly the subject",
         notes="several faces of similar size"),
    Kind("face-group-clear-subject", _group_clear_subject, "measured",
         notes="the patient large and central, a small face in a corner"),
]
