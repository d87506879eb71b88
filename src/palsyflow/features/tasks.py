"""Dynamic (task) measures of the session protocol: movement from neutral to peak, per side.

A task measure compares two postures of the same face, a **neutral** one and the task's
**peak**: in a video the ``neutral`` and ``peak`` key frames of the quality table, for
photos the ``rest`` photo and the task photo. Each posture is aligned separately into the
face frame (:mod:`palsyflow.features.geometry`; here on the **canthi**, the eye-corner
midpoints, which do not move with gaze or with a closing lid, unlike the iris centres)
and normalised by its own inter-ocular distance (IOD), so the two photos may differ in
distance, position and head roll. Left and right are the patient's sides.

Per-task movement ``m`` of one side (``d`` = peak minus neutral face-frame position,
IOD units, x towards the patient's left, y down; definitions mirror invariant: they read
``y``, ``|x|``, lengths and polygon areas only)

``brow_raise`` (unit iod_canthal)
    Brow rise: mean of ``-d_y`` over the 5 upper-brow points (frontalis; House &
    Brackmann 1985, doi:10.1177/019459988509300202, "superior movement of the eyebrow").
``eye_closure_gentle``, ``eye_closure_full`` (unit fraction)
    Closure fraction ``1 - A_peak / A_neutral`` of the 16-point eye-contour polygon
    (MediaPipe lid contour) area, clipped to [0, 1]; 1 = lids closed (orbicularis oculi;
    eFACE "gentle / full eye closure", Banks et al. 2015, doi:10.1097/PRS.0000000000001447).
``smile`` (unit iod_canthal)
    Commissure excursion: length of the oral commissure's displacement from rest to
    smile, as measured by Manktelow et al. 2008 (Plast Reconstr Surg 121(2):435,
    doi:10.1097/01.prs.0000297652.29904.8c) with a ruler and by Emotrics.
``eee`` (lower teeth bared, unit iod_canthal)
    Mean displacement length of the commissure and the three lateral lower-lip points
    (depressor labii inferioris; eFACE "lower lip movement (EEEE)", Banks et al. 2015).
``pucker`` (unit iod_canthal)
    Medial movement of the mouth corner: mean decrease of the horizontal distance
    ``|x - x_c|`` of the outer commissure (61/291), the inner commissure (78/308) and
    the two inner-lip points beside it (95/324, 191/415) from the lip centre line
    ``x_c`` (mean x of the midline lip points 0, 13, 14, 17) of the same posture
    (orbicularis oris; Sunnybrook "lip pucker", Ross et al. 1996,
    doi:10.1016/S0194-5998(96)70206-1). Measured against the lip centre rather than the
    facial midline because a pucker often shifts the whole mouth sideways; on healthy
    photo pairs that shift was as large as the corners' medial movement. The corner
    itself, not the outer vermilion around it: the vermilion mostly protrudes (invisible
    in a frontal photo), and with it the measure named the phantom's weakened side in
    79 % of pucker phantoms (w >= 0.4) and read healthy pucker asymmetry as median
    0.60, max 0.63; with the corner points, 84 % and median 0.24, max 0.44
    (``benchmarks/phantom_response.py``, ``benchmarks/healthy_asymmetry.py``).
``snarl`` (nose wrinkle, unit iod_canthal)
    Rise (``-d_y``) of the alar base, alar crease, upper nasolabial fold and two upper-lip
    points (levator labii superioris alaeque nasi; Sunnybrook "snarl").

Negative movements (a brow that sinks, a widening eye) are clipped to 0.

Activation gate
    The landmark noise of a posture is the median TTA spread (per-point median distance
    of the augmented detections from their median, pixels; :mod:`palsyflow.landmarks.tta`)
    of the task's points on both sides, divided by that posture's IOD in pixels; when the
    posture has no TTA spread, ``params.task_noise_default_iod``. The noise of a movement
    is ``sqrt(s_neutral^2 + s_peak^2)`` (two independent positions); for the closure
    fraction it is propagated through the shoelace area formula
    (``sd(A) = s/2 * sqrt(sum_i |p_(i+1) - p_(i-1)|^2)`` for independent isotropic point
    noise ``s``) and divided by the neutral area. The gate threshold is
    ``params.task_activation_factor`` times that noise. When ``max(m_L, m_R)`` is below
    it the task is **not activated**: no asymmetry, cosine, weaker side or eFACE item.

Scores (activated tasks only)
    ``asymmetry_score = |m_L - m_R| / max(m_L, m_R)`` in [0, 1] (convention of
    :mod:`palsyflow.conventions`); ``cosine_score`` = cosine similarity of the
    concatenated displacement vectors of the left points mirrored (``x -> -x``) and of
    the right points, in [-1, 1] (1 = the two sides move the same way);
    ``weaker_side`` = the side with the smaller movement (none when the asymmetry is at
    most ``params.weaker_min_asym``); ``eface`` = ``100 * min(m) / max(m)``, the weaker
    side's movement in percent of the stronger side's, the way eFACE scores dynamic items
    (100 = normal, symmetric movement; Banks et al. 2015).

The gate, the scores, the House-Brackmann measure and the eFACE-style subscores are
computed from the two side movements by :mod:`palsyflow.measures.tasks`
(:func:`~palsyflow.measures.tasks.from_sides`, :func:`~palsyflow.measures.tasks.hb_measure`,
:func:`~palsyflow.measures.tasks.eface_static`, :func:`~palsyflow.measures.tasks.eface_dynamic`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from palsyflow.config import FeatureParams
from palsyflow.conventions import IRIS_DIAMETER_MM, SIDES, Side
from palsyflow.features.geometry import align_face, as_points, iris_diameter_px
from palsyflow.features.regions import BROW, COMMISSURE, N_MESH_POINTS, N_POINTS
from palsyflow.landmarks.schemes.mediapipe478 import MP_FLIP
from palsyflow.measures.registry import DYNAMIC_TASKS, TASK_INFO
from palsyflow.measures.tasks import TaskError, TaskMeasure, from_sides, not_available

MeasureKind = Literal["rise", "closure", "excursion", "medial"]


def _both(right: Sequence[int]) -> dict[Side, tuple[int, ...]]:
    """Right-side indices and their exact mirror points (MediaPipe's symmetric mesh)."""
    return {"right": tuple(int(i) for i in right), "left": tuple(int(MP_FLIP[i]) for i in right)}


#: 16-point eye contour (MediaPipe lid contour), outer canthus, upper lid, inner canthus,
#: lower lid; index ``k`` of the two sides are mirror points.
EYE_CONTOUR: dict[Side, tuple[int, ...]] = _both((33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7))
#: Commissure plus the lateral lower lip (outer vermilion), corner to midline.
LOWER_LIP: dict[Side, tuple[int, ...]] = _both((61, 146, 91, 181))
#: Mouth corner: outer and inner commissure and the inner-lip points beside it (pucker).
LIP_CORNER: dict[Side, tuple[int, ...]] = _both((61, 78, 95, 191))
#: Midline lip points (upper and lower vermilion centre, inner lip centre).
LIP_MIDLINE: tuple[int, ...] = (0, 13, 14, 17)
#: Alar base, alar crease, upper nasolabial fold, two upper-lip points (snarl).
SNARL_POINTS: dict[Side, tuple[int, ...]] = _both((48, 129, 205, 40, 39))
#: Lip corner neighbourhood whose displacement vectors enter the smile cosine score.
SMILE_VECTOR: dict[Side, tuple[int, ...]] = _both((61, 146, 91, 185, 40, 78, 95, 191))
#: Mid-portion of the brow (central 3 of the 5 upper-brow points), House-Brackmann measure.
BROW_MID: dict[Side, tuple[int, ...]] = {s: BROW[s][1:4] for s in SIDES}


@dataclass(frozen=True)
class TaskSpec:
    """How one task's movement is measured (its unit, region and description are
    registered in :data:`palsyflow.measures.registry.TASK_INFO`).

    Attributes
    ----------
    task : str
        Protocol task name (:data:`palsyflow.conventions.TASKS`).
    kind : {"rise", "closure", "excursion", "medial"}
        ``rise``: mean ``-d_y``; ``closure``: ``1 - A_peak/A_neutral`` of the polygon;
        ``excursion``: mean ``|d|``; ``medial``: mean decrease of ``|x - x_c|`` (lip
        centre line ``x_c``).
    points : dict
        Patient side -> MediaPipe indices the movement is computed from.
    vector_points : dict
        Patient side -> indices whose displacement vectors form the cosine score.
    """

    task: str
    kind: MeasureKind
    points: dict[Side, tuple[int, ...]]
    vector_points: dict[Side, tuple[int, ...]]

    @property
    def unit(self) -> str:
        """``iod_canthal`` or ``fraction`` (registry)."""
        return TASK_INFO[self.task].unit

    @property
    def region(self) -> str:
        """Region of the face the task tests (registry)."""
        return TASK_INFO[self.task].region

    @property
    def description(self) -> str:
        """What the movement is (registry)."""
        return TASK_INFO[self.task].description


_MOUTH_C = {s: (COMMISSURE[s],) for s in SIDES}

#: The dynamic tasks, in report order (:data:`palsyflow.measures.registry.DYNAMIC_TASKS`).
TASK_SPECS: dict[str, TaskSpec] = {
    t.task: t
    for t in (
        TaskSpec("brow_raise", "rise", BROW, BROW),
        TaskSpec("eye_closure_gentle", "closure", EYE_CONTOUR, EYE_CONTOUR),
        TaskSpec("eye_closure_full", "closure", EYE_CONTOUR, EYE_CONTOUR),
        TaskSpec("smile", "excursion", _MOUTH_C, SMILE_VECTOR),
        TaskSpec("snarl", "rise", SNARL_POINTS, SNARL_POINTS),
        TaskSpec("pucker", "medial", LIP_CORNER, LIP_CORNER),
        TaskSpec("eee", "excursion", LOWER_LIP, LOWER_LIP),
    )
}


@dataclass(frozen=True)
class Pose:
    """One posture (a single frame) of a face, aligned on the canthi.

    Attributes
    ----------
    coords : ndarray, shape (n_points, 2), float64
        Face-frame coordinates in IOD units (x towards the patient's left, y down),
        aligned on the eye-corner midpoints.
    iod_px : float
        Inter-canthal-midpoint distance in image pixels (the IOD of this pose).
    noise_iod : ndarray, shape (n_points,), float64
        Per-point landmark noise (TTA spread) in IOD units; NaN where unknown.
    mm_per_iod : float or None
        Millimetres per IOD unit (``iod_px`` times the iris-based mm per pixel, iris
        diameter 11.77 mm; Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030); None
        without iris points. Meaningful only when the eyes are open.
    """

    coords: np.ndarray
    iod_px: float
    noise_iod: np.ndarray
    mm_per_iod: float | None


def make_pose(points: np.ndarray, spread: np.ndarray | None = None) -> Pose | None:
    """Align one frame of landmarks on the canthi.

    Parameters
    ----------
    points : ndarray, shape (n_points, 2|3) or (1, n_points, 2|3)
        MediaPipe landmarks in image pixels (x right, y down), ``n_points`` 468 or 478.
    spread : ndarray, shape (n_points,), optional
        Per-point TTA spread in pixels (NaN where no TTA ran).

    Returns
    -------
    Pose or None
        None when the frame has no usable face (non-finite eye corners or zero IOD).

    Raises
    ------
    palsyflow.features.geometry.GeometryError
        If ``points`` is not a single frame of >= 468 points.
    """
    p = as_points(points)
    if p.shape[0] != 1:
        raise TaskError(f"make_pose takes one frame, got {p.shape[0]}")
    aligned = align_face(p[:, :N_MESH_POINTS])  # canthi, not the iris
    iod = float(aligned.iod_px[0])
    if not (np.isfinite(iod) and iod > 0):
        return None
    coords = aligned.coords[0]
    mm_per_iod = None
    if p.shape[1] >= N_POINTS:
        diam = iris_diameter_px(p)
        if diam is not None and np.isfinite(diam[0]) and diam[0] > 0:
            mm_per_iod = float(iod * IRIS_DIAMETER_MM / diam[0])
    n = coords.shape[0]
    noise = np.full(n, np.nan)
    if spread is not None:
        s = np.asarray(spread, dtype=np.float64).reshape(-1)[:n]
        noise[: s.size] = s / iod
    return Pose(coords=coords, iod_px=iod, noise_iod=noise, mm_per_iod=mm_per_iod)


def _polygon_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _area_sd_factor(xy: np.ndarray) -> float:
    """``sqrt(sum |p_(i+1) - p_(i-1)|^2) / 2``: area SD per unit isotropic point noise."""
    chord = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)
    return float(0.5 * np.sqrt((chord**2).sum()))


