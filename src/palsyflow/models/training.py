"""Training: the normative model and the optional grader from the session table.

:func:`train_models` is pure (no files); :func:`save_models` / :func:`load_normative`
are the only disk I/O here, all atomic. MLflow logging lives in
:mod:`palsyflow.tracking`.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from palsyflow.atomic import atomic_write_bytes, atomic_write_text
from palsyflow.config import TrainParams
from palsyflow.models.grader import GraderResult, fit_grader, grader_possible
from palsyflow.models.normative import NormativeModel, loso_calibration
from palsyflow.measures.registry import MOVEMENT_COMPOSITE, REST_COMPOSITE, SCORE_MEASURES, SYMMETRY_INDEX
from palsyflow.measures.symmetry import SIDE_ASYM_COLUMN, session_measures, subject_key

#: Candidate measures of the normative model and grader (every score-table measure), in
#: this order; those present with enough data are used.
NORMATIVE_MEASURES: tuple[str, ...] = tuple(m.name for m in SCORE_MEASURES)
#: Signed side asymmetries whose healthy range decides whether a weaker side is named
#: (:func:`palsyflow.measures.symmetry.decide_sides`); normative model only, never grader inputs.
SIDE_RANGE_MEASURES: tuple[str, ...] = tuple(SIDE_ASYM_COLUMN.values())

#: Means of other measures: left out of a joint (MCD) covariance, which they would make singular.
COMPOSITE_MEASURES: tuple[str, ...] = (SYMMETRY_INDEX, REST_COMPOSITE, MOVEMENT_COMPOSITE)

#: The normative model as JSON (:meth:`NormativeModel.to_dict`): nothing executes on load.
NORMATIVE_FILE = "normative.json"
#: The grader Pipeline in skops format (plain scikit-learn types only; no pickle).
GRADER_FILE = "grader.skops"
METRICS_FILE = "train_metrics.json"


@dataclass
class TrainResult:
    """Everything :func:`train_models` produced.

    Attributes
    ----------
    normative : NormativeModel or None
        None when there were too few healthy sessions (see ``skipped``).
    grader : GraderResult or None
        None when the grades do not allow a grader (see ``skipped``).
    metrics : dict of str -> float
        Flat, MLflow-ready: ``n_sessions``, ``normative_n_healthy``, ``normative_n_subjects``,
        ``normative_location.<measure>``, ``normative_scale.<measure>``,
        ``grader_<metric>``, ``grader_n_grade_<g>``.
    params : dict of str -> str | int | float | bool
        The :class:`TrainParams` values plus the feature lists (comma-joined).
    normative_features, grader_features : list of str
        Columns each model expects, in order.
    skipped : dict of str -> str
        What was not fitted and why (``"normative"``, ``"grader"``,
        ``"normative.<measure>"``).
    """

    normative: NormativeModel | None
    grader: GraderResult | None
    metrics: dict[str, float]
    params: dict[str, Any]
    normative_features: list[str] = field(default_factory=list)
    grader_features: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (what ``train_metrics.json`` holds)."""
        return {
            "metrics": self.metrics,
            "params": self.params,
            "normative_features": self.normative_features,
            "grader_features": self.grader_features,
            "grader_classes": self.grader.classes if self.grader else [],
            "grader_class_counts": {str(k): v for k, v in self.grader.metrics["class_counts"].items()}
            if self.grader
            else {},
            "skipped": self.skipped,
        }


def _non_null(df: pl.DataFrame, col: str) -> int:
    return int(df.select(pl.col(col).cast(pl.Float64).fill_nan(None).is_not_null().sum()).item())


