"""The palsy detector and the grouped House-Brackmann grader as stage functions.

``palsyflow models train-detector`` / ``train-grader`` and ``palsyflow measure``'s
``palsy_detector`` block are thin adapters over these (printing only); the domain work is
in :mod:`palsyflow.models.detector`, :mod:`palsyflow.models.grader` and
:mod:`palsyflow.features.detector_data`, MLflow in :mod:`palsyflow.models.registry_detector`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palsyflow.atomic import sha256_file
from palsyflow.features.detector_data import extract_images, read_images, read_labels, session_rest_features
from palsyflow.features.photo import DETECTOR_FEATURES
from palsyflow.landmarks.model import verify_model
from palsyflow.models.detector import fit_detector, hash_groups, predict_block
from palsyflow.models.grader import evaluate_grader_grouped, grouped_grader_possible
from palsyflow.models.registry_detector import detector_version, load_detector, log_detector, log_grader_evaluation
from palsyflow.models.training import grader_table
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import tree_listing

__all__ = ["DetectorTraining", "GraderEvaluation", "ProductionDetector", "detector_block", "evaluate_grader", "production_detector", "registry_state", "train_detector"]


@dataclass
class DetectorTraining:
    """What :func:`train_detector` did: the evaluation, the skipped photos, the registry entry."""

    metrics: dict[str, Any]
    shap_summary: dict[str, float]
    problems: list[str] = field(default_factory=list)
    registered: dict[str, str | None] | None = None


@dataclass
class GraderEvaluation:
    """What :func:`evaluate_grader` did: the grouped evaluation or the reason it was refused."""

    result: dict[str, Any] | None
    refused: str | None = None
    run_id: str | None = None


def train_detector(project: Project, labels: Path, *, register: bool = True) -> DetectorTraining:
    """Train the healthy-vs-palsy detector on re-framed photos, evaluate it grouped, register it.

    Parameters
    ----------
    project : Project
    labels : Path
        CSV of ``file,label[,group]`` (``label`` in ``palsy``/``healthy``; paths relative to the CSV).
    register : bool
        Log the run and register the model (alias policy of :func:`palsyflow.tracking.register_model`;
        inside a DVC experiment, ``DVC_EXP_NAME``, the version gets no alias).

    Returns
    -------
    DetectorTraining

    Raises
    ------
    ValueError
        If the labels CSV is unreadable or names no usable photo (the message says which).
    """
    import numpy as np


    p = project.params.detector
    rows = read_labels(labels)
    cat = Catalog.of(project)
    tab = extract_images(read_images(rows), verify_model(cat.face_model), p, project.params.landmarks)
    y = np.array([r.palsy for r in rows])
    groups = hash_groups(tab.hashes, p.hash_max_distance, [r.group for r in rows])
    ok = tab.face
    model = fit_detector(tab.features[ok], y[ok], groups[ok], p, DETECTOR_FEATURES)
    out = DetectorTraining(model.metrics, dict(model.shap_summary), list(tab.problems))
    if register:

        out.registered = log_detector(
            model, p, project.mlflow_uri, project.params.train.experiment, project.code_version,
            sha256_file(labels), {"skipped": tab.problems}, cat.path("mlflow_artifacts"),
            experiment_name=os.environ.get("DVC_EXP_NAME") or None,
        )
    return out


@dataclass
class ProductionDetector:
    """The registered detector holding the ``production`` alias, loaded once (or why it did not load).

    Attributes
    ----------
    model : DetectorModel or None
    version : str
        ``<registered model>/<version>`` (the registered model's name when it did not load).
    reason : str or None
        Why the registered detector could not be loaded.
    """

    model: Any
    version: str
    reason: str | None = None

    def block(self, project: Project, files: dict, face_model: Path) -> dict:
        """The ``palsy_detector`` block of one session's files (task -> path)."""
        p = project.params
        if self.model is None:
            return {"probability": None, "model_version": self.version, "top_features": [], "reason": self.reason}
        feats, reason = session_rest_features(files, p.ingest.task_aliases, face_model, p.detector, p.landmarks)
        return predict_block(self.model, feats, self.version, p.detector.top_features, reason)


def production_detector(project: Project) -> ProductionDetector | None:
    """Load the detector version with the ``production`` alias; None when no detector is registered.

    A registered detector that does not load gives a :class:`ProductionDetector` with the
    reason (its blocks then say why), never an exception.
    """
    name = project.params.detector.registered_model
    uri = project.mlflow_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None  # no registry yet (opening it would create it)
    try:
        model, version = load_detector(uri, name)
    except LookupError:  # no detector registered
        return None
    except Exception as exc:  # noqa: BLE001 - a registered detector that does not load: the block says why
        return ProductionDetector(None, name, f"the registered detector could not be loaded: {type(exc).__name__}: {exc}")
    return ProductionDetector(model, version)


def registry_state(project: Project) -> list:
    """A cheap stand-in for "which detector holds ``production``", for the report stage's gate.

    With a SQLite tracking store: the registry file's listing (name, size, mtime, inode;
    :func:`~palsyflow.stages.fingerprint.tree_listing`), so a night on which nothing was
    registered or promoted does not import MLflow; any change makes the report stage walk,
    and the PDFs whose detector version did not change are not redrawn (their own stamps
    carry the version). With a tracking server: the version holding the alias, asked of it
    (the model itself is not loaded).
    """
    uri = project.mlflow_uri
    if uri.startswith("sqlite:///"):
        return tree_listing(Path(uri.removeprefix("sqlite:///")))
    return [detector_version(uri, project.params.detector.registered_model)]


def detector_block(project: Project, files: dict, face_model: Path) -> dict | None:
    """The ``palsy_detector`` block of ``palsyflow measure`` when a detector is registered.

    Parameters
    ----------
    project : Project
    files : dict
        The session's files by task, as ``palsyflow measure`` gathered them.
    face_model : Path
        The verified MediaPipe model.

    Returns
    -------
    dict or None
        ``{"probability", "model_version", "top_features", "reason"}`` from the version
        holding the ``production`` alias; None when no detector is registered. A
        registered detector that does not load gives a block with the reason.
    """
    loaded = production_detector(project)
    return None if loaded is None else loaded.block(project, files, face_model)


def evaluate_grader(project: Project, sessions: Path | None = None, *, register: bool = True) -> GraderEvaluation:
    """Evaluate the House-Brackmann grader on the clinic's graded sessions, grouped by subject.

    Parameters
    ----------
    project : Project
    sessions : Path, optional
        A session table (parquet) with ``hb_grade`` and ``subject``; default the validated one.
    register : bool
        Log the evaluation to MLflow.

    Returns
    -------
    GraderEvaluation
        ``refused`` holds the reason when the grades are too few for a grouped evaluation.

    Raises
    ------
    ValueError
        If the table is missing or lacks ``hb_grade``/``subject`` (the message names the file).
    """
    import polars as pl


    src = Path(sessions or Catalog.of(project).path("validated_sessions"))
    if not src.is_file():
        raise ValueError(f"{src}: no session table (run the pipeline first)")
    df = pl.read_parquet(src)
    if "hb_grade" not in df.columns or "subject" not in df.columns:
        raise ValueError(f"{src}: needs columns hb_grade and subject")
    X, grades, subjects = grader_table(df, project.params.train)
    ok, reason = grouped_grader_possible(grades, subjects)
    if not ok:
        return GraderEvaluation(None, refused=reason)
    res = evaluate_grader_grouped(X, grades, subjects, project.params.train)
    out = GraderEvaluation(res)
    if register:

        out.run_id = log_grader_evaluation(
            res, project.params.train, project.mlflow_uri, project.code_version, sha256_file(src),
            Catalog.of(project).path("mlflow_artifacts"),
        )
    return out
