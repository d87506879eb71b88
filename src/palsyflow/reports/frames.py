"""Annotated key frames and the asymmetry heat map of the clinician report (matplotlib, pure).

A key frame is drawn from one decoded frame (``H x W x 3`` uint8 RGB, the image frame of
:mod:`palsyflow.conventions`) and its landmarks in the same pixels: the frame is cut to the
face (the landmarks' bounding box plus a margin), scaled down for the PDF, and shows the
landmarks as small dots, the brow, eye and lip contours, and the labels "patient's R" and
"patient's L". The labels are placed from the landmarks themselves: the side of the image
where the patient's left eye centre lies (the scheme's eye corners,
:class:`~palsyflow.landmarks.schemes.base.Scheme`) carries "patient's L", so a mirrored
frame (with its landmarks) is labelled correctly too.

The heat map colours each region of :data:`palsyflow.measures.registry.REGIONS` on the face
(both sides, the region's points, :data:`palsyflow.features.regions.REGION_POINTS` passed in by the stage) by the
region's asymmetry in the report's regional table: ``100 - symmetry`` on the 0-100 scale
(:mod:`palsyflow.conventions`: symmetry ``= 100 * (1 - asymmetry)``), colormap
:data:`HEATMAP_CMAP` over :data:`HEATMAP_RANGE`, with a colour bar; a region without a
score is grey and hatched, the weaker side (patient's) is outlined dashed.

Contours are the iBUG-68 loops (Sagonas et al. 2016, Image Vis. Comput. 47:3-18,
doi:10.1016/j.imavis.2016.01.002) through the MediaPipe -> iBUG-68 map
(:data:`palsyflow.landmarks.schemes.ibug68.MP_TO_IBUG68`), so 478- and 68-point landmarks
draw alike.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from palsyflow.conventions import SIDES, Side
from palsyflow.landmarks.schemes import scheme_for_points
from palsyflow.landmarks.schemes.ibug68 import MP_TO_IBUG68, N_IBUG
from palsyflow.measures.registry import REGIONS

__all__ = [
    "CONTOURS68",
    "HEATMAP_CMAP",
    "HEATMAP_RANGE",
    "AnnotatedImage",
    "FaceImage",
    "KeyFrame",
    "SessionFrames",
    "asymmetry_heatmap",
    "face_box",
    "heat_colour",
    "image_side",
    "keyframe_image",
    "prepare_face",
]

#: Colormap of the heat map (matplotlib name): light yellow (symmetric) to dark red.
HEATMAP_CMAP = "YlOrRd"
#: Asymmetry range of the colour bar, ``100 - symmetry`` points (0-100 scale); larger values
#: take the top colour (the bar's arrow says so).
HEATMAP_RANGE: tuple[float, float] = (0.0, 20.0)

#: iBUG-68 contours drawn on a key frame, per region and the patient's side (the
#: unmirrored convention of :mod:`palsyflow.landmarks.schemes.ibug68`: 17-21 and 36-41 are
#: the patient's right); closed loops repeat their first point. The lips are one loop.
CONTOURS68: dict[str, tuple[tuple[int, ...], ...]] = {
    "brow": (tuple(range(17, 22)), tuple(range(22, 27))),
    "eye": (tuple(range(36, 42)) + (36,), tuple(range(42, 48)) + (42,)),
    "mouth": (tuple(range(48, 60)) + (48,), tuple(range(60, 68)) + (60,)),
}

_CONTOUR_COLOUR = {"brow": "#f4d03f", "eye": "#5dade2", "mouth": "#ec7063"}


@dataclass(frozen=True)
class FaceImage:
    """A frame cut to the face and scaled, with its landmarks in the new pixels.

    Attributes
    ----------
    rgb : ndarray, shape (h, w, 3), uint8
    points : ndarray, shape (n_points, 2), float64
        Pixels of ``rgb`` (x right, y down); NaN where a point is missing.
    box : tuple of int
        ``(x0, y0, x1, y1)`` of the cut in the source frame's pixels.
    scale : float
        Output pixels per source pixel.
    """

    rgb: np.ndarray
    points: np.ndarray
    box: tuple[int, int, int, int]
    scale: float


@dataclass(frozen=True)
class AnnotatedImage:
    """An encoded figure and where its side labels were put.

    Attributes
    ----------
    data : bytes
        JPEG or PNG bytes.
    fmt : {"jpeg", "png"}
    width, height : int
        Pixels of the encoded image.
    labels : dict
        Side (patient's) -> ``(x, y)`` anchor of its label, pixels of the image part
        (x right, y down).
    points : ndarray, shape (n_points, 2)
        The landmarks in the image part's pixels.
    colours : dict
        Heat map only: region -> RGBA (0-1) it was filled with (None when not measured).
    """

    data: bytes
    fmt: str
    width: int
    height: int
    labels: dict[Side, tuple[float, float]]
    points: np.ndarray
    colours: dict[str, tuple[float, float, float, float] | None]


@dataclass(frozen=True)
class KeyFrame:
    """One key frame of a task, drawn, or why it could not be.

    Attributes
    ----------
    task : str
        Protocol task.
    which : {"neutral", "peak"}
    time_s : float or None
        Time of the frame in its recording, seconds (None for a photo).
    image : AnnotatedImage or None
        None when the frame is missing.
    missing : str or None
        Why it is missing (one sentence), or a note (a photo task's neutral posture is
        the rest photo).
    """

    task: str
    which: str
    time_s: float | None
    image: AnnotatedImage | None = None
    missing: str | None = None


@dataclass(frozen=True)
class SessionFrames:
    """What the clinician PDF shows of a session's frames.

    Attributes
    ----------
    keyframes : tuple of KeyFrame
        Neutral and peak per face task, protocol order.
    heat_face : FaceImage or None
        The face the heat map is drawn on (the rest recording's neutral frame, else the
        first neutral key frame).
    not_measured : tuple of (str, str)
        ``(what, reason)`` pairs (:func:`palsyflow.reports.missing.not_measured`).
    heat_task : str or None
        The task whose neutral frame ``heat_face`` is.
    region_points : mapping or None
        Region -> side -> MediaPipe point indices of the heat map's patches
        (:data:`palsyflow.features.regions.REGION_POINTS`, passed in by the report stage:
        reports do not import the feature geometry).
    """

    keyframes: tuple[KeyFrame, ...] = ()
    heat_face: FaceImage | None = None
    not_measured: tuple[tuple[str, str], ...] = ()
    heat_task: str | None = None
    region_points: Mapping[str, Mapping[str, Sequence[int]]] | None = None


def _xy(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 2:
        raise ValueError(f"expected landmarks of shape (n_points, 2|3), got {pts.shape}")
    return pts[:, :2]


def face_box(points: np.ndarray, shape: tuple[int, ...], margin: float = 0.25) -> tuple[int, int, int, int]:
    """The face's cut: the landmarks' bounding box grown by ``margin`` of its larger side.

    Parameters
    ----------
    points : ndarray, shape (n_points, 2|3)
        Pixels (x right, y down); NaN points are ignored.
    shape : tuple
        The frame's ``(H, W, ...)``.
    margin : float
        Added on every side, as a fraction of the box's larger side.

    Returns
    -------
    (x0, y0, x1, y1) : int
        Half-open pixel box inside the frame; contains every finite landmark that lies
        inside the frame.

    Raises
    ------
    ValueError
        If no landmark is finite.
    """
    xy = _xy(points)
    ok = np.isfinite(xy).all(axis=1)
    if not ok.any():
        raise ValueError("no finite landmark to cut the face by")
    lo, hi = xy[ok].min(axis=0), xy[ok].max(axis=0)
    pad = margin * float(max(hi - lo))
    h, w = int(shape[0]), int(shape[1])
    x0 = int(np.clip(np.floor(lo[0] - pad), 0, w - 1))
    y0 = int(np.clip(np.floor(lo[1] - pad), 0, h - 1))
    x1 = int(np.clip(np.ceil(hi[0] + pad) + 1, x0 + 1, w))
    y1 = int(np.clip(np.ceil(hi[1] + pad) + 1, y0 + 1, h))
    return x0, y0, x1, y1


def image_side(points: np.ndarray) -> dict[Side, str]:
    """Which image half each of the patient's sides is on: ``"image_left"`` or ``"image_right"``.

    From the scheme's eye centres (:meth:`Scheme.eye_centres`): the patient's left eye
    centre has the larger x in an unmirrored frame, the smaller in a mirrored one.

    Parameters
    ----------
    points : ndarray, shape (n_points, 2|3)
        One frame's landmarks of a known scheme (478 or 68 points), pixels.

    Raises
    ------
    ValueError
        If no scheme has that many points, or an eye centre is not finite.
    """
    xy = _xy(points)
    right, left = scheme_for_points(xy[None]).eye_centres(xy[None])
    if not (np.isfinite(right).all() and np.isfinite(left).all()):
        raise ValueError("the eye centres are not finite")
    left_on_right = float(left[0, 0]) > float(right[0, 0])
    return {"left": "image_right" if left_on_right else "image_left", "right": "image_left" if left_on_right else "image_right"}


def prepare_face(
    rgb: np.ndarray, points: np.ndarray, max_width: int = 600, margin: float = 0.25, min_width: int = 0
) -> FaceImage:
    """Cut a frame to the face (:func:`face_box`) and scale it to ``min_width``-``max_width`` pixels wide.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
    points : ndarray, shape (n_points, 2|3)
        The frame's landmarks, pixels.
    max_width : int
        Largest output width, pixels.
    margin : float
        See :func:`face_box`.
    min_width : int
        A narrower cut is scaled up to this width (so that the drawn dots, lines and
        labels stay sharp on a small face); 0 never scales up.

    Returns
    -------
    FaceImage

    Raises
    ------
    ValueError
        If ``rgb`` is not ``H x W x 3`` or no landmark is finite.
    """
    from PIL import Image

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB frame, got shape {rgb.shape}")
    xy = _xy(points)
    x0, y0, x1, y1 = face_box(xy, rgb.shape, margin)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1].astype(np.uint8, copy=False))
    w = crop.shape[1]
    scale = max_width / w if w > max_width else (min(min_width, max_width) / w if w < min_width else 1.0)
    if scale != 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS))
        scale = size[0] / (x1 - x0)
    return FaceImage(crop, (xy - [x0, y0]) * scale, (x0, y0, x1, y1), float(scale))


def _contours(points: np.ndarray) -> dict[str, list[np.ndarray]]:
    """The region contours as pixel polylines (478 points through the iBUG map, or 68)."""
    n = points.shape[0]
    if n == N_IBUG:
        idx = np.arange(N_IBUG)
    elif n >= int(MP_TO_IBUG68.max()) + 1:
        idx = MP_TO_IBUG68
    else:
        return {}
    return {r: [points[idx[list(loop)]] for loop in loops] for r, loops in CONTOURS68.items()}


def _figure(face: FaceImage, extra_width: int = 0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h, w = face.rgb.shape[:2]
    dpi = 100
    fig = Figure(figsize=((w + extra_width) / dpi, h / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, w / (w + extra_width), 1))
    ax.imshow(face.rgb, interpolation="nearest")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    return fig, ax


def _side_labels(ax, face: FaceImage) -> dict[Side, tuple[float, float]]:
    h, w = face.rgb.shape[:2]
    where = image_side(face.points)
    fs = max(7.0, min(14.0, w / 32))
    out: dict[Side, tuple[float, float]] = {}
    for side in SIDES:
        right_half = where[side] == "image_right"
        x = w * (0.97 if right_half else 0.03)
        y = h * 0.04
        ax.text(
            x, y, f"patient's {side[0].upper()}", ha="right" if right_half else "left", va="top",
            fontsize=fs, color="white", fontweight="bold",
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "#1f3a5f", "edgecolor": "none", "alpha": 0.85},
        )
        out[side] = (x, y)
    return out


def _encode(fig, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpeg":
        fig.savefig(buf, format="jpeg", dpi=fig.dpi, pil_kwargs={"quality": 82, "optimize": True})
    elif fmt == "png":
        fig.savefig(buf, format="png", dpi=fig.dpi, metadata={"Software": None})
    else:
        raise ValueError(f"fmt must be 'jpeg' or 'png', got {fmt!r}")
    return buf.getvalue()


def keyframe_image(face: FaceImage, fmt: str = "jpeg") -> AnnotatedImage:
    """Draw one key frame: landmarks as small dots, brow/eye/lip contours, the side labels.

    Parameters
    ----------
    face : FaceImage
        From :func:`prepare_face`.
    fmt : {"jpeg", "png"}

    Returns
    -------
    AnnotatedImage
        Same pixel size as ``face.rgb``; ``labels`` has "patient's R"/"patient's L" anchors
        on the image halves :func:`image_side` names.

    Raises
    ------
    ValueError
        If the landmarks' scheme is unknown or an eye centre is missing, or ``fmt`` is unknown.
    """
    h, w = face.rgb.shape[:2]
    fig, ax = _figure(face)
    pts = face.points
    ok = np.isfinite(pts).all(axis=1)
    dot = max(0.6, (w / 600) ** 2 * 1.6)
    ax.scatter(pts[ok, 0], pts[ok, 1], s=dot, c="#39ff14", linewidths=0, alpha=0.8)
    lw = max(0.8, w / 400)
    for region, lines in _contours(pts).items():
        for line in lines:
            ax.plot(line[:, 0], line[:, 1], color=_CONTOUR_COLOUR[region], linewidth=lw, alpha=0.95)
    labels = _side_labels(ax, face)
    data = _encode(fig, fmt)
    return AnnotatedImage(data, fmt, w, h, labels, pts, {})


def heat_colour(asymmetry: float | None) -> tuple[float, float, float, float] | None:
    """The heat map's colour (RGBA, 0-1) of an asymmetry of ``asymmetry`` points (``100 - symmetry``).

    :data:`HEATMAP_CMAP` over :data:`HEATMAP_RANGE`, values outside clipped; None for None.
    """
    if asymmetry is None or not np.isfinite(asymmetry):
        return None
    from matplotlib import colormaps

    lo, hi = HEATMAP_RANGE
    t = float(np.clip((asymmetry - lo) / (hi - lo), 0.0, 1.0))
    return tuple(float(c) for c in colormaps[HEATMAP_CMAP](t))  # type: ignore[return-value]


def _hull(xy: np.ndarray) -> np.ndarray:
    """Convex hull of 2-D points (Andrew's monotone chain), counter-clockwise."""
    pts = sorted(set(map(tuple, xy.tolist())))
    if len(pts) <= 2:
        return np.asarray(pts)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.asarray(lower[:-1] + upper[:-1])


def asymmetry_heatmap(
    face: FaceImage,
    asymmetry: Mapping[str, float | None],
    region_points: Mapping[str, Mapping[str, Sequence[int]]],
    weaker: Mapping[str, str | None] | None = None,
    fmt: str = "jpeg",
) -> AnnotatedImage:
    """Draw the asymmetry heat map: each region's patches on both sides in its asymmetry's colour.

    Parameters
    ----------
    face : FaceImage
        A 478-point MediaPipe face (:func:`prepare_face`).
    asymmetry : mapping
        Region -> asymmetry, ``100 - symmetry`` points of the regional table (None or
        absent: not measured, drawn grey and hatched).
    region_points : mapping
        Region -> side -> MediaPipe point indices of the region
        (:data:`palsyflow.features.regions.REGION_POINTS`).
    weaker : mapping, optional
        Region -> the patient's weaker side; that side's patch is outlined dashed.
    fmt : {"jpeg", "png"}

    Returns
    -------
    AnnotatedImage
        The face part keeps ``face.rgb``'s size; a colour bar
        (:data:`HEATMAP_CMAP`, :data:`HEATMAP_RANGE`) is added on the right. ``colours``
        holds each region's fill.

    Raises
    ------
    ValueError
        If the landmarks are not MediaPipe's 478 points.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Polygon

    pts = face.points
    if pts.shape[0] < 468:
        raise ValueError(f"the heat map needs MediaPipe's 478 points, got {pts.shape[0]}")
    h, w = face.rgb.shape[:2]
    bar = max(90, w // 6)
    fig, ax = _figure(face, extra_width=bar)
    # a patch is the hull of the region's points grown by a disc of a seventh of the eye distance
    iod = float(np.linalg.norm(np.subtract(*scheme_for_points(pts[None]).eye_centres(pts[None]))[0]))
    angles = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
    disc = (iod / 7.0) * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    colours: dict[str, tuple[float, float, float, float] | None] = {}
    for region in REGIONS:
        colour = heat_colour(asymmetry.get(region))
        colours[region] = colour
        for side in SIDES:
            xy = pts[list(region_points[region][side])]
            xy = xy[np.isfinite(xy).all(axis=1)]
            if xy.shape[0] == 0:
                continue
            blob = _hull((xy[:, None, :] + disc[None]).reshape(-1, 2))
            if colour is None:
                ax.add_patch(Polygon(blob, closed=True, facecolor=(0.55, 0.55, 0.55, 0.55), edgecolor=(0.3, 0.3, 0.3, 0.8),
                                     linewidth=0.6, hatch="///"))
            else:
                ax.add_patch(Polygon(blob, closed=True, facecolor=(*colour[:3], 0.72), edgecolor="none"))
            if weaker and weaker.get(region) == side:
                ax.add_patch(Polygon(blob, closed=True, fill=False, edgecolor="black", linewidth=1.4,
                                     linestyle=(0, (3, 2))))
    labels = _side_labels(ax, face)
    total = w + bar
    cax = fig.add_axes((w / total + 0.18 * bar / total, 0.12, 0.18 * bar / total, 0.76))
    lo, hi = HEATMAP_RANGE
    cb = fig.colorbar(ScalarMappable(Normalize(lo, hi), colormaps[HEATMAP_CMAP]), cax=cax, extend="max")
    fs = max(6.0, min(10.0, h / 50))
    cb.ax.tick_params(labelsize=fs)
    cb.set_label("asymmetry, 100 - symmetry", fontsize=fs)
    data = _encode(fig, fmt)
    return AnnotatedImage(data, fmt, total, h, labels, pts, colours)
