"""What a stage did: its :class:`StageResult`, its processing run and its quarantine entries in the store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from palsyflow.project import Project
from palsyflow.store import repo
from palsyflow.store.db import session_scope
from palsyflow.store.models import ProcessingRun

#: Progress callback ``(what, done, total)``; stages default to :func:`palsyflow.progress.report`.
Progress = Callable[[str, int, int], None]


@dataclass
class StageResult:
    """What a stage did: counts, outputs, and the failures it quarantined.

    Attributes
    ----------
    stage : str
        Stage name.
    site : str or None
        The site when the stage ran for one site only.
    processed, skipped, failed : int
        Items (recordings, sessions, tables) done, found unchanged, refused.
    outputs : list of str
        Paths written.
    failures : list of dict
        ``{"site", "file", "reason"}`` per refused item.
    notes : list of str
        Anything else worth printing.
    """

    stage: str
    site: str | None = None
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    outputs: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The result as plain JSON-serialisable data."""
        return asdict(self)


class Run:
    """A processing run recorded in the store for the duration of a stage.

    Parameters
    ----------
    project : Project
        Gives the store's engine and the code version.
    stage : str
        Stage name.
    params_hash : str
        Digest of the stage's parameter section.
    inputs : dict
        What the stage reads (JSON-serialisable), stored with the run.
    site : str, optional
        Site label when the run covers one site.
    """

    def __init__(self, project: Project, stage: str, params_hash: str, inputs: dict, site: str | None = None):
        self.project = project
        with session_scope(project.engine) as db:
            run = repo.start_run(db, stage, project.code_version, params_hash, inputs, site=site)
            db.flush()
            self.run_id = run.id

    def finish(self, result: StageResult, error: str | None = None) -> None:
        """Close the run with ``result``'s counts; ``failed`` when ``error`` is given."""
        with session_scope(self.project.engine) as db:
            run = db.get(ProcessingRun, self.run_id)
            repo.finish_run(
                db,
                run,
                "failed" if error else "succeeded",
                n_processed=result.processed,
                n_skipped=result.skipped,
                n_failed=result.failed,
                error=error,
            )


def quarantine_in_store(
    project: Project, site: str, name: str, sha: str | None, reason: str, path: Path | None = None
) -> None:
    """Record a refused file or recording in the store's quarantine (idempotent, see :func:`repo.add_quarantine`).

    Parameters
    ----------
    project : Project
    site : str
        Site label.
    name : str
        Uploaded file name, or the recording key for a recording refused after ingest.
    sha : str or None
        Content hash when known.
    reason : str
        Why, prefixed by the stage (``"landmarks: ..."``, ``"validation: ..."``).
    path : pathlib.Path, optional
        Where the quarantined copy is.
    """
    with session_scope(project.engine) as db:
        repo.add_quarantine(db, site, name, sha, reason, str(path) if path else None)
