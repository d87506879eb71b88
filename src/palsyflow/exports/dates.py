"""Per-subject date shifting for exports (BIDS-style de-identification of visit dates).

Every date of one subject is moved by the same whole number of days, so the intervals
between a subject's sessions (the course of a palsy) survive while the calendar dates
do not. The offset is derived from an installation secret with HMAC-SHA256 (RFC 2104,
doi:10.17487/RFC2104): the same secret, site and subject always give the same offset
(re-exports agree with each other), and without the secret the offset cannot be
recomputed from the labels. The BIDS specification recommends shifting dates in
``*_scans.tsv`` / ``*_sessions.tsv`` rather than dropping them (BIDS 1.11, "Scans file",
https://bids-specification.readthedocs.io/en/stable/modality-agnostic-files.html).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

#: The shift moves dates back by at least this many days ...
SHIFT_MIN_DAYS = 365
#: ... and at most this many (1 to 10 years into the past).
SHIFT_MAX_DAYS = 3652

_CONTEXT = b"palsyflow/export/date-shift/v1"


def date_shift_days(secret: bytes, site: str, subject: str) -> int:
    """The number of days every date of one subject is shifted by in an export.

    ``-(SHIFT_MIN_DAYS + n mod (SHIFT_MAX_DAYS - SHIFT_MIN_DAYS + 1))`` where ``n`` is
    the first 8 bytes (big-endian) of ``HMAC-SHA256(secret, context | site | subject)``
    (fields NUL-separated so that ``("a", "bc")`` and ``("ab", "c")`` differ).

    Parameters
    ----------
    secret : bytes
        The installation's secret (at least 16 bytes).
    site, subject : str
        Labels of the subject.

    Returns
    -------
    int
        A negative offset in days, in ``[-SHIFT_MAX_DAYS, -SHIFT_MIN_DAYS]``.

    Raises
    ------
    ValueError
        If ``secret`` is shorter than 16 bytes.
    """
    if len(secret) < 16:
        raise ValueError(f"the date-shift secret must be at least 16 bytes, got {len(secret)}")
    msg = b"\x00".join((_CONTEXT, site.encode(), subject.encode()))
    n = int.from_bytes(hmac.new(secret, msg, hashlib.sha256).digest()[:8], "big")
    return -(SHIFT_MIN_DAYS + n % (SHIFT_MAX_DAYS - SHIFT_MIN_DAYS + 1))


def shift_date(day: dt.date, days: int) -> dt.date:
    """``day`` moved by ``days`` (a :func:`date_shift_days` offset)."""
    return day + dt.timedelta(days=days)
