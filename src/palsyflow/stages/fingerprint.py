"""Fingerprints and stamps: how a stage knows its inputs, parameters and code are unchanged.

A *fingerprint* is a sha256 over JSON-serialisable parts (file hashes, a parameter
section's :meth:`~palsyflow.config._Section.digest`, :func:`stage_code_digest`). A *stamp*
is a small JSON file a stage writes beside its outputs holding the fingerprint they were
made with; the next run skips the work when the fingerprint is the same and the outputs
still exist.

A *stage gate* (:class:`StageGate`) is one cheap fingerprint of everything a whole stage
reads (store rows, content hashes of small tables, directory listings with sizes and
modification times, the parameter and code digests its per-item fingerprints use) and of
what it wrote. When both equal those its last clean run recorded, the stage returns at
once, every item counted skipped, without looking at any item; any difference makes it
walk its items as before, each judged by its own fingerprint.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


#: Name prefix of whole-stage stamps (:class:`StageGate`); :func:`tree_listing` leaves them out.
STAGE_STAMP_PREFIX = ".stage-"


def tree_listing(*roots: Path) -> list[list]:
    """What is under ``roots`` by name, size, modification time and inode, without reading a file.

    Every file, symbolic link and folder below each root (the root itself when it is a
    file), by ``lstat``; whole-stage stamps (:data:`STAGE_STAMP_PREFIX`) are left out. A
    file replaced by another (a copy, an atomic rename) shows by its inode even with the
    same size and modification time; folders are listed by name only (their own times
    change with any entry, which is listed anyway). The status-change time is not used: a
    hard link to a file (the raw tree's copy-in) changes it without changing the file.

    Parameters
    ----------
    *roots : pathlib.Path
        Folders or files; a missing one is listed as missing.

    Returns
    -------
    list of list
        ``[path, kind, size, mtime_ns, inode]`` (kind ``f`` file, ``l`` link, ``d``
        folder), sorted, JSON-serialisable.
    """
    out: list[list] = []

    def walk(folder: str) -> None:
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            out.append([folder, f"unreadable: {type(exc).__name__}"])
            return
        for e in entries:
            if e.name.startswith(STAGE_STAMP_PREFIX):
                continue
            if e.is_dir(follow_symlinks=False):
                out.append([e.path, "d", 0, 0, 0])
                walk(e.path)
            else:
                st = e.stat(follow_symlinks=False)
                out.append([e.path, "l" if e.is_symlink() else "f", st.st_size, st.st_mtime_ns, st.st_ino])

    for root in roots:
        root_s = str(root)
        try:
            st = os.lstat(root_s)
        except OSError:
            out.append([root_s, "missing"])
            continue
        if os.path.isdir(root_s) and not os.path.islink(root_s):
            walk(root_s)
        else:
            out.append([root_s, "f", st.st_size, st.st_mtime_ns, st.st_ino])
    return sorted(out)


@dataclass
class StageGate:
    """A whole stage's fingerprint and the stamp of its last clean run (see the module docstring).

    Parameters
    ----------
    stamp : pathlib.Path
        Where the stage's last clean run is recorded (a name starting with
        :data:`STAGE_STAMP_PREFIX`, inside one of the stage's outputs).
    inputs : str
        Digest of everything the stage reads, taken *before* it walks its items (a file
        arriving during the walk is then new to the next run).
    outputs : callable
        Digest of what the stage wrote, taken when asked: after the walk when recording,
        now when checking (an output deleted since shows).

    Notes
    -----
    Only a clean walk is recorded (no item failed, no error): a stage with standing
    failures walks its items every run, retrying them as before.
    """

    stamp: Path
    inputs: str
    outputs: Callable[[], str]

    def last_result(self) -> dict | None:
        """The counts of the last clean run when nothing changed since it, else ``None``."""
        old = read_json(self.stamp)
        if not old or old.get("inputs") != self.inputs or old.get("outputs") != self.outputs():
            return None
        return old.get("result") or {}

    def open(self) -> None:
        """The stage is about to walk its items: forget the last run (a crash leaves no stamp)."""
        self.stamp.unlink(missing_ok=True)

    def record(self, processed: int, skipped: int, failed: int, error: str | None = None) -> bool:
        """Record a finished walk when it was clean; whether it was recorded."""
        if failed or error:
            self.stamp.unlink(missing_ok=True)
            return False
        self.stamp.parent.mkdir(parents=True, exist_ok=True)  # before the listing: the folder is then there
        write_stamp(
            self.stamp, digest(self.inputs), inputs=self.inputs, outputs=self.outputs(),
            result={"items": processed + skipped},
        )
        return True
