"""MLflow at the edge: log a training run and register its models.

The only palsyflow module that imports :mod:`mlflow`, and only inside functions (the
import is slow and has side effects), so importing this module is free. Backend:
a tracking/registry URI such as ``sqlite:////abs/path/mlflow.db`` and a local
artifact folder.

Models are logged with the scikit-learn flavour and ``cloudpickle`` serialisation
(the default ``skops`` format rejects custom estimators such as
:class:`~palsyflow.models.normative.NormativeModel`). Cloudpickle stores palsyflow
classes by reference: loading needs ``palsyflow`` importable, and MLflow 3.17 loads
pickled models only when ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true``.
"""

from __future__ import annotations

import contextlib
import math
import os
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from palsyflow.config import TrainParams

if TYPE_CHECKING:
    from palsyflow.models.training import TrainResult

_BAD_KEY_CHARS = re.compile(r"[^/\w.\- ]")
_MAX_KEY = 250
_MAX_PARAM_VALUE = 6000
#: Tag holding the train stage's fingerprint (inputs, parameters, code) on each training run.
FINGERPRINT_TAG = "palsyflow.fingerprint"


def _clean_key(key: str) -> str:
    """An MLflow-valid param/metric/tag key (chars, normalised path, <= 250 chars)."""
    key = _BAD_KEY_CHARS.sub("_", key)
    key = posixpath.normpath(key).lstrip("/").replace("..", "__")
    return key[:_MAX_KEY]


def dvc_lock_tags(dvc_lock: Path | str | None) -> dict[str, str]:
    """Stage hashes of a ``dvc.lock`` file as MLflow tags.

    Parameters
    ----------
    dvc_lock : path-like or None
        ``dvc.lock`` (schema 2.0: ``stages: {name: {deps: [{path, md5}], outs: [...]}}``).

    Returns
    -------
    dict of str -> str
        ``"dvc.<stage>.<path>"`` -> md5 (``etag``/``checksum`` when no md5) for every
        dependency and output of every stage; keys sanitised for MLflow. Empty when the
        file is None or absent.

    Raises
    ------
    yaml.YAMLError
        If the file is not valid YAML.
    """
    if dvc_lock is None or not Path(dvc_lock).is_file():
        return {}
    data = yaml.safe_load(Path(dvc_lock).read_text()) or {}
    tags: dict[str, str] = {}
    for stage, spec in (data.get("stages") or {}).items():
        for kind in ("deps", "outs"):
            for entry in (spec or {}).get(kind) or []:
                if not isinstance(entry, dict) or "path" not in entry:
                    continue
                digest = entry.get("md5") or entry.get("etag") or entry.get("checksum")
                if digest:
                    tags[_clean_key(f"dvc.{stage}.{entry['path']}")] = str(digest)
    return tags


@contextlib.contextmanager
def _scoped_uris(tracking_uri: str) -> Iterator[None]:
    """Point mlflow's global tracking and registry URIs at ``tracking_uri`` temporarily.

    ``mlflow.sklearn.log_model`` only works through the global (fluent) state; this
    restores the previous URIs and their environment variables afterwards.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as reg_utils
    from mlflow.tracking._tracking_service import utils as trk_utils

    prev_tracking = getattr(trk_utils, "_tracking_uri", None)
    prev_registry = getattr(reg_utils, "_registry_uri", None)
    prev_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(prev_tracking)
        reg_utils._registry_uri = prev_registry
        for k, v in prev_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _pip_requirements() -> list[str]:
    """Pinned runtime requirements of the logged models (palsyflow itself not on PyPI)."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for dist in ("scikit-learn", "numpy", "scipy", "cloudpickle", "polars"):
        try:
            reqs.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            reqs.append(dist)
    return reqs


def _experiment_id(client: Any, name: str, artifact_location: Path) -> str:
    """The experiment's id, created if absent.

    With a local backend (``sqlite:``, a path) the experiment's artifacts go to
    ``artifact_location`` as a ``file://`` URI. With a tracking server (``http(s)://``)
    no location is forced: the server picks its default artifact root (``mlflow-artifacts:/``
    when started with ``--serve-artifacts``/``--artifacts-destination``), so clients
    upload through the server and other machines can read the artifacts.
    """
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    if str(client.tracking_uri).split(":", 1)[0].lower() in ("http", "https"):
        return client.create_experiment(name)
    Path(artifact_location).mkdir(parents=True, exist_ok=True)
    return client.create_experiment(name, artifact_location=Path(artifact_location).resolve().as_uri())


