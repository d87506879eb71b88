"""Run one function over many recordings: serially, on a local process pool, or on Dask.

Stages hand whole recordings to workers (never frames): the unit of parallel work is
one file. With ``executor.dask_scheduler`` set in ``params.yaml`` the work goes to a
``dask.distributed`` cluster; its workers must see the same data paths (a shared
file system), since they read the raw files themselves.

Local pool workers die with the process that started them: on Linux each worker asks the
kernel for ``SIGKILL`` when its parent dies (``prctl(PR_SET_PDEATHSIG)``, through
ctypes), and on every system a watchdog thread in the worker exits it once its parent's
pid changes (the parent died and the worker was re-parented). So a ``kill -9`` of
``palsyflow run`` leaves no worker behind (:func:`die_with_parent`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from palsyflow.config import ExecutorParams


@dataclass(frozen=True)
class Outcome:
    """One job's result: ``value`` on success, ``error`` (a message) on failure."""

    key: str
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


#: ``prctl`` option: the signal the calling process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None = None, poll_s: float = 1.0) -> None:
    """Make the calling process die when its parent does (worker initializer).

    On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; everywhere, a daemon thread that
    checks ``os.getppid()`` every ``poll_s`` seconds and exits the process with
    ``os._exit(1)`` once it differs from ``parent_pid`` (the parent died). If the parent
    died before the call, the process exits at once.

    Parameters
    ----------
    parent_pid : int, optional
        The parent's pid as the parent saw it; defaults to ``os.getppid()`` now.
    poll_s : float, optional
        Watchdog period, seconds.
    """
    parent_pid = parent_pid or os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still applies
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="palsyflow-parent-watchdog", daemon=True).start()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_jobs(
    fn: Callable[..., Any],
    jobs: Iterable[tuple[str, tuple]],
    params: ExecutorParams,
) -> Iterator[Outcome]:
    """Call ``fn(*args)`` for every ``(key, args)`` in ``jobs``, yielding outcomes as they finish.

    A job that raises yields an :class:`Outcome` with ``error`` set; the others go on.
    A worker process that dies (``BrokenProcessPool``) is not the job's fault: it is
    raised, so the stage fails and the orchestrator retries it.

    Parameters
    ----------
    fn : callable
        A picklable top-level function.
    jobs : iterable of (str, tuple)
        A key naming the job (a recording key) and the positional arguments.
    params : ExecutorParams
        ``kind`` ``serial``, ``process`` (``workers`` processes) or ``dask``
        (``dask_scheduler`` address; setting the address alone selects Dask).

    Yields
    ------
    Outcome
        In completion order.
    """
    jobs = list(jobs)
    if not jobs:
        return
    kind = "dask" if params.dask_scheduler else params.kind
    if kind == "serial" or (kind == "process" and (params.workers <= 1 or len(jobs) == 1)):
        for key, args in jobs:
            try:
                yield Outcome(key, fn(*args))
            except Exception as exc:  # noqa: BLE001 - reported per job, the run goes on
                yield Outcome(key, error=_describe(exc))
        return
    if kind == "dask":
        yield from _run_dask(fn, jobs, params)
        return
    # "spawn": forking a process whose polars / MediaPipe thread pools are running can
    # deadlock the child; fresh interpreters cost ~1 s each and are safe.
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(params.workers, len(jobs)), mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
    )
    with pool:
        futures = {pool.submit(fn, *args): key for key, args in jobs}
        for fut in as_completed(futures):
            key = futures[fut]
            try:
                yield Outcome(key, fut.result())
            except BrokenProcessPool:
                raise  # the machine's problem, not the recording's: fail the stage, let the flow retry
            except Exception as exc:  # noqa: BLE001
                yield Outcome(key, error=_describe(exc))


def _run_dask(fn, jobs, params: ExecutorParams) -> Iterator[Outcome]:
    from dask.distributed import Client, as_completed as dask_completed

    with Client(params.dask_scheduler) as client:
        futures = {client.submit(fn, *args, key=f"palsyflow-{key}", pure=False): key for key, args in jobs}
        for fut in dask_completed(list(futures)):
            key = futures[fut]
            try:
                yield Outcome(key, fut.result())
            except Exception as exc:  # noqa: BLE001
                yield Outcome(key, error=_describe(exc))
