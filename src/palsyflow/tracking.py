"""MLflow at the edge: log a training run and register its models.

The only palsyflow module that imports :mod:`mlflow`, and only inside functions (the
import is slow and has side effects), so importing this module is free. Backend:
a tracking/registry URI such as ``sqlite:////abs/path/mlflow.db`` and a local
artifact folder.

Nothing registered here is pickled. The normative model is a pyfunc logged as code
(:mod:`palsyflow.models.normative_pyfunc`, MLflow "models from code") whose artifact is
the model's JSON; the grader is a plain scikit-learn Pipeline in skops format. Loading
needs ``palsyflow`` (pinned in each model's requirements, :func:`model_requirements`).

Registry policy (:func:`register_model`): a new version gets the alias ``candidate`` and
the first version of a model also ``production``; a version registered by a DVC
experiment gets the tag ``palsyflow.experiment`` and no alias; only :func:`promote`
(``palsyflow models promote``) moves ``production`` afterwards.
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

from palsyflow import __version__
from palsyflow.config import TrainParams
from palsyflow.models import normative_pyfunc
from palsyflow.models.training import NORMATIVE_FILE

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


def model_requirements() -> list[str]:
    """Requirements of a registered palsyflow model: palsyflow itself, pinned, and the libraries it runs on.

    ``palsyflow==<version>`` brings palsyflow's published requirements (pyproject's
    ``dependencies``); numpy, scipy, scikit-learn, pandas and skops are pinned to the
    versions the model was fitted with, so a loader reproduces the arithmetic.
    """
    from importlib.metadata import PackageNotFoundError, version

    reqs = [f"palsyflow=={__version__}"]
    for dist in ("numpy", "scipy", "scikit-learn", "pandas", "skops"):
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


#: Alias of the model version in use; moved only by :func:`promote` (and given to a model's first version).
PRODUCTION = "production"
#: Alias of the newest version registered outside an experiment, waiting for promotion.
CANDIDATE = "candidate"
#: Version tag naming the DVC experiment (``DVC_EXP_NAME``) a version came from; such versions get no alias.
EXPERIMENT_TAG = "palsyflow.experiment"


@contextlib.contextmanager
def training_run(
    tracking_uri: str,
    artifact_location: Path | str,
    experiment: str,
    run_name: str,
    params: dict[str, Any],
    tags: dict[str, str],
    metrics: dict[str, float] | None = None,
) -> Iterator[str]:
    """Open an MLflow run and log its params, tags and finite metrics; yields the run id.

    Inside the ``with`` block the run is active, so :func:`register_model` logs into it.

    Parameters
    ----------
    tracking_uri : str
        Tracking and registry URI, e.g. ``sqlite:////abs/path/mlflow.db``.
    artifact_location : path-like
        Artifact folder of the MLflow experiment when it is created here.
    experiment : str
        MLflow experiment name.
    run_name : str
        Run name (say what changed).
    params : dict
        Every parameter the run depended on; values stringified, keys sanitised.
    tags : dict of str -> str
        Provenance tags (hashes, versions).
    metrics : dict of str -> float, optional
        Non-finite values are left out.

    Raises
    ------
    mlflow.exceptions.MlflowException
        On backend errors.
    """
    import mlflow
    from mlflow import MlflowClient

    run_params = {_clean_key(k): str(v)[:_MAX_PARAM_VALUE] for k, v in params.items()}
    finite = {
        _clean_key(k): float(v)
        for k, v in (metrics or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
    }
    with _scoped_uris(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        exp_id = _experiment_id(client, experiment, Path(artifact_location))
        with mlflow.start_run(experiment_id=exp_id, run_name=run_name[:250]) as run:
            if run_params:
                mlflow.log_params(run_params)
            if finite:
                mlflow.log_metrics(finite)
            mlflow.set_tags({_clean_key(k): str(v)[:5000] for k, v in tags.items()})
            yield run.info.run_id


def register_model(
    name: str,
    python_model: Any,
    *,
    tracking_uri: str,
    artifact_name: str,
    description: str,
    tags: dict[str, str] | None = None,
    experiment: str | None = None,
    artifacts: dict[str, str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
) -> str:
    """Log a pyfunc model into the active run and register it as a new version of ``name``.

    Alias policy (the one place it is decided): a version registered by a DVC experiment
    (``experiment`` not None) gets the tag :data:`EXPERIMENT_TAG` and **no alias**; any
    other new version gets :data:`CANDIDATE`, and the registered model's first version
    that is not an experiment also gets :data:`PRODUCTION`. Later, only :func:`promote`
    moves :data:`PRODUCTION`.

    Parameters
    ----------
    name : str
        Registered model name.
    python_model : str or path or mlflow.pyfunc.PythonModel
        Prefer the path of a models-from-code file (nothing pickled); a PythonModel
        instance is cloudpickled by MLflow.
    tracking_uri : str
        Tracking and registry URI (the run must be active on it: inside :func:`training_run`).
    artifact_name : str
        Name of the model within the run.
    description : str
        The version's description (what it is, what it was trained on, its quality).
    tags : dict, optional
        Version tags (e.g. the provenance hashes).
    experiment : str or None
        The DVC experiment's name, or None for a production-line run.
    artifacts, signature, input_example : optional
        As for ``mlflow.pyfunc.log_model``.
    pip_requirements : list of str, optional
        Default :func:`model_requirements`.

    Returns
    -------
    str
        The new registry version.

    Raises
    ------
    mlflow.exceptions.MlflowException
        On backend errors or when no run is active.
    """
    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient

    with _scoped_uris(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        info = mlflow.pyfunc.log_model(
            name=artifact_name,
            python_model=str(python_model) if isinstance(python_model, Path) else python_model,
            artifacts=artifacts,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements or model_requirements(),
            registered_model_name=name,
        )
        version = _version(info)
        if version is None:
            raise RuntimeError(f"MLflow registered no version of {name}")
        _describe_version(client, name, version, description, tags or {}, experiment)
        return version


def _describe_version(
    client: Any, name: str, version: str, description: str, tags: dict[str, str], experiment: str | None
) -> None:
    """Description, tags and the alias policy of :func:`register_model` for one new version."""
    client.update_model_version(name, version, description=description)
    for k, v in tags.items():
        client.set_model_version_tag(name, version, _clean_key(k), str(v)[:5000])
    if experiment is not None:
        client.set_model_version_tag(name, version, EXPERIMENT_TAG, experiment)
        return
    client.set_registered_model_alias(name, CANDIDATE, version)
    if _alias_version(client, name, PRODUCTION) is None:
        client.set_registered_model_alias(name, PRODUCTION, version)



def _alias_version(client: Any, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def promote(name: str, version: str | int, tracking_uri: str) -> str | None:
    """Move the :data:`PRODUCTION` alias of ``name`` to ``version``; the only way it moves after the first.

    Parameters
    ----------
    name : str
        Registered model name.
    version : str or int
        An existing version (an experiment's too: promoting it is the researcher's explicit choice).
    tracking_uri : str
        Registry URI.

    Returns
    -------
    str or None
        The version that held :data:`PRODUCTION` before (None when none did).

    Raises
    ------
    mlflow.exceptions.MlflowException
        If the model or the version does not exist.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.get_model_version(name, str(version))  # raises for an unknown version
    before = _alias_version(client, name, PRODUCTION)
    client.set_registered_model_alias(name, PRODUCTION, str(version))
    if _alias_version(client, name, CANDIDATE) == str(version):
        client.delete_registered_model_alias(name, CANDIDATE)
    return before


