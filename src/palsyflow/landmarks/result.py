"""The landmarks of one recording as tables: :class:`LandmarkResult`, and conversion between schemes.

:func:`build_tables` turns whole-recording arrays into the points and quality tables
(:data:`palsyflow.schemas.LANDMARK_SCHEMA`, :data:`palsyflow.schemas.QUALITY_SCHEMA`);
:func:`to_scheme` expresses a MediaPipe result in the iBUG 68-point scheme.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from palsyflow.landmarks.schemes import SCHEMES, Scheme, scheme_for_points
from palsyflow.landmarks.schemes.ibug68 import MP_TO_IBUG68, N_IBUG, load_offsets, mediapipe_to_ibug68
from palsyflow.landmarks.schemes.mediapipe478 import N_POINTS
from palsyflow.schemas import LANDMARK_SCHEMA, QUALITY_SCHEMA

__all__ = ["LandmarkResult", "build_tables", "to_scheme"]


@dataclass
class LandmarkResult:
    """Landmarks of one recording.

    Attributes
    ----------
    points : polars.DataFrame
        :data:`palsyflow.schemas.LANDMARK_SCHEMA`, ``n_frames * n_points`` rows ordered by
        (frame, point); pixels of the orientation-corrected frame, pixel centres at
        integer coordinates, x right, y down; no-face frames have NaN x/y/z/spread and
        ``face_found`` False.
    quality : polars.DataFrame
        :data:`palsyflow.schemas.QUALITY_SCHEMA`, one row per frame. ``tta_copies`` is
        the number of TTA copies in which the face was found (0 for frames without
        TTA); ``tta_spread_px`` the median over points of the per-point spread (px,
        NaN without TTA), ``tta_spread_iod_pct`` the same in % of the inter-ocular
        distance (eye-corner midpoints, the scheme's
        :meth:`~palsyflow.landmarks.schemes.base.Scheme.interocular_distance`);
        ``keyframe`` the key-frame name or null
        (photos: null).
    meta : dict
        JSON-serialisable: ``source``, ``kind``, ``width``, ``height`` (pixels),
        ``fps`` (frames/s; None for photos), ``n_frames``, ``backend``, ``n_points``
        (478 or 68), ``params_digest`` (``LandmarkParams.digest()``), ``keyframes``
        (name -> frame), ``tta_copies`` (copies requested), ``mediapipe_version``, and
        what the backend adds (:meth:`~palsyflow.landmarks.base.Landmarker.describe`;
        dlib: ``scheme`` = ``"ibug68"``, ``dlib_version``, ``dlib_model``,
        ``dlib_fallback_frames``, ``licence``). :func:`to_scheme` adds ``scheme``,
        ``ibug68_offsets`` and their provenance.
    """

    points: pl.DataFrame
    quality: pl.DataFrame
    meta: dict = field(default_factory=dict)

    def points_array(self) -> np.ndarray:
        """The points as an array, shape (n_frames, P, 3), float32, pixels (P = meta n_points)."""
        n = int(self.meta.get("n_frames", self.quality.height))
        return self.points.select("x", "y", "z").to_numpy().reshape(n, int(self.meta.get("n_points", N_POINTS)), 3)


def build_tables(
    points: np.ndarray,
    spread: np.ndarray,
    n_faces: np.ndarray,
    tta_found: np.ndarray,
    times: np.ndarray,
    keyframe: list[str | None],
    scheme: Scheme | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Build the points and quality tables from whole-recording arrays (vectorised).

    Parameters
    ----------
    points : ndarray, shape (n_frames, P, 3), pixels; NaN rows for no-face frames
        P = 478 (MediaPipe) or 68 (iBUG scheme); the IOD is the scheme's.
    spread : ndarray, shape (n_frames, P), pixels; NaN where no TTA ran
    n_faces : ndarray, shape (n_frames,), int
    tta_found : ndarray, shape (n_frames,), int
        TTA copies with a face (0 when the frame had no TTA).
    times : ndarray, shape (n_frames,), seconds
    keyframe : list of str or None, length n_frames
    scheme : Scheme, optional
        The landmark scheme of ``points``; default: the scheme with P points.

    Returns
    -------
    points_df : polars.DataFrame, LANDMARK_SCHEMA, n_frames * P rows
    quality_df : polars.DataFrame, QUALITY_SCHEMA, n_frames rows

    Raises
    ------
    ValueError
        If no scheme has P points (and none is given).
    """
    scheme = scheme or scheme_for_points(points)
    n, n_pts = points.shape[0], points.shape[1]  # 478 (MediaPipe) or 68 (iBUG: dlib, mapped)
    flat = np.ascontiguousarray(points, dtype=np.float32).reshape(n * n_pts, 3)
    found = np.isfinite(points[:, :, :2]).all(axis=(1, 2))
    pts_df = pl.DataFrame(
        [
            pl.Series("frame", np.repeat(np.arange(n, dtype=np.int32), n_pts), dtype=pl.Int32),
            pl.Series("point", np.tile(np.arange(n_pts, dtype=np.int16), n), dtype=pl.Int16),
            pl.Series("x", flat[:, 0], dtype=pl.Float32),
            pl.Series("y", flat[:, 1], dtype=pl.Float32),
            pl.Series("z", flat[:, 2], dtype=pl.Float32),
            pl.Series("spread", np.ascontiguousarray(spread, dtype=np.float32).reshape(-1), dtype=pl.Float32),
            pl.Series("face_found", np.repeat(found, n_pts), dtype=pl.Boolean),
        ]
    )
    has_tta = tta_found > 0
    with np.errstate(invalid="ignore", divide="ignore"), _quiet_nan():
        spread_px = np.where(has_tta, np.nanmedian(np.where(has_tta[:, None], spread, 0.0), axis=1), np.nan)
        iod = scheme.interocular_distance(points)
        spread_pct = np.where(iod > 0, 100.0 * spread_px / iod, np.nan)
    q_df = pl.DataFrame(
        [
            pl.Series("frame", np.arange(n, dtype=np.int32), dtype=pl.Int32),
            pl.Series("time_s", np.asarray(times, dtype=np.float64), dtype=pl.Float64),
            pl.Series("face_found", found, dtype=pl.Boolean),
            pl.Series("n_faces", np.asarray(n_faces, dtype=np.int16), dtype=pl.Int16),
            pl.Series("tta_copies", np.asarray(tta_found, dtype=np.int16), dtype=pl.Int16),
            pl.Series("tta_spread_px", spread_px.astype(np.float32), dtype=pl.Float32),
            pl.Series("tta_spread_iod_pct", spread_pct.astype(np.float32), dtype=pl.Float32),
            pl.Series("keyframe", keyframe, dtype=pl.Utf8),
        ]
    )
    assert list(pts_df.schema.items()) == list(LANDMARK_SCHEMA.items())
    assert list(q_df.schema.items()) == list(QUALITY_SCHEMA.items())
    return pts_df, q_df


