"""The nightly cohort run as a Prefect flow.

One task per stage, each calling the same :mod:`palsyflow.stages` function that the DVC
entry point calls. Transient failures (a locked database, a busy file system) are
retried; bad recordings never fail the flow, they are quarantined by the stage.
After the stages, ``dvc commit`` records the new outputs in ``dvc.lock`` so that
``dvc status`` is clean and ``dvc repro`` knows nothing is stale.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task

from palsyflow import stages
from palsyflow.project import Project

RETRIES = {"retries": 2, "retry_delay_seconds": 10}


def _project(root: str) -> Project:
    return Project.load(root)


@task(name="ingest", **RETRIES)
def ingest_task(root: str, site: str) -> dict:
    return stages.ingest(_project(root), [site]).as_dict()


@task(name="landmarks", **RETRIES)
def landmarks_task(root: str, sites: list[str] | None) -> dict:
    return stages.landmarks(_project(root), sites).as_dict()


@task(name="features", **RETRIES)
def features_task(root: str) -> dict:
    return stages.features(_project(root)).as_dict()


@task(name="validate", **RETRIES)
def validate_task(root: str) -> dict:
    return stages.validate(_project(root)).as_dict()


@task(name="train", **RETRIES)
def train_task(root: str) -> dict:
    return stages.train(_project(root)).as_dict()


@task(name="score", **RETRIES)
def score_task(root: str) -> dict:
    return stages.score(_project(root)).as_dict()


@task(name="report", **RETRIES)
def report_task(root: str) -> dict:
    return stages.report(_project(root)).as_dict()


@task(name="dvc-commit", **RETRIES)
def dvc_commit_task(root: str) -> str:
    """Record the outputs in dvc.lock (no-op outside a DVC repository)."""
    if not (Path(root) / ".dvc").is_dir():
        return "not a DVC repository"
    dvc = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")
    if dvc is None:
        return "dvc not installed"
    proc = subprocess.run([dvc, "commit", "--force", "--quiet"], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc commit failed: {proc.stderr.strip()}")
    return "committed"


@flow(name="nightly", log_prints=True)
def nightly(root: str = ".", site: str | None = None, dvc_commit: bool = True) -> dict:
    """Run every stage for every site (or one ``site``), incrementally.

    Parameters
    ----------
    root : str
        Project folder (holds ``params.yaml``).
    site : str, optional
        Only this site's drop is ingested and landmarked; the cohort-wide stages
        (features onwards) always cover every site.
    dvc_commit : bool
        Record the outputs in ``dvc.lock`` at the end.

    Returns
    -------
    dict
        Stage name -> the stage's summary (counts, outputs, failures).
    """
    logger = get_run_logger()
    root = str(Path(root).resolve())
    project = _project(root)
    sites = [site] if site else list(stages.site_drops(project))
    summary: dict = {"ingest": [ingest_task(root, s) for s in sites]}
    summary["landmarks"] = landmarks_task(root, [site] if site else None)
    summary["features"] = features_task(root)
    summary["validate"] = validate_task(root)
    summary["train"] = train_task(root)
    summary["score"] = score_task(root)
    summary["report"] = report_task(root)
    if dvc_commit:
        summary["dvc"] = dvc_commit_task(root)
    for name, res in summary.items():
        items = res if isinstance(res, list) else [res]
        for r in items:
            if isinstance(r, dict):
                logger.info("%s: %d processed, %d skipped, %d failed", name, r["processed"], r["skipped"], r["failed"])
    return summary
