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
from palsyflow.landmarks.base import Detection, Landmarker, unclear_subject
from palsyflow.landmarks.crop import CropMap, cut_crop
from palsyflow.landmarks.keyframes import select_keyframes
from palsyflow.landmarks.media import LandmarkError, PhotoReader, VideoReader, open_media
from palsyflow.landmarks.proposals import FoundFaces, find_faces, hog_boxes, lone_face_problem
from palsyflow.landmarks.result import LandmarkResult, build_tables
from palsyflow.landmarks.smoothing import smooth_points
from palsyflow.landmarks.tta import TTAResult, run_tta, tta_enabled

__all__ = ["detect_frame", "extract_landmarks"]


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

    A photo in which the plain pass finds no face is searched again with face-box
    proposals (``params.proposals``, :func:`~palsyflow.landmarks.proposals.find_faces`:
    the whole frame in a grey border, dlib HOG boxes; landmarks on each crop, mapped
    back to frame pixels); with TTA on, the copies are then rendered from the crop the
    face was found in. A video whose first pass finds a face in no frame is searched
    the same way on :data:`VIDEO_PROBES` evenly spaced frames; the crop of the first
    face found is then cut from every frame and the first pass run again on those
    crops (``meta["proposal_roi"]``: its ``[x0, y0, side]``, frame pixels); key frames
    and TTA follow on the full frames. Where the plain pass finds a face nothing
    changes.

    When several faces are visible one must clearly be the subject
    (:func:`~palsyflow.landmarks.base.unclear_subject`: largest by
    ``params.subject_min_size_ratio`` and within ``params.subject_max_centre_offset``
    of the centre), otherwise the recording is refused (in a video: on its key frames).
    A photo in which the landmarker finds one face is also searched with dlib HOG for
    faces it missed (:func:`~palsyflow.landmarks.proposals.lone_face_problem`,
    ``params.subject_hog_upsample``) and refused the same way; video frames are not.
    The kept face is the largest, most central one
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
        ``"<path>: <reason>"`` if the file cannot be opened or decoded, or has no frame;
        ``"<file name>: <n> faces and none is clearly the subject (...); upload a photo
        of the patient alone"`` when several faces are seen and none is clearly the
        subject.
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
        det, found = detect_frame(rgb, lm, params)
        _check_subject(media.path, det, rgb, params)
        if det.n_faces == 1:  # photos only: MediaPipe misses faces of group photos, HOG looks for them
            why = lone_face_problem(rgb, det.faces[0], params)
            if why:
                raise LandmarkError(f"{Path(media.path).name}: {why}; upload a photo of the patient alone")
        if tta:
            res = _tta(rgb, lm, params, det, found)
            pts = res.points if res.face_found else None
            n_faces = det.n_faces
            if res.face_found:
                spread[0] = res.spread
                tta_found[0] = res.n_found
        else:
            pts, n_faces = det.points, det.n_faces
        backend_meta = lm.describe()
    points = (_nan_face(scheme.n_points) if pts is None else pts.astype(np.float32))[None]
    pts_df, q_df = build_tables(
        points, spread, np.array([n_faces], dtype=np.int16), tta_found, np.zeros(1), [None], scheme
    )
    meta = _meta(media.path, "photo", width, height, None, 1, params, {}, scheme.n_points, backend_meta)
    return LandmarkResult(points=pts_df, quality=q_df, meta=meta)


def detect_frame(rgb: np.ndarray, lm: Landmarker, params: LandmarkParams) -> tuple[Detection, FoundFaces | None]:
    """Faces in one frame: the plain pass, then the proposals when it found no face.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8, RGB
    lm : Landmarker
        In IMAGE mode.
    params : LandmarkParams
        ``proposals`` switches the second search
        (:func:`~palsyflow.landmarks.proposals.find_faces`) on.

    Returns
    -------
    detection : Detection
        Full-frame pixels; the plain pass's when it found a face (or nothing else did).
    found : FoundFaces or None
        The proposals' result when they found the face(s), else None.
    """
    det = lm.detect(rgb)
    if det.chosen is not None or not params.proposals:
        return det, None
    found = find_faces(rgb, lm, params)
    if found.detection.chosen is None:
        return det, None
    return found.detection, found


