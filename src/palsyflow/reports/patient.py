"""What the one-page patient report says, read off the clinician report's model.

:func:`build_patient_report` turns a :class:`~palsyflow.reports.model.SessionReport`
(the clinician report's content) into a :class:`PatientReport`: plain sentences at
about a 12-year-old's reading level, one traffic light per area, the overall
improvement in %, the points of a weekly recovery graph, the speech clarity in words
and a few things to talk about with the clinician. Nothing is measured or judged
again here: every light, side and change comes from a field of the clinician model
(the region rows' percentile and weaker side, the MDC95 labels and events of
:attr:`SessionReport.longitudinal`, the eye-closure finding of
:attr:`SessionReport.scales`), so the two reports cannot disagree. "Your left side"
is the patient's own left side.

The rules
---------
Traffic light of the whole face (the clinician report's overall row), of a face area
(its rest-symmetry row; for the mouth also the mouth-movement row, the worse of the
two counting) or of speech (the speech-clarity row):

- ``"red"``: the clinician report labels this session's value ``"worsening"`` since
  the first or the previous session, or marks a ``"regression"`` event (changes beyond
  the MDC95, :mod:`palsyflow.measures.longitudinal`); for the eyes also an eye that
  does not close fully (:func:`palsyflow.measures.scales.incomplete_closure_side`, the
  finding that raises the House-Brackmann estimate to IV).
- ``"green"``: not red, and the row's percentile against healthy faces is at or above
  :attr:`SessionReport.healthy_range_percentile` (the same threshold below which the
  clinician summary names a weaker side).
- ``"amber"``: not red, and the percentile is below that threshold.
- ``"grey"``: not red, and no comparison with healthy faces exists (no normative model).

Overall improvement since the first session, in %:

    improvement_pct = 100 * (I - I0) / I0

with ``I`` this session's overall symmetry index (0-100, 100 = both sides move
equally) and ``I0 = I - change_since_first`` the first session's, both as the
clinician report's overall row gives them. It is told as a rise or a fall only when
the clinician report reads the change as beyond noise
(:func:`palsyflow.reports.summary.change_since_first`); otherwise the page says
"about the same".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from palsyflow.measures.registry import MOVEMENT_SYMMETRY, REST_SYMMETRY
from palsyflow.measures.longitudinal import SessionChange
from palsyflow.reports.model import MeasureRow, SessionReport
from palsyflow.reports.summary import _MONTHS, carried_side, change_since_first, overall_reading, side_verdict

Light = Literal["green", "amber", "red", "grey"]
LIGHTS: tuple[str, ...] = ("green", "amber", "red", "grey")

#: The face areas of the patient report (clinician report regions), with their titles.
FACE_AREAS: dict[str, str] = {
    "brow": "Forehead and eyebrows",
    "eye": "Eyes",
    "cheek": "Cheeks",
    "mouth": "Smile and mouth",
}
SPEECH_AREA = "speech"
#: The whole face: the clinician report's overall row (the symmetry index).
OVERALL_AREA = "face"
AREA_TITLES: dict[str, str] = {OVERALL_AREA: "Whole face", **FACE_AREAS, SPEECH_AREA: "Speech"}
#: What a light means, printed as the page's key.
LIGHT_MEANING: dict[str, str] = {
    "green": "like people with no weak side",
    "amber": "not even yet",
    "red": "worse, or needs care",
    "grey": "could not check",
}
#: A word for each light, printed inside the page's key (colour is never the only cue).
LIGHT_WORD: dict[str, str] = {"green": "Green", "amber": "Yellow", "red": "Red", "grey": "Grey"}
PAGE_TITLE = "Your face and speech check"
SIMULATED_NOTE = "Test page: made-up data, not a real person."
AREAS_HEADING = "How each part of your face is doing"
CHANGE_HEADING = "Since your first visit"
GRAPH_TITLE = "Your score week by week"
GRAPH_Y = "How even your face is (100 = both sides the same)"
GRAPH_X = "Weeks since your first visit"
GRAPH_BAND = "Green band: scores of people with no weak side."
TALK_HEADING = "Things to talk about with your clinician"
FOOTER = ("Left and right mean your own left and right. "
          "A computer made these numbers from your videos. It is not a diagnosis. "
          "Your clinician has a longer report with more detail.")
#: Most "things to talk about" the page lists.
MAX_TALK = 4
#: Fewest it lists (general questions fill up).
MIN_TALK = 2


@dataclass(frozen=True)
class AreaLight:
    """The traffic light of one area and its one plain sentence.

    Attributes
    ----------
    area : str
        A key of :data:`AREA_TITLES` (``"face"``, ``"brow"``, ``"eye"``, ``"cheek"``, ``"mouth"``, ``"speech"``).
    title : str
        Its title on the page.
    light : {"green", "amber", "red", "grey"}
        The rule of the module docstring.
    sentence : str
    measure : str
        The clinician report's measure the light is read from (the worse one when several).
    worse : bool
        True when the clinician report labels the measure worse beyond noise (or a regression).
    """

    area: str
    title: str
    light: Light
    sentence: str
    measure: str
    worse: bool = False


@dataclass(frozen=True)
class RecoveryPoint:
    """One point of the weekly recovery graph.

    Attributes
    ----------
    weeks : float
        Weeks since the first session (days / 7).
    score : float
        The overall symmetry index of that session, 0-100.
    this_session : bool
        True for the reported session.
    """

    weeks: float
    score: float
    this_session: bool = False


@dataclass(frozen=True)
class PatientReport:
    """Everything the one-page patient report shows.

    Attributes
    ----------
    site, subject, session : str
        Pseudonymous identifiers (the file name uses the month only).
    month : str
        ``"April 2024"``: the only date the page prints.
    simulated : bool
        The clinician report's flag (a banner says it is test data).
    first_session : bool
    headline : str
        Which side moved less, or that both moved alike (the clinician summary's side
        sentence: :func:`palsyflow.reports.summary.side_sentence`).
    areas : tuple of AreaLight
        The whole face, the face areas the session has, then speech when measured.
    improvement_pct : float or None
        The module docstring's formula; None at the first session or without a score.
    change : {"first", "same", "up", "down"} or None
        :func:`palsyflow.reports.summary.change_since_first`.
    improvement_sentence : str
    recovery : tuple of RecoveryPoint
        The sessions with an overall score up to this one, oldest first.
    healthy_low, healthy_high : float or None
        The healthy range of the overall score (the clinician plot's green band).
    speech_sentence : str or None
        ``"The computer understood about 8 of every 10 words you read."``; None without speech clarity.
    talk_about : tuple of str
        :data:`MIN_TALK` to :data:`MAX_TALK` things to talk about with the clinician.
    """

    site: str
    subject: str
    session: str
    month: str
    simulated: bool
    first_session: bool
    headline: str
    areas: tuple[AreaLight, ...]
    improvement_pct: float | None
    change: str | None
    improvement_sentence: str
    recovery: tuple[RecoveryPoint, ...]
    healthy_low: float | None
    healthy_high: float | None
    speech_sentence: str | None
    talk_about: tuple[str, ...]


def month_label(d: dt.date) -> str:
    """``"April 2024"``: a visit's month, the finest date a patient-facing text names."""
    return f"{_MONTHS[d.month - 1]} {d.year}"


def _reading(report: SessionReport, measure: str) -> SessionChange | None:
    lon = report.longitudinal
    return lon.this_session.get(measure) if lon is not None else None


def is_worse(change: SessionChange | None) -> bool:
    """True when the clinician report reads a change as worse beyond noise.

    Parameters
    ----------
    change : SessionChange or None
        One measure's reading at the session (:attr:`Longitudinal.this_session`).

    Returns
    -------
    bool
        A ``"worsening"`` label since the first or the previous session, or a
        ``"regression"`` event.
    """
    if change is None:
        return False
    return "worsening" in (change.label_baseline, change.label_previous) or "regression" in change.events


def _healthy(row: MeasureRow, report: SessionReport) -> bool | None:
    if row.percentile is None:
        return None
    return row.percentile >= report.healthy_range_percentile


def _closure_side(report: SessionReport) -> str | None:
    sc = report.scales
    return sc.estimates.synkinesis.get("incomplete_closure_side") if sc is not None else None


def _face_light(report: SessionReport, area: str, rows: list[MeasureRow]) -> AreaLight:
    """The light of one face area from its clinician rows (the worst of them, module rules)."""
    readings = [(r, _reading(report, r.measure)) for r in rows]
    worse_rows = [r for r, c in readings if is_worse(c)]
    worse = bool(worse_rows)
    verdicts = [_healthy(r, report) for r in rows]
    healthy: bool | None = None if all(v is None for v in verdicts) else all(v is not False for v in verdicts)
    closure = _closure_side(report) if area == "eye" else None
    lead = next((r for r in rows if _healthy(r, report) is False), rows[0])
    side = lead.weaker_side if lead.weaker_side in ("left", "right") else None
    if area == OVERALL_AREA:
        side = side_verdict(report) if side_verdict(report) in ("left", "right") else None
    if worse:
        light: Light = "red"
        sentence = "This has got worse since an earlier visit."
    elif closure is not None:
        light = "red"
        sentence = f"Your {closure} eye did not close all the way."
    elif healthy:
        light = "green"
        sentence = "Both sides look alike here, as in people with no weak side."
    elif healthy is None:
        light = "grey"
        sentence = "We could not compare this with other faces this time."
    else:
        light = "amber"
        sentence = f"Your {side} side is still weaker here." if side else "The two sides are not even here yet."
    improved = any(c is not None and c.label_baseline == "improvement" for _, c in readings)
    if light != "green" and closure is None and not worse and improved:
        sentence += " It has got better since your first visit."
    if worse and closure is not None:
        sentence += f" Your {closure} eye did not close all the way."
    measure = (worse_rows[0] if worse_rows else lead).measure
    return AreaLight(area, AREA_TITLES[area], light, sentence, measure, worse)


def words_of_ten(clarity: float) -> int:
    """Words of every 10 understood for a clarity of ``clarity`` % words right, rounded half up.

    Parameters
    ----------
    clarity : float
        The clinician report's speech clarity, 0-100 (% of the prompt's words the
        recogniser got right, :mod:`palsyflow.speech.recognition`).

    Returns
    -------
    int
        0-10.
    """
    return max(0, min(10, int(clarity / 10.0 + 0.5)))


def speech_sentence(clarity: float) -> str:
    """``"The computer understood about 8 of every 10 words you read."``"""
    n = words_of_ten(clarity)
    if n == 10 and clarity >= 99.5:
        return "The computer understood all of the words you read."
    return f"The computer understood about {n} of every 10 words you read."


def _speech_light(report: SessionReport) -> AreaLight | None:
    row = next((r for r in report.speech if r.measure == "speech_clarity" and r.value is not None), None)
    if row is None:
        return None
    change = _reading(report, row.measure)
    worse = is_worse(change)
    healthy = _healthy(row, report)
    if worse:
        light: Light = "red"
        extra = "That is fewer than before."
    elif healthy:
        light, extra = "green", "That is like people with no weak side."
    elif healthy is None:
        light, extra = "grey", ""
    else:
        light, extra = "amber", "That is fewer than most people get."
    if not worse and change is not None and change.label_baseline == "improvement":
        extra = (extra + " It is more than at your first visit.").strip()
    sentence = (speech_sentence(row.value) + " " + extra).strip()
    return AreaLight(SPEECH_AREA, AREA_TITLES[SPEECH_AREA], light, sentence, row.measure, worse)


def improvement_pct(report: SessionReport) -> float | None:
    """Overall improvement since the first session, % (the module docstring's formula).

    Parameters
    ----------
    report : SessionReport

    Returns
    -------
    float or None
        ``100 * change_since_first / I0`` with ``I0`` the first session's overall
        symmetry index; None at the first session, without an overall score or change,
        or when ``I0`` is 0.
    """
    o = report.overall
    if report.is_first_session or o is None or o.value is None or o.change_since_first is None:
        return None
    first = o.value - o.change_since_first
    if first <= 0:
        return None
    return 100.0 * o.change_since_first / first


def _improvement_sentence(kind: str | None, pct: float | None) -> str:
    if kind == "first":
        return "This is your first visit, so there is nothing to compare yet."
    if kind is None or pct is None:
        return "We could not work out a change since your first visit."
    if kind == "same":
        return "Your face is about the same as at your first visit."
    if kind == "up":
        return f"Your face has got {abs(pct):.0f}% better since your first visit."
    return f"Your face has got {abs(pct):.0f}% worse since your first visit."


def _headline(report: SessionReport) -> str:
    """The clinician summary's side verdict (:func:`palsyflow.reports.summary.side_verdict`) in short words."""
    if report.overall is None or report.overall.value is None:
        return "We could not measure your whole face this time."
    verdict = side_verdict(report)
    carried = carried_side(report)
    if carried is not None and verdict != "healthy":  # within the healthy range no side is said (summary.side_sentence)
        side, ref = carried
        other = "right" if side == "left" else "left"
        month = f" in {_MONTHS[ref.month - 1]}" if isinstance(ref, dt.date) else ""
        return f"Your {side} side still moved a little less than your {other} side, as at your visit{month}."
    if verdict == "healthy":
        return "Both sides of your face moved about the same, as in people with no weak side."
    if verdict == "none":
        return "Neither side of your face moved clearly less than the other."
    other = "right" if verdict == "left" else "left"
    return f"Your {verdict} side moved less than your {other} side."


def _recovery(report: SessionReport) -> tuple[RecoveryPoint, ...]:
    # up to this session: a page never shows visits after its own
    points = [p for p in report.history if p.symmetry_index is not None and p.session_date <= report.session_date]
    if not points:
        return ()
    t0 = points[0].session_date
    return tuple(
        RecoveryPoint((p.session_date - t0).days / 7.0, p.symmetry_index, p.session == report.session) for p in points
    )


def _talk_about(report: SessionReport, areas: tuple[AreaLight, ...], kind: str | None) -> tuple[str, ...]:
    out: list[str] = []
    overall = overall_reading(report)
    if kind == "down" or is_worse(overall):
        out.append("Your face score went down. Ask what may have caused it and what could help.")
    worse = [a.title.lower() for a in areas if a.worse and a.area != OVERALL_AREA]
    if worse:
        out.append("What changed for the worse: " + ", ".join(worse) + ".")
    closure = _closure_side(report)
    if closure is not None:
        out.append(f"Your {closure} eye did not close all the way. Ask how to keep that eye safe.")
    if overall is not None and "plateau" in overall.events:
        out.append("Your score has stayed the same for your last three visits. Ask what the next step is.")
    speech = next((a for a in areas if a.area == SPEECH_AREA), None)
    if speech is not None and speech.light in ("amber", "red") and not speech.worse:
        out.append("How clear your speech is, and if speech practice could help.")
    if kind == "first":
        out.append("What these first results mean for you.")
    if kind == "up":
        out.append("How to keep up your good progress.")
    for filler in ("How your face feels day to day, and anything that worries you.", "Any questions you have about this page."):
        if len(out) >= MIN_TALK:
            break
        out.append(filler)
    return tuple(out[:MAX_TALK])


def build_patient_report(report: SessionReport) -> PatientReport:
    """The patient report of one session, from the clinician report's model.

    Parameters
    ----------
    report : SessionReport
        :func:`palsyflow.reports.model.build_session_report`'s result.

    Returns
    -------
    PatientReport
        Deterministic for a given report; every statement follows the rules of the
        module docstring.
    """
    areas: tuple[AreaLight, ...] = ()
    if report.overall is not None and report.overall.value is not None:
        areas += (_face_light(report, OVERALL_AREA, [report.overall]),)
    movement = [r for r in report.components if r.measure == MOVEMENT_SYMMETRY and r.value is not None]
    for r in report.regions:
        if r.region in FACE_AREAS and r.measure == REST_SYMMETRY[r.region]:
            # the mouth's light also reads the mouth movement row (the clinician's "Mouth movement")
            areas += (_face_light(report, r.region, [r] + (movement if r.region == "mouth" else [])),)
    speech = _speech_light(report)
    if speech is not None:
        areas += (speech,)
    kind = change_since_first(report)
    pct = improvement_pct(report)
    lon = report.longitudinal
    speech_row = next((r for r in report.speech if r.measure == "speech_clarity" and r.value is not None), None)
    return PatientReport(
        site=report.site,
        subject=report.subject,
        session=report.session,
        month=month_label(report.session_date),
        simulated=report.simulated,
        first_session=report.is_first_session,
        headline=_headline(report),
        areas=areas,
        improvement_pct=pct,
        change=kind,
        improvement_sentence=_improvement_sentence(kind, pct),
        recovery=_recovery(report),
        healthy_low=lon.healthy_low if lon is not None else None,
        healthy_high=lon.healthy_high if lon is not None else None,
        speech_sentence=speech_sentence(speech_row.value) if speech_row is not None else None,
        talk_about=_talk_about(report, areas, kind),
    )


def page_texts(p: PatientReport) -> tuple[str, ...]:
    """Every text the patient page prints, in page order (the renderer prints these).

    Parameters
    ----------
    p : PatientReport

    Returns
    -------
    tuple of str
    """
    out = [PAGE_TITLE, p.month]
    if p.simulated:
        out.append(SIMULATED_NOTE)
    out.append(p.headline)
    out.append(AREAS_HEADING)
    out += [f"{LIGHT_WORD[k]}: {v}." for k, v in LIGHT_MEANING.items()]
    for a in p.areas:
        out += [a.title, a.sentence]
    out += [CHANGE_HEADING, p.improvement_sentence, GRAPH_TITLE, GRAPH_Y, GRAPH_X]
    if p.healthy_low is not None and p.healthy_high is not None:
        out.append(GRAPH_BAND)
    out.append(TALK_HEADING)
    out += list(p.talk_about)
    out.append(FOOTER)
    return tuple(out)
