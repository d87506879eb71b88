"""Score-table measures of a session, derived from its session-table row.

:func:`session_measures` turns the session table (one row per site/subject/session,
:data:`palsyflow.measures.registry.MEASURE_COLUMNS`) into the clinician-facing measures of
:data:`palsyflow.measures.registry.SCORE_MEASURES`: a 0-100 symmetry per region at rest,
the commissure movement symmetry, the rest and movement composites, the overall
``symmetry_index``, the weaker side per measure and overall, and the speech measures.

Symmetry is ``100 * (1 - a)`` with the asymmetry ``a`` of
:mod:`palsyflow.measures.asymmetry`. The weaker sides start from the session table's
``*_weaker`` columns (the noise-floor rule, :func:`palsyflow.measures.session.weaker_of_family`);
nothing here re-derives a side from left/right values with another rule.

True sides (:func:`decide_sides`)
    A side difference is *named* only when it is both above measurement noise (the
    ``*_weaker`` column is set) **and** outside the healthy range: the signed asymmetry
    ``(L - R) / max(|L|, |R|)`` of that measure (``<family>_side_asym``,
    :data:`SIDE_ASYM_COLUMN`) lies in the tail of the healthy sessions' distribution on
    the side the weaker side points to, i.e. its healthy percentile is below
    :data:`SIDE_TAIL_PERCENTILE` or above ``100 -`` it (a central 95 % healthy range,
    two-sided; the percentile is the normative model's, leave-one-subject-out for its
    own reference sessions). Healthy faces are not perfectly symmetric (the healthy
    reference sessions themselves show resting and speech-movement side differences), so
    a difference that healthy people show is not evidence of a weaker side. The overall verdict
    (``weaker_side``) is the **movement** verdict whenever movement was measured, even
    when that verdict is "no side": a rest measure never overrides a movement result,
    because a palsy shows in movement more than at rest and the natural resting
    asymmetry of a face would otherwise decide it. Only a session without any movement
    measure takes the rest verdict. A null ``weaker_side`` reads "no consistent weaker
    side".

The same side as an earlier session (:func:`carry_sides`)
    A unilateral palsy does not change sides between visits, and a face's own natural
    asymmetry can hide part of a real weakness: a recovering patient's movement
    difference falls back inside the healthy range before it is gone. So a patient's
    session whose movement verdict names no side keeps the side an **earlier** session
    of the same patient named outside the healthy range, when this session's own
    movement difference points to that same side and is above measurement noise (its
    noise-floor side). It is labelled as such (basis ``earlier-session:<session>``), never
    as outside the healthy range, and it is never taken from a later session, from a
    session that named the other side, from a side that was not itself named outside the
    healthy range, or onto a difference within measurement noise.

Every named side carries its basis (:data:`BASIS_COLUMN`, values :data:`SIDE_BASES`).
"""

from __future__ import annotations

import polars as pl

from palsyflow.conventions import SIDES
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from palsyflow.measures.asymmetry import asymmetry_expr, signed_asymmetry_expr
from palsyflow.measures.registry import (
    MOVEMENT_COMPOSITE,
    MOVEMENT_SYMMETRY,
    REGIONS,
    REST_COMPOSITE,
    REST_FAMILY_OF_REGION,
    REST_SYMMETRY,
    SCORED_SPEECH_MEASURES,
    SYMMETRY_INDEX,
)

#: Identification columns that lead every row of :func:`session_measures`.
ID_COLUMNS: tuple[str, ...] = ("site", "subject", "session", "session_date")
#: Per-session context carried along (labels for training, phantom flag).
CONTEXT_COLUMNS: tuple[str, ...] = ("healthy", "hb_grade", "simulated")

