"""Landmark backends: one :class:`~palsyflow.landmarks.base.Landmarker` per detector.

:data:`LANDMARKERS` maps the ``LandmarkParams.backend`` names to the classes; each is
constructed as ``cls(model_path, mode, params)``.

- ``"mediapipe"``: :class:`~palsyflow.landmarks.backends.mediapipe.MediaPipeLandmarker`
- ``"dlib"``: :class:`~palsyflow.landmarks.backends.dlib.DlibLandmarker`
"""

from __future__ import annotations

from palsyflow.landmarks.backends.dlib import DlibLandmarker
from palsyflow.landmarks.backends.mediapipe import MediaPipeLandmarker

__all__ = ["LANDMARKERS", "DlibLandmarker", "MediaPipeLandmarker", "landmarker_class"]

#: Backend name (``LandmarkParams.backend``) -> Landmarker class.
LANDMARKERS: dict[str, type] = {"mediapipe": MediaPipeLandmarker, "dlib": DlibLandmarker}


def landmarker_class(name: str) -> type:
    """The Landmarker class registered as ``name``.

    Raises
    ------
    ValueError
        If no backend of that name is registered.
    """
    try:
        return LANDMARKERS[name]
    except KeyError:
        raise ValueError(f"landmark backend {name!r} is not implemented") from None
