"""What a stage did: its :class:`StageResult`, its processing run and its quarantine entries in the store.

Also the failure vocabulary shared by the flow, the DVC entry points and the CLI:
:func:`is_transient` (what may be retried), :class:`StageFailed` (a stage that raised)
and :func:`describe_error` (one sentence per failure).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc

from palsyflow.ingest.manifest import at_line
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.fingerprint import StageGate
from palsyflow.stages.lock import RunLocked
from palsyflow.store import repo
from palsyflow.store.db import session_scope
from palsyflow.store.models import ProcessingRun

log = logging.getLogger("palsyflow.stages")

#: errno values of OSErrors worth retrying: the file system or network is busy or away for a while.
TRANSIENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "EAGAIN", "EBUSY", "EINTR", "EIO", "ETIMEDOUT", "ECONNRESET", "ECONNREFUSED", "ECONNABORTED",
        "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "ESTALE", "EPIPE",
    )
    if hasattr(errno, name)
)

#: Environment variable naming the one checkpoint to pause at, ``<stage>:<point>`` (test hook, see :func:`checkpoint`).
FAULT_PAUSE_ENV = "PALSYFLOW_FAULT_PAUSE"
#: Environment variable naming the marker file :func:`checkpoint` creates while paused.
FAULT_MARKER_ENV = "PALSYFLOW_FAULT_MARKER"
#: Longest pause of :func:`checkpoint`, seconds: a paused process nobody resumes goes on after it.
FAULT_PAUSE_MAX_S = 600.0

_fired: set[str] = set()
_fired_guard = threading.Lock()

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
    error : str or None
        Set when the stage as a whole failed although it returned (e.g. the drop's
        manifest could not be read, so nothing of it was done).
    unchanged : bool
        True when the stage found its inputs and outputs unchanged as a whole since its
        last clean run (:class:`~palsyflow.stages.fingerprint.StageGate`) and looked at no
        item; ``skipped`` then counts the items that run covered.
    """

    stage: str
    site: str | None = None
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    outputs: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    unchanged: bool = False

    def as_dict(self) -> dict:
        """The result as plain JSON-serialisable data."""
        return asdict(self)


def checkpoint(stage: str, point: str) -> None:
    """A fault-injection point inside a stage; does nothing unless a test asks for it.

    Stages call it at chosen points: after some of their outputs are written and before
    the store rows or the stamp that certify them (the places a crash or a store outage
    hurts most). When the environment variable ``PALSYFLOW_FAULT_PAUSE`` equals
    ``"<stage>:<point>"``, the first call of that point in this process creates the
    marker file named by ``PALSYFLOW_FAULT_MARKER`` (holding this process's pid) and
    sleeps until the file is removed, the process is killed, or
    :data:`FAULT_PAUSE_MAX_S` has passed. A test waits for the marker, then kills the
    process (``kill -9``) or cuts the store and removes the marker to let the stage go
    on into the outage (``tests/e2e/test_recovery.py``). Later calls of the same point
    (a retried stage) do not pause again. With ``PALSYFLOW_FAULT_PAUSE`` unset, as in
    every real run, it returns at once and has no effect.

    Parameters
    ----------
    stage : str
        The stage's name (``"ingest"``, ``"landmarks"`` ...).
    point : str
        The point's name within the stage (``"copied"``, ``"written"`` ...).
    """
    wanted = os.environ.get(FAULT_PAUSE_ENV)
    if not wanted or wanted != f"{stage}:{point}":
        return
    with _fired_guard:
        if wanted in _fired:
            return
        _fired.add(wanted)
    marker = Path(os.environ.get(FAULT_MARKER_ENV) or f"palsyflow-fault-{os.getpid()}.pause")
    # written whole, then renamed into place: a watcher never sees an empty marker
    part = marker.with_name(marker.name + ".part")
    part.write_text(str(os.getpid()))
    os.replace(part, marker)
    log.warning("fault checkpoint %s: paused (remove %s to go on)", wanted, marker)
    deadline = time.monotonic() + FAULT_PAUSE_MAX_S
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


