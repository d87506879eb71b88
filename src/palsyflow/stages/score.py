"""Stage ``score``: the validated session table and the normative model -> the score table.

Reads ``validated_sessions``, ``normative_model`` and ``registration`` (for the MLflow
model version); writes ``scores_table`` and ``scores_stamp``, and the scores to the store (not in a DVC experiment).
"""

from __future__ import annotations

import polars as pl

from palsyflow.atomic import atomic_write_parquet, sha256_file
from palsyflow.models.training import load_normative
from palsyflow.project import Project
from palsyflow.scoring.scores import score_sessions, session_measures
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import digest, files_digest, read_json, stage_code_digest, unchanged, write_stamp
from palsyflow.stages.register import registered_version
from palsyflow.stages.runs import Run, StageResult, checkpoint
from palsyflow.store import repo
from palsyflow.store.db import session_scope


def score(project: Project) -> StageResult:
    """Per-session scores against the normative model, with change since the first session.

    A session of a subject in the healthy reference is scored against the reference without
    that subject (leave-one-subject-out); every row's ``model_version`` names the reference
    size it was scored against, and weaker sides are named only outside the healthy range
    (:func:`palsyflow.scoring.scores.score_sessions`).

    The score stage has no parameters of its own: the weaker sides it reports were decided
    by the features stage (``features.weaker_min_diff_iod`` ...), which the validated session
    table it reads already reflects. ``train.registered_model`` and the MLflow version the
    train stamp names are written in every row, so they are part of the fingerprint: a
    model registered again (a train rerun after a crash) rescores, and the scores' model
    version never disagrees with the model stamp.
    """
    cat = Catalog.of(project)
    result = StageResult("score")
    src = cat.path("validated_sessions")
    model_path = cat.path("normative_model")
    out, stamp = cat.path("scores_table"), cat.path("scores_stamp")
    registered = project.params.train.registered_model  # names the model version in every row
    version = _mlflow_version(cat)
    fp = digest(files_digest([src, model_path]), registered, version, stage_code_digest("score"))
    with Run(project, "score", digest(registered), {"inputs": fp}) as run:
        if unchanged(stamp, fp, [out]):
            result.skipped = 1
        else:
            _score(project, fp, result)
        run.finish(result)
    return result


def _mlflow_version(cat: Catalog) -> str | None:
    """The normative model's MLflow version named by the register stage (``None`` without MLflow)."""
    return registered_version(cat)


def _score(project: Project, fp: str, result: StageResult) -> None:
    cat = Catalog.of(project)
    src, model_path = cat.path("validated_sessions"), cat.path("normative_model")
    out, stamp = cat.path("scores_table"), cat.path("scores_stamp")
    registered = project.params.train.registered_model
    version = _mlflow_version(cat)
    normative = load_normative(model_path) if model_path.exists() else None
    model_version = f"{registered}/{version}" if version else (
        f"local:{sha256_file(model_path)[:12]}" if normative is not None else None
    )
    scores = score_sessions(session_measures(pl.read_parquet(src)), normative, model_version=model_version)
    atomic_write_parquet(scores, out)
    checkpoint("score", "written")  # test hook: the table written, its store rows and stamp not
    if project.experiment:  # a DVC experiment writes its workspace only, never the store
        result.processed = scores.height
        result.notes.append(f"DVC experiment {project.experiment}: scores not written to the store")
    else:
        with session_scope(project.engine) as db:
            result.processed = repo.upsert_scores(db, scores.to_dicts())
    write_stamp(stamp, fp)  # last: after the table and the store's rows it certifies
    result.outputs.append(str(out))
