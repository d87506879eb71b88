"""Per-recording landmark extraction: one video or photo in, a points and a quality table out.

:func:`extract_landmarks` is a top-level, picklable function so executors can ship it
to worker processes (process pool, Dask). It reads the file itself; writing is
:func:`palsyflow.landmarks.io.write_landmarks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import polars as pl

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.keyframes import select_keyframes
from palsyflow.landmarks.smoothing import smooth_points
from palsyflow.landmarks.mediapipe_backend import Detection, MediaPipeLandmarker
from palsyflow.landmarks.topology import N_POINTS, interocular_distance
from palsyflow.landmarks.tta import run_tta
from palsyflow.schemas import LANDMARK_SCHEMA, QUALITY_SCHEMA

__all__ = ["LandmarkError", "LandmarkResult", "extract_landmarks", "build_tables"]

_DEFAULT_FPS = 25.0


class LandmarkError(RuntimeError):
    """A recording could not be decoded (message: ``"<path>: <reason>"``)."""


@dataclass
class LandmarkResult:
    """Landmarks of one recording.

    Attributes
    ----------
    points : polars.DataFrame
        :data:`palsyflow.schemas.LANDMARK_SCHEMA`, ``n_frames * 478`` rows ordered by
        (frame, point); pixels of the orientation-corrected frame, pixel centres at
        integer coordinates, x right, y down; no-face frames have NaN x/y/z/spread and
        ``face_found`` False.
    quality : polars.DataFrame
        :data:`palsyflow.schemas.QUALITY_SCHEMA`, one row per frame. ``tta_copies`` is
        the number of TTA copies in which the face was found (0 for frames without
        TTA); ``tta_spread_px`` the median over points of the per-point spread (px,
        NaN without TTA), ``tta_spread_iod_pct`` the same in % of the inter-ocular
        distance (eye-corner midpoints); ``keyframe`` the key-frame name or null
        (photos: null).
    meta : dict
        JSON-serialisable: ``source``, ``kind``, ``width``, ``height`` (pixels),
        ``fps`` (frames/s; None for photos), ``n_frames``, ``backend``, ``n_points``
        (478), ``params_digest`` (``LandmarkParams.digest()``), ``keyframes``
        (name -> frame), ``tta_copies`` (copies requested), ``mediapipe_version``.
    """

    points: pl.DataFrame
    quality: pl.DataFrame
    meta: dict = field(default_factory=dict)

    def points_array(self) -> np.ndarray:
        """The points as an array, shape (n_frames, P, 3), float32, pixels (P = meta n_points)."""
        n = int(self.meta.get("n_frames", self.quality.height))
        return self.points.select("x", "y", "z").to_numpy().reshape(n, int(self.meta.get("n_points", N_POINTS)), 3)


def extract_landmarks(
    path: Path,
    kind: Literal["video", "photo"],
    params: LandmarkParams,
    model_path: Path,
) -> LandmarkResult:
    """Detect MediaPipe's 478 face landmarks in every frame of a video or in a photo.

    Videos are streamed frame by frame (``cv2.VideoCapture``); pass 1 runs MediaPipe in
    VIDEO mode (face tracking) on every frame; the tracks are optionally smoothed over
    time (``params.smoothing``, :func:`~palsyflow.landmarks.smoothing.smooth_points`).
    Then up to ``params.tta_keyframes`` key
    frames are chosen (:func:`~palsyflow.landmarks.keyframes.select_keyframes`:
    ``neutral`` from the first ``params.rest_window_s`` seconds, ``peak`` farthest
    from it, ...) and marked in ``quality.keyframe``. When
    ``params.tta_copies > 1`` those frames are decoded again (a second sequential pass
    that only grabs the other frames) and re-detected with test-time augmentation in
    IMAGE mode (:func:`~palsyflow.landmarks.tta.run_tta`); their rows carry the TTA
    median points and the per-point spread. Photos are read with PIL, EXIF orientation
    applied (``ImageOps.exif_transpose``), and TTA runs on the single frame 0.

    When several faces are visible the largest, most central one is kept
    (:func:`~palsyflow.landmarks.mediapipe_backend.choose_face`).

    Parameters
    ----------
    path : Path
        The recording.
    kind : {"video", "photo"}
    params : LandmarkParams
    model_path : Path
        ``face_landmarker.task``.

    Returns
    -------
    LandmarkResult
        A frame without a face is flagged (``face_found`` False, NaN coordinates),
        never an error.

    Raises
    ------
    LandmarkError
        ``"<path>: <reason>"`` if the file cannot be opened or decoded, or has no frame.
    ValueError
        If ``kind`` is unknown or ``params.backend`` is not ``"mediapipe"`` or ``"dlib"``
        (``"dlib"``: :func:`palsyflow.landmarks.dlib_backend.extract_dlib`, 68 points).
    FileNotFoundError
        If ``model_path`` does not exist.
    """
    path = Path(path)
    if params.backend == "dlib":
        from palsyflow.landmarks.dlib_backend import extract_dlib

        return extract_dlib(path, kind, params, Path(model_path))
    if params.backend != "mediapipe":
        raise ValueError(f"landmark backend {params.backend!r} is not implemented")
    if kind == "video":
        return _extract_video(path, params, Path(model_path))
    if kind == "photo":
        return _extract_photo(path, params, Path(model_path))
    raise ValueError(f"kind must be 'video' or 'photo', got {kind!r}")


# video ---------------------------------------------------------------------------------
def _open_video(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise LandmarkError(f"{path}: file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise LandmarkError(f"{path}: cannot be opened as a video")
    return cap


class _FrameStream:
    """Decode a video in a background thread, a few frames ahead (bounded queue).

    Iterating yields RGB uint8 frames in order; at most ``ahead`` decoded frames are
    held at once. ``cv2`` releases the GIL while decoding, so decoding overlaps with
    detection. Errors in the reader thread are re-raised in the consumer.
    """

    _END = object()

    def __init__(self, cap: cv2.VideoCapture, ahead: int = 4):
        import queue
        import threading

        self._cap = cap
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="palsyflow-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ok, bgr = self._cap.read()
                if not ok or bgr is None:
                    break
                self._put(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        except BaseException as exc:  # pragma: no cover - decoder crash
            self._put(exc)
        finally:
            self._put(self._END)

    def _put(self, item) -> None:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _extract_video(path: Path, params: LandmarkParams, model_path: Path) -> LandmarkResult:
    cap = _open_video(path)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not math.isfinite(fps) or fps <= 0.0 or fps > 1000.0:
        fps = _DEFAULT_FPS
    frames: list[np.ndarray] = []
    n_faces: list[int] = []
    width = height = 0
    stream = _FrameStream(cap)
    try:
        with MediaPipeLandmarker(model_path, "video", params) as lm:
            last_ts = -1
            for rgb in stream:
                if not frames:
                    height, width = rgb.shape[:2]
                ts = max(int(round(len(frames) * 1000.0 / fps)), last_ts + 1)
                last_ts = ts
                det = lm.detect(rgb, timestamp_ms=ts)
                pts = det.points
                frames.append(_NAN_FACE if pts is None else pts.astype(np.float32))
                n_faces.append(det.n_faces)
    finally:
        stream.close()
        cap.release()
    if not frames:
        raise LandmarkError(f"{path}: no decodable video frames")

    raw = np.stack(frames)  # (n, 478, 3) float32
    del frames
    points = smooth_points(raw, params, fps)
    if points is raw:
        points = raw.copy()
    n = points.shape[0]
    spread = np.full((n, N_POINTS), np.nan, dtype=np.float32)
    tta_found = np.zeros(n, dtype=np.int16)
    rest = max(1, int(round(params.rest_window_s * fps))) if params.rest_window_s > 0 else None
    keyframes = select_keyframes(points, params.tta_keyframes, rest_frames=rest) if params.tta_keyframes > 0 else {}

    if params.tta_copies > 1 and keyframes:
        wanted = sorted(set(keyframes.values()))
        images = _read_frames(path, wanted)
        with MediaPipeLandmarker(model_path, "image", params) as lm:
            for idx in wanted:
                rgb = images.get(idx)
                if rgb is None:
                    continue
                # copy 0 = the unaugmented (unsmoothed) VIDEO-mode detection of this frame
                copy0 = Detection(faces=raw[idx][None].astype(np.float64), chosen=0)
                res = run_tta(rgb, lm, params, copy0=copy0)
                if res.face_found:
                    points[idx] = res.points
                    spread[idx] = res.spread
                    tta_found[idx] = res.n_found

    key_names: list[str | None] = [None] * n
    for name, idx in keyframes.items():
        key_names[idx] = name
    times = np.arange(n, dtype=np.float64) / fps
    pts_df, q_df = build_tables(points, spread, np.asarray(n_faces, dtype=np.int16), tta_found, times, key_names)
    meta = _meta(path, "video", width, height, fps, n, params, keyframes)
    return LandmarkResult(points=pts_df, quality=q_df, meta=meta)


def _read_frames(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    """Decode only ``indices`` (sorted) in one sequential pass; RGB uint8 frames."""
    out: dict[int, np.ndarray] = {}
    if not indices:
        return out
    cap = _open_video(path)
    try:
        todo = set(indices)
        last = max(indices)
        i = 0
        while i <= last:
            if not cap.grab():
                break
            if i in todo:
                ok, bgr = cap.retrieve()
                if ok and bgr is not None:
                    out[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()
    return out


# photo ---------------------------------------------------------------------------------
def read_photo(path: Path) -> np.ndarray:
    """Read a photo upright: EXIF orientation applied, RGB uint8.

    Parameters
    ----------
    path : Path

    Returns
    -------
    ndarray, shape (H, W, 3), uint8, RGB, C-contiguous

    Raises
    ------
    LandmarkError
        If the file is missing or not a decodable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise LandmarkError(f"{path}: file not found")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise LandmarkError(f"{path}: cannot be decoded as an image ({exc})") from exc
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise LandmarkError(f"{path}: empty image")
    return np.ascontiguousarray(rgb)


