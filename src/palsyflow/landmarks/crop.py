"""Square image crops around a face and the map between crop and frame pixels.

Used by the MediaPipe backend (small-face second pass) and by the test-time
augmentation's face-crop layout. Pixel centres at integer coordinates in both the
frame and the crop (:mod:`palsyflow.landmarks.schemes.base`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["CropMap", "cut_crop", "face_square", "square_crop"]


@dataclass(frozen=True)
class CropMap:
    """Where a square crop came from: ``canvas = (frame - (x0, y0) + 0.5) * scale - 0.5``.

    Attributes
    ----------
    x0, y0 : int
        Top-left corner of the crop in frame pixels (may be negative or beyond the
        frame: the outside is filled with a border).
    side : int
        Side of the crop in frame pixels.
    scale : float
        Canvas pixels per frame pixel (``out_side / side``).
    """

    x0: int
    y0: int
    side: int
    scale: float

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Canvas pixels -> frame pixels; shape (..., D>=2) kept, z divided by ``scale``.

        Pixel centres at integer coordinates in both frames.
        """
        out = np.array(points, dtype=np.float64, copy=True)
        out[..., 0] = (out[..., 0] + 0.5) / self.scale - 0.5 + self.x0
        out[..., 1] = (out[..., 1] + 0.5) / self.scale - 0.5 + self.y0
        if out.shape[-1] > 2:
            out[..., 2] = out[..., 2] / self.scale
        return out

    def to_canvas(self, points: np.ndarray) -> np.ndarray:
        """Frame pixels -> canvas pixels (inverse of :meth:`to_frame`)."""
        out = np.array(points, dtype=np.float64, copy=True)
        out[..., 0] = (out[..., 0] - self.x0 + 0.5) * self.scale - 0.5
        out[..., 1] = (out[..., 1] - self.y0 + 0.5) * self.scale - 0.5
        if out.shape[-1] > 2:
            out[..., 2] = out[..., 2] * self.scale
        return out


def face_square(points: np.ndarray, margin: float) -> tuple[float, float, float]:
    """Square box around a face's landmarks.

    Parameters
    ----------
    points : ndarray, shape (n_points, >=2), pixels
    margin : float
        The landmark bounding box's longer side is enlarged by ``margin`` times itself
        on each side (side = ``(1 + 2 margin) * max(w, h)``).

    Returns
    -------
    (cx, cy, side) : float
        Centre and side of the square, pixels.

    Raises
    ------
    ValueError
        If the points are not finite.
    """
    xy = np.asarray(points, dtype=np.float64)[:, :2]
    if not np.isfinite(xy).all():
        raise ValueError("face_square needs finite points")
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    cx, cy = (lo + hi) / 2.0
    side = (1.0 + 2.0 * float(margin)) * float(max(hi - lo))
    return float(cx), float(cy), max(side, 1.0)


def square_crop(
    rgb: np.ndarray,
    cx: float,
    cy: float,
    side: float,
    out_side: int,
    border: str = "replicate",
    fill: int = 0,
) -> tuple[np.ndarray, CropMap]:
    """Cut a square around (cx, cy) and resize it to ``out_side`` x ``out_side``.

    Parts of the square outside the image are filled (``border``: ``"replicate"``
    repeats the edge pixels, ``"constant"`` fills grey level ``fill``, black by default).
    Downscaling uses
    ``cv2.INTER_AREA`` (no aliasing), upscaling ``cv2.INTER_CUBIC``.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
    cx, cy, side : float
        Square centre and side, frame pixels.
    out_side : int
        Canvas side, pixels.
    border : {"replicate", "constant"}
    fill : int
        Grey level (0-255) of a ``"constant"`` border.

    Returns
    -------
    canvas : ndarray, shape (out_side, out_side, 3), uint8, C-contiguous
    crop : CropMap
        Maps points between the canvas and the frame.
    """
    side_i = max(1, int(round(side)))
    x0 = int(np.floor(cx - side_i / 2.0 + 0.5))
    y0 = int(np.floor(cy - side_i / 2.0 + 0.5))
    return cut_crop(rgb, CropMap(x0, y0, side_i, out_side / side_i), border, fill)


def cut_crop(rgb: np.ndarray, crop: CropMap, border: str = "replicate", fill: int = 0) -> tuple[np.ndarray, CropMap]:
    """Cut the square of an existing :class:`CropMap` from another frame of the same size.

    As :func:`square_crop` (same border and interpolation rules), for the square
    ``crop`` describes; the canvas side is ``round(crop.side * crop.scale)``. Used to
    follow one face box through the frames of a video.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
    crop : CropMap
    border : {"replicate", "constant"}
    fill : int
        Grey level (0-255) of a ``"constant"`` border.

    Returns
    -------
    canvas : ndarray, shape (out_side, out_side, 3), uint8, C-contiguous
    crop : CropMap
        ``crop`` itself.
    """
    h, w = rgb.shape[:2]
    x0, y0, side_i = crop.x0, crop.y0, crop.side
    out_side = max(1, int(round(side_i * crop.scale)))
    x1, y1 = x0 + side_i, y0 + side_i
    pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))  # top, bottom, left, right
    patch = rgb[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    if any(pad):
        mode = cv2.BORDER_CONSTANT if border == "constant" else cv2.BORDER_REPLICATE
        if patch.size == 0:  # the square lies wholly outside the image
            patch = np.full((side_i, side_i, 3), fill if border == "constant" else 0, np.uint8)
        else:
            patch = cv2.copyMakeBorder(patch, *pad, mode, value=(fill, fill, fill))
    interp = cv2.INTER_AREA if out_side < side_i else cv2.INTER_CUBIC
    canvas = cv2.resize(patch, (int(out_side), int(out_side)), interpolation=interp)
    return np.ascontiguousarray(canvas), crop