def _tta(rgb: np.ndarray, lm: Landmarker, params: LandmarkParams, det: Detection, found: FoundFaces | None) -> TTAResult:
    """TTA on the frame (copy 0 = the plain detection ``det``) or, for a face the proposals
    found, on the crop it was found in, mapped back to frame pixels."""
    if found is None:
        return run_tta(rgb, lm, params, copy0=det)
    canvas, crop = found.chosen_crop
    res = run_tta(canvas, lm, params)
    if not res.face_found:  # the crop's TTA lost it: keep the proposal's detection
        pts = det.points
        return TTAResult(pts, np.full(pts.shape[0], np.nan), 1, res.n_copies, det.n_faces)
    return TTAResult(crop.to_frame(res.points), res.spread / crop.scale, res.n_found, res.n_copies, det.n_faces)


def _check_subject(path: Path, det: Detection, rgb: np.ndarray, params: LandmarkParams, where: str = "") -> None:
    """Raise :class:`LandmarkError` when several faces are seen and none is clearly the subject.

    The count in the message adds the dlib HOG boxes that lie in none of the faces
    found (MediaPipe misses some faces of a group photo).
    """
    if det.n_faces <= 1:
        return
    height, width = rgb.shape[:2]
    p = params
    if unclear_subject(det.faces, width, height, p.subject_min_size_ratio, p.subject_max_centre_offset) is None:
        return
    xy = det.faces[..., :2]
    lo, hi = np.nanmin(xy, axis=1), np.nanmax(xy, axis=1)
    boxes = hog_boxes(rgb, p.proposal_hog_max_side, p.proposal_hog_upsample, max_boxes=64)
    extra = sum(
        1 for cx, cy, _ in boxes if not np.any((lo[:, 0] <= cx) & (cx <= hi[:, 0]) & (lo[:, 1] <= cy) & (cy <= hi[:, 1]))
    )
    why = unclear_subject(
        det.faces, width, height, p.subject_min_size_ratio, p.subject_max_centre_offset, n_seen=det.n_faces + extra
    )
    raise LandmarkError(f"{Path(path).name}: {where}{why}; upload a photo of the patient alone")


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
    if params.proposals and not np.isfinite(raw[..., 0]).any():
        roi = _video_roi(media, backend, model_path, params, raw.shape[0])
        if roi is not None:
            raw, n_faces = _roi_pass(media.path, backend, model_path, params, roi, raw.shape[0])
            backend_meta = {**backend_meta, "proposal_roi": [roi.x0, roi.y0, roi.side]}
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

    # key frames re-read: all with TTA; without, those where several faces were seen (the subject rule)
    wanted = sorted(i for i in set(keyframes.values()) if tta or n_faces[i] > 1)
    if wanted:
        images = media.read_frames(wanted)
        with _open(backend, model_path, "image", params) as lm:
            for idx in wanted:
                rgb = images.get(idx)
                if rgb is None:
                    continue
                if n_faces[idx] > 1:
                    where = f"key frame {idx} ({idx / fps:.2f} s): "
                    _check_subject(media.path, lm.detect(rgb), rgb, params, where)
                if not tta:
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


#: Frames of a video without any face in the first pass that the proposals search, evenly spaced.
VIDEO_PROBES = 4


def _video_roi(media: VideoReader, backend: type, model_path: Path | None, params: LandmarkParams, n: int) -> CropMap | None:
    """The proposal crop of the first of :data:`VIDEO_PROBES` evenly spaced frames with a face found."""
    probes = sorted({int(round(i)) for i in np.linspace(0, n - 1, min(VIDEO_PROBES, n))})
    images = media.read_frames(probes)
    with _open(backend, model_path, "image", params) as lm:
        for idx in probes:
            if idx in images:
                found = find_faces(images[idx], lm, params)
                if found.chosen_crop is not None:
                    return found.chosen_crop[1]
    return None


def _roi_pass(
    path: Path, backend: type, model_path: Path | None, params: LandmarkParams, roi: CropMap, n: int
) -> tuple[np.ndarray, list[int]]:
    """The first pass again on the proposal's square cut from every frame, mapped back to frame pixels."""
    frames: list[np.ndarray] = []
    n_faces: list[int] = []
    with VideoReader(path) as media, _open(backend, model_path, "video", params) as lm:
        no_face = _nan_face(lm.scheme.n_points)
        for frame in media.frames():
            canvas, _ = cut_crop(frame.rgb, roi, border="constant", fill=int(params.proposal_pad_grey))
            det = lm.detect(canvas, timestamp_ms=frame.timestamp_ms)
            pts = det.points
            frames.append(no_face if pts is None else roi.to_frame(pts).astype(np.float32))
            n_faces.append(det.n_faces)
    if len(frames) != n:  # the second decode must see the same frames
        raise LandmarkError(f"{path}: {len(frames)} frames decoded on the second pass, {n} on the first")
    return np.stack(frames), n_faces


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
