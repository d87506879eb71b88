"""Per-session scores: symmetry measures, normative z/percentiles, longitudinal change.

Two steps:

1. :func:`session_measures` turns the session table (one row per site/subject/session,
   regional left/right measures and asymmetry ratios) into the derived, clinician-facing
   measures: a 0-100 symmetry score per region at rest, a movement symmetry, the
   overall ``symmetry_index`` combining rest and movement, the weaker side per region
   and overall, and the speech measures.
2. :func:`score_sessions` puts every measure of every session in the long
   :data:`palsyflow.schemas.SCORE_SCHEMA` table, with z-score and percentile against the
   normative model of healthy sessions and the change since the subject's first session.

Asymmetry and symmetry follow :mod:`palsyflow.conventions`: asymmetry
``a = |m_L - m_R| / max(|m_L|, |m_R|)`` in ``[0, 1]`` and symmetry ``100 * (1 - a)``.
This normalised left/right difference is the form used by Emotrics-style facial
asymmetry measures (Guarin et al. 2018, JAMA Facial Plast Surg 20(4):335,
doi:10.1001/jamafacial.2018.0030). Left/right are always the **patient's** sides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from palsyflow.features.regions import REGIONS as FEATURE_REGIONS
from palsyflow.features.speech import SPEECH_MEASURES as FEATURE_SPEECH_MEASURES
from palsyflow.config import ScoreParams
from palsyflow.schemas import SCORE_SCHEMA, conform, empty

if TYPE_CHECKING:
    from palsyflow.models.normative import NormativeModel

#: Face regions with left/right measures in the session table (owned by features.regions).
REGIONS: tuple[str, ...] = FEATURE_REGIONS

#: Speech measures scored per session: the features' speech measures except the
#: amount of active speech, which describes the recording rather than the voice.
SPEECH_MEASURES: tuple[str, ...] = tuple(m for m in FEATURE_SPEECH_MEASURES if m != "speech_active_s")

#: Identification columns that lead every row of :func:`session_measures`.
ID_COLUMNS: tuple[str, ...] = ("site", "subject", "session", "session_date")

#: Per-session context carried along (labels for training, phantom flag).
CONTEXT_COLUMNS: tuple[str, ...] = ("healthy", "hb_grade", "simulated")

#: measure -> (region, unit, higher_is_better). ``higher_is_better`` is ``None`` when
#: the measure has no clinical direction (e.g. median voice pitch).
MEASURE_INFO: dict[str, tuple[str, str, bool | None]] = {
    **{f"symmetry_{r}": (r, "0-100", True) for r in REGIONS},
    "symmetry_mouth_excursion": ("mouth", "0-100", True),
    "symmetry_rest": ("overall", "0-100", True),
    "symmetry_movement": ("overall", "0-100", True),
    "symmetry_index": ("overall", "0-100", True),
    "speech_f0_median_hz": ("speech", "Hz", None),
    "speech_f0_sd_st": ("speech", "semitones", None),
    "speech_voiced_fraction": ("speech", "fraction", None),
    "speech_energy_db_mean": ("speech", "dB", None),
    "speech_energy_db_sd": ("speech", "dB", None),
    "speech_rate_hz": ("speech", "Hz", None),
}

#: Column of :func:`session_measures` that carries the weaker side of each measure.
WEAKER_COLUMN: dict[str, str] = {
    **{f"symmetry_{r}": f"weaker_{r}" for r in REGIONS},
    "symmetry_mouth_excursion": "weaker_mouth_excursion",
    "symmetry_rest": "weaker_rest",
    "symmetry_movement": "weaker_movement",
    "symmetry_index": "weaker_side",
}

_SIDES = ("left", "right")


def _num(df: pl.DataFrame, col: str) -> pl.Expr:
    """``col`` as Float64 with NaN -> null, or an all-null column when absent."""
    if col in df.columns:
        return pl.col(col).cast(pl.Float64).fill_nan(None)
    return pl.lit(None, dtype=pl.Float64)


def _asymmetry(df: pl.DataFrame, prefix: str) -> pl.Expr:
    """``{prefix}_asym``, or computed from left/right when that is null, clipped to [0, 1]."""
    left, right = _num(df, f"{prefix}_left"), _num(df, f"{prefix}_right")
    denom = pl.max_horizontal(left.abs(), right.abs())
    computed = pl.when(denom > 0).then((left - right).abs() / denom).otherwise(None)
    return pl.coalesce(_num(df, f"{prefix}_asym"), computed).clip(0.0, 1.0)


def _side(df: pl.DataFrame, col: str) -> pl.Expr:
    """A side column normalised to "left"/"right"/null."""
    if col not in df.columns:
        return pl.lit(None, dtype=pl.Utf8)
    s = pl.col(col).cast(pl.Utf8).str.to_lowercase()
    return pl.when(s.is_in(list(_SIDES))).then(s).otherwise(None)


def session_measures(session_table: pl.DataFrame, params: ScoreParams | None = None) -> pl.DataFrame:
    """Derive the per-session measures from the session table.

    Parameters
    ----------
    session_table : polars.DataFrame, shape (n_sessions, ...)
        One row per (site, subject, session). Columns ``site, subject, session``
        (``YYYYMMDD``) are required; ``session_date`` is parsed from ``session`` when
        absent or null. Per region ``r`` in :data:`REGIONS`: ``{r}_left``,
        ``{r}_right`` (IOD units, patient's sides), ``{r}_asym`` (in [0, 1]),
        ``{r}_weaker`` ("left"/"right"/null); optionally ``mouth_excursion_left/right/
        asym``; speech columns of :data:`SPEECH_MEASURES`. Any measure column may be
        null or absent; it then yields nulls, never an error.
    params : ScoreParams, optional
        ``noise_floor_iod`` (IOD units) is the smallest ``|L - R|`` of a rest
        position that counts as a real side difference, ``movement_noise_floor_iod``
        the same for the mouth excursion (an RMS movement, smaller than positions).
        Defaults to ``ScoreParams()``.

    Returns
    -------
    polars.DataFrame, shape (n_sessions, ...)
        Columns :data:`ID_COLUMNS`, :data:`CONTEXT_COLUMNS`, then

        - ``symmetry_{r}`` = ``100 * (1 - {r}_asym)`` (0-100, 100 = symmetric). When
          ``{r}_asym`` is null but both sides are present, the asymmetry is computed
          as ``|L - R| / max(|L|, |R|)`` (null when both are 0).
        - ``symmetry_mouth_excursion`` likewise from ``mouth_excursion_*`` (only when
          the session table has ``mouth_excursion_*`` columns).
        - ``symmetry_rest``: mean of the available ``symmetry_{r}`` of the four
          regions at rest (null when none is available).
        - ``symmetry_movement``: mean of the available movement symmetries: the mouth
          excursion in a video (``symmetry_mouth_excursion``) and the eFACE-style
          dynamic subscore of the task photos (``eface_dynamic``, 100 x weaker /
          stronger movement).
        - ``symmetry_index``: mean of ``symmetry_rest`` and ``symmetry_movement``
          (whichever exist). Rest and movement are kept as separate components, as
          in the Sunnybrook composite (Ross et al. 1996, Otolaryngol Head Neck Surg
          114(3):380, doi:10.1016/S0194-5998(96)70206-1) and eFACE (Banks et al. 2015,
          doi:10.1097/PRS.0000000000001447), because a palsy shows in movement more
          than at rest.
        - ``weaker_rest``: the rest regions' vote (below); ``weaker_movement``: the side
          that moved less (mouth excursion, else the House-Brackmann measurement side);
          ``weaker_side``: ``weaker_movement`` when known, else ``weaker_rest``.
        - ``weaker_{r}``: passed through unchanged from ``{r}_weaker``.
        - ``weaker_mouth_excursion`` (with ``symmetry_mouth_excursion``): the side with
          the smaller absolute excursion when ``|L - R| > movement_noise_floor_iod``,
          else null.
        - ``weaker_side`` (overall): each region whose ``{r}_weaker`` is set and whose
          ``|{r}_left - {r}_right| > noise_floor_iod`` casts one vote for its weaker
          side; the side with more votes wins. A tie is broken by the larger summed
          ``|L - R|`` of the voting regions; no votes or an exact tie give null.
        - the speech measures, passed through (Float64, NaN -> null).

    Raises
    ------
    KeyError
        If ``site``, ``subject`` or ``session`` is missing.
    ValueError
        If a (site, subject, session) occurs more than once.
    """
    params = params or ScoreParams()
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
        (pl.col("healthy").cast(pl.Boolean) if "healthy" in df.columns else pl.lit(None, dtype=pl.Boolean)).alias(
            "healthy"
        ),
        (pl.col("hb_grade").cast(pl.Int8) if "hb_grade" in df.columns else pl.lit(None, dtype=pl.Int8)).alias(
            "hb_grade"
        ),
        (pl.col("simulated").cast(pl.Boolean) if "simulated" in df.columns else pl.lit(False)).alias("simulated"),
    ]
    floor = float(params.noise_floor_iod)
    sym = [(100.0 * (1.0 - _asymmetry(df, r))).alias(f"symmetry_{r}") for r in REGIONS]
    sym.append((100.0 * (1.0 - _asymmetry(df, "mouth_excursion"))).alias("symmetry_mouth_excursion"))
    weaker = [_side(df, f"{r}_weaker").alias(f"weaker_{r}") for r in REGIONS]

    exc_l, exc_r = _num(df, "mouth_excursion_left").abs(), _num(df, "mouth_excursion_right").abs()
    weaker.append(
        pl.when((exc_l - exc_r).abs() > float(params.movement_noise_floor_iod))
        .then(pl.when(exc_l < exc_r).then(pl.lit("left")).otherwise(pl.lit("right")))
        .otherwise(None)
        .alias("weaker_mouth_excursion")
    )

    # Overall weaker side: votes of regions with a side difference above the floor.
    votes: dict[str, list[pl.Expr]] = {s: [] for s in _SIDES}
    weights: dict[str, list[pl.Expr]] = {s: [] for s in _SIDES}
    for r in REGIONS:
        diff = (_num(df, f"{r}_left") - _num(df, f"{r}_right")).abs()
        for s in _SIDES:
            v = ((_side(df, f"{r}_weaker") == s) & (diff > floor)).fill_null(False)
            votes[s].append(v.cast(pl.Int32))
            weights[s].append(pl.when(v).then(diff).otherwise(0.0))
    n_left, n_right = pl.sum_horizontal(votes["left"]), pl.sum_horizontal(votes["right"])
    w_left, w_right = pl.sum_horizontal(weights["left"]), pl.sum_horizontal(weights["right"])
    overall = (
        pl.when(n_left > n_right)
        .then(pl.lit("left"))
        .when(n_right > n_left)
        .then(pl.lit("right"))
        .when((n_left > 0) & (w_left > w_right))
        .then(pl.lit("left"))
        .when((n_left > 0) & (w_right > w_left))
        .then(pl.lit("right"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
        .alias("weaker_rest")
    )
    # Movement: the side that moved less (mouth excursion in a video; the House-Brackmann
    # measurement side of a photo task session), when the difference exceeds the floor.
    hb_side = (_side(df, "hb_measure_weaker") if "hb_measure_weaker" in df.columns else pl.lit(None, dtype=pl.Utf8))
    speech = [_num(df, m).alias(m) for m in SPEECH_MEASURES]

    has_excursion = any(c.startswith("mouth_excursion_") for c in df.columns)
    eface_dyn = _num(df, "eface_dynamic").alias("_eface_dynamic")
    out = df.select(ids + sym + weaker + [overall] + speech + [eface_dyn, hb_side.alias("_hb_weaker")])
    movement_side = pl.coalesce("weaker_mouth_excursion", "_hb_weaker") if has_excursion else pl.col("_hb_weaker")
    out = out.with_columns(movement_side.cast(pl.Utf8).alias("weaker_movement"))
    return out.with_columns(
        pl.mean_horizontal([f"symmetry_{r}" for r in REGIONS]).alias("symmetry_rest"),
        pl.mean_horizontal(
            (["symmetry_mouth_excursion"] if has_excursion else []) + ["_eface_dynamic"]
        ).alias("symmetry_movement"),
    ).with_columns(
        pl.mean_horizontal(["symmetry_rest", "symmetry_movement"]).alias("symmetry_index"),
        pl.coalesce("weaker_movement", "weaker_rest").alias("weaker_side"),
    ).select(
        list(ID_COLUMNS)
        + list(CONTEXT_COLUMNS)
        + [f"symmetry_{r}" for r in REGIONS]
        + (["symmetry_mouth_excursion"] if has_excursion else [])
        + ["symmetry_rest", "symmetry_movement", "symmetry_index"]
        + [f"weaker_{r}" for r in REGIONS]
        + (["weaker_mouth_excursion"] if has_excursion else [])
        + ["weaker_rest", "weaker_movement", "weaker_side"]
        + list(SPEECH_MEASURES)
    )


def _normative_columns(measures: pl.DataFrame, normative: NormativeModel) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per fitted measure: (z, percentile) arrays of shape (n_sessions,)."""
    names = [str(c) for c in normative.feature_names_in_]
    table = measures.select([_num(measures, c).alias(c) for c in names])
    z = np.asarray(normative.transform(table), dtype=np.float64).reshape(measures.height, len(names))
    pct = np.asarray(normative.percentile(table), dtype=np.float64).reshape(measures.height, len(names))
    return {c: (z[:, j], pct[:, j]) for j, c in enumerate(names)}


def score_sessions(
    measures: pl.DataFrame,
    normative: NormativeModel | None,
    params: ScoreParams | None = None,
    model_version: str | None = None,
) -> pl.DataFrame:
    """Long-format score table: one row per session x measure.

    Parameters
    ----------
    measures : polars.DataFrame, shape (n_sessions, ...)
        Output of :func:`session_measures`. Measures of :data:`MEASURE_INFO` absent
        from it are skipped.
    normative : NormativeModel or None
        Fitted model of healthy sessions; ``None`` gives null z/percentile/model_version.
    params : ScoreParams, optional
        Currently unused beyond :func:`session_measures`; accepted for a uniform stage
        signature.
    model_version : str or None
        Version label of ``normative`` (e.g. the MLflow registry version).

    Returns
    -------
    polars.DataFrame
        Exactly :data:`palsyflow.schemas.SCORE_SCHEMA`, ordered by site, subject,
        session date and :data:`MEASURE_INFO` order:

        - ``value``: the measure, in ``unit``.
        - ``z`` = ``(value - location) / scale`` and ``percentile`` =
          the small-sample percentile of :meth:`~palsyflow.models.normative.NormativeModel.percentile`
          (null when there is no model, the measure is not in it, or the value is
          null). The percentile ranks the raw value, whatever ``higher_is_better``.
        - ``weaker_side``: :data:`WEAKER_COLUMN` of the measure (null for speech).
        - ``change_since_first`` = value minus the value of the same measure at the
          subject's (site + subject) earliest session by ``session_date`` (then
          ``session``): 0 at that session, null when either value is null.
        - ``model_version``: ``model_version`` when ``normative`` is given, else null.

    Raises
    ------
    KeyError
        If an id column of :data:`ID_COLUMNS` is missing.
    """
    missing = [c for c in ID_COLUMNS if c not in measures.columns]
    if missing:
        raise KeyError(f"measures lack the id columns {missing}")
    names = [m for m in MEASURE_INFO if m in measures.columns]
    if measures.height == 0 or not names:
        return empty(SCORE_SCHEMA)

    norm_cols = _normative_columns(measures, normative) if normative is not None else {}
    version = model_version if normative is not None else None
    simulated = pl.col("simulated").cast(pl.Boolean) if "simulated" in measures.columns else pl.lit(None, pl.Boolean)

    parts = []
    for order, m in enumerate(names):
        region, unit, _ = MEASURE_INFO[m]
        z, pct = norm_cols.get(m, (None, None))
        wcol = WEAKER_COLUMN.get(m)
        weaker = _side(measures, wcol) if wcol else pl.lit(None, dtype=pl.Utf8)
        part = measures.select(
            pl.col("site").cast(pl.Utf8),
            pl.col("subject").cast(pl.Utf8),
            pl.col("session").cast(pl.Utf8),
            pl.col("session_date").cast(pl.Date),
            pl.lit(m).alias("measure"),
            pl.lit(region).alias("region"),
            _num(measures, m).alias("value"),
            pl.lit(unit).alias("unit"),
            weaker.alias("weaker_side"),
            simulated.alias("simulated"),
            pl.lit(order, dtype=pl.Int32).alias("_order"),
        ).with_columns(
            (pl.Series("z", z, dtype=pl.Float64) if z is not None else pl.lit(None, dtype=pl.Float64)).alias("z"),
            (pl.Series("p", pct, dtype=pl.Float64) if pct is not None else pl.lit(None, dtype=pl.Float64)).alias(
                "percentile"
            ),
        )
        parts.append(part)

    long = pl.concat(parts, how="vertical").with_columns(
        pl.col("z").fill_nan(None), pl.col("percentile").fill_nan(None)
    )
    long = long.with_columns(
        pl.when(pl.col("value").is_null()).then(None).otherwise(pl.col("z")).alias("z"),
        pl.when(pl.col("value").is_null()).then(None).otherwise(pl.col("percentile")).alias("percentile"),
    )
    key = ["site", "subject", "measure"]
    long = long.sort(["site", "subject", "session_date", "session", "_order"], nulls_last=True).with_columns(
        (pl.col("value") - pl.col("value").first().over(key)).alias("change_since_first"),
        pl.lit(version, dtype=pl.Utf8).alias("model_version"),
    )
    return conform(long.drop("_order"), SCORE_SCHEMA).select(list(SCORE_SCHEMA))
