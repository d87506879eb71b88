"""Emotrics-equivalent facial measures in millimetres, ocular synkinesis and lagophthalmos.

Emotrics (Guarin et al. 2018, "A Machine Learning Approach for Automated Facial
Measurements in Facial Palsy", JAMA Facial Plast Surg 20(4):335-337,
doi:10.1001/jamafacial.2018.0030) measures a frontal photo from the iBUG 68 points and
the two iris circles. This module re-implements its estimators (learned from the
published description and the authors' public code, not copied) so that the numbers
match the tool clinicians know:

Frame
    Origin at the midpoint of the two pupil (iris) centres, x along the inter-pupil
    line towards the patient's left pupil (image right), y perpendicular, pointing down.
    A "vertical through P" is the line x = x_P of this frame.
Contours
    Each contour (brow, lid, lip) is a cubic smoothing spline ``y(x)`` in that frame
    through its iBUG points (:class:`scipy.interpolate.UnivariateSpline`, ``k = 3``,
    smoothing ``s = 1`` px^2, Emotrics' choice); a measure point is where a vertical
    meets the spline.
Scale
    ``mm_per_px = 11.77 / mean iris diameter`` (:data:`palsyflow.conventions.IRIS_DIAMETER_MM`).

Measures (names and descriptions: :data:`palsyflow.measures.registry.EMOTRICS_INFO`),
per patient side unless stated: brow height (brow 17-21 / 22-26 above the pupil on the
pupil's vertical), MRD1 and MRD2 (upper lid 36-37-38-39 / 42-43-44-45 and lower lid
36-41-40-39 / 42-47-46-45 against the pupil), palpebral fissure height (lower minus
upper lid at the mean x of the four mid-lid points), commissure excursion (48 / 54 from
the lower-lip midpoint, the outer lower-lip spline 48-59-...-55-54 on the facial
midline x = 0), smile angle (``90 + elevation`` of the commissure seen from that
midpoint), dental show (inner lower 60-67-66-65-64 minus inner upper 60-...-64 lip on
the vertical through the outer-upper-lip point whose distance from the commissure is
half the commissure's distance from the midline), and, bilateral, the commissure,
upper-lip and lower-lip height deviations.

Where this implementation deliberately differs from the authors' code (all verified
in ``benchmarks/emotrics_compare.py``): the dental-show point is the exact
spline/circle intersection (Emotrics picks the nearest point of a 1-px grid); the
right-side half-distance uses the pupil midpoint's y (the published code subtracts its
x there); MRD1, MRD2 and brow height are signed (Emotrics reports magnitudes: they only
differ when the lid covers the pupil centre); the fissure height is 0, not a positive
distance, when the lid splines cross.

Ocular synkinesis and lagophthalmos
    The fissure heights of a task frame against the rest frame: narrowing in smile and
    pucker (the eFACE synkinesis item "ocular synkinesis", Banks et al. 2015, "Clinician-
    Graded Electronic Facial Paralysis Assessment: The eFACE", Plast Reconstr Surg
    136(2):223e-230e, doi:10.1097/PRS.0000000000001447), and the residual fissure at
    full eye closure (lagophthalmos, the eFACE "gentle / full eye closure" items). The
    task frame's scale is the rest frame's, carried over by the ratio of their
    inter-canthal distances (eye corners stay visible when the eyes close; the iris does
    not); the frame's line is the eye-contour centres' line in both frames (Emotrics'
    rule for a closed eye) so that closing the eyes does not move it.

Sides are the PATIENT's (:mod:`palsyflow.conventions`): the patient's right eye is
iBUG 36-41 (image left of an unmirrored photo), the right commissure is 48.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.interpolate import UnivariateSpline
from scipy.optimize import brentq

from palsyflow.conventions import IRIS_DIAMETER_MM, SIDES, Side
from palsyflow.features.geometry import iris_diameter_px
from palsyflow.features.regions import IRIS_CENTER
from palsyflow.landmarks.schemes import Scheme, get_scheme
from palsyflow.landmarks.schemes.ibug68 import N_IBUG, eye_frame, mediapipe_to_ibug68
from palsyflow.landmarks.schemes.mediapipe478 import N_POINTS as N_MP
from palsyflow.features.tasks import neutral_index, task_postures
from palsyflow.measures.registry import (
    EMOTRICS_INFO,
    EMOTRICS_REST_COLUMNS,
    EMOTRICS_TASK_COLUMNS,
    SYNKINESIS_INFO,
    SYNKINESIS_TASK_COLUMNS,
    SYNKINESIS_TASKS,
)

__all__ = [
    "EMOTRICS_MEASURES",
    "SYNKINESIS_MEASURES",
    "emotrics_frame_points",
    "emotrics_measures",
    "fissure_heights_mm",
    "lagophthalmos",
    "ocular_synkinesis",
    "recording_emotrics",
]

#: Names returned by :func:`emotrics_measures`, in order (units and descriptions in
#: :data:`palsyflow.measures.registry.EMOTRICS_INFO`).
EMOTRICS_MEASURES: tuple[str, ...] = tuple(EMOTRICS_INFO)
#: Names returned by :func:`ocular_synkinesis` and :func:`lagophthalmos` together.
SYNKINESIS_MEASURES: tuple[str, ...] = tuple(SYNKINESIS_INFO)

#: Feature-table columns filled by :func:`recording_emotrics`, in registry order.
RECORDING_COLUMNS: tuple[str, ...] = (
    *EMOTRICS_REST_COLUMNS,
    *(c for cols in EMOTRICS_TASK_COLUMNS.values() for c in cols),
    *(c for cols in SYNKINESIS_TASK_COLUMNS.values() for c in cols),
)

#: Smoothing factor of every contour spline, px^2 (Emotrics).
SPLINE_SMOOTHING = 1.0

# iBUG-68 contours, ordered image-left to image-right (increasing x of a frontal face).
_BROW: dict[Side, tuple[int, ...]] = {"right": (17, 18, 19, 20, 21), "left": (22, 23, 24, 25, 26)}
_UPPER_LID: dict[Side, tuple[int, ...]] = {"right": (36, 37, 38, 39), "left": (42, 43, 44, 45)}
_LOWER_LID: dict[Side, tuple[int, ...]] = {"right": (36, 41, 40, 39), "left": (42, 47, 46, 45)}
_EYE: dict[Side, tuple[int, ...]] = {"right": tuple(range(36, 42)), "left": tuple(range(42, 48))}
_CANTHI: dict[Side, tuple[int, int]] = {"right": (36, 39), "left": (42, 45)}
_COMMISSURE: dict[Side, int] = {"right": 48, "left": 54}
_UPPER_LIP = (48, 49, 50, 51, 52, 53, 54)
_LOWER_LIP = (48, 59, 58, 57, 56, 55, 54)
_INNER_UPPER_LIP = (60, 61, 62, 63, 64)
_INNER_LOWER_LIP = (60, 67, 66, 65, 64)


def _empty() -> dict[str, float | None]:
    return dict.fromkeys(EMOTRICS_MEASURES)


def _resolve_scheme(scheme: Scheme | str) -> Scheme:
    return get_scheme(scheme) if isinstance(scheme, str) else scheme


def emotrics_frame_points(
    points: np.ndarray,
    scheme: Scheme | str,
    iris: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """The inputs of the Emotrics estimators: 68 points, the two pupil centres, the iris diameter.

    Parameters
    ----------
    points : ndarray, shape (n_points, 2|3)
        One frame, image pixels (x right, y down; z ignored), in ``scheme``.
    scheme : Scheme or {"mediapipe478", "ibug68"}
        ``mediapipe478``: the 68 points are :func:`~palsyflow.landmarks.schemes.ibug68.mediapipe_to_ibug68`
        (with its learned offsets, which move MediaPipe's points onto the iBUG markup),
        the pupils are the iris centres 468 / 473 and the diameter is
        :func:`~palsyflow.features.geometry.iris_diameter_px`. ``ibug68``: the points as
        given; the iris from ``iris``.
    iris : ndarray, shape (2, 3), optional
        Iris circles ``(x, y, radius)`` in pixels, rows the patient's right then left
        eye. Overrides MediaPipe's iris. Without it (iBUG-68) each pupil is the mean of
        its eye's six contour points (Emotrics' rule for a closed eye) and there is no
        diameter.

    Returns
    -------
    p68 : ndarray, shape (68, 2), float64, pixels
    pupils : ndarray, shape (2, 2), float64, pixels
        The patient's right and left pupil centres.
    diameter_px : float or None
        Mean iris diameter of the two eyes, pixels (None when unknown).

    Raises
    ------
    ValueError
        If ``points`` does not have ``scheme``'s point count or shape (n, 2|3), or
        ``iris`` is not (2, 3).
    """
    sch = _resolve_scheme(scheme)
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] not in (2, 3) or p.shape[0] != sch.n_points:
        raise ValueError(f"points must have shape ({sch.n_points}, 2|3) for {sch.name}, got {p.shape}")
    diameter: float | None = None
    if sch.n_points == N_MP:
        p68 = mediapipe_to_ibug68(p)[:, :2]
        pupils = np.stack([p[IRIS_CENTER[s], :2] for s in SIDES[::-1]])  # right, left
        d = iris_diameter_px(p[None])
        diameter = float(d[0]) if d is not None and np.isfinite(d[0]) and d[0] > 0 else None
    elif sch.n_points == N_IBUG:
        p68 = p[:, :2].copy()
        pupils = np.stack([p68[list(_EYE[s])].mean(axis=0) for s in SIDES[::-1]])
    else:  # pragma: no cover - only the two schemes exist
        raise ValueError(f"unsupported scheme {sch.name}")
    if iris is not None:
        c = np.asarray(iris, dtype=np.float64)
        if c.shape != (2, 3):
            raise ValueError(f"iris must have shape (2, 3) (right, left) x (x, y, r), got {c.shape}")
        pupils = c[:, :2].copy()
        r = float(c[:, 2].mean())
        diameter = 2.0 * r if np.isfinite(r) and r > 0 else None
    return p68, pupils, diameter


class _Frame:
    """Points in the eye-line frame of two centres (right -> left, origin their midpoint, pixels).

    The frame is :func:`palsyflow.landmarks.schemes.ibug68.eye_frame` kept in pixels.
    """

    def __init__(self, right: np.ndarray, left: np.ndarray):
        self.origin, self.basis, scale = eye_frame(right, left)
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError("degenerate frame line")

    def __call__(self, pts: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(pts) - self.origin) @ self.basis.T


def _spline(q: np.ndarray) -> UnivariateSpline:
    """Cubic smoothing spline y(x) through frame points ``q`` (m, 2), x sorted."""
    order = np.argsort(q[:, 0], kind="stable")
    x, y = q[order, 0], q[order, 1]
    if np.any(np.diff(x) <= 0):
        raise ValueError("contour points do not advance along the frame's x axis")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return UnivariateSpline(x, y, k=3, s=SPLINE_SMOOTHING)


def _at(q: np.ndarray, idx: tuple[int, ...], x: float) -> float:
    return float(_spline(q[list(idx)])(x))


def _fissure_px(q: np.ndarray, side: Side) -> float:
    """Emotrics palpebral fissure height (px) in frame points ``q`` (68, 2), clipped at 0."""
    up, lo = _UPPER_LID[side], _LOWER_LID[side]
    x_mid = 0.5 * (q[list(up[1:3]), 0].mean() + q[list(lo[1:3]), 0].mean())
    return max(0.0, _at(q, lo, x_mid) - _at(q, up, x_mid))


def _safe(fn, *args) -> float | None:
    try:
        v = float(fn(*args))
    except (ValueError, ArithmeticError):
        return None
    return v if np.isfinite(v) else None


def _lip_point(q: np.ndarray, side: Side) -> float:
    """Frame x of the outer-upper-lip point at half the commissure's midline distance from it."""
    c = q[_COMMISSURE[side]]
    radius = 0.5 * abs(c[0])  # midline is x = 0
    upper = _spline(q[list(_UPPER_LIP)])

    def gap(x: float) -> float:
        return float(np.hypot(x - c[0], upper(x) - c[1])) - radius

    far = 0.0  # the midline: distance >= |c_x| = 2 radius > radius
    if gap(c[0]) >= 0 or gap(far) <= 0:
        raise ValueError("no upper-lip point at the dental-show radius")
    return float(brentq(gap, c[0], far, xtol=1e-9))