def _extract_photo(path: Path, params: LandmarkParams, model_path: Path) -> LandmarkResult:
    rgb = read_photo(path)
    height, width = rgb.shape[:2]
    spread = np.full((1, N_POINTS), np.nan, dtype=np.float32)
    tta_found = np.zeros(1, dtype=np.int16)
    with MediaPipeLandmarker(model_path, "image", params) as lm:
        if params.tta_copies > 1:
            res = run_tta(rgb, lm, params)
            pts = res.points if res.face_found else None
            n_faces = res.n_faces
            if res.face_found:
                spread[0] = res.spread
                tta_found[0] = res.n_found
        else:
            det = lm.detect(rgb)
            pts, n_faces = det.points, det.n_faces
    points = (_NAN_FACE if pts is None else pts.astype(np.float32))[None]
    pts_df, q_df = build_tables(
        points, spread, np.array([n_faces], dtype=np.int16), tta_found, np.zeros(1), [None]
    )
    meta = _meta(path, "photo", width, height, None, 1, params, {})
    return LandmarkResult(points=pts_df, quality=q_df, meta=meta)


# tables --------------------------------------------------------------------------------
_NAN_FACE = np.full((N_POINTS, 3), np.nan, dtype=np.float32)
_NAN_FACE.setflags(write=False)


