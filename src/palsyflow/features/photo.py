"""The palsy detector's inputs from one face photo: re-framing, geometry and shortcut features, dHash.

The model itself (grouped evaluation, SHAP) is :mod:`palsyflow.models.detector`, which
takes the feature matrix these functions give; the sources of each measure and of the
re-framing are described there.
"""

from __future__ import annotations

import numpy as np

from palsyflow.config import DetectorParams
from palsyflow.features.emotrics import emotrics_measures
from palsyflow.features.parra import parra_features_batch
from palsyflow.features.regional import recording_measures
from palsyflow.landmarks.crop import face_square, square_crop
from palsyflow.landmarks.schemes.ibug68 import mediapipe_to_ibug68

__all__ = ["DETECTOR_FEATURES", "FRAMING_FEATURES", "dhash", "framing_features", "photo_features", "reframe"]

_REST_ASYM = (
    "rest_brow_height_asym",
    "rest_palpebral_fissure_height_asym",
    "rest_nasolabial_height_asym",
    "rest_commissure_height_asym",
    "rest_commissure_midline_distance_asym",
)
_PARRA = tuple(f"parra_f{i:02d}" for i in range(29) if i != 23) + ("parra_f23_dev",)
_EMOTRICS_PAIRS = (
    "brow_height",
    "mrd1",
    "mrd2",
    "palpebral_fissure_height",
    "commissure_excursion",
    "smile_angle",
    "dental_show",
)
_EMOTRICS_BILATERAL = (
    "emotrics_commissure_height_deviation",
    "emotrics_lower_lip_height_deviation",
    "emotrics_upper_lip_height_deviation",
)
_EMOTRICS = tuple(f"emotrics_{m}_absdiff" for m in _EMOTRICS_PAIRS) + tuple(f"{m}_abs" for m in _EMOTRICS_BILATERAL)

#: Detector inputs, in the estimator's column order.
DETECTOR_FEATURES: tuple[str, ...] = _REST_ASYM + _PARRA + _EMOTRICS

#: Shortcut features: image size, face framing and sharpness, nothing about the face's shape.
FRAMING_FEATURES: tuple[str, ...] = (
    "image_log_area",
    "image_aspect_h_over_w",
    "face_box_fraction",
    "face_centre_x",
    "face_centre_y",
    "log_sharpness",
    "mean_luma",
)


# --------------------------------------------------------------------------- images
def reframe(rgb: np.ndarray, points: np.ndarray, params: DetectorParams) -> np.ndarray:
    """The same crop, resolution, size and encoding for every photo.

    A square around the face landmarks, enlarged by ``params.reframe_margin`` times
    its side on each side (:func:`palsyflow.landmarks.crop.face_square`), cut at
    ``params.reframe_native_side`` px (area-averaged when the face is larger, so every
    photo loses the detail the poorest source lacks), resized to
    ``params.reframe_side`` px (bicubic) and JPEG-encoded and decoded at
    ``params.reframe_jpeg_quality``.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8, RGB
    points : ndarray, shape (n_points, >=2)
        The face's landmarks in pixels of ``rgb`` (x right, y down).
    params : DetectorParams

    Returns
    -------
    ndarray, shape (reframe_side, reframe_side, 3), uint8, RGB

    Raises
    ------
    ValueError
        If the points are not finite.
    """
    import cv2

    cx, cy, side = face_square(points, params.reframe_margin)
    native, _ = square_crop(rgb, cx, cy, side, int(params.reframe_native_side))
    out = cv2.resize(native, (int(params.reframe_side),) * 2, interpolation=cv2.INTER_CUBIC)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(params.reframe_jpeg_quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise ValueError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))


