"""The iBUG 68-point scheme: mirror pairs, the MediaPipe-478 -> iBUG-68 map, offsets, NME.

:data:`SCHEME` carries the facts the scheme-independent code uses (68 points,
:data:`IBUG68_FLIP`, the eye corners 36/39 and 42/45, no depth).

The iBUG 68-point markup (Sagonas et al. 2016, "300 Faces In-the-Wild Challenge:
database and results", Image Vis. Comput. 47:3-18, doi:10.1016/j.imavis.2016.01.002)
numbers the points 0-based as dlib does:

=========  ===========================================================================
indices    region (image left = the PATIENT'S RIGHT in an unmirrored frontal image)
=========  ===========================================================================
0-16       jaw line, from the image-left ear level (0) over the chin (8) to the right
17-21      brow on the image left (patient's right), outer (17) to inner (21)
22-26      brow on the image right (patient's left), inner (22) to outer (26)
27-30      nose bridge, nasion (27) to the tip (30)
31-35      lower nose, image-left ala (31), subnasale (33), image-right ala (35)
36-41      image-left eye: outer corner 36, upper lid 37-38, inner corner 39, lower lid 40-41
42-47      image-right eye: inner corner 42, upper lid 43-44, outer corner 45, lower lid 46-47
48-59      outer lip contour: corners 48 and 54, upper-lip centre 51, lower-lip centre 57
60-67      inner lip contour: corners 60 and 64, upper 62, lower 66
=========  ===========================================================================

The inner 51 points are 17-67 (:data:`INNER`); the normaliser of the normalised mean
error (NME) used here is the outer-canthal distance |p36 - p45| (:func:`nme`).

MediaPipe-478 -> iBUG-68 map (:data:`MP_TO_IBUG68`)
---------------------------------------------------
One MediaPipe vertex per iBUG point, chosen so that the map commutes with mirroring
(``MP_FLIP[MP_TO_IBUG68] == MP_TO_IBUG68[IBUG68_FLIP]``, checked by a test), point by point:

- jaw 0-8 (image-left half, mirrored for 9-16): 127, 93, 132, 58, 172, 136, 149, 148,
  152 (chin, midline); 9-16: 377, 378, 365, 397, 288, 361, 323, 356. All are vertices of
  MediaPipe's face-oval loop, but the oval is a fixed ring of the 3-D mesh while the
  iBUG jaw line is the visible contour, and the oval runs wider and lower than the
  annotated jaw. Which oval vertex stands for which iBUG jaw point was chosen on the
  TRAINING split of ``faces-68pt`` (for each mirror pair, the oval vertex pair with the
  smallest mean distance to the annotations in the eye-line frame); 234/454 and
  150/379, the usual choices in published maps, lay farther from the annotations.
  This is the part of the map that differs most; :data:`offsets <load_offsets>` correct
  what remains on average.
- brows 17-21: 70, 63, 105, 66, 107 (upper brow edge, outer to inner);
  22-26: 336, 296, 334, 293, 300.
- nose bridge 27-30: 168 (nasion), 197, 5, 4 (pronasale); lower nose 31-35: 75, 97,
  2 (subnasale), 326, 305.
- eyes 36-41: 33 (outer canthus), 160, 158, 133 (inner canthus), 153, 144;
  42-47: 362, 385, 387, 263, 373, 380.
- outer lip 48-59: 61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181.
- inner lip 60-67: 78, 82, 13, 312, 308, 317, 14, 87.

Offset correction
-----------------
The schemes also disagree systematically where both place "the same" point (brow
points on the upper brow edge vs the brow's centre line, the jaw). :func:`learn_offsets`
estimates, per iBUG point, the mean residual ``annotation - mapped MediaPipe point`` in
a face-normalised frame: origin at the midpoint of the mapped outer eye corners (MP 33,
263), x along the eye line towards the image right, y down, unit = their distance.
The offsets are symmetrised (a point and its mirror partner get mirror-image offsets),
so the correction treats both sides of the face alike. :func:`mediapipe_to_ibug68`
adds them back in pixels. The committed offsets
(``palsyflow/landmarks/schemes/ibug68_offsets.json``, package data) were
learned on the training split of ``faces-68pt`` only, with provenance in the file.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from palsyflow.landmarks.schemes.base import Scheme, mirror_points
from palsyflow.landmarks.schemes.mediapipe478 import N_POINTS as N_MP

__all__ = [
    "DEFAULT_OFFSETS_PATH",
    "IBUG68_FLIP",
    "INNER",
    "JAW",
    "MP_TO_IBUG68",
    "N_IBUG",
    "SCHEME",
    "eye_frame",
    "flip_points68",
    "interocular_distance68",
    "learn_offsets",
    "load_offsets",
    "mediapipe_to_ibug68",
    "nme",
    "outer_canthal_distance",
    "save_offsets",
]

N_IBUG = 68

#: Jaw-line indices (0-16) and the 51 inner points (17-67).
JAW: tuple[int, ...] = tuple(range(0, 17))
INNER: tuple[int, ...] = tuple(range(17, 68))

#: Location of the committed offsets (package data beside this module).
DEFAULT_OFFSETS_PATH = Path(__file__).resolve().with_name("ibug68_offsets.json")  # shipped as package data

_PAIRS: tuple[tuple[int, int], ...] = (
    *((i, 16 - i) for i in range(8)),  # jaw; 8 (menton) is on the midline
    (17, 26), (18, 25), (19, 24), (20, 23), (21, 22),  # brows
    (31, 35), (32, 34),  # lower nose; 27-30 and 33 on the midline
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),  # eyes
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),  # outer lip; 51, 57 midline
    (60, 64), (61, 63), (65, 67),  # inner lip; 62, 66 midline
)  # fmt: skip


def _build_flip() -> np.ndarray:
    flip = np.arange(N_IBUG, dtype=np.int64)
    for a, b in _PAIRS:
        flip[a], flip[b] = b, a
    flip.setflags(write=False)
    return flip


#: ``IBUG68_FLIP[i]`` is the mirror partner of iBUG point ``i``; shape (68,), int64,
#: an involution. Midline points (8, 27-30, 33, 51, 57, 62, 66) map to themselves.
IBUG68_FLIP: np.ndarray = _build_flip()

_JAW_LEFT = (127, 93, 132, 58, 172, 136, 149, 148)
_JAW_RIGHT = (377, 378, 365, 397, 288, 361, 323, 356)

#: ``MP_TO_IBUG68[i]`` is the MediaPipe vertex standing for iBUG point ``i``; shape
#: (68,), int64 (see the module docstring for the point-by-point choice).
MP_TO_IBUG68: np.ndarray = np.array(
    [
        *_JAW_LEFT, 152, *_JAW_RIGHT,  # 0-16 jaw
        70, 63, 105, 66, 107,  # 17-21 brow, image left
        336, 296, 334, 293, 300,  # 22-26 brow, image right
        168, 197, 5, 4,  # 27-30 nose bridge
        75, 97, 2, 326, 305,  # 31-35 lower nose
        33, 160, 158, 133, 153, 144,  # 36-41 eye, image left
        362, 385, 387, 263, 373, 380,  # 42-47 eye, image right
        61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # 48-59 outer lip
        78, 82, 13, 312, 308, 317, 14, 87,  # 60-67 inner lip
    ],
    dtype=np.int64,
)  # fmt: skip
MP_TO_IBUG68.setflags(write=False)

#: The scheme object (:class:`~palsyflow.landmarks.schemes.base.Scheme`); eye corners
#: 36/39 (image left, the patient's right eye) and 42/45.
SCHEME = Scheme(
    name="ibug68",
    n_points=N_IBUG,
    flip=IBUG68_FLIP,
    right_eye_corners=(36, 39),
    left_eye_corners=(42, 45),
    has_depth=False,
)


# geometry ------------------------------------------------------------------------------
def flip_points68(points: np.ndarray, width: int) -> np.ndarray:
    """Mirror iBUG-68 landmarks horizontally and swap left/right indices.

    ``x' = width - 1 - x`` (pixel centres at integers, as ``cv2.flip``), y and any
    further columns unchanged, and point ``i`` of the result is the mirror of point
    ``IBUG68_FLIP[i]`` of the input. Applying it twice returns the input.

    Parameters
    ----------
    points : ndarray, shape (..., 68, D), pixels, x first
    width : int
        Image width, pixels.

    Returns
    -------
    ndarray, same shape and dtype (a new array)

    Raises
    ------
    ValueError
        If the point axis is not 68 long.
    """
    return mirror_points(points, width, IBUG68_FLIP)


def outer_canthal_distance(points68: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners, iBUG 36 and 45, pixels.

    The NME normaliser of the 300-W benchmark ("inter-ocular" in Sagonas et al. 2016,
    doi:10.1016/j.imavis.2016.01.002).

    Parameters
    ----------
    points68 : ndarray, shape (..., 68, D>=2), pixels

    Returns
    -------
    ndarray, shape (...)
    """
    p = np.asarray(points68, dtype=np.float64)[..., :2]
    return np.linalg.norm(p[..., 45, :] - p[..., 36, :], axis=-1)


