"""One run at a time per data root: the run lock, and which recorded runs have died.

The lock is an exclusive :func:`fcntl.flock` on ``<data root>/.palsyflow-run.lock``. The
kernel releases it when the holding process dies (kill -9 included), so a dead run never
holds it. It is taken by ``palsyflow run`` / ``demo`` / ``ingest``, by the Prefect flow
(:func:`flows.nightly.nightly`) and by every DVC entry point (``pipelines``); a second run
on the same data root **refuses to start** with :class:`RunLocked`, one sentence naming the
holder (pid, host, command, since when), instead of waiting: a cron-started nightly run
and a hand-started one should not silently queue behind each other, and whoever started
the second one learns why it did nothing. The lock is re-entrant within one process (the
CLI's ``run`` holds it and the flow it calls takes it again).

A processing run recorded ``running`` is *dead* (:func:`run_is_dead`) when it was started
on this host and its pid no longer exists, or, for runs recorded without a pid, when no
process holds the lock. Runs of other hosts (a PostgreSQL store shared by several sites)
are never judged from here. ``flock`` needs a local or NFSv4 file system; on other
systems the lock is advisory only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.store import repo
from palsyflow.store.db import session_scope
from palsyflow.store.models import ProcessingRun

#: File name of the lock, directly under the data root (``params.paths.data``).
LOCK_NAME = ".palsyflow-run.lock"

_held: dict[Path, list] = {}  # lock path -> [fd, depth], this process's held locks
_guard = threading.Lock()


class RunLocked(RuntimeError):
    """Another process holds the data root's run lock (a run is going on)."""


def lock_path(project: Project) -> Path:
    """The lock file of ``project``'s data root."""
    return Catalog.of(project).root_of("data") / LOCK_NAME


def _describe_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another palsyflow process"
    return (
        f"pid {info.get('pid')} on {info.get('host')} ({info.get('command', 'palsyflow')}, "
        f"since {info.get('since', '?')})"
    )


@contextlib.contextmanager
def run_lock(project: Project, command: str | None = None) -> Iterator[Path]:
    """Hold the data root's run lock for the duration of the block.

    On acquiring it, runs recorded ``running`` whose process has died are marked
    ``interrupted`` (:func:`mark_dead_runs`).

    Parameters
    ----------
    project : Project
    command : str, optional
        What holds it, written into the lock file for the refusal message of others
        (default: this process's command line).

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    RunLocked
        If another process holds the lock (the message names it; nothing was run).
    """
    path = lock_path(project)
    with _guard:
        if path in _held:
            _held[path][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield path
        finally:
            with _guard:
                _held[path][1] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunLocked(
            f"another palsyflow run holds the run lock of {path.parent}: {_describe_holder(path)}; "
            "this run did nothing, start it again when that one has ended"
        ) from None
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command or " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]) or "palsyflow",
        "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    with _guard:
        _held[path] = [fd, 1]
    try:
        mark_dead_runs(project)
        yield path
    finally:
        with _guard:
            del _held[path]
        os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the flock


def lock_is_free(project: Project) -> bool:
    """True when no process (this one included) holds ``project``'s run lock."""
    path = lock_path(project)
    if path in _held:
        return False
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def run_is_dead(project: Project) -> Callable[[ProcessingRun], bool]:
    """The liveness rule for :func:`palsyflow.store.repo.mark_interrupted_runs` (see the module docstring)."""
    host = socket.gethostname()
    free = lock_is_free(project)

    def dead(run: ProcessingRun) -> bool:
        if run.pid is None:
            return free
        if run.pid == os.getpid() and run.host == host:
            return False
        return run.host == host and not pid_alive(run.pid)

    return dead


def mark_dead_runs(project: Project) -> int:
    """Mark every dead ``running`` run of the store ``interrupted``; the number marked."""
    with session_scope(project.engine) as db:
        return len(repo.mark_interrupted_runs(db, run_is_dead(project)))
