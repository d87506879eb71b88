"""Regional left/right measures of one recording, and their asymmetry.

Every measure is computed in the face frame (:mod:`palsyflow.features.geometry`,
x towards the patient's left, y down) for each of the patient's sides. Column names,
units and descriptions are registered in :mod:`palsyflow.measures.registry`; rest
measures are in ``iod_iris`` (frame aligned on the iris centres), movement in
``iod_canthal`` (aligned on the eye-corner midpoints).

Rest measures (one value per side)
    rest_brow_height
        Brow height: mean height of the upper brow contour (5 points) above the eye
        line (the line through both eye centres, ``y = 0``), i.e. ``-mean(y)``.
        Emotrics measures brow height as the distance from the upper brow margin to
        the pupil line (Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030).
        **Weaker side = the LOWER brow (smaller height)**: brow ptosis from frontalis
        paralysis (House & Brackmann 1985, doi:10.1177/019459988509300202, grade
        descriptions "forehead: no/slight movement").
    rest_palpebral_fissure_height
        Palpebral fissure height: mean distance between three upper-lid and three
        lower-lid points of the central lid (Emotrics palpebral fissure height,
        Guarin et al. 2018). **Weaker side = the WIDER fissure**: orbicularis oculi
        weakness widens the fissure at rest and leaves it open on closure
        (lagophthalmos; House & Brackmann 1985 "incomplete eye closure"). Note that
        synkinetic (late) palsy can narrow the affected fissure instead.
    rest_nasolabial_height
        Nasolabial / alar height: mean ``y`` below the eye line of the alar base,
        alar crease and two upper nasolabial-fold points. **Weaker side = the LOWER
        one (larger y)**: the paralysed midface sags and its nasolabial fold
        flattens (loss of nasolabial fold, a criterion of the Sunnybrook resting
        symmetry, Ross et al. 1996, doi:10.1016/S0194-5998(96)70206-1).
    rest_commissure_height
        Commissure height: ``y`` of the oral commissure below the eye line (Emotrics
        "commissure height deviation", Guarin et al. 2018). **Weaker side = the
        LOWER commissure (larger y)**: a weak commissure droops (House & Brackmann
        1985 "mouth: slight weakness ... asymmetric"). The commissure's lateral
        position ``|x|`` from the facial midline is reported as
        ``rest_commissure_midline_distance_*`` (no weaker side: it depends on the task).

For a photo the static measures are those of its single frame. For a video they
come from the ``neutral`` key frame when one is given and has a face, else they are
the per-frame **median** over frames with a face (per measure and side).

Movement measures (videos, >= 2 frames with a face)
    ``mov_brow_excursion_*``, ``mov_palpebral_fissure_excursion_*``: a robust range of movement, the
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

    ``mov_commissure_excursion_*`` is the commissure's **root-mean-square movement about its
    mean position** over the face frames, ``sqrt(mean_t |c_t - mean(c)|^2)`` (IOD; the
    radius of gyration of the commissure's 2-D trajectory). It needs no reference
    frame and averages over every frame instead of reading one tail value, so single
    frames of landmark jitter weigh little: on the phantom's speech videos (11 GRID
    clips x 2 sides, ``benchmarks/phantom_response.py``) every weakened side's series
    reached Spearman rho >= 0.9 with it, against 19 of 22 with the 95th-percentile
    displacement from the neutral frame, whose residual noise on the weakened side
    (0.02-0.04 IOD at 360x288) was as large as the last weakening steps.

    **Weaker side = the SMALLER excursion** (less voluntary movement).

Asymmetry of every pair and the weaker side follow the one rule of
:mod:`palsyflow.measures.asymmetry` (:func:`palsyflow.measures.session.fill_family`):
``*_weaker`` is ``None`` when a value is missing, the asymmetry is at most
``params.weaker_min_asym`` or ``|m_L - m_R|`` is at most ``params.weaker_min_diff_iod``
(rest) / ``params.movement_weaker_min_diff_iod`` (movement).

Mirror invariance: mirroring the image and swapping left/right points negates the
face-frame x and keeps y, and every measure reads only ``y``, ``|x|`` or
distances, so the measures swap sides exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from palsyflow.config import FeatureParams
from palsyflow.conventions import SIDES
from palsyflow.features.geometry import align_face, as_points
from palsyflow.features.regions import (
    BROW,
    CHEEK,
    COMMISSURE,
    EYE_LOWER_LID,
    EYE_UPPER_LID,
    N_MESH_POINTS,
)
from palsyflow.measures.registry import FAMILIES, MOVEMENT_FAMILIES, REST_FAMILIES
from palsyflow.measures.session import fill_family

_BROW, _EYE, _CHEEK, _MOUTH, _MIDLINE = (f.name for f in REST_FAMILIES)
_BROW_EXC, _EYE_EXC, _MOUTH_EXC = (f.name for f in MOVEMENT_FAMILIES)


def frame_measures(coords: np.ndarray) -> dict[str, np.ndarray]:
    """Static per-frame measures from face-frame coordinates.

    Parameters
    ----------
    coords : ndarray, shape (n_frames, n_points, 2)
        Face-frame coordinates, IOD units (:func:`~palsyflow.features.geometry.align_face`).

    Returns
    -------
    dict of str to ndarray, shape (n_frames,)
        Keys ``{family}_{left,right}`` of the rest families of
        :data:`palsyflow.measures.registry.REST_FAMILIES`, in the unit of ``coords``
        (NaN where a frame has no face); definitions in the module docstring.
    """
    c = np.asarray(coords, dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    for s in SIDES:
        out[f"{_BROW}_{s}"] = -c[:, list(BROW[s]), 1].mean(axis=1)
        upper = c[:, list(EYE_UPPER_LID[s])]
        lower = c[:, list(EYE_LOWER_LID[s])]
        out[f"{_EYE}_{s}"] = np.linalg.norm(upper - lower, axis=2).mean(axis=1)
        out[f"{_CHEEK}_{s}"] = c[:, list(CHEEK[s]), 1].mean(axis=1)
        out[f"{_MOUTH}_{s}"] = c[:, COMMISSURE[s], 1]
        out[f"{_MIDLINE}_{s}"] = np.abs(c[:, COMMISSURE[s], 0])
    return out


def measure_names() -> list[str]:
    """Keys of :func:`recording_measures`' result, in order (registry column names)."""
    names: list[str] = []
    for fam in (*REST_FAMILIES, *MOVEMENT_FAMILIES):
        names += [f"{fam.name}_left", f"{fam.name}_right", f"{fam.name}_asym"]
        if fam.weaker is not None:
            names.append(f"{fam.name}_weaker")
    return names


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
        For each rest and movement family of :mod:`palsyflow.measures.registry`:
        ``{family}_left``, ``{family}_right`` (``iod_iris`` / ``iod_canthal``, patient's
        sides, float or None), ``{family}_asym`` (fraction) and, except
        ``rest_commissure_midline_distance``, ``{family}_weaker``
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
    out: dict[str, float | str | None] = dict.fromkeys(measure_names())
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

    for fam in REST_FAMILIES:
        fill_family(out, fam, static(f"{fam.name}_left"), static(f"{fam.name}_right"), params)

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
            for fam, exc_fam in ((_BROW, _BROW_EXC), (_EYE, _EYE_EXC)):
                d = np.abs(per_frame[f"{fam}_{s}"][valid] - ref_m[f"{fam}_{s}"][0])
                exc[f"{exc_fam}_{s}"] = float(np.percentile(d, q))
            traj = coords[valid, COMMISSURE[s]]
            spread = np.linalg.norm(traj - traj.mean(axis=0), axis=1)
            exc[f"{_MOUTH_EXC}_{s}"] = float(np.sqrt(np.mean(spread**2)))
        for fam in MOVEMENT_FAMILIES:
            fill_family(out, FAMILIES[fam.name], exc[f"{fam.name}_left"], exc[f"{fam.name}_right"], params)
    return out
