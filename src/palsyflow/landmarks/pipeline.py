"""Per-recording landmark extraction: one video or photo in, a points and a quality table out.

One pipeline for every backend: media reader (:mod:`~palsyflow.landmarks.media`) ->
landmarker from the registry (:data:`~palsyflow.landmarks.backends.LANDMARKERS`) ->
temporal smoothing (:mod:`~palsyflow.landmarks.smoothing`) -> key frames
(:mod:`~palsyflow.landmarks.keyframes`) -> test-time augmentation
(:mod:`~palsyflow.landmarks.tta`) -> tables (:mod:`~palsyflow.landmarks.result`).

:func:`extract_landmarks` is a top-level, picklable function so executors can ship it
to worker processes (process pool, Dask). It reads the file itself; writing is
:func:`palsyflow.landmarks.io.write_landmarks`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

import numpy as np

from palsyflow.config import LandmarkParams
from palsyflow.landmarks.backends import landmarker_class
from palsyflow.landmarks.base import Detection, Landmarker
from palsyflow.landmarks.keyframes import select_keyframes
from palsyflow.landmarks.media import LandmarkError, PhotoReader, VideoReader, open_media
from palsyflow.landmarks.result import LandmarkResult, build_tables
from palsyflow.landmarks.smoothing import smooth_points
from palsyflow.landmarks.tta import run_tta, tta_enabled

__all__ = ["extract_landmarks"]


def extract_landmarks(
    path: Path,
    kind: Literal["video", "photo"],
    params: LandmarkParams,
    model_path: Path | None,
) -> LandmarkResult:
    """Detect face landmarks in every frame of a video or in a photo.

    The backend is ``params.backend`` (:data:`~palsyflow.landmarks.backends.LANDMARKERS`:
    ``"mediapipe"``, 478 points; ``"dlib"``, 68 iBUG points, z NaN).

    Videos are streamed frame by frame (:class:`~palsyflow.landmarks.media.VideoReader`);
    pass 1 runs the landmarker in video mode on every frame (MediaPipe tracks the face;
    dlib detects each frame on its own); the tracks are optionally smoothed over time
    (``params.smoothing``, :func:`~palsyflow.landmarks.smoothing.smooth_points`). Then
    up to ``params.tta_keyframes`` key frames are chosen
    (:func:`~palsyflow.landmarks.keyframes.select_keyframes`: ``neutral`` from the first
    ``params.rest_window_s`` seconds, ``peak`` farthest from it, ...) and marked in
    ``quality.keyframe``. When TTA is on (``params.tta_copies > 1``,
    :func:`~palsyflow.landmarks.tta.tta_enabled`) those frames are decoded again (a
    second sequential pass that only grabs the other frames) and re-detected with
    test-time augmentation in image mode (:func:`~palsyflow.landmarks.tta.run_tta`);
    a tracking backend's pass-1 detection of the frame is TTA copy 0. Their rows carry
    the TTA median points and the per-point spread. Photos are read with EXIF
    orientation applied (:class:`~palsyflow.landmarks.media.PhotoReader`) and detected
    once, with TTA when it is on.

    When several faces are visible the largest, most central one is kept
    (:func:`~palsyflow.landmarks.base.choose_face`).

    Parameters
    ----------
    path : Path
        The recording.
    kind : {"video", "photo"}
    params : LandmarkParams
    model_path : Path or None
        ``face_landmarker.task`` (MediaPipe; for dlib the optional fallback detector,
        None or a missing file: no fallback).

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
        If ``kind`` is unknown or ``params.backend`` is not a registered backend.
    FileNotFoundError
        If the MediaPipe backend's ``model_path`` does not exist.
    """
    path = Path(path)
    backend = landmarker_class(params.backend)
    tta = tta_enabled(params)
    with open_media(path, kind) as media:
        if isinstance(media, PhotoReader):
            return _photo(media, backend, params, model_path, tta)
        return _video(media, backend, params, model_path, tta)


def _open(backend: type, model_path: Path | None, mode: str, params: LandmarkParams) -> Landmarker:
    return backend(None if model_path is None else Path(model_path), mode, params)


def _photo(media: PhotoReader, backend: type, params: LandmarkParams, model_path: Path | None, tta: bool) -> LandmarkResult:
    rgb = media.rgb
    height, width = rgb.shape[:2]
    with _open(backend, model_path, "image", params) as lm:
        scheme = lm.scheme
        spread = np.full((1, scheme.n_points), np.nan, dtype=np.float32)
        tta_found = np.zeros(1, dtype=np.int16)
        if tta:
            res = run_tta(rgb, lm, params)
            pts = res.points if res.face_found else None
            n_faces = res.n_faces
            if res.face_found:
                spread[0] = res.spread
                tta_found[0] = res.n_found
        else:
            det = lm.detect(rgb)
            pts, n_faces = det.points, det.n_faces
        backend_meta = lm.describe()
    points = (_nan_face(scheme.n_points) if pts is None else pts.astype(np.float32))[None]
    pts_df, q_df = build_tables(
        points, spread, np.array([n_faces], dtype=np.int16), tta_found, np.zeros(1), [None], scheme
    )
    meta = _meta(media.path, "photo", width, height, None, 1, params, {}, scheme.n_points, backend_meta)
    return LandmarkResult(points=pts_df, quality=q_df, meta=meta)


def _video(media: VideoReader, backend: type, params: LandmarkParams, model_path: Path | None, tta: bool) -> LandmarkResult:
    fps = media.fps
    frames: list[np.ndarray] = []
    n_faces: list[int] = []
    width = height = 0
    with _open(backend, model_path, "video", params) as lm:
        scheme, tracks = lm.scheme, lm.tracks
        no_face = _nan_face(scheme.n_points)
        for frame in media.frames():
            if not frames:
                height, width = frame.rgb.shape[:2]
            det = lm.detect(frame.rgb, timestamp_ms=frame.timestamp_ms)
            pts = det.points
            frames.append(no_face if pts is None else pts.astype(np.float32))
            n_faces.append(det.n_faces)
        backend_meta = lm.describe()
    if not frames:
        raise LandmarkError(f"{media.path}: no decodable video frames")

    raw = np.stack(frames)  # (n, n_points, 3) float32
    del frames
    points = smooth_points(raw, params, fps)
    if points is raw:
        points = raw.copy()
    n = points.shape[0]
    spread = np.full((n, scheme.n_points), np.nan, dtype=np.float32)
    tta_found = np.zeros(n, dtype=np.int16)
    rest = max(1, int(round(params.rest_window_s * fps))) if params.rest_window_s > 0 else None
    keyframes = (
        select_keyframes(points, params.tta_keyframes, rest_frames=rest, scheme=scheme) if params.tta_keyframes > 0 else {}
    )

    if tta and keyframes:
        wanted = sorted(set(keyframes.values()))
        images = media.read_frames(wanted)
        with _open(backend, model_path, "image", params) as lm:
            for idx in wanted:
                rgb = images.get(idx)
                if rgb is None:
                    continue
                # a tracker's copy 0 = its unaugmented (unsmoothed) video-mode detection of this frame
                copy0 = Detection(faces=raw[idx][None].astype(np.float64), chosen=0) if tracks else None
                res = run_tta(rgb, lm, params, copy0=copy0)
                if res.face_found:
                    points[idx] = res.points
                    spread[idx] = res.spread
                    tta_found[idx] = res.n_found

    key_names: list[str | None] = [None] * n
    for name, idx in keyframes.items():
        key_names[idx] = name
    times = np.arange(n, dtype=np.float64) / fps
    pts_df, q_df = build_tables(
        points, spread, np.asarray(n_faces, dtype=np.int16), tta_found, times, key_names, scheme
    )
    meta = _meta(media.path, "video", width, height, fps, n, params, keyframes, scheme.n_points, backend_meta)
    return LandmarkResult(points=pts_df, quality=q_df, meta=meta)


def _nan_face(n_points: int) -> np.ndarray:
    face = np.full((n_points, 3), np.nan, dtype=np.float32)
    face.setflags(write=False)
    return face


def _meta(
    path: Path,
    kind: str,
    width: int,
    height: int,
    fps: float | None,
    n_frames: int,
    params: LandmarkParams,
    keyframes: dict[str, int],
    n_points: int,
    backend_meta: dict,
) -> dict:
    try:
        mp_version = version("mediapipe")
    except PackageNotFoundError:  # pragma: no cover - metadata missing
        mp_version = None
    return {
        "source": path.name,
        "kind": kind,
        "width": int(width),
        "height": int(height),
        "fps": fps,
        "n_frames": int(n_frames),
        "backend": params.backend,
        "n_points": int(n_points),
        "params_digest": params.digest(),
        "keyframes": {k: int(v) for k, v in keyframes.items()},
        "tta_copies": int(params.tta_copies),
        "mediapipe_version": mp_version,
        **backend_meta,
    }
