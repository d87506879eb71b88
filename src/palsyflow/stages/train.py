"""Stage ``train``: the validated session table -> the normative model (and grader).

Reads ``validated_sessions``; writes the ``models`` folder through
:func:`palsyflow.models.training.save_models` (the folder comes from the catalog; the
file names inside it, ``normative.json`` ..., are the training module's), the DVC
metric ``train_metrics`` (tracked in git, so ``dvc exp show`` and ``dvc metrics diff``
see it) and the stamp ``train_stamp``. It does not touch MLflow: logging and registration
are the next stage's (:mod:`palsyflow.stages.register`), after DVC committed these outputs,
so that the run's tags are the committed hashes.
"""

from __future__ import annotations

import json

import polars as pl

from palsyflow.atomic import atomic_write_text
from palsyflow.models.training import save_models, train_models
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import digest, files_digest, stage_code_digest, unchanged, write_stamp
from palsyflow.stages.runs import Run, StageResult, checkpoint

def train(project: Project) -> StageResult:
    """Fit the normative model (and the grader when grades allow) and save them with their metrics."""
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
    atomic_write_text(metrics_file, json.dumps(trained.metrics, indent=2, sort_keys=True, default=str) + "\n")
    result.outputs += [str(p) for p in paths.values()] + [str(metrics_file)]
    result.notes += [f"{k} skipped: {v}" for k, v in (trained.skipped or {}).items()]
    checkpoint("train", "saved")  # test hook: models and metrics saved, stamp not written
    write_stamp(stamp, fp)  # last: after the models and the metrics
    result.processed = 1
