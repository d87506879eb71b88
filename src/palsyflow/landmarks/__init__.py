"""Face landmarks: MediaPipe 478-point mesh with test-time augmentation.

Public API: :func:`extract_landmarks` (one recording -> :class:`LandmarkResult`),
:func:`write_landmarks` / :func:`read_landmarks` (parquet), :class:`LandmarkError`.
Index maps and named points are in :mod:`palsyflow.landmarks.topology`.
"""

from palsyflow.landmarks.extract import LandmarkError, LandmarkResult, extract_landmarks
from palsyflow.landmarks.io import read_landmarks, write_landmarks

__all__ = ["LandmarkError", "LandmarkResult", "extract_landmarks", "read_landmarks", "write_landmarks"]
