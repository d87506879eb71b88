"""A process-wide progress hook: stages report, the CLI decides how to show it (rich)."""

from __future__ import annotations

from collections.abc import Callable

Reporter = Callable[[str, int, int], None]
_reporter: Reporter | None = None


def set_reporter(fn: Reporter | None) -> None:
    """Install ``fn(what, done, total)`` as the progress reporter (``None`` to remove)."""
    global _reporter
    _reporter = fn


def report(what: str, done: int, total: int) -> None:
    """Tell the installed reporter that ``done`` of ``total`` items of ``what`` are finished."""
    if _reporter is not None:
        _reporter(what, done, total)