def side_movement(spec: TaskSpec, neutral: np.ndarray, peak: np.ndarray, side: Side) -> float:
    """Movement ``m`` of one side (unclipped), from face-frame coordinates.

    Parameters
    ----------
    spec : TaskSpec
    neutral, peak : ndarray, shape (n_points, 2)
        Face-frame coordinates (IOD units) of the two postures.
    side : "left" or "right"

    Returns
    -------
    float
        In ``spec.unit``; NaN when a point is missing. Formulas in the module docstring.
    """
    idx = list(spec.points[side])
    a, b = neutral[idx], peak[idx]
    if spec.kind == "rise":
        return float(np.mean(-(b[:, 1] - a[:, 1])))
    if spec.kind == "excursion":
        return float(np.mean(np.linalg.norm(b - a, axis=1)))
    if spec.kind == "medial":
        ca = float(np.mean(neutral[list(LIP_MIDLINE), 0]))
        cb = float(np.mean(peak[list(LIP_MIDLINE), 0]))
        return float(np.mean(np.abs(a[:, 0] - ca) - np.abs(b[:, 0] - cb)))
    area0 = _polygon_area(a)
    if not area0 > 0:
        return float("nan")
    return 1.0 - _polygon_area(b) / area0


def _noise(spec: TaskSpec, pose: Pose, default: float) -> float:
    idx = list(spec.points["right"]) + list(spec.points["left"])
    vals = pose.noise_iod[idx]
    vals = vals[np.isfinite(vals)]
    return float(np.median(vals)) if vals.size else float(default)


