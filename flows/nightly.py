"""The nightly cohort run as a Prefect flow.

One task per stage, each calling the same :mod:`palsyflow.stages` function that the DVC
entry point calls. Only transient failures (the store's connection lost, a busy or
unreachable file system, a worker process that died: :func:`palsyflow.stages.is_transient`)
are retried, ``RETRIES["retries"]`` times, ``PALSYFLOW_RETRY_DELAY_S`` seconds apart
(default 10); a permanent error (a missing file, a bad label, a validation error) fails
its stage at once. Bad recordings never fail the flow, they are quarantined by the
stage. A failed stage stops the flow with :class:`palsyflow.stages.StageFailed`, whose
message is the one sentence the CLI prints. The flow holds the data root's run lock
(:func:`palsyflow.stages.run_lock`) from start to end: a second run refuses to start.
``dvc commit train`` records train's outputs in ``dvc.lock`` before the register stage
logs them to MLflow (the run's tags are those committed hashes); after the stages,
``dvc commit`` records every output so that ``dvc status`` is clean and ``dvc repro``
knows nothing is stale, and ``dvc.lock`` with ``data/metrics`` is committed to git
(only those paths), so ``dvc exp show`` has the baseline's metrics.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger, task

from palsyflow import stages
from palsyflow.project import Project
from palsyflow.stages.deliver import deliver
from palsyflow.stages.ingest import nothing_readable



def _retry_transient(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the task's exception is transient.

    The decision and its reason go to the task run's log (INFO), so the Prefect UI shows
    why a stage was retried or not.
    """
    exc = state.data if isinstance(state.data, BaseException) else state.result(raise_on_failure=False)
    transient = isinstance(exc, BaseException) and stages.is_transient(exc)
    what = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    try:
        logger = get_run_logger()
    except Exception:  # noqa: BLE001 - outside a run context (unit tests call the function directly)
        return transient
    if transient:
        logger.info("%s failed with a transient error, retrying: %s", task.name, what)
    else:
        logger.info("%s failed with a permanent error, not retried: %s", task.name, what)
    return transient


RETRIES = {
    "retries": 2,
    "retry_delay_seconds": float(os.environ.get("PALSYFLOW_RETRY_DELAY_S", "10")),
    "retry_condition_fn": _retry_transient,
}


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


@task(name="deliver", **RETRIES)
def deliver_task(root: str) -> dict:
    """New or changed reports to the sites (e-mail, outbox); a side effect after report, not a DVC stage."""
    return deliver(_project(root)).as_dict()


@task(name="register", **RETRIES)
def register_task(root: str) -> dict:
    return stages.register(_project(root)).as_dict()


#: What the nightly commits to git after ``dvc commit`` (DVC's record of the run and its metrics).
GIT_TRACKED = ("dvc.lock", "data/metrics", "data/.gitignore")