_MOV_FAMILY = "mov_commissure_excursion"
#: Column of :func:`session_measures` carrying the weaker side of each score measure.
WEAKER_COLUMN: dict[str, str] = {
    **{REST_SYMMETRY[r]: f"{REST_FAMILY_OF_REGION[r]}_weaker" for r in REGIONS},
    MOVEMENT_SYMMETRY: f"{_MOV_FAMILY}_weaker",
    REST_COMPOSITE: "rest_weaker",
    MOVEMENT_COMPOSITE: "mov_weaker",
    SYMMETRY_INDEX: "weaker_side",
}


#: Rest families (one per region) and the movement family with a weaker side.
_REST_FAMS: tuple[str, ...] = tuple(REST_FAMILY_OF_REGION[r] for r in REGIONS)
_SIDE_FAMS: tuple[str, ...] = (*_REST_FAMS, _MOV_FAMILY)
#: Column of :func:`session_measures` with the signed asymmetry of each family that names sides.
SIDE_ASYM_COLUMN: dict[str, str] = {f: f"{f}_side_asym" for f in _SIDE_FAMS}
#: A side is named only beyond this healthy percentile (each tail; 2.5 = central 95 % range).
SIDE_TAIL_PERCENTILE = 2.5

#: Why a side was named (the ``side_basis`` of the score table; null when no side is named):
#: outside the healthy range and above noise; above noise, no healthy model to judge the
#: range; the movement tasks' rule (:func:`palsyflow.measures.tasks.movement_side`); the
#: side of an earlier session of the same patient (:func:`carry_sides`), written
#: ``earlier-session:<YYYYMMDD>`` with that session's label.
SIDE_BASES: tuple[str, ...] = ("healthy-range", "noise-floor", "movement-tasks", "earlier-session")
_EARLIER = SIDE_BASES[-1]
#: Column of :func:`decide_sides` with the basis of each side column of :data:`WEAKER_COLUMN`.
BASIS_COLUMN: dict[str, str] = {c: f"{c}_basis" for c in WEAKER_COLUMN.values()}


def earlier_session_basis(session: str) -> str:
    """The basis of a side kept from an earlier session.

    Parameters
    ----------
    session : str
        That session's label, ``YYYYMMDD``.

    Returns
    -------
    str
        ``"earlier-session:<session>"``.
    """
    return f"{_EARLIER}:{session}"


def basis_session(basis: str | None) -> str | None:
    """The earlier session a side was kept from.

    Parameters
    ----------
    basis : str or None
        A ``side_basis`` value (:data:`SIDE_BASES`).

    Returns
    -------
    str or None
        The session label of an ``earlier-session:<session>`` basis; None for any other
        basis or None.
    """
    if basis and basis.startswith(f"{_EARLIER}:"):
        return basis.split(":", 1)[1]
    return None


def relabel_basis(basis: str | None, relabel: Callable[[str], str | None]) -> str | None:
    """A ``side_basis`` with its earlier session's label rewritten (an export's shifted label).

    Parameters
    ----------
    basis : str or None
        A ``side_basis`` value.
    relabel : callable
        Maps a stored session label (``YYYYMMDD``) to the label to write; returning None
        writes the bare ``"earlier-session"`` (no session named).

    Returns
    -------
    str or None
        ``basis`` unchanged unless it names an earlier session.
    """
    ref = basis_session(basis)
    if ref is None:
        return basis
    new = relabel(ref)
    return earlier_session_basis(new) if new else _EARLIER


def subject_key(measures: pl.DataFrame) -> list[str]:
    """``"site/subject"`` of each row: the group a normative model leaves out together.

    Parameters
    ----------
    measures : polars.DataFrame, shape (n_rows, ...)
        With ``site`` and ``subject``.

    Returns
    -------
    list of str, length n_rows
    """
    return [f"{a}/{b}" for a, b in zip(measures["site"].cast(pl.Utf8), measures["subject"].cast(pl.Utf8), strict=True)]


def num(df: pl.DataFrame, col: str) -> pl.Expr:
    """``col`` as Float64 with NaN -> null, or an all-null column when absent."""
    if col in df.columns:
        return pl.col(col).cast(pl.Float64).fill_nan(None)
    return pl.lit(None, dtype=pl.Float64)


