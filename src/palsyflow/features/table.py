"""The feature table: one row per recording, and its per-session summary.

Columns are :data:`palsyflow.schemas.FEATURE_ID_SCHEMA` followed by
:data:`MEASURE_COLUMNS`, described by :data:`MEASURES` (name, region, side, unit,
kind, description). ``python -m palsyflow.features.table`` prints the schema as
markdown (the source of ``docs/features.md``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from palsyflow.config import FeatureParams
from palsyflow.features.regional import (
    DYNAMIC,
    NO_SIDE,
    WEAKER_WHEN,
    asymmetry,
    recording_measures,
    weaker_side,
)
from palsyflow.features.regions import REGIONS
from palsyflow.features.speech import SPEECH_MEASURES, speech_features
from palsyflow.schemas import FEATURE_ID_SCHEMA

Kind = Literal["static", "dynamic", "speech"]


@dataclass(frozen=True)
class MeasureSpec:
    """One measure column of the feature table.

    Attributes
    ----------
    name : str
        Column name.
    region : str
        ``brow``, ``eye``, ``cheek``, ``mouth`` or ``speech``.
    side : str or None
        ``"left"``/``"right"`` (patient's) for per-side values, None otherwise.
    unit : str
        ``IOD``, ``0-1``, ``side``, ``Hz``, ``st``, ``dBFS``, ``dB``, ``s``.
    kind : {"static", "dynamic", "speech"}
        Static posture, movement over a video, or speech.
    description : str
        Meaning, including the weaker-side rule for ``*_weaker`` columns.
    family : str
        Measure family the column belongs to (``mouth_excursion`` ...).
    """

    name: str
    region: str
    side: str | None
    unit: str
    kind: Kind
    description: str
    family: str = ""

    @property
    def dtype(self) -> pl.DataType:
        """Polars dtype of the column (Utf8 for ``*_weaker``, else Float64)."""
        return pl.Utf8() if self.unit == "side" else pl.Float64()


_FAMILY_TEXT: dict[str, tuple[str, Kind, str]] = {
    # family: (region, kind, what one side's value is)
    "brow": ("brow", "static", "brow height above the eye line (mean of 5 upper-brow points)"),
    "eye": ("eye", "static", "palpebral fissure height (mean of 3 upper/lower lid distances)"),
    "cheek": ("cheek", "static", "alar base / nasolabial points' mean depth below the eye line"),
    "mouth": ("mouth", "static", "oral commissure depth below the eye line"),
    "mouth_lateral": ("mouth", "static", "oral commissure distance from the facial midline"),
    "brow_excursion": ("brow", "dynamic", "robust range (p95) of brow-height change from the neutral posture"),
    "eye_excursion": ("eye", "dynamic", "robust range (p95) of fissure-height change from the neutral posture"),
    "mouth_excursion": ("mouth", "dynamic", "robust range (p95) of commissure displacement from the neutral posture"),
}

_SPEECH_TEXT: dict[str, tuple[str, str]] = {
    "speech_f0_median_hz": ("Hz", "median f0 over voiced frames (pYIN)"),
    "speech_f0_sd_st": ("st", "SD of f0 in semitones re the median"),
    "speech_voiced_fraction": ("0-1", "fraction of frames voiced (pYIN)"),
    "speech_energy_db_mean": ("dBFS", "mean RMS level over speech frames"),
    "speech_energy_db_sd": ("dB", "SD of RMS level over speech frames"),
    "speech_rate_hz": ("Hz", "syllable nuclei (energy peaks) per second of speech"),
    "speech_active_s": ("s", "speech time (frames within speech_active_db dB of the 99th-percentile level)"),
}


def _build_measures() -> tuple[MeasureSpec, ...]:
    specs: list[MeasureSpec] = []
    for fam in (*REGIONS, "mouth_lateral", *DYNAMIC):
        region, kind, text = _FAMILY_TEXT[fam]
        for side in ("left", "right"):
            specs.append(MeasureSpec(f"{fam}_{side}", region, side, "IOD", kind, f"{text}, patient's {side}", fam))
        specs.append(MeasureSpec(f"{fam}_asym", region, None, "0-1", kind, "asymmetry abs(L-R) / max(abs(L), abs(R)) of the two sides", fam))
        if fam not in NO_SIDE:
            rule = WEAKER_WHEN[fam]
            specs.append(
                MeasureSpec(
                    f"{fam}_weaker", region, None, "side", kind,
                    f"patient side judged weaker: the one with the {rule} value", fam,
                )
            )
    for name in SPEECH_MEASURES:
        unit, text = _SPEECH_TEXT[name]
        specs.append(MeasureSpec(name, "speech", None, unit, "speech", text, name))
    return tuple(specs)


#: Every measure column, in table order.
MEASURES: tuple[MeasureSpec, ...] = _build_measures()
#: Their names.
MEASURE_COLUMNS: tuple[str, ...] = tuple(m.name for m in MEASURES)
#: Column -> polars dtype of the measure columns.
MEASURE_SCHEMA: dict[str, pl.DataType] = {m.name: m.dtype for m in MEASURES}
#: Full per-recording feature table schema.
FEATURE_TABLE_SCHEMA: dict[str, pl.DataType] = {**FEATURE_ID_SCHEMA, **MEASURE_SCHEMA}

#: Identification columns of :func:`session_table`.
SESSION_ID_SCHEMA: dict[str, pl.DataType] = {
    "site": pl.Utf8,
    "subject": pl.Utf8,
    "session": pl.Utf8,
    "session_date": pl.Date,
    "healthy": pl.Boolean,
    "hb_grade": pl.Int8,
    "simulated": pl.Boolean,
    "n_recordings": pl.Int32,
}
#: Full session table schema.
SESSION_TABLE_SCHEMA: dict[str, pl.DataType] = {**SESSION_ID_SCHEMA, **MEASURE_SCHEMA}

_FACE_COLUMNS = tuple(m.name for m in MEASURES if m.kind != "speech")


# -- landmark table -> arrays ---------------------------------------------------
def landmarks_to_array(points: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense arrays from a landmark table (:data:`palsyflow.schemas.LANDMARK_SCHEMA`).

    Parameters
    ----------
    points : polars.DataFrame
        Columns ``frame, point, x, y, z, face_found`` (pixels, x right, y down).

    Returns
    -------
    frames : ndarray, shape (n_frames,), int
        Sorted unique frame numbers (row ``i`` of the arrays is ``frames[i]``).
    xyz : ndarray, shape (n_frames, n_points, 3), float64
        Coordinates; NaN where a (frame, point) row is absent or NaN.
        ``n_points = max(point) + 1`` (478 for MediaPipe).
    face_found : ndarray, shape (n_frames,), bool
        True when any row of the frame says ``face_found``.

    Raises
    ------
    KeyError
        If a required column is missing.
    """
    for c in ("frame", "point", "x", "y", "z", "face_found"):
        if c not in points.columns:
            raise KeyError(f"landmark table lacks column {c!r}")
    frame = points["frame"].to_numpy().astype(np.int64)
    point = points["point"].to_numpy().astype(np.int64)
    frames, row = np.unique(frame, return_inverse=True)
    n_points = int(point.max()) + 1 if point.size else 0
    xyz = np.full((frames.size, n_points, 3), np.nan)
    for k, c in enumerate(("x", "y", "z")):
        xyz[row, point, k] = points[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
    found = np.zeros(frames.size, dtype=bool)
    ff = points["face_found"].fill_null(False).to_numpy().astype(bool)
    np.logical_or.at(found, row, ff)
    return frames, xyz, found


def _keyframes(quality: pl.DataFrame | None, frames: np.ndarray) -> dict[str, int | None]:
    """Map the quality table's key frames (frame numbers) to row indices of ``frames``."""
    out: dict[str, int | None] = {"neutral": None, "peak": None}
    if quality is None or "keyframe" not in quality.columns or frames.size == 0:
        return out
    for label in out:
        hit = quality.filter(pl.col("keyframe") == label)["frame"].to_list()
        if hit:
            idx = int(np.searchsorted(frames, hit[0]))
            if idx < frames.size and frames[idx] == hit[0]:
                out[label] = idx
    return out


def _opt_float(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def recording_row(
    ids: Mapping[str, Any],
    points: pl.DataFrame | None,
    quality: pl.DataFrame | None,
    audio: np.ndarray | None,
    sr: int,
    params: FeatureParams | None = None,
) -> dict[str, Any]:
    """One feature-table row for one recording.

    Parameters
    ----------
    ids : mapping
        Identification fields of :data:`~palsyflow.schemas.FEATURE_ID_SCHEMA`
        (``recording_key``, ``site``, ``subject``, ``session``, ``session_date``,
        ``task``, ``kind``, ``sha256``, ``healthy``, ``hb_grade``, ``simulated``);
        passed through. Missing ones are None (``session_date`` is derived from a
        ``YYYYMMDD`` ``session`` when absent).
    points : polars.DataFrame or None
        Landmark table (:data:`~palsyflow.schemas.LANDMARK_SCHEMA`, pixels), None
        for an audio-only recording.
    quality : polars.DataFrame or None
        Frame quality table (:data:`~palsyflow.schemas.QUALITY_SCHEMA`); supplies
        ``n_frames``, ``face_found_fraction``, ``tta_spread_iod_pct`` (median over
        face frames) and the ``neutral`` key frame.
    audio : ndarray, shape (n_samples,), or None
        Mono audio (full scale 1) at ``sr``; speech measures are computed only
        when given and ``ids["task"]`` is in ``params.speech_tasks``.
    sr : int
        Audio sampling rate, Hz.
    params : FeatureParams, optional

    Returns
    -------
    dict
        Keys: the FEATURE_ID_SCHEMA columns then :data:`MEASURE_COLUMNS`; values
        None where not available (face measures without landmarks, speech measures
        for a non-speech task or without audio).

    Raises
    ------
    KeyError
        If ``points`` lacks a landmark column.
    """
    params = params or FeatureParams()
    row: dict[str, Any] = {c: ids.get(c) for c in FEATURE_ID_SCHEMA}
    if row["session_date"] is None and isinstance(row.get("session"), str):
        try:
            row["session_date"] = dt.datetime.strptime(row["session"], "%Y%m%d").date()
        except ValueError:
            pass
    row.update(dict.fromkeys(MEASURE_COLUMNS))

    frames = np.zeros(0, dtype=np.int64)
    xyz = found = None
    if points is not None and points.height:
        frames, xyz, found = landmarks_to_array(points)

    if quality is not None and quality.height:
        row["n_frames"] = int(quality.height)
        row["face_found_fraction"] = float(quality["face_found"].fill_null(False).cast(pl.Float64).mean())
        if "tta_spread_iod_pct" in quality.columns:
            spread = quality.filter(pl.col("face_found").fill_null(False))["tta_spread_iod_pct"]
            spread = spread.cast(pl.Float64).fill_nan(None).drop_nulls()
            row["tta_spread_iod_pct"] = _opt_float(spread.median()) if spread.len() else None
    elif found is not None:
        row["n_frames"] = int(found.size)
        row["face_found_fraction"] = float(found.mean()) if found.size else None

    if xyz is not None and found is not None and xyz.shape[1] >= 468:
        row.update(recording_measures(xyz, found, _keyframes(quality, frames), params))

    if audio is not None and row.get("task") in params.speech_tasks:
        row.update(speech_features(np.asarray(audio), sr, params))
    return row


def build_feature_table(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Stack :func:`recording_row` dicts into the typed feature table.

    Parameters
    ----------
    rows : sequence of mapping
        Missing keys become null; keys outside the schema are dropped.
        ``session_date`` may be a ``datetime.date`` or an ISO ``YYYY-MM-DD`` string.

    Returns
    -------
    polars.DataFrame
        Columns exactly :data:`FEATURE_TABLE_SCHEMA` (FEATURE_ID_SCHEMA then
        MEASURE_COLUMNS) with those dtypes; zero rows for an empty input.

    Raises
    ------
    ValueError
        If a ``session_date`` string is not ISO formatted.
    """
    data: dict[str, list[Any]] = {c: [] for c in FEATURE_TABLE_SCHEMA}
    for r in rows:
        for c in FEATURE_TABLE_SCHEMA:
            v = r.get(c)
            if c == "session_date" and isinstance(v, str):
                v = dt.date.fromisoformat(v)
            elif isinstance(v, float) and not np.isfinite(v):
                v = None
            elif isinstance(v, np.generic):
                v = v.item()
            data[c].append(v)
    return pl.DataFrame(data, schema=FEATURE_TABLE_SCHEMA, strict=False)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def _first(values: list[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def session_table(feature_table: pl.DataFrame, params: FeatureParams | None = None) -> pl.DataFrame:
    """Combine a feature table's recordings into one row per session.

    Rule (per measure family, e.g. ``mouth``):

    * static face families (``brow, eye, cheek, mouth, mouth_lateral``): the mean
      of the ``rest`` recording(s) that have values; when the session has no such
      ``rest`` recording, the mean over all recordings with values;
    * dynamic families (``*_excursion``): the mean over the non-``rest``
      recordings with values (movement tasks and speech), else over ``rest``;
    * ``_left`` and ``_right`` are averaged separately, then ``_asym`` and
      ``_weaker`` are recomputed from the combined sides (same rules as
      :mod:`palsyflow.features.regional`);
    * speech measures: the mean over recordings of a task in
      ``params.speech_tasks`` (default ``speech``) with values.

    Session fields: ``session_date`` and ``healthy`` the first non-null value,
    ``hb_grade`` the highest non-null grade, ``simulated`` True when any recording
    is simulated, ``n_recordings`` the number of recordings.

    Parameters
    ----------
    feature_table : polars.DataFrame
        :func:`build_feature_table` output (FEATURE_TABLE_SCHEMA columns).
    params : FeatureParams, optional

    Returns
    -------
    polars.DataFrame
        :data:`SESSION_TABLE_SCHEMA`, one row per (site, subject, session), sorted
        by site, subject, session.

    Raises
    ------
    KeyError
        If a FEATURE_TABLE_SCHEMA column is missing.
    """
    params = params or FeatureParams()
    missing = [c for c in FEATURE_TABLE_SCHEMA if c not in feature_table.columns]
    if missing:
        raise KeyError(f"feature table lacks columns {missing}")
    out_rows: list[dict[str, Any]] = []
    if feature_table.height == 0:
        return pl.DataFrame(schema=SESSION_TABLE_SCHEMA)
    ft = feature_table.sort(["site", "subject", "session", "task"], nulls_last=True)
    for group in ft.partition_by(["site", "subject", "session"], maintain_order=True):
        recs = group.to_dicts()
        grades = [r["hb_grade"] for r in recs if r["hb_grade"] is not None]
        row: dict[str, Any] = {
            "site": recs[0]["site"],
            "subject": recs[0]["subject"],
            "session": recs[0]["session"],
            "session_date": _first([r["session_date"] for r in recs]),
            "healthy": _first([r["healthy"] for r in recs]),
            "hb_grade": max(grades) if grades else None,
            "simulated": any(bool(r["simulated"]) for r in recs) if any(r["simulated"] is not None for r in recs) else None,
            "n_recordings": len(recs),
        }
        row.update(dict.fromkeys(MEASURE_COLUMNS))
        for fam in (*REGIONS, "mouth_lateral", *DYNAMIC):
            def has(r: dict, fam: str = fam) -> bool:
                return r[f"{fam}_left"] is not None and r[f"{fam}_right"] is not None

            usable = [r for r in recs if has(r)]
            rest = [r for r in usable if r["task"] == "rest"]
            other = [r for r in usable if r["task"] != "rest"]
            chosen = (other or rest) if fam in DYNAMIC else (rest or usable)
            if not chosen:
                continue
            left = _mean([r[f"{fam}_left"] for r in chosen])
            right = _mean([r[f"{fam}_right"] for r in chosen])
            row[f"{fam}_left"], row[f"{fam}_right"] = left, right
            row[f"{fam}_asym"] = asymmetry(left, right)
            if fam not in NO_SIDE:
                row[f"{fam}_weaker"] = weaker_side(fam, left, right, params.weaker_min_asym)
        speech = [r for r in recs if r["task"] in params.speech_tasks]
        for name in SPEECH_MEASURES:
            row[name] = _mean([r[name] for r in speech])
        out_rows.append(row)
    data = {c: [r[c] for r in out_rows] for c in SESSION_TABLE_SCHEMA}
    return pl.DataFrame(data, schema=SESSION_TABLE_SCHEMA, strict=False)


def schema_markdown() -> str:
    """The measure columns as a markdown table (for ``docs/features.md``)."""
    lines = [
        "| column | region | side | unit | kind | description |",
        "|---|---|---|---|---|---|",
    ]
    for m in MEASURES:
        lines.append(f"| `{m.name}` | {m.region} | {m.side or ''} | {m.unit} | {m.kind} | {m.description} |")
    return "\n".join(lines)


def id_schema_markdown() -> str:
    """The identification columns (FEATURE_ID_SCHEMA) as a markdown table."""
    lines = ["| column | dtype |", "|---|---|"]
    lines += [f"| `{c}` | {t} |" for c, t in FEATURE_ID_SCHEMA.items()]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print("### Identification columns\n")
    print(id_schema_markdown())
    print("\n### Measure columns\n")
    print(schema_markdown())
