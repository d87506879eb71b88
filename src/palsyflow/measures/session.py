"""The one session aggregator: several recordings of a session -> one set of measures.

:func:`aggregate_session` is what both the parquet session table
(:func:`palsyflow.features.table.session_table`) and the ``palsyflow measure`` JSON
(:func:`palsyflow.features.session.measure_results`) serialise. Its input is the
recordings' feature-table rows (:data:`palsyflow.measures.registry.MEASURE_COLUMNS` plus
``task``).

Aggregation rule (per measure family, several recordings of one task are averaged)
    * rest families (``rest_*``): the mean of the ``rest`` recording(s) with values;
      when the session has no such ``rest`` recording, the mean over all recordings
      with values;
    * movement families (``mov_*``): the mean over the non-``rest`` recordings with
      values (movement tasks and speech), else over ``rest``;
    * ``_left`` and ``_right`` are averaged separately, then ``_asym`` and ``_weaker``
      are recomputed from the averages (:mod:`palsyflow.measures.asymmetry`; noise
      floors ``weaker_min_diff_iod`` for rest, ``movement_weaker_min_diff_iod`` for
      movement);
    * Parra-Dominguez features: the mean over the ``rest`` recording(s), else over all
      face recordings;
    * speech measures: :func:`palsyflow.speech.session.aggregate_speech` (gated
      recordings only; trial spreads kept; the dysarthria index of the session);
    * task measures ``task_<task>_*``: from the recording(s) of that task
      (:func:`palsyflow.measures.tasks.combine`: side values averaged, gate and scores
      recomputed);
    * Emotrics-equivalent millimetre measures: ``rest_emotrics_*`` like the rest
      families (the mean of the ``rest`` recording(s) with a value, else of all
      recordings with one); ``task_<task>_emotrics_*``, ocular synkinesis
      (``synkinesis_ocular_<task>_*``) and the lagophthalmos gap (``lagophthalmos_*``)
      the mean over the recordings of their task with a value, each side separately
      (no asymmetry or weaker side is derived from them here);
    * ``hb_measure_*`` (points and the weaker side; the grade comes from
      ``hb_scale_grade_estimate`` below, not from these points) from the combined
      ``brow_raise`` and ``smile`` movements in cm; ``eface_static`` from the rest asymmetries of the four
      regions (only when a ``rest`` recording has them), ``eface_dynamic`` from the
      activated eFACE tasks;
    * clinical-scale automated estimates (``eface_synkinesis``, ``eface_total``,
      ``sunnybrook_*``, ``hb_scale_grade_estimate``) from the finished row
      (:func:`palsyflow.measures.scales.session_scales`).

Averaging all recordings of a task, rather than keeping the first, uses every repeat
the clinic made and does not depend on the order the recordings are listed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from palsyflow.config import FeatureParams
from palsyflow.measures.asymmetry import asymmetry, weaker_side
from palsyflow.measures.registry import (
    DYNAMIC_TASKS,
    EMOTRICS_REST_COLUMNS,
    EMOTRICS_TASK_COLUMNS,
    HB_TASK_COLUMNS,
    MEASURE_COLUMNS,
    MOVEMENT_FAMILIES,
    PARRA_FEATURES,
    REST_FAMILIES,
    SYNKINESIS_TASK_COLUMNS,
    Family,
)
from palsyflow.measures.scales import ScaleEstimates, session_scales
from palsyflow.speech.session import aggregate_speech
from palsyflow.measures.tasks import TaskMeasure, combine, eface_dynamic, eface_static, from_sides, hb_from_cm, movement_side

PARRA_NAMES: tuple[str, ...] = tuple(PARRA_FEATURES)


@dataclass
class SessionAggregate:
    """One session's measures.

    Attributes
    ----------
    row : dict
        Every :data:`~palsyflow.measures.registry.MEASURE_COLUMNS` column (None when
        not available): one session-table row without its id columns.
    tasks : dict of str -> TaskMeasure
        Each recorded dynamic task's combined measure, available or not.
    eface_dynamic_tasks : list of str
        The tasks ``eface_dynamic`` averaged.
    hb_measure : dict or None
        :func:`palsyflow.measures.tasks.hb_measure` of the combined movements.
    scales : ScaleEstimates or None
        :func:`palsyflow.measures.scales.session_scales` of ``row``.
    """

    row: dict[str, Any]
    tasks: dict[str, TaskMeasure] = field(default_factory=dict)
    eface_dynamic_tasks: list[str] = field(default_factory=list)
    hb_measure: dict | None = None
    scales: ScaleEstimates | None = None


def _mean(values: Sequence[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def _opt_float(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def weaker_of_family(fam: Family, left: float | None, right: float | None, params: FeatureParams) -> str | None:
    """The weaker side of a face family's pair, with that family's noise floor.

    Parameters
    ----------
    fam : Family
        A rest or movement family of :mod:`palsyflow.measures.registry`.
    left, right : float or None
        The patient's sides, ``fam.unit``.
    params : FeatureParams
        ``weaker_min_asym``; ``weaker_min_diff_iod`` (rest families) or
        ``movement_weaker_min_diff_iod`` (movement families).

    Returns
    -------
    "left", "right" or None
        None for a family without a weaker side.
    """
    if fam.weaker is None:
        return None
    floor = params.movement_weaker_min_diff_iod if fam.name.startswith("mov_") else params.weaker_min_diff_iod
    return weaker_side(fam.weaker, left, right, params.weaker_min_asym, floor)


def fill_family(out: dict[str, Any], fam: Family, left: float | None, right: float | None, params: FeatureParams) -> None:
    """Set ``{fam}_left/_right/_asym`` (and ``_weaker``) in ``out`` from the two sides."""
    lv, rv = _opt_float(left), _opt_float(right)
    out[f"{fam.name}_left"] = lv
    out[f"{fam.name}_right"] = rv
    out[f"{fam.name}_asym"] = asymmetry(lv, rv)
    if fam.weaker is not None:
        out[f"{fam.name}_weaker"] = weaker_of_family(fam, lv, rv, params)


def task_columns(measure: TaskMeasure) -> dict[str, Any]:
    """The ``task_<task>_*`` (and ``hb_*_cm_*``) columns of one task measure.

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
    hb = HB_TASK_COLUMNS.get(measure.task)
    if hb:
        for side in ("left", "right"):
            out[f"{hb}_{side}"] = measure.hb_cm.get(side) if ok else None
    return out


