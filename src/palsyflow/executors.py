"""Run one function over many recordings: serially, on a local process pool, or on Dask.

Stages hand whole recordings to workers (never frames): the unit of parallel work is
one file. With ``executor.dask_scheduler`` set in ``params.yaml`` the work goes to a
``dask.distributed`` cluster; its workers must see the same data paths (a shared
file system), since they read the raw files themselves.
"""

from __future__ import annotations

import multiprocessing
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
    with ProcessPoolExecutor(max_workers=min(params.workers, len(jobs)), mp_context=ctx) as pool:
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
