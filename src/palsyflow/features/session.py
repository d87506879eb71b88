"""One session's measures as a JSON-ready dict: the ``palsyflow measure`` contract.

:func:`measure_session` takes task files, detects landmarks and calls
:func:`measure_results`, which works on landmark tables already computed (the features
stage, the palsy phantom). Both produce::

    {"landmarks": {"schemes": ["mediapipe478"|"ibug68", ...],
                   "unavailable": {BLOCK: reason}},   # filled when every face result is iBUG-68
     "static": {...},                       # rest_* columns and eface_static
     "movement": {...},                     # mov_* columns (videos)
     "tasks": {TASK: {"activated": bool, "asymmetry_score": float|None,
                      "cosine_score": float|None, "weaker_side": "left"|"right"|None,
                      "left": float|None, "right": float|None, "unit": str,
                      "threshold": float|None, "eface": float|None, "hb_cm": {...},
                      "available": bool, "reason": str|None}},
     "hb_measure": {...} | None,            # palsyflow.measures.tasks.hb_measure
     "eface": {"static", "dynamic", "synkinesis", "total": float|None,   # AUTOMATED ESTIMATES
               "items": {...}, "used": [...], "missing": [...], "dynamic_tasks": [...],
               "label": "automated estimate"},          # palsyflow.measures.scales.eface
     "sunnybrook": {"resting", "voluntary", "synkinesis", "composite": float|None,
                    "items": {...}, "tasks": {...}, "used": [...], "missing": [...], "label"},
     "house_brackmann": {"grade": "I".."VI"|None, "grade_number": int|None,
                         "basis": str, "label": "automated estimate"},
     "synkinesis": {"tasks": {"smile"|"pucker": {...}}, "lagophthalmos_gap_mm": {...},
                    "incomplete_closure_side": str|None, "label"},
     "emotrics": {rest_emotrics_* and task_<task>_emotrics_* columns (mm, deg): float|None},
     "parra": {parra_f00 .. parra_f28: float|None},   # palsyflow.features.parra
     "speech": {"clarity": float|None, "dysarthria_index": float|None,
                "dysarthria_components": [...],
                "quality": {"status": str, "reason": str|None, "snr_db": float|None},
                "tasks": {TASK: {"status": str, "reason": str|None, ...measures}}} | None}

Speech tasks (:data:`palsyflow.conventions.SPEECH_TASKS`: ``vowel``, ``ddk_pa`` ...,
``sentences``, ``passage``, ``silence``, and the ``speech`` video) are measured by
:func:`palsyflow.speech.analysis.analyse_recording` from the file's audio (an audio file
or a video's audio track), with the session's room tone, sentence set and connected
speech as the features stage uses them; ``speech`` is None when no speech task was given.

Each recording gets the feature-table columns of :func:`palsyflow.features.table.face_measures`
(the features stage's function), and the session is their
:func:`palsyflow.measures.session.aggregate_session`, the same aggregate the parquet
session table holds: several recordings of one task are averaged (rule documented
there). A photo task is measured against the session's first ``rest`` recording.

``eface``, ``sunnybrook`` and ``synkinesis`` carry a ``reason`` (None unless the block
cannot be measured from the landmarks' scheme). **iBUG-68 landmarks** (hand annotation
read from a file, the dlib backend) have no iris and none of MediaPipe's mesh points: the
rest region, task, millimetre (Emotrics), eFACE, Sunnybrook, House-Brackmann and
synkinesis measures are then null, each with its reason in ``landmarks.unavailable``
(:data:`IBUG68_UNAVAILABLE`; no population-average eye width or pupil distance is
assumed to invent a mm scale), and the scheme-free Parra-Dominguez ratios are reported.

Task names go through :func:`palsyflow.ingest.tasks.canonical_task` (the alias table
``IngestParams.task_aliases``: ``at-rest`` -> ``rest``, ``big-smile`` / ``big_smile`` ->
``smile`` ...). Tasks that were not recorded are absent from ``tasks``; a recorded task
that cannot be measured (no face, photo without ``rest``) has ``available`` False and a
``reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from palsyflow.config import FeatureParams, IngestParams, LandmarkParams
from palsyflow.conventions import SPEECH_TASK_KINDS, SPEECH_TASKS
from palsyflow.features.audio import AudioError, load_audio_with_rate
from palsyflow.features.table import face_measures, landmarks_to_array, parra_static
from palsyflow.ingest.probe import media_kind
from palsyflow.ingest.tasks import canonical_task
from palsyflow.landmarks.io import PRECOMPUTED_SUFFIXES, read_precomputed
from palsyflow.landmarks.schemes.ibug68 import N_IBUG
from palsyflow.measures.registry import PARRA_FEATURES, EMOTRICS_REST_COLUMNS, EMOTRICS_TASK_COLUMNS, MOVEMENT_FAMILY_NAMES, REST_FAMILY_NAMES
from palsyflow.measures.session import aggregate_session
from palsyflow.measures.tasks import TaskMeasure
from palsyflow.landmarks import extract_landmarks
from palsyflow.speech.analysis import analyse_recording, gate_thresholds, recording_prompt, session_sentence_set
from palsyflow.speech.quality import NO_AUDIO
from palsyflow.speech.session import speech_block
from palsyflow.speech.signal import resample

__all__ = ["measure_results", "measure_session"]

#: The session's Emotrics-equivalent mm columns (rest and task peaks): the ``emotrics`` block.
EMOTRICS_COLUMNS: frozenset[str] = frozenset(EMOTRICS_REST_COLUMNS) | frozenset(c for cols in EMOTRICS_TASK_COLUMNS.values() for c in cols)


def _tables(result: Any) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    if hasattr(result, "points") and hasattr(result, "quality"):
        return result.points, result.quality
    points, quality = result
    return points, quality


def _family_columns(row: Mapping[str, Any], families: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if any(k.startswith(f + "_") for f in families)}


def measure_results(
    results: Mapping[str, Any],
    params: FeatureParams | None = None,
    aliases: Mapping[str, str] | None = None,
    speech: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The session measures from landmark results already computed.

    Parameters
    ----------
    results : mapping
        Task name (protocol name or alias) -> a
        :class:`~palsyflow.landmarks.LandmarkResult`, or a ``(points, quality)``
        pair of tables (:data:`~palsyflow.schemas.LANDMARK_SCHEMA`,
        :data:`~palsyflow.schemas.QUALITY_SCHEMA`; quality may be None), or a list of
        them for repeated recordings of a task. Pixels of the orientation-corrected frame.
    params : FeatureParams, optional
    aliases : mapping, optional
        Alias table (default ``IngestParams().task_aliases``).
    speech : mapping, optional
        Speech task -> its speech columns (:func:`measure_speech`); they join the
        session aggregate and make the ``speech`` block.

    Returns
    -------
    dict
        The JSON shape of the module docstring. Photo tasks are measured against the
        ``rest`` result; video tasks against their own neutral frame.

    Raises
    ------
    palsyflow.ingest.tasks.UnknownTaskError
        If a task name is neither a protocol task nor an alias (a ValueError).
    """
    params = params or FeatureParams()
    aliases = IngestParams().task_aliases if aliases is None else aliases
    by_task: dict[str, list[Any]] = {}
    for name, res in results.items():
        items = res if isinstance(res, list) else [res]
        by_task.setdefault(canonical_task(name, aliases), []).extend(items)

    rest_pts, rest_q = _tables(by_task["rest"][0]) if by_task.get("rest") else (None, None)
    rows: list[dict[str, Any]] = []
    direct: dict[str, list[TaskMeasure]] = {}
    schemes: set[str] = set()
    for task, items in by_task.items():
        for res in items:
            points, quality = _tables(res)
            frames, xyz, found = landmarks_to_array(points)
            schemes.add(_scheme_name(xyz.shape[1]))
            cols, measure = face_measures(task, points, quality, params, rest_pts, rest_q)
            if xyz.shape[1] == N_IBUG:  # the scheme-free measures of iBUG-68 points: Parra's ratios
                cols = {**cols, **parra_static(xyz, found, _neutral_row(quality, frames))}
            rows.append({**cols, "task": task})
            if measure is not None:
                direct.setdefault(task, []).append(measure)

    speech_rows = [{**cols, "task": task} for task, cols in (speech or {}).items()]
    agg = aggregate_session(rows + speech_rows, params)
    tasks: dict[str, dict] = {}
    for task, m in agg.tasks.items():
        if not m.available:
            m.reason = "; ".join(sorted({d.reason or "" for d in direct.get(task, [])})) or m.reason
        tasks[task] = _jsonable(m.as_json())
    static = _family_columns(agg.row, REST_FAMILY_NAMES)
    static["eface_static"] = agg.row["eface_static"]
    sc = agg.scales
    unavailable = _unavailable(schemes)
    blocks = {k: {**v, "reason": unavailable.get(k)} for k, v in
              (("eface", sc.eface), ("sunnybrook", sc.sunnybrook), ("synkinesis", sc.synkinesis))}
    return {
        "landmarks": {"schemes": sorted(schemes), "unavailable": unavailable},
        "static": _jsonable(static),
        "movement": _jsonable(_family_columns(agg.row, MOVEMENT_FAMILY_NAMES)),
        "tasks": tasks,
        "hb_measure": _jsonable(agg.hb_measure) if agg.hb_measure is not None else None,
        "eface": _jsonable({**blocks["eface"], "dynamic_tasks": agg.eface_dynamic_tasks}),
        "sunnybrook": _jsonable(blocks["sunnybrook"]),
        "house_brackmann": _jsonable(_hb_block(sc.house_brackmann, unavailable)),
        "synkinesis": _jsonable(blocks["synkinesis"]),
        "emotrics": _jsonable({k: v for k, v in agg.row.items() if k in EMOTRICS_COLUMNS}),
        "parra": _jsonable({k: agg.row.get(k) for k in PARRA_FEATURES}),
        "speech": _jsonable(speech_block(speech_rows)),
    }


