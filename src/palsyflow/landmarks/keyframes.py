"""Key frames of a recording: the most neutral frame and the expression peak.

Method
------
1. Every frame with a face is normalised for head position, in-plane rotation and
   size: points are expressed in the face frame of :mod:`palsyflow.conventions`
   (origin at the midpoint of the eye centres, x along the eye line, unit = the
   inter-ocular distance, IOD). Eye centres are eye-corner midpoints, which stay
   defined when the eyes close; the scheme names the corners
   (:class:`~palsyflow.landmarks.schemes.base.Scheme`), so the same picker serves
   478-point and 68-point tracks, every point weighing the same in the distances.
   Frames in runs of fewer than :data:`MIN_RUN` consecutive face frames are not
   candidates (in video, a face seen for one or two frames is usually a false
   detection or a face entering/leaving), unless no longer run exists.
2. The reference shape is the per-point median of the normalised frames within the
   rest window: the candidate frames among the ``rest_frames`` frames that start at
   the first candidate (recordings of the session protocol start at rest before the
   movement is performed; the window opens when the face first appears), or all
   frames when ``rest_frames`` is None.
3. ``neutral`` is the frame of that window with the smallest root-mean-square point
   distance to the reference shape (in IOD); the median discounts blinks and brief
   movements inside the window. (Using the whole recording instead would make a held
   expression, e.g. a smile held for most of the clip, the "neutral" frame.)
4. ``peak`` is the frame farthest (RMS, IOD) from the neutral frame.
5. Further key frames (``key2``, ``key3``, ...) are picked by farthest-point sampling:
   each maximises its minimum distance to the frames already chosen (Gonzalez 1985,
   "Clustering to minimize the maximum intercluster distance", Theor. Comput. Sci.
   38:293-306, doi:10.1016/0304-3975(85)90224-5).

Procrustes-style normalisation by the eye line follows Gower 1975, "Generalized
Procrustes analysis", Psychometrika 40:33-51, doi:10.1007/BF02291478 (here restricted
to translation, rotation and scale fixed by the two eye centres).
"""

from __future__ import annotations

import numpy as np

from palsyflow.landmarks.schemes import Scheme, scheme_for_points

__all__ = ["MIN_RUN", "normalise_shapes", "select_keyframes"]

#: Shortest run of consecutive face frames whose frames may become key frames.
MIN_RUN = 3


def _in_long_runs(ok: np.ndarray, min_run: int) -> np.ndarray:
    edges = np.diff(np.concatenate([[0], ok.astype(np.int8), [0]]))
    keep = np.zeros_like(ok)
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if b - a >= min_run:
            keep[a:b] = True
    return keep


def normalise_shapes(points: np.ndarray, scheme: Scheme | None = None) -> np.ndarray:
    """Express each frame's points in the eye-line face frame, in IOD units.

    Parameters
    ----------
    points : ndarray, shape (n_frames, n_points, D>=2), pixels, x right y down; NaN frames allowed
    scheme : Scheme, optional
        Names the eye corners; default: the scheme with ``n_points`` points.

    Returns
    -------
    ndarray, shape (n_frames, n_points, 2), IOD units; origin at the eye-centre
    midpoint, x along the eye line towards the image right, y down. NaN for frames
    without a face or with a degenerate (zero) IOD.

    Raises
    ------
    ValueError
        If no scheme has ``n_points`` points (and none is given).
    """
    pts = np.asarray(points, dtype=np.float64)[..., :2]
    scheme = scheme or scheme_for_points(pts)
    right, left = scheme.eye_centres(pts)  # (n, 2)
    origin = (right + left) / 2.0
    axis = left - right
    iod = np.linalg.norm(axis, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ex = axis / iod[:, None]
        ey = np.stack([-ex[:, 1], ex[:, 0]], axis=-1)  # x right, y down: rotate +90 deg
        rel = pts - origin[:, None, :]
        out = np.stack([(rel * ex[:, None, :]).sum(-1), (rel * ey[:, None, :]).sum(-1)], axis=-1)
        out = out / iod[:, None, None]
    out[~(iod > 0)] = np.nan
    return out


def select_keyframes(
    points: np.ndarray, n: int, rest_frames: int | None = None, scheme: Scheme | None = None
) -> dict[str, int]:
    """Choose up to ``n`` distinct key frames: ``neutral``, ``peak``, ``key2``, ...

    See the module docstring for the method.

    Parameters
    ----------
    points : ndarray, shape (n_frames, n_points, D>=2), pixels; frames without a face are NaN
    n : int
        Number of key frames wanted.
    rest_frames : int, optional
        Length of the rest window, frames (e.g. ``round(0.5 s * fps)``), starting at
        the first frame with a face; None uses the whole recording.
    scheme : Scheme, optional
        The landmark scheme of ``points`` (its eye corners fix the face frame);
        default: the scheme with ``n_points`` points.

    Returns
    -------
    dict[str, int]
        Name -> 0-based frame index, in selection order; ``min(n, number of frames
        with a face)`` entries (empty when no frame has a face or ``n <= 0``).

    Raises
    ------
    ValueError
        If ``points`` is not (n_frames, n_points, D>=2) with the scheme's ``n_points``.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[2] < 2:
        raise ValueError(f"expected shape (n_frames, n_points, D), got {pts.shape}")
    scheme = scheme or scheme_for_points(pts)
    if pts.shape[1] != scheme.n_points:
        raise ValueError(f"expected shape (n_frames, {scheme.n_points}, D), got {pts.shape}")
    if n <= 0 or pts.shape[0] == 0:
        return {}
    shapes = normalise_shapes(pts, scheme)
    ok = np.isfinite(shapes).all(axis=(1, 2))
    long_runs = _in_long_runs(ok, MIN_RUN)
    valid = np.flatnonzero(long_runs if long_runs.any() else ok)
    if valid.size == 0:
        return {}
    s = shapes[valid]  # (m, n_points, 2)

    def rms_to(shape: np.ndarray) -> np.ndarray:
        return np.sqrt(((s - shape[None]) ** 2).sum(-1).mean(-1))

    window = np.ones(valid.size, dtype=bool)
    if rest_frames is not None and rest_frames > 0:
        window = valid < valid[0] + rest_frames
    ref = np.median(s[window], axis=0)
    dist = rms_to(ref)
    dist[~window] = np.inf
    chosen = [int(np.argmin(dist))]
    mind = rms_to(s[chosen[0]])
    mind[chosen] = -1.0
    while len(chosen) < min(n, valid.size):
        j = int(np.argmax(mind))
        if mind[j] < 0.0:
            break
        chosen.append(j)
        mind = np.minimum(mind, rms_to(s[j]))
        mind[chosen] = -1.0
    names = ["neutral", "peak"] + [f"key{k}" for k in range(2, len(chosen))]
    return {name: int(valid[j]) for name, j in zip(names, chosen, strict=False)}