def side(df: pl.DataFrame, col: str) -> pl.Expr:
    """A side column normalised to "left"/"right"/null (all null when absent)."""
    if col not in df.columns:
        return pl.lit(None, dtype=pl.Utf8)
    s = pl.col(col).cast(pl.Utf8).str.to_lowercase()
    return pl.when(s.is_in(list(SIDES))).then(s).otherwise(None)


def _family_asym(df: pl.DataFrame, fam: str) -> pl.Expr:
    """``{fam}_asym``, or computed from the two sides when that is null."""
    computed = asymmetry_expr(num(df, f"{fam}_left"), num(df, f"{fam}_right"))
    return pl.coalesce(num(df, f"{fam}_asym"), computed).clip(0.0, 1.0)


def session_measures(session_table: pl.DataFrame) -> pl.DataFrame:
    """Derive the score-table measures of every session.

    Parameters
    ----------
    session_table : polars.DataFrame, shape (n_sessions, ...)
        One row per (site, subject, session). ``site, subject, session`` (``YYYYMMDD``)
        are required; ``session_date`` is parsed from ``session`` when absent or null.
        Per region: the rest family's ``_left``, ``_right`` (``iod_iris``), ``_asym``,
        ``_weaker``; optionally ``mov_commissure_excursion_*``, ``eface_dynamic``,
        ``hb_measure_weaker``, ``task_movement_weaker`` and the speech columns. Any measure column may be null or
        absent; it then yields nulls, never an error.

    Returns
    -------
    polars.DataFrame, shape (n_sessions, ...)
        :data:`ID_COLUMNS`, :data:`CONTEXT_COLUMNS`, then

        - ``<rest family>_symmetry`` = ``100 * (1 - asym)`` per region (0-100); when
          the stored asymmetry is null but both sides are present it is computed from
          them (:func:`~palsyflow.measures.asymmetry.asymmetry_expr`).
        - ``mov_commissure_excursion_symmetry`` likewise (only when the table has
          ``mov_commissure_excursion_*`` columns).
        - ``rest_symmetry``: mean of the available regional rest symmetries.
        - ``mov_symmetry``: mean of the available movement symmetries: the commissure
          excursion of a video and the eFACE-style dynamic subscore of the task photos
          (``eface_dynamic``, 100 x weaker / stronger movement).
        - ``symmetry_index``: mean of ``rest_symmetry`` and ``mov_symmetry``
          (whichever exist). Rest and movement are kept as separate components, as in
          the Sunnybrook composite (Ross et al. 1996, doi:10.1016/S0194-5998(96)70206-1)
          and eFACE (Banks et al. 2015, doi:10.1097/PRS.0000000000001447), because a
          palsy shows in movement more than at rest.
        - weaker sides (:data:`WEAKER_COLUMN`): ``<family>_weaker`` passed through
          (the noise-floor rule only; :func:`decide_sides` adds the healthy range);
          ``rest_weaker``: each region whose weaker side is set casts one vote, the side
          with more votes wins, a tie is broken by the larger summed
          ``|signed asymmetry|`` of the voting regions, no votes or an exact tie give
          null; ``mov_weaker``: the commissure excursion's weaker side when the
          excursion was measured, else the movement tasks' side
          (``task_movement_weaker``, :func:`palsyflow.measures.tasks.movement_side`,
          passed through; the House-Brackmann measurement side ``hb_measure_weaker``
          always names a side and does not decide); ``weaker_side``: ``mov_weaker``
          whenever movement was measured (null when movement shows no side), else
          ``rest_weaker``.
        - ``<family>_side_asym`` (:data:`SIDE_ASYM_COLUMN`): the signed asymmetry
          ``(L - R) / max(|L|, |R|)`` of each rest family and the commissure excursion
          (:func:`~palsyflow.measures.asymmetry.signed_asymmetry_expr`), which the
          normative model places in the healthy range.
        - the speech measures of
          :data:`~palsyflow.measures.registry.SCORED_SPEECH_MEASURES` (Float64, NaN -> null).

    Raises
    ------
    KeyError
        If ``site``, ``subject`` or ``session`` is missing.
    ValueError
        If a (site, subject, session) occurs more than once.
    """
    missing = [c for c in ("site", "subject", "session") if c not in session_table.columns]
    if missing:
        raise KeyError(f"session table lacks the id columns {missing}")
    df = session_table
    if df.height and df.select(pl.struct("site", "subject", "session").is_duplicated().any()).item():
        raise ValueError("session table has more than one row for some (site, subject, session)")

    parsed = pl.col("session").cast(pl.Utf8).str.strptime(pl.Date, "%Y%m%d", strict=False)
    date = pl.coalesce(pl.col("session_date").cast(pl.Date), parsed) if "session_date" in df.columns else parsed
    ids = [
        pl.col("site").cast(pl.Utf8),
        pl.col("subject").cast(pl.Utf8),
        pl.col("session").cast(pl.Utf8),
        date.alias("session_date"),
        (pl.col("healthy").cast(pl.Boolean) if "healthy" in df.columns else pl.lit(None, dtype=pl.Boolean)).alias("healthy"),
        (pl.col("hb_grade").cast(pl.Int8) if "hb_grade" in df.columns else pl.lit(None, dtype=pl.Int8)).alias("hb_grade"),
        (pl.col("simulated").cast(pl.Boolean) if "simulated" in df.columns else pl.lit(False)).alias("simulated"),
    ]
    rest_fams = [REST_FAMILY_OF_REGION[r] for r in REGIONS]
    rest_sym = [REST_SYMMETRY[r] for r in REGIONS]
    sym = [(100.0 * (1.0 - _family_asym(df, f))).alias(REST_SYMMETRY[r]) for r, f in zip(REGIONS, rest_fams)]
    sym.append((100.0 * (1.0 - _family_asym(df, _MOV_FAMILY))).alias(MOVEMENT_SYMMETRY))
    weaker = [side(df, f"{f}_weaker").alias(f"{f}_weaker") for f in rest_fams]
    weaker.append(side(df, f"{_MOV_FAMILY}_weaker").alias(f"{_MOV_FAMILY}_weaker"))

    hb_side = side(df, "hb_measure_weaker")
    task_side = side(df, "task_movement_weaker")
    speech = [num(df, m).alias(m) for m in SCORED_SPEECH_MEASURES]
    has_excursion = any(c.startswith(f"{_MOV_FAMILY}_") for c in df.columns)
    eface_dyn = num(df, "eface_dynamic").alias("_eface_dynamic")
    signed = [
        signed_asymmetry_expr(num(df, f"{f}_left"), num(df, f"{f}_right")).alias(SIDE_ASYM_COLUMN[f]) for f in _SIDE_FAMS
    ]
    out = df.select(ids + sym + weaker + speech + signed + [eface_dyn, hb_side.alias("hb_measure_weaker"), task_side.alias("task_movement_weaker")])
    out = out.with_columns(
        pl.mean_horizontal(rest_sym).alias(REST_COMPOSITE),
        pl.mean_horizontal(([MOVEMENT_SYMMETRY] if has_excursion else []) + ["_eface_dynamic"]).alias(MOVEMENT_COMPOSITE),
    ).with_columns(
        pl.mean_horizontal([REST_COMPOSITE, MOVEMENT_COMPOSITE]).alias(SYMMETRY_INDEX),
    )
    out = _overall_sides(out).select(
        list(ID_COLUMNS)
        + list(CONTEXT_COLUMNS)
        + rest_sym
        + ([MOVEMENT_SYMMETRY] if has_excursion else [])
        + [REST_COMPOSITE, MOVEMENT_COMPOSITE, SYMMETRY_INDEX]
        + [f"{f}_weaker" for f in rest_fams]
        + ([f"{_MOV_FAMILY}_weaker"] if has_excursion else [])
        + ["rest_weaker", "mov_weaker", "weaker_side", "hb_measure_weaker", "task_movement_weaker"]
        + list(SCORED_SPEECH_MEASURES)
        + list(SIDE_ASYM_COLUMN.values())
    )
    return out


