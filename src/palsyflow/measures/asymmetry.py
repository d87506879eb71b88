"""The asymmetry convention and the weaker-side rule, each written once.

Asymmetry of a left/right pair (the patient's sides)
    ``a = |m_L - m_R| / max(|m_L|, |m_R|)``, clipped to ``[0, 1]``; ``0`` is perfect
    symmetry. **Both values 0 give 0** (two equal values are symmetric), a missing or
    non-finite value gives a missing asymmetry. The normalised left/right difference is
    the form of Emotrics-style facial asymmetry measures (Guarin et al. 2018, JAMA
    Facial Plast Surg 20(4):335, doi:10.1001/jamafacial.2018.0030). Symmetry scores
    are ``100 * (1 - a)`` (:mod:`palsyflow.conventions`).

Weaker side
    A measure's :class:`Direction` says which value marks the weaker side
    (``"smaller"``: less movement, a lower brow; ``"larger"``: a wider fissure, a lower
    commissure). A side is named only when both values are present, ``a > min_asym``
    **and** ``|m_L - m_R| > min_diff`` (a noise floor in the measure's unit); otherwise
    the weaker side is missing. Sources of each measure's direction are in
    :mod:`palsyflow.measures.registry`.

Signed asymmetry
    ``s = (m_L - m_R) / max(|m_L|, |m_R|)`` in ``[-1, 1]``, with ``|s|`` the asymmetry
    above (same zero and missing-value rules). Its sign says which side is larger, so
    healthy sessions give a *range* of signed asymmetries against which a session's
    side difference is judged (:func:`palsyflow.measures.symmetry.decide_sides`).

Each rule has a scalar form (:func:`asymmetry`, :func:`weaker_side`) and a polars form
(:func:`asymmetry_expr`, :func:`weaker_side_expr`) of the same definition; a unit test
checks that they agree on random inputs including zeros, nulls and NaN.
"""

from __future__ import annotations

import math
from typing import Literal

import polars as pl

from palsyflow.conventions import Side

Direction = Literal["smaller", "larger"]


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def asymmetry(left: float | None, right: float | None) -> float | None:
    """Asymmetry ``|L - R| / max(|L|, |R|)`` of one pair, in [0, 1].

    Parameters
    ----------
    left, right : float or None
        The patient's left and right values, same unit.

    Returns
    -------
    float or None
        0 when both are 0; None when either is None or not finite.

    Notes
    -----
    Source: module docstring (Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030).
    """
    if not (_finite(left) and _finite(right)):
        return None
    denom = max(abs(left), abs(right))  # type: ignore[arg-type]
    if denom == 0:
        return 0.0
    return float(min(1.0, abs(left - right) / denom))  # type: ignore[operator]


def signed_asymmetry(left: float | None, right: float | None) -> float | None:
    """Signed asymmetry ``(L - R) / max(|L|, |R|)`` of one pair, in [-1, 1].

    Parameters
    ----------
    left, right : float or None
        The patient's left and right values, same unit.

    Returns
    -------
    float or None
        Positive when the left value is larger; 0 when both are 0; None when either is
        None or not finite. ``abs(signed_asymmetry(l, r)) == asymmetry(l, r)``.

    Notes
    -----
    Source: module docstring (Guarin et al. 2018, doi:10.1001/jamafacial.2018.0030).
    """
    a = asymmetry(left, right)
    if a is None:
        return None
    return a if left > right else -a  # type: ignore[operator]


def weaker_side(
    direction: Direction,
    left: float | None,
    right: float | None,
    min_asym: float = 0.0,
    min_diff: float = 0.0,
) -> Side | None:
    """The side a measure names as weaker.

    Parameters
    ----------
    direction : {"smaller", "larger"}
        Which value marks the weaker side (the measure's registry entry).
    left, right : float or None
        The patient's left and right values.
    min_asym : float
        No side is named when :func:`asymmetry` is at most this (unitless).
    min_diff : float
        No side is named when ``|left - right|`` is at most this (the measure's unit).

    Returns
    -------
    "left", "right" or None

    Raises
    ------
    ValueError
        If ``direction`` is not ``"smaller"`` or ``"larger"``.
    """
    if direction not in ("smaller", "larger"):
        raise ValueError(f"direction must be 'smaller' or 'larger', got {direction!r}")
    a = asymmetry(left, right)
    if a is None or a <= min_asym or not abs(left - right) > min_diff:  # type: ignore[operator]
        return None
    left_larger = left > right  # type: ignore[operator]
    if direction == "larger":
        return "left" if left_larger else "right"
    return "right" if left_larger else "left"


def _num(col: str | pl.Expr) -> pl.Expr:
    e = pl.col(col) if isinstance(col, str) else col
    return e.cast(pl.Float64).fill_nan(None)


def asymmetry_expr(left: str | pl.Expr, right: str | pl.Expr) -> pl.Expr:
    """Polars form of :func:`asymmetry` (Float64; null where the scalar form gives None).

    Parameters
    ----------
    left, right : str or polars.Expr
        Columns (or expressions) of the patient's left and right values; NaN is read as
        missing.
    """
    lv, rv = _num(left), _num(right)
    denom = pl.max_horizontal(lv.abs(), rv.abs())
    ratio = pl.when(denom > 0).then((lv - rv).abs() / denom).otherwise(pl.lit(0.0))
    return pl.when(lv.is_null() | rv.is_null()).then(pl.lit(None, dtype=pl.Float64)).otherwise(ratio.clip(0.0, 1.0))


def signed_asymmetry_expr(left: str | pl.Expr, right: str | pl.Expr) -> pl.Expr:
    """Polars form of :func:`signed_asymmetry` (Float64; null where the scalar form gives None).

    Parameters
    ----------
    left, right : str or polars.Expr
        Columns (or expressions) of the patient's left and right values; NaN is read as
        missing.
    """
    lv, rv = _num(left), _num(right)
    a = asymmetry_expr(left, right)
    return pl.when(lv > rv).then(a).otherwise(-a)


def weaker_side_expr(
    direction: Direction,
    left: str | pl.Expr,
    right: str | pl.Expr,
    min_asym: float = 0.0,
    min_diff: float = 0.0,
) -> pl.Expr:
    """Polars form of :func:`weaker_side` (Utf8 ``"left"``/``"right"``/null).

    Raises
    ------
    ValueError
        If ``direction`` is not ``"smaller"`` or ``"larger"``.
    """
    if direction not in ("smaller", "larger"):
        raise ValueError(f"direction must be 'smaller' or 'larger', got {direction!r}")
    lv, rv = _num(left), _num(right)
    a = asymmetry_expr(left, right)
    named = a.is_not_null() & (a > min_asym) & ((lv - rv).abs() > min_diff)
    first, second = ("left", "right") if direction == "larger" else ("right", "left")
    side = pl.when(lv > rv).then(pl.lit(first)).otherwise(pl.lit(second))
    return pl.when(named.fill_null(False)).then(side).otherwise(pl.lit(None, dtype=pl.Utf8))
