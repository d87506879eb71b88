"""What one session's report says, extracted from the long score table.

:func:`build_session_report` turns rows of :data:`palsyflow.schemas.SCORE_SCHEMA` into
a :class:`SessionReport`: plain Python values that the plot, summary and PDF code read
without touching polars. Left and right are the patient's sides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from palsyflow.config import ReportParams
from palsyflow.measures.registry import FEATURE_BY_NAME, MOVEMENT_COMPOSITE, REGIONS, REST_SYMMETRY, SYMMETRY_INDEX
from palsyflow.measures.scales import ScaleEstimates, session_scales
from palsyflow.measures.symmetry import basis_session
from palsyflow.schemas import SCORE_SCHEMA
from palsyflow.measures.longitudinal import (
    HEALTHY_BANDS,
    MDC_MEASURES,
    MDC_TABLE,
    RecoveryCorrelation,
    SessionChange,
    read_series,
    recovery_correlation,
)

#: Overall symmetry measure (region ``"overall"``).
OVERALL_MEASURE = SYMMETRY_INDEX
#: Speech measures in report order, with a reader-facing label.
SPEECH_LABELS: dict[str, str] = {
    "speech_clarity": "Speech clarity (machine intelligibility)",
    "speech_dysarthria_index": "Dysarthria screening index",
    "speech_articulation_rate_syl_s": "Articulation rate",
    "speech_rate_syl_s": "Speech rate",
    "speech_pause_ratio": "Pause time (share)",
    "speech_pause_mean_s": "Mean pause",
    "speech_f0_sd_st": "Pitch variation (connected speech)",
    "speech_connected_cpps_db": "CPPS (connected speech)",
    "speech_fcr": "Vowel centralisation (FCR)",
    "speech_jitter_local_pct": "Jitter (local), vowel",
    "speech_shimmer_local_pct": "Shimmer (local), vowel",
    "speech_shimmer_local_db": "Shimmer (local, dB), vowel",
    "speech_hnr_db": "Harmonics-to-noise ratio, vowel",
    "speech_cpps_db": "CPPS, vowel",
    "speech_vowel_f0_sd_hz": "f0 SD, vowel",
    "speech_vowel_duration_s": "Vowel duration",
    "speech_avqi": "AVQI",
    **{f"speech_ddk_{s}_rate_syl_s": f"DDK rate /{s}/" for s in ("pa", "ta", "ka", "pataka")},
    **{f"speech_ddk_{s}_cv": f"DDK irregularity /{s}/ (CV)" for s in ("pa", "ta", "ka", "pataka")},
}
#: Components of the overall index (rest and movement), with reader-facing labels.
COMPONENT_LABELS: dict[str, str] = {
    "rest_symmetry": "At rest (mean of the regions)",
    "mov_commissure_excursion_symmetry": "Mouth movement (speech)",
    "mov_symmetry": "Movement (all movement measured)",
}
REGION_LABELS: dict[str, str] = {
    "brow": "Brow",
    "eye": "Eye",
    "cheek": "Cheek",
    "mouth": "Mouth",
    "overall": "Overall (symmetry index)",
}


#: Session-table families of the millimetre table (Emotrics-equivalent, iris 11.77 mm),
#: with reader-facing labels, in report order: ``<family>_left``/``_right`` columns, or
#: one bilateral column named as the family.
MILLIMETRE_LABELS: dict[str, str] = {
    "rest_emotrics_brow_height": "Brow height, rest",
    "rest_emotrics_mrd1": "MRD1, rest",
    "rest_emotrics_mrd2": "MRD2, rest",
    "rest_emotrics_palpebral_fissure_height": "Palpebral fissure height, rest",
    "rest_emotrics_commissure_excursion": "Commissure excursion, rest",
    "rest_emotrics_commissure_height_deviation": "Commissure height deviation, rest",
    "task_brow_raise_emotrics_brow_height": "Brow height, brow raise",
    "task_smile_emotrics_commissure_excursion": "Commissure excursion, smile",
    "task_smile_emotrics_smile_angle": "Smile angle, smile",
    "task_smile_emotrics_dental_show": "Dental show, smile",
    "synkinesis_ocular_smile_mm": "Eye narrowing in smile (ocular synkinesis)",
    "synkinesis_ocular_pucker_mm": "Eye narrowing in pucker (ocular synkinesis)",
    "lagophthalmos_gap_mm": "Eye-closure gap, full closure (lagophthalmos)",
}


@dataclass(frozen=True)
class MillimetreRow:
    """One Emotrics-equivalent measure of the session, per patient side.

    Attributes
    ----------
    family : str
        Session-table family (a key of :data:`MILLIMETRE_LABELS`).
    label : str
    unit : str
        ``mm`` or ``deg`` (:data:`palsyflow.measures.registry.UNITS`).
    left, right : float or None
        The patient's sides; both None for a bilateral measure.
    difference : float or None
        ``left - right``; for a bilateral measure (a height deviation) its value.
    """

    family: str
    label: str
    unit: str
    left: float | None
    right: float | None
    difference: float | None


def millimetre_rows(session_row: Mapping[str, Any] | None) -> tuple[MillimetreRow, ...]:
    """The millimetre table of one session from its session-table row.

    Parameters
    ----------
    session_row : mapping or None
        A row of the session table (:func:`palsyflow.features.table.session_table`);
        missing columns count as not measured.

    Returns
    -------
    tuple of MillimetreRow
        In :data:`MILLIMETRE_LABELS` order, only the measures the session has (a value
        on at least one side); empty without a row.
    """
    if not session_row:
        return ()
    out: list[MillimetreRow] = []
    for fam, label in MILLIMETRE_LABELS.items():
        if fam in FEATURE_BY_NAME:
            v = _opt(session_row.get(fam))
            if v is not None:
                out.append(MillimetreRow(fam, label, FEATURE_BY_NAME[fam].unit, None, None, v))
            continue
        left, right = _opt(session_row.get(f"{fam}_left")), _opt(session_row.get(f"{fam}_right"))
        if left is None and right is None:
            continue
        diff = left - right if left is not None and right is not None else None
        out.append(MillimetreRow(fam, label, FEATURE_BY_NAME[f"{fam}_left"].unit, left, right, diff))
    return tuple(out)


@dataclass(frozen=True)
class ScaleReport:
    """The clinical-scale AUTOMATED ESTIMATES of one session, beside the clinician's grade.

    Attributes
    ----------
    estimates : ScaleEstimates
        :func:`palsyflow.measures.scales.session_scales` of the session-table row.
    clinician_hb_grade : int or None
        The clinician's House-Brackmann grade (1-6) from the manifest, None when not given.
    """

    estimates: ScaleEstimates
    clinician_hb_grade: int | None = None


def scale_report(session_row: Mapping[str, Any] | None) -> ScaleReport | None:
    """The scale section of one session from its session-table row.

    Parameters
    ----------
    session_row : mapping or None
        A row of the session table (scale inputs and ``hb_grade``, the clinician's).

    Returns
    -------
    ScaleReport or None
        None without a row, or when no scale could be estimated from it.
    """
    if not session_row:
        return None
    est = session_scales(session_row)
    if est.eface["total"] is None and est.sunnybrook["composite"] is None and est.eface["dynamic"] is None:
        return None
    grade = session_row.get("hb_grade")
    return ScaleReport(est, int(grade) if grade is not None else None)


def region_measure(region: str) -> str:
    """Score-table measure of a region's rest symmetry (``"rest_commissure_height_symmetry"`` for the mouth).

    The registry's :data:`~palsyflow.measures.registry.REST_SYMMETRY` (before, this built
    ``symmetry_<region>``, a name the score table does not have, so the regional rows and
    history lines were empty).
    """
    return REST_SYMMETRY[region]


@dataclass(frozen=True)
class MeasureRow:
    """One measure of the reported session.

    Attributes
    ----------
    measure, region, unit : str
        As in the score table.
    label : str
        Reader-facing name.
    value : float or None
    percentile : float or None
        0-100 against healthy faces; None without a normative model.
    z : float or None
    weaker_side : {"left", "right"} or None
        The patient's weaker side.
    side_basis : str or None
        Why it was named (:data:`palsyflow.measures.symmetry.SIDE_BASES`), e.g.
        ``"healthy-range"`` or ``"earlier-session:20260127"``; None without a side.
    change_since_first : float or None
        This session's value minus the subject's first session's value.
    """

    measure: str
    region: str
    label: str
    value: float | None
    unit: str | None
    percentile: float | None
    z: float | None
    weaker_side: str | None
    change_since_first: float | None
    side_basis: str | None = None

    @property
    def side_from_session(self) -> str | None:
        """The earlier session (``YYYYMMDD``) whose side this row keeps, else None."""
        return basis_session(self.side_basis) if self.weaker_side else None


@dataclass(frozen=True)
class HistoryPoint:
    """The symmetry scores of one of the subject's sessions.

    Attributes
    ----------
    session : str
        ``YYYYMMDD`` label.
    session_date : datetime.date
    symmetry_index : float or None
        Overall symmetry, 0-100.
    regions : dict
        Region name -> symmetry 0-100 (None when not measured that session).
    """

    session: str
    session_date: dt.date
    symmetry_index: float | None
    regions: dict[str, float | None] = field(default_factory=dict)
    movement: float | None = None


#: Speech measures whose recovery curve is correlated with the face's (:attr:`Longitudinal.recovery`).
RECOVERY_SPEECH_MEASURES: tuple[str, ...] = ("speech_clarity", "speech_dysarthria_index")


@dataclass(frozen=True)
class Longitudinal:
    """The subject's series read against measurement noise (:mod:`palsyflow.measures.longitudinal`).

    Attributes
    ----------
    measure : str
        The plotted measure (the symmetry index).
    mdc : float or None
        Its MDC95, 0-100 points (None when not known).
    healthy_low, healthy_high : float or None
        Its range over the healthy sessions of ``benchmarks/mdc.py``.
    healthy_n : int
        Number of those healthy sessions.
    series : tuple of SessionChange
        The symmetry index's reading at every :attr:`SessionReport.history` point, same order.
    this_session : dict
        Measure -> this session's :class:`SessionChange`, for the measures of
        :data:`~palsyflow.measures.longitudinal.MDC_MEASURES` the session has.
    mdc_by_measure : dict
        Measure -> MDC95 of those measures (those with a known MDC).
    recovery : tuple of RecoveryCorrelation
        Spearman's rho of the face's overall score against each speech measure of
        :data:`RECOVERY_SPEECH_MEASURES` the subject has, over the sessions up to this
        one that have both (:func:`~palsyflow.measures.longitudinal.recovery_correlation`;
        with its note when too few sessions make it uninterpretable).
    """

    measure: str
    mdc: float | None
    healthy_low: float | None
    healthy_high: float | None
    healthy_n: int
    series: tuple[SessionChange, ...]
    this_session: dict[str, SessionChange] = field(default_factory=dict)
    mdc_by_measure: dict[str, float] = field(default_factory=dict)
    recovery: tuple[RecoveryCorrelation, ...] = ()

    @property
    def events(self) -> tuple[str, ...]:
        """Events at the reported session (:attr:`this_session` of the plotted measure)."""
        c = self.this_session.get(self.measure)
        return c.events if c is not None else ()


def longitudinal_reading(subject_rows: pl.DataFrame, session: str) -> Longitudinal:
    """Change labels and events of one subject's sessions, read at ``session``.

    Parameters
    ----------
    subject_rows : polars.DataFrame
        Score-table rows of one subject at one site (all sessions).
    session : str
        The reported session (``YYYYMMDD``).

    Returns
    -------
    Longitudinal
        Series in session-date order over the sessions that have the plotted measure.
    """
    rows = subject_rows.filter(pl.col("measure").is_in(MDC_MEASURES)).sort("session_date", "session")
    order = rows.select("session", "session_date").unique().sort("session_date", "session")["session"].to_list()
    values = {(r["session"], r["measure"]): r["value"] for r in rows.iter_rows(named=True)}
    this: dict[str, SessionChange] = {}
    series: tuple[SessionChange, ...] = ()
    for m in MDC_MEASURES:
        sessions = [s for s in order if (s, m) in values]
        if not sessions:
            continue
        read = read_series([values[(s, m)] for s in sessions], m)
        if m == OVERALL_MEASURE:
            series = read
        if session in sessions:
            this[m] = read[sessions.index(session)]
    band = HEALTHY_BANDS.get(OVERALL_MEASURE)
    mdc = MDC_TABLE.get(OVERALL_MEASURE)
    upto = order[: order.index(session) + 1] if session in order else order
    recovery = tuple(
        recovery_correlation([values.get((s, OVERALL_MEASURE)) for s in upto], [values.get((s, m)) for s in upto],
                             OVERALL_MEASURE, m)
        for m in RECOVERY_SPEECH_MEASURES
        if any((s, m) in values for s in upto) and any((s, OVERALL_MEASURE) in values for s in upto)
    )
    return Longitudinal(
        measure=OVERALL_MEASURE,
        mdc=mdc.mdc if mdc else None,
        healthy_low=band.low if band else None,
        healthy_high=band.high if band else None,
        healthy_n=band.n if band else 0,
        series=series,
        this_session=this,
        mdc_by_measure={m: MDC_TABLE[m].mdc for m in this if m in MDC_TABLE},
        recovery=recovery,
    )


@dataclass(frozen=True)
class SessionReport:
    """Everything one session's report shows.

    Attributes
    ----------
    site, subject, session : str
        Pseudonymous identifiers (as in the score table).
    session_date : datetime.date
    regions : tuple of MeasureRow
        This session's regional symmetry rows, in :data:`REGIONS` order (regions
        without a score are left out).
    overall : MeasureRow or None
        The symmetry index row.
    speech : tuple of MeasureRow
        Speech measures with a value, in :data:`SPEECH_LABELS` order then any others by name.
    history : tuple of HistoryPoint
        All this subject's sessions at this site, oldest first (includes this one).
    simulated : bool
        True when any score of this session comes from simulated data.
    model_version : str or None
        Normative model version(s) used, comma-joined when several.
    healthy_range_percentile : float
        Overall percentiles at or above this are "within the healthy range": the
        plain-language summary then names no weaker side (landmark noise and normal
        asymmetry would make any side named there a guess).
    min_change_points : float
        Symmetry-index changes smaller than this are described as "about the same".
    components : tuple of MeasureRow
        The overall index's rest and movement components.
    millimetres : tuple of MillimetreRow
        Emotrics-equivalent measures of the session (:func:`millimetre_rows`); empty
        when no session-table row was given or it has none.
    longitudinal : Longitudinal or None
        MDC, healthy band, change labels and events (:func:`longitudinal_reading`); its
        ``series`` follows the history points that have a symmetry index.
    scales : ScaleReport or None
        eFACE, Sunnybrook and House-Brackmann automated estimates (:func:`scale_report`).
    days_since_onset : int or None
        Days from the subject's onset (manifest column ``onset``) to this session, from
        the session table; None when the onset is not known (:func:`onset_line`).
    """

    site: str
    subject: str
    session: str
    session_date: dt.date
    regions: tuple[MeasureRow, ...]
    overall: MeasureRow | None
    speech: tuple[MeasureRow, ...]
    history: tuple[HistoryPoint, ...]
    simulated: bool
    model_version: str | None
    min_change_points: float = 5.0
    healthy_range_percentile: float = 5.0
    components: tuple[MeasureRow, ...] = ()
    millimetres: tuple[MillimetreRow, ...] = ()
    longitudinal: Longitudinal | None = None
    scales: ScaleReport | None = None
    days_since_onset: int | None = None

    @property
    def first_session(self) -> HistoryPoint | None:
        """The subject's earliest session."""
        return self.history[0] if self.history else None

    @property
    def is_first_session(self) -> bool:
        """True when this is the subject's earliest session."""
        first = self.first_session
        return first is None or first.session == self.session


