"""Landmark schemes: one module per scheme, each exporting one ``SCHEME``.

- :mod:`~palsyflow.landmarks.schemes.mediapipe478`: MediaPipe's 478-point mesh with irises.
- :mod:`~palsyflow.landmarks.schemes.ibug68`: the iBUG 68-point markup (dlib), and the
  MediaPipe -> iBUG map with its learned offsets.

:data:`SCHEMES` names them; :func:`scheme_for_points` finds a scheme from an array's
point axis (478 or 68 points, unambiguous).
"""

from __future__ import annotations

import numpy as np

from palsyflow.landmarks.schemes import ibug68, mediapipe478
from palsyflow.landmarks.schemes.base import Scheme

__all__ = ["SCHEMES", "Scheme", "get_scheme", "scheme_for_points"]

#: Scheme name -> :class:`~palsyflow.landmarks.schemes.base.Scheme`.
SCHEMES: dict[str, Scheme] = {s.name: s for s in (mediapipe478.SCHEME, ibug68.SCHEME)}

_BY_COUNT: dict[int, Scheme] = {s.n_points: s for s in SCHEMES.values()}


def get_scheme(name: str) -> Scheme:
    """The scheme called ``name``.

    Raises
    ------
    ValueError
        If no scheme has that name.
    """
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"scheme must be one of {tuple(SCHEMES)}, got {name!r}") from None


def scheme_for_points(points: np.ndarray) -> Scheme:
    """The scheme whose point count matches the second-to-last axis of ``points``.

    Parameters
    ----------
    points : ndarray, shape (..., n_points, D)

    Returns
    -------
    Scheme

    Raises
    ------
    ValueError
        If no scheme has ``n_points`` points.
    """
    shape = np.shape(points)
    n = shape[-2] if len(shape) >= 2 else None
    if n not in _BY_COUNT:
        raise ValueError(f"no landmark scheme has {n} points (shape {shape}); known: {sorted(_BY_COUNT)}")
    return _BY_COUNT[n]
