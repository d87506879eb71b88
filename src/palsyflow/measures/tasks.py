"""Scores of a task's movement from its two side values, and the graded summaries.

The movement geometry of each task (which points, which formula) is in
:mod:`palsyflow.features.tasks`; this module holds what is computed from the two
movements ``m_L``, ``m_R`` (the patient's sides, unit of :data:`palsyflow.measures.registry.TASK_INFO`)
and is shared by the recording, the session aggregate and the ``palsyflow measure`` JSON:

Activation gate
    A task is **activated** when ``max(m_L, m_R) >= threshold`` and ``> 0``; the
    threshold is ``task_activation_factor`` x the movement's landmark noise (computed by
    :func:`palsyflow.features.tasks.movement_noise`). A missing threshold means the gate
    cannot be applied: not activated.
Scores (activated tasks only)
    ``asymmetry_score`` = :func:`palsyflow.measures.asymmetry.asymmetry`;
    ``weaker_side`` = the side that moved less
    (:func:`palsyflow.measures.asymmetry.weaker_side`, direction ``"smaller"``, no side
    when the asymmetry is at most ``weaker_min_asym``); ``eface`` = ``100 * min/max``,
    the eFACE way of scoring a dynamic item (Banks et al. 2015,
    doi:10.1097/PRS.0000000000001447); ``cosine_score`` is kept only when activated.
House-Brackmann measurement
    :func:`hb_measure` (House & Brackmann 1985, doi:10.1177/019459988509300202).
eFACE-style subscores
    :func:`eface_static`, :func:`eface_dynamic` (Banks et al. 2015).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from palsyflow.config import FeatureParams
from palsyflow.conventions import SIDES, Side
from palsyflow.measures.asymmetry import asymmetry, weaker_side
from palsyflow.measures.registry import DYNAMIC_TASKS, REST_FAMILY_OF_REGION, REGIONS, TASK_INFO

#: Tasks that are eFACE dynamic items (Banks et al. 2015): brow elevation, gentle and
#: full eye closure, oral commissure movement with smile, lower lip movement (EEEE).
EFACE_DYNAMIC_TASKS: tuple[str, ...] = ("brow_raise", "eye_closure_gentle", "eye_closure_full", "smile", "eee")
#: Rest families that are eFACE static items: resting brow, palpebral fissure,
#: nasolabial fold, oral commissure.
EFACE_STATIC_FAMILIES: tuple[str, ...] = tuple(REST_FAMILY_OF_REGION[r] for r in REGIONS)

#: House-Brackmann 1985 measurement: points per 0.25 cm, at most 4 per reference point.
HB_STEP_CM = 0.25
HB_MAX_POINTS_EACH = 4


class TaskError(ValueError):
    """Unknown task or malformed posture."""


def _check_task(task: str) -> None:
    if task not in TASK_INFO:
        raise TaskError(f"not a dynamic task: {task!r} (known: {', '.join(DYNAMIC_TASKS)})")


@dataclass
class TaskMeasure:
    """The measure of one task (JSON-ready through :meth:`as_json`).

    Attributes
    ----------
    task : str
    unit : str
        Unit of ``left``, ``right`` and ``threshold`` (``iod_canthal`` or ``fraction``).
    left, right : float or None
        The patient's left and right movement ``m``; None when not available.
    threshold : float or None
        Activation threshold (same unit), ``task_activation_factor`` x noise.
    activated : bool
        ``max(left, right) >= threshold``.
    asymmetry_score, cosine_score : float or None
        Only when activated (see module docstring).
    weaker_side : "left", "right" or None
    eface : float or None
        ``100 * min/max`` of the two sides (0-100), only when activated.
    hb_cm : dict
        House-Brackmann movement of each side in cm (``brow_raise``: superior movement of
        the brow mid-portion; ``smile``: lateral movement of the commissure); empty when
        the task has none or there is no mm calibration.
    available : bool
        False when the task could not be measured (no face, no neutral posture).
    reason : str or None
        Why it is not available.
    """

    task: str
    unit: str
    left: float | None = None
    right: float | None = None
    threshold: float | None = None
    activated: bool = False
    asymmetry_score: float | None = None
    cosine_score: float | None = None
    weaker_side: Side | None = None
    eface: float | None = None
    hb_cm: dict[str, float] = field(default_factory=dict)
    available: bool = True
    reason: str | None = None

    def as_json(self) -> dict:
        """The ``tasks[TASK]`` entry of :func:`palsyflow.features.session.measure_results`."""
        d = asdict(self)
        d.pop("task")
        return d


def not_available(task: str, reason: str) -> TaskMeasure:
    """A :class:`TaskMeasure` with no values (``available`` False).

    Raises
    ------
    TaskError
        If ``task`` is not a dynamic task.
    """
    _check_task(task)
    return TaskMeasure(task=task, unit=TASK_INFO[task].unit, available=False, reason=reason)


def from_sides(
    task: str,
    left: float | None,
    right: float | None,
    threshold: float | None,
    cosine: float | None,
    hb_cm: Mapping[str, float] | None = None,
    params: FeatureParams | None = None,
) -> TaskMeasure:
    """A :class:`TaskMeasure` from the two side movements: gate and scores.

    Parameters
    ----------
    task : str
        One of :data:`palsyflow.measures.registry.DYNAMIC_TASKS`.
    left, right : float or None
        The patient's left and right movement (>= 0), the task's unit.
    threshold : float or None
        Activation threshold; None: the gate cannot be applied (not activated).
    cosine : float or None
        Cosine score, kept only when activated.
    hb_cm : mapping, optional
        House-Brackmann movement per side, cm.
    params : FeatureParams, optional
        ``weaker_min_asym``.

    Returns
    -------
    TaskMeasure
        Not available when ``left`` or ``right`` is missing; rules in the module docstring.

    Raises
    ------
    TaskError
        If ``task`` is not a dynamic task.
    """
    params = params or FeatureParams()
    _check_task(task)
    if left is None or right is None or not (np.isfinite(left) and np.isfinite(right)):
        return not_available(task, "no measurable recording of the task")
    out = TaskMeasure(task=task, unit=TASK_INFO[task].unit, left=float(left), right=float(right), threshold=threshold)
    out.hb_cm = dict(hb_cm or {})
    top, low = max(left, right), min(left, right)
    out.activated = bool(threshold is not None and top >= threshold and top > 0)
    if out.activated:
        out.asymmetry_score = asymmetry(left, right)
        out.eface = float(100.0 * low / top)
        out.cosine_score = cosine
        out.weaker_side = weaker_side("smaller", left, right, params.weaker_min_asym)
    return out


def combine(task: str, measures: Sequence[TaskMeasure], params: FeatureParams | None = None) -> TaskMeasure:
    """Combine repeated measures of one task (several recordings) into one.

    ``left``, ``right``, ``threshold``, ``cosine_score`` and the ``hb_cm`` values are
    averaged over the available measures; activation, asymmetry, weaker side and eFACE
    item are recomputed from the averages (:func:`from_sides`). One available measure
    is returned as it is.

    Parameters
    ----------
    task : str
    measures : sequence of TaskMeasure
    params : FeatureParams, optional

    Returns
    -------
    TaskMeasure
        Not available when none of ``measures`` is.
    """
    params = params or FeatureParams()
    ok = [m for m in measures if m.available and m.left is not None and m.right is not None]
    if not ok:
        return not_available(task, "no measurable recording of the task")
    if len(ok) == 1:
        return ok[0]
    left = float(np.mean([m.left for m in ok]))
    right = float(np.mean([m.right for m in ok]))
    thr = [m.threshold for m in ok if m.threshold is not None]
    cos = [m.cosine_score for m in ok if m.cosine_score is not None]
    hb: dict[str, float] = {}
    with_hb = [m.hb_cm for m in ok if len(m.hb_cm) == 2]
    if with_hb:
        hb = {s: float(np.mean([h[s] for h in with_hb])) for s in SIDES}
    return from_sides(task, left, right, float(np.mean(thr)) if thr else None,
                      float(np.mean(cos)) if cos else None, hb, params)


# -- graded summaries ---------------------------------------------------------------
def hb_points(cm: float) -> int:
    """House-Brackmann points of one reference point: 1 per full 0.25 cm, at most 4.

    Source: House & Brackmann 1985, doi:10.1177/019459988509300202. Negative or
    non-finite movement gives 0.
    """
    if not np.isfinite(cm) or cm <= 0:
        return 0
    return int(min(HB_MAX_POINTS_EACH, math.floor(cm / HB_STEP_CM + 1e-9)))


def hb_measure(brow: TaskMeasure | None, smile: TaskMeasure | None) -> dict | None:
    """The House-Brackmann measurement (brow elevation + lateral commissure excursion).

    Parameters
    ----------
    brow, smile : TaskMeasure or None
        ``brow_raise`` and ``smile`` measures with ``hb_cm`` (needs mm calibration from
        the iris in the neutral posture).

    Returns
    -------
    dict or None
        None when either task or the calibration is missing. Otherwise
        ``{"side", "points", "brow_cm", "commissure_cm", "brow_points",
        "commissure_points", "by_side", "label"}`` where ``side`` is the weaker side
        (fewer total points; ties broken by the smaller total movement in cm), ``points``
        its total out of 8. ``by_side`` gives both sides' values. No grade is derived
        from these points: a grade read from the cm movements alone put healthy
        volunteers at III-IV (docs/validation.md); the House-Brackmann estimate is
        :func:`palsyflow.measures.scales.house_brackmann`'s (``hb_scale_grade_estimate``).
    """
    if brow is None or smile is None or len(brow.hb_cm) != 2 or len(smile.hb_cm) != 2:
        return None
    by_side = {}
    for s in SIDES:
        bp, cp = hb_points(brow.hb_cm[s]), hb_points(smile.hb_cm[s])
        by_side[s] = {
            "brow_cm": float(brow.hb_cm[s]),
            "commissure_cm": float(smile.hb_cm[s]),
            "brow_points": bp,
            "commissure_points": cp,
            "points": bp + cp,
        }
    weaker: Side = min(
        SIDES, key=lambda s: (by_side[s]["points"], by_side[s]["brow_cm"] + by_side[s]["commissure_cm"])
    )
    return {
        "side": weaker,
        **by_side[weaker],
        "by_side": by_side,
        "label": "estimate",
    }


def movement_side(tasks: Mapping[str, TaskMeasure], min_asym: float, min_tasks: int) -> Side | None:
    """The weaker side of a session's movement tasks (photo sessions), or None.

    Each available, activated task whose asymmetry exceeds ``min_asym`` votes for its
    weaker side (the side that moved less). A side is named when it has at least
    ``min_tasks`` votes and more votes than the other side; otherwise there is no
    consistent weaker side. One task alone never decides, because single tasks of
    healthy faces move up to about a fifth less on one side (docs/validation.md,
    phantom sides); a unilateral weakness shows in most tasks at once.

    Parameters
    ----------
    tasks : mapping of str -> TaskMeasure
        The session's task measures (:func:`combine` per task).
    min_asym : float
        Asymmetry ``|m_L - m_R| / max`` a task must exceed to vote (0-1).
    min_tasks : int
        Votes a side needs.

    Returns
    -------
    "left", "right" or None
        The patient's side.
    """
    votes = {s: 0 for s in SIDES}
    for m in tasks.values():
        if m.available and m.activated and m.weaker_side in votes and (m.asymmetry_score or 0.0) > min_asym:
            votes[m.weaker_side] += 1
    left, right = votes["left"], votes["right"]
    if left >= min_tasks and left > right:
        return "left"
    if right >= min_tasks and right > left:
        return "right"
    return None


def eface_static(asymmetries: Mapping[str, float | None]) -> float | None:
    """eFACE-style static subscore, 0-100 (100 = symmetric face at rest).

    Each static item (resting brow height, palpebral fissure, nasolabial / alar height,
    oral commissure height: :data:`EFACE_STATIC_FAMILIES`) scores ``100 * (1 - asym)``
    from its rest asymmetry; the subscore is the mean of the available items. eFACE
    (Banks et al. 2015, doi:10.1097/PRS.0000000000001447) scores the same items on
    visual-analogue scales with 100 = normal; this is an automated analogue, not eFACE.

    Parameters
    ----------
    asymmetries : mapping
        Rest family (``rest_brow_height`` ...) -> asymmetry in [0, 1].

    Returns
    -------
    float or None
        None when no item is available.
    """
    vals = [asymmetries.get(f) for f in EFACE_STATIC_FAMILIES]
    vals = [float(v) for v in vals if v is not None and np.isfinite(v)]
    return float(np.mean([100.0 * (1.0 - v) for v in vals])) if vals else None


def eface_dynamic(measures: Mapping[str, TaskMeasure | None]) -> tuple[float | None, list[str]]:
    """eFACE-style dynamic subscore, 0-100, and the tasks it used.

    The mean of the ``eface`` item scores (``100 * weaker / stronger`` movement) of the
    activated tasks among :data:`EFACE_DYNAMIC_TASKS` (brow elevation, gentle and full
    eye closure, smile, lower lip / EEEE; Banks et al. 2015,
    doi:10.1097/PRS.0000000000001447). Missing or not-activated tasks are left out, so
    compare subscores only between sessions with the same task list.

    Returns
    -------
    score : float or None
        None when no eFACE task is available and activated.
    used : list of str
        The tasks averaged.
    """
    used = [t for t in EFACE_DYNAMIC_TASKS if measures.get(t) is not None and measures[t].eface is not None]
    if not used:
        return None, []
    return float(np.mean([measures[t].eface for t in used])), used


def hb_from_cm(brow_cm: Mapping[str, float] | None, commissure_cm: Mapping[str, float] | None) -> dict | None:
    """:func:`hb_measure` from stored per-side cm values (feature-table columns).

    Parameters
    ----------
    brow_cm, commissure_cm : mapping or None
        ``{"left": cm, "right": cm}`` of the brow_raise and smile movements.

    Returns
    -------
    dict or None
        :func:`hb_measure`'s result; None unless both mappings have both sides.
    """
    if not brow_cm or not commissure_cm or len(brow_cm) != 2 or len(commissure_cm) != 2:
        return None
    b = TaskMeasure("brow_raise", TASK_INFO["brow_raise"].unit, hb_cm=dict(brow_cm))
    c = TaskMeasure("smile", TASK_INFO["smile"].unit, hb_cm=dict(commissure_cm))
    return hb_measure(b, c)