def movement_noise(spec: TaskSpec, neutral: Pose, peak: Pose, params: FeatureParams) -> float:
    """Noise (one SD) of a side's movement, in ``spec.unit`` (see module docstring)."""
    sn = _noise(spec, neutral, params.task_noise_default_iod)
    sp = _noise(spec, peak, params.task_noise_default_iod)
    if spec.kind != "closure":
        return float(math.hypot(sn, sp))
    worst = 0.0
    for s in SIDES:
        idx = list(spec.points[s])
        a0 = _polygon_area(neutral.coords[idx])
        if not a0 > 0:
            continue
        sd_a0 = sn * _area_sd_factor(neutral.coords[idx])
        sd_a1 = sp * _area_sd_factor(peak.coords[idx])
        worst = max(worst, math.hypot(sd_a0, sd_a1) / a0)
    return worst


def cosine_score(spec: TaskSpec, neutral: np.ndarray, peak: np.ndarray) -> float | None:
    """Cosine similarity of the mirrored left and the right displacement vectors.

    Parameters
    ----------
    spec : TaskSpec
    neutral, peak : ndarray, shape (n_points, 2)
        Face-frame coordinates (IOD units).

    Returns
    -------
    float in [-1, 1] or None
        None when either side did not move at all or a point is missing.
    """
    d = peak - neutral
    right = d[list(spec.vector_points["right"])].reshape(-1)
    left = d[list(spec.vector_points["left"])] * np.array([-1.0, 1.0])
    left = left.reshape(-1)
    nl, nr = np.linalg.norm(left), np.linalg.norm(right)
    if not (np.isfinite(nl) and np.isfinite(nr)) or nl == 0 or nr == 0:
        return None
    return float(np.clip(np.dot(left, right) / (nl * nr), -1.0, 1.0))


