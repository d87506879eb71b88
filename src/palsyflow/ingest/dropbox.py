"""Adding uploaded files to a site's drop folder (the portal's uploads and patient self-recordings).

A site's drop is one folder with ``manifest.csv`` (:func:`palsyflow.stages.ingest.site_drops`).
An upload adds its files to that folder and merges its manifest rows into the drop's
manifest: a row of the upload replaces the drop's row for the same ``file`` (a corrected
line), other rows are appended, and the columns are the union of both headers (in the
drop's order, then the upload's new ones). Files and the manifest are written atomically
(:mod:`palsyflow.atomic`), so a reader never sees a half-written one.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from palsyflow.atomic import atomic_path, atomic_write_text
from palsyflow.ingest.manifest import decode_manifest

MANIFEST = "manifest.csv"


class DropError(ValueError):
    """An upload that cannot be added to the drop (one sentence why)."""


def safe_name(name: str) -> str:
    """The file name of an upload without any folder part.

    Raises
    ------
    DropError
        For an empty name, ``.``/``..``, a hidden name or the manifest's own name.
    """
    base = PurePosixPath(name.replace("\\", "/")).name.strip()
    if not base or base in (".", "..") or base.startswith("."):
        raise DropError(f"{name!r} is not a usable file name")
    if base == MANIFEST:
        raise DropError(f"{MANIFEST} is the manifest, not a recording")
    return base


def _rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    rows = [{(k or "").strip(): (v or "") for k, v in r.items()} for r in reader]
    return header, rows


def merge_manifest(old: str | None, new: str) -> str:
    """The drop's manifest with an upload's rows merged in (see the module docstring).

    Parameters
    ----------
    old : str or None
        The drop's manifest text (None: the drop has none yet).
    new : str
        The upload's manifest text.

    Returns
    -------
    str
        CSV text with a header line.

    Raises
    ------
    DropError
        If ``new`` has no header with a ``file`` column.
    """
    new_header, new_rows = _rows(new)
    if "file" not in new_header:
        raise DropError("the uploaded manifest has no 'file' column in its first line")
    old_header, old_rows = _rows(old) if old else ([], [])
    header = old_header + [h for h in new_header if h not in old_header]
    replaced = {r.get("file", "").strip() for r in new_rows}
    merged = [r for r in old_rows if r.get("file", "").strip() not in replaced] + new_rows
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in merged:
        writer.writerow({h: r.get(h, "") for h in header})
    return out.getvalue()


def manifest_text(rows: Sequence[Mapping[str, str]]) -> str:
    """CSV text of manifest rows (the columns of the first row, in order)."""
    if not rows:
        raise DropError("no manifest rows")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def add_to_drop(drop: Path, files: Mapping[str, Path], manifest: str | None) -> list[str]:
    """Move uploaded files into ``drop`` and merge ``manifest`` into its ``manifest.csv``.

    Parameters
    ----------
    drop : Path
        The site's drop folder (created when missing).
    files : mapping
        File name in the drop (:func:`safe_name`) -> the uploaded file's temporary path
        (moved, or copied when on another file system).
    manifest : str or None
        The upload's manifest text; None when only files are replaced (a corrected
        recording of a manifest line already in the drop).

    Returns
    -------
    list of str
        The names written.

    Raises
    ------
    DropError
        If the upload has no manifest and the drop none either, or its manifest is unusable.
    """
    drop.mkdir(parents=True, exist_ok=True)
    target = drop / MANIFEST
    old = decode_manifest(target.read_bytes(), target) if target.exists() else None
    if manifest is None and old is None:
        raise DropError("the drop has no manifest.csv yet; upload one with the files")
    merged = merge_manifest(old, manifest) if manifest is not None else None
    written = []
    for name, src in files.items():
        name = safe_name(name)
        with atomic_path(drop / name) as tmp:
            shutil.copyfile(src, tmp)
        written.append(name)
    if merged is not None:
        atomic_write_text(target, merged)
    return written
