"""Named MediaPipe Face Mesh index sets, per facial region and patient side.

All indices refer to the 478-point MediaPipe Face Landmarker topology (468 mesh
points + 10 iris points). ``"right"``/``"left"`` are the **patient's** sides
(:mod:`palsyflow.conventions`): in an unmirrored image of a patient facing the
camera, the patient's right-side points (e.g. 33, 61) have the smaller image x.
This was checked on a real frontal photo (``healthy-tasks``): 33, 133, 468 and 61
lie on the image left, 263, 362, 473 and 291 on the image right.

Every per-side tuple is ordered so that ``RIGHT[k]`` and ``LEFT[k]`` are mirror
images of each other (the pairs of MediaPipe's own ``FACE_LANDMARKS_RIGHT_*`` /
``FACE_LANDMARKS_LEFT_*`` connection lists, confirmed by reflecting a real frontal
face about its midline and matching nearest points). :func:`mirror_pairs` and
:func:`mirror_permutation` rely on this ordering.

Regions
-------
brow
    Upper eyebrow contour, lateral to medial (70, 63, 105, 66, 107 / 300, 293,
    334, 296, 336).
eye
    Palpebral fissure: three upper-lid points over three lower-lid points in the
    central part of the lid (160/144, 159/145, 158/153 and 387/373, 386/374,
    385/380), plus eye corners (outer 33/263, inner 133/362).
cheek
    Nasolabial / alar region: alar base and alar crease (48, 129 / 278, 358) and
    two points on the cheek along the upper nasolabial fold (205, 216 / 425, 436).
mouth
    Oral commissure (outer lip corner, 61 / 291) and its neighbourhood on the
    upper and lower lip (used to move the corner as a whole in phantoms).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from palsyflow.conventions import Side
from palsyflow.measures.registry import REGIONS

#: Number of MediaPipe Face Landmarker points (with iris refinement).
N_POINTS = 478
#: Mesh points without the iris.
N_MESH_POINTS = 468

# -- eyes ---------------------------------------------------------------------
EYE_OUTER: dict[Side, int] = {"right": 33, "left": 263}
EYE_INNER: dict[Side, int] = {"right": 133, "left": 362}
IRIS_CENTER: dict[Side, int] = {"right": 468, "left": 473}
#: Iris ring ordered (medial, top, lateral, bottom); mirror pairs index by index.
IRIS_RING: dict[Side, tuple[int, int, int, int]] = {
    "right": (469, 470, 471, 472),
    "left": (476, 475, 474, 477),
}
#: Upper-lid points (central third of the lid), lateral to medial.
EYE_UPPER_LID: dict[Side, tuple[int, ...]] = {"right": (160, 159, 158), "left": (387, 386, 385)}
#: Lower-lid points directly below :data:`EYE_UPPER_LID`, same order.
EYE_LOWER_LID: dict[Side, tuple[int, ...]] = {"right": (144, 145, 153), "left": (373, 374, 380)}

# -- brows --------------------------------------------------------------------
#: Upper eyebrow contour, lateral to medial.
BROW: dict[Side, tuple[int, ...]] = {"right": (70, 63, 105, 66, 107), "left": (300, 293, 334, 296, 336)}

# -- cheek / nasolabial -------------------------------------------------------
#: Alar base, alar crease, and two cheek points along the upper nasolabial fold.
CHEEK: dict[Side, tuple[int, ...]] = {"right": (48, 129, 205, 216), "left": (278, 358, 425, 436)}

# -- mouth --------------------------------------------------------------------
#: Oral commissure (outer lip corner).
COMMISSURE: dict[Side, int] = {"right": 61, "left": 291}
#: The commissure and its lip neighbourhood (outer and inner lip near the corner).
MOUTH_CORNER_REGION: dict[Side, tuple[int, ...]] = {
    "right": (61, 146, 91, 185, 40, 78, 95, 191),
    "left": (291, 375, 321, 409, 270, 308, 324, 415),
}

#: All point sets of each region of :data:`palsyflow.measures.registry.REGIONS`, per side
#: (what that region's measures read).
_REGION_POINTS: dict[str, dict[Side, tuple[int, ...]]] = {
    "brow": BROW,
    "eye": {
        s: (EYE_OUTER[s], EYE_INNER[s], *EYE_UPPER_LID[s], *EYE_LOWER_LID[s]) for s in ("right", "left")
    },
    "cheek": CHEEK,
    "mouth": MOUTH_CORNER_REGION,
}
REGION_POINTS: dict[str, dict[Side, tuple[int, ...]]] = {r: _REGION_POINTS[r] for r in REGIONS}

#: Points used to align the face (eye centres): iris centres and eye corners, then iris ring.
ALIGNMENT_POINTS: dict[Side, tuple[int, ...]] = {
    s: (IRIS_CENTER[s], EYE_OUTER[s], EYE_INNER[s], *IRIS_RING[s]) for s in ("right", "left")
}


def mirror_pairs() -> list[tuple[int, int]]:
    """All (right, left) mirror index pairs defined in this module.

    Returns
    -------
    list of (int, int)
        Unique pairs ``(patient-right index, patient-left index)`` covering every
        point that palsyflow's face measures and alignment read.
    """
    pairs: set[tuple[int, int]] = set()
    sets: list[Mapping[Side, object]] = [
        EYE_OUTER, EYE_INNER, IRIS_CENTER, IRIS_RING, EYE_UPPER_LID, EYE_LOWER_LID,
        BROW, CHEEK, COMMISSURE, MOUTH_CORNER_REGION,
    ]
    for mapping in sets:
        right = np.atleast_1d(np.asarray(mapping["right"]))
        left = np.atleast_1d(np.asarray(mapping["left"]))
        if right.shape != left.shape:  # pragma: no cover - guarded by the definitions
            raise ValueError("left/right index sets must have the same length")
        pairs.update(zip(right.tolist(), left.tolist(), strict=True))
    return sorted(pairs)


def mirror_permutation(n_points: int = N_POINTS) -> np.ndarray:
    """Index permutation that swaps each right point with its left mirror point.

    Points not covered by :func:`mirror_pairs` (e.g. midline points) map to
    themselves, so the permutation is exact only for the points palsyflow reads.

    Parameters
    ----------
    n_points : int
        Number of points of the landmark array (478, or 468 without iris).

    Returns
    -------
    ndarray, shape (n_points,), int
        ``perm`` such that ``mirrored[:, i] = points[:, perm[i]]``; an involution.
    """
    perm = np.arange(n_points)
    for r, l in mirror_pairs():
        if r < n_points and l < n_points:
            perm[r], perm[l] = l, r
    return perm