def list_versions(name: str, tracking_uri: str) -> list[dict[str, Any]]:
    """Every version of registered model ``name``, newest first, with its aliases, tags and description.

    Returns
    -------
    list of dict
        ``version``, ``aliases`` (list), ``run_id``, ``experiment`` (the DVC experiment or
        None), ``description``, ``tags``. Empty when the model does not exist.
    """
    from mlflow import MlflowClient

    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:  # search_model_versions leaves aliases empty: the registered model holds them
        alias_map = dict(client.get_registered_model(name).aliases or {})
    except MlflowException:
        return []
    out = []
    for v in client.search_model_versions(f"name = '{name}'"):
        out.append(
            {
                "version": str(v.version),
                "aliases": sorted(a for a, ver in alias_map.items() if str(ver) == str(v.version)),
                "run_id": v.run_id,
                "experiment": (v.tags or {}).get(EXPERIMENT_TAG),
                "description": v.description or "",
                "tags": dict(v.tags or {}),
            }
        )
    return sorted(out, key=lambda d: int(d["version"]), reverse=True)


def previous_run_params(tracking_uri: str, experiment: str) -> dict[str, str] | None:
    """Params of the newest finished run of ``experiment`` (None when there is none)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id], filter_string="attributes.status = 'FINISHED'", order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return dict(runs[0].data.params) if runs else None


def log_training(
    result: TrainResult,
    params: TrainParams,
    tracking_uri: str,
    artifact_location: Path | str,
    models_dir: Path | str,
    run_params: dict[str, Any],
    tags: dict[str, str],
    run_name: str,
    experiment: str | None = None,
) -> dict[str, str | None]:
    """Log one training run to MLflow and register its models (after DVC committed them).

    Opens a run (:func:`training_run`) with ``run_params`` (every parameter upstream of
    the models), ``result.metrics`` and ``tags`` plus ``skipped.<what>`` reasons; logs
    ``train_metrics.json``; registers the normative model as a models-from-code pyfunc
    (:mod:`palsyflow.models.normative_pyfunc`, its JSON parameters as the artifact; nothing
    pickled) and the grader with the scikit-learn flavour in skops format, each via
    :func:`register_model` with ``tags`` on the version.

    Parameters
    ----------
    result : TrainResult
        From :func:`palsyflow.models.training.train_models` (the models saved in ``models_dir``).
    params : TrainParams
        ``experiment``, ``registered_model``, ``registered_grader``.
    tracking_uri : str
        Tracking and registry URI.
    artifact_location : path-like
        Artifact folder for a newly created MLflow experiment.
    models_dir : path-like
        Folder :func:`palsyflow.models.training.save_models` wrote.
    run_params : dict
        Flattened ``section.key`` -> value of every upstream ``params.yaml`` section.
    tags : dict of str -> str
        Provenance: the committed ``dvc.lock`` hashes, git commit, palsyflow version, fingerprint.
    run_name : str
        What changed since the previous run.
    experiment : str or None
        The DVC experiment's name when run by ``dvc exp run`` (no alias is set).

    Returns
    -------
    dict
        ``run_id``; ``normative_version`` and ``grader_version`` (None when not fitted).

    Raises
    ------
    mlflow.exceptions.MlflowException
        On backend errors (unreachable database, invalid names).
    """
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature


    all_tags = dict(tags)
    all_tags.update({f"skipped.{k}": v[:4000] for k, v in result.skipped.items()})
    if experiment is not None:
        all_tags[EXPERIMENT_TAG] = experiment
    out: dict[str, str | None] = {"run_id": None, "normative_version": None, "grader_version": None}
    with training_run(
        tracking_uri, artifact_location, params.experiment, run_name, run_params, all_tags, result.metrics
    ) as run_id:
        out["run_id"] = run_id
        mlflow.log_dict(_jsonable(result.summary()), "train_metrics.json")
        version_tags = {k: v for k, v in tags.items()}
        if result.normative is not None:
            model = result.normative
            example = pd.DataFrame([list(model.location_)], columns=[str(c) for c in model.feature_names_in_])
            out["normative_version"] = register_model(
                params.registered_model,
                Path(normative_pyfunc.__file__),
                tracking_uri=tracking_uri,
                artifact_name="normative",
                artifacts={normative_pyfunc.ARTIFACT: str(Path(models_dir) / NORMATIVE_FILE)},
                signature=infer_signature(example, normative_pyfunc.predict_frame(model, example)),
                input_example=example,
                description=_normative_description(result, run_name, experiment),
                tags=version_tags,
                experiment=experiment,
            )
        if result.grader is not None:
            out["grader_version"] = _register_grader(result, params, tracking_uri, version_tags, run_name, experiment)
    return out


def _normative_description(result: TrainResult, run_name: str, experiment: str | None) -> str:
    m = result.metrics
    parts = [
        f"palsyflow normative model of healthy sessions ({run_name}).",
        f"{int(m.get('normative_n_healthy', 0))} healthy sessions of {int(m.get('normative_n_subjects', 0))} subjects,"
        f" {len(result.normative_features)} measures.",
        "predict(DataFrame of measures [+ subject]) -> <measure>_z, <measure>_percentile, reference_n.",
        "Model card: models/cards/normative.md.",
    ]
    if "normative_loso_ks" in m:
        parts.append(
            f"Leave-one-subject-out calibration: KS {m['normative_loso_ks']:.3f}"
            f" (95% CI {m.get('normative_loso_ks_ci_low', math.nan):.3f}-{m.get('normative_loso_ks_ci_high', math.nan):.3f}),"
            f" 5-95 band coverage {m['normative_loso_coverage']:.3f} (nominal 0.90;"
            f" 95% CI {m.get('normative_loso_coverage_ci_low', math.nan):.3f}-{m.get('normative_loso_coverage_ci_high', math.nan):.3f})."
        )
    if experiment is not None:
        parts.append(f"DVC experiment {experiment}: not a production candidate unless promoted.")
    return " ".join(parts)


def _skops_trusted(estimator: Any) -> list[str]:
    """The types skops does not trust by default in ``estimator``: only numpy's and scikit-learn's are accepted."""
    import skops.io as sio

    found = sio.get_untrusted_types(data=sio.dumps(estimator))
    bad = [t for t in found if t.split(".")[0] not in ("numpy", "sklearn", "builtins")]
    if bad:
        raise TypeError(f"the grader holds types outside numpy/scikit-learn: {bad}")
    return list(found)


def _register_grader(
    result: TrainResult, params: TrainParams, tracking_uri: str, tags: dict[str, str], run_name: str,
    experiment: str | None,
) -> str | None:
    """The grader Pipeline with the scikit-learn flavour (skops format), registered with the same alias policy."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    names = result.grader.feature_names
    example = pd.DataFrame([[0.0] * len(names)], columns=names)
    with _scoped_uris(tracking_uri):
        info = mlflow.sklearn.log_model(
            result.grader.estimator,
            name="grader",
            serialization_format="skops",
            skops_trusted_types=_skops_trusted(result.grader.estimator),
            pip_requirements=model_requirements(),
            signature=infer_signature(example, result.grader.estimator.predict(example)),
            input_example=example,
            registered_model_name=params.registered_grader,
        )
        version = _version(info)
        if version is None:
            return None
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        description = f"palsyflow House-Brackmann grader ({run_name}); classes {result.grader.classes}."
        _describe_version(client, params.registered_grader, version, description, tags, experiment)
        return version


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


def load_registered(name: str, version_or_alias: str | int, tracking_uri: str) -> Any:
    """Load a registered model as a pyfunc: ``models:/<name>/<version>`` or ``models:/<name>@<alias>``.

    Parameters
    ----------
    name : str
        Registered model name (e.g. ``TrainParams.registered_model``).
    version_or_alias : str or int
        A version number, or an alias such as ``"production"``.
    tracking_uri : str
        Tracking/registry URI the model was registered in.

    Returns
    -------
    mlflow.pyfunc.PyFuncModel
        ``predict(DataFrame)`` as documented in :mod:`palsyflow.models.normative_pyfunc`
        (the normative model) or the grader's classes.

    Raises
    ------
    mlflow.exceptions.MlflowException
        If the model, version or alias does not exist.
    """
    import mlflow.pyfunc

    ref = str(version_or_alias)
    uri = f"models:/{name}/{ref}" if ref.isdigit() else f"models:/{name}@{ref}"
    with _scoped_uris(tracking_uri):
        return mlflow.pyfunc.load_model(uri)