def framing_features(rgb: np.ndarray, points: np.ndarray | None) -> dict[str, float]:
    """Size, framing and sharpness of a photo: the shortcut a classifier could learn.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8, RGB
    points : ndarray, shape (n_points, >=2) or None
        Face landmarks in pixels of ``rgb``; None when no face was found (the face
        values are then NaN).

    Returns
    -------
    dict
        :data:`FRAMING_FEATURES`: ``image_log_area`` (ln px^2), ``image_aspect_h_over_w``,
        ``face_box_fraction`` (landmark box's longer side over the image's shorter side),
        ``face_centre_x`` / ``face_centre_y`` (box centre over width / height),
        ``log_sharpness`` (ln of the variance of the grey image's Laplacian, Pech-Pacheco
        et al. 2000, doi:10.1109/ICPR.2000.903548), ``mean_luma`` (0-255).
    """
    import cv2

    h, w = rgb.shape[:2]
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    out = {
        "image_log_area": float(np.log(max(h * w, 1))),
        "image_aspect_h_over_w": float(h / max(w, 1)),
        "log_sharpness": float(np.log(cv2.Laplacian(grey, cv2.CV_64F).var() + 1e-6)),
        "mean_luma": float(grey.mean()),
        "face_box_fraction": np.nan,
        "face_centre_x": np.nan,
        "face_centre_y": np.nan,
    }
    if points is not None and np.isfinite(np.asarray(points)[:, :2]).all():
        xy = np.asarray(points, dtype=np.float64)[:, :2]
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        out["face_box_fraction"] = float(max(hi - lo) / max(min(h, w), 1))
        out["face_centre_x"] = float((lo[0] + hi[0]) / 2 / max(w, 1))
        out["face_centre_y"] = float((lo[1] + hi[1]) / 2 / max(h, 1))
    return {k: out[k] for k in FRAMING_FEATURES}


def dhash(rgb: np.ndarray, hash_side: int = 8) -> int:
    """Difference hash: sign of horizontal brightness steps of a (side+1) x side thumbnail.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3) or (H, W), uint8
    hash_side : int
        Rows of the thumbnail; the hash has ``hash_side ** 2`` bits (64 by default).

    Returns
    -------
    int
        Bit ``r * side + c`` is 1 when pixel (r, c) is brighter than pixel (r, c + 1)
        of the area-averaged grey thumbnail (Krawetz 2013, see the module docstring).
    """
    from PIL import Image

    arr = np.asarray(rgb)
    im = Image.fromarray(arr if arr.ndim == 2 else arr[..., :3]).convert("L")
    thumb = np.asarray(im.resize((hash_side + 1, hash_side), Image.Resampling.BOX), dtype=np.int16)
    bits = (thumb[:, :-1] > thumb[:, 1:]).ravel()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def photo_features(points478: np.ndarray) -> dict[str, float]:
    """The detector's inputs from one face's MediaPipe landmarks.

    Parameters
    ----------
    points478 : ndarray, shape (478, 2|3)
        MediaPipe FaceLandmarker points (with the iris, 468-477), image pixels, x right,
        y down; NaN when no face.

    Returns
    -------
    dict
        :data:`DETECTOR_FEATURES` -> float (NaN when a measure cannot be computed):
        ``rest_*_asym`` (fraction), ``parra_f*`` (degrees, slopes or ratios as in
        :mod:`palsyflow.features.parra`), ``parra_f23_dev`` (degrees),
        ``emotrics_*_absdiff`` / ``*_abs`` (mm; the smile angle in degrees).
    """
    p = np.asarray(points478, dtype=np.float64)
    out = dict.fromkeys(DETECTOR_FEATURES, np.nan)
    if p.shape[0] < 478 or not np.isfinite(p[:, :2]).all():
        return out
    reg = recording_measures(p[None])
    for k in _REST_ASYM:
        v = reg.get(k)
        out[k] = np.nan if v is None else float(v)
    parra = parra_features_batch(mediapipe_to_ibug68(p)[None])
    for k in _PARRA:
        if k == "parra_f23_dev":
            out[k] = float(np.abs(parra["parra_f23"][0] - 90.0))
        else:
            out[k] = float(parra[k][0])
    emo = emotrics_measures(p, "mediapipe478")
    for m in _EMOTRICS_PAIRS:
        a, b = emo.get(f"emotrics_{m}_left"), emo.get(f"emotrics_{m}_right")
        out[f"emotrics_{m}_absdiff"] = np.nan if a is None or b is None else float(abs(a - b))
    for m in _EMOTRICS_BILATERAL:
        v = emo.get(m)
        out[f"{m}_abs"] = np.nan if v is None else float(abs(v))
    return out


# --------------------------------------------------------------------------- metrics