def emotrics_measures(
    points: np.ndarray,
    scheme: Scheme | str,
    *,
    iris: np.ndarray | None = None,
    mm_per_px: float | None = None,
) -> dict[str, float | None]:
    """Emotrics-equivalent measures of one frame (see the module docstring).

    Parameters
    ----------
    points : ndarray, shape (n_points, 2|3)
        One frame's landmarks, image pixels (x right, y down), in ``scheme``.
    scheme : Scheme or {"mediapipe478", "ibug68"}
        See :func:`emotrics_frame_points`.
    iris : ndarray, shape (2, 3), optional
        Iris circles (x, y, r) px of the patient's right and left eye (an iBUG-68 face
        needs them for its pupils and scale; for MediaPipe they override 468-477).
    mm_per_px : float, optional
        Known pixel size (a calibration target); replaces the iris scale.

    Returns
    -------
    dict
        :data:`EMOTRICS_MEASURES` -> value: millimetres (``emotrics_smile_angle_*`` in
        degrees, scale-free). A value is None when its contour cannot be fitted, the
        points are not finite, or (lengths only) there is no scale (no iris and no
        ``mm_per_px``).

    Raises
    ------
    ValueError
        If ``points`` or ``iris`` have the wrong shape (:func:`emotrics_frame_points`).

    Notes
    -----
    Source: Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030 (estimators as in the
    authors' Emotrics code; deliberate differences in the module docstring).
    """
    p68, pupils, diameter = emotrics_frame_points(points, scheme, iris)
    out = _empty()
    if not (np.isfinite(p68).all() and np.isfinite(pupils).all()):
        return out
    try:
        frame = _Frame(pupils[0], pupils[1])
    except ValueError:
        return out
    q = frame(p68)
    pup = {s: frame(pupils[i])[0] for i, s in enumerate(("right", "left"))}
    px: dict[str, float | None] = {}
    for s in SIDES:
        x_p, y_p = pup[s]
        px[f"emotrics_brow_height_{s}"] = _safe(lambda s=s, x=x_p, y=y_p: y - _at(q, _BROW[s], x))
        px[f"emotrics_mrd1_{s}"] = _safe(lambda s=s, x=x_p, y=y_p: y - _at(q, _UPPER_LID[s], x))
        px[f"emotrics_mrd2_{s}"] = _safe(lambda s=s, x=x_p, y=y_p: _at(q, _LOWER_LID[s], x) - y)
        px[f"emotrics_palpebral_fissure_height_{s}"] = _safe(_fissure_px, q, s)
    y_mid = _safe(_at, q, _LOWER_LIP, 0.0)
    lip_x = {s: _safe(_lip_point, q, s) for s in SIDES}
    for s in SIDES:
        c = q[_COMMISSURE[s]]
        if y_mid is None:
            px[f"emotrics_commissure_excursion_{s}"] = None
            out[f"emotrics_smile_angle_{s}"] = None
        else:
            px[f"emotrics_commissure_excursion_{s}"] = float(np.hypot(c[0], c[1] - y_mid))
            out[f"emotrics_smile_angle_{s}"] = float(90.0 + np.degrees(np.arctan2(y_mid - c[1], abs(c[0]))))
        x_l = lip_x[s]
        px[f"emotrics_dental_show_{s}"] = None if x_l is None else _safe(
            lambda x=x_l: max(0.0, _at(q, _INNER_LOWER_LIP, x) - _at(q, _INNER_UPPER_LIP, x))
        )
    px["emotrics_commissure_height_deviation"] = float(abs(q[48, 1] - q[54, 1]))
    xr, xl = lip_x["right"], lip_x["left"]
    both = xr is not None and xl is not None
    px["emotrics_upper_lip_height_deviation"] = _safe(lambda: abs(_at(q, _UPPER_LIP, xl) - _at(q, _UPPER_LIP, xr))) if both else None
    px["emotrics_lower_lip_height_deviation"] = _safe(lambda: abs(_at(q, _LOWER_LIP, xl) - _at(q, _LOWER_LIP, xr))) if both else None
    scale = mm_per_px if mm_per_px is not None else (IRIS_DIAMETER_MM / diameter if diameter else None)
    for k, v in px.items():
        out[k] = None if (v is None or scale is None) else v * float(scale)
    return out


