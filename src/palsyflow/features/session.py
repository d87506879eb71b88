"""One session's measures as a JSON-ready dict: the ``palsyflow measure`` contract.

:func:`measure_session` takes task files, detects landmarks and calls
:func:`measure_results`, which works on landmark tables already computed (the features
stage, the palsy phantom). Both produce::

    {"static": {...},                       # rest measures, see below
     "tasks": {TASK: {"activated": bool, "asymmetry_score": float|None,
                      "cosine_score": float|None, "weaker_side": "left"|"right"|None,
                      "left": float|None, "right": float|None, "unit": str,
                      "threshold": float|None, "eface": float|None, "hb_cm": {...},
                      "available": bool, "reason": str|None}},
     "hb_measure": {...} | None,            # palsyflow.features.tasks.hb_measure
     "eface": {"static": float|None, "dynamic": float|None, "dynamic_tasks": [...]}}

The task values are computed by the same functions as the features stage's parquet rows
(:func:`palsyflow.features.table.recording_row` / :func:`~palsyflow.features.table.session_table`):
:func:`palsyflow.features.tasks.recording_task_measure`, then the House-Brackmann measure
and eFACE-style subscores of :mod:`palsyflow.features.tasks`.

Task names go through :func:`canonical_task` (the alias table
``IngestParams.task_aliases``: ``at-rest`` -> ``rest``, ``big-smile`` -> ``smile`` ...).
Tasks that were not recorded are absent from ``tasks``; a recorded task that cannot be
measured (no face, photo without ``rest``) has ``available`` False and a ``reason``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from palsyflow.ingest.probe import media_kind
from palsyflow.config import FeatureParams, IngestParams, LandmarkParams
from palsyflow.conventions import TASKS
from palsyflow.features.regional import DYNAMIC, recording_measures
from palsyflow.features.table import _keyframes, landmarks_to_array, spread_array
from palsyflow.features.tasks import (
    DYNAMIC_TASKS,
    TaskMeasure,
    combine,
    eface_dynamic,
    eface_static,
    hb_measure,
    not_available,
    recording_task_measure,
)

__all__ = ["canonical_task", "task_from_filename", "measure_results", "measure_session", "static_measures"]


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().lower())


def canonical_task(name: str, aliases: Mapping[str, str] | None = None) -> str | None:
    """Map a task name to the protocol's (:data:`palsyflow.conventions.TASKS`).

    Parameters
    ----------
    name : str
        A protocol name (``smile``, ``eye_closure_full``) or a clinic alias
        (``big-smile``); case, spaces, ``_`` and ``-`` are not significant.
    aliases : mapping, optional
        Alias -> protocol name; default ``IngestParams().task_aliases``.

    Returns
    -------
    str or None
        None when the name is neither a protocol task nor an alias.
    """
    aliases = IngestParams().task_aliases if aliases is None else aliases
    key = _norm(name)
    by_norm = {_norm(t): t for t in TASKS}
    if key in by_norm:
        return by_norm[key]
    table = {_norm(a): t for a, t in aliases.items()}
    return table.get(key)


def task_from_filename(name: str, aliases: Mapping[str, str] | None = None) -> str | None:
    """Guess the protocol task from a file name such as ``face-mp-big-smile-teeth-closed.jpg``.

    The stem is normalised (lower case, ``_`` -> ``-``), a trailing ``-<digits>`` repeat
    number is dropped. A protocol name matches when it is the whole stem or a BIDS
    ``task-<name>`` entity; otherwise the longest alias that occurs in the stem as a whole
    ``-``-separated run of words wins (``eyes-closed-gently`` before ``eyes-closed``).

    Returns
    -------
    str or None
        None when nothing matches (e.g. ``small-smile``, which is not a protocol task).
    """
    aliases = IngestParams().task_aliases if aliases is None else aliases
    stem = _norm(Path(name).name.split(".")[0])
    stem = re.sub(r"-\d+$", "", stem)
    padded = f"-{stem}-"
    for t in TASKS:  # a protocol name: the whole stem, or a BIDS "task-<name>" entity
        key = _norm(t)
        if stem == key or f"-task-{key}-" in padded or stem.startswith(f"task-{key}-") or stem == f"task-{key}":
            return t
    best = None
    for alias, task in aliases.items():
        key = _norm(alias)
        if f"-{key}-" in padded and (best is None or len(key) > len(best[0])):
            best = (key, task)
    return best[1] if best else None


def _tables(result: Any) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    if hasattr(result, "points") and hasattr(result, "quality"):
        return result.points, result.quality
    points, quality = result
    return points, quality


def _arrays(result: Any):
    points, quality = _tables(result)
    frames, xyz, found = landmarks_to_array(points)
    return xyz, found, spread_array(points, frames, xyz.shape[1]), _keyframes(quality, frames)


def static_measures(result: Any, params: FeatureParams | None = None) -> dict[str, Any]:
    """The rest recording's static regional measures (no excursions) and eFACE static.

    Parameters
    ----------
    result : LandmarkResult or (points, quality) tables
    params : FeatureParams, optional

    Returns
    -------
    dict
        ``{family}_{left,right,asym,weaker}`` for the static families of
        :mod:`palsyflow.features.regional` (IOD units) and ``eface_static`` (0-100).
    """
    params = params or FeatureParams()
    xyz, found, _, key = _arrays(result)
    out = recording_measures(xyz, found, key, params) if xyz.shape[1] >= 468 else {}
    static = {k: v for k, v in out.items() if not any(k.startswith(f + "_") for f in DYNAMIC)}
    static["eface_static"] = eface_static({f: static.get(f"{f}_asym") for f in ("brow", "eye", "cheek", "mouth")})
    return static


def measure_results(
    results: Mapping[str, Any],
    params: FeatureParams | None = None,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The session measures from landmark results already computed.

    Parameters
    ----------
    results : mapping
        Task name (protocol name or alias) -> a
        :class:`~palsyflow.landmarks.LandmarkResult`, or a ``(points, quality)``
        pair of tables (:data:`~palsyflow.schemas.LANDMARK_SCHEMA`,
        :data:`~palsyflow.schemas.QUALITY_SCHEMA`; quality may be None). Pixels of the
        orientation-corrected frame.
    params : FeatureParams, optional
    aliases : mapping, optional
        Alias table (default ``IngestParams().task_aliases``).

    Returns
    -------
    dict
        The JSON shape of the module docstring. Photo tasks are measured against the
        ``rest`` result; video tasks against their own neutral frame.

    Raises
    ------
    ValueError
        If a task name is neither a protocol task nor an alias.
    """
    params = params or FeatureParams()
    by_task: dict[str, list[Any]] = {}
    for name, res in results.items():
        task = canonical_task(name, aliases)
        if task is None:
            raise ValueError(f"unknown task {name!r}: not a protocol task ({', '.join(TASKS)}) nor an alias")
        by_task.setdefault(task, []).append(res)

    rest = by_task.get("rest", [None])[0]
    rest_arrays = _arrays(rest) if rest is not None else None
    if rest is not None:
        static = static_measures(rest, params)
    else:
        static = {"eface_static": None}

    tasks: dict[str, TaskMeasure] = {}
    for task in DYNAMIC_TASKS:
        if task not in by_task:
            continue
        ms = []
        for res in by_task[task]:
            xyz, found, spread, key = _arrays(res)
            if xyz.shape[1] < 468:
                ms.append(not_available(task, "landmarks are not MediaPipe's 478 points"))
                continue
            ms.append(recording_task_measure(task, xyz, found, spread, key, rest_arrays, params))
        tasks[task] = combine(task, ms, params) if len(ms) > 1 else ms[0]
        if not tasks[task].available and len(ms) > 1:
            tasks[task].reason = "; ".join(sorted({m.reason or "" for m in ms}))

    dyn, used = eface_dynamic(tasks)
    hb = hb_measure(tasks.get("brow_raise"), tasks.get("smile"))
    return {
        "static": _jsonable(static),
        "tasks": {t: _jsonable(m.as_json()) for t, m in tasks.items()},
        "hb_measure": _jsonable(hb) if hb is not None else None,
        "eface": {"static": static.get("eface_static"), "dynamic": dyn, "dynamic_tasks": used},
    }


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
) -> dict[str, Any]:
    """Detect landmarks in a session's task files and measure them (``palsyflow measure``).

    Parameters
    ----------
    task_files : mapping
        Task name (protocol name or alias) -> photo or video file.
    backend : {"mediapipe", "dlib"}
        Landmark backend; replaces ``landmark_params.backend``. The task measures need
        MediaPipe's 478 points: with 68-point backends the tasks are not available.
    landmark_params, feature_params, ingest_params : optional
        ``params.yaml`` sections; defaults when None. ``ingest_params`` supplies the
        alias table and the photo/video file extensions.
    model_path : Path
        ``face_landmarker.task``.

    Returns
    -------
    dict
        :func:`measure_results`' JSON shape.

    Raises
    ------
    ValueError
        Unknown task name or file extension.
    palsyflow.landmarks.LandmarkError
        A file cannot be decoded.
    """
    from palsyflow.landmarks import extract_landmarks

    ingest = ingest_params or IngestParams()
    lp = (landmark_params or LandmarkParams()).model_copy(update={"backend": backend})
    results: dict[str, Any] = {}
    for name, path in task_files.items():
        path = Path(path)
        kind = media_kind(path, ingest)  # MediaError (a ValueError) for an unknown extension
        if kind == "audio":
            raise ValueError(f"{path}: an audio file has no face")
        if canonical_task(name, ingest.task_aliases) is None:
            raise ValueError(f"unknown task {name!r}")
        results[name] = extract_landmarks(path, kind, lp, Path(model_path))
    return measure_results(results, feature_params, ingest.task_aliases)