def _opt(v) -> float | None:
    return None if v is None else float(v)


def _measure_row(row: dict, label: str) -> MeasureRow:
    return MeasureRow(
        measure=row["measure"],
        region=row["region"],
        label=label,
        value=_opt(row["value"]),
        unit=row["unit"],
        percentile=_opt(row["percentile"]),
        z=_opt(row["z"]),
        weaker_side=row["weaker_side"],
        change_since_first=_opt(row["change_since_first"]),
        side_basis=row.get("side_basis"),
    )


def build_session_report(
    scores: pl.DataFrame,
    site: str,
    subject: str,
    session: str,
    params: ReportParams,
    session_row: Mapping[str, Any] | None = None,
) -> SessionReport:
    """Collect one session's report content from the long score table.

    Parameters
    ----------
    scores : polars.DataFrame
        Score table with :data:`~palsyflow.schemas.SCORE_SCHEMA` columns; may hold
        many subjects and sessions.
    site, subject, session : str
        The session to report (``session`` is the ``YYYYMMDD`` label).
    params : ReportParams
        Report parameters (``min_change_points`` is carried into the report).
    session_row : mapping, optional
        This session's row of the session table (the millimetre measures,
        :func:`millimetre_rows`).

    Returns
    -------
    SessionReport

    Raises
    ------
    KeyError
        If the table lacks a score column, or has no rows for that session.
    ValueError
        If a measure appears more than once for that session.
    """
    if "side_basis" not in scores.columns:  # a score table written before the basis was recorded
        scores = scores.with_columns(pl.lit(None, dtype=pl.Utf8).alias("side_basis"))
    missing = [c for c in SCORE_SCHEMA if c not in scores.columns]
    if missing:
        raise KeyError(f"score table lacks columns {missing}")
    subject_rows = scores.filter((pl.col("site") == site) & (pl.col("subject") == subject))
    this = subject_rows.filter(pl.col("session") == session)
    if this.height == 0:
        known = sorted(set(subject_rows["session"].drop_nulls().to_list()))
        raise KeyError(
            f"no scores for site={site!r} subject={subject!r} session={session!r}"
            + (f"; this subject's sessions: {known}" if known else "; subject not in the score table")
        )
    dupes = this.group_by("measure").len().filter(pl.col("len") > 1)["measure"].to_list()
    if dupes:
        raise ValueError(f"measures {sorted(dupes)} appear more than once for session {session!r}")

    by_measure = {r["measure"]: r for r in this.iter_rows(named=True)}
    regions = tuple(
        _measure_row(by_measure[region_measure(r)], REGION_LABELS[r])
        for r in REGIONS
        if region_measure(r) in by_measure
    )
    overall = (
        _measure_row(by_measure[OVERALL_MEASURE], REGION_LABELS["overall"])
        if OVERALL_MEASURE in by_measure
        else None
    )
    components = tuple(_measure_row(by_measure[m], label) for m, label in COMPONENT_LABELS.items() if m in by_measure)
    speech_names = [m for m in SPEECH_LABELS if m in by_measure]
    speech_names += sorted(
        m for m, r in by_measure.items() if r["region"] == "speech" and m not in SPEECH_LABELS
    )
    # only what was measured: a session's tasks decide which speech measures exist
    speech = tuple(
        _measure_row(by_measure[m], SPEECH_LABELS.get(m, m)) for m in speech_names if by_measure[m]["value"] is not None
    )

    wanted = [OVERALL_MEASURE, MOVEMENT_COMPOSITE] + [region_measure(r) for r in REGIONS]
    hist_rows = (
        subject_rows.filter(pl.col("measure").is_in(wanted))
        .group_by("session", "measure")
        .agg(pl.col("session_date").min(), pl.col("value").first())
    )
    dates = (
        subject_rows.group_by("session").agg(pl.col("session_date").min()).sort("session_date", "session")
    )
    values = {(r["session"], r["measure"]): r["value"] for r in hist_rows.iter_rows(named=True)}
    history = tuple(
        HistoryPoint(
            session=s,
            session_date=d,
            symmetry_index=_opt(values.get((s, OVERALL_MEASURE))),
            regions={r: _opt(values.get((s, region_measure(r)))) for r in REGIONS},
            movement=_opt(values.get((s, MOVEMENT_COMPOSITE))),
        )
        for s, d in dates.select("session", "session_date").iter_rows()
        if any((s, m) in values for m in wanted)
    )

    versions = sorted(set(this["model_version"].drop_nulls().to_list()))
    session_date = this["session_date"].drop_nulls()
    if session_date.len() == 0:
        raise ValueError(f"session {session!r} has no session_date")
    return SessionReport(
        site=site,
        subject=subject,
        session=session,
        session_date=session_date.min(),
        regions=regions,
        overall=overall,
        speech=speech,
        history=history,
        simulated=bool(this["simulated"].fill_null(False).any()),
        model_version=", ".join(versions) if versions else None,
        min_change_points=params.min_change_points,
        healthy_range_percentile=params.healthy_range_percentile,
        components=components,
        millimetres=millimetre_rows(session_row),
        longitudinal=longitudinal_reading(subject_rows, session),
        scales=scale_report(session_row),
        days_since_onset=_days(session_row),
    )


def _days(session_row: Mapping[str, Any] | None) -> int | None:
    v = (session_row or {}).get("days_since_onset")
    return None if v is None else int(v)


def onset_line(report: SessionReport) -> str | None:
    """The clinician report's header line for the time since onset, or None when unknown.

    ``"Day 42 since onset (6 weeks)"``: whole weeks from 14 days, whole months (30.44
    days) from 90 days. For the PDF header (:mod:`palsyflow.reports.pdf` places it).

    Parameters
    ----------
    report : SessionReport

    Returns
    -------
    str or None
    """
    d = report.days_since_onset
    if d is None:
        return None
    if d >= 90:
        return f"Day {d} since onset ({round(d / 30.44)} months)"
    if d >= 14:
        return f"Day {d} since onset ({d // 7} weeks)"
    return f"Day {d} since onset"
