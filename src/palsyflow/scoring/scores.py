"""Per-session scores: normative z/percentiles and longitudinal change.

The per-session measures come from :func:`palsyflow.measures.symmetry.session_measures`
(re-exported here for the score stage); :func:`score_sessions` puts every measure of
:data:`palsyflow.measures.registry.SCORE_MEASURES` of every session in the long
:data:`palsyflow.schemas.SCORE_SCHEMA` table, with z-score and percentile against the
normative model of healthy sessions and the change since the subject's first session.
Left/right are always the **patient's** sides.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from palsyflow.measures.registry import MOVEMENT_SYMMETRY, REGIONS, REST_FAMILY_OF_REGION, REST_SYMMETRY, SCORE_MEASURES
from palsyflow.measures.symmetry import (
    BASIS_COLUMN,
    ID_COLUMNS,
    SIDE_ASYM_COLUMN,
    WEAKER_COLUMN,
    decide_sides,
    num,
    session_measures,
    side,
    subject_key,
)
from palsyflow.models.normative import NormativeModel
from palsyflow.schemas import SCORE_SCHEMA, conform, empty

__all__ = ["score_sessions", "session_measures"]

#: Symmetry measure -> the family whose signed asymmetry it folds (``100 * (1 - |a|)``).
SYMMETRY_FAMILY: dict[str, str] = {
    **{REST_SYMMETRY[r]: REST_FAMILY_OF_REGION[r] for r in REGIONS},
    MOVEMENT_SYMMETRY: "mov_commissure_excursion",
}


def normative_columns(
    measures: pl.DataFrame, normative: NormativeModel, *, leave_subject_out: bool = True
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per fitted measure: (z, percentile) arrays of shape (n_sessions,).

    Parameters
    ----------
    measures : polars.DataFrame, shape (n_sessions, ...)
        Output of :func:`session_measures`.
    normative : NormativeModel
    leave_subject_out : bool
        Score a reference subject without its own sessions (the score table always does;
        ``False`` only to show the in-sample bias, ``benchmarks/calibration.py``).

    Returns
    -------
    dict of str -> (ndarray, ndarray)
        z (unitless) and percentile (0-100) per fitted column; rule in :func:`score_sessions`.
    """
    names = [str(c) for c in normative.feature_names_in_]
    table = measures.select([num(measures, c).alias(c) for c in names])
    groups = subject_key(measures) if leave_subject_out else None
    z = np.asarray(normative.transform(table, groups), dtype=np.float64).reshape(measures.height, len(names))
    pct = np.asarray(normative.percentile(table, groups), dtype=np.float64).reshape(measures.height, len(names))
    out = {c: (z[:, j], pct[:, j]) for j, c in enumerate(names)}
    # a symmetry score 100 * (1 - |a|): its percentile from the folded healthy distribution of
    # the signed asymmetry a, when the model has it (bounded and skewed, not normal itself)
    signed = [(m, SIDE_ASYM_COLUMN[f]) for m, f in SYMMETRY_FAMILY.items() if m in out and SIDE_ASYM_COLUMN[f] in names]
    if signed:
        folded = np.asarray(normative.folded_percentile(table, groups), dtype=np.float64).reshape(measures.height, len(names))
        for m, col in signed:
            out[m] = (out[m][0], folded[:, names.index(col)])
    return out


def judge_sides(measures: pl.DataFrame, normative: NormativeModel | None, *, carry: bool = True) -> pl.DataFrame:
    """``measures`` with the weaker sides outside the healthy range only.

    Parameters
    ----------
    measures : polars.DataFrame, shape (n_sessions, ...)
        Output of :func:`session_measures`.
    normative : NormativeModel or None
        Its percentiles of the :data:`~palsyflow.measures.symmetry.SIDE_ASYM_COLUMN`
        columns (leave-one-subject-out) give the healthy range; ``None`` keeps the
        noise-floor sides (and still the movement-first overall verdict).
    carry : bool
        Keep an earlier session's side (:func:`~palsyflow.measures.symmetry.carry_sides`);
        ``False`` judges each session alone (phantom series that share a subject id).

    Returns
    -------
    polars.DataFrame
        :func:`~palsyflow.measures.symmetry.decide_sides` of ``measures``.
    """
    if normative is None or measures.height == 0:
        return decide_sides(measures, None, carry=carry)
    cols = normative_columns(measures, normative)
    return decide_sides(measures, {c: cols[c][1] for c in SIDE_ASYM_COLUMN.values() if c in cols}, carry=carry)


