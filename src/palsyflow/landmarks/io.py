"""Landmark tables on disk: two parquet files per recording, written atomically.

The points file carries the result's ``meta`` as JSON under the parquet key-value
metadata key :data:`META_KEY`; the quality file carries the same copy (so either
file alone identifies its source and parameters).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from palsyflow.atomic import atomic_path
from palsyflow.landmarks.result import LandmarkResult
from palsyflow.schemas import LANDMARK_SCHEMA, QUALITY_SCHEMA, conform

__all__ = ["META_KEY", "read_landmarks", "read_meta", "write_landmarks"]

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