def _contour_frame(p68: np.ndarray) -> _Frame:
    return _Frame(*(p68[list(_EYE[s])].mean(axis=0) for s in ("right", "left")))


def _intercanthal_px(p68: np.ndarray) -> float:
    r, l = (p68[list(_CANTHI[s])].mean(axis=0) for s in ("right", "left"))
    return float(np.hypot(*(l - r)))


def fissure_heights_mm(
    points: np.ndarray,
    scheme: Scheme | str,
    *,
    mm_per_px: float,
) -> dict[Side, float | None]:
    """Palpebral fissure height of each eye by the Emotrics estimator, on the eye-contour line.

    Unlike :func:`emotrics_measures` the frame's line joins the two eye-contour centres
    (mean of each eye's six iBUG points), which stays put when the eyes close.

    Parameters
    ----------
    points : ndarray, shape (n_points, 2|3)
        One frame, image pixels, in ``scheme``.
    scheme : Scheme or {"mediapipe478", "ibug68"}
    mm_per_px : float
        Pixel size in this frame, millimetres.

    Returns
    -------
    dict
        ``{"left": mm, "right": mm}`` (patient's sides), None where not computable;
        0 when the lids meet.

    Raises
    ------
    ValueError
        If ``points`` has the wrong shape.
    """
    p68, _, _ = emotrics_frame_points(points, scheme)
    if not np.isfinite(p68).all():
        return {s: None for s in SIDES}
    try:
        q = _contour_frame(p68)(p68)
    except ValueError:
        return {s: None for s in SIDES}
    out: dict[Side, float | None] = {}
    for s in SIDES:
        v = _safe(_fissure_px, q, s)
        out[s] = None if v is None else v * float(mm_per_px)
    return out


