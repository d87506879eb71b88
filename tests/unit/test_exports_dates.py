"""The export date shift (palsyflow.pseudonym): keyed, stable, in range, never zero, different per subject."""

from __future__ import annotations

import datetime as dt

import pytest

from palsyflow.pseudonym import MAX_SHIFT_DAYS, date_shift_days, shift_date

KEY = b"k" * 32


def test_shift_is_stable_in_range_and_keyed():
    shifts = [date_shift_days(KEY, "A", f"s{i}") for i in range(200)]
    assert all(1 <= abs(s) <= MAX_SHIFT_DAYS for s in shifts)  # never zero: a shifted date always moves
    assert date_shift_days(KEY, "A", "s1") == shifts[1]
    assert len(set(shifts)) > 150  # subjects get different offsets
    other = [date_shift_days(b"x" * 32, "A", f"s{i}") for i in range(200)]
    assert sum(a == b for a, b in zip(shifts, other)) < 10  # another secret, other offsets
    assert date_shift_days(KEY, "A", "bc") != date_shift_days(KEY, "Ab", "c")
    assert date_shift_days(KEY.decode(), "A", "s1") == shifts[1]  # the key file's text form keys the same


def test_short_secret_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        date_shift_days(b"short", "A", "s1")


def test_intervals_are_kept():
    d = date_shift_days(KEY, "A", "p01")
    a, b = dt.date(2026, 1, 5), dt.date(2026, 3, 2)
    assert shift_date(b, d) - shift_date(a, d) == b - a
    assert shift_date(a, d) != a
