"""Face alignment: image pixels -> the face frame of :mod:`palsyflow.conventions`.

The face frame removes in-plane translation, rotation (head roll) and scale, so
that left/right measures can be compared within a face and across sessions:

* origin: midpoint of the two eye centres;
* x axis: along the eye line, from the patient's right eye centre towards the
  patient's left eye centre (towards the image right in an unmirrored image);
* y axis: perpendicular to x, pointing down (towards the chin); i.e. x rotated
  by +90 degrees in the image's (x right, y down) frame;
* unit: the inter-ocular distance (IOD) between the two eye centres.

Eye centres are the MediaPipe iris centres (468 / 473) when the points include the
iris (478 points) and are finite, else the midpoints of the eye corners (33-133 /
263-362). Normalising by the inter-pupillary distance follows the Emotrics practice
(Guarin et al. 2018, JAMA Facial Plast Surg 20(4):335, doi:10.1001/jamafacial.2018.0030).

Mirroring an image (x -> width - 1 - x) and swapping left/right point indices gives
face-frame coordinates with x negated and y unchanged: measures built from ``|x|``
and ``y`` are therefore mirror invariant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from palsyflow.conventions import IRIS_DIAMETER_MM
from palsyflow.features.regions import EYE_INNER, EYE_OUTER, IRIS_CENTER, IRIS_RING, N_MESH_POINTS, N_POINTS


class GeometryError(ValueError):
    """Landmark array of the wrong shape."""


@dataclass(frozen=True)
class Aligned:
    """Landmarks in the face frame.

    Attributes
    ----------
    coords : ndarray, shape (n_frames, n_points, 2), float64
        Face-frame coordinates in IOD units (x towards the patient's left, y down).
        NaN for frames without a usable face.
    iod_px : ndarray, shape (n_frames,), float64
        Inter-ocular distance (eye centre to eye centre) in image pixels; NaN when
        no face.
    roll_rad : ndarray, shape (n_frames,), float64
        Angle of the eye line (patient's right eye centre -> left eye centre) from
        the image x axis, radians, positive clockwise on screen (image y down): a
        positive roll means the patient's left eye is lower in the image.
    origin_px : ndarray, shape (n_frames, 2), float64
        Face-frame origin (midpoint of the eye centres) in image pixels (x, y).
    mm_per_px : ndarray or None, shape (n_frames,), float64
        Millimetres per pixel from the mean iris diameter of both eyes (11.77 mm,
        Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030); ``None`` when the
        points carry no iris (fewer than 478 points).
    used_iris : bool
        Whether the eye centres were the iris centres (else eye-corner midpoints).
    """

    coords: np.ndarray
    iod_px: np.ndarray
    roll_rad: np.ndarray
    origin_px: np.ndarray
    mm_per_px: np.ndarray | None
    used_iris: bool

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.coords.shape[0])

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask, shape (n_frames,): frames with a finite, non-degenerate alignment."""
        return np.isfinite(self.iod_px) & (self.iod_px > 0)


def as_points(points: np.ndarray) -> np.ndarray:
    """Check and coerce a landmark array to float64 ``(n_frames, n_points, 2)``.

    Parameters
    ----------
    points : array-like, shape (n_frames, n_points, 2|3) or (n_points, 2|3)
        Image pixels, x right, y down; a 2-D array is one frame. ``z`` is dropped.

    Returns
    -------
    ndarray, shape (n_frames, n_points, 2), float64

    Raises
    ------
    GeometryError
        If the shape is not as above or there are fewer than 468 points.
    """
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[2] not in (2, 3):
        raise GeometryError(f"points must have shape (n_frames, n_points, 2|3), got {np.shape(points)}")
    if arr.shape[1] < N_MESH_POINTS:
        raise GeometryError(f"need MediaPipe face mesh points (>= {N_MESH_POINTS}), got {arr.shape[1]}")
    return arr[..., :2]


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per-frame eye centres in pixels.

    Parameters
    ----------
    points : ndarray, shape (n_frames, n_points, 2|3)
        Image pixels, x right, y down.

    Returns
    -------
    right, left : ndarray, shape (n_frames, 2)
        Patient's right and left eye centres, pixels.
    used_iris : bool
        True when the iris centres (468 / 473) were used for every frame that has
        them finite; frames with missing iris points fall back to eye corners.
    """
    p = as_points(points)
    corners = {
        s: 0.5 * (p[:, EYE_OUTER[s]] + p[:, EYE_INNER[s]]) for s in ("right", "left")
    }
    if p.shape[1] >= N_POINTS:
        iris = {s: p[:, IRIS_CENTER[s]] for s in ("right", "left")}
        ok = np.isfinite(iris["right"]).all(1) & np.isfinite(iris["left"]).all(1)
        right = np.where(ok[:, None], iris["right"], corners["right"])
        left = np.where(ok[:, None], iris["left"], corners["left"])
        return right, left, bool(ok.any())
    return corners["right"], corners["left"], False


def iris_diameter_px(points: np.ndarray) -> np.ndarray | None:
    """Mean iris diameter of both eyes, pixels.

    The diameter of each iris is the mean of its horizontal (medial-lateral) and
    vertical (top-bottom) ring distances; the two eyes are averaged.

    Parameters
    ----------
    points : ndarray, shape (n_frames, 478, 2|3)
        Image pixels.

    Returns
    -------
    ndarray, shape (n_frames,), or None
        None when the points carry no iris ring (fewer than 478 points).
    """
    p = as_points(points)
    if p.shape[1] < N_POINTS:
        return None
    diam = []
    for s in ("right", "left"):
        medial, top, lateral, bottom = IRIS_RING[s]
        horiz = np.linalg.norm(p[:, medial] - p[:, lateral], axis=1)
        vert = np.linalg.norm(p[:, top] - p[:, bottom], axis=1)
        diam.append(0.5 * (horiz + vert))
    return 0.5 * (diam[0] + diam[1])


def align_face(points: np.ndarray, mm_per_px: float | None = None) -> Aligned:
    """Express landmarks in the face frame (see module docstring).

    Parameters
    ----------
    points : ndarray, shape (n_frames, 478, 2|3) or (n_frames, 468, 2|3)
        Landmarks in image pixels, x right, y down (``z`` ignored); a 2-D
        ``(n_points, 2|3)`` array is treated as one frame. NaN rows mark frames
        without a face.
    mm_per_px : float, optional
        Known pixel size in millimetres (e.g. from a calibration target). When
        given it replaces the iris-based estimate for every frame.

    Returns
    -------
    Aligned
        ``coords`` shape (n_frames, n_points, 2) in IOD units; frames whose eye
        centres are missing or coincide are NaN throughout.

    Raises
    ------
    GeometryError
        If ``points`` does not have shape (n_frames, >=468, 2|3).

    Notes
    -----
    For a point ``p`` (pixels), eye centres ``e_R``, ``e_L``:
    ``o = (e_R + e_L) / 2``, ``IOD = |e_L - e_R|``, ``u = (e_L - e_R) / IOD``,
    ``n = (-u_y, u_x)``; face-frame coordinates ``((p - o) . u, (p - o) . n) / IOD``.
    """
    p = as_points(points)
    right, left, used_iris = eye_centres(p)
    vec = left - right
    with np.errstate(invalid="ignore"):
        iod = np.hypot(vec[:, 0], vec[:, 1])
        bad = ~np.isfinite(iod) | (iod <= 0)
        safe = np.where(bad, np.nan, iod)
        u = vec / safe[:, None]
        n = np.stack([-u[:, 1], u[:, 0]], axis=1)
        origin = 0.5 * (right + left)
        d = p - origin[:, None, :]
        x = (d[..., 0] * u[:, None, 0] + d[..., 1] * u[:, None, 1]) / safe[:, None]
        y = (d[..., 0] * n[:, None, 0] + d[..., 1] * n[:, None, 1]) / safe[:, None]
    coords = np.stack([x, y], axis=-1)
    roll = np.arctan2(vec[:, 1], vec[:, 0])
    roll[bad] = np.nan
    origin[bad] = np.nan
    scale: np.ndarray | None
    if mm_per_px is not None:
        scale = np.full(p.shape[0], float(mm_per_px))
    else:
        diam = iris_diameter_px(p)
        if diam is None:
            scale = None
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(diam > 0, IRIS_DIAMETER_MM / diam, np.nan)
    return Aligned(coords=coords, iod_px=safe, roll_rad=roll, origin_px=origin, mm_per_px=scale, used_iris=used_iris)