def _hb_cm(task: str, neutral: Pose, peak: Pose) -> dict[str, float]:
    if neutral.mm_per_iod is None or task not in ("brow_raise", "smile"):
        return {}
    out: dict[str, float] = {}
    for s in SIDES:
        if task == "brow_raise":
            idx = list(BROW_MID[s])
            move = float(np.mean(neutral.coords[idx, 1] - peak.coords[idx, 1]))
        else:
            c = COMMISSURE[s]
            move = float(abs(peak.coords[c, 0]) - abs(neutral.coords[c, 0]))
        if np.isfinite(move):
            out[s] = move * neutral.mm_per_iod / 10.0
    return out if len(out) == 2 else {}


def task_measure(task: str, neutral: Pose | None, peak: Pose | None, params: FeatureParams | None = None) -> TaskMeasure:
    """Measure one task from its neutral and peak postures.

    Parameters
    ----------
    task : str
        One of :data:`DYNAMIC_TASKS`.
    neutral, peak : Pose or None
        From :func:`make_pose`; None when that posture has no face or is missing (the
        task is then reported not available, never guessed).
    params : FeatureParams, optional
        ``task_activation_factor``, ``task_noise_default_iod``, ``weaker_min_asym``.

    Returns
    -------
    TaskMeasure
        Definitions, the activation gate and sources in the module docstring.

    Raises
    ------
    TaskError
        If ``task`` is not a dynamic task.
    """
    params = params or FeatureParams()
    if task not in TASK_SPECS:
        raise TaskError(f"not a dynamic task: {task!r} (known: {', '.join(DYNAMIC_TASKS)})")
    if neutral is None:
        return not_available(task, "no neutral posture (rest recording or neutral frame) with a face")
    if peak is None:
        return not_available(task, "no task posture with a face")
    spec = TASK_SPECS[task]
    raw = {s: side_movement(spec, neutral.coords, peak.coords, s) for s in SIDES}
    if not all(np.isfinite(v) for v in raw.values()):
        return not_available(task, "task points missing")
    hi_clip = 1.0 if spec.kind == "closure" else math.inf
    m = {s: float(min(max(raw[s], 0.0), hi_clip)) for s in SIDES}
    threshold = params.task_activation_factor * movement_noise(spec, neutral, peak, params)
    top = max(m.values())
    cos = cosine_score(spec, neutral.coords, peak.coords) if top >= threshold and top > 0 else None
    return from_sides(task, m["left"], m["right"], float(threshold), cos, _hb_cm(task, neutral, peak), params)


