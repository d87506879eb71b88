"""Plan an ingest of one drop, then copy accepted files in or quarantine the rest.

:func:`plan_ingest` only reads: it checks the manifest, hashes and probes each file
once and decides, for every file and row, whether it enters the raw tree (an
:class:`IngestItem`) or not (a :class:`Rejected`). :func:`copy_in` and
:func:`quarantine` are the only functions here that write. Writing the store is the
caller's job.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from palsyflow.atomic import atomic_path, atomic_write_text, sha256_file
from palsyflow.config import IngestParams
from palsyflow.ingest.manifest import MANIFEST_NAME, ManifestRow, read_manifest
from palsyflow.ingest.probe import MediaError, MediaInfo, probe_media
from palsyflow.paths import RecordingPath, check_label, task_label

_TEXT_SUFFIXES = frozenset({"", ".txt", ".md", ".rst"})
NOT_LISTED = "not listed in manifest.csv"


class ImmutableRawError(RuntimeError):
    """A raw file already exists with different content; raw files are never replaced."""


class SourceChangedError(RuntimeError):
    """A source file's content changed between planning and copying."""


@dataclass(frozen=True)
class IngestItem:
    """One accepted (file, task): what to copy where.

    Attributes
    ----------
    row : ManifestRow
        The manifest row.
    source : pathlib.Path
        The file in the drop folder.
    sha256 : str
        Hex sha256 of ``source`` at planning time.
    media : MediaInfo
        Probe result.
    target : RecordingPath
        Entities of the raw file (``kind`` from the probe, lower-case extension).
    """

    row: ManifestRow
    source: Path
    sha256: str
    media: MediaInfo
    target: RecordingPath


@dataclass(frozen=True)
class Rejected:
    """A file or manifest row that does not enter the raw tree.

    Attributes
    ----------
    source : pathlib.Path or None
        The file concerned, when there is one that exists (to quarantine); ``None``
        when there is nothing to quarantine (e.g. the row names a missing file or
        repeats an identical row).
    sha256 : str or None
        Hex sha256 of ``source``.
    reason : str
        Why, human-readable.
    line : int or None
        Manifest line (1-based, header = 1); ``None`` for files no row names.
    """

    source: Path | None
    sha256: str | None
    reason: str
    line: int | None


@dataclass(frozen=True)
class IngestPlan:
    """Outcome of :func:`plan_ingest`: accepted items and rejections, in manifest order."""

    items: list[IngestItem]
    rejected: list[Rejected]


def _is_ignored(rel: Path, params: IngestParams) -> bool:
    if any(part.startswith(".") for part in rel.parts):
        return True
    if rel == Path(MANIFEST_NAME):
        return True
    name = rel.name
    stem = name.split(".", 1)[0].upper()
    suffix = Path(name).suffix.lower()
    return suffix in _TEXT_SUFFIXES and any(stem == n.upper() for n in params.ignored_text_files)


