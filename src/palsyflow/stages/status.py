"""``status``: what the store holds per site, and every failure with its reason (no stage, read only)."""

from __future__ import annotations

from palsyflow.project import Project
from palsyflow.store import repo
from palsyflow.store.db import session_scope


def status(project: Project) -> dict:
    """Per-site counts of subjects, sessions, recordings, quarantined files and reports, plus failures.

    Returns
    -------
    dict
        :func:`palsyflow.store.repo.status_summary` of the project's store.
    """
    with session_scope(project.engine) as db:
        return repo.status_summary(db)
