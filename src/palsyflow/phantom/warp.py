"""Unilateral-weakness phantom geometry: target landmarks and a piecewise-affine image warp.

A healthy face moves from a neutral posture ``P0`` (rest photo, or the neutral
frame of a video) to a posture ``P`` (task photo, or any frame). The phantom keeps
the healthy side's movement and shrinks the weakened side's movement by a fraction
``w`` in [0, 1] (0 = unchanged, 1 = no movement at all on that side):

    target_i = P0_i + (1 - w * g_i) * (P_i - P0_i)

computed in the face frame (:mod:`palsyflow.features.geometry`: eye line through
the canthus midpoints, which do not move with gaze or a closing lid; IOD units), so that head translation, roll and scale between ``P0`` and ``P`` are not
mistaken for movement. ``g_i`` in [0, 1] is the side weight of point ``i``: a
smoothstep of its face-frame ``x`` (patient's left positive) across the midline,
``g = S((s * x + b) / (2 b))`` with ``s = +1`` for a weakened patient's left, ``-1``
for the right, ``b`` the half-width of the falloff band (``falloff`` IOD) and
``S(t) = 3t^2 - 2t^3`` clamped to [0, 1]. Midline points get half the weakening and
the falloff is C1-smooth, so the mesh never tears. Targets are mapped back to the
pixels of ``P``'s frame with ``P``'s own alignment.

Optional static droop (``droop`` > 0, **off by default** so the dynamic response is
clean): points of the weakened side below the eye line are moved down by
``droop * w * g_i * clip(y_i / y_c, 0, 1)`` IOD, where ``y_c`` is the mean
commissure height of the neutral face, i.e. the oral commissure drops by
``droop * w`` IOD and the brows and eyes do not move (the flaccid midface sag of a
House-Brackmann IV-VI palsy; House & Brackmann 1985, doi:10.1177/019459988509300202).

The image warp is piecewise affine on a Delaunay triangulation of the target
points (the 468 mesh points, plus fixed anchors on an enlarged face hull and on the
region-of-interest corners): every output pixel inside a target triangle takes its
source position from the same barycentric coordinates in the source triangle, and
``cv2.remap`` samples the source image there (bilinear). This is the classic
landmark-mesh morph (Beier & Neely 1992, doi:10.1145/142920.134003, for the
warp-then-cross-dissolve scheme; piecewise-affine mapping as in Goshtasby 1986,
doi:10.1016/0262-8856(86)90008-4). Outside the anchors the image is untouched.

Real pixels only: with ``blend="morph"`` (default) the weakened side of the output
is a cross-dissolve, with weight ``w * g`` (per pixel, from the pixel's face-frame
x) inside a feathered face mask, between the task image warped to the target and
the NEUTRAL image warped to the same target. At ``w = 1`` the weakened side shows
the neutral image's own pixels (closed lips, smooth forehead, open eye), which a
pure geometric warp cannot produce for eye closure (it would stretch the lid over
the eye). ``blend="warp"`` uses the geometric warp of the task image alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from scipy.spatial import Delaunay

from palsyflow.conventions import Side
from palsyflow.features.geometry import align_face
from palsyflow.features.regions import COMMISSURE, N_MESH_POINTS

__all__ = [
    "FACE_OVAL",
    "Blend",
    "side_weights",
    "weakened_targets",
    "piecewise_affine_map",
    "warp_frame",
    "WarpResult",
]

Blend = Literal["morph", "warp"]

#: MediaPipe face-oval contour (silhouette), in order around the face.
FACE_OVAL: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
    377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def side_weights(x_face: np.ndarray, side: Side, falloff: float = 0.15) -> np.ndarray:
    """Weight of the weakened side, 0 (other side) to 1 (weakened side), smooth across the midline.

    Parameters
    ----------
    x_face : ndarray, any shape
        Face-frame x (IOD units; positive = patient's left, see
        :mod:`palsyflow.conventions`).
    side : {"left", "right"}
        The weakened side (patient's).
    falloff : float
        Half-width ``b`` of the transition band around the midline, IOD (> 0).

    Returns
    -------
    ndarray, same shape as ``x_face``, float64 in [0, 1]
        ``S((s x + b) / (2 b))`` with ``s = +1`` for left, ``-1`` for right; 0.5 on
        the midline; NaN where ``x_face`` is NaN.

    Raises
    ------
    ValueError
        If ``side`` is not "left"/"right" or ``falloff`` is not positive.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if not falloff > 0:
        raise ValueError(f"falloff must be positive, got {falloff}")
    s = 1.0 if side == "left" else -1.0
    x = np.asarray(x_face, dtype=np.float64)
    out = _smoothstep((s * x + falloff) / (2.0 * falloff))
    return np.where(np.isfinite(x), out, np.nan)


def _frame_axes(points_px: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin, x axis, y axis (unit vectors, pixels) and IOD (pixels) of one frame's face frame."""
    al = align_face(np.asarray(points_px)[None, :N_MESH_POINTS])  # canthi: stable under lid closure and gaze
    if not bool(al.valid[0]):
        raise ValueError("face frame undefined: eye centres missing or coincident")
    roll = float(al.roll_rad[0])
    u = np.array([np.cos(roll), np.sin(roll)])
    n = np.array([-u[1], u[0]])
    return al.origin_px[0], u, n, float(al.iod_px[0])


def _to_face(points_px: np.ndarray, origin, u, n, iod) -> np.ndarray:
    d = points_px[:, :2] - origin
    return np.stack([d @ u, d @ n], axis=1) / iod


def _to_px(coords: np.ndarray, origin, u, n, iod) -> np.ndarray:
    return origin + iod * (coords[:, :1] * u + coords[:, 1:2] * n)


def weakened_targets(
    neutral_px: np.ndarray,
    current_px: np.ndarray,
    side: Side,
    fraction: float,
    falloff: float = 0.15,
    droop: float = 0.0,
) -> np.ndarray:
    """Target landmarks of the phantom: the weakened side's movement shrunk by ``fraction``.

    Parameters
    ----------
    neutral_px : ndarray, shape (n_points, 2|3), n_points >= 468
        Neutral posture (rest photo or neutral video frame), pixels of ITS image
        (x right, y down).
    current_px : ndarray, shape (n_points, 2|3)
        The posture to weaken (task photo or current frame), pixels of its image.
    side : {"left", "right"}
        Weakened side (patient's).
    fraction : float
        ``w`` in [0, 1]: 0 = unchanged, 1 = the weakened side does not move.
    falloff : float
        Half-width of the midline transition band, IOD.
    droop : float
        Static droop of the oral commissure at ``w = 1``, IOD (0 = none); see the
        module docstring.

    Returns
    -------
    ndarray, shape (n_points, 2), float64
        Target positions in pixels of ``current_px``'s image (module docstring formula).

    Raises
    ------
    ValueError
        If ``fraction`` is outside [0, 1], ``droop`` is negative, the arrays differ in
        shape or either face frame is undefined (missing eye points).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    if droop < 0:
        raise ValueError(f"droop must be >= 0, got {droop}")
    p0 = np.asarray(neutral_px, dtype=np.float64)
    p = np.asarray(current_px, dtype=np.float64)
    if p0.shape != p.shape or p.ndim != 2 or p.shape[0] < N_MESH_POINTS:
        raise ValueError(f"neutral and current must both be (n_points>=468, 2|3); got {p0.shape}, {p.shape}")
    f0 = _frame_axes(p0)
    f1 = _frame_axes(p)
    c0 = _to_face(p0, *f0)
    c = _to_face(p, *f1)
    g = side_weights(c0[:, 0], side, falloff)
    target = c0 + (1.0 - fraction * g)[:, None] * (c - c0)
    if droop > 0 and fraction > 0:
        y_c = 0.5 * (c0[COMMISSURE["left"], 1] + c0[COMMISSURE["right"], 1])
        if y_c > 0:
            target[:, 1] += droop * fraction * g * np.clip(c0[:, 1] / y_c, 0.0, 1.0)
    return _to_px(target, *f1)


# ------------------------------------------------------------------------ image warp
def _hull_ring(points: np.ndarray, scale: float, n: int = 24) -> np.ndarray:
    """``n`` points on the convex hull of ``points`` enlarged by ``scale`` about its centroid."""
    hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    centre = hull.mean(axis=0)
    ring = centre + scale * (hull - centre)
    closed = np.vstack([ring, ring[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, cum[-1], n, endpoint=False)
    return np.stack([np.interp(t, cum, closed[:, 0]), np.interp(t, cum, closed[:, 1])], axis=1)


@dataclass(frozen=True)
class _Mesh:
    """Delaunay triangulation of the target points plus fixed anchors, rasterised in an ROI."""

    simplices: np.ndarray  # (k, 3) vertex indices
    dst: np.ndarray  # (m, 2) target points incl. anchors, ROI-relative pixels
    labels: np.ndarray  # (y1 - y0, x1 - x0) int32 triangle index per ROI pixel, -1 = none
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), image pixels


def _build_mesh(dst_face: np.ndarray, extra: list[np.ndarray], shape: tuple[int, int], margin: float) -> _Mesh:
    h, w = shape
    ring = _hull_ring(np.vstack([dst_face, *extra]), margin)
    allp = np.vstack([dst_face, *extra, ring])
    x0 = int(max(0, np.floor(allp[:, 0].min()) - 2))
    y0 = int(max(0, np.floor(allp[:, 1].min()) - 2))
    x1 = int(min(w, np.ceil(allp[:, 0].max()) + 3))
    y1 = int(min(h, np.ceil(allp[:, 1].max()) + 3))
    corners = np.array([[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]], dtype=np.float64)
    pts = np.vstack([dst_face, ring, corners])
    # ring/corner points may fall outside the image: clip into the ROI (still fixed anchors)
    pts[:, 0] = np.clip(pts[:, 0], x0, x1 - 1)
    pts[:, 1] = np.clip(pts[:, 1], y0, y1 - 1)
    rel = pts - np.array([x0, y0], dtype=np.float64)
    simplices = Delaunay(rel).simplices.astype(np.int64)
    # rasterise: each ROI pixel gets the index of a triangle that covers it (shared
    # edges go to either neighbour; the piecewise-affine map is continuous there)
    labels = np.full((y1 - y0, x1 - x0), -1, dtype=np.int32)
    sub = 16  # 4 bits of sub-pixel precision for the vertex positions
    verts = np.round(rel * sub).astype(np.int32)
    for k, tri in enumerate(simplices):
        cv2.fillConvexPoly(labels, verts[tri], int(k), lineType=cv2.LINE_8, shift=4)
    return _Mesh(simplices=simplices, dst=rel, labels=labels, roi=(x0, y0, x1, y1))


def _affines(dst: np.ndarray, src: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    """Per-triangle affine maps dst -> src, shape (k, 3, 2): ``src = [x, y, 1] @ M``."""
    D = np.concatenate([dst[simplices], np.ones((simplices.shape[0], 3, 1))], axis=2)  # (k, 3, 3)
    S = src[simplices]  # (k, 3, 2)
    # pseudo-inverse: degenerate (zero-area) triangles get a least-squares map, no error
    return np.linalg.pinv(D) @ S


def piecewise_affine_map(
    src_px: np.ndarray,
    dst_px: np.ndarray,
    shape: tuple[int, int],
    margin: float = 1.3,
    _mesh: _Mesh | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """Backward map of a piecewise-affine warp taking ``src_px`` to ``dst_px``.

    Parameters
    ----------
    src_px, dst_px : ndarray, shape (n, 2)
        Corresponding control points (pixels, x right, y down): ``src_px`` in the
        source image, ``dst_px`` where they should land in the output.
    shape : (int, int)
        Output image (height, width), pixels.
    margin : float
        Fixed anchors are placed on the convex hull of all control points enlarged
        by this factor about its centroid (> 1): the warp fades to identity there.

    Returns
    -------
    map_x, map_y : ndarray, shape (y1 - y0, x1 - x0), float32
        Source pixel coordinates for every output pixel of the region of interest
        (``cv2.remap`` maps): each output pixel in target triangle ``k`` maps through
        the affine map that takes triangle ``k``'s target vertices to its source
        vertices (same barycentric coordinates).
    roi : (x0, y0, x1, y1)
        The region of interest in image pixels (end exclusive); outside it the warp is
        the identity.

    Raises
    ------
    ValueError
        If the point arrays differ in shape or contain non-finite values.
    """
    src = np.asarray(src_px, dtype=np.float64)[:, :2]
    dst = np.asarray(dst_px, dtype=np.float64)[:, :2]
    if src.shape != dst.shape:
        raise ValueError(f"src and dst must have the same shape, got {src.shape}, {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ValueError("control points must be finite")
    mesh = _mesh or _build_mesh(dst, [src], shape, margin)
    x0, y0, x1, y1 = mesh.roi
    n = dst.shape[0]
    offset = np.array([x0, y0], dtype=np.float64)
    src_all = mesh.dst + offset  # anchors stay where they are
    src_all[:n] = src
    M = _affines(mesh.dst, src_all, mesh.simplices)  # ROI-relative dst -> image src
    lab = mesh.labels
    gx, gy = np.meshgrid(np.arange(x1 - x0, dtype=np.float64), np.arange(y1 - y0, dtype=np.float64))
    inside = lab >= 0
    Mi = M[np.where(inside, lab, 0)]  # (hh, ww, 3, 2)
    mx = gx * Mi[..., 0, 0] + gy * Mi[..., 1, 0] + Mi[..., 2, 0]
    my = gx * Mi[..., 0, 1] + gy * Mi[..., 1, 1] + Mi[..., 2, 1]
    mx = np.where(inside, mx, gx + x0)
    my = np.where(inside, my, gy + y0)
    return mx.astype(np.float32), my.astype(np.float32), mesh.roi


def _remap_roi(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, roi) -> np.ndarray:
    x0, y0, x1, y1 = roi
    out = image.copy()
    out[y0:y1, x0:x1] = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out


@dataclass(frozen=True)
class WarpResult:
    """One phantom frame.

    Attributes
    ----------
    image : ndarray, shape (H, W, 3), uint8
        The weakened frame, same channel order as the input.
    target_px : ndarray, shape (n_points, 2)
        Target landmarks, pixels.
    alpha_max : float
        Largest cross-dissolve weight used (0 for ``blend="warp"``).
    """

    image: np.ndarray
    target_px: np.ndarray
    alpha_max: float


def warp_frame(
    image: np.ndarray,
    points_px: np.ndarray,
    neutral_px: np.ndarray,
    side: Side,
    fraction: float,
    neutral_image: np.ndarray | None = None,
    blend: Blend = "morph",
    falloff: float = 0.15,
    droop: float = 0.0,
    margin: float = 1.3,
) -> WarpResult:
    """Weaken one side of one frame (photo or video frame), real pixels only.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
        The frame to weaken (task photo or video frame).
    points_px : ndarray, shape (n_points, 2|3), n_points >= 468
        Its landmarks (MediaPipe), pixels.
    neutral_px : ndarray, shape (n_points, 2|3)
        Landmarks of the neutral posture, pixels of ``neutral_image``.
    side : {"left", "right"}
        Weakened side (patient's).
    fraction : float
        ``w`` in [0, 1].
    neutral_image : ndarray, shape (H0, W0, 3), uint8, optional
        The neutral image (needed for ``blend="morph"``).
    blend : {"morph", "warp"}
        See the module docstring.
    falloff, droop : float
        See :func:`weakened_targets`.
    margin : float
        Anchor hull enlargement, see :func:`piecewise_affine_map`.

    Returns
    -------
    WarpResult

    Raises
    ------
    ValueError
        As :func:`weakened_targets`; also if ``blend="morph"`` without
        ``neutral_image`` or ``blend`` is unknown.
    """
    if blend not in ("morph", "warp"):
        raise ValueError(f"blend must be 'morph' or 'warp', got {blend!r}")
    if blend == "morph" and neutral_image is None:
        raise ValueError("blend='morph' needs the neutral image")
    pts = np.asarray(points_px, dtype=np.float64)[:, :2]
    p0 = np.asarray(neutral_px, dtype=np.float64)[:, :2]
    target = weakened_targets(p0, pts, side, fraction, falloff=falloff, droop=droop)
    if fraction == 0.0 and droop == 0.0:
        return WarpResult(image=image.copy(), target_px=target, alpha_max=0.0)
    m = N_MESH_POINTS  # iris points overlap the eyelid mesh: leave them out of the mesh
    h, w = image.shape[:2]
    mesh = _build_mesh(target[:m], [pts[:m]], (h, w), margin)
    mx, my, roi = piecewise_affine_map(pts[:m], target[:m], (h, w), margin, _mesh=mesh)
    warped = _remap_roi(image, mx, my, roi)
    if blend == "warp":
        return WarpResult(image=warped, target_px=target, alpha_max=0.0)

    # neutral image warped onto the same target mesh (its own landmarks as sources)
    x0, y0, x1, y1 = roi
    nx, ny, _ = piecewise_affine_map(p0[:m], target[:m], (h, w), margin, _mesh=mesh)
    # the maps hold neutral-image pixel positions, whatever that image's size
    neutral_roi = cv2.remap(neutral_image, nx, ny, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    alpha = _alpha_map(target, side, fraction, falloff, roi)
    a = alpha[..., None]
    roi_img = warped[y0:y1, x0:x1].astype(np.float32)
    mixed = (1.0 - a) * roi_img + a * neutral_roi.astype(np.float32)
    out = warped.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return WarpResult(image=out, target_px=target, alpha_max=float(alpha.max(initial=0.0)))


def _alpha_map(target: np.ndarray, side: Side, fraction: float, falloff: float, roi) -> np.ndarray:
    """Cross-dissolve weight per ROI pixel: ``w * g(x_face)`` inside a feathered face mask."""
    x0, y0, x1, y1 = roi
    origin, u, n, iod = _frame_axes(target)
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    xf = ((gx - origin[0]) * u[0] + (gy - origin[1]) * u[1]) / iod
    g = side_weights(xf, side, falloff)
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    oval = (target[list(FACE_OVAL)] - np.array([x0, y0])).astype(np.float32)
    hull = cv2.convexHull(oval)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1.0, lineType=cv2.LINE_AA)
    # feather: erode by ~0.05 IOD then blur so the seam sits inside the face
    k = max(3, int(round(0.1 * iod)) | 1)
    mask = cv2.erode(mask, np.ones((k, k), np.uint8))
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=max(1.0, 0.05 * iod))
    return (fraction * g * mask).astype(np.float32)