def build_tables(
    points: np.ndarray,
    spread: np.ndarray,
    n_faces: np.ndarray,
    tta_found: np.ndarray,
    times: np.ndarray,
    keyframe: list[str | None],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Build the points and quality tables from whole-recording arrays (vectorised).

    Parameters
    ----------
    points : ndarray, shape (n_frames, P, 3), pixels; NaN rows for no-face frames
        P = 478 (MediaPipe) or 68 (iBUG scheme; the IOD uses the iBUG eye corners).
    spread : ndarray, shape (n_frames, P), pixels; NaN where no TTA ran
    n_faces : ndarray, shape (n_frames,), int
    tta_found : ndarray, shape (n_frames,), int
        TTA copies with a face (0 when the frame had no TTA).
    times : ndarray, shape (n_frames,), seconds
    keyframe : list of str or None, length n_frames

    Returns
    -------
    points_df : polars.DataFrame, LANDMARK_SCHEMA, n_frames * P rows
    quality_df : polars.DataFrame, QUALITY_SCHEMA, n_frames rows
    """
    n, n_pts = points.shape[0], points.shape[1]  # 478 (MediaPipe) or 68 (iBUG: dlib, mapped)
    flat = np.ascontiguousarray(points, dtype=np.float32).reshape(n * n_pts, 3)
    found = np.isfinite(points[:, :, :2]).all(axis=(1, 2))
    pts_df = pl.DataFrame(
        [
            pl.Series("frame", np.repeat(np.arange(n, dtype=np.int32), n_pts), dtype=pl.Int32),
            pl.Series("point", np.tile(np.arange(n_pts, dtype=np.int16), n), dtype=pl.Int16),
            pl.Series("x", flat[:, 0], dtype=pl.Float32),
            pl.Series("y", flat[:, 1], dtype=pl.Float32),
            pl.Series("z", flat[:, 2], dtype=pl.Float32),
            pl.Series("spread", np.ascontiguousarray(spread, dtype=np.float32).reshape(-1), dtype=pl.Float32),
            pl.Series("face_found", np.repeat(found, n_pts), dtype=pl.Boolean),
        ]
    )
    has_tta = tta_found > 0
    with np.errstate(invalid="ignore", divide="ignore"), _quiet_nan():
        spread_px = np.where(has_tta, np.nanmedian(np.where(has_tta[:, None], spread, 0.0), axis=1), np.nan)
        if n_pts == N_POINTS:
            iod = interocular_distance(points)
        else:
            from palsyflow.landmarks.ibug68 import interocular_distance68

            iod = interocular_distance68(points)
        spread_pct = np.where(iod > 0, 100.0 * spread_px / iod, np.nan)
    q_df = pl.DataFrame(
        [
            pl.Series("frame", np.arange(n, dtype=np.int32), dtype=pl.Int32),
            pl.Series("time_s", np.asarray(times, dtype=np.float64), dtype=pl.Float64),
            pl.Series("face_found", found, dtype=pl.Boolean),
            pl.Series("n_faces", np.asarray(n_faces, dtype=np.int16), dtype=pl.Int16),
            pl.Series("tta_copies", np.asarray(tta_found, dtype=np.int16), dtype=pl.Int16),
            pl.Series("tta_spread_px", spread_px.astype(np.float32), dtype=pl.Float32),
            pl.Series("tta_spread_iod_pct", spread_pct.astype(np.float32), dtype=pl.Float32),
            pl.Series("keyframe", keyframe, dtype=pl.Utf8),
        ]
    )
    assert list(pts_df.schema.items()) == list(LANDMARK_SCHEMA.items())
    assert list(q_df.schema.items()) == list(QUALITY_SCHEMA.items())
    return pts_df, q_df


class _quiet_nan:
    """Silence numpy's all-NaN-slice RuntimeWarnings inside a block."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def _meta(
    path: Path,
    kind: str,
    width: int,
    height: int,
    fps: float | None,
    n_frames: int,
    params: LandmarkParams,
    keyframes: dict[str, int],
) -> dict:
    try:
        from importlib.metadata import version

        mp_version = version("mediapipe")
    except Exception:  # pragma: no cover - metadata missing
        mp_version = None
    return {
        "source": path.name,
        "kind": kind,
        "width": int(width),
        "height": int(height),
        "fps": fps,
        "n_frames": int(n_frames),
        "backend": params.backend,
        "n_points": N_POINTS,
        "params_digest": params.digest(),
        "keyframes": {k: int(v) for k, v in keyframes.items()},
        "tta_copies": int(params.tta_copies),
        "mediapipe_version": mp_version,
    }