def task_measure_from_row(task: str, row: Mapping[str, Any], params: FeatureParams | None = None) -> TaskMeasure:
    """Rebuild a task's :class:`~palsyflow.measures.tasks.TaskMeasure` from a row's task columns.

    Raises
    ------
    palsyflow.measures.tasks.TaskError
        If ``task`` is not a dynamic task.
    """
    fam = f"task_{task}"
    hb_fam = HB_TASK_COLUMNS.get(task)
    hb: dict[str, float] = {}
    if hb_fam:
        vals = {s: row.get(f"{hb_fam}_{s}") for s in ("left", "right")}
        if all(v is not None for v in vals.values()):
            hb = {s: float(v) for s, v in vals.items()}
    return from_sides(
        task, _opt_float(row.get(f"{fam}_left")), _opt_float(row.get(f"{fam}_right")),
        _opt_float(row.get(f"{fam}_threshold")), _opt_float(row.get(f"{fam}_cosine")), hb, params,
    )


def aggregate_session(recordings: Sequence[Mapping[str, Any]], params: FeatureParams) -> SessionAggregate:
    """Combine one session's recordings into its measures (rule in the module docstring).

    Parameters
    ----------
    recordings : sequence of mapping
        Feature-table rows of the session's recordings: ``task`` and any of
        :data:`~palsyflow.measures.registry.MEASURE_COLUMNS` (missing ones are None).
        Their order does not matter.
    params : FeatureParams
        ``weaker_min_asym``, the weaker-side noise floors and the task gate settings.

    Returns
    -------
    SessionAggregate
    """
    recs = [dict.fromkeys(MEASURE_COLUMNS) | dict(r) for r in recordings]
    row: dict[str, Any] = dict.fromkeys(MEASURE_COLUMNS)
    rest_asym: dict[str, float | None] = {}
    for fam in (*REST_FAMILIES, *MOVEMENT_FAMILIES):
        usable = [r for r in recs if r[f"{fam.name}_left"] is not None and r[f"{fam.name}_right"] is not None]
        rest = [r for r in usable if r.get("task") == "rest"]
        other = [r for r in usable if r.get("task") != "rest"]
        chosen = (other or rest) if fam in MOVEMENT_FAMILIES else (rest or usable)
        if not chosen:
            continue
        fill_family(row, fam, _mean([r[f"{fam.name}_left"] for r in chosen]),
                    _mean([r[f"{fam.name}_right"] for r in chosen]), params)
        if rest and fam in REST_FAMILIES:
            rest_asym[fam.name] = row[f"{fam.name}_asym"]
    with_parra = [r for r in recs if r[PARRA_NAMES[0]] is not None]
    parra_src = [r for r in with_parra if r.get("task") == "rest"] or with_parra
    for name in PARRA_NAMES:
        row[name] = _mean([r[name] for r in parra_src])

    for col in EMOTRICS_REST_COLUMNS:
        usable = [r for r in recs if r[col] is not None]
        row[col] = _mean([r[col] for r in ([r for r in usable if r.get("task") == "rest"] or usable)])
    for task in DYNAMIC_TASKS:
        cols = (*EMOTRICS_TASK_COLUMNS.get(task, {}), *SYNKINESIS_TASK_COLUMNS.get(task, ()))
        for col in cols:
            row[col] = _mean([r[col] for r in recs if r.get("task") == task])

    tasks: dict[str, TaskMeasure] = {}
    available: dict[str, TaskMeasure] = {}
    for task in DYNAMIC_TASKS:
        mine = [task_measure_from_row(task, r, params) for r in recs if r.get("task") == task]
        if not mine:
            continue
        m = combine(task, mine, params)
        tasks[task] = m
        if m.available:
            available[task] = m
            row.update(task_columns(m))
    row["eface_static"] = eface_static(rest_asym)
    row["eface_dynamic"], used = eface_dynamic(available)
    hb = hb_from_cm(
        available["brow_raise"].hb_cm if "brow_raise" in available else None,
        available["smile"].hb_cm if "smile" in available else None,
    )
    if hb is not None:
        row["hb_measure_points"] = float(hb["points"])
        row["hb_measure_weaker"] = hb["side"]
    row["task_movement_weaker"] = movement_side(available, params.task_side_min_asym, params.task_side_min_tasks)
    row.update(aggregate_speech(recs))
    scales = session_scales(row)
    row.update(scales.columns())
    return SessionAggregate(row=row, tasks=tasks, eface_dynamic_tasks=used, hb_measure=hb, scales=scales)