# -- picking the postures of a recording ------------------------------------------------
def neutral_index(found: np.ndarray, keyframes: Mapping[str, int | None] | None) -> int | None:
    """Row of the neutral posture: the ``neutral`` key frame, else the first face frame."""
    n = found.size
    k = (keyframes or {}).get("neutral")
    if k is not None and 0 <= int(k) < n and found[int(k)]:
        return int(k)
    hits = np.flatnonzero(found)
    return int(hits[0]) if hits.size else None


def peak_index(
    task: str,
    xyz: np.ndarray,
    found: np.ndarray,
    keyframes: Mapping[str, int | None] | None,
    neutral: Pose,
) -> int | None:
    """Row of the task's peak posture in a video.

    The ``peak`` key frame when given and with a face; else the face frame with the
    largest summed movement ``m_L + m_R`` of the task from ``neutral`` (symmetric in the
    sides, so it does not favour either).
    """
    n = found.size
    k = (keyframes or {}).get("peak")
    if k is not None and 0 <= int(k) < n and found[int(k)]:
        return int(k)
    spec = TASK_SPECS[task]
    best, best_i = -math.inf, None
    for i in np.flatnonzero(found):
        pose = make_pose(xyz[i])
        if pose is None:
            continue
        v = sum(side_movement(spec, neutral.coords, pose.coords, s) for s in SIDES)
        if np.isfinite(v) and v > best:
            best, best_i = v, int(i)
    return best_i


def _pose_at(xyz: np.ndarray, spread: np.ndarray | None, i: int | None) -> Pose | None:
    if i is None:
        return None
    return make_pose(xyz[i], None if spread is None else spread[i])


@dataclass(frozen=True)
class TaskPostures:
    """Where one recording's task postures are (the one key-frame rule of every task measure).

    Attributes
    ----------
    neutral : int or None
        Row of the neutral posture: in the recording itself (a video) or, when
        ``neutral_from_rest``, in the session's ``rest`` recording (a photo task).
    peak : int or None
        Row of the peak posture in the recording.
    neutral_from_rest : bool
    reason : str or None
        Why the postures cannot be found (then the task is not available).
    """

    neutral: int | None
    peak: int | None
    neutral_from_rest: bool = False
    reason: str | None = None