def _task_scale(rest68: np.ndarray, task68: np.ndarray, rest_mm_per_px: float) -> float | None:
    a, b = _intercanthal_px(rest68), _intercanthal_px(task68)
    if not (np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0):
        return None
    return rest_mm_per_px * a / b


def _rest_and_task(rest, task, scheme, rest_mm_per_px):
    sch = _resolve_scheme(scheme)
    r68, _, diam = emotrics_frame_points(rest, sch)
    t68, _, _ = emotrics_frame_points(task, sch)
    scale = rest_mm_per_px if rest_mm_per_px is not None else (IRIS_DIAMETER_MM / diam if diam else None)
    if scale is None or not (np.isfinite(r68).all() and np.isfinite(t68).all()):
        return None
    t_scale = _task_scale(r68, t68, scale)
    if t_scale is None:
        return None
    return fissure_heights_mm(rest, sch, mm_per_px=scale), fissure_heights_mm(task, sch, mm_per_px=t_scale)


def ocular_synkinesis(
    rest: np.ndarray,
    task: np.ndarray,
    scheme: Scheme | str,
    task_name: str,
    *,
    rest_mm_per_px: float | None = None,
) -> dict[str, float | None]:
    """Ocular synkinesis: palpebral fissure narrowing in a mouth task relative to rest.

    Parameters
    ----------
    rest, task : ndarray, shape (n_points, 2|3)
        The rest frame and the task's peak frame, image pixels, both in ``scheme``.
    scheme : Scheme or {"mediapipe478", "ibug68"}
    task_name : {"smile", "pucker"}
        :data:`palsyflow.measures.registry.SYNKINESIS_TASKS`.
    rest_mm_per_px : float, optional
        Pixel size of the rest frame; default from its iris (MediaPipe only). The task
        frame's scale is this times the ratio of the rest to the task inter-canthal
        distance (px).

    Returns
    -------
    dict
        ``synkinesis_ocular_<task>_mm_<side>``: rest minus task fissure height, mm
        (positive = narrowing); ``synkinesis_ocular_<task>_fraction_<side>``: that over
        the rest height (None when the rest fissure is 0). All None without a scale or
        with non-finite points.

    Raises
    ------
    ValueError
        If ``task_name`` is not a synkinesis task or the points have the wrong shape.

    Notes
    -----
    eFACE ocular synkinesis item: Banks et al. 2015, doi:10.1097/PRS.0000000000001447;
    fissure estimator: Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030.
    """
    if task_name not in SYNKINESIS_TASKS:
        raise ValueError(f"task_name must be one of {SYNKINESIS_TASKS}, got {task_name!r}")
    keys = [f"synkinesis_ocular_{task_name}_{k}_{s}" for k in ("mm", "fraction") for s in SIDES]
    out: dict[str, float | None] = dict.fromkeys(keys)
    got = _rest_and_task(rest, task, scheme, rest_mm_per_px)
    if got is None:
        return out
    h_rest, h_task = got
    for s in SIDES:
        a, b = h_rest[s], h_task[s]
        if a is None or b is None:
            continue
        out[f"synkinesis_ocular_{task_name}_mm_{s}"] = a - b
        out[f"synkinesis_ocular_{task_name}_fraction_{s}"] = (a - b) / a if a > 0 else None
    return out