class Run:
    """A processing run recorded in the store for the duration of a stage.

    Use it as a context manager around the stage's work: the run is opened
    (``running``, with this process's pid and host) on entry; if the block raises, it is
    closed ``failed`` with :func:`describe_error`'s sentence and the exception goes on
    (when the store itself is what failed, closing it fails too: the run stays
    ``running`` and the next ``status`` shows it ``interrupted``). A block that ends
    normally must call :meth:`finish` with the stage's result. A run whose process is
    killed stays ``running`` until :func:`palsyflow.stages.lock.mark_dead_runs` marks it
    ``interrupted``.

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
        self.stage = stage
        self.finished = False
        with session_scope(project.engine) as db:
            run = repo.start_run(
                db, stage, project.code_version, params_hash, inputs, site=site, pid=os.getpid(), host=socket.gethostname()
            )
            db.flush()
            self.run_id = run.id

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None or self.finished:
            return
        try:
            self.finish(StageResult(self.stage), error=describe_error(exc, self.stage, self.project.db_url))
        except Exception:  # noqa: BLE001 - the store may be what failed; the stage's own error goes on
            log.debug("could not record the failure of run %s", self.run_id, exc_info=True)

    def finish(self, result: StageResult, error: str | None = None) -> None:
        """Close the run with ``result``'s counts; ``failed`` when ``error`` (or ``result.error``) is given."""
        error = error or result.error
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
        self.finished = True


#: The note of a stage that found nothing changed as a whole (:func:`skip_if_unchanged`).
UNCHANGED_NOTE = "inputs and outputs unchanged since the last clean run: no item looked at"


def skip_if_unchanged(gate: StageGate, result: StageResult) -> bool:
    """Whether ``gate`` finds nothing changed; if so ``result`` says every item was skipped.

    Parameters
    ----------
    gate : StageGate
        The stage's whole-stage fingerprint.
    result : StageResult
        Filled in when unchanged: ``skipped`` += the items of the last clean run,
        ``unchanged`` set, :data:`UNCHANGED_NOTE` noted.

    Returns
    -------
    bool
        True when the stage need not walk its items.
    """
    last = gate.last_result()
    if last is None:
        return False
    result.skipped += int(last.get("items", 0))
    result.unchanged = True
    result.notes.append(UNCHANGED_NOTE)
    return True


def record_walk(gate: StageGate, result: StageResult) -> bool:
    """Record ``result`` of a finished walk in ``gate`` (only a clean one, see :meth:`StageGate.record`)."""
    return gate.record(result.processed, result.skipped, result.failed, result.error)