def log_training(
    result: TrainResult,
    params: TrainParams,
    tracking_uri: str,
    artifact_location: Path | str,
    dvc_lock: Path | str | None,
    code_version: str,
    fingerprint: str | None = None,
) -> dict[str, str | None]:
    """Log one training run to MLflow and register its models.

    Creates (or reuses) the experiment ``params.experiment`` with artifacts under
    ``artifact_location``; opens a run; logs ``result.params`` as params,
    ``result.metrics`` (finite values) as metrics, and as tags ``code_version``, the
    ``dvc.lock`` stage hashes (:func:`dvc_lock_tags`) and ``skipped.<what>`` reasons;
    logs ``train_metrics.json``; logs the normative model (pyfunc ``transform``: z-
    scores) and the grader (pyfunc ``predict``) with the sklearn flavour and
    registers them as ``params.registered_model`` and ``params.registered_grader``.

    Parameters
    ----------
    result : TrainResult
        From :func:`palsyflow.models.training.train_models`.
    params : TrainParams
        ``experiment``, ``registered_model``, ``registered_grader``.
    tracking_uri : str
        Tracking and registry URI, e.g. ``sqlite:////abs/path/mlflow.db``.
    artifact_location : path-like
        Local folder for the experiment's artifacts (used when the experiment is
        created; an existing experiment keeps its own location).
    dvc_lock : path-like or None
        ``dvc.lock`` whose stage hashes become tags; ignored when None/absent.
    code_version : str
        E.g. the git commit; tagged as ``code_version``.
    fingerprint : str, optional
        The train stage's fingerprint, tagged as :data:`FINGERPRINT_TAG` so that
        :func:`find_training` can find this run again.

    Returns
    -------
    dict
        ``run_id``; ``normative_version`` and ``grader_version``: registry versions
        as strings, None for a model that was not fitted.

    Raises
    ------
    mlflow.exceptions.MlflowException
        On backend errors (unreachable database, invalid names).
    """
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    tags = {"code_version": str(code_version), **dvc_lock_tags(dvc_lock)}
    if fingerprint:
        tags[FINGERPRINT_TAG] = str(fingerprint)
    tags.update({_clean_key(f"skipped.{k}"): v[:8000] for k, v in result.skipped.items()})
    run_params = {_clean_key(k): str(v)[:_MAX_PARAM_VALUE] for k, v in result.params.items()}
    metrics = {
        _clean_key(k): float(v)
        for k, v in result.metrics.items()
        if isinstance(v, (int, float)) and math.isfinite(float(v))
    }
    out: dict[str, str | None] = {"run_id": None, "normative_version": None, "grader_version": None}

    with _scoped_uris(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        exp_id = _experiment_id(client, params.experiment, Path(artifact_location))
        with mlflow.start_run(experiment_id=exp_id, run_name=f"train-{str(code_version)[:12]}") as run:
            out["run_id"] = run.info.run_id
            if run_params:
                mlflow.log_params(run_params)
            if metrics:
                mlflow.log_metrics(metrics)
            mlflow.set_tags(tags)
            mlflow.log_dict(_jsonable(result.summary()), "train_metrics.json")

            if result.normative is not None:
                example = pd.DataFrame(
                    [list(result.normative.location_)], columns=list(result.normative.feature_names_in_)
                )
                info = mlflow.sklearn.log_model(
                    result.normative,
                    name="normative",
                    serialization_format="cloudpickle",
                    pip_requirements=_pip_requirements(),
                    pyfunc_predict_fn="transform",
                    signature=infer_signature(example, result.normative.transform(example)),
                    registered_model_name=params.registered_model,
                )
                out["normative_version"] = _version(info)
            if result.grader is not None:
                names = result.grader.feature_names
                example = pd.DataFrame([[0.0] * len(names)], columns=names)
                info = mlflow.sklearn.log_model(
                    result.grader.estimator,
                    name="grader",
                    serialization_format="cloudpickle",
                    pip_requirements=_pip_requirements(),
                    signature=infer_signature(example, result.grader.estimator.predict(example)),
                    registered_model_name=params.registered_grader,
                )
                out["grader_version"] = _version(info)
    return out


def find_training(params: TrainParams, tracking_uri: str, fingerprint: str) -> dict[str, str | None] | None:
    """The finished training run logged earlier with ``fingerprint``, and its registered versions.

    The train stage logs and registers its models before it writes its stamp; a stage
    killed in between fits the same models again on the rerun. Reusing the run found
    here instead of registering them a second time keeps the model version (and so the
    scores' ``model_version``) what an uninterrupted run gives. Only a run MLflow
    marks ``FINISHED`` counts: one killed while logging stays ``RUNNING`` and is
    logged anew.

    Parameters
    ----------
    params : TrainParams
        ``experiment``, ``registered_model``, ``registered_grader``.
    tracking_uri : str
        Tracking and registry URI.
    fingerprint : str
        The value of the :data:`FINGERPRINT_TAG` tag looked for.

    Returns
    -------
    dict or None
        Like :func:`log_training`'s result (``run_id``, ``normative_version``,
        ``grader_version``), for the newest such run; ``None`` when there is none.

    Raises
    ------
    mlflow.exceptions.MlflowException
        On backend errors.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    exp = client.get_experiment_by_name(params.experiment)
    if exp is None:
        return None
    found = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{FINGERPRINT_TAG}` = '{fingerprint}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not found:
        return None
    run_id = found[0].info.run_id
    versions = {v.name: str(v.version) for v in client.search_model_versions(f"run_id = '{run_id}'")}
    return {
        "run_id": run_id,
        "normative_version": versions.get(params.registered_model),
        "grader_version": versions.get(params.registered_grader),
    }


def _version(info: Any) -> str | None:
    v = getattr(info, "registered_model_version", None)
    return None if v is None else str(v)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return obj.item()
    return obj


def load_registered(name: str, version: str | int, tracking_uri: str) -> Any:
    """Load a registered sklearn model (``models:/<name>/<version>``).

    Parameters
    ----------
    name : str
        Registered model name (e.g. ``TrainParams.registered_model``).
    version : str or int
        Registry version.
    tracking_uri : str
        Tracking/registry URI the model was registered in.

    Returns
    -------
    object
        The estimator (a NormativeModel or a grader Pipeline).

    Raises
    ------
    mlflow.exceptions.MlflowException
        If the model does not exist, or ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` is not
        ``true`` (MLflow 3.17 refuses to unpickle otherwise; set it only for models you
        trust, i.e. your own registry).
    """
    import mlflow.sklearn

    with _scoped_uris(tracking_uri):
        return mlflow.sklearn.load_model(f"models:/{name}/{version}")
