"""Fingerprints and stamps: how a stage knows its inputs, parameters and code are unchanged.

A *fingerprint* is a sha256 over JSON-serialisable parts (file hashes, a parameter
section's :meth:`~palsyflow.config._Section.digest`, :func:`stage_code_digest`). A *stamp*
is a small JSON file a stage writes beside its outputs holding the fingerprint they were
made with; the next run skips the work when the fingerprint is the same and the outputs
still exist.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import palsyflow
from palsyflow.atomic import atomic_write_text, sha256_file
from palsyflow.stages.catalog import STAGE_SPECS

_PACKAGE = Path(palsyflow.__file__).resolve().parent


def digest(*parts: object) -> str:
    """sha256 (hex) over the JSON form of ``parts`` (keys sorted, other objects as ``str``)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=32)
def code_digest(*parts: str) -> str:
    """sha256 (hex) over the source of palsyflow sub-packages or modules.

    Parameters
    ----------
    *parts : str
        Paths relative to the ``palsyflow`` package: a folder (``"scoring"``, every
        ``.py`` and ``.json`` file below it) or a file (``"landmarks/schemes/ibug68.py"``).

    Returns
    -------
    str
        Changes when a file's name or bytes change.
    """
    h = hashlib.sha256()
    for part in parts:
        target = _PACKAGE / part
        files = sorted(target.rglob("*")) if target.is_dir() else [target]
        for f in files:
            if f.suffix in (".py", ".json") and f.is_file():
                h.update(str(f.relative_to(_PACKAGE)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def stage_code_digest(stage: str) -> str:
    """:func:`code_digest` of the code dependencies the catalog declares for ``stage``.

    Raises
    ------
    KeyError
        If ``stage`` is not in :data:`palsyflow.stages.catalog.STAGE_SPECS`.
    """
    return code_digest(*STAGE_SPECS[stage].code)


def files_digest(paths: Iterable[Path]) -> dict[str, str]:
    """``{path: sha256}`` of those of ``paths`` that are files, sorted by path."""
    return {str(p): sha256_file(p) for p in sorted(paths) if p.is_file()}


def read_json(path: Path) -> dict | None:
    """The JSON document at ``path``, or ``None`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def unchanged(stamp: Path, fingerprint: str, outputs: Iterable[Path]) -> bool:
    """True when ``stamp`` holds ``fingerprint`` and every one of ``outputs`` exists."""
    old = read_json(stamp)
    return bool(old and old.get("fingerprint") == fingerprint and all(p.exists() for p in outputs))


def write_stamp(stamp: Path, fingerprint: str, **extra) -> Path:
    """Write ``{"fingerprint": ..., **extra}`` to ``stamp`` atomically."""
    return atomic_write_text(stamp, json.dumps({"fingerprint": fingerprint, **extra}, indent=2, default=str))