class _quiet_nan:
    """Silence numpy's all-NaN-slice RuntimeWarnings inside a block."""

    def __enter__(self):
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def to_scheme(result: LandmarkResult, scheme: str, correct: bool = True) -> LandmarkResult:
    """A :class:`LandmarkResult` in the requested scheme.

    ``"mediapipe478"`` returns a 478-point result unchanged. ``"ibug68"`` returns a
    68-point result unchanged (the dlib backend) and converts a 478-point one with
    :func:`~palsyflow.landmarks.schemes.ibug68.mediapipe_to_ibug68` (offset-corrected
    when ``correct``): x, y, z of the chosen vertices plus the offsets; ``spread`` is
    that of the chosen vertex (the offset is a constant shift, so it does not change the
    spread); the quality table's spread summaries are recomputed over the 68 points.

    Parameters
    ----------
    result : LandmarkResult
    scheme : {"mediapipe478", "ibug68"}
    correct : bool

    Returns
    -------
    LandmarkResult
        ``meta["n_points"]`` and ``meta["scheme"]`` updated.

    Raises
    ------
    ValueError
        If ``scheme`` is unknown, or a 68-point result is asked for as mediapipe478.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {tuple(SCHEMES)}, got {scheme!r}")
    n_pts = int(result.meta.get("n_points", N_POINTS))
    if n_pts == N_IBUG:
        if scheme == "ibug68":
            return result
        raise ValueError("a 68-point (dlib) result cannot be expressed as mediapipe478")
    if scheme == "mediapipe478":
        return result
    n = result.quality.height
    arr = result.points.select("x", "y", "z").to_numpy().astype(np.float64).reshape(n, N_POINTS, 3)
    spread = result.points["spread"].to_numpy().astype(np.float64).reshape(n, N_POINTS)
    pts68 = mediapipe_to_ibug68(arr, correct=correct)
    q = result.quality
    pts_df, q_df = build_tables(
        pts68.astype(np.float32),
        spread[:, MP_TO_IBUG68].astype(np.float32),
        q["n_faces"].to_numpy(),
        q["tta_copies"].to_numpy(),
        q["time_s"].to_numpy(),
        q["keyframe"].to_list(),
    )
    meta = dict(result.meta)
    meta.update(n_points=N_IBUG, scheme="ibug68", ibug68_offsets=bool(correct))
    if correct:
        meta["ibug68_offsets_provenance"] = load_offsets()[1]
    return LandmarkResult(points=pts_df, quality=q_df, meta=meta)