def score_sessions(
    measures: pl.DataFrame,
    normative: NormativeModel | None,
    *,
    model_version: str | None = None,
) -> pl.DataFrame:
    """Long-format score table: one row per session x measure.

    Parameters
    ----------
    measures : polars.DataFrame, shape (n_sessions, ...)
        Output of :func:`session_measures`. Measures of
        :data:`~palsyflow.measures.registry.SCORE_MEASURES` absent from it are skipped.
    normative : NormativeModel or None
        Fitted model of healthy sessions; ``None`` gives null z/percentile/model_version.
    model_version : str or None
        Version label of ``normative`` (e.g. the MLflow registry version).

    Returns
    -------
    polars.DataFrame
        Exactly :data:`palsyflow.schemas.SCORE_SCHEMA`, ordered by site, subject,
        session date and registry order:

        - ``value``: the measure, in ``unit``.
        - ``z`` = ``(value - location) / scale`` and ``percentile`` =
          the small-sample percentile of :meth:`~palsyflow.models.normative.NormativeModel.percentile`;
          for a regional symmetry (:data:`SYMMETRY_FAMILY`) whose signed asymmetry the model
          holds, the percentile is
          :meth:`~palsyflow.models.normative.NormativeModel.folded_percentile` of that
          signed asymmetry (the z stays that of the symmetry score)
          (null when there is no model, the measure is not in it, or the value is
          null). The percentile ranks the raw value, whatever ``higher_is_better``.
          A session whose subject is in the healthy reference is scored against the
          reference without that subject (leave-one-subject-out,
          :class:`~palsyflow.models.normative.NormativeModel`).
        - ``weaker_side``: :data:`WEAKER_COLUMN` of the measure after
          :func:`judge_sides` (named only outside the healthy range and above noise;
          the overall row from movement whenever movement was measured; null for
          speech and for "no consistent weaker side"); a patient's session may keep the
          side of an earlier session (:func:`~palsyflow.measures.symmetry.carry_sides`).
        - ``side_basis``: why that side was named
          (:data:`~palsyflow.measures.symmetry.SIDE_BASES`: ``healthy-range``,
          ``noise-floor``, ``movement-tasks`` or ``earlier-session:<YYYYMMDD>``); null
          when ``weaker_side`` is.
        - ``change_since_first`` = value minus the value of the same measure at the
          subject's (site + subject) earliest session by ``session_date`` (then
          ``session``): 0 at that session, null when either value is null.
        - ``model_version``: ``model_version`` when ``normative`` is given, followed by
          the size of the healthy reference the session was scored against
          (``"<version> (healthy n=10, own subject out)"``), else null.

    Raises
    ------
    KeyError
        If an id column of :data:`ID_COLUMNS` is missing.
    """
    missing = [c for c in ID_COLUMNS if c not in measures.columns]
    if missing:
        raise KeyError(f"measures lack the id columns {missing}")
    names = [m.name for m in SCORE_MEASURES if m.name in measures.columns]
    info = {m.name: m for m in SCORE_MEASURES}
    if measures.height == 0 or not names:
        return empty(SCORE_SCHEMA)

    norm_cols = normative_columns(measures, normative) if normative is not None else {}
    measures = judge_sides(measures, normative)
    if normative is not None:
        size = normative.reference_size(subject_key(measures))
        base = model_version or "normative"
        version_expr = pl.Series(
            "_v", [f"{base} (healthy n={int(n)}, own subject out)" if n < normative.n_samples_
                   else f"{base} (healthy n={int(n)})" for n in size], dtype=pl.Utf8,
        )
    else:
        version_expr = pl.lit(None, dtype=pl.Utf8)
    simulated = pl.col("simulated").cast(pl.Boolean) if "simulated" in measures.columns else pl.lit(None, pl.Boolean)

    parts = []
    for order, m in enumerate(names):
        region, unit = info[m].region, info[m].unit
        z, pct = norm_cols.get(m, (None, None))
        wcol = WEAKER_COLUMN.get(m)
        weaker = side(measures, wcol) if wcol else pl.lit(None, dtype=pl.Utf8)
        bcol = BASIS_COLUMN.get(wcol) if wcol else None
        basis = pl.col(bcol).cast(pl.Utf8) if bcol in measures.columns else pl.lit(None, dtype=pl.Utf8)
        part = measures.select(
            pl.col("site").cast(pl.Utf8),
            pl.col("subject").cast(pl.Utf8),
            pl.col("session").cast(pl.Utf8),
            pl.col("session_date").cast(pl.Date),
            pl.lit(m).alias("measure"),
            pl.lit(region).alias("region"),
            num(measures, m).alias("value"),
            pl.lit(unit).alias("unit"),
            weaker.alias("weaker_side"),
            pl.when(weaker.is_not_null()).then(basis).otherwise(None).alias("side_basis"),
            simulated.alias("simulated"),
            version_expr.alias("model_version"),
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
    )
    return conform(long.drop("_order"), SCORE_SCHEMA).select(list(SCORE_SCHEMA))