#: Why a block is null for iBUG-68 landmarks (hand annotation, the dlib backend): one sentence each.
IBUG68_UNAVAILABLE: dict[str, str] = {
    "static": "the rest region measures use MediaPipe's mesh points, which iBUG-68 landmarks do not have",
    "tasks": "the task measures use MediaPipe's mesh points, which iBUG-68 landmarks do not have",
    "emotrics": "iBUG-68 landmarks have no iris, so no millimetre scale: the mm measures are not reported "
                "(no population-average eye width or pupil distance is assumed)",
    "eface": "eFACE needs the rest region and task measures, which iBUG-68 landmarks do not support",
    "sunnybrook": "Sunnybrook needs the rest region and task measures, which iBUG-68 landmarks do not support",
    "house_brackmann": "the House-Brackmann estimate comes from the Sunnybrook composite, which iBUG-68 landmarks do not support",
    "synkinesis": "ocular synkinesis and lagophthalmos are measured in mm from MediaPipe's eyelid and iris points",
}


def _neutral_row(quality: pl.DataFrame | None, frames: np.ndarray) -> dict[str, int | None]:
    """``{"neutral": row index}`` of the quality table's neutral key frame (None when it has none)."""
    hit = [] if quality is None else quality.filter(pl.col("keyframe") == "neutral")["frame"].to_list()
    rows = np.flatnonzero(frames == hit[0]) if hit else np.array([], dtype=int)
    return {"neutral": int(rows[0]) if rows.size else None}


