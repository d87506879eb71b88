"""Regional left/right measures of one recording, and their asymmetry.

Every measure is computed in the face frame (:mod:`palsyflow.features.geometry`,
IOD units, x towards the patient's left, y down) for each of the patient's sides.

Static measures (one value per side)
    brow
        Brow height: mean height of the upper brow contour (5 points) above the eye
        line (the line through both eye centres, ``y = 0``), i.e. ``-mean(y)``.
        Emotrics measures brow height as the distance from the upper brow margin to
        the pupil line (Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030).
        **Weaker side = the LOWER brow (smaller height)**: brow ptosis from frontalis
        paralysis (House & Brackmann 1985, doi:10.1177/019459988509300202, grade
        descriptions "forehead: no/slight movement").
    eye
        Palpebral fissure height: mean distance between three upper-lid and three
        lower-lid points of the central lid (Emotrics palpebral fissure height,
        Guarin et al. 2018). **Weaker side = the WIDER fissure**: orbicularis oculi
        weakness widens the fissure at rest and leaves it open on closure
        (lagophthalmos; House & Brackmann 1985 "incomplete eye closure"). Note that
        synkinetic (late) palsy can narrow the affected fissure instead.
    cheek
        Nasolabial / alar height: mean ``y`` below the eye line of the alar base,
        alar crease and two upper nasolabial-fold points. **Weaker side = the LOWER
        one (larger y)**: the paralysed midface sags and its nasolabial fold
        flattens (loss of nasolabial fold, a criterion of the Sunnybrook resting
        symmetry, Ross et al. 1996, doi:10.1016/S0194-5998(96)70206-1).
    mouth
        Commissure height: ``y`` of the oral commissure below the eye line (Emotrics
        "commissure height deviation", Guarin et al. 2018). **Weaker side = the
        LOWER commissure (larger y)**: a weak commissure droops (House & Brackmann
        1985 "mouth: slight weakness ... asymmetric"). The commissure's lateral
        position ``|x|`` from the facial midline is reported as
        ``mouth_lateral_*`` (no weaker side: it depends on the task).

For a photo the static measures are those of its single frame. For a video they
come from the ``neutral`` key frame when one is given and has a face, else they are
the per-frame **median** over frames with a face (per measure and side).

Dynamic measures (videos, >= 2 frames with a face)
    ``{brow,eye}_excursion_*``: a robust range of movement, the
    ``params.excursion_percentile`` (default 95th) percentile over face frames of
    the displacement from the reference posture, computed in the face frame aligned
    on the **eye-corner midpoints** (canthi; :func:`~palsyflow.features.geometry.align_face`
    on the 468 mesh points), not the iris centres: the irises move with gaze during a
    recording, and an iris-based frame turns every glance into apparent brow and mouth
    movement (the mouth excursion below uses the same frame; on the palsy phantom's speech videos, ``benchmarks/phantom_response.py``,
    the iris frame gave a weakened side's series a Spearman rho as low as -0.09; the
    canthus frame 0.60 and a median of 0.94). The displacement is ``|m_t - m_ref|``
    for the scalar brow height and fissure height (Emotrics/Parra-Dominguez style
    excursion, Parra-Dominguez et al. 2021, doi:10.3390/app11052435). The reference
    posture is the neutral key frame when given, else the median face-frame
    coordinates of the first ``params.neutral_fallback_frames`` face frames (the
    protocol starts at rest).

    ``mouth_excursion_*`` is the commissure's **root-mean-square movement about its
    mean position** over the face frames, ``sqrt(mean_t |c_t - mean(c)|^2)`` (IOD; the
    radius of gyration of the commissure's 2-D trajectory). It needs no reference
    frame and averages over every frame instead of reading one tail value, so single
    frames of landmark jitter weigh little: on the phantom's speech videos (11 GRID
    clips x 2 sides, ``benchmarks/phantom_response.py``) every weakened side's series
    reached Spearman rho >= 0.9 with it, against 19 of 22 with the 95th-percentile
    displacement from the neutral frame, whose residual noise on the weakened side
    (0.02-0.04 IOD at 360x288) was as large as the last weakening steps.

    **Weaker side = the SMALLER excursion** (less voluntary movement).

Asymmetry of every pair: ``|m_L - m_R| / max(|m_L|, |m_R|)`` in [0, 1]
(:mod:`palsyflow.conventions`); 0 when both are 0. ``*_weaker`` is ``None`` when the
asymmetry is at most ``params.weaker_min_asym`` or a value is missing.

Mirror invariance: mirroring the image and swapping left/right points negates the
face-frame x and keeps y, and every measure reads only ``y``, ``|x|`` or
distances, so the measures swap sides exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from palsyflow.config import FeatureParams
from palsyflow.conventions import SIDES, Side
from palsyflow.features.geometry import align_face, as_points
from palsyflow.features.regions import (
    BROW,
    CHEEK,
    COMMISSURE,
    EYE_LOWER_LID,
    EYE_UPPER_LID,
    N_MESH_POINTS,
    REGIONS,
)

Direction = Literal["smaller", "larger"]

#: Which value marks the weaker side, per measure family (see module docstring).
WEAKER_WHEN: dict[str, Direction] = {
    "brow": "smaller",
    "eye": "larger",
    "cheek": "larger",
    "mouth": "larger",
    "brow_excursion": "smaller",
    "eye_excursion": "smaller",
    "mouth_excursion": "smaller",
}

#: Families with a dynamic (excursion) measure.
DYNAMIC: tuple[str, ...] = ("brow_excursion", "eye_excursion", "mouth_excursion")
#: Families without a weaker side.
NO_SIDE: tuple[str, ...] = ("mouth_lateral",)


def asymmetry(left: float | None, right: float | None) -> float | None:
    """``|L - R| / max(|L|, |R|)`` in [0, 1]; 0 when both are 0; None if either is missing.

    Source: the ratio convention of :mod:`palsyflow.conventions`.
    """
    if left is None or right is None or not (np.isfinite(left) and np.isfinite(right)):
        return None
    denom = max(abs(left), abs(right))
    if denom == 0:
        return 0.0
    return float(min(1.0, abs(left - right) / denom))


def weaker_side(
    family: str, left: float | None, right: float | None, min_asym: float = 0.0
) -> Side | None:
    """The side judged weaker by ``family``'s clinical logic (:data:`WEAKER_WHEN`).

    Parameters
    ----------
    family : str
        A key of :data:`WEAKER_WHEN` (``"brow"``, ``"mouth_excursion"`` ...).
    left, right : float or None
        The patient's left and right values.
    min_asym : float
        No side is named when :func:`asymmetry` is at most this.

    Returns
    -------
    "left", "right" or None

    Raises
    ------
    KeyError
        If ``family`` has no weaker-side rule.
    """
    rule = WEAKER_WHEN[family]
    a = asymmetry(left, right)
    if a is None or a <= min_asym or left == right:
        return None
    left_larger = left > right  # type: ignore[operator]
    if rule == "larger":
        return "left" if left_larger else "right"
    return "right" if left_larger else "left"


def frame_measures(coords: np.ndarray) -> dict[str, np.ndarray]:
    """Static per-frame measures from face-frame coordinates.

    Parameters
    ----------
    coords : ndarray, shape (n_frames, n_points, 2)
        Face-frame coordinates, IOD units (:func:`~palsyflow.features.geometry.align_face`).

    Returns
    -------
    dict of str to ndarray, shape (n_frames,)
        Keys ``{brow,eye,cheek,mouth,mouth_lateral}_{left,right}``, IOD units
        (NaN where a frame has no face); definitions in the module docstring.
    """
    c = np.asarray(coords, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    for s in SIDES:
        out[f"brow_{s}"] = -c[:, list(BROW[s]), 1].mean(axis=1)
        upper = c[:, list(EYE_UPPER_LID[s])]
        lower = c[:, list(EYE_LOWER_LID[s])]
        out[f"eye_{s}"] = np.linalg.norm(upper - lower, axis=2).mean(axis=1)
        out[f"cheek_{s}"] = c[:, list(CHEEK[s]), 1].mean(axis=1)
        out[f"mouth_{s}"] = c[:, COMMISSURE[s], 1]
        out[f"mouth_lateral_{s}"] = np.abs(c[:, COMMISSURE[s], 0])
    return out


def _f(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def measure_names() -> list[str]:
    """Keys of :func:`recording_measures`' result, in order."""
    names: list[str] = []
    for fam in (*REGIONS, "mouth_lateral", *DYNAMIC):
        names += [f"{fam}_left", f"{fam}_right", f"{fam}_asym"]
        if fam not in NO_SIDE:
            names.append(f"{fam}_weaker")
    return names


