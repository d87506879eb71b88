"""A short, plain-language summary of a session report for the patient.

The wording is deliberately modest: these are measurements from a recording, compared
with recordings of people without facial weakness, not a diagnosis. "Your left side"
is the patient's own left side.
"""

from __future__ import annotations

import datetime as dt

from palsyflow.measures.longitudinal import SessionChange
from palsyflow.reports.model import MeasureRow, SessionReport

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_date(d: dt.date) -> str:
    """``12 March 2025`` (independent of the system locale)."""
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def _points(x: float) -> str:
    x = abs(x)
    return f"{x:.0f} point" + ("" if round(x) == 1 else "s")


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


#: Movement rows of the report (its components) and the words for where the movement was seen.
_MOVEMENT_WORDS = {"mov_commissure_excursion_symmetry": "the mouth"}


def _movement_region(report: SessionReport, side: str) -> str | None:
    """Words for the movement measure whose weaker side is ``side`` (lowest symmetry first)."""
    candidates = [
        r for r in report.components
        if r.measure in _MOVEMENT_WORDS and r.value is not None and r.weaker_side == side
    ]
    if not candidates:
        return None
    return _MOVEMENT_WORDS[min(candidates, key=lambda r: r.value).measure]


def side_verdict(report: SessionReport) -> str:
    """Which side moved less, as both patient texts word it: only from movement.

    The overall row's weaker side is the movement verdict (named only outside the
    healthy range and above noise, :func:`palsyflow.measures.symmetry.decide_sides`);
    resting positions (a brow height, a commissure height) never make the patient read
    that a side "moved less".

    Parameters
    ----------
    report : SessionReport

    Returns
    -------
    {"healthy", "none", "left", "right"}
        ``"healthy"``: the overall percentile is at or above
        :attr:`SessionReport.healthy_range_percentile`; ``"none"``: no side named;
        else the patient's weaker side.
    """
    overall = report.overall
    if overall is not None and overall.percentile is not None and overall.percentile >= report.healthy_range_percentile:
        return "healthy"
    side = overall.weaker_side if overall is not None else None
    return side if side in ("left", "right") else "none"


def carried_side(report: SessionReport) -> tuple[str, dt.date | str] | None:
    """The overall side when it is kept from an earlier session, with that session's date.

    Parameters
    ----------
    report : SessionReport

    Returns
    -------
    (side, date) or None
        The patient's side ("left"/"right") and the earlier session's date (its
        ``YYYYMMDD`` label when that session is not in the history), when the overall
        row's side has the basis ``earlier-session:<session>``
        (:func:`palsyflow.measures.symmetry.carry_sides`); else None.
    """
    overall = report.overall
    ref = overall.side_from_session if overall is not None else None
    if ref is None or overall.weaker_side not in ("left", "right"):
        return None
    dates = {h.session: h.session_date for h in report.history}
    return overall.weaker_side, dates.get(ref, ref)


def side_sentence(report: SessionReport) -> str:
    """The side sentence of the summary (:func:`side_verdict` in words).

    A side kept from an earlier session (:func:`carried_side`) is said as such: the
    same side as on that date, with this session's movement difference alone within
    the healthy range. Within the healthy range of the overall score no side is said,
    whatever its basis (the clinician table still shows it).
    """
    verdict = side_verdict(report)
    carried = carried_side(report)
    if carried is not None:
        side, ref = carried
        other = "right" if side == "left" else "left"
        on = format_date(ref) if isinstance(ref, dt.date) else ref
        if verdict != "healthy":
            return (
                f"Your {side} side moved less than your {other} side, as on {on}; the movement difference between "
                "the sides, taken alone, is within the range seen in people without facial weakness."
            )
    if verdict == "healthy":
        return "The difference between the two sides of your face was within the range seen in people without facial weakness."
    if verdict == "none":
        return "The measurements did not show one side of your face moving consistently less than the other."
    side = verdict
    other = "right" if side == "left" else "left"
    sentence = f"Your {side} side moved less than your {other} side"
    where = _movement_region(report, side)
    if where is not None:
        sentence += f", most clearly around {where}"
    return sentence + "."


def _percentile_sentence(overall: MeasureRow) -> str:
    if overall.percentile is None:
        return "A comparison with people without facial weakness is not available for this session."
    if overall.percentile < 0.5:
        return (
            "Compared with people without facial weakness, this score is below the 1st percentile: "
            "fewer than 1 in 100 of them scored lower."
        )
    p = int(round(min(overall.percentile, 100.0)))
    return (
        f"Compared with people without facial weakness, this score is at the {_ordinal(p)} "
        f"percentile: about {p} in 100 of them scored lower."
    )


