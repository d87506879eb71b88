"""The export date shift: keyed, stable, in range, and different per subject."""

from __future__ import annotations

import datetime as dt

import pytest

from palsyflow.exports.dates import SHIFT_MAX_DAYS, SHIFT_MIN_DAYS, date_shift_days, shift_date

KEY = b"k" * 32


def test_shift_is_stable_in_range_and_keyed():
    shifts = [date_shift_days(KEY, "A", f"s{i}") for i in range(200)]
    assert all(-SHIFT_MAX_DAYS <= s <= -SHIFT_MIN_DAYS for s in shifts)
    assert date_shift_days(KEY, "A", "s1") == shifts[1]
    assert len(set(shifts)) > 150  # subjects get different offsets
    other = [date_shift_days(b"x" * 32, "A", f"s{i}") for i in range(200)]
    assert sum(a == b for a, b in zip(shifts, other)) < 10  # another secret, other offsets
    assert date_shift_days(KEY, "A", "bc") != date_shift_days(KEY, "Ab", "c")


def test_short_secret_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        date_shift_days(b"short", "A", "s1")


def test_intervals_are_kept():
    d = date_shift_days(KEY, "A", "p01")
    a, b = dt.date(2026, 1, 5), dt.date(2026, 3, 2)
    assert shift_date(b, d) - shift_date(a, d) == b - a
    assert shift_date(a, d) != a
