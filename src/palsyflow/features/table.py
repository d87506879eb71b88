"""The feature table: one row per recording, and its per-session summary.

Columns are :data:`palsyflow.schemas.FEATURE_ID_SCHEMA` followed by
:data:`MEASURE_COLUMNS`, described by the measures registry
(:data:`palsyflow.measures.registry.FEATURE_MEASURES`: name, unit, region, side,
description, source); ``docs/features.md`` is generated from it
(``python -m palsyflow.measures.docs``).

Task measures (:mod:`palsyflow.features.tasks`) live in the ``task_<task>_*`` columns of
the row of the recording of that task (a photo task needs the session's ``rest``
landmarks: pass them to :func:`recording_row`); the House-Brackmann movements
``hb_*_cm_*`` sit on the ``brow_raise`` and ``smile`` rows. The session-level summaries
``hb_measure_*``, ``eface_static`` and ``eface_dynamic`` are
filled by :func:`session_table` only (:func:`palsyflow.measures.session.aggregate_session`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from palsyflow.config import FeatureParams
from palsyflow.features.emotrics import recording_emotrics
from palsyflow.features.parra import parra_features_batch
from palsyflow.features.regional import recording_measures
from palsyflow.features.tasks import TASK_SPECS, recording_task_measure
from palsyflow.landmarks.schemes.ibug68 import mediapipe_to_ibug68
from palsyflow.landmarks.schemes.mediapipe478 import N_POINTS as N_MEDIAPIPE
from palsyflow.measures.registry import FEATURE_MEASURES, MEASURE_COLUMNS, PARRA_FEATURES
from palsyflow.measures.session import aggregate_session, task_columns
from palsyflow.measures.tasks import TaskMeasure, not_available
from palsyflow.schemas import FEATURE_ID_SCHEMA


def parra_static(xyz: np.ndarray, found: np.ndarray, keyframes: Mapping[str, int | None]) -> dict[str, float | None]:
    """Parra-Dominguez features of a recording's neutral posture.

    Parameters
    ----------
    xyz : ndarray, shape (n_frames, 478 or 68, 2|3)
        Landmarks in pixels (x right, y down); 478 MediaPipe points are mapped to
        iBUG-68 with :func:`palsyflow.landmarks.schemes.ibug68.mediapipe_to_ibug68`.
    found : ndarray of bool, shape (n_frames,)
    keyframes : mapping
        Row index of the ``neutral`` key frame, if any.

    Returns
    -------
    dict
        ``parra_f00`` .. ``parra_f28``: at the neutral frame, else the per-feature
        median over face frames; None when no frame has a face.
    """
    rows = np.flatnonzero(np.asarray(found, dtype=bool))
    neutral = keyframes.get("neutral")
    if neutral is not None and bool(found[neutral]):
        rows = np.array([neutral])
    if rows.size == 0:
        return dict.fromkeys(PARRA_FEATURES)
    pts = np.asarray(xyz[rows], dtype=np.float64)
    pts68 = mediapipe_to_ibug68(pts) if pts.shape[1] >= 468 else pts[:, :68]
    batch = parra_features_batch(pts68[..., :2])
    return {name: _opt_float(np.nanmedian(vals)) if np.isfinite(vals).any() else None for name, vals in batch.items()}


#: Every measure column, in table order (:data:`palsyflow.measures.registry.FEATURE_MEASURES`).
MEASURES = FEATURE_MEASURES
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
    "days_since_onset": pl.Int32,
}
#: Full session table schema.
SESSION_TABLE_SCHEMA: dict[str, pl.DataType] = {**SESSION_ID_SCHEMA, **MEASURE_SCHEMA}

PARRA_NAMES: tuple[str, ...] = tuple(PARRA_FEATURES)


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


def spread_array(points: pl.DataFrame, frames: np.ndarray, n_points: int) -> np.ndarray:
    """Per-point TTA spread as a dense array aligned with :func:`landmarks_to_array`.

    Parameters
    ----------
    points : polars.DataFrame
        Landmark table; a missing ``spread`` column gives all NaN.
    frames : ndarray, shape (n_frames,)
        Sorted frame numbers (the first output of :func:`landmarks_to_array`).
    n_points : int

    Returns
    -------
    ndarray, shape (n_frames, n_points), float64
        Spread in pixels, NaN where absent (frames without TTA).
    """
    out = np.full((frames.size, n_points), np.nan)
    if "spread" not in points.columns or frames.size == 0:
        return out
    row = np.searchsorted(frames, points["frame"].to_numpy().astype(np.int64))
    pt = points["point"].to_numpy().astype(np.int64)
    ok = (row < frames.size) & (pt < n_points)
    vals = points["spread"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    out[row[ok], pt[ok]] = vals[ok]
    return out


def keyframe_rows(quality: pl.DataFrame | None, frames: np.ndarray) -> dict[str, int | None]:
    """Row indices of a recording's neutral and peak key frames.

    Parameters
    ----------
    quality : polars.DataFrame or None
        The landmark quality table (columns ``frame``, ``keyframe``), as written by the
        landmarks stage.
    frames : ndarray, shape (n_rows,), int
        Frame numbers of the landmark rows, ascending.

    Returns
    -------
    dict
        ``{"neutral": int | None, "peak": int | None}``: indices into ``frames`` (None
        when the table marks no such key frame or its frame has no landmark row).
    """
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


def face_measures(
    task: str | None,
    points: pl.DataFrame,
    quality: pl.DataFrame | None,
    params: FeatureParams,
    rest_points: pl.DataFrame | None = None,
    rest_quality: pl.DataFrame | None = None,
) -> tuple[dict[str, Any], TaskMeasure | None]:
    """The face measure columns of one recording, and its task measure.

    Parameters
    ----------
    task : str or None
        Protocol task of the recording.
    points, quality : polars.DataFrame
        Landmark and quality tables (:data:`~palsyflow.schemas.LANDMARK_SCHEMA`,
        :data:`~palsyflow.schemas.QUALITY_SCHEMA`; pixels); quality may be None.
    params : FeatureParams
    rest_points, rest_quality : polars.DataFrame, optional
        The session's ``rest`` tables (the neutral posture of a photo task).

    Returns
    -------
    columns : dict
        Rest, movement, Parra, Emotrics-equivalent millimetre
        (:func:`palsyflow.features.emotrics.recording_emotrics`: ``rest_emotrics_*`` at
        the neutral posture, the task's ``task_<task>_emotrics_*``, synkinesis and
        lagophthalmos at its peak) and (for a dynamic task) task columns; empty when the
        landmarks are not MediaPipe's points (the millimetre columns need the 478 with
        the iris).
    measure : TaskMeasure or None
        The task measure of a dynamic task (not available, with its reason, when it
        cannot be measured), None for other tasks.
    """
    frames, xyz, found = landmarks_to_array(points)
    is_task = task in TASK_SPECS
    if xyz.shape[1] < 468:
        return {}, not_available(task, "landmarks are not MediaPipe's 478 points") if is_task else None
    key = keyframe_rows(quality, frames)
    out: dict[str, Any] = {**recording_measures(xyz, found, key, params), **parra_static(xyz, found, key)}
    rest = None
    if is_task and rest_points is not None and rest_points.height:
        rframes, rxyz, rfound = landmarks_to_array(rest_points)
        if rxyz.shape[1] >= 468:
            rest = (rxyz, rfound, spread_array(rest_points, rframes, rxyz.shape[1]), keyframe_rows(rest_quality, rframes))
    if xyz.shape[1] >= N_MEDIAPIPE:
        emo_rest = rest if rest is not None and rest[0].shape[1] >= N_MEDIAPIPE else None
        out.update(recording_emotrics(task, xyz, found, key, emo_rest))
    if not is_task:
        return out, None
    measure = recording_task_measure(task, xyz, found, spread_array(points, frames, xyz.shape[1]), key, rest, params)
    out.update(task_columns(measure))
    return out, measure


def recording_row(
    ids: Mapping[str, Any],
    points: pl.DataFrame | None,
    quality: pl.DataFrame | None,
    speech: Mapping[str, Any] | None = None,
    params: FeatureParams | None = None,
    rest_points: pl.DataFrame | None = None,
    rest_quality: pl.DataFrame | None = None,
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
    speech : mapping or None
        The recording's speech columns (:func:`palsyflow.speech.analysis.analyse_recording`,
        computed by the caller from the audio), for a speech task; copied into the row.
    params : FeatureParams, optional
    rest_points, rest_quality : polars.DataFrame, optional
        Landmark and quality tables of the same session's ``rest`` recording. Needed
        for the task measure of a **photo** of a dynamic task (its neutral posture);
        a video task uses its own neutral and peak key frames and ignores them.

    Returns
    -------
    dict
        Keys: the FEATURE_ID_SCHEMA columns then :data:`MEASURE_COLUMNS`; values
        None where not available (face measures without landmarks, speech measures
        for a non-speech task or without audio, task measures of other tasks or of a
        photo task without ``rest_points``, the session-only summaries).

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

    if xyz is not None and found is not None:
        row.update(face_measures(row.get("task"), points, quality, params, rest_points, rest_quality)[0])

    if speech is not None:
        row.update({k: v for k, v in speech.items() if k in row})
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


def _first(values: list[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def days_since_onset(session_date: dt.date | None, onset: dt.date | None) -> int | None:
    """Whole days from the subject's onset to the session (0 = the day of onset).

    Parameters
    ----------
    session_date, onset : datetime.date or None

    Returns
    -------
    int or None
        ``(session_date - onset).days``; None when either is missing. Ingest refuses an
        onset after a session (:mod:`palsyflow.ingest.manifest`), so it is >= 0 for
        ingested data.
    """
    if session_date is None or onset is None:
        return None
    return (session_date - onset).days


def session_table(feature_table: pl.DataFrame, params: FeatureParams) -> pl.DataFrame:
    """Combine a feature table's recordings into one row per session.

    Each session's measures are :func:`palsyflow.measures.session.aggregate_session` of
    its recordings' rows (the aggregation rule is documented there; the ``palsyflow
    measure`` JSON serialises the same aggregate).

    Session fields: ``session_date`` and ``healthy`` the first non-null value,
    ``hb_grade`` the highest non-null grade, ``simulated`` True when any recording
    is simulated, ``n_recordings`` the number of recordings, ``days_since_onset``
    (:func:`days_since_onset` of the session date and the subject's ``onset``).

    Parameters
    ----------
    feature_table : polars.DataFrame
        :func:`build_feature_table` output (FEATURE_TABLE_SCHEMA columns).
    params : FeatureParams
        ``weaker_min_asym``, the weaker-side noise floors and the task
        gate settings.

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
        row["days_since_onset"] = days_since_onset(row["session_date"], _first([r.get("onset") for r in recs]))
        row.update(aggregate_session(recs, params).row)
        out_rows.append(row)
    data = {c: [r[c] for r in out_rows] for c in SESSION_TABLE_SCHEMA}
    return pl.DataFrame(data, schema=SESSION_TABLE_SCHEMA, strict=False)
