"""Stage ``train``: the validated session table -> the normative model (and grader), logged to MLflow.

Reads ``validated_sessions``; writes the ``models`` folder through
:func:`palsyflow.models.training.save_models` (the folder comes from the catalog; the
file names inside it, ``normative.joblib`` ..., are the training module's), the DVC
metric ``train_metrics`` and the stamp ``train_stamp``; logs and registers the models
in MLflow (artifacts under ``mlflow_artifacts``) with the ``dvc.lock`` hashes as tags.
"""

from __future__ import annotations

import json
import logging

import polars as pl

from palsyflow.atomic import atomic_write_text
from palsyflow.models.training import save_models, train_models
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import digest, files_digest, stage_code_digest, unchanged, write_stamp
from palsyflow.stages.runs import Run, StageResult, checkpoint
from palsyflow.tracking import find_training, log_training

log = logging.getLogger("palsyflow.stages")


def train(project: Project) -> StageResult:
    """Fit the normative model (and the grader when grades allow), save, log to MLflow.

    A failure of MLflow logging is noted in the result, never loses the fitted models.
    """
    cat = Catalog.of(project)
    result = StageResult("train")
    src = cat.path("validated_sessions")
    stamp = cat.path("train_stamp")
    fp = digest(files_digest([src]), project.params.train.digest(), stage_code_digest("train"))
    with Run(project, "train", project.params.train.digest(), {"validated_sessions": fp}) as run:
        if unchanged(stamp, fp, [cat.path("models_summary")]):
            result.skipped = 1
        else:
            _train(project, fp, result)
        run.finish(result)
    return result


def _train(project: Project, fp: str, result: StageResult) -> None:
    cat = Catalog.of(project)
    src, stamp = cat.path("validated_sessions"), cat.path("train_stamp")
    trained = train_models(pl.read_parquet(src), project.params.train)
    paths = save_models(trained, cat.models)
    metrics_file = cat.path("train_metrics")
    atomic_write_text(metrics_file, json.dumps(trained.metrics, indent=2, sort_keys=True, default=str))
    result.outputs += [str(p) for p in paths.values()] + [str(metrics_file)]
    result.notes += [f"{k} skipped: {v}" for k, v in (trained.skipped or {}).items()]
    mlflow_info = {}
    try:
        lock = cat.dvc_lock
        # a run killed after logging but before its stamp logged these very models: reuse them
        mlflow_info = find_training(project.params.train, project.mlflow_uri, fp) or {}
        if mlflow_info:
            result.notes.append(f"mlflow run {mlflow_info.get('run_id')} (logged before with this fingerprint)")
        else:
            mlflow_info = log_training(
                trained,
                project.params.train,
                project.mlflow_uri,
                cat.path("mlflow_artifacts"),
                lock if lock.exists() else None,
                project.code_version,
                fingerprint=fp,
            )
            result.notes.append(f"mlflow run {mlflow_info.get('run_id')}")
    except Exception as exc:  # noqa: BLE001 - tracking must not lose the fitted model
        log.warning("MLflow logging failed: %s", exc)
        log.debug("MLflow logging failed", exc_info=True)
        result.notes.append(f"MLflow logging failed: {exc}")
    checkpoint("train", "logged")  # test hook: models saved and logged to MLflow, stamp not written
    write_stamp(stamp, fp, mlflow=mlflow_info)  # last: after the models, the metrics and the MLflow run
    result.processed = 1