def _overall_sides(out: pl.DataFrame) -> pl.DataFrame:
    """``rest_weaker``, ``mov_weaker`` and ``weaker_side`` from the per-family sides of ``out``.

    Rest: each region whose weaker side is set casts one vote, more votes win, a tie is
    broken by the larger summed ``|signed asymmetry|`` of the voting regions, no votes
    or an exact tie give null. Movement: the commissure excursion's side when the
    excursion was measured, else the movement tasks' side (``task_movement_weaker``).
    Overall: the movement side whenever any movement was measured (``mov_symmetry``,
    the excursion or a task side present), else the rest side.
    """
    votes: dict[str, list[pl.Expr]] = {s: [] for s in SIDES}
    weights: dict[str, list[pl.Expr]] = {s: [] for s in SIDES}
    for f in _REST_FAMS:
        w = num(out, SIDE_ASYM_COLUMN[f]).abs().fill_null(0.0)
        for s in SIDES:
            v = (side(out, f"{f}_weaker") == s).fill_null(False)
            votes[s].append(v.cast(pl.Int32))
            weights[s].append(pl.when(v).then(w).otherwise(0.0))
    n_left, n_right = pl.sum_horizontal(votes["left"]), pl.sum_horizontal(votes["right"])
    w_left, w_right = pl.sum_horizontal(weights["left"]), pl.sum_horizontal(weights["right"])
    rest = (
        pl.when(n_left > n_right).then(pl.lit("left"))
        .when(n_right > n_left).then(pl.lit("right"))
        .when((n_left > 0) & (w_left > w_right)).then(pl.lit("left"))
        .when((n_left > 0) & (w_right > w_left)).then(pl.lit("right"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )
    exc_measured = num(out, SIDE_ASYM_COLUMN[_MOV_FAMILY]).is_not_null()
    tasks_side = side(out, "task_movement_weaker")
    mov = pl.when(exc_measured).then(side(out, f"{_MOV_FAMILY}_weaker")).otherwise(tasks_side)
    moved = _moved(out)
    out = out.with_columns(rest.alias("rest_weaker"), mov.cast(pl.Utf8).alias("mov_weaker"), moved.alias("_moved"))
    return out.with_columns(
        pl.when(pl.col("_moved")).then(pl.col("mov_weaker")).otherwise(pl.col("rest_weaker")).alias("weaker_side")
    ).drop("_moved")


def _moved(out: pl.DataFrame) -> pl.Expr:
    """True where the session measured movement (excursion, a task side or a movement composite)."""
    exc_measured = num(out, SIDE_ASYM_COLUMN[_MOV_FAMILY]).is_not_null()
    return exc_measured | side(out, "task_movement_weaker").is_not_null() | num(out, MOVEMENT_COMPOSITE).is_not_null()


def decide_sides(
    measures: pl.DataFrame,
    side_percentiles: Mapping[str, np.ndarray] | None,
    tail: float = SIDE_TAIL_PERCENTILE,
    *,
    carry: bool = True,
) -> pl.DataFrame:
    """Keep only the weaker sides outside the healthy range; recompute the overall verdict.

    Parameters
    ----------
    measures : polars.DataFrame, shape (n_sessions, ...)
        Output of :func:`session_measures`.
    side_percentiles : mapping of str -> ndarray of shape (n_sessions,), or None
        Healthy percentile (0-100) of each :data:`SIDE_ASYM_COLUMN` value, e.g. from
        :meth:`palsyflow.models.normative.NormativeModel.percentile` with the
        sessions' subjects as groups (leave-one-subject-out). A family absent from the
        mapping (or None: no healthy model) keeps its noise-floor side: without a
        healthy range only measurement noise can be ruled out.
    tail : float
        Percentile of each tail of the healthy range (2.5: the central 95 %).
    carry : bool
        Apply :func:`carry_sides` (a patient's earlier session's side); ``False`` judges
        every session on its own (the phantom benchmark's single-session reading). Needs
        ``site``, ``subject``, ``session`` and ``session_date`` in ``measures`` (as
        :func:`session_measures` gives them).

    Returns
    -------
    polars.DataFrame
        ``measures`` with each ``<family>_weaker`` set to null unless the family's
        signed asymmetry is below ``tail`` (left smaller than in healthy faces) or above
        ``100 - tail`` (left larger), on the side the weaker side points to; then
        ``rest_weaker``, ``mov_weaker`` and ``weaker_side`` recomputed (rule in the
        module docstring), :func:`carry_sides` applied, and the basis of every side
        column (:data:`BASIS_COLUMN`; null where the side is null): ``healthy-range``
        for a family judged against ``side_percentiles``, ``noise-floor`` for one that
        is not, ``movement-tasks`` for the movement tasks' side, or
        ``earlier-session:<session>``.

    Raises
    ------
    ValueError
        If an array's length differs from the number of sessions.
    polars.exceptions.ColumnNotFoundError
        If ``carry`` and an id column is missing.
    """
    side_percentiles = side_percentiles or {}
    updates = []
    for fam, col in SIDE_ASYM_COLUMN.items():
        wcol = f"{fam}_weaker"
        if col not in side_percentiles or wcol not in measures.columns:
            continue
        pct = np.asarray(side_percentiles[col], dtype=np.float64).reshape(-1)
        if pct.shape[0] != measures.height:
            raise ValueError(f"{col}: {pct.shape[0]} percentiles for {measures.height} sessions")
        p = pl.Series("_p", pct, dtype=pl.Float64).fill_nan(None)
        s = num(measures, col)
        outside = ((s < 0) & (pl.lit(p) < tail)) | ((s > 0) & (pl.lit(p) > 100.0 - tail))
        updates.append(pl.when(outside.fill_null(False)).then(side(measures, wcol)).otherwise(None).alias(wcol))
    out = measures.with_columns(updates) if updates else measures
    out = _with_bases(_overall_sides(out), {SIDE_ASYM_COLUMN[f] for f in _SIDE_FAMS} & set(side_percentiles))
    if not carry:
        return out
    # the movement verdict by the noise-floor rule alone, before the healthy range
    return carry_sides(out, _overall_sides(measures)["mov_weaker"])


def _with_bases(out: pl.DataFrame, judged: set[str]) -> pl.DataFrame:
    """The :data:`BASIS_COLUMN` columns of ``out`` (``judged``: the healthy-range-judged asym columns)."""

    def fam_basis(fam: str) -> pl.Expr:
        return pl.lit("healthy-range" if SIDE_ASYM_COLUMN[fam] in judged else "noise-floor")

    def when_named(col: str, basis: pl.Expr) -> pl.Expr:
        return pl.when(side(out, col).is_not_null()).then(basis).otherwise(pl.lit(None, dtype=pl.Utf8))

    exprs = [when_named(f"{f}_weaker", fam_basis(f)).alias(BASIS_COLUMN[f"{f}_weaker"]) for f in _SIDE_FAMS]
    rest_basis = pl.lit("healthy-range" if all(SIDE_ASYM_COLUMN[f] in judged for f in _REST_FAMS) else "noise-floor")
    exc_measured = num(out, SIDE_ASYM_COLUMN[_MOV_FAMILY]).is_not_null()
    mov_basis = pl.when(exc_measured).then(fam_basis(_MOV_FAMILY)).otherwise(pl.lit("movement-tasks"))
    moved = _moved(out)
    exprs += [
        when_named("rest_weaker", rest_basis).alias(BASIS_COLUMN["rest_weaker"]),
        when_named("mov_weaker", mov_basis).alias(BASIS_COLUMN["mov_weaker"]),
        when_named("weaker_side", pl.when(moved).then(mov_basis).otherwise(rest_basis)).alias(BASIS_COLUMN["weaker_side"]),
    ]
    return out.with_columns(exprs)


def carry_sides(decided: pl.DataFrame, noise_movement_side: pl.Series | Sequence[str | None]) -> pl.DataFrame:
    """Give a patient's session with no movement side the side an earlier session named.

    Rule (module docstring): walking each (site, subject)'s dated sessions in date order
    (then ``session``), the *established* side is the movement verdict (``mov_weaker``)
    of the latest earlier session that named it outside the healthy range (basis
    ``healthy-range``; a noise-floor, movement-tasks or kept side never establishes
    one). A session that measured movement, whose ``mov_weaker`` is null and whose
    noise-floor movement side equals the established side gets it as ``mov_weaker`` and
    ``weaker_side`` (and as the commissure excursion's side when the excursion was
    measured), with the basis ``earlier-session:<that session>``. A session that names
    a side outside the healthy range (either side) becomes the new established side; a
    session without one leaves it as it was. A session without a date neither
    establishes nor receives a side.

    Parameters
    ----------
    decided : polars.DataFrame, shape (n_sessions, ...)
        :func:`decide_sides` output before carrying: ``site``, ``subject``, ``session``,
        ``session_date``, ``mov_weaker``, ``weaker_side``, the commissure excursion's
        ``*_weaker`` and the :data:`BASIS_COLUMN` columns of those.
    noise_movement_side : Series or sequence, length n_sessions
        Each session's movement side by the noise-floor rule alone (``mov_weaker`` of
        :func:`session_measures`, before the healthy range): "left", "right" or null.

    Returns
    -------
    polars.DataFrame
        ``decided`` with the kept sides and their bases; row order kept.

    Raises
    ------
    ValueError
        If ``noise_movement_side`` does not have one entry per session.
    polars.exceptions.ColumnNotFoundError
        If an id or basis column is missing.
    """
    noise = list(noise_movement_side)
    if len(noise) != decided.height:
        raise ValueError(f"{len(noise)} noise-floor movement sides for {decided.height} sessions")
    if decided.height == 0:
        return decided
    exc_w = f"{_MOV_FAMILY}_weaker"
    cols = {c: decided[c].to_list() for c in ("mov_weaker", "weaker_side", exc_w) if c in decided.columns}
    bases = {c: decided[BASIS_COLUMN[c]].to_list() for c in cols}
    rows = decided.select(
        pl.col("site").cast(pl.Utf8), pl.col("subject").cast(pl.Utf8), pl.col("session").cast(pl.Utf8),
        pl.col("session_date"), side(decided, "mov_weaker").alias("mov"), pl.col(BASIS_COLUMN["mov_weaker"]).alias("basis"),
        _moved(decided).alias("moved"), num(decided, SIDE_ASYM_COLUMN[_MOV_FAMILY]).is_not_null().alias("exc"),
    ).with_row_index("_i").filter(pl.col("session_date").is_not_null()).sort(["site", "subject", "session_date", "session"])
    established: dict[tuple[str, str], tuple[str, str]] = {}
    for r in rows.iter_rows(named=True):
        key, i = (r["site"], r["subject"]), r["_i"]
        if r["mov"] is not None:
            if r["basis"] == "healthy-range":
                established[key] = (r["mov"], r["session"])
            continue
        prior = established.get(key)
        if prior is None or not r["moved"] or noise[i] != prior[0]:
            continue
        kept = earlier_session_basis(prior[1])
        for c in ("mov_weaker", "weaker_side") + ((exc_w,) if r["exc"] and exc_w in cols else ()):
            cols[c][i], bases[c][i] = prior[0], kept
    return decided.with_columns(
        [pl.Series(c, v, dtype=pl.Utf8) for c, v in cols.items()]
        + [pl.Series(BASIS_COLUMN[c], v, dtype=pl.Utf8) for c, v in bases.items()]
    )
