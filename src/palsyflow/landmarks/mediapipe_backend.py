"""MediaPipe FaceLandmarker (Tasks API) as a small context manager returning pixels.

MediaPipe Face Mesh / attention mesh: Kartynnik et al. 2019, "Real-time Facial Surface
Geometry from Monocular Video on Mobile GPUs", arXiv:1907.06724; iris points: Ablavatski
et al. 2020, arXiv:2006.11341.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.topology import N_POINTS

__all__ = ["Detection", "MediaPipeLandmarker", "choose_face"]


@dataclass(frozen=True)
class Detection:
    """Faces found in one frame.

    Attributes
    ----------
    faces : ndarray, shape (n_faces, 478, 3), float64
        All faces, pixels of the full-resolution frame (pixel centres at integer
        coordinates, x right, y down); z is MediaPipe's relative depth times the
        frame width (pixels, smaller is closer).
    chosen : int or None
        Index into ``faces`` of the subject's face (:func:`choose_face`), None if no face.
    """

    faces: np.ndarray
    chosen: int | None

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def points(self) -> np.ndarray | None:
        """The chosen face, shape (478, 3), pixels; None when no face was found."""
        return None if self.chosen is None else self.faces[self.chosen]


def choose_face(faces: np.ndarray, width: int, height: int) -> int | None:
    """Pick the subject's face: the largest and most central one.

    Score = bounding-box area × (1 - d / d_max), where d is the distance from the
    box centre to the image centre and d_max is the half-diagonal of the image, so
    a large face wins unless it sits at the border and a similar-sized face is central.

    Parameters
    ----------
    faces : ndarray, shape (n_faces, 478, >=2), pixels
    width, height : int
        Frame size in pixels.

    Returns
    -------
    int or None
        Index of the chosen face; None when ``n_faces == 0``.
    """
    if faces.shape[0] == 0:
        return None
    if faces.shape[0] == 1:
        return 0
    xy = faces[..., :2]
    lo, hi = xy.min(axis=1), xy.max(axis=1)
    area = np.prod(hi - lo, axis=1)
    centre = (lo + hi) / 2.0
    d = np.linalg.norm(centre - np.array([(width - 1) / 2.0, (height - 1) / 2.0]), axis=1)
    d_max = 0.5 * float(np.hypot(width, height))
    score = area * np.clip(1.0 - d / d_max, 0.0, 1.0)
    return int(np.argmax(score))


class MediaPipeLandmarker:
    """``mediapipe.tasks.python.vision.FaceLandmarker`` returning pixel arrays.

    Use as a context manager::

        with MediaPipeLandmarker(model_path, "video", params) as lm:
            det = lm.detect(rgb, timestamp_ms=40)

    Parameters
    ----------
    model_path : Path
        ``face_landmarker.task``.
    mode : {"image", "video"}
        MediaPipe running mode. ``video`` tracks the face between frames and needs
        strictly increasing timestamps.
    params : LandmarkParams
        ``max_faces``, ``min_detection_confidence``, ``min_tracking_confidence``
        (also used as the face presence threshold) and ``detect_max_side``.

    Raises
    ------
    FileNotFoundError
        If ``model_path`` does not exist.
    """

    def __init__(self, model_path: Path, mode: Literal["image", "video"], params: LandmarkParams):
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"face model not found: {self.model_path}")
        if mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', got {mode!r}")
        self.mode = mode
        self.params = params
        self._landmarker = None
        self._last_ts = -1

    # context manager --------------------------------------------------------
    def __enter__(self) -> MediaPipeLandmarker:
        from mediapipe.tasks.python import BaseOptions, vision

        running_mode = vision.RunningMode.VIDEO if self.mode == "video" else vision.RunningMode.IMAGE
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=running_mode,
            num_faces=int(self.params.max_faces),
            min_face_detection_confidence=float(self.params.min_detection_confidence),
            min_face_presence_confidence=float(self.params.min_detection_confidence),
            min_tracking_confidence=float(self.params.min_tracking_confidence),
        )
        self._landmarker = vision.FaceLandmarker.create_from_options(options)
        self._landmarker.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._landmarker is not None:
            self._landmarker.__exit__(exc_type, exc, tb)
            self._landmarker = None

    # detection -------------------------------------------------------------
    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> Detection:
        """Detect all faces in one frame.

        Frames whose longer side exceeds ``params.detect_max_side`` are downscaled
        (``cv2.INTER_AREA``) for detection; MediaPipe's normalised coordinates are
        then scaled by the FULL frame size, so points are in full-resolution pixels.
        Normalised (0..1 = image edges) to pixel-centre coordinates:
        ``x = x_n * W - 0.5``, ``y = y_n * H - 0.5``, ``z = z_n * W``.

        Parameters
        ----------
        rgb : ndarray, shape (H, W, 3), uint8, RGB
        timestamp_ms : int, optional
            Required in video mode; must increase strictly between calls.

        Returns
        -------
        Detection

        Raises
        ------
        RuntimeError
            If used outside the ``with`` block.
        ValueError
            If the frame is not (H, W, 3) uint8, or a video timestamp is missing or
            does not increase.
        """
        import mediapipe as mp

        if self._landmarker is None:
            raise RuntimeError("MediaPipeLandmarker must be used inside a `with` block")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        img = rgb
        longest = max(height, width)
        if longest > self.params.detect_max_side:
            s = self.params.detect_max_side / longest
            img = cv2.resize(rgb, (max(1, round(width * s)), max(1, round(height * s))), interpolation=cv2.INTER_AREA)
        if not img.flags["C_CONTIGUOUS"]:
            img = np.ascontiguousarray(img)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=img)
        if self.mode == "video":
            if timestamp_ms is None or timestamp_ms <= self._last_ts:
                raise ValueError(f"video mode needs increasing timestamps, got {timestamp_ms} after {self._last_ts}")
            self._last_ts = int(timestamp_ms)
            result = self._landmarker.detect_for_video(image, int(timestamp_ms))
        else:
            result = self._landmarker.detect(image)
        faces = _to_pixels(result.face_landmarks, width, height)
        return Detection(faces=faces, chosen=choose_face(faces, width, height))


def _to_pixels(face_landmarks, width: int, height: int) -> np.ndarray:
    """MediaPipe NormalizedLandmark lists -> (n_faces, 478, 3) pixels."""
    faces = [f for f in face_landmarks if len(f) == N_POINTS]
    out = np.empty((len(faces), N_POINTS, 3), dtype=np.float64)
    for k, face in enumerate(faces):
        out[k] = [(p.x, p.y, p.z) for p in face]
    out[..., 0] = out[..., 0] * width - 0.5
    out[..., 1] = out[..., 1] * height - 0.5
    out[..., 2] *= width
    return out
