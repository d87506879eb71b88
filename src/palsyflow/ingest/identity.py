"""Identity rules of an upload against what is already known: one subject, one set of facts.

Pure functions over labels and values (no store, no files): the ingest stage
(:func:`palsyflow.stages.ingest.ingest_drop`) reads what the store knows and asks these
rules whether a manifest row may join it. Each returns the refusals as sentences (an
empty list when the row is fine), without the ``manifest.csv line <n>:`` prefix
(:func:`palsyflow.ingest.manifest.at_line` adds it).

Rules
-----
* A subject's ``healthy`` and ``simulated`` flags do not change: a row that says
  otherwise than the store is refused (a ``healthy`` never stated is filled in).
* A subject has one onset date: a row giving another date than the store's is refused
  (an onset never stated is filled in), and so is an onset after a session the store
  already holds for the subject (the palsy cannot start after a visit for it).
* A recording (sha256) belongs to one session: the same content under another subject,
  another session or another site is refused; one file serving several tasks of one
  session (a video for ``rest`` and ``speech``) is fine. A refusal names the other
  subject and session only when it is of the same site; another site's labels are
  never shown ("another site").
* A new subject label that differs from a stored one of the same site only in letter
  case (``n01`` beside ``N01``) is refused: labels are case-sensitive (BIDS), so it
  would silently become a second person, and the two raw folders collide on a
  case-insensitive file system.
* A new session dated before the subject's latest stored session is refused (a date
  typo would otherwise become the subject's first visit, the baseline of every
  change score) unless ``ingest.allow_earlier_sessions`` is set. Sessions already
  stored are not re-judged, so ingesting a drop again changes nothing. The rows of one
  drop are registered in manifest order, so a row is also judged against the sessions
  its earlier rows stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

FLAGS: tuple[str, ...] = ("healthy", "simulated")


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def subject_fact_conflicts(
    subject: str,
    given: dict[str, bool | None],
    stored: dict[str, bool | None] | None,
) -> list[str]:
    """Refusals for flags that contradict the stored subject.

    Parameters
    ----------
    subject : str
        Subject label.
    given : dict
        ``{"healthy": ..., "simulated": ...}`` from the manifest row; ``None`` = not said.
    stored : dict or None
        The same flags as stored (``healthy`` may be ``None``: never said); ``None``
        when the subject is new.

    Returns
    -------
    list of str
        One sentence per contradicted flag, naming both values.
    """
    if stored is None:
        return []
    out = []
    for flag in FLAGS:
        new, old = given.get(flag), stored.get(flag)
        if new is None or old is None or bool(new) == bool(old):
            continue
        out.append(
            f"subject {subject} is {flag}={_yes_no(new)} here but the store already holds it as "
            f"{flag}={_yes_no(old)}; a subject's {flag} flag does not change: correct the row, "
            "or give the other person a new subject label"
        )
    return out


def onset_conflict(
    subject: str,
    given: dt.date | None,
    stored: dt.date | None,
    sessions: Sequence[tuple[str, dt.date]] = (),
) -> list[str]:
    """Refusal for an onset date that contradicts the stored subject.

    Parameters
    ----------
    subject : str
        Subject label.
    given : datetime.date or None
        The row's ``onset``; None = not said (never a conflict).
    stored : datetime.date or None
        The stored onset (None: never said or a new subject).
    sessions : sequence of (label, date)
        The subject's stored sessions.

    Returns
    -------
    list of str
        One sentence when ``given`` differs from ``stored`` or lies after a stored
        session's date; else empty.
    """
    if given is None:
        return []
    if stored is not None and stored != given:
        return [
            f"subject {subject} has onset {given.isoformat()} here but the store already holds "
            f"{stored.isoformat()}; a subject has one onset date: correct the row"
        ]
    earlier = [(label, day) for label, day in sessions if day is not None and day < given]
    if earlier:
        label, day = min(earlier, key=lambda s: s[1])
        return [
            f"onset {given.isoformat()} is after subject {subject}'s stored session {label} "
            f"({day.isoformat()}); the onset cannot follow a visit for the palsy: correct the row"
        ]
    return []


def content_conflict(
    site: str,
    subject: str,
    session: str,
    sha256: str,
    uses: Iterable[tuple[str, str, str, str]],
) -> list[str]:
    """Refusal when the same content is already registered for another session.

    Parameters
    ----------
    site, subject, session : str
        Labels the row would register the content under.
    sha256 : str
        Hex digest of the file.
    uses : iterable of (site, subject, session, task)
        Every registered recording with this content (any site).

    Returns
    -------
    list of str
        Empty when every use is of this very session (another task of the same file);
        else one sentence naming the first other use, by labels within ``site`` and as
        "another site" otherwise.
    """
    others = [u for u in uses if (u[0], u[1], u[2]) != (site, subject, session)]
    if not others:
        return []
    same_site = [u for u in others if u[0] == site]
    short = sha256[:12]
    if same_site:
        _, o_subject, o_session, o_task = same_site[0]
        where = f"subject {o_subject}, session {o_session} (task {o_task}) of this site"
    else:
        where = "another site"
    return [
        f"the same recording (sha256 {short}...) is already registered under {where}; "
        "one recording belongs to one subject and session: check the row's subject and date"
    ]


def session_order_problem(
    subject: str,
    session: str,
    session_date: dt.date,
    stored_sessions: Sequence[tuple[str, dt.date]],
    allow_earlier: bool,
) -> list[str]:
    """Refusal for a new session dated before the subject's latest stored session.

    Parameters
    ----------
    subject, session : str
        Subject and session labels of the row.
    session_date : datetime.date
        The row's session date.
    stored_sessions : sequence of (label, date)
        The subject's stored sessions (any order); empty for a new subject.
    allow_earlier : bool
        ``ingest.allow_earlier_sessions``.

    Returns
    -------
    list of str
        Empty when the session is already stored, is not earlier than every stored
        one's latest, or ``allow_earlier`` is set.
    """
    if allow_earlier or not stored_sessions or any(label == session for label, _ in stored_sessions):
        return []
    latest_label, latest = max(stored_sessions, key=lambda s: (s[1], s[0]))
    if session_date >= latest:
        return []
    return [
        f"session {session} of subject {subject} is dated before its latest stored session "
        f"{latest_label} ({latest.isoformat()}); a date typo? correct the date, or set "
        "ingest.allow_earlier_sessions: true in params.yaml to add an earlier visit"
    ]


def case_variant_problem(subject: str, known: Iterable[str]) -> list[str]:
    """Refusal for a new subject label equal to a known one of the site but for letter case.

    Parameters
    ----------
    subject : str
        The row's subject label.
    known : iterable of str
        The site's stored subject labels.

    Returns
    -------
    list of str
        Empty when ``subject`` is itself known or no known label matches it
        case-insensitively.
    """
    known = list(known)
    if subject in known:
        return []
    twins = sorted(k for k in known if k.lower() == subject.lower())
    if not twins:
        return []
    return [
        f"subject {subject} differs from subject {twins[0]} of this site only in letter case; labels are "
        f"case-sensitive, so it would be a second person: write {twins[0]} if it is the same person, "
        "or choose a label that differs in more than case"
    ]