def _drop_files(drop_dir: Path, params: IngestParams) -> list[Path]:
    """Every regular file under ``drop_dir`` (symlinks to files included), sorted, minus ignored ones."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(drop_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_file() and not _is_ignored(full.relative_to(drop_dir), params):
                found.append(full)
    return found


def plan_ingest(drop_dir: Path | str, site: str, params: IngestParams) -> IngestPlan:
    """Decide what of a drop enters the raw tree, without writing anything.

    Parameters
    ----------
    drop_dir : path-like
        The clinic's upload folder (holds ``manifest.csv``).
    site : str
        Site label (alphanumeric).
    params : IngestParams
        Probe limits, extension lists, task aliases, ignored text files.

    Returns
    -------
    IngestPlan
        ``items``: one per usable manifest row whose file probes fine and whose
        (subject, session, task) is new in this manifest. ``rejected``: manifest
        problems, files that fail probing (once per row naming them), rows repeating
        an earlier (subject, session, task), then files that no row names
        (``"not listed in manifest.csv"``; ``manifest.csv``, README / ATTRIBUTION /
        LICENSE text files and dotfiles are ignored).

    Raises
    ------
    palsyflow.ingest.manifest.ManifestError
        If the manifest itself cannot be read.
    palsyflow.paths.InvalidLabelError
        If ``site`` is not alphanumeric.
    """
    check_label("site", site)
    drop_dir = Path(os.path.abspath(drop_dir))
    rows, problems = read_manifest(drop_dir, params)

    hashes: dict[Path, str] = {}
    probes: dict[Path, MediaInfo | MediaError] = {}

    def digest(path: Path) -> str:
        if path not in hashes:
            hashes[path] = sha256_file(path)
        return hashes[path]

    def probe(path: Path) -> MediaInfo | MediaError:
        if path not in probes:
            try:
                probes[path] = probe_media(path, params)
            except MediaError as exc:
                probes[path] = exc
        return probes[path]

    # (line, Rejected) so that row-level outcomes come out in manifest order
    rejected: list[tuple[int, Rejected]] = []
    for p in problems:
        src = p.file if p.file is not None and p.file.is_file() else None
        rejected.append((p.line, Rejected(src, digest(src) if src else None, p.reason, p.line)))

    items: list[IngestItem] = []
    first_row: dict[tuple[str, str, str], ManifestRow] = {}
    for row in rows:
        key = (row.subject, row.session, row.task)
        earlier = first_row.get(key)
        if earlier is not None:
            what = f"sub-{row.subject} ses-{row.session} task {row.task}"
            if earlier.file == row.file:
                rejected.append((row.line, Rejected(None, None, f"duplicate of line {earlier.line} ({what})", row.line)))
            else:
                reason = f"{what} already given by line {earlier.line} with another file ({earlier.file.name})"
                rejected.append((row.line, Rejected(row.file, digest(row.file), reason, row.line)))
            continue
        first_row[key] = row

        sha = digest(row.file)
        media = probe(row.file)
        if isinstance(media, MediaError):
            rejected.append((row.line, Rejected(row.file, sha, str(media), row.line)))
            continue
        target = RecordingPath(
            site=site,
            subject=row.subject,
            session=row.session,
            task=task_label(row.task),
            kind=media.kind,
            extension=row.file.suffix.lower(),
        )
        items.append(IngestItem(row=row, source=row.file, sha256=sha, media=media, target=target))

    rejected.sort(key=lambda t: t[0])
    out = [r for _, r in rejected]

    listed = {r.file for r in rows} | {p.file for p in problems if p.file is not None}
    for path in _drop_files(drop_dir, params):
        if path not in listed:
            out.append(Rejected(path, digest(path), NOT_LISTED, None))
    return IngestPlan(items=items, rejected=out)


def copy_in(item: IngestItem, raw_root: Path | str) -> tuple[Path, bool]:
    """Copy an accepted file into the raw tree, atomically and read-only.

    Parameters
    ----------
    item : IngestItem
        From :func:`plan_ingest`.
    raw_root : path-like
        Root of the raw tree (the catalog's ``raw``, :mod:`palsyflow.stages.catalog`).

    Returns
    -------
    path : pathlib.Path
        ``item.target.raw(raw_root)``.
    copied : bool
        False when the target already held the same bytes (nothing done).

    Raises
    ------
    ImmutableRawError
        If the target exists with a different sha256 than ``item.sha256``.
    SourceChangedError
        If the source no longer has ``item.sha256`` (nothing is written).
    """
    target = item.target.raw(Path(raw_root))
    if target.exists():
        existing = sha256_file(target)
        if existing == item.sha256:
            return target, False
        raise ImmutableRawError(
            f"{target}: raw file exists with sha256 {existing[:12]}, refusing to replace it "
            f"with {item.source.name} (sha256 {item.sha256[:12]}); raw files are immutable"
        )
    with atomic_path(target) as tmp:
        # copy without metadata first (a read-only source must not make tmp unwritable)
        with open(item.source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        got = sha256_file(tmp)
        if got != item.sha256:
            raise SourceChangedError(
                f"{item.source}: content changed since planning (sha256 {got[:12]}, planned {item.sha256[:12]})"
            )
        st = os.stat(item.source)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.chmod(tmp, 0o444)
    return target, True


def quarantine(
    source: Path | str | None,
    reason: str,
    quarantine_root: Path | str,
    site: str,
    sha256: str | None = None,
) -> Path:
    """Keep a refused file, with the reason, out of the raw tree.

    The copy goes to ``quarantine_root/site-<site>/<sha256[:12]>_<name>`` (prefix
    ``nohash`` when the file does not exist) beside a sidecar
    ``<same>.reason.json`` holding ``{file, site, reason, sha256, when}`` (``when``:
    UTC ISO 8601). Both are written atomically. Calling again for the same file and
    reason changes nothing; a new reason replaces the sidecar.

    Parameters
    ----------
    source : path-like or None
        The refused file; it may be missing (then only the sidecar is written).
    reason : str
        Why it was refused.
    quarantine_root : path-like
        Root of the quarantine (the catalog's ``quarantine``).
    site : str
        Site label.
    sha256 : str, optional
        Hex sha256 of ``source``; computed when omitted and the file exists.

    Returns
    -------
    pathlib.Path
        Path of the quarantined copy (which does not exist when ``source`` did not).

    Raises
    ------
    ValueError
        If ``source`` is None and has no name to file it under.
    """
    if source is None:
        raise ValueError("quarantine needs a source path (it may be a missing file)")
    source = Path(source)
    exists = source.is_file()
    if sha256 is None and exists:
        sha256 = sha256_file(source)
    prefix = sha256[:12] if sha256 else "nohash"
    dest = Path(quarantine_root) / f"site-{site}" / f"{prefix}_{source.name}"
    sidecar = dest.with_name(dest.name + ".reason.json")

    if exists and not (dest.is_file() and (sha256 is None or sha256_file(dest) == sha256)):
        with atomic_path(dest) as tmp:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)

    record = {"file": str(source), "site": site, "reason": reason, "sha256": sha256}
    if sidecar.is_file():
        try:
            old = json.loads(sidecar.read_text())
            if {k: old.get(k) for k in record} == record:
                return dest
        except (OSError, ValueError):
            pass  # a damaged sidecar is rewritten
    record["when"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(sidecar, json.dumps(record, indent=2) + "\n")
    return dest
