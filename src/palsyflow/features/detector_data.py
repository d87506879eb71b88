"""The detector's training data: a labels CSV -> per-photo features, before and after re-framing.

The labels CSV has a header with ``file`` and ``label`` (``palsy`` / ``healthy``) and
optionally ``group`` (a subject or video id that must stay in one fold); ``file`` paths
are relative to the CSV. Each photo is read upright (:func:`palsyflow.landmarks.media.read_photo`),
its face found by the MediaPipe landmarker (:func:`palsyflow.landmarks.pipeline.detect_frame`,
with the padded retry and proposals), re-framed (:func:`palsyflow.features.photo.reframe`)
and landmarked again; the detector's features come from the re-framed photo only.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from palsyflow.config import DetectorParams, LandmarkParams
from palsyflow.ingest.tasks import canonical_task
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker
from palsyflow.landmarks.media import LandmarkError, VideoReader, read_photo
from palsyflow.landmarks.pipeline import detect_frame
from palsyflow.features.photo import DETECTOR_FEATURES, FRAMING_FEATURES, dhash, framing_features, photo_features, reframe

__all__ = ["LabelRow", "PhotoTable", "extract_images", "read_labels"]

LABELS = ("palsy", "healthy")


@dataclass(frozen=True)
class LabelRow:
    """One line of a labels CSV: the photo's absolute path, ``palsy`` flag, optional group."""

    path: Path
    palsy: bool
    group: str | None = None
    line: int = 0


def read_labels(csv_path: Path) -> list[LabelRow]:
    """Read a ``file,label[,group]`` CSV (paths relative to the CSV).

    Raises
    ------
    ValueError
        One sentence naming the CSV, the line and the reason: missing columns, a label
        other than ``palsy`` / ``healthy``, an empty file name.
    """
    csv_path = Path(csv_path)
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        if not {"file", "label"} <= cols:
            raise ValueError(f"{csv_path} line 1: needs columns file,label; has {sorted(cols)}")
        rows = []
        for n, r in enumerate(reader, start=2):
            label = (r.get("label") or "").strip().lower()
            name = (r.get("file") or "").strip()
            if not name:
                raise ValueError(f"{csv_path} line {n}: empty file name")
            if label not in LABELS:
                raise ValueError(f"{csv_path} line {n}: {name}: label must be palsy or healthy, got {r.get('label')!r}")
            group = (r.get("group") or "").strip() or None
            rows.append(LabelRow(csv_path.parent / name, label == "palsy", group, n))
    return rows


@dataclass
class PhotoTable:
    """Per-photo arrays (row i = image i of the input).

    Attributes
    ----------
    features : ndarray, shape (n, len(DETECTOR_FEATURES))
        On the re-framed photo; NaN rows where no face was found.
    features_before : ndarray, shape (n, len(DETECTOR_FEATURES))
        On the photo as given (for the before/after comparison only).
    framing_before, framing_after : ndarray, shape (n, len(FRAMING_FEATURES))
        :func:`framing_features` of the photo as given and as re-framed.
    hashes : list of int
        :func:`dhash` of the re-framed photo (of the photo as given when no face).
    face : ndarray of bool, shape (n,)
        A face was found in the photo and in its re-framed version.
    problems : list of str
        One sentence per photo that could not be used.
    """

    features: np.ndarray
    features_before: np.ndarray
    framing_before: np.ndarray
    framing_after: np.ndarray
    hashes: list[int]
    face: np.ndarray
    problems: list[str] = field(default_factory=list)


