"""What every landmark scheme declares: point count, mirror pairs, eye corners, depth.

A :class:`Scheme` is the part of a landmark layout that the scheme-independent code
(test-time augmentation, key frames, smoothing, the quality table) needs. Each scheme
module (:mod:`~palsyflow.landmarks.schemes.mediapipe478`,
:mod:`~palsyflow.landmarks.schemes.ibug68`) defines its facts once and exports one
``SCHEME`` built from them.

Pixel convention (all schemes): the centre of pixel column ``i`` is at ``x = i`` (as
``cv2.warpAffine``, ``cv2.resize`` and ``cv2.flip``), x right, y down; ``cv2.flip``
moves column ``i`` to ``W - 1 - i``, so a mirrored point is ``x' = W - 1 - x``. Sides
are the PATIENT's: the patient's right eye is on the image left of an unmirrored
frontal image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Scheme", "mirror_points"]


def mirror_points(points: np.ndarray, width: int, pairs: np.ndarray) -> np.ndarray:
    """Mirror landmarks of any scheme: ``x -> width - 1 - x`` and re-index by ``pairs``.

    Parameters
    ----------
    points : ndarray, shape (..., n_points, D), pixels, x right y down
    width : int
        Image width in pixels (pixel centres at integer x, as ``cv2.flip``).
    pairs : ndarray of int, shape (n_points,)
        The scheme's symmetric pair permutation (``MP_FLIP``, ``IBUG68_FLIP``).

    Returns
    -------
    ndarray, same shape and dtype (a new array)

    Raises
    ------
    ValueError
        If the point axis does not match ``pairs``.
    """
    points = np.asarray(points)
    n = len(pairs)
    if points.ndim < 2 or points.shape[-2] != n:
        raise ValueError(f"expected shape (..., {n}, D), got {points.shape}")
    out = points[..., pairs, :].copy()
    out[..., 0] = (width - 1) - out[..., 0]
    return out


@dataclass(frozen=True, eq=False)
class Scheme:
    """The facts of one landmark scheme that scheme-independent code relies on.

    Attributes
    ----------
    name : str
        ``"mediapipe478"`` or ``"ibug68"`` (the ``--scheme`` names of the CLI).
    n_points : int
        Points per face.
    flip : ndarray of int, shape (n_points,)
        Mirror permutation: ``flip[i]`` is the point that is the mirror image of point
        ``i`` (an involution; midline points map to themselves).
    right_eye_corners, left_eye_corners : tuple of int
        The two corners of the patient's right eye (image left) and left eye. Their
        midpoints are the eye centres: the origin and scale of the key-frame picker's
        face frame and of the inter-ocular distance (:meth:`interocular_distance`),
        chosen because they stay defined when the eyes close.
    has_depth : bool
        The detector gives a z coordinate; without it z is NaN in every frame.
    """

    name: str
    n_points: int
    flip: np.ndarray
    right_eye_corners: tuple[int, int]
    left_eye_corners: tuple[int, int]
    has_depth: bool

    def mirror(self, points: np.ndarray, width: int) -> np.ndarray:
        """Mirror points horizontally and swap left/right indices (:func:`mirror_points`).

        Parameters
        ----------
        points : ndarray, shape (..., n_points, D), pixels, x first
        width : int
            Image width, pixels.

        Returns
        -------
        ndarray, same shape and dtype (a new array); applying it twice returns the input.

        Raises
        ------
        ValueError
            If the point axis is not ``n_points`` long.
        """
        return mirror_points(points, width, self.flip)

    def eye_centres(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eye centres as the midpoints of each eye's two corners.

        Computed in the dtype of ``points``.

        Parameters
        ----------
        points : ndarray, shape (..., n_points, D>=2), pixels, x right y down

        Returns
        -------
        right, left : ndarray, shape (..., 2)
            The patient's right and left eye centres (x, y), pixels.
        """
        p = np.asarray(points)[..., :2]
        right = p[..., list(self.right_eye_corners), :].mean(axis=-2)
        left = p[..., list(self.left_eye_corners), :].mean(axis=-2)
        return right, left

    def interocular_distance(self, points: np.ndarray) -> np.ndarray:
        """Inter-ocular distance: between the eye-corner midpoints (:meth:`eye_centres`).

        The same definition in every scheme, so ``tta_spread_iod_pct`` and the TTA face
        gate mean the same for every backend.

        Parameters
        ----------
        points : ndarray, shape (..., n_points, D>=2), pixels

        Returns
        -------
        ndarray, shape (...), pixels; NaN where the points are NaN
        """
        right, left = self.eye_centres(points)
        return np.linalg.norm(left - right, axis=-1)
