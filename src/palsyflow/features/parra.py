"""Parra-Dominguez static facial-paralysis features f0-f28 on iBUG-68 key points.

Source
------
Parra-Dominguez G.S., Sanchez-Yanez R.E., Garcia-Capulin C.H. (2021). "Facial
Paralysis Detection on Images Using Key Point Analysis". *Applied Sciences*
11(5):2435, doi:10.3390/app11052435.

The exact definitions (which points, which ratio, the head-tilt correction) follow
the authors' **own published code**, GitHub ``gemmas-parra-dominguez/
gpFacialParalysisDetection``: ``gp1SIERRA_main.cpp`` (functions ``gpFaceReg``,
``gpPtsExt``, ``gpGetSMR``, ``gpGetFMM``; the C++ used for the paper) and its Python
port ``main_facial_features_extraction.py`` (same definitions). This module is an
independent re-implementation (vectorised over frames); every feature, its points
and its formula are listed in ``docs/parra_features.md`` and in :data:`FEATURES`.

Procedure (as in the authors' code)
    1. Head-tilt correction: rotate all 68 points about jaw point 0 so that the
       line from jaw point 0 to jaw point 16 (the two jaw ends) is horizontal
       (``gpFaceReg``).
    2. Keep 51 points (``gpPtsExt``): brows 17-26, eyes 36-47, lower nose 30-35,
       mouth 48-67 and the jaw points 0, 16 and 8 (:data:`PARRA51_FROM_IBUG68`).
       Note that this is *not* "the 68 points minus the jaw": the nasal-bridge
       points 27-29 are dropped and three jaw points are kept.
    3. f0-f17, f22-f24 and f27 ("symmetry measure ratios", ``gpGetSMR``), f18-f21,
       f25, f26 and f28 ("facial movement measures", ``gpGetFMM``).

Kinds of feature
    * ``angle``: ``|atan2(dy, dx)|`` in degrees of the vector between two points
      (f0, f1, f2 near 180 and f7, f14, f22 near 0 for a level face; f23 near 90).
    * ``slope``: ``|dy| / |dx|`` of a left-right point pair (f4, f5, f6; 0 when level).
    * ``minmax``: ``min(a, b) / max(a, b)`` of a left and a right measurement, in
      [0, 1], 1 = symmetric (f3, f8-f13, f15-f17, f24).
    * ``maxnorm``: ``max(a, b) / c``, the larger of a left and a right length over a
      reference length (jaw width or mouth width) (f18-f21, f25, f26).
    * ``norm``: a midline length over a reference length (f27, f28).

Mirror behaviour
    Flipping the face (``x -> -x`` with the iBUG-68 left/right pair permutation,
    :data:`IBUG68_FLIP`) leaves every feature unchanged except:

    * **f23** (side-sensitive): the angle of the nose-tip (30) to lower-lip (57)
      vector becomes ``180 - f23``. ``f23 < 90`` means the lower-lip midpoint lies
      towards the image right of the nose tip (the patient's LEFT in an unmirrored
      image), ``f23 > 90`` towards the patient's right.
    * **f3** (position-dependent): the ratio of the two brows' mean ``y`` *image
      coordinates* (not heights above anything), so it depends on where the face
      sits in the image and on the tilt-correction pivot (jaw point 0, which the
      flip exchanges with point 16). It is exactly mirror-invariant only for a face
      whose jaw ends are level; otherwise it changes slightly. Kept as the authors
      defined it.

Coordinates: image pixels, x right, y down (:mod:`palsyflow.conventions`). The
features are dimensionless (ratios, slopes) or degrees, so the pixel scale does not
matter, except f3 (see above). Which image side is the patient's left does not
matter either: no feature is reported per side.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from palsyflow.measures.registry import PARRA_FEATURES

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "IBUG68_FLIP",
    "MINMAX_FEATURES",
    "PARRA51_FROM_IBUG68",
    "POSITION_DEPENDENT",
    "SIDE_SENSITIVE",
    "features_matrix",
    "flip_ibug68",
    "level_on_jaw",
    "parra_features",
    "parra_features_batch",
]

#: The authors' 51-point set as iBUG-68 indices (0-based), in their order
#: (``gpPtsExt``): brows, eyes, lower nose, mouth, jaw ends 0 and 16, chin 8.
PARRA51_FROM_IBUG68: tuple[int, ...] = (
    *range(17, 27),
    *range(36, 48),
    *range(30, 36),
    *range(48, 68),
    0,
    16,
    8,
)


def _build_ibug68_flip() -> np.ndarray:
    """iBUG-68 left/right permutation: ``flipped[i] = mirrored(points[FLIP[i]])``."""
    pairs: list[tuple[int, int]] = []
    pairs += [(i, 16 - i) for i in range(0, 8)]  # jaw 0..16, chin 8 on the midline
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows 17-21 <-> 26-22
    pairs += [(31, 35), (32, 34)]  # lower nose; 27-30 and 33 on the midline
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (59, 55), (58, 56)]  # outer lip; 51, 57 midline
    pairs += [(60, 64), (61, 63), (67, 65)]  # inner lip; 62, 66 midline
    perm = np.arange(68)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


#: iBUG-68 left/right pair permutation (an involution). Kept local so this module has
#: no dependency on the landmarks package; a test checks it equals
#: ``palsyflow.landmarks.schemes.ibug68.IBUG68_FLIP``.
IBUG68_FLIP: np.ndarray = _build_ibug68_flip()
IBUG68_FLIP.setflags(write=False)


def flip_ibug68(points68: np.ndarray, width: float | None = None) -> np.ndarray:
    """Mirror iBUG-68 points left-right and re-label them with :data:`IBUG68_FLIP`.

    Parameters
    ----------
    points68 : ndarray, shape (..., 68, 2|3)
        Image pixels, x right, y down.
    width : float, optional
        Image width in pixels: ``x -> width - 1 - x`` (pixel centres). Default
        ``x -> -x``.

    Returns
    -------
    ndarray, same shape
        The points of the mirrored face, so that index ``i`` is again the iBUG-68
        point ``i`` of the mirrored face.
    """
    p = np.array(points68, dtype=np.float64, copy=True)
    p[..., 0] = -p[..., 0] if width is None else (float(width) - 1.0) - p[..., 0]
    return p[..., IBUG68_FLIP, :]


#: ``name -> (kind, definition)`` for every feature (registered in
#: :data:`palsyflow.measures.registry.PARRA_FEATURES`).
FEATURES: dict[str, tuple[str, str]] = PARRA_FEATURES

#: Keys ``parra_f00`` .. ``parra_f28`` in order.
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)
#: The min/max ratios (1 = symmetric).
MINMAX_FEATURES: tuple[str, ...] = tuple(k for k, (kind, _) in FEATURES.items() if kind == "minmax")
#: Features that change under a left-right flip (f23 -> 180 - f23).
SIDE_SENSITIVE: tuple[str, ...] = ("parra_f23",)
#: Features that depend on the face's position in the image (f3, see module doc).
POSITION_DEPENDENT: tuple[str, ...] = ("parra_f03",)

#: Vanishing threshold (pixels) of the eye-opening heights of f11 (authors' ``MIN_EVAL``).
_MIN_EVAL = 1e-4
#: Floor (pixels) of the |dx| denominators of f4-f6 (authors' Python port).
_SLOPE_FLOOR = 1e-6


def _as_frames(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 3 or p.shape[1] != 68 or p.shape[2] not in (2, 3):
        raise ValueError(f"expected iBUG-68 points of shape (n_frames, 68, 2|3), got {p.shape}")
    return p[..., :2]


def level_on_jaw(points: np.ndarray) -> np.ndarray:
    """Head-tilt correction of Parra-Dominguez et al. 2021 (``gpFaceReg``).

    Rotates every frame's points about jaw point 0 so that the vector from jaw point
    0 to jaw point 16 points along +x (the jaw ends become level).

    Parameters
    ----------
    points : ndarray, shape (n_frames, 68, 2|3) or (68, 2|3)
        iBUG-68 points, image pixels, x right, y down; z is dropped.

    Returns
    -------
    ndarray, shape (n_frames, 68, 2) or (68, 2)
        Rotated points, pixels; point 0 is unchanged.

    Raises
    ------
    ValueError
        If the shape is not (…, 68, 2|3).
    """
    single = np.ndim(points) == 2
    p = _as_frames(np.asarray(points)[None] if single else points)
    pivot = p[:, 0:1, :]
    d = p[:, 16, :] - p[:, 0, :]
    phi = np.arctan2(d[:, 1], d[:, 0])
    c, s = np.cos(-phi)[:, None], np.sin(-phi)[:, None]
    rel = p - pivot
    out = np.empty_like(rel)
    out[..., 0] = c * rel[..., 0] - s * rel[..., 1]
    out[..., 1] = s * rel[..., 0] + c * rel[..., 1]
    out += pivot
    return out[0] if single else out


def _dist(p: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(p[:, a] - p[:, b], axis=1)


def _angle(p: np.ndarray, a: int, b: int) -> np.ndarray:
    d = p[:, b] - p[:, a]
    return np.abs(np.degrees(np.arctan2(d[:, 1], d[:, 0])))


def _slope(p: np.ndarray, a: int, b: int) -> np.ndarray:
    d = np.abs(p[:, b] - p[:, a])
    return d[:, 1] / np.maximum(d[:, 0], _SLOPE_FLOOR)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _minmax(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _div(np.minimum(a, b), np.maximum(a, b))


def _path(p: np.ndarray, idx: tuple[int, ...]) -> np.ndarray:
    return sum(_dist(p, idx[k], idx[k + 1]) for k in range(len(idx) - 1))  # type: ignore[return-value]


def parra_features_batch(points: np.ndarray) -> dict[str, np.ndarray]:
    """Parra-Dominguez f0-f28 for every frame.

    Parameters
    ----------
    points : ndarray, shape (n_frames, 68, 2|3)
        iBUG-68 points (0-based indexing, dlib order), image pixels, x right, y
        down; z is ignored. Frames with any non-finite point give NaN features.

    Returns
    -------
    dict of str to ndarray, shape (n_frames,)
        Keys :data:`FEATURE_NAMES` (``parra_f00`` .. ``parra_f28``); degrees for the
        angle features, dimensionless otherwise (:data:`FEATURES`). A ratio whose
        denominator is 0 is NaN, except f11, which is 0 when both eye openings
        vanish (as in the authors' Python port), and f4-f6, whose ``|dx|`` is
        floored at 1e-6 px (idem).

    Raises
    ------
    ValueError
        If ``points`` does not have shape (n_frames, 68, 2|3).

    Notes
    -----
    Definitions: Parra-Dominguez et al. 2021, Appl. Sci. 11:2435,
    doi:10.3390/app11052435, as implemented in the authors' code (module docstring);
    see :data:`FEATURES` and ``docs/parra_features.md``.
    """
    raw = _as_frames(points)
    n = raw.shape[0]
    if n == 0:
        return {k: np.empty(0) for k in FEATURE_NAMES}
    ok = np.isfinite(raw).all(axis=(1, 2))
    safe = np.where(ok[:, None, None], raw, 0.0)
    # level the jaw ends; frames with coincident jaw ends stay unrotated (atan2(0,0) = 0)
    p = level_on_jaw(safe)

    jaw_w = _dist(p, 16, 0)
    mouth_w = _dist(p, 54, 48)
    y = p[..., 1]

    f: dict[str, np.ndarray] = {}
    f["parra_f00"] = _angle(p, 26, 17)
    f["parra_f01"] = _angle(p, 24, 19)
    f["parra_f02"] = _angle(p, 22, 21)
    f["parra_f03"] = _minmax(y[:, 22:27].mean(axis=1), y[:, 17:22].mean(axis=1))
    f["parra_f04"] = _slope(p, 17, 26)
    f["parra_f05"] = _slope(p, 19, 24)
    f["parra_f06"] = _slope(p, 21, 22)
    f["parra_f07"] = _angle(p, 36, 45)
    f["parra_f08"] = _minmax(_dist(p, 39, 36), _dist(p, 45, 42))
    f["parra_f09"] = _minmax(_dist(p, 36, 0), _dist(p, 16, 45))
    f["parra_f10"] = _minmax(_dist(p, 36, 31), _dist(p, 45, 35))
    open_r = (np.abs(y[:, 37] - y[:, 41]) + np.abs(y[:, 38] - y[:, 40])) / 2.0
    open_l = (np.abs(y[:, 43] - y[:, 47]) + np.abs(y[:, 44] - y[:, 46])) / 2.0
    open_r = np.where(open_r <= _MIN_EVAL, 0.0, open_r)
    open_l = np.where(open_l <= _MIN_EVAL, 0.0, open_l)
    f["parra_f11"] = np.nan_to_num(_minmax(open_r, open_l), nan=0.0)
    f["parra_f12"] = _minmax(_dist(p, 37, 41), _dist(p, 44, 46))
    f["parra_f13"] = _minmax(_dist(p, 38, 40), _dist(p, 43, 47))
    f["parra_f14"] = _angle(p, 48, 54)
    f["parra_f15"] = _minmax(_dist(p, 57, 36), _dist(p, 45, 57))
    lat_a, lat_b = _dist(p, 49, 59), _dist(p, 53, 55)
    med_a, med_b = _dist(p, 50, 58), _dist(p, 52, 56)
    f["parra_f16"] = _minmax(lat_a, lat_b)
    f["parra_f17"] = _minmax(med_a, med_b)
    f["parra_f18"] = _div(np.maximum(_dist(p, 57, 48), _dist(p, 57, 54)), jaw_w)
    f["parra_f19"] = _div(np.maximum(lat_a, lat_b), mouth_w)
    f["parra_f20"] = _div(np.maximum(med_a, med_b), mouth_w)
    half_a = _path(p, (48, 49, 50, 51, 57, 58, 59, 48))
    half_b = _path(p, (51, 52, 53, 54, 55, 56, 57, 51))
    f["parra_f21"] = _div(np.maximum(half_a, half_b), mouth_w)
    f["parra_f22"] = _angle(p, 31, 35)
    f["parra_f23"] = _angle(p, 30, 57)
    f["parra_f24"] = _minmax(_dist(p, 31, 57), _dist(p, 35, 57))
    f["parra_f25"] = _div(np.maximum(_dist(p, 57, 19), _dist(p, 24, 57)), jaw_w)
    f["parra_f26"] = _div(np.maximum(_dist(p, 57, 20), _dist(p, 23, 57)), jaw_w)
    f["parra_f27"] = _div(_dist(p, 8, 57), jaw_w)
    f["parra_f28"] = _div(_dist(p, 51, 33), jaw_w)

    out = {k: np.where(ok, f[k], np.nan).astype(np.float64) for k in FEATURE_NAMES}
    return out


def parra_features(points68: np.ndarray) -> dict[str, float]:
    """Parra-Dominguez f0-f28 of one face.

    Parameters
    ----------
    points68 : ndarray, shape (68, 2|3)
        iBUG-68 points (0-based, dlib order), image pixels, x right, y down.

    Returns
    -------
    dict of str to float
        ``parra_f00`` .. ``parra_f28`` (:func:`parra_features_batch`); all NaN when
        a point is not finite.

    Raises
    ------
    ValueError
        If ``points68`` does not have shape (68, 2|3).
    """
    p = np.asarray(points68, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"expected iBUG-68 points of shape (68, 2|3), got {p.shape}")
    batch = parra_features_batch(p[None])
    return {k: float(v[0]) for k, v in batch.items()}


def features_matrix(features: Mapping[str, np.ndarray]) -> np.ndarray:
    """Stack :func:`parra_features_batch` output into shape (n_frames, 29), f0..f28 order."""
    return np.column_stack([np.asarray(features[k], dtype=np.float64) for k in FEATURE_NAMES])

