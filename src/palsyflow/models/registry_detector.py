"""MLflow at the edge for the palsy detector and the grouped grader: log, register, load.

A thin adapter (MLflow is imported inside the functions, so importing this module does
not pull MLflow into domain code). The detector pipeline is saved with MLflow's
scikit-learn flavour in the **skops** format (no code runs on load; only the listed
scikit-learn and numpy types are trusted), ``predict`` of its pyfunc returns the two
class probabilities (``predict_proba``: column 0 healthy, column 1 palsy), with a
signature and an input example of the :data:`~palsyflow.features.photo.DETECTOR_FEATURES`
columns. The SHAP background rows, the SHAP summary and the evaluation go to the same run
as JSON. The grouped grader's evaluation is logged as metrics and JSON.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from palsyflow import tracking
from palsyflow.config import DetectorParams, TrainParams
from palsyflow.models.detector import DetectorModel

__all__ = ["load_detector", "log_detector", "log_grader_evaluation"]

#: Types skops may rebuild when the detector is loaded (nothing else is trusted).
TRUSTED_TYPES = [
    "sklearn.impute._base.SimpleImputer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "numpy.dtype",
]


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)) and math.isfinite(float(v)):
            out[k] = float(v)
        elif isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v) and k.endswith("_ci"):
            out[f"{k}_low"], out[f"{k}_high"] = float(v[0]), float(v[1])
    return out


def log_detector(
    model: DetectorModel,
    params: DetectorParams,
    tracking_uri: str,
    experiment: str,
    code_version: str,
    labels_sha256: str,
    extra: dict[str, Any] | None = None,
    artifact_location: Path | None = None,
    experiment_name: str | None = None,
) -> dict[str, str | None]:
    """Log the detector's run (params, metrics, tags, card data) and register the model.

    Parameters
    ----------
    model : DetectorModel
    params : DetectorParams
        All of it is logged as run parameters; ``registered_model`` names the model.
    tracking_uri : str
        Tracking and registry URI.
    experiment : str
    code_version : str
        palsyflow's version / git commit (tag ``code_version``).
    labels_sha256 : str
        sha256 of the labels CSV (tag ``data.labels_sha256``).
    extra : dict, optional
        More JSON for the run (counts, shortcut metrics).
    artifact_location : Path, optional
        Where a new experiment keeps its artifacts (the project's ``mlflow_artifacts``);
        default MLflow's (``./mlruns`` of the working directory).
    experiment_name : str, optional
        The DVC experiment's name when run inside one: the version then gets no alias
        (:func:`palsyflow.tracking.register_model`'s policy).

    Returns
    -------
    dict
        ``run_id`` and ``version`` (the registered model version).
    """
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    auc = model.metrics.get("auc", float("nan"))
    with tracking._scoped_uris(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        exp_id = tracking._experiment_id(client, experiment, Path(artifact_location or "mlruns"))
        with mlflow.start_run(experiment_id=exp_id, run_name=f"detector-auc{auc:.2f}-{str(code_version)[:12]}") as run:
            mlflow.log_params({f"detector.{k}": str(v) for k, v in params.model_dump().items()})
            mlflow.log_metrics(_flat_metrics(model.metrics))
            tags = {"code_version": str(code_version), "data.labels_sha256": labels_sha256, "model.kind": "palsy_detector"}
            mlflow.set_tags(tags)
            mlflow.log_dict(
                {
                    "feature_names": model.feature_names,
                    "background": np.where(np.isfinite(model.background), model.background, None).tolist(),
                    "shap_summary": model.shap_summary,
                    "metrics": model.metrics,
                    **(extra or {}),
                },
                "detector.json",
            )
            example = pd.DataFrame(np.nan_to_num(model.background[:2], nan=0.0), columns=model.feature_names)
            info = mlflow.sklearn.log_model(
                model.estimator,
                name="detector",
                serialization_format="skops",
                skops_trusted_types=TRUSTED_TYPES,
                pyfunc_predict_fn="predict_proba",
                pip_requirements=tracking.model_requirements(),
                signature=infer_signature(example, model.estimator.predict_proba(example.to_numpy())),
                input_example=example,
                registered_model_name=params.registered_model,
            )
            version = tracking._version(info)
            if version is not None:
                description = (
                    f"Healthy-vs-palsy photo detector on re-framed static geometry (grouped AUC {auc:.3f}); predict "
                    "returns [P(healthy), P(palsy)]. Card: models/cards/detector.md."
                )
                # the same alias policy as the normative model and the grader (candidate; production first)
                tracking._describe_version(client, params.registered_model, version, description, tags, experiment_name)
    return {"run_id": run.info.run_id, "version": None if version is None else str(version)}


def detector_version(tracking_uri: str, name: str, alias: str = "production") -> str | None:
    """``name/<version>`` of the detector holding ``alias``, or None; nothing is downloaded."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        mv = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return f"{name}/{mv.version}"


def load_detector(tracking_uri: str, name: str, version: str = "production") -> tuple[DetectorModel, str]:
    """The registered detector (estimator, feature names, SHAP background) and ``name/version``.

    ``version`` is a version number, an alias (default the ``production`` alias, which only
    ``palsyflow models promote`` moves after the first version), or ``"latest"``.

    Raises
    ------
    LookupError
        If no such model, version or alias is registered.
    """
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if version == "latest":
        versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            raise LookupError(f"no detector registered as {name!r}")
        mv = max(versions, key=lambda v: int(v.version))
    elif str(version).isdigit():
        mv = client.get_model_version(name, str(version))
    else:
        from mlflow.exceptions import MlflowException

        try:
            mv = client.get_model_version_by_alias(name, version)
        except MlflowException as exc:
            raise LookupError(f"no detector registered as {name!r} with alias {version!r}") from exc
    with tracking._scoped_uris(tracking_uri):
        est = mlflow.sklearn.load_model(f"models:/{name}/{mv.version}")
        data = mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/detector.json")
    bg = np.array([[np.nan if v is None else v for v in row] for row in data["background"]], dtype=np.float64)
    model = DetectorModel(est, list(data["feature_names"]), bg, data.get("metrics", {}), data.get("shap_summary", {}))
    return model, f"{name}/{mv.version}"


def log_grader_evaluation(
    result: dict[str, Any], params: TrainParams, tracking_uri: str, code_version: str, sessions_sha256: str, artifact_location: Path | None = None
) -> str:
    """Log a subject-grouped grader evaluation as a run of ``params.experiment``; returns the run id."""
    import mlflow
    from mlflow import MlflowClient

    with tracking._scoped_uris(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri)
        exp_id = tracking._experiment_id(client, params.experiment, Path(artifact_location or "mlruns"))
        with mlflow.start_run(experiment_id=exp_id, run_name=f"grader-grouped-k{result.get('kappa_quadratic', float('nan')):.2f}") as run:
            mlflow.log_params({f"train.{k}": str(v) for k, v in params.model_dump().items()})
            mlflow.log_metrics({f"grader_{k}": v for k, v in _flat_metrics(result).items()})
            mlflow.set_tags({"code_version": str(code_version), "data.sessions_sha256": sessions_sha256, "model.kind": "grader_grouped"})
            mlflow.log_dict(result, "grader_grouped.json")
    return run.info.run_id
