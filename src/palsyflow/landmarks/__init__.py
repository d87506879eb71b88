"""Face landmarks: backends behind one protocol, one pipeline, test-time augmentation.

Public API: :func:`extract_landmarks` (one recording -> :class:`LandmarkResult`),
:func:`write_landmarks` / :func:`read_landmarks` (parquet), :class:`LandmarkError`.

Layout: :mod:`~palsyflow.landmarks.base` (the ``Landmarker`` protocol),
:mod:`~palsyflow.landmarks.backends` (MediaPipe, dlib; registry ``LANDMARKERS``),
:mod:`~palsyflow.landmarks.schemes` (mirror pairs, eye corners and named points per
landmark scheme), :mod:`~palsyflow.landmarks.media` (video and photo reader),
:mod:`~palsyflow.landmarks.tta`, :mod:`~palsyflow.landmarks.keyframes`,
:mod:`~palsyflow.landmarks.smoothing`, :mod:`~palsyflow.landmarks.pipeline`,
:mod:`~palsyflow.landmarks.result` (tables), :mod:`~palsyflow.landmarks.io` (parquet),
:mod:`~palsyflow.landmarks.model` (fetch and verify the MediaPipe model).
"""

from palsyflow.landmarks.io import read_landmarks, write_landmarks
from palsyflow.landmarks.media import LandmarkError
from palsyflow.landmarks.pipeline import extract_landmarks
from palsyflow.landmarks.result import LandmarkResult

__all__ = ["LandmarkError", "LandmarkResult", "extract_landmarks", "read_landmarks", "write_landmarks"]
