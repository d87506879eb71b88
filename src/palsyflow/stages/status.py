"""``status``: what the store holds per site, the last run of each stage, and every failure with its reason.

Read only, but for one write: runs recorded ``running`` whose process has died are
marked ``interrupted`` first (:func:`palsyflow.stages.lock.mark_dead_runs`), so a run
killed with ``kill -9`` shows as interrupted, not as running forever.
"""

from __future__ import annotations

from palsyflow.project import Project
from palsyflow.stages.lock import mark_dead_runs
from palsyflow.store import repo
from palsyflow.store.db import session_scope


def status(project: Project, site: str | None = None) -> dict:
    """Per-site counts, the newest run of each stage, and the standing failures.

    ``site`` restricts it to one site (:func:`palsyflow.store.repo.status_summary`).
    Files are named by the keyed hash of their uploaded name, never by the name.

    Returns
    -------
    dict
        :func:`palsyflow.store.repo.status_summary` of the project's store, after
        marking dead runs ``interrupted``.
    """
    mark_dead_runs(project)
    with session_scope(project.engine) as db:
        return repo.status_summary(db, site=site)
