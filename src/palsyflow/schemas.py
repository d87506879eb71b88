"""Column schemas of the tables that pass between stages.

Each stage reads the previous stage's table and writes its own; these are the
contracts between them. Polars dtypes; every coordinate follows
:mod:`palsyflow.conventions`.
"""

from __future__ import annotations

import polars as pl

#: Per-recording landmark table, one row per (frame, point).
#: x, y: pixels of the decoded, orientation-corrected frame (x right, y down);
#: z: MediaPipe relative depth scaled like x (NaN for dlib);
#: spread: per-point median absolute deviation over TTA copies, pixels (NaN when the
#: frame had no TTA); face_found: False rows carry NaN coordinates.
LANDMARK_SCHEMA: dict[str, pl.DataType] = {
    "frame": pl.Int32,
    "point": pl.Int16,
    "x": pl.Float32,
    "y": pl.Float32,
    "z": pl.Float32,
    "spread": pl.Float32,
    "face_found": pl.Boolean,
}

#: Per-recording frame quality table, one row per frame.
QUALITY_SCHEMA: dict[str, pl.DataType] = {
    "frame": pl.Int32,
    "time_s": pl.Float64,
    "face_found": pl.Boolean,
    "n_faces": pl.Int16,
    "tta_copies": pl.Int16,
    "tta_spread_px": pl.Float32,  # median over points of the per-point MAD, pixels
    "tta_spread_iod_pct": pl.Float32,  # the same in % of inter-ocular distance
    "keyframe": pl.Utf8,  # "neutral", "peak" or null
}

#: Identification columns that lead every feature table row (one row per recording).
FEATURE_ID_SCHEMA: dict[str, pl.DataType] = {
    "recording_key": pl.Utf8,  # RecordingPath.key, unique
    "site": pl.Utf8,
    "subject": pl.Utf8,
    "session": pl.Utf8,  # YYYYMMDD
    "session_date": pl.Date,
    "task": pl.Utf8,
    "kind": pl.Utf8,  # video | photo | audio
    "sha256": pl.Utf8,
    "healthy": pl.Boolean,  # null when the manifest does not say
    "hb_grade": pl.Int8,  # clinician House-Brackmann grade 1-6, null when absent
    "simulated": pl.Boolean,  # True for phantom (synthetically weakened) recordings
    "onset": pl.Date,  # the subject's onset date (manifest column onset), null when not said
    "n_frames": pl.Int32,
    "face_found_fraction": pl.Float64,
    "tta_spread_iod_pct": pl.Float64,
}

#: Long-format score table, one row per (session, measure).
SCORE_SCHEMA: dict[str, pl.DataType] = {
    "site": pl.Utf8,
    "subject": pl.Utf8,
    "session": pl.Utf8,
    "session_date": pl.Date,
    "measure": pl.Utf8,  # palsyflow.measures.registry.SCORE_MEASURES, e.g. "symmetry_index"
    "region": pl.Utf8,  # brow | eye | cheek | mouth | overall | speech
    "value": pl.Float64,
    "unit": pl.Utf8,  # a key of palsyflow.measures.registry.UNITS ("0-100", "Hz", "st", ...)
    "z": pl.Float64,  # against the normative model (healthy sessions); null if none
    "percentile": pl.Float64,  # 0-100 against healthy sessions; null if none
    "weaker_side": pl.Utf8,  # "left" | "right" (patient's) | null
    "side_basis": pl.Utf8,  # why weaker_side was named (palsyflow.measures.symmetry.SIDE_BASES) | null
    "change_since_first": pl.Float64,  # value minus the subject's first session's value
    "simulated": pl.Boolean,
    "model_version": pl.Utf8,  # normative model version used, null if none
}


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame with ``schema``."""
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast ``df``'s schema columns to their dtypes and put them first.

    Raises
    ------
    KeyError
        If a schema column is missing from ``df``.
    """
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise KeyError(f"missing columns {missing}")
    rest = [c for c in df.columns if c not in schema]
    return df.select([pl.col(c).cast(t) for c, t in schema.items()] + rest)
