"""A temporary Prefect API server that dies with the process that started it.

Without ``PREFECT_API_URL``, Prefect starts its own temporary ("ephemeral") server: a
``uvicorn`` subprocess (``prefect.server.api.server.SubprocessASGIServer``) that it
stops only at a normal interpreter exit (``atexit``). A ``kill -9`` of ``palsyflow run``
skips that, so the server (about 750 MB) stayed behind. :func:`temporary_server` starts
the same server itself, with the kernel told to kill it when its parent dies
(``prctl(PR_SET_PDEATHSIG, SIGKILL)`` in the child before ``exec``, Linux), points
``PREFECT_API_URL`` at it for the block and stops it at the end. On other systems the
death signal is not available and the server stops only at a normal exit.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

#: ``prctl`` option PR_SET_PDEATHSIG (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _prefect_dir() -> Path:
    """Prefect's package folder, found without importing Prefect (its settings are read at import)."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise RuntimeError("prefect is not installed")
    return Path(spec.origin).parent


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _send_queued_logs(timeout_s: float = 5.0) -> None:
    """Send the flow's log records still queued for the API before the server stops.

    Prefect sends logs to its API from a background worker; records still queued when
    the temporary server stops were sent at interpreter exit, to a server that was gone
    ("--- Error logging to API --- All connection attempts failed" after every ``palsyflow
    demo``). Does nothing when Prefect's log handler was never imported.
    """
    handlers = sys.modules.get("prefect.logging.handlers")
    if handlers is not None:
        handlers.APILogWorker.drain_all(timeout=timeout_s)


@contextlib.contextmanager
def temporary_server(timeout_s: float | None = None) -> Iterator[str]:
    """Run a temporary Prefect API server for the block, unless ``PREFECT_API_URL`` is set.

    Enter it before Prefect is imported: Prefect reads ``PREFECT_API_URL`` at import.

    Parameters
    ----------
    timeout_s : float, optional
        How long to wait for the server to answer; default
        ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` or 180 s.

    Yields
    ------
    str
        The API URL in use (the configured one when ``PREFECT_API_URL`` was set).

    Raises
    ------
    RuntimeError
        If the server does not answer within ``timeout_s``.
    """
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield configured
        return
    timeout_s = timeout_s or float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180"))
    port = _free_port()
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    args = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(_prefect_dir().parent),
        "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "error", "--lifespan", "on",
    ]
    proc = subprocess.Popen(args, env=env, preexec_fn=_die_with_parent)  # noqa: PLW1509 - the child only calls prctl
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the temporary Prefect server exited with code {proc.returncode} before answering")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the temporary Prefect server did not answer at {url} within {timeout_s:.0f} s")
            time.sleep(0.2)
        os.environ["PREFECT_API_URL"] = url
        yield url
    finally:
        _send_queued_logs()
        os.environ.pop("PREFECT_API_URL", None)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
