"""Landmark tables on disk: two parquet files per recording, written atomically; landmarks computed elsewhere.

The points file carries the result's ``meta`` as JSON under the parquet key-value
metadata key :data:`META_KEY`; the quality file carries the same copy (so either
file alone identifies its source and parameters).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from palsyflow.atomic import atomic_path
from palsyflow.landmarks.keyframes import select_keyframes
from palsyflow.landmarks.result import LandmarkResult, build_tables
from palsyflow.landmarks.schemes import SCHEMES
from palsyflow.schemas import LANDMARK_SCHEMA, QUALITY_SCHEMA, conform

__all__ = ["META_KEY", "PRECOMPUTED_SUFFIXES", "PrecomputedLandmarkError", "read_landmarks", "read_meta", "read_precomputed", "write_landmarks"]

#: Parquet key-value metadata key holding the JSON-encoded ``LandmarkResult.meta``.
META_KEY = "palsyflow.landmarks.meta"


def write_landmarks(result: LandmarkResult, points_path: Path, quality_path: Path) -> tuple[Path, Path]:
    """Write a :class:`LandmarkResult` as two parquet files (zstd), each atomically.

    Parameters
    ----------
    result : LandmarkResult
    points_path, quality_path : Path
        Targets; parent directories are created. A reader sees either the old or the
        new file, never a partial one.

    Returns
    -------
    (points_path, quality_path)

    Raises
    ------
    KeyError
        If a table lacks a schema column.
    TypeError
        If ``meta`` is not JSON-serialisable.
    """
    meta_json = json.dumps(result.meta, sort_keys=True)
    points = conform(result.points, LANDMARK_SCHEMA)
    quality = conform(result.quality, QUALITY_SCHEMA)
    for df, target in ((points, points_path), (quality, quality_path)):
        with atomic_path(target) as tmp:
            df.write_parquet(tmp, compression="zstd", metadata={META_KEY: meta_json})
    return Path(points_path), Path(quality_path)


def read_meta(points_path: Path) -> dict:
    """The ``meta`` dict stored in a landmark parquet file.

    Raises
    ------
    KeyError
        If the file has no palsyflow landmark metadata.
    """
    kv = pl.read_parquet_metadata(points_path)
    if META_KEY not in kv:
        raise KeyError(f"{points_path}: no {META_KEY!r} parquet metadata")
    return json.loads(kv[META_KEY])


def read_landmarks(points_path: Path, quality_path: Path) -> LandmarkResult:
    """Read the two files written by :func:`write_landmarks`.

    Returns
    -------
    LandmarkResult
        Tables conformed to LANDMARK_SCHEMA / QUALITY_SCHEMA; ``meta`` from the points file.

    Raises
    ------
    FileNotFoundError
        If a file is missing.
    KeyError
        If a schema column or the metadata is missing.
    """
    points = conform(pl.read_parquet(points_path), LANDMARK_SCHEMA)
    quality = conform(pl.read_parquet(quality_path), QUALITY_SCHEMA)
    return LandmarkResult(points=points, quality=quality, meta=read_meta(points_path))


#: File suffixes :func:`read_precomputed` reads.
PRECOMPUTED_SUFFIXES: tuple[str, ...] = (".parquet", ".csv")


class PrecomputedLandmarkError(ValueError):
    """A precomputed landmark file that cannot be measured; the message is one sentence naming the file."""


def _wide_points(df: pl.DataFrame) -> dict[int, tuple[str, str]]:
    """Point index -> (x column, y column) of a wide table (``x0, y0, ..., xN, yN``)."""
    cols = set(df.columns)
    out: dict[int, tuple[str, str]] = {}
    for c in df.columns:
        if c.startswith("x") and c[1:].isdigit() and f"y{c[1:]}" in cols:
            out[int(c[1:])] = (c, f"y{c[1:]}")
    return out


def read_precomputed(path: Path, scheme: str | None = None) -> LandmarkResult:
    """Read landmarks computed elsewhere (hand annotation, another tool) as a :class:`LandmarkResult`.

    Two layouts are accepted, as parquet or CSV:

    * **long**, the layout of :func:`write_landmarks`' points file: columns ``point``,
      ``x``, ``y`` and optionally ``frame`` (default 0: one photo), ``z`` (default 0),
      ``face_found`` (frames where it is False may hold NaN) and ``scheme``;
    * **wide**, one row per frame: columns ``x0, y0, x1, y1, ...`` (the layout of the
      shared ``faces-68pt`` CSV); other columns are ignored.

    The scheme is the ``scheme`` column (one value) or ``scheme`` argument when given,
    else the point count: 68 points are iBUG-68
    (:mod:`~palsyflow.landmarks.schemes.ibug68`), 478 MediaPipe
    (:mod:`~palsyflow.landmarks.schemes.mediapipe478`). Coordinates are pixels of the
    upright image, x right, y down (:mod:`palsyflow.conventions`): the patient's left
    is on the image right. A video's key frames (``neutral``, ``peak``) are chosen by
    :func:`~palsyflow.landmarks.keyframes.select_keyframes`; a one-frame file is a photo.

    Parameters
    ----------
    path : Path
        ``.parquet`` or ``.csv``.
    scheme : {"ibug68", "mediapipe478"}, optional
        Overrides detection from the file.

    Returns
    -------
    LandmarkResult
        ``meta``: ``source``, ``kind`` (``photo`` or ``video``), ``n_frames``,
        ``n_points``, ``scheme``, ``backend`` = ``"precomputed"``, ``keyframes``.

    Raises
    ------
    PrecomputedLandmarkError
        A ValueError whose message is one sentence naming the file and the reason: not
        readable, unknown suffix, missing columns, a point count that is neither 68 nor
        478 (or disagrees with the ``scheme`` column), a frame missing points or with a
        point twice, NaN or infinite coordinates in a frame with a face, no frame at all.
    """
    path = Path(path)

    def fail(reason: str) -> PrecomputedLandmarkError:
        return PrecomputedLandmarkError(f"{path}: {reason}")

    suffix = path.suffix.lower()
    if suffix not in PRECOMPUTED_SUFFIXES:
        raise fail(f"precomputed landmarks must be a {' or '.join(PRECOMPUTED_SUFFIXES)} file, not {suffix or 'a file without suffix'}")
    try:
        df = pl.read_parquet(path) if suffix == ".parquet" else pl.read_csv(path, infer_schema_length=None)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's fault
        raise fail(f"cannot be read as {suffix[1:]} ({type(exc).__name__})") from None
    if df.height == 0:
        raise fail("holds no landmark rows")
    named = scheme
    if "scheme" in df.columns:
        values = df["scheme"].drop_nulls().unique().to_list()
        if len(values) > 1:
            raise fail(f"column scheme holds several values ({', '.join(sorted(map(str, values)))}), expected one")
        named = named or (str(values[0]) if values else None)
    if named is not None and named not in SCHEMES:
        raise fail(f"unknown landmark scheme {named!r}, expected one of {', '.join(SCHEMES)}")

    wide = _wide_points(df)
    if {"point", "x", "y"} <= set(df.columns):
        if "frame" not in df.columns:
            df = df.with_columns(pl.lit(0).alias("frame"))
        dup = df.group_by("frame", "point").len().filter(pl.col("len") > 1)
        if dup.height:
            raise fail(f"point {dup['point'][0]} appears {dup['len'][0]} times in frame {dup['frame'][0]}")
        counts = df.group_by("frame").agg(pl.len().alias("n"), pl.col("point").min().alias("lo"), pl.col("point").max().alias("hi"))
        sizes = sorted(set(counts["n"].to_list()))
        if len(sizes) > 1:
            raise fail(f"frames hold different numbers of points ({', '.join(map(str, sizes))}), expected the same in every frame")
        n_pts = sizes[0]
        if counts["lo"].min() != 0 or counts["hi"].max() != n_pts - 1:
            raise fail(f"point numbers must run 0..{n_pts - 1} in every frame")
        df = df.sort("frame", "point")
        frames = df["frame"].unique(maintain_order=True).to_list()
        xyz = np.stack([
            df["x"].cast(pl.Float64).to_numpy(),
            df["y"].cast(pl.Float64).to_numpy(),
            df["z"].cast(pl.Float64).fill_null(0.0).to_numpy() if "z" in df.columns else np.zeros(df.height),
        ], axis=-1).reshape(len(frames), n_pts, 3)
        flagged = (
            df["face_found"].cast(pl.Boolean).fill_null(True).to_numpy().reshape(len(frames), n_pts).all(axis=1)
            if "face_found" in df.columns else np.ones(len(frames), dtype=bool)
        )
    elif wide:
        n_pts = max(wide) + 1
        if sorted(wide) != list(range(n_pts)):
            missing = sorted(set(range(n_pts)) - set(wide))
            raise fail(f"missing columns x{missing[0]}/y{missing[0]} of a {n_pts}-point wide table")
        xs = df.select([pl.col(wide[i][0]).cast(pl.Float64) for i in range(n_pts)]).to_numpy()
        ys = df.select([pl.col(wide[i][1]).cast(pl.Float64) for i in range(n_pts)]).to_numpy()
        xyz = np.stack([xs, ys, np.zeros_like(xs)], axis=-1)
        flagged = np.ones(df.height, dtype=bool)
    else:
        raise fail("missing columns: expected point, x, y (long layout) or x0, y0, x1, y1, ... (wide layout)")

    by_count = {s.n_points: name for name, s in SCHEMES.items()}
    if named is None:
        if n_pts not in by_count:
            raise fail(f"has {n_pts} points per frame, expected 68 (iBUG-68) or 478 (MediaPipe)")
        named = by_count[n_pts]
    sch = SCHEMES[named]
    if n_pts != sch.n_points:
        raise fail(f"has {n_pts} points per frame, but scheme {named} has {sch.n_points}")
    finite = np.isfinite(xyz[..., :2]).all(axis=(1, 2))
    bad = np.flatnonzero(flagged & ~finite)
    if bad.size:
        raise fail(f"frame {int(bad[0])} has NaN or infinite coordinates (mark frames without a face with face_found false)")
    xyz[~flagged] = np.nan
    n = xyz.shape[0]
    keyframes = select_keyframes(xyz, 2, scheme=sch) if n > 1 and flagged.any() else {}
    names: list[str | None] = [None] * n
    for label, idx in keyframes.items():
        names[idx] = label
    pts_df, q_df = build_tables(
        xyz.astype(np.float32), np.full((n, n_pts), np.nan, dtype=np.float32), flagged.astype(np.int16),
        np.zeros(n, dtype=np.int16), np.arange(n, dtype=np.float64), names, sch,
    )
    meta = {"source": str(path), "kind": "photo" if n == 1 else "video", "n_frames": n, "n_points": n_pts,
            "scheme": named, "backend": "precomputed", "keyframes": {k: int(v) for k, v in keyframes.items()}}
    return LandmarkResult(points=pts_df, quality=q_df, meta=meta)
