"""Task names: a clinic's aliases and file names -> the protocol's tasks, in one place.

One normalisation rule serves the manifest (:func:`palsyflow.ingest.manifest.read_manifest`)
and ``palsyflow measure`` (:func:`palsyflow.features.session.measure_session`): case and
surrounding spaces are not significant, and any run of spaces, ``_`` and ``-`` is one
separator. So ``big_smile``, ``Big Smile`` and ``big-smile`` are the same name, and map
to ``smile`` through the default alias ``big-smile``. A name that is neither a protocol
task (:data:`palsyflow.conventions.TASKS`) nor an alias raises :class:`UnknownTaskError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from palsyflow.conventions import TASKS


class UnknownTaskError(ValueError):
    """A task name that is neither a protocol task nor a known alias."""


def normalise_task_name(name: str) -> str:
    """Lower case, stripped, every run of spaces / ``_`` / ``-`` as one ``-``."""
    return re.sub(r"[\s_\-]+", "-", (name or "").strip().lower()).strip("-")


def _alias_table(aliases: Mapping[str, str]) -> dict[str, str]:
    return {normalise_task_name(a): t for a, t in aliases.items() if t in TASKS}


def canonical_task(name: str, aliases: Mapping[str, str]) -> str:
    """Map a task name to the protocol's (:data:`palsyflow.conventions.TASKS`).

    Parameters
    ----------
    name : str
        A protocol name (``smile``, ``eye_closure_full``) or a clinic alias
        (``big-smile``); compared after :func:`normalise_task_name`.
    aliases : mapping
        Alias -> protocol task (``IngestParams.task_aliases``); aliases whose target is
        not a protocol task are ignored.

    Returns
    -------
    str
        An element of :data:`palsyflow.conventions.TASKS`.

    Raises
    ------
    UnknownTaskError
        If the name is neither a protocol task nor an alias.
    """
    key = normalise_task_name(name)
    by_norm = {normalise_task_name(t): t for t in TASKS}
    if key in by_norm:
        return by_norm[key]
    table = _alias_table(aliases)
    if key in table:
        return table[key]
    raise UnknownTaskError(f"unknown task {name!r}: not a protocol task ({', '.join(TASKS)}) nor an alias")


def task_from_filename(name: str, aliases: Mapping[str, str]) -> str | None:
    """Guess the protocol task from a file name such as ``face-mp-big-smile-teeth-closed.jpg``.

    The stem is normalised (:func:`normalise_task_name`), a trailing ``-<digits>`` repeat
    number is dropped. A protocol name matches when it is the whole stem or a BIDS
    ``task-<name>`` entity; otherwise the longest alias that occurs in the stem as a whole
    ``-``-separated run of words wins (``eyes-closed-gently`` before ``eyes-closed``).

    Parameters
    ----------
    name : str
        File name or path.
    aliases : mapping
        Alias -> protocol task (``IngestParams.task_aliases``).

    Returns
    -------
    str or None
        None when nothing matches (e.g. ``small-smile``, which is not a protocol task).
    """
    stem = normalise_task_name(Path(name).name.split(".")[0])
    stem = re.sub(r"-\d+$", "", stem)
    padded = f"-{stem}-"
    for t in TASKS:  # a protocol name: the whole stem, or a BIDS "task-<name>" entity
        key = normalise_task_name(t)
        if stem == key or f"-task-{key}-" in padded or stem.startswith(f"task-{key}-") or stem == f"task-{key}":
            return t
    best: tuple[str, str] | None = None
    for key, task in _alias_table(aliases).items():
        if f"-{key}-" in padded and (best is None or len(key) > len(best[0])):
            best = (key, task)
    return best[1] if best else None