def lagophthalmos(
    rest: np.ndarray,
    closure: np.ndarray,
    scheme: Scheme | str,
    *,
    rest_mm_per_px: float | None = None,
) -> dict[str, float | None]:
    """Eye-closure completeness: the residual fissure (lagophthalmos gap) at full eye closure.

    Parameters
    ----------
    rest, closure : ndarray, shape (n_points, 2|3)
        The rest frame (for the scale) and the ``eye_closure_full`` peak frame, image
        pixels, both in ``scheme``.
    scheme : Scheme or {"mediapipe478", "ibug68"}
    rest_mm_per_px : float, optional
        As in :func:`ocular_synkinesis`.

    Returns
    -------
    dict
        ``lagophthalmos_gap_mm_<side>``: the Emotrics fissure height of the closure
        frame, mm (0 = complete closure); None without a scale or finite points.

    Raises
    ------
    ValueError
        If the points have the wrong shape.

    Notes
    -----
    eFACE eye-closure items: Banks et al. 2015, doi:10.1097/PRS.0000000000001447;
    fissure estimator: Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030.
    """
    out: dict[str, float | None] = {f"lagophthalmos_gap_mm_{s}": None for s in SIDES}
    got = _rest_and_task(rest, closure, scheme, rest_mm_per_px)
    if got is not None:
        for s in SIDES:
            out[f"lagophthalmos_gap_mm_{s}"] = got[1][s]
    return out