def change_since_first(report: SessionReport) -> str | None:
    """How the overall score moved since the first session, in one word both reports share.

    The clinician report's MDC95 label of the symmetry index when there is one
    (:attr:`SessionReport.longitudinal`, so the patient summary, the patient report and
    the clinician's trend caption never disagree), else the
    :attr:`SessionReport.min_change_points` rule.

    Parameters
    ----------
    report : SessionReport

    Returns
    -------
    {"first", "same", "up", "down"} or None
        ``"first"`` at the subject's first session; ``"same"`` within noise; ``"up"``
        / ``"down"`` a rise / fall beyond it (higher = more even); None when this
        session has no overall change to read.
    """
    if report.is_first_session or report.first_session is None:
        return "first"
    change = report.overall.change_since_first if report.overall is not None else None
    if change is None:
        return None
    reading = overall_reading(report)
    within = reading.label_baseline == "within noise" if reading and reading.label_baseline else abs(change) < report.min_change_points
    if within:
        return "same"
    return "up" if change > 0 else "down"


def _change_sentence(report: SessionReport) -> str | None:
    kind = change_since_first(report)
    if kind == "first":
        return "This is your first measured session, so there is no change to report yet."
    if kind is None:
        return None
    change = report.overall.change_since_first
    since = f"Since your first session on {format_date(report.first_session.session_date)}, your score has"
    if kind == "same":
        return f"{since} stayed about the same (a change of {_points(change)})."
    direction = "risen" if kind == "up" else "fallen"
    return f"{since} {direction} by {_points(change)} (higher means more even movement)."


def overall_reading(report: SessionReport) -> SessionChange | None:
    """This session's longitudinal reading of the plotted score, or None."""
    lon = report.longitudinal
    return lon.this_session.get(lon.measure) if lon is not None else None


def _previous_sentence(report: SessionReport) -> str | None:
    """The change since the previous session, when it is beyond measurement noise."""
    reading = overall_reading(report)
    if reading is None or reading.since_previous is None or reading.label_previous in (None, "within noise"):
        return None
    change = reading.since_previous
    if reading.label_previous == "worsening":
        return (
            f"Since your last session your score went down by {_points(change)}, more than the usual "
            "day-to-day variation: please talk about this with your clinician."
        )
    return f"Since your last session your score went up by {_points(change)}, more than the usual day-to-day variation."


def _speech_sentences(report: SessionReport) -> list[str]:
    """The speech clarity and dysarthria index in plain words (none when not measured)."""
    by = {r.measure: r for r in report.speech}
    out: list[str] = []
    clarity = by.get("speech_clarity")
    if clarity is not None and clarity.value is not None:
        out.append(
            f"Speech clarity: a speech recogniser understood {clarity.value:.0f} of every 100 words you read "
            "(a machine's measure of how clearly you speak, not a listener's)."
        )
    index = by.get("speech_dysarthria_index")
    if index is not None and index.value is not None:
        out.append(
            f"Your speech screening score was {index.value:.0f} out of 100, where 0 means your speech measures "
            "are like those of healthy speakers and higher numbers mean they differ more."
        )
    return out


def plain_language_summary(report: SessionReport) -> str:
    """Two to eight short sentences about the session that a patient could read.

    Names the weaker side as the patient's own ("your left side"), says how the
    overall score compares with people without facial weakness (percentile), the
    change since the first session (within noise or not as the clinician report's trend
    caption says), a change since the previous session beyond noise, and, when speech was measured, the speech clarity
    and the dysarthria screening score. Deterministic for a given report.

    Parameters
    ----------
    report : SessionReport

    Returns
    -------
    str
    """
    sentences: list[str] = []
    overall = report.overall
    when = format_date(report.session_date)
    if overall is None or overall.value is None:
        sentences.append(f"An overall facial symmetry score could not be measured for your session on {when}.")
    else:
        sentences.append(
            f"On {when} your overall facial symmetry score was {overall.value:.0f} out of 100, "
            "where 100 means both sides moved equally."
        )
        sentences.append(side_sentence(report))
        sentences.append(_percentile_sentence(overall))
        change = _change_sentence(report)
        if change is not None:
            sentences.append(change)
        previous = _previous_sentence(report)
        if previous is not None:
            sentences.append(previous)
    sentences += _speech_sentences(report)
    sentences.append("These are measurements from a recording, not a diagnosis; please discuss them with your clinician.")
    return " ".join(sentences)