def interocular_distance68(points68: np.ndarray) -> np.ndarray:
    """Inter-ocular distance between the eye-corner midpoints (36+39)/2 and (42+45)/2.

    :meth:`Scheme.interocular_distance <palsyflow.landmarks.schemes.base.Scheme.interocular_distance>`
    of :data:`SCHEME`: the same definition as for the 478-point mesh, so
    ``tta_spread_iod_pct`` means the same for both backends.

    Parameters
    ----------
    points68 : ndarray, shape (..., 68, D>=2), pixels

    Returns
    -------
    ndarray, shape (...), pixels (dtype of ``points68``); NaN where the points are NaN
    """
    return SCHEME.interocular_distance(points68)


def eye_frame(p_img_left: np.ndarray, p_img_right: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face-normalised frame fixed by two eye points.

    Parameters
    ----------
    p_img_left, p_img_right : ndarray, shape (..., 2), pixels
        The eye points on the image left and right (e.g. iBUG 36 and 45).

    Returns
    -------
    origin : ndarray, shape (..., 2)
        Their midpoint, pixels.
    basis : ndarray, shape (..., 2, 2)
        Rows ``ex`` (along the eye line, towards the image right) and ``ey`` (``ex``
        rotated +90 degrees in image coordinates, i.e. pointing down), unit vectors.
    scale : ndarray, shape (...)
        Their distance, pixels (the unit of the frame).
    """
    a = np.asarray(p_img_left, dtype=np.float64)
    b = np.asarray(p_img_right, dtype=np.float64)
    axis = b - a
    scale = np.linalg.norm(axis, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ex = axis / scale[..., None]
    ey = np.stack([-ex[..., 1], ex[..., 0]], axis=-1)
    return (a + b) / 2.0, np.stack([ex, ey], axis=-2), scale


def nme(pred: np.ndarray, truth: np.ndarray, points: tuple[int, ...] | None = None) -> np.ndarray:
    """Normalised mean error in % of the annotated outer-canthal distance.

    ``NME = 100 * mean_i ||pred_i - truth_i|| / ||truth_36 - truth_45||`` over the
    chosen points (300-W convention, Sagonas et al. 2016, doi:10.1016/j.imavis.2016.01.002).

    Parameters
    ----------
    pred, truth : ndarray, shape (..., 68, D>=2), pixels
    points : tuple of int, optional
        Indices averaged over (default all 68; :data:`INNER` for the 51 inner points).

    Returns
    -------
    ndarray, shape (...), percent; NaN where ``pred`` is NaN
    """
    pred = np.asarray(pred, dtype=np.float64)[..., :2]
    truth = np.asarray(truth, dtype=np.float64)[..., :2]
    idx = list(range(N_IBUG)) if points is None else list(points)
    err = np.linalg.norm(pred[..., idx, :] - truth[..., idx, :], axis=-1).mean(axis=-1)
    return 100.0 * err / outer_canthal_distance(truth)


# MediaPipe -> iBUG 68 --------------------------------------------------------------------
def _mapped(points478: np.ndarray) -> np.ndarray:
    p = np.asarray(points478, dtype=np.float64)
    if p.ndim < 2 or p.shape[-2] != N_MP:
        raise ValueError(f"expected shape (..., {N_MP}, D), got {p.shape}")
    return p[..., MP_TO_IBUG68, :]


def mediapipe_to_ibug68(
    points478: np.ndarray,
    correct: bool = True,
    offsets: np.ndarray | str | Path | None = None,
) -> np.ndarray:
    """MediaPipe's 478 points as the iBUG 68-point scheme.

    Picks the vertices :data:`MP_TO_IBUG68` and, with ``correct``, adds the learned
    per-point offsets: ``p_i += scale * (o_ix * ex + o_iy * ey)`` in the eye-line frame
    of the mapped outer eye corners (:func:`eye_frame` of points 36 and 45).

    Parameters
    ----------
    points478 : ndarray, shape (..., 478, D>=2), pixels (z, if present, is carried along)
    correct : bool
        Apply the offset correction.
    offsets : ndarray of shape (68, 2), or path, optional
        Offsets in outer-canthal units (x along the eye line, y down); default: the
        committed :data:`DEFAULT_OFFSETS_PATH`.

    Returns
    -------
    ndarray, shape (..., 68, D), float64, pixels; NaN faces stay NaN

    Raises
    ------
    ValueError
        If the point axis is not 478 long or the offsets are not (68, 2).
    FileNotFoundError
        If ``correct`` and the offsets file is missing.
    """
    out = _mapped(points478).copy()
    if not correct:
        return out
    off = _resolve_offsets(offsets)
    origin, basis, scale = eye_frame(out[..., 36, :2], out[..., 45, :2])
    # pixel displacement = scale * (o_x * ex + o_y * ey)
    disp = np.einsum("pk,...kd->...pd", off, basis) * scale[..., None, None]
    out[..., :2] = out[..., :2] + disp
    return out


def _resolve_offsets(offsets) -> np.ndarray:
    if offsets is None:
        off, _ = load_offsets(DEFAULT_OFFSETS_PATH)
    elif isinstance(offsets, (str, Path)):
        off, _ = load_offsets(offsets)
    else:
        off = np.asarray(offsets, dtype=np.float64)
    if off.shape != (N_IBUG, 2):
        raise ValueError(f"offsets must have shape (68, 2), got {off.shape}")
    return off


def learn_offsets(points478: np.ndarray, truth68: np.ndarray, symmetric: bool = True) -> np.ndarray:
    """Mean per-point residual of the mapped MediaPipe points, in the eye-line frame.

    Parameters
    ----------
    points478 : ndarray, shape (n_faces, 478, D>=2), pixels (MediaPipe detections)
    truth68 : ndarray, shape (n_faces, 68, 2), pixels (annotations of the same faces)
    symmetric : bool
        Average each point's offset with its mirror partner's, x negated, so the
        correction treats both sides of the face alike.

    Returns
    -------
    ndarray, shape (68, 2), outer-canthal units (x along the eye line, y down)

    Raises
    ------
    ValueError
        If shapes disagree or no face is finite.
    """
    mapped = _mapped(points478)[..., :2]
    truth = np.asarray(truth68, dtype=np.float64)[..., :2]
    if mapped.shape != truth.shape or mapped.ndim != 3:
        raise ValueError(f"shapes differ: {mapped.shape} vs {truth.shape}")
    origin, basis, scale = eye_frame(mapped[:, 36], mapped[:, 45])
    resid = (truth - mapped) / scale[:, None, None]
    local = np.einsum("npd,nkd->npk", resid, basis)  # (n, 68, 2) in (ex, ey)
    ok = np.isfinite(local).all(axis=(1, 2))
    if not ok.any():
        raise ValueError("no finite face to learn offsets from")
    off = local[ok].mean(axis=0)
    if symmetric:
        mirrored = off[IBUG68_FLIP] * np.array([-1.0, 1.0])
        off = (off + mirrored) / 2.0
    return off


def save_offsets(path: Path | str, offsets: np.ndarray, provenance: dict, extra: dict | None = None) -> Path:
    """Write offsets and their provenance as JSON (``{"offsets": [[x, y], ...], ...}``).

    Parameters
    ----------
    path : path-like
    offsets : ndarray, shape (68, 2), outer-canthal units
    provenance : dict
        JSON-serialisable; stored under ``"provenance"`` (data set, split, n faces, date).
    extra : dict, optional
        Further top-level entries (e.g. ``"dlib_box"``, the fallback box relation).

    Returns
    -------
    Path
    """
    path = Path(path)
    doc = {
        "scheme": "ibug68",
        "unit": "outer-canthal distance (|p36 - p45| of the mapped MediaPipe points)",
        "frame": "origin midpoint of mapped 36 and 45; x along the eye line to the image right; y down",
        "map": [int(v) for v in MP_TO_IBUG68],
        "provenance": {"written": dt.date.today().isoformat(), **provenance},
        "offsets": [[round(float(x), 6), round(float(y), 6)] for x, y in np.asarray(offsets)],
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    _load_cached.cache_clear()
    return path


def load_offsets(path: Path | str = DEFAULT_OFFSETS_PATH) -> tuple[np.ndarray, dict]:
    """Read offsets written by :func:`save_offsets`.

    Returns
    -------
    offsets : ndarray, shape (68, 2), outer-canthal units
    provenance : dict

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        If it was made for a different map or has the wrong shape.
    """
    off, prov = _load_cached(str(Path(path).resolve()))
    return off.copy(), dict(prov)


@lru_cache(maxsize=4)
def _load_cached(path: str) -> tuple[np.ndarray, dict]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"iBUG-68 offsets not found: {p}")
    doc = json.loads(p.read_text())
    off = np.asarray(doc["offsets"], dtype=np.float64)
    if off.shape != (N_IBUG, 2):
        raise ValueError(f"{p}: offsets have shape {off.shape}, expected (68, 2)")
    if doc.get("map") is not None and list(doc["map"]) != [int(v) for v in MP_TO_IBUG68]:
        raise ValueError(f"{p}: offsets were learned for a different MediaPipe->iBUG map")
    return off, doc.get("provenance", {})