def train_models(session_table: pl.DataFrame, params: TrainParams) -> TrainResult:
    """Fit the normative model on healthy sessions and, when possible, the grader.

    Parameters
    ----------
    session_table : polars.DataFrame, shape (n_sessions, ...)
        The session table (see :func:`palsyflow.measures.symmetry.session_measures`).
    params : TrainParams
        ``normative_method``, ``min_healthy_sessions`` (also the per-measure minimum
        of non-missing healthy values), ``normative_min_scale``,
        ``normative_include_simulated``, ``grader_include_simulated`` and the grader
        settings.

    Returns
    -------
    TrainResult
        Normative model fitted on rows with ``healthy == True`` (simulated phantoms
        excluded unless ``normative_include_simulated``) over the
        :data:`NORMATIVE_MEASURES` and (``"robust"`` only) the
        :data:`SIDE_RANGE_MEASURES` with at least ``min_healthy_sessions`` non-missing
        healthy values, with each row's subject (:func:`subject_key`) as its group so
        that scoring can leave the subject out; grader fitted on rows with a grade over the measures with any
        non-missing value. Whatever cannot be fitted is ``None`` with its reason in
        ``skipped``; this function does not raise for lack of data.

    Raises
    ------
    KeyError, ValueError
        From :func:`session_measures` for a malformed table (missing id columns,
        duplicated sessions).
    """
    if session_table.height == 0:
        reason = "the session table is empty"
        return TrainResult(
            normative=None,
            grader=None,
            metrics={"n_sessions": 0.0, "normative_n_healthy": 0.0},
            params=dict(params.model_dump(mode="json"), normative_features="", grader_features=""),
            skipped={"normative": reason, "grader": reason},
        )
    measures = session_measures(session_table)
    metrics: dict[str, float] = {"n_sessions": float(measures.height)}
    skipped: dict[str, str] = {}
    present = [m for m in NORMATIVE_MEASURES if m in measures.columns]

    # ---- normative model
    healthy = measures.filter(pl.col("healthy").fill_null(False))
    if not params.normative_include_simulated:
        healthy = healthy.filter(~pl.col("simulated").fill_null(False))
    metrics["normative_n_healthy"] = float(healthy.height)
    metrics["normative_n_subjects"] = float(len(set(subject_key(healthy)))) if healthy.height else 0.0
    normative: NormativeModel | None = None
    norm_features: list[str] = []
    if healthy.height < params.min_healthy_sessions:
        skipped["normative"] = (
            f"{healthy.height} healthy sessions, at least min_healthy_sessions={params.min_healthy_sessions} needed"
        )
    else:
        side_present = [] if params.normative_method == "mcd" else [m for m in SIDE_RANGE_MEASURES if m in measures.columns]
        for m in present + side_present:
            if params.normative_method == "mcd" and m in COMPOSITE_MEASURES:
                # a linear combination of the regional symmetries: singular joint covariance
                skipped[f"normative.{m}"] = "excluded from the mcd fit (mean of the regional symmetries)"
                continue
            n = _non_null(healthy, m)
            if n >= params.min_healthy_sessions:
                norm_features.append(m)
            else:
                skipped[f"normative.{m}"] = f"{n} healthy values, {params.min_healthy_sessions} needed"
        if not norm_features:
            skipped["normative"] = "no measure has enough healthy values"
        else:
            model = NormativeModel(
                method=params.normative_method,
                min_samples=params.min_healthy_sessions,
                min_scale=params.normative_min_scale,
                random_state=params.seed,
            )
            try:
                normative = model.fit(healthy.select(norm_features), groups=subject_key(healthy))
            except ValueError as exc:  # e.g. mcd without enough complete rows
                skipped["normative"] = str(exc)
                norm_features = []
    if normative is not None:
        for m, loc, sc in zip(norm_features, normative.location_, normative.scale_, strict=True):
            metrics[f"normative_location.{m}"] = float(loc)
            metrics[f"normative_scale.{m}"] = float(sc)
        # held-out quality: are the healthy percentiles calibrated for a subject not in the fit?
        calib = loso_calibration(normative, healthy.select(norm_features), subject_key(healthy), seed=params.seed)
        metrics.update({f"normative_{k}": v for k, v in calib.items()})
        if not calib:
            skipped["normative.calibration"] = "no subject has a leave-one-out reference of min_healthy_sessions"

    # ---- grader
    labelled = measures
    if not params.grader_include_simulated:
        labelled = labelled.filter(~pl.col("simulated").fill_null(False))
    labelled = labelled.filter(pl.col("hb_grade").is_not_null())
    grader: GraderResult | None = None
    grader_features = [m for m in present if labelled.height and _non_null(labelled, m) > 0]
    ok, reason = grader_possible(labelled["hb_grade"])
    if not ok:
        skipped["grader"] = reason
    elif not grader_features:
        skipped["grader"] = "no measure has any value in the graded sessions"
    else:
        grader = fit_grader(labelled.select(grader_features), labelled["hb_grade"], params)
        for k, v in grader.metrics.items():
            if k == "class_counts":
                for g, n in v.items():
                    metrics[f"grader_n_grade_{g}"] = float(n)
            else:
                metrics[f"grader_{k}"] = float(v)
    if grader is None:
        grader_features = []

    run_params: dict[str, Any] = dict(params.model_dump(mode="json"))
    run_params["normative_features"] = ",".join(norm_features)
    run_params["grader_features"] = ",".join(grader_features)
    return TrainResult(
        normative=normative,
        grader=grader,
        metrics=metrics,
        params=run_params,
        normative_features=norm_features,
        grader_features=grader_features,
        skipped=skipped,
    )


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def save_models(result: TrainResult, out_dir: Path | str) -> dict[str, Path]:
    """Write the trained models and metrics atomically, in formats that run no code on load.

    Parameters
    ----------
    result : TrainResult
    out_dir : path-like
        Created if needed.

    Returns
    -------
    dict of str -> Path
        ``"normative"`` -> :data:`NORMATIVE_FILE` (JSON of :meth:`NormativeModel.to_dict`;
        always written, ``null`` when the normative model was skipped, so the stage
        output always exists), ``"grader"`` -> :data:`GRADER_FILE` (the fitted
        Pipeline in skops format, only when a grader was fitted), ``"metrics"`` ->
        ``train_metrics.json`` (:meth:`TrainResult.summary`, non-finite numbers as null).
    """
    out = Path(out_dir)
    data = None if result.normative is None else result.normative.to_dict()
    paths = {"normative": atomic_write_text(out / NORMATIVE_FILE, json.dumps(data, sort_keys=True) + "\n")}
    if result.grader is not None:
        import skops.io as sio

        paths["grader"] = atomic_write_bytes(out / GRADER_FILE, sio.dumps(result.grader.estimator))
    elif (out / GRADER_FILE).exists():
        (out / GRADER_FILE).unlink()  # a stale grader must not outlive a run that skipped it
    for stale in ("normative.joblib", "grader.joblib"):  # pickles of palsyflow <= 0.1.0
        (out / stale).unlink(missing_ok=True)
    paths["metrics"] = atomic_write_text(
        out / METRICS_FILE, json.dumps(_json_safe(result.summary()), indent=2, sort_keys=True) + "\n"
    )
    return paths