class StageFailed(RuntimeError):
    """A stage raised: which stage, and the exception (also its ``__cause__``).

    Parameters
    ----------
    stage : str
        Stage name.
    cause : BaseException
        What it raised.
    store_url : str, optional
        The store's URL, named (without password) when the store is what failed.
    """

    def __init__(self, stage: str, cause: BaseException, store_url: str | None = None) -> None:
        super().__init__(describe_error(cause, stage, store_url))
        self.stage = stage
        self.cause = cause
        self.__cause__ = cause


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__
    return seen


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` may go away by itself, so retrying the stage makes sense.

    Transient: the store's connection failing (``sqlalchemy`` ``OperationalError``,
    ``InterfaceError``, ``DisconnectionError``, a pool timeout), an ``OSError`` whose
    errno is in :data:`TRANSIENT_ERRNOS` (busy, timed out, connection lost, stale NFS
    handle), a worker process that died (``BrokenProcessPool``). Everything else is
    permanent and never retried: a missing file (``FileNotFoundError``), permissions, a
    full disk, a bad label or parameter (``ValueError``), a refused run lock, a
    programming error. A :class:`StageFailed` is judged by its cause.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    bool
    """
    for e in _chain(exc):
        if isinstance(e, StageFailed):
            continue
        if isinstance(e, RunLocked):
            return False
        if isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)):
            return True
        if isinstance(e, BrokenProcessPool):
            return True
        if isinstance(e, OSError) and not isinstance(
            e, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
        ):
            return e.errno in TRANSIENT_ERRNOS or isinstance(e, (ConnectionError, TimeoutError))
        return False
    return False


def _first_line(text: object) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def safe_url(url: str | None) -> str:
    """``url`` with its password masked (``***``); ``"the configured store"`` when unknown."""
    if not url:
        return "the configured store"
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without its credentials part
        return url.rsplit("@", 1)[-1]


def describe_error(exc: BaseException, stage: str | None = None, store_url: str | None = None) -> str:
    """One sentence for a failure, fit for ``palsyflow: error: ...`` (no traceback).

    Parameters
    ----------
    exc : BaseException
    stage : str, optional
        The stage that raised it.
    store_url : str, optional
        The store's URL, named without its password when the store failed.

    Returns
    -------
    str
    """
    if isinstance(exc, (StageFailed, RunLocked)):
        return str(exc)
    where = f"the {stage} stage" if stage else "palsyflow"
    if isinstance(exc, sa_exc.DBAPIError) or isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        orig = getattr(exc, "orig", None)
        detail = _first_line(orig if orig is not None else exc) or type(exc).__name__
        what = "could not be reached or written" if is_transient(exc) else "refused a write"
        return f"the store at {safe_url(store_url)} {what} during {where} ({detail})"
    if isinstance(exc, OSError) and exc.filename:
        return f"{where} failed: {exc.strerror or type(exc).__name__}: {exc.filename}"
    detail = _first_line(exc)
    if isinstance(exc, (ValueError, LookupError, RuntimeError, OSError)) and detail:
        return f"{where} failed: {detail}"
    return f"{where} failed: {type(exc).__name__}" + (f": {detail}" if detail else "")


def recording_refusal(project: Project, rec: dict, stage: str, error: str) -> str:
    """The reason a stage after ingest refuses a registered recording, as ingest would say it.

    ``"manifest.csv line <n>: <f-hash.ext>: <stage>: <error>"``: the manifest line and
    the keyed hash of the file name the clinic uploaded (from the registry; the name
    itself is never stored), so a data manager can find the row; the raw tree's path is
    left out of ``error``.

    Parameters
    ----------
    project : Project
    rec : dict
        A registry row (:data:`palsyflow.stages.ingest.REGISTRY_SCHEMA`); rows exported
        before ``original_name_hmac``/``manifest_line`` existed give the bare reason.
    stage : str
        ``"landmarks"``, ``"features"`` ...
    error : str
        What failed (an :class:`~palsyflow.executors.Outcome` error).

    Returns
    -------
    str
    """
    raw = str(Catalog.of(project).in_data(rec["raw_path"]))
    error = error.replace(f"{raw}: ", "").replace(raw, Path(raw).name)
    return at_line(rec.get("manifest_line"), f"{stage}: {error}", rec.get("original_name_hmac"))


def quarantine_in_store(
    project: Project,
    site: str,
    name: str,
    sha: str | None,
    reason: str,
    path: Path | None = None,
    recording_key: str | None = None,
) -> bool:
    """Record a refused file or recording in the store's quarantine (idempotent, see :func:`repo.add_quarantine`).

    Parameters
    ----------
    project : Project
    site : str
        Site label.
    name : str
        Keyed hash of the uploaded file name (:func:`palsyflow.pseudonym.keyed_name`), or
        the recording key for a recording refused after ingest.
    sha : str or None
        Content hash when known.
    reason : str
        Why, prefixed by the stage (``"landmarks: ..."``, ``"validation: ..."``).
    path : pathlib.Path, optional
        Where the quarantined copy is (absolute, or relative to the data root); the store
        keeps it relative to the data root.
    recording_key : str, optional
        The recording refused, when a stage after ingest refused it.

    Returns
    -------
    bool
        Whether this refusal is new (not already recorded for the same name and reason).
    """
    stored = None
    if path is not None:
        path = Path(path)
        stored = Catalog.of(project).data_relative(path) if path.is_absolute() else path.as_posix()
    with session_scope(project.engine) as db:
        _, created = repo.add_quarantine(db, site, name, sha, reason, stored, recording_key=recording_key)
    return created


def resolve_in_store(project: Project, site: str, **match) -> int:
    """Mark resolved the standing quarantine items of ``site`` that ``match`` (see :func:`repo.resolve_quarantine`)."""
    with session_scope(project.engine) as db:
        return repo.resolve_quarantine(db, site, **match)