def recording_emotrics(
    task: str | None,
    xyz: np.ndarray,
    found: np.ndarray,
    keyframes: dict[str, int | None] | None = None,
    rest: tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, int | None] | None] | None = None,
) -> dict[str, float | None]:
    """The Emotrics, ocular-synkinesis and lagophthalmos columns of one MediaPipe recording.

    Postures are those of the task measures, one rule for all
    (:func:`palsyflow.features.tasks.neutral_index`, :func:`palsyflow.features.tasks.task_postures`):

    * ``rest_emotrics_*`` (:data:`~palsyflow.measures.registry.EMOTRICS_REST_COLUMNS`):
      :func:`emotrics_measures` of the recording's neutral frame (the neutral key
      frame, else its first face frame; a photo's only frame), whatever its task;
    * ``task_<task>_emotrics_*`` (:data:`~palsyflow.measures.registry.EMOTRICS_TASK_COLUMNS`,
      ``brow_raise`` and ``smile``): :func:`emotrics_measures` of the task's peak frame;
    * synkinesis (``smile``, ``pucker``: :func:`ocular_synkinesis`) and the lagophthalmos
      gap (``eye_closure_full``: :func:`lagophthalmos`): the peak frame against the
      task's neutral posture (the video's neutral frame, or the rest photo).

    Each frame's scale is its own iris (11.77 mm); the synkinesis and lagophthalmos task
    frames take the neutral frame's scale (see :func:`ocular_synkinesis`).

    Parameters
    ----------
    task : str or None
        Protocol task of the recording.
    xyz : ndarray, shape (n_frames, 478, 2|3)
        MediaPipe landmarks, image pixels (x right, y down); NaN where no face.
    found : ndarray of bool, shape (n_frames,)
    keyframes : dict, optional
        ``{"neutral": row, "peak": row}`` row indices into ``xyz``.
    rest : tuple, optional
        ``(xyz, found, spread, keyframes)`` of the session's ``rest`` recording (the
        neutral posture of a photo task).

    Returns
    -------
    dict
        :data:`RECORDING_COLUMNS` -> mm (smile angle deg, synkinesis fractions ratio);
        None where not measured (other tasks' columns, no face, no peak).

    Raises
    ------
    ValueError
        If ``xyz`` does not hold MediaPipe's 478 points.

    Notes
    -----
    Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030 (Emotrics); Banks et al. 2015,
    doi:10.1097/PRS.0000000000001447 (eFACE ocular synkinesis and eye closure).
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1] < N_MP:
        raise ValueError(f"recording_emotrics needs (n_frames, {N_MP}, 2|3) MediaPipe points, got {xyz.shape}")
    out: dict[str, float | None] = dict.fromkeys(RECORDING_COLUMNS)
    ok = np.asarray(found, dtype=bool) & np.isfinite(xyz[..., :2]).all(axis=(1, 2))
    ni = neutral_index(ok, keyframes)
    if ni is not None:
        m = emotrics_measures(xyz[ni], "mediapipe478")
        out.update({col: m[name] for col, name in EMOTRICS_REST_COLUMNS.items()})
    if task not in EMOTRICS_TASK_COLUMNS and task not in SYNKINESIS_TASK_COLUMNS:
        return out
    p = task_postures(task, xyz, ok, keyframes, rest)
    if p.peak is None:
        return out
    peak = xyz[p.peak]
    if task in EMOTRICS_TASK_COLUMNS:
        m = emotrics_measures(peak, "mediapipe478")
        out.update({col: m[name] for col, name in EMOTRICS_TASK_COLUMNS[task].items()})
    if p.reason is not None or p.neutral is None or (p.neutral_from_rest and rest is None):
        return out
    neutral = np.asarray(rest[0], dtype=np.float64)[p.neutral] if (p.neutral_from_rest and rest is not None) else xyz[p.neutral]
    if task in SYNKINESIS_TASKS:
        out.update(ocular_synkinesis(neutral, peak, "mediapipe478", task))
    elif task == "eye_closure_full":
        out.update(lagophthalmos(neutral, peak, "mediapipe478"))
    return out