def load_normative(path: Path | str) -> NormativeModel | None:
    """Load the normative model written by :func:`save_models` (JSON, no code executed).

    Parameters
    ----------
    path : path-like
        :data:`NORMATIVE_FILE` (or its directory).

    Returns
    -------
    NormativeModel or None
        None when the file is absent or holds ``null`` (model skipped in training).

    Raises
    ------
    ValueError
        If the file is not JSON of a normative model (:meth:`NormativeModel.from_dict`).
    """
    path = Path(path)
    if path.is_dir():
        path = path / NORMATIVE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from exc
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: holds a JSON {type(data).__name__}, not a normative model")
    return NormativeModel.from_dict(data)


def load_grader(path: Path | str) -> Any | None:
    """Load the grader Pipeline written by :func:`save_models` (skops; only scikit-learn/numpy types trusted).

    Parameters
    ----------
    path : path-like
        :data:`GRADER_FILE` (or its directory).

    Returns
    -------
    sklearn.pipeline.Pipeline or None
        None when the file is absent (no grader fitted).

    Raises
    ------
    TypeError
        If the file holds a type outside scikit-learn, numpy and builtins (skops refuses
        to construct untrusted types).
    """
    import skops.io as sio

    path = Path(path)
    if path.is_dir():
        path = path / GRADER_FILE
    if not path.exists():
        return None
    untrusted = sio.get_untrusted_types(file=path)
    bad = [t for t in untrusted if not t.split(".")[0] in ("sklearn", "numpy", "builtins")]
    if bad:
        raise TypeError(f"{path}: untrusted types {bad}")
    return sio.load(path, trusted=untrusted)


def grader_table(session_table: pl.DataFrame, params: TrainParams) -> tuple[pl.DataFrame, list, list[str]]:
    """The grader's inputs from a session table: measures, clinician grades, subjects.

    The same measures and simulated-row rule as :func:`train_models`' grader
    (score-table measures present with a value, ``params.grader_include_simulated``).

    Returns
    -------
    (X, grades, subjects)
        X : the measure columns (DataFrame, one row per session); grades : ``hb_grade``
        (None when absent); subjects : :func:`~palsyflow.measures.symmetry.subject_key`
        of each row (site and subject), for subject-grouped evaluation.
    """
    measures = session_measures(session_table)
    if not params.grader_include_simulated and "simulated" in measures.columns:
        measures = measures.filter(~pl.col("simulated").fill_null(False))
    cols = [m for m in NORMATIVE_MEASURES if m in measures.columns and _non_null(measures, m) > 0]
    return measures.select(cols), measures["hb_grade"].to_list(), list(subject_key(measures))
