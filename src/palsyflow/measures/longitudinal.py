"""Longitudinal reading of a subject's scores: measurement noise, change labels, events.

A change between two sessions is only read as real when it exceeds the **minimal
detectable change** at 95 % confidence,

    SEM   = sqrt( sum_i sum_j (x_ij - mean_i)^2 / sum_i (k_i - 1) )
    MDC95 = 1.96 * sqrt(2) * SEM

where ``x_ij`` is the ``j``-th of ``k_i`` repeated sessions of healthy subject ``i``
(the pooled within-subject standard deviation, i.e. ``sqrt(MS_within)`` of a one-way
ANOVA; for test-retest pairs it is ``SD(d) / sqrt(2)`` of the differences ``d``
when there is no systematic bias) (Weir 2005, J Strength Cond Res 19(1):231-240,
doi:10.1519/15184.1; de Vet et al. 2006, doi:10.1186/1477-7525-4-54). The factor
``sqrt(2)`` accounts for both sessions of a change carrying measurement error.

:data:`MDC_TABLE` holds the values for the score-table measures, measured on the
repeated healthy sessions by ``benchmarks/mdc.py`` (its JSON in
``benchmarks/results/mdc-2026-12-02.json`` is the provenance; a test checks the
table against it). Each session's change since the baseline (the first session) and
since the previous session is labelled ``"within noise"``, ``"improvement"`` or
``"worsening"``, the direction taken from the measure's ``higher_is_better`` in
:mod:`palsyflow.measures.registry`. Two events are read from the series:

- ``"plateau"``: over the last :data:`PLATEAU_SESSIONS` sessions (this one included)
  no two values differ by more than the MDC, i.e. no detectable change over two
  consecutive follow-up intervals.
- ``"regression"``: a worsening beyond the MDC since the previous session, or, after
  an improvement beyond the MDC since baseline, a value worse than the best so far by
  more than the MDC.

Where a subject has both face and speech sessions, :func:`recovery_correlation` gives
Spearman's rank correlation between the face's overall score and a speech measure over
the sessions that have both (does speech recover with the face?).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from palsyflow.measures.registry import (
    MOVEMENT_COMPOSITE,
    MOVEMENT_SYMMETRY,
    REGIONS,
    REST_COMPOSITE,
    REST_SYMMETRY,
    SCORE_BY_NAME,
    SYMMETRY_INDEX,
)

__all__ = [
    "CHANGE_LABELS",
    "EVENTS",
    "HEALTHY_BANDS",
    "MDC_MEASURES",
    "MDC_SOURCE",
    "MDC_TABLE",
    "MDC_Z",
    "PLATEAU_SESSIONS",
    "HealthyBand",
    "MinimalChange",
    "SessionChange",
    "MIN_CORRELATION_SESSIONS",
    "RecoveryCorrelation",
    "binomial_score_sem",
    "change_label",
    "mdc95",
    "read_series",
    "recovery_correlation",
    "within_subject_sem",
]

ChangeLabel = Literal["within noise", "improvement", "worsening"]
Event = Literal["plateau", "regression"]
CHANGE_LABELS: tuple[str, ...] = ("within noise", "improvement", "worsening")
EVENTS: tuple[str, ...] = ("plateau", "regression")

#: Two-sided 95 % normal quantile of the MDC95.
MDC_Z = 1.96
#: Sessions a plateau spans (this one and the two before it: two follow-up intervals).
PLATEAU_SESSIONS = 3
MDC_SOURCE = "Weir 2005, J Strength Cond Res 19(1):231-240, doi:10.1519/15184.1"

#: Measures of the score table given an MDC (benchmarks/mdc.py measures these).
MDC_MEASURES: tuple[str, ...] = (
    SYMMETRY_INDEX,
    REST_COMPOSITE,
    MOVEMENT_COMPOSITE,
    MOVEMENT_SYMMETRY,
    *(REST_SYMMETRY[r] for r in REGIONS),
    "speech_clarity",
    "speech_dysarthria_index",
)


def within_subject_sem(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """Standard error of measurement from repeated sessions of stable subjects.

    Parameters
    ----------
    groups : sequence of sequences of float
        Per subject, the values of its repeated sessions (same unit). NaN or None
        values are dropped; subjects left with fewer than two values do not count.

    Returns
    -------
    sem : float
        Pooled within-subject SD, ``sqrt(sum (x_ij - mean_i)^2 / sum (k_i - 1))``,
        in the values' unit (Weir 2005, doi:10.1519/15184.1: ``sqrt(MS_within)``);
        NaN without any subject with two values.
    dof : int
        Degrees of freedom ``sum (k_i - 1)``.
    """
    ss, dof = 0.0, 0
    for g in groups:
        xs = [float(x) for x in g if x is not None and not math.isnan(float(x))]
        if len(xs) < 2:
            continue
        m = sum(xs) / len(xs)
        ss += sum((x - m) ** 2 for x in xs)
        dof += len(xs) - 1
    return (math.sqrt(ss / dof) if dof else math.nan), dof


def binomial_score_sem(score: float, n_items: int) -> float:
    """SEM of a 0-100 percent-correct score from the binomial sampling of its items.

    A word-accuracy score over ``n`` scored words varies between repeats of the same
    speaker by ``SE = 100 * sqrt(p (1 - p) / n)``, ``p = score / 100`` (the binomial
    model of speech-recognition scores: Thornton & Raffin 1978,
    doi:10.1044/jshr.2103.507). Used for the speech clarity, whose repeated healthy
    sessions are too few (and mostly at 100) for a within-subject estimate.

    Parameters
    ----------
    score : float
        Typical score, 0-100 (e.g. the healthy reference mean).
    n_items : int
        Words scored per recording (> 0).

    Returns
    -------
    float
        SEM in score points.

    Raises
    ------
    ValueError
        If ``n_items < 1`` or ``score`` is outside 0-100.
    """
    if n_items < 1 or not 0.0 <= score <= 100.0:
        raise ValueError("need n_items >= 1 and a score in 0-100")
    p = score / 100.0
    return 100.0 * math.sqrt(p * (1.0 - p) / n_items)


def mdc95(sem: float) -> float:
    """Minimal detectable change at 95 % confidence, ``1.96 * sqrt(2) * SEM``.

    Parameters
    ----------
    sem : float
        Standard error of measurement (:func:`within_subject_sem`), in the measure's unit.

    Returns
    -------
    float
        MDC95 in the same unit (Weir 2005, doi:10.1519/15184.1).
    """
    return MDC_Z * math.sqrt(2.0) * float(sem)


@dataclass(frozen=True)
class MinimalChange:
    """The measurement noise of one score-table measure.

    Attributes
    ----------
    measure : str
        Score-table measure (:data:`palsyflow.measures.registry.SCORE_MEASURES`).
    sem : float
        Standard error of measurement, in the measure's unit.
    mdc : float
        MDC95 = 1.96 * sqrt(2) * sem.
    dof : int
        Degrees of freedom of the SEM (repeated sessions minus subjects).
    basis : str
        Which repeated healthy sessions it comes from.
    """

    measure: str
    sem: float
    mdc: float
    dof: int
    basis: str


@dataclass(frozen=True)
class HealthyBand:
    """Range of one measure over the healthy sessions measured by ``benchmarks/mdc.py``.

    Attributes
    ----------
    measure : str
    low, high : float
        Smallest and largest healthy value, in the measure's unit.
    n : int
        Healthy sessions.
    """

    measure: str
    low: float
    high: float
    n: int


_FACE = "healthy-tasks photos (mpeschel A/B; app_uploads subjects' repeated takes) and GRID S05 (two clips)"
_S05 = "GRID S05 (two clips of one speaker, video sessions)"
_CLARITY = "binomial word sampling at the healthy clarity reference, 6-word GRID sentences (Thornton & Raffin 1978, doi:10.1044/jshr.2103.507); GRID S05 gives a smaller one-pair estimate"

#: MDC95 per measure, from benchmarks/results/mdc-2026-12-02.json (``python benchmarks/mdc.py``).
MDC_TABLE: dict[str, MinimalChange] = {
    "symmetry_index": MinimalChange("symmetry_index", sem=1.368, mdc=3.792, dof=5, basis=_FACE),
    "rest_symmetry": MinimalChange("rest_symmetry", sem=0.988, mdc=2.738, dof=5, basis=_FACE),
    "mov_symmetry": MinimalChange("mov_symmetry", sem=2.502, mdc=6.935, dof=5, basis=_FACE),
    "mov_commissure_excursion_symmetry": MinimalChange("mov_commissure_excursion_symmetry", sem=1.517, mdc=4.205, dof=1, basis=_S05),
    "rest_brow_height_symmetry": MinimalChange("rest_brow_height_symmetry", sem=0.52, mdc=1.442, dof=5, basis=_FACE),
    "rest_palpebral_fissure_height_symmetry": MinimalChange("rest_palpebral_fissure_height_symmetry", sem=3.468, mdc=9.612, dof=5, basis=_FACE),
    "rest_nasolabial_height_symmetry": MinimalChange("rest_nasolabial_height_symmetry", sem=0.796, mdc=2.206, dof=5, basis=_FACE),
    "rest_commissure_height_symmetry": MinimalChange("rest_commissure_height_symmetry", sem=0.538, mdc=1.491, dof=5, basis=_FACE),
    "speech_clarity": MinimalChange("speech_clarity", sem=9.741, mdc=27.0, dof=1, basis=_CLARITY),
    "speech_dysarthria_index": MinimalChange("speech_dysarthria_index", sem=2.92, mdc=8.093, dof=1, basis=_S05),
}
#: Healthy range per measure (smallest and largest healthy session), from the same JSON.
HEALTHY_BANDS: dict[str, HealthyBand] = {
    "symmetry_index": HealthyBand("symmetry_index", low=85.358, high=97.64, n=18),
    "rest_symmetry": HealthyBand("rest_symmetry", low=95.511, high=98.591, n=18),
    "mov_symmetry": HealthyBand("mov_symmetry", low=74.546, high=99.59, n=18),
    "mov_commissure_excursion_symmetry": HealthyBand("mov_commissure_excursion_symmetry", low=74.546, high=99.59, n=11),
    "rest_brow_height_symmetry": HealthyBand("rest_brow_height_symmetry", low=90.978, high=99.173, n=18),
    "rest_palpebral_fissure_height_symmetry": HealthyBand("rest_palpebral_fissure_height_symmetry", low=92.307, high=99.777, n=18),
    "rest_nasolabial_height_symmetry": HealthyBand("rest_nasolabial_height_symmetry", low=96.307, high=99.994, n=18),
    "rest_commissure_height_symmetry": HealthyBand("rest_commissure_height_symmetry", low=95.358, high=99.969, n=18),
    "speech_clarity": HealthyBand("speech_clarity", low=83.333, high=100.0, n=11),
    "speech_dysarthria_index": HealthyBand("speech_dysarthria_index", low=2.633, high=15.805, n=11),
}


def change_label(delta: float | None, mdc: float | None, higher_is_better: bool | None) -> ChangeLabel | None:
    """Label one change of a measure.

    Parameters
    ----------
    delta : float or None
        Later value minus earlier value, in the measure's unit.
    mdc : float or None
        MDC95 of the measure (:data:`MDC_TABLE`), same unit.
    higher_is_better : bool or None
        The measure's direction (registry).

    Returns
    -------
    {"within noise", "improvement", "worsening"} or None
        ``"within noise"`` when ``|delta| <= mdc``; otherwise by the sign of ``delta``
        and the direction. None when ``delta``, ``mdc`` or the direction is unknown.
    """
    if delta is None or mdc is None or higher_is_better is None or math.isnan(delta) or math.isnan(mdc):
        return None
    if abs(delta) <= mdc:
        return "within noise"
    return "improvement" if (delta > 0) == bool(higher_is_better) else "worsening"


@dataclass(frozen=True)
class SessionChange:
    """The longitudinal reading of one measure at one session.

    Attributes
    ----------
    value : float or None
    since_baseline, since_previous : float or None
        Value minus the first (resp. the previous measured) session's value; at the
        first session ``since_baseline`` is 0 and ``since_previous`` None.
    label_baseline, label_previous : str or None
        :func:`change_label` of those changes.
    events : tuple of str
        ``"plateau"`` and/or ``"regression"`` (see the module docstring).
    """

    value: float | None
    since_baseline: float | None
    since_previous: float | None
    label_baseline: ChangeLabel | None
    label_previous: ChangeLabel | None
    events: tuple[Event, ...] = ()


def read_series(
    values: Sequence[float | None],
    measure: str,
    mdc: float | None = None,
    plateau_sessions: int = PLATEAU_SESSIONS,
) -> tuple[SessionChange, ...]:
    """Change labels and events of one measure over a subject's sessions.

    Parameters
    ----------
    values : sequence of float or None, shape (n_sessions,)
        The measure at each session, oldest first; None or NaN = not measured (such a
        session gets no labels, and the next measured one compares with the last
        measured before it).
    measure : str
        Score-table measure (its direction from the registry).
    mdc : float, optional
        MDC95; default :data:`MDC_TABLE` (None there: no labels and no events).
    plateau_sessions : int
        Sessions a plateau spans (>= 2).

    Returns
    -------
    tuple of SessionChange, shape (n_sessions,)

    Raises
    ------
    KeyError
        If ``measure`` is not a score-table measure.
    ValueError
        If ``plateau_sessions < 2``.
    """
    if plateau_sessions < 2:
        raise ValueError("a plateau spans at least 2 sessions")
    better = SCORE_BY_NAME[measure].higher_is_better
    if mdc is None and measure in MDC_TABLE:
        mdc = MDC_TABLE[measure].mdc
    sign = 1.0 if better else -1.0
    out: list[SessionChange] = []
    seen: list[float] = []
    for v in values:
        v = None if v is None or math.isnan(float(v)) else float(v)
        if v is None:
            out.append(SessionChange(None, None, None, None, None))
            continue
        base = seen[0] if seen else v  # the baseline itself: change 0, like change_since_first
        prev = seen[-1] if seen else None
        d_base = None if base is None else v - base
        d_prev = None if prev is None else v - prev
        lb, lp = change_label(d_base, mdc, better), change_label(d_prev, mdc, better)
        events: list[Event] = []
        if mdc is not None and better is not None:
            window = (seen + [v])[-plateau_sessions:]
            if len(window) == plateau_sessions and max(window) - min(window) <= mdc:
                events.append("plateau")
            best = max(seen, key=lambda x: sign * x) if seen else None
            improved = best is not None and sign * (best - seen[0]) > mdc
            if lp == "worsening" or (improved and sign * (best - v) > mdc):
                events.append("regression")
        out.append(SessionChange(v, d_base, d_prev, lb, lp, tuple(events)))
        seen.append(v)
    return tuple(out)


#: Fewer sessions with both measures than this: a rank correlation is not interpretable
#: (with 3 sessions only 6 orderings exist and rho can only be -1, -0.5, 0.5 or 1).
MIN_CORRELATION_SESSIONS = 4


@dataclass(frozen=True)
class RecoveryCorrelation:
    """Spearman's rank correlation of two measures over one subject's sessions.

    Attributes
    ----------
    face_measure, speech_measure : str
        Score-table measures (e.g. ``symmetry_index`` and ``speech_clarity``).
    n : int
        Sessions with both values.
    rho : float or None
        Spearman's rho of the raw values, in [-1, 1]; None when ``n < 2`` or a measure
        does not vary.
    concordance : float or None
        ``rho`` signed so that +1 means "both improve together" (a measure where lower
        is better, such as the dysarthria index, counts reversed).
    interpretable : bool
        ``n >= MIN_CORRELATION_SESSIONS`` and ``rho`` is defined.
    note : str or None
        Why the figure should not be read, when it should not.
    """

    face_measure: str
    speech_measure: str
    n: int
    rho: float | None
    concordance: float | None
    interpretable: bool
    note: str | None = None


def recovery_correlation(
    face: Sequence[float | None],
    speech: Sequence[float | None],
    face_measure: str = SYMMETRY_INDEX,
    speech_measure: str = "speech_clarity",
) -> RecoveryCorrelation:
    """Spearman's rho between the face and the speech recovery curves of one subject.

    ``rho`` is the Pearson correlation of the ranks of the paired values (ties get
    their average rank; Spearman 1904, Am J Psychol 15(1):72-101, doi:10.2307/1412159;
    :func:`scipy.stats.spearmanr`). Pure: no I/O.

    Parameters
    ----------
    face, speech : sequence of float or None, shape (n_sessions,)
        The two measures at the subject's sessions, the same sessions in the same order;
        None or NaN = not measured (that session is left out).
    face_measure, speech_measure : str
        Score-table measures (their direction from the registry gives ``concordance``).

    Returns
    -------
    RecoveryCorrelation
        With a note when fewer than :data:`MIN_CORRELATION_SESSIONS` sessions have both
        values or a measure is constant over them.

    Raises
    ------
    ValueError
        If the two sequences differ in length.
    KeyError
        If a measure is not a score-table measure.
    """
    if len(face) != len(speech):
        raise ValueError(f"{len(face)} face values for {len(speech)} speech values: the sessions must be the same")
    better = SCORE_BY_NAME[face_measure].higher_is_better, SCORE_BY_NAME[speech_measure].higher_is_better
    pairs = [(float(a), float(b)) for a, b in zip(face, speech)
             if a is not None and b is not None and not math.isnan(float(a)) and not math.isnan(float(b))]
    n = len(pairs)
    rho: float | None = None
    note: str | None = None
    if n < 2:
        note = f"{n} session{'s' if n != 1 else ''} with both face and speech measures: no correlation"
    elif len({a for a, _ in pairs}) < 2 or len({b for _, b in pairs}) < 2:
        note = "a measure does not change over the sessions: no correlation"
    else:
        from scipy.stats import spearmanr

        rho = float(spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic)
    if note is None and n < MIN_CORRELATION_SESSIONS:
        note = f"only {n} sessions with both measures: not interpretable (needs at least {MIN_CORRELATION_SESSIONS})"
    same = (better[0] is not False) == (better[1] is not False)
    concordance = None if rho is None else (rho if same else -rho)
    return RecoveryCorrelation(face_measure, speech_measure, n, rho, concordance,
                               rho is not None and n >= MIN_CORRELATION_SESSIONS, note)
