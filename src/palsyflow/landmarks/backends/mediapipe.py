"""MediaPipe backend: the FaceLandmarker (Tasks API) as a :class:`~palsyflow.landmarks.base.Landmarker`.

Inputs as they come: frames larger than ``detect_max_side`` are downscaled for
detection (points are reported in full-resolution pixels); when no face is found the
frame is retried with a border added (tight face crops, where the face detector needs
context around the face); a face whose inter-ocular distance is small in the image the
detector saw is cropped from the full-resolution frame, upscaled and detected again;
of several faces the largest, most central one is chosen and the count reported.

MediaPipe Face Mesh / attention mesh: Kartynnik et al. 2019, "Real-time Facial Surface
Geometry from Monocular Video on Mobile GPUs", arXiv:1907.06724; iris points: Ablavatski
et al. 2020, arXiv:2006.11341.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.base import Detection, Mode, TTALayout, choose_face
from palsyflow.landmarks.crop import face_square, square_crop
from palsyflow.landmarks.schemes.base import Scheme
from palsyflow.landmarks.schemes.mediapipe478 import N_POINTS, SCHEME, interocular_distance

__all__ = ["MediaPipeLandmarker"]


class MediaPipeLandmarker:
    """``mediapipe.tasks.python.vision.FaceLandmarker`` returning pixel arrays.

    The :class:`~palsyflow.landmarks.base.Landmarker` of the ``"mediapipe"`` backend
    (scheme ``mediapipe478``, TTA layout ``"face_crop"``, tracks in video mode). Use as
    a context manager::

        with MediaPipeLandmarker(model_path, "video", params) as lm:
            det = lm.detect(rgb, timestamp_ms=40)

    Parameters
    ----------
    model_path : Path
        ``face_landmarker.task``.
    mode : {"image", "video"}
        MediaPipe running mode. ``video`` tracks the face between frames and needs
        strictly increasing timestamps. The padded retry and the small-face second
        pass always run in IMAGE mode (a second landmarker, created on first use).
    params : LandmarkParams
        ``max_faces``, ``min_detection_confidence``, ``min_tracking_confidence``
        (also used as the face presence threshold), ``detect_max_side``,
        ``pad_retry_frac``, ``pad_retry_mode``, ``small_face_iod_px``,
        ``small_face_target_iod_px``, ``small_face_crop_margin``.

    Raises
    ------
    FileNotFoundError
        If ``model_path`` does not exist.
    """

    scheme: Scheme = SCHEME
    tta_layout: TTALayout = "face_crop"

    def __init__(self, model_path: Path, mode: Mode, params: LandmarkParams):
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"face model not found: {self.model_path}")
        if mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', got {mode!r}")
        self.mode = mode
        self.params = params
        self._landmarker = None
        self._still = None  # IMAGE-mode landmarker for retries in video mode
        self._last_ts = -1

    # context manager --------------------------------------------------------
    def _create(self, mode: str):
        from mediapipe.tasks.python import BaseOptions, vision

        running_mode = vision.RunningMode.VIDEO if mode == "video" else vision.RunningMode.IMAGE
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=running_mode,
            num_faces=int(self.params.max_faces),
            min_face_detection_confidence=float(self.params.min_detection_confidence),
            min_face_presence_confidence=float(self.params.min_detection_confidence),
            min_tracking_confidence=float(self.params.min_tracking_confidence),
        )
        lm = vision.FaceLandmarker.create_from_options(options)
        lm.__enter__()
        return lm

    def __enter__(self) -> MediaPipeLandmarker:
        self._landmarker = self._create(self.mode)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Close both MediaPipe landmarkers (the IMAGE-mode retry one first)."""
        still, main = self._still, self._landmarker
        self._still = self._landmarker = None
        for lm in (still, main):
            if lm is not None:
                lm.close()

    @property
    def tracks(self) -> bool:
        """True in video mode: MediaPipe then tracks the face between frames."""
        return self.mode == "video"

    def describe(self) -> dict:
        """No backend-specific metadata (the pipeline records ``mediapipe_version``)."""
        return {}

    def _image_landmarker(self):
        if self.mode == "image":
            return self._landmarker
        if self._still is None:
            self._still = self._create("image")
        return self._still

    # detection -------------------------------------------------------------
    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> Detection:
        """Detect all faces in one frame.

        1. Frames whose longer side exceeds ``params.detect_max_side`` are downscaled
           (``cv2.INTER_AREA``) for detection; MediaPipe's normalised coordinates are
           scaled by the FULL frame size, so points are in full-resolution pixels.
           Normalised (0..1 = image edges) to pixel-centre coordinates:
           ``x = x_n * W - 0.5``, ``y = y_n * H - 0.5``, ``z = z_n * W``.
        2. No face and ``params.pad_retry_frac > 0``: the (downscaled) frame is
           detected again with a border of ``pad_retry_frac`` times its longer side on
           every side (``pad_retry_mode``): MediaPipe's face detector misses faces that
           fill the frame (tight crops) and finds them with context around. Points are
           shifted back and may lie outside the frame. ``Detection.padded`` is set.
           (Faces this misses, e.g. crops cut inside the face, are searched for by the
           pipeline's proposals, :mod:`palsyflow.landmarks.proposals`.)
        3. The chosen face's inter-ocular distance (eye-corner midpoints), measured in
           the image the detector saw, is below ``params.small_face_iod_px``: a square
           of ``(1 + 2 small_face_crop_margin)`` times the face's landmark box is cut
           from the FULL-resolution frame, resized so the IOD becomes
           ``small_face_target_iod_px`` and detected again; the face nearest the first
           estimate (mean point distance < 0.5 IOD) replaces it
           (``Detection.refined``). MediaPipe's landmark network sees a fixed
           256x256 crop of the face, but the face detector that places that crop sees
           the whole frame at 128x128 (Bazarevsky et al. 2019, "BlazeFace:
           Sub-millisecond Neural Face Detection on Mobile GPUs", arXiv:1907.05047),
           so a small face gets a coarse crop; the second pass gives it a full-size one.

        Steps 2 and 3 run in IMAGE mode, also for video frames (each such frame costs
        one more detection).

        Parameters
        ----------
        rgb : ndarray, shape (H, W, 3), uint8, RGB
        timestamp_ms : int, optional
            Required in video mode; must increase strictly between calls.

        Returns
        -------
        Detection
            ``faces`` in full-resolution pixels; ``n_faces`` counts the faces of the
            first pass that found any (plain or padded).

        Raises
        ------
        RuntimeError
            If used outside the ``with`` block.
        ValueError
            If the frame is not (H, W, 3) uint8, or a video timestamp is missing or
            does not increase.
        """
        if self._landmarker is None:
            raise RuntimeError("MediaPipeLandmarker must be used inside a `with` block")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
        if self.mode == "video":
            if timestamp_ms is None or timestamp_ms <= self._last_ts:
                raise ValueError(f"video mode needs increasing timestamps, got {timestamp_ms} after {self._last_ts}")
            self._last_ts = int(timestamp_ms)
        p = self.params
        height, width = rgb.shape[:2]
        img = rgb
        longest = max(height, width)
        if longest > p.detect_max_side:
            s = p.detect_max_side / longest
            img = cv2.resize(rgb, (max(1, round(width * s)), max(1, round(height * s))), interpolation=cv2.INTER_AREA)
        ih, iw = img.shape[:2]
        sx, sy = width / iw, height / ih  # full-resolution pixels per detection pixel

        faces = self._run(self._landmarker, img, timestamp_ms if self.mode == "video" else None)
        padded = False
        if faces.shape[0] == 0 and p.pad_retry_frac > 0:
            pad = max(1, int(round(p.pad_retry_frac * max(ih, iw))))
            mode = cv2.BORDER_CONSTANT if p.pad_retry_mode == "constant" else cv2.BORDER_REPLICATE
            big = cv2.copyMakeBorder(img, pad, pad, pad, pad, mode, value=(0, 0, 0))
            faces = self._run(self._image_landmarker(), big, None)
            faces[..., :2] -= pad
            padded = faces.shape[0] > 0
        if (sx, sy) != (1.0, 1.0) and faces.shape[0]:
            faces[..., 0] = (faces[..., 0] + 0.5) * sx - 0.5
            faces[..., 1] = (faces[..., 1] + 0.5) * sy - 0.5
            faces[..., 2] *= sx
        chosen = choose_face(faces, width, height)
        refined = False
        if chosen is not None and p.small_face_iod_px > 0:
            iod_full = float(interocular_distance(faces[chosen]))
            if 0.0 < iod_full / sx < p.small_face_iod_px:
                better = self._refine(rgb, faces[chosen], iod_full)
                if better is not None:
                    faces[chosen] = better
                    refined = True
        return Detection(faces=faces, chosen=chosen, padded=padded, refined=refined)

    def _run(self, landmarker, img: np.ndarray, timestamp_ms: int | None) -> np.ndarray:
        """One MediaPipe call; (n_faces, 478, 3) in pixels of ``img``."""
        import mediapipe as mp

        if not img.flags["C_CONTIGUOUS"]:
            img = np.ascontiguousarray(img)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=img)
        if timestamp_ms is not None:
            result = landmarker.detect_for_video(image, int(timestamp_ms))
        else:
            result = landmarker.detect(image)
        return _to_pixels(result.face_landmarks, img.shape[1], img.shape[0])

    def _refine(self, rgb: np.ndarray, face: np.ndarray, iod: float) -> np.ndarray | None:
        """Second pass on an upscaled crop around ``face`` (full-resolution pixels)."""
        p = self.params
        cx, cy, side = face_square(face, p.small_face_crop_margin)
        out_side = int(round(side * p.small_face_target_iod_px / iod))
        out_side = int(np.clip(out_side, 64, max(64, p.detect_max_side)))
        canvas, crop = square_crop(rgb, cx, cy, side, out_side, border="replicate")
        found = self._run(self._image_landmarker(), canvas, None)
        if found.shape[0] == 0:
            return None
        back = crop.to_frame(found)
        d = np.linalg.norm(back[..., :2] - face[None, :, :2], axis=-1).mean(axis=1)
        j = int(np.argmin(d))
        return back[j] if d[j] < 0.5 * iod else None


def _to_pixels(face_landmarks, width: int, height: int) -> np.ndarray:
    """MediaPipe NormalizedLandmark lists -> (n_faces, 478, 3) pixels."""
    faces = [f for f in face_landmarks if len(f) == N_POINTS]
    out = np.empty((len(faces), N_POINTS, 3), dtype=np.float64)
    for k, face in enumerate(faces):
        out[k, :, 0] = [p.x for p in face]
        out[k, :, 1] = [p.y for p in face]
        out[k, :, 2] = [p.z for p in face]
    out[..., 0] = out[..., 0] * width - 0.5
    out[..., 1] = out[..., 1] * height - 0.5
    out[..., 2] *= width
    return out