def _scheme_name(n_points: int) -> str:
    return "ibug68" if n_points == N_IBUG else "mediapipe478"


def _unavailable(schemes: set[str]) -> dict[str, str]:
    """Block -> why it is null, when every face result is iBUG-68 (a mix is measured from its 478-point results)."""
    return dict(IBUG68_UNAVAILABLE) if schemes == {"ibug68"} else {}


def _hb_block(hb: Mapping[str, Any], unavailable: Mapping[str, str]) -> dict[str, Any]:
    reason = unavailable.get("house_brackmann")
    return {**hb, "basis": reason} if reason and hb.get("grade") is None else dict(hb)


def measure_speech(
    task_files: Mapping[str, Path],
    prompts: Mapping[str, str] | None = None,
    params: FeatureParams | None = None,
) -> dict[str, dict[str, Any]]:
    """The speech columns of a session's speech-task files.

    Parameters
    ----------
    task_files : mapping
        Protocol speech task -> audio file or video with an audio track.
    prompts : mapping, optional
        Task -> the text spoken (a GRID file name supplies its sentence when absent).
    params : FeatureParams, optional
        ``speech_max_sr`` (each file is decoded at its own rate, at most this; the
        session's other signals are brought to each recording's rate) and the gate's
        ``speech_min_snr_db`` / ``speech_min_duration_s``.

    Returns
    -------
    dict
        Task -> :func:`palsyflow.speech.analysis.analyse_recording`'s columns. A file
        without decodable audio gets status ``no_audio`` and the reason.
    """
    prompts = dict(prompts or {})
    params = params or FeatureParams()
    max_sr = params.speech_max_sr
    limits = gate_thresholds(params.speech_min_snr_db, params.speech_min_duration_s)
    audio: dict[str, tuple[np.ndarray, int] | None] = {}
    reasons: dict[str, str] = {}
    for task, path in task_files.items():
        try:
            audio[task] = load_audio_with_rate(Path(path), None, max_sr)
        except AudioError as exc:
            audio[task], reasons[task] = None, str(exc).split(": ", 1)[-1]
    text = {t: recording_prompt(t, prompts.get(t), Path(p).name) for t, p in task_files.items()}
    connected_prompts = [v for t, v in text.items() if v and SPEECH_TASK_KINDS[t] == "connected"]
    sentence_set = session_sentence_set(connected_prompts) if connected_prompts else None

    def rate(native: int) -> int:
        return min(native, max_sr) if native > 0 else max_sr

    def signal_of(task: str | None, sr: int) -> np.ndarray | None:
        got = audio.get(task) if task else None
        if got is None:
            return None
        y, native = got
        return y if rate(native) == sr else resample(y, rate(native), sr)

    connected_task = next((t for t in ("passage", "sentences", "speech") if audio.get(t) is not None), None)
    out: dict[str, dict[str, Any]] = {}
    for task in sorted(task_files, key=SPEECH_TASKS.index):
        if audio[task] is None:
            out[task] = {"speech_status": NO_AUDIO, "speech_reason": reasons[task]}
            continue
        y, native = audio[task]
        sr = rate(native)
        out[task] = analyse_recording(
            y, sr, task, native_sr=native, prompt=text[task], sentence_set=sentence_set,
            silence=signal_of("silence", sr) if task != "silence" else None,
            connected=signal_of(connected_task, sr) if SPEECH_TASK_KINDS[task] == "vowel" else None,
            thresholds=limits,
        )
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def measure_session(
    task_files: Mapping[str, Path],
    backend: str = "mediapipe",
    landmark_params: LandmarkParams | None = None,
    feature_params: FeatureParams | None = None,
    ingest_params: IngestParams | None = None,
    model_path: Path = Path("models/face_landmarker.task"),
    prompts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Detect landmarks in a session's task files and measure them (``palsyflow measure``).

    Parameters
    ----------
    task_files : mapping
        Task name (protocol name or alias) -> photo or video file, or a ``.parquet`` /
        ``.csv`` file of landmarks computed elsewhere (iBUG-68 or MediaPipe-478, read by
        :func:`~palsyflow.landmarks.io.read_precomputed`; no detection runs for it).
    backend : {"mediapipe", "dlib"}
        Landmark backend; replaces ``landmark_params.backend``. The task measures need
        MediaPipe's 478 points: with 68-point backends the tasks are not available.
    landmark_params, feature_params, ingest_params : optional
        ``params.yaml`` sections; defaults when None. ``ingest_params`` supplies the
        alias table.
    model_path : Path
        ``face_landmarker.task``.
    prompts : mapping, optional
        Speech task (name or alias) -> the text spoken.

    Returns
    -------
    dict
        :func:`measure_results`' JSON shape.

    Raises
    ------
    ValueError
        Unknown task name (:class:`~palsyflow.ingest.tasks.UnknownTaskError`), a file
        that is no photo, video or audio recording (recognised by content), or a
        landmark file that cannot be measured
        (:class:`~palsyflow.landmarks.io.PrecomputedLandmarkError`, one sentence naming
        the file).
    palsyflow.landmarks.LandmarkError
        A file cannot be decoded.
    """
    ingest = ingest_params or IngestParams()
    lp = (landmark_params or LandmarkParams()).model_copy(update={"backend": backend})
    fp = feature_params or FeatureParams()
    results: dict[str, Any] = {}
    speech_files: dict[str, Path] = {}
    for name, path in task_files.items():
        path = Path(path)
        if path.suffix.lower() in PRECOMPUTED_SUFFIXES:  # landmarks computed elsewhere, not media
            task = canonical_task(name, ingest.task_aliases)
            if task in SPEECH_TASK_KINDS and task != "speech":
                raise ValueError(f"{path}: task {task} is measured from audio, not from landmarks")
            results[name] = read_precomputed(path)
            continue
        kind = media_kind(path)  # by content; MediaError (a ValueError) for an unrecognised file
        task = canonical_task(name, ingest.task_aliases)  # UnknownTaskError before any detection
        if task in SPEECH_TASKS:
            speech_files[task] = path
        if kind == "audio":
            if task not in SPEECH_TASKS:
                raise ValueError(f"{path}: task {task} needs a face, and an audio file has none")
            continue
        if task in SPEECH_TASK_KINDS and task != "speech":
            continue  # a video of an audio task: its audio is what is measured
        results[name] = extract_landmarks(path, kind, lp, Path(model_path))
    prompt_of = {canonical_task(t, ingest.task_aliases): p for t, p in (prompts or {}).items()}
    unknown = sorted(set(prompt_of) - set(speech_files))
    if unknown:
        raise ValueError(f"a prompt is given for {', '.join(unknown)}, but no such speech task file")
    speech = measure_speech(speech_files, prompt_of, fp) if speech_files else None
    return measure_results(results, fp, ingest.task_aliases, speech)