def _dvc(root: str, *args: str) -> str:
    """Run ``dvc <args>`` in ``root``; "" when done, else why nothing was done (no repo, no dvc)."""
    if not (Path(root) / ".dvc").is_dir():
        return "not a DVC repository"
    dvc = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")
    if dvc is None:
        return "dvc not installed"
    proc = subprocess.run([dvc, *args], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed: {proc.stderr.strip()}")
    return ""


def _git_commit_lock(root: str) -> str:
    """Commit :data:`GIT_TRACKED` (only those paths) when they changed; why not otherwise."""
    git = shutil.which("git")
    if git is None or subprocess.run([git, "rev-parse", "--git-dir"], cwd=root, capture_output=True).returncode:
        return "not a git repository"
    paths = [p for p in GIT_TRACKED if (Path(root) / p).exists()]
    subprocess.run([git, "add", "--", *paths], cwd=root, check=True, capture_output=True)
    if not subprocess.run([git, "diff", "--cached", "--quiet", "--", *paths], cwd=root).returncode:
        return "unchanged"
    proc = subprocess.run(
        [git, "commit", "-q", "-m", f"palsyflow nightly: dvc.lock and metrics ({_project(root).code_version})",
         "--", *paths],
        cwd=root, capture_output=True, text=True,
    )
    if proc.returncode != 0:  # e.g. no git identity: the outputs are in dvc.lock, say so and go on
        return f"git commit of {', '.join(paths)} failed: {proc.stderr.strip() or proc.stdout.strip()}"
    return "committed"


@task(name="dvc-commit-train", **RETRIES)
def dvc_commit_train_task(root: str) -> str:
    """Record train's outputs in dvc.lock before they are registered (their hashes become the run's tags)."""
    return _dvc(root, "commit", "--force", "--quiet", "train") or "committed"


@task(name="dvc-commit", **RETRIES)
def dvc_commit_task(root: str, git_commit: bool = True) -> str:
    """Record the outputs in dvc.lock, then commit dvc.lock and the metrics to git (no-op outside DVC).

    ``dvc exp show`` and ``dvc metrics diff`` compare git commits: a baseline whose dvc.lock
    and ``data/metrics`` are not in git has no metrics to show.
    """
    why = _dvc(root, "commit", "--force", "--quiet")
    if why:
        return why
    if git_commit:
        git = _git_commit_lock(root)
        if git not in ("committed", "unchanged", "not a git repository"):
            get_run_logger().warning("%s", git)
    return "committed"


def _stage(name: str, task_fn, project: Project, *args, error_fails: bool = True):
    """Run one stage's task; a raised error (or, with ``error_fails``, a result with ``error``) becomes :class:`StageFailed`."""
    logger = get_run_logger()
    started = time.monotonic()
    try:
        out = task_fn(*args)
    except stages.StageFailed:
        raise
    except Exception as exc:
        logger.info("%s failed after %.1f s: %s: %s", name, time.monotonic() - started, type(exc).__name__, exc)
        raise stages.StageFailed(name, exc, project.db_url) from exc
    if isinstance(out, dict) and "processed" in out:
        logger.info(
            "%s done in %.1f s: %s processed, %s skipped, %s failed%s", name, time.monotonic() - started,
            out.get("processed"), out.get("skipped"), out.get("failed"), f" ({out['error']})" if out.get("error") else "",
        )
    else:
        logger.info("%s done in %.1f s: %s", name, time.monotonic() - started, out)
    if error_fails and isinstance(out, dict) and out.get("error"):
        raise stages.StageFailed(name, RuntimeError(out["error"]), project.db_url)
    return out


@flow(name="nightly", log_prints=True)
def nightly(root: str = ".", site: str | None = None, dvc_commit: bool = True, git_commit: bool = True) -> dict:
    """Run every stage for every site (or one ``site``), incrementally.

    Parameters
    ----------
    root : str
        Project folder (holds ``params.yaml``).
    site : str, optional
        Only this site's drop is ingested and landmarked; the cohort-wide stages
        (features onwards) always cover every site.
    dvc_commit : bool
        Record train's outputs in ``dvc.lock`` before the register stage, and every output at the end.
    git_commit : bool
        With ``dvc_commit``, commit ``dvc.lock`` and ``data/metrics`` to git at the end (only those paths).

    Returns
    -------
    dict
        Stage name -> the stage's summary (counts, outputs, failures).
    """
    logger = get_run_logger()
    root = str(Path(root).resolve())
    project = _project(root)
    with stages.run_lock(project, command=f"nightly flow (site={site or 'all'})"):
        summary: dict = {}
        try:
            sites = [site] if site else list(stages.site_drops(project))
        except Exception as exc:
            raise stages.StageFailed("ingest", exc, project.db_url) from exc
        # one site's unreadable drop is that site's refusal (quarantined, in status); the others go on
        summary["ingest"] = [_stage("ingest", ingest_task, project, root, s, error_fails=False) for s in sites]
        unreadable = nothing_readable([r.get("error") for r in summary["ingest"]])
        if unreadable:
            raise stages.StageFailed("ingest", RuntimeError(unreadable), project.db_url)
        summary["landmarks"] = _stage("landmarks", landmarks_task, project, root, [site] if site else None)
        for name, fn in (("features", features_task), ("validate", validate_task), ("train", train_task)):
            summary[name] = _stage(name, fn, project, root)
        if dvc_commit:  # register logs the committed hashes: train's outputs go into dvc.lock first
            summary["dvc-train"] = _stage("dvc-commit", dvc_commit_train_task, project, root)
        for name, fn in (("register", register_task), ("score", score_task), ("report", report_task)):
            summary[name] = _stage(name, fn, project, root)
        # a delivery that fails is queued for the next night (the outbox); it never fails the flow
        summary["deliver"] = _stage("deliver", deliver_task, project, root, error_fails=False)
        if dvc_commit:
            summary["dvc"] = _stage("dvc-commit", dvc_commit_task, project, root, git_commit)
    for name, res in summary.items():
        items = res if isinstance(res, list) else [res]
        for r in items:
            if isinstance(r, dict):
                logger.info("%s: %d processed, %d skipped, %d failed", name, r["processed"], r["skipped"], r["failed"])
    return summary