def task_postures(
    task: str,
    xyz: np.ndarray,
    found: np.ndarray,
    keyframes: Mapping[str, int | None] | None = None,
    rest: tuple[np.ndarray, np.ndarray, np.ndarray | None, Mapping[str, int | None] | None] | None = None,
) -> TaskPostures:
    """The neutral and peak postures of a task recording.

    A video (more than one frame) uses its own neutral frame (:func:`neutral_index`) and
    peak frame (:func:`peak_index`); a photo is the peak and the neutral posture is the
    ``rest`` recording's neutral frame (its single photo).

    Parameters
    ----------
    task : str
        One of :data:`DYNAMIC_TASKS`.
    xyz : ndarray, shape (n_frames, n_points, 2|3)
        Landmarks in image pixels (x right, y down).
    found : ndarray of bool, shape (n_frames,)
    keyframes : mapping, optional
        ``{"neutral": row, "peak": row}`` row indices into ``xyz``.
    rest : tuple, optional
        ``(xyz, found, spread, keyframes)`` of the session's ``rest`` recording.

    Returns
    -------
    TaskPostures
        ``neutral`` is None without a face in the rest recording (photo task); ``reason``
        is set when the recording itself gives no postures.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    found = np.asarray(found, dtype=bool) & np.isfinite(xyz[..., :2]).all(axis=(1, 2))
    if not found.any():
        return TaskPostures(None, None, reason="no face in the task recording")
    if xyz.shape[0] > 1:
        ni = neutral_index(found, keyframes)
        neutral = _pose_at(xyz, None, ni)
        if neutral is None:
            return TaskPostures(None, None, reason="no neutral frame with a face")
        pi = peak_index(task, xyz, found, keyframes, neutral)
        if pi is None or pi == ni:
            return TaskPostures(ni, None, reason="no peak frame distinct from the neutral frame")
        return TaskPostures(ni, pi)
    peak = int(np.flatnonzero(found)[0])
    if rest is None:
        return TaskPostures(None, peak, True, reason="photo task without a rest recording")
    rxyz = np.asarray(rest[0], dtype=np.float64)
    rfound = np.asarray(rest[1], dtype=bool) & np.isfinite(rxyz[..., :2]).all(axis=(1, 2))
    return TaskPostures(neutral_index(rfound, rest[3]), peak, True)


def recording_task_measure(
    task: str,
    xyz: np.ndarray,
    found: np.ndarray,
    spread: np.ndarray | None = None,
    keyframes: Mapping[str, int | None] | None = None,
    rest: tuple[np.ndarray, np.ndarray, np.ndarray | None, Mapping[str, int | None] | None] | None = None,
    params: FeatureParams | None = None,
) -> TaskMeasure:
    """Measure ``task`` from one recording's arrays (and, for a photo, the rest recording's).

    Postures: :func:`task_postures`.

    Parameters
    ----------
    task : str
        One of :data:`DYNAMIC_TASKS`.
    xyz : ndarray, shape (n_frames, n_points, 2|3)
        Landmarks in image pixels (x right, y down); NaN rows for no-face frames.
    found : ndarray of bool, shape (n_frames,)
    spread : ndarray, shape (n_frames, n_points), optional
        Per-point TTA spread, pixels (NaN where no TTA ran).
    keyframes : mapping, optional
        ``{"neutral": row, "peak": row}`` row indices into ``xyz``.
    rest : tuple, optional
        ``(xyz, found, spread, keyframes)`` of the session's ``rest`` recording.
    params : FeatureParams, optional

    Returns
    -------
    TaskMeasure
        Not available when a posture is missing (photo without ``rest``, no face).
    """
    params = params or FeatureParams()
    xyz = np.asarray(xyz, dtype=np.float64)
    p = task_postures(task, xyz, found, keyframes, rest)
    if p.reason is not None:
        return not_available(task, p.reason)
    src_xyz, src_spread = (np.asarray(rest[0], dtype=np.float64), rest[2]) if p.neutral_from_rest and rest is not None else (xyz, spread)
    neutral = _pose_at(src_xyz, src_spread, p.neutral)
    return task_measure(task, neutral, _pose_at(xyz, spread, p.peak), params)
