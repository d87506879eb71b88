"""The feature table: one row per recording, and its per-session summary.

Columns are :data:`palsyflow.schemas.FEATURE_ID_SCHEMA` followed by
:data:`MEASURE_COLUMNS`, described by :data:`MEASURES` (name, region, side, unit,
kind, description). ``python -m palsyflow.features.table`` prints the schema as
markdown (the source of ``docs/features.md``).

Task measures (:mod:`palsyflow.features.tasks`) live in the ``task_<task>_*`` columns of
the row of the recording of that task (a photo task needs the session's ``rest``
landmarks: pass them to :func:`recording_row`); the House-Brackmann movements
``hb_*_cm_*`` sit on the ``brow_raise`` and ``smile`` rows. The session-level summaries
``hb_measure_*``, ``hb_grade_estimate``, ``eface_static`` and ``eface_dynamic`` are
filled by :func:`session_table` only.
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
from palsyflow.features.parra import FEATURES as PARRA_FEATURES
from palsyflow.features.parra import parra_features_batch
from palsyflow.features.speech import SPEECH_MEASURES, speech_features
from palsyflow.landmarks.schemes.ibug68 import mediapipe_to_ibug68
from palsyflow.features.tasks import (
    DYNAMIC_TASKS,
    TASK_SPECS,
    TaskMeasure,
    combine,
    eface_dynamic,
    eface_static,
    from_sides,
    hb_from_cm,
    recording_task_measure,
)
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
        ``IOD``, ``0-1``, ``side``, ``bool``, ``cos`` (cosine, -1..1), ``0-100``,
        ``cm``, ``points``, ``grade``, ``Hz``, ``st``, ``dBFS``, ``dB``, ``s``.
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
        """Polars dtype of the column (Utf8 for ``*_weaker``, Boolean for flags, else Float64)."""
        if self.unit == "side":
            return pl.Utf8()
        if self.unit == "bool":
            return pl.Boolean()
        return pl.Float64()


_FAMILY_TEXT: dict[str, tuple[str, Kind, str]] = {
    # family: (region, kind, what one side's value is)
    "brow": ("brow", "static", "brow height above the eye line (mean of 5 upper-brow points)"),
    "eye": ("eye", "static", "palpebral fissure height (mean of 3 upper/lower lid distances)"),
    "cheek": ("cheek", "static", "alar base / nasolabial points' mean depth below the eye line"),
    "mouth": ("mouth", "static", "oral commissure depth below the eye line"),
    "mouth_lateral": ("mouth", "static", "oral commissure distance from the facial midline"),
    "brow_excursion": ("brow", "dynamic", "robust range (p95) of brow-height change from the neutral posture"),
    "eye_excursion": ("eye", "dynamic", "robust range (p95) of fissure-height change from the neutral posture"),
    "mouth_excursion": ("mouth", "dynamic", "RMS commissure movement about its mean position (radius of gyration of its trajectory)"),
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
    specs += _parra_measures()
    specs += _task_measures()
    for name in SPEECH_MEASURES:
        unit, text = _SPEECH_TEXT[name]
        specs.append(MeasureSpec(name, "speech", None, unit, "speech", text, name))
    return tuple(specs)


_PARRA_UNITS = {"angle": "deg", "minmax": "ratio", "maxnorm": "ratio", "norm": "ratio", "slope": "ratio"}


def _parra_measures() -> list[MeasureSpec]:
    """Parra-Dominguez et al. 2021 f0-f28 (doi:10.3390/app11052435), see docs/parra_features.md."""
    return [
        MeasureSpec(
            name, "face", None, _PARRA_UNITS.get(kind, "ratio"), "static",
            f"Parra-Dominguez 2021 {name.removeprefix('parra_')}: {text.replace('|', '')}; iBUG-68 points (MediaPipe via the 478->68 map), neutral posture",
            "parra",
        )
        for name, (kind, text) in PARRA_FEATURES.items()
    ]


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


def _task_measures() -> list[MeasureSpec]:
    specs: list[MeasureSpec] = []
    for task, ts in TASK_SPECS.items():
        fam, reg, u = f"task_{task}", ts.region, ts.unit
        specs += [
            MeasureSpec(f"{fam}_left", reg, "left", u, "dynamic", f"{ts.description}, patient's left", fam),
            MeasureSpec(f"{fam}_right", reg, "right", u, "dynamic", f"{ts.description}, patient's right", fam),
            MeasureSpec(f"{fam}_activated", reg, None, "bool", "dynamic", "max(left, right) reached the activation threshold", fam),
            MeasureSpec(f"{fam}_threshold", reg, None, u, "dynamic", "activation threshold: task_activation_factor x landmark (TTA) noise of the movement", fam),
            MeasureSpec(f"{fam}_asym", reg, None, "0-1", "dynamic", "asymmetry abs(L-R) / max(L, R) of the movement; null when not activated", fam),
            MeasureSpec(f"{fam}_cosine", reg, None, "cos", "dynamic", "cosine similarity of the mirrored left and the right displacement vectors; null when not activated", fam),
            MeasureSpec(f"{fam}_weaker", reg, None, "side", "dynamic", "patient side judged weaker: the one that moved less; null when not activated", fam),
            MeasureSpec(f"{fam}_eface", reg, None, "0-100", "dynamic", "eFACE-style item: 100 x weaker / stronger movement; null when not activated", fam),
        ]
    for side in ("left", "right"):
        specs.append(MeasureSpec(f"hb_brow_cm_{side}", "brow", side, "cm", "dynamic", f"House-Brackmann brow elevation: superior movement of the mid-brow in brow_raise, patient's {side}", "hb_brow_cm"))
    for side in ("left", "right"):
        specs.append(MeasureSpec(f"hb_commissure_cm_{side}", "mouth", side, "cm", "dynamic", f"House-Brackmann lateral commissure excursion in smile, patient's {side}", "hb_commissure_cm"))
    specs += [
        MeasureSpec("hb_measure_points", "overall", None, "points", "dynamic", "House-Brackmann measurement of the weaker side: 1 point per 0.25 cm brow + commissure movement, max 4 each, out of 8 (session only)", "hb_measure"),
        MeasureSpec("hb_measure_weaker", "overall", None, "side", "dynamic", "side the House-Brackmann measurement was taken on: fewer points (session only)", "hb_measure"),
        MeasureSpec("hb_grade_estimate", "overall", None, "grade", "dynamic", "ESTIMATE of the House-Brackmann grade (1-6) implied by hb_measure_points, not a clinician grade (session only)", "hb_measure"),
        MeasureSpec("eface_static", "overall", None, "0-100", "static", "eFACE-style static subscore: mean 100 x (1 - asym) of rest brow, eye, cheek, mouth (session only)", "eface"),
        MeasureSpec("eface_dynamic", "overall", None, "0-100", "dynamic", "eFACE-style dynamic subscore: mean task eFACE item of the activated brow_raise, eye closures, smile, eee (session only)", "eface"),
    ]
    return specs


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


def task_columns(measure: TaskMeasure) -> dict[str, Any]:
    """The ``task_<task>_*`` (and ``hb_*_cm_*``) feature columns of one task measure.

    Parameters
    ----------
    measure : TaskMeasure

    Returns
    -------
    dict
        Column -> value; all None when the measure is not available.
    """
    fam = f"task_{measure.task}"
    ok = measure.available
    out: dict[str, Any] = {
        f"{fam}_left": measure.left if ok else None,
        f"{fam}_right": measure.right if ok else None,
        f"{fam}_activated": measure.activated if ok else None,
        f"{fam}_threshold": measure.threshold if ok else None,
        f"{fam}_asym": measure.asymmetry_score,
        f"{fam}_cosine": measure.cosine_score,
        f"{fam}_weaker": measure.weaker_side,
        f"{fam}_eface": measure.eface,
    }
    hb = {"brow_raise": "hb_brow_cm", "smile": "hb_commissure_cm"}.get(measure.task)
    if hb:
        for side in ("left", "right"):
            out[f"{hb}_{side}"] = measure.hb_cm.get(side) if ok else None
    return out


def task_measure_from_row(task: str, row: Mapping[str, Any], params: FeatureParams | None = None) -> TaskMeasure:
    """Rebuild a :class:`~palsyflow.features.tasks.TaskMeasure` from a row's task columns."""
    fam = f"task_{task}"
    hb_fam = {"brow_raise": "hb_brow_cm", "smile": "hb_commissure_cm"}.get(task)
    hb = {}
    if hb_fam:
        hb = {s: row.get(f"{hb_fam}_{s}") for s in ("left", "right")}
        hb = {s: float(v) for s, v in hb.items() if v is not None} if all(v is not None for v in hb.values()) else {}
    return from_sides(
        task, _opt_float(row.get(f"{fam}_left")), _opt_float(row.get(f"{fam}_right")),
        _opt_float(row.get(f"{fam}_threshold")), _opt_float(row.get(f"{fam}_cosine")), hb, params,
    )


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
    audio : ndarray, shape (n_samples,), or None
        Mono audio (full scale 1) at ``sr``; speech measures are computed only
        when given and ``ids["task"]`` is in ``params.speech_tasks``.
    sr : int
        Audio sampling rate, Hz.
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

    if xyz is not None and found is not None and xyz.shape[1] >= 468:
        row.update(recording_measures(xyz, found, _keyframes(quality, frames), params))
        row.update(parra_static(xyz, found, _keyframes(quality, frames)))
        task = row.get("task")
        if task in TASK_SPECS:
            rest = None
            if rest_points is not None and rest_points.height:
                rframes, rxyz, rfound = landmarks_to_array(rest_points)
                if rxyz.shape[1] >= 468:
                    rest = (rxyz, rfound, spread_array(rest_points, rframes, rxyz.shape[1]), _keyframes(rest_quality, rframes))
            measure = recording_task_measure(
                task, xyz, found, spread_array(points, frames, xyz.shape[1]), _keyframes(quality, frames), rest, params
            )
            row.update(task_columns(measure))

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
      ``params.speech_tasks`` (default ``speech``) with values;
    * task measures ``task_<task>_*``: from the recording(s) of that task
      (several: :func:`palsyflow.features.tasks.combine`, side values averaged, gate
      and scores recomputed);
    * ``hb_measure_points``, ``hb_measure_weaker``, ``hb_grade_estimate``: the
      House-Brackmann measurement from the ``brow_raise`` and ``smile`` movements in cm
      (:func:`palsyflow.features.tasks.hb_measure`); null without both or without mm
      calibration;
    * ``eface_static`` from the ``rest`` recording's static asymmetries, ``eface_dynamic``
      from the activated eFACE tasks (:mod:`palsyflow.features.tasks`);
    * Parra-Dominguez features ``parra_f00``..``parra_f28``: the mean over the
      ``rest`` recording(s), else over all face recordings.

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
        rest_asym: dict[str, float | None] = {}
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
            if rest and fam in REGIONS:
                rest_asym[fam] = row[f"{fam}_asym"]
        with_parra = [r for r in recs if r[PARRA_NAMES[0]] is not None]
        parra_src = [r for r in with_parra if r["task"] == "rest"] or with_parra
        for name in PARRA_NAMES:
            row[name] = _mean([r[name] for r in parra_src])
        _session_tasks(row, recs, rest_asym, params)
        speech = [r for r in recs if r["task"] in params.speech_tasks]
        for name in SPEECH_MEASURES:
            row[name] = _mean([r[name] for r in speech])
        out_rows.append(row)
    data = {c: [r[c] for r in out_rows] for c in SESSION_TABLE_SCHEMA}
    return pl.DataFrame(data, schema=SESSION_TABLE_SCHEMA, strict=False)


def _session_tasks(row: dict[str, Any], recs: list[dict], rest_asym: Mapping[str, float | None], params: FeatureParams) -> None:
    """Fill a session row's task columns, House-Brackmann measure and eFACE subscores."""
    measures: dict[str, TaskMeasure] = {}
    for task in DYNAMIC_TASKS:
        mine = [task_measure_from_row(task, r, params) for r in recs if r["task"] == task]
        if not mine:
            continue
        m = combine(task, mine, params)
        if m.available:
            measures[task] = m
            row.update(task_columns(m))
    row["eface_static"] = eface_static(rest_asym)
    row["eface_dynamic"] = eface_dynamic(measures)[0]
    hb = hb_from_cm(
        measures["brow_raise"].hb_cm if "brow_raise" in measures else None,
        measures["smile"].hb_cm if "smile" in measures else None,
    )
    if hb is not None:
        row["hb_measure_points"] = float(hb["points"])
        row["hb_measure_weaker"] = hb["side"]
        row["hb_grade_estimate"] = float(hb["grade_estimate"])


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