def _empty() -> dict[str, float | str | None]:
    return dict.fromkeys(measure_names())


def _fill(out: dict, fam: str, left: float, right: float, min_asym: float) -> None:
    lv, rv = _f(left), _f(right)
    out[f"{fam}_left"] = lv
    out[f"{fam}_right"] = rv
    out[f"{fam}_asym"] = asymmetry(lv, rv)
    if fam not in NO_SIDE:
        out[f"{fam}_weaker"] = weaker_side(fam, lv, rv, min_asym)


def recording_measures(
    points: np.ndarray,
    face_found: np.ndarray | None = None,
    keyframes: Mapping[str, int | None] | None = None,
    params: FeatureParams | None = None,
) -> dict[str, float | str | None]:
    """All regional L/R measures of one recording.

    Parameters
    ----------
    points : ndarray, shape (n_frames, 478, 2|3)
        MediaPipe landmarks in image pixels (x right, y down; ``z`` ignored); NaN
        rows for frames without a face. A photo has ``n_frames == 1``.
    face_found : ndarray of bool, shape (n_frames,), optional
        Frames with a face; default: frames whose points are all finite.
    keyframes : mapping, optional
        ``{"neutral": i, "peak": j}`` with **row indices into** ``points`` (not frame
        numbers); ``None`` values or a missing key mean "not known". Only
        ``"neutral"`` is used.
    params : FeatureParams, optional
        Defaults to ``FeatureParams()``.

    Returns
    -------
    dict
        For each family in ``brow, eye, cheek, mouth, mouth_lateral,
        brow_excursion, eye_excursion, mouth_excursion``: ``{family}_left``,
        ``{family}_right`` (IOD units, patient's sides, float or None),
        ``{family}_asym`` (0-1) and, except ``mouth_lateral``, ``{family}_weaker``
        (``"left"``/``"right"``/None). All values are None when fewer than
        ``params.min_face_found_fraction`` of the frames have a face; the excursion
        values are None for fewer than two face frames. Definitions, the weaker-side
        rules and their sources are in the module docstring.

    Raises
    ------
    palsyflow.features.geometry.GeometryError
        If ``points`` does not have shape (n_frames, >=468, 2|3).
    ValueError
        If ``face_found`` does not have shape (n_frames,).
    """
    params = params or FeatureParams()
    p = as_points(points)
    n = p.shape[0]
    finite = np.isfinite(p).all(axis=(1, 2))
    if face_found is None:
        found = finite
    else:
        found = np.asarray(face_found, dtype=bool).reshape(-1)
        if found.shape != (n,):
            raise ValueError(f"face_found must have shape ({n},), got {np.shape(face_found)}")
    aligned = align_face(p)
    valid = found & aligned.valid & finite
    out = _empty()
    n_valid = int(valid.sum())
    if n == 0 or n_valid == 0 or n_valid / n < params.min_face_found_fraction:
        return out
    coords = aligned.coords
    per_frame = frame_measures(coords)

    neutral = (keyframes or {}).get("neutral")
    has_neutral = neutral is not None and 0 <= int(neutral) < n and bool(valid[int(neutral)])

    def static(key: str) -> float:
        if has_neutral:
            return float(per_frame[key][int(neutral)])
        return float(np.median(per_frame[key][valid]))

    for fam in (*REGIONS, "mouth_lateral"):
        _fill(out, fam, static(f"{fam}_left"), static(f"{fam}_right"), params.weaker_min_asym)

    if n_valid >= 2:
        # movement over time: canthus-aligned frame (gaze-independent, module docstring)
        moving = align_face(p[:, :N_MESH_POINTS])
        valid = valid & moving.valid
        coords = moving.coords
        per_frame = frame_measures(coords)
        if has_neutral and bool(valid[int(neutral)]):
            ref = coords[int(neutral)]
        else:
            first = np.flatnonzero(valid)[: max(1, params.neutral_fallback_frames)]
            ref = np.median(coords[first], axis=0)
        ref_m = frame_measures(ref[None])
        q = params.excursion_percentile
        exc: dict[str, float] = {}
        for s in SIDES:
            for fam in ("brow", "eye"):
                d = np.abs(per_frame[f"{fam}_{s}"][valid] - ref_m[f"{fam}_{s}"][0])
                exc[f"{fam}_excursion_{s}"] = float(np.percentile(d, q))
            traj = coords[valid, COMMISSURE[s]]
            spread = np.linalg.norm(traj - traj.mean(axis=0), axis=1)
            exc[f"mouth_excursion_{s}"] = float(np.sqrt(np.mean(spread**2)))
        for fam in DYNAMIC:
            _fill(out, fam, exc[f"{fam}_left"], exc[f"{fam}_right"], params.weaker_min_asym)
    return out