def extract_images(images: Iterable[tuple[str, np.ndarray | None]], model_path: Path, params: DetectorParams, lm_params: LandmarkParams | None = None) -> PhotoTable:
    """Landmark, re-frame and measure each image.

    Parameters
    ----------
    images : iterable of (name, rgb or None)
        ``rgb``: (H, W, 3) uint8; None for an unreadable file (recorded as a problem).
    model_path : Path
        MediaPipe ``face_landmarker.task``.
    params : DetectorParams
    lm_params : LandmarkParams, optional

    Returns
    -------
    PhotoTable
    """
    lm_params = lm_params or LandmarkParams()
    feats, feats0, before, after, hashes, face, problems = [], [], [], [], [], [], []
    nan_f = np.full(len(DETECTOR_FEATURES), np.nan)
    nan_fr = np.full(len(FRAMING_FEATURES), np.nan)
    with MediaPipeLandmarker(Path(model_path), "image", lm_params) as lm:
        for name, rgb in images:
            if rgb is None:
                feats.append(nan_f), feats0.append(nan_f), before.append(nan_fr), after.append(nan_fr), hashes.append(0), face.append(False)
                problems.append(f"{name}: cannot be decoded as an image")
                continue
            det, _ = detect_frame(rgb, lm, lm_params)
            pts = det.points
            before.append(np.array(list(framing_features(rgb, pts).values())))
            if pts is None:
                feats0.append(nan_f), feats.append(nan_f), after.append(nan_fr), hashes.append(dhash(rgb)), face.append(False)
                problems.append(f"{name}: no face found")
                continue
            feats0.append(np.array([photo_features(pts)[k] for k in DETECTOR_FEATURES]))
            crop = reframe(rgb, pts, params)
            hashes.append(dhash(crop))
            det2, _ = detect_frame(crop, lm, lm_params)
            pts2 = det2.points
            after.append(np.array(list(framing_features(crop, pts2).values())))
            if pts2 is None:
                feats.append(nan_f), face.append(False)
                problems.append(f"{name}: no face found after re-framing")
                continue
            feats.append(np.array([photo_features(pts2)[k] for k in DETECTOR_FEATURES]))
            face.append(True)
    n = len(face)
    return PhotoTable(
        np.array(feats).reshape(n, len(DETECTOR_FEATURES)),
        np.array(feats0).reshape(n, len(DETECTOR_FEATURES)),
        np.array(before).reshape(n, len(FRAMING_FEATURES)),
        np.array(after).reshape(n, len(FRAMING_FEATURES)),
        hashes,
        np.array(face, dtype=bool),
        problems,
    )


def read_images(rows: Iterable[LabelRow]) -> Iterable[tuple[str, np.ndarray | None]]:
    """(name, upright RGB or None) of each labelled photo, read lazily."""
    for r in rows:
        try:
            yield str(r.path), read_photo(r.path)
        except LandmarkError:
            yield str(r.path), None


def rest_image(path: Path, rest_window_s: float) -> np.ndarray:
    """The face at rest of a rest recording: the photo itself, or a video's frame in the middle
    of its leading rest window (``landmarks.rest_window_s``, where the neutral key frame is
    looked for), else its first frame.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8, RGB

    Raises
    ------
    LandmarkError
        If the file is neither a readable photo nor a video with a frame.
    """
    try:
        return read_photo(path)
    except LandmarkError:
        pass
    with VideoReader(path) as video:
        index = int(round(video.fps * rest_window_s / 2))
        frames = video.read_frames([index])
    if index not in frames:
        with VideoReader(path) as video:
            frames = video.read_frames([0])
    if not frames:
        raise LandmarkError(f"{path.name}: no frame decodes")
    return next(iter(frames.values()))


def session_rest_features(
    files: dict[str, Path], aliases: dict[str, str], model_path: Path, params: DetectorParams, lm_params: LandmarkParams | None = None
) -> tuple[dict[str, float] | None, str | None]:
    """The detector's features of a session's rest photo (or rest video frame, :func:`rest_image`), re-framed as in training.

    Parameters
    ----------
    files : dict
        Task name (clinic aliases accepted) -> file, as given to ``palsyflow measure``.
    aliases : dict
        ``IngestParams.task_aliases``.
    model_path : Path
    params : DetectorParams
    lm_params : LandmarkParams, optional

    Returns
    -------
    (features, reason)
        Features of :func:`palsyflow.features.photo.photo_features` and None, or None
        and the sentence saying why there are none (no rest task, an unreadable file, no face).
    """
    rest = [p for t, p in files.items() if canonical_task(t, aliases) == "rest"]
    if not rest:
        return None, "no rest recording in the session"
    try:
        rgb = rest_image(Path(rest[0]), (lm_params or LandmarkParams()).rest_window_s)
    except LandmarkError as exc:
        return None, f"the rest recording could not be read ({exc})"
    tab = extract_images([(str(rest[0]), rgb)], model_path, params, lm_params)
    if not tab.face[0]:
        return None, tab.problems[0]
    return dict(zip(DETECTOR_FEATURES, tab.features[0].tolist())), None
