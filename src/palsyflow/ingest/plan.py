"""Plan an ingest of one drop, then copy accepted files in or quarantine the rest.

:func:`plan_ingest` only reads: it checks the manifest, hashes and probes each file
once and decides, for every file and row, whether it enters the raw tree (an
:class:`IngestItem`) or not (a :class:`Rejected`). :func:`copy_in` and
:func:`quarantine` are the only functions here that write. Writing the store is the
caller's job.

Rules applied per file, before anything reads it: palsyflow reads only regular files
inside the drop. A symbolic link (to a file or a folder, anywhere on the way from the
drop folder to the file) and a special file (FIFO, device, socket) are refused by
``os.lstat`` without being opened, hashed or copied (:func:`not_regular`). Then per
manifest row, after probing: a face task needs frames (a photo or a video), a speech
task (:data:`palsyflow.conventions.SPEECH_TASKS`) needs an audio stream that is neither digitally
silent nor heavily clipped (thresholds in :class:`~palsyflow.config.IngestParams`).

The raw copy's extension is :attr:`MediaInfo.extension`: the uploaded one, lower-case,
when it names the detected format, else that format's canonical extension (a PNG
uploaded as ``x.mp4`` is stored as ``..._photo.png``).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from palsyflow.atomic import atomic_path, atomic_write_text, sha256_file
from palsyflow.config import IngestParams
from palsyflow.conventions import SPEECH_TASKS
from palsyflow.ingest.manifest import MANIFEST_NAME, ManifestRow, at_line, read_manifest
from palsyflow.ingest.probe import MediaError, MediaInfo, probe_media
from palsyflow.paths import RecordingPath, check_label, task_label

_TEXT_SUFFIXES = frozenset({"", ".txt", ".md", ".rst"})
NOT_LISTED = "not listed in manifest.csv"
#: The rule a symbolic link or special file in a drop breaks.
REGULAR_FILES_ONLY = "palsyflow reads only regular files inside the drop"
_SPECIAL = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


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


def not_regular(drop_dir: Path, path: Path) -> str | None:
    """Why ``path`` is not a regular file inside ``drop_dir``, checked without following links.

    Every component from ``drop_dir`` (exclusive) down to ``path`` is ``os.lstat``-ed:
    a symbolic link anywhere on the way (a linked folder included), or a leaf that is
    not a regular file (FIFO, socket, device, folder), is named. Nothing is opened.

    Parameters
    ----------
    drop_dir : Path
        The drop folder (absolute).
    path : Path
        A path inside it (absolute, not resolved).

    Returns
    -------
    str or None
        ``"<relative path>: is a symbolic link; palsyflow reads only regular files
        inside the drop"`` (or ``"folder <f> is a symbolic link"``, ``"is a named pipe
        (FIFO)"`` ...); ``None`` for a regular file, or when the path does not exist
        (the manifest reports that).
    """
    rel = path.relative_to(drop_dir)
    node = drop_dir
    for i, part in enumerate(rel.parts):
        node = node / part
        try:
            st = os.lstat(node)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"{rel}: cannot be examined ({exc.strerror}); {REGULAR_FILES_ONLY}"
        leaf = i == len(rel.parts) - 1
        if stat.S_ISLNK(st.st_mode):
            what = "is a symbolic link" if leaf else f"folder {Path(*rel.parts[: i + 1])} is a symbolic link"
            return f"{rel}: {what}; {REGULAR_FILES_ONLY}"
        if leaf and not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _SPECIAL if test(st.st_mode)), "a special file")
            return f"{rel}: is {kind}, not a regular file; {REGULAR_FILES_ONLY}"
    return None


def _is_regular(path: Path) -> bool:
    """A regular file, not through a symbolic link at its last component."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_ignored(rel: Path, params: IngestParams) -> bool:
    if any(part.startswith(".") for part in rel.parts):
        return True
    if rel == Path(MANIFEST_NAME):
        return True
    name = rel.name
    stem = name.split(".", 1)[0].upper()
    suffix = Path(name).suffix.lower()
    return suffix in _TEXT_SUFFIXES and any(stem == n.upper() for n in params.ignored_text_files)


def _drop_entries(drop_dir: Path, params: IngestParams) -> list[Path]:
    """Everything under ``drop_dir`` that is not a folder one can descend without a link, sorted, minus ignored ones.

    Regular files, symbolic links (to files or folders; linked folders are not
    descended) and special files; :func:`not_regular` tells them apart.
    """
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(drop_dir):  # followlinks=False: linked folders not entered
        kept = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            if os.path.islink(os.path.join(dirpath, d)):
                filenames.append(d)  # a linked folder is refused as an entry of its own
            else:
                kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if not _is_ignored(full.relative_to(drop_dir), params):
                found.append(full)
    return found


def modality_problem(
    task: str, media: MediaInfo, params: IngestParams, speech_tasks: Collection[str] = SPEECH_TASKS
) -> str | None:
    """Why a probed file cannot serve ``task``, or ``None`` when it can.

    A face task (any task not in ``speech_tasks``) needs frames: a photo or a video. A
    speech task needs an audio stream whose peak is at least
    ``params.silence_peak_dbfs`` (below it: digital silence) and whose share of samples
    at or above ``params.clip_level`` of full scale is at most
    ``params.max_clipped_fraction`` (above it: heavy clipping, which destroys the
    voice-quality measures: jitter, shimmer and HNR are computed on the waveform).

    Parameters
    ----------
    task : str
        Canonical protocol task.
    media : MediaInfo
        From :func:`~palsyflow.ingest.probe.probe_media`.
    params : IngestParams
        ``silence_peak_dbfs`` (dBFS), ``max_clipped_fraction`` (0-1).
    speech_tasks : collection of str
        Tasks whose audio is speech (default :data:`palsyflow.conventions.SPEECH_TASKS`).

    Returns
    -------
    str or None
        The rule broken, e.g. ``"task speech needs audio: this video has no audio stream"``.
    """
    what = {"video": "this video", "photo": "this photo", "audio": "this audio file"}[media.kind]
    if task in speech_tasks:
        if not media.has_audio:
            return f"task {task} needs audio: {what} has no audio stream"
        peak = media.audio_peak_dbfs
        if peak is not None and peak < params.silence_peak_dbfs:
            shown = "-inf" if peak == float("-inf") else f"{peak:.1f}"
            return (
                f"task {task} needs audible audio: the audio is digitally silent (peak {shown} dBFS, "
                f"below {params.silence_peak_dbfs:g} dBFS)"
            )
        clipped = media.audio_clipped_fraction
        if clipped is not None and clipped > params.max_clipped_fraction:
            return (
                f"task {task} needs unclipped audio: {100 * clipped:.1f} % of the samples are at full scale "
                f"(limit {100 * params.max_clipped_fraction:g} %)"
            )
        return None
    if media.kind == "audio":
        return f"task {task} needs frames (a photo or a video): {what} has no picture"
    return None


def plan_ingest(
    drop_dir: Path | str,
    site: str,
    params: IngestParams,
    speech_tasks: Collection[str] = SPEECH_TASKS,
) -> IngestPlan:
    """Decide what of a drop enters the raw tree, without writing anything.

    Parameters
    ----------
    drop_dir : path-like
        The clinic's upload folder (holds ``manifest.csv``).
    site : str
        Site label (alphanumeric).
    params : IngestParams
        Probe limits, audio thresholds, task aliases, ignored text files.
    speech_tasks : collection of str
        Tasks that need audio (default :data:`palsyflow.conventions.SPEECH_TASKS`).

    Returns
    -------
    IngestPlan
        ``items``: one per usable manifest row whose file is a regular file of the
        drop, probes fine, suits the row's task (:func:`modality_problem`) and whose
        (subject, session, task) is new in this manifest. ``rejected``: manifest
        problems, symbolic links and special files (:func:`not_regular`; never read,
        ``sha256`` None), files that fail probing or do not suit the task (once per
        row naming them; reasons ``"manifest.csv line <n>: <file>: <rule>"``), rows
        repeating an earlier (subject, session, task), then files that no row names
        (``"not listed in manifest.csv"``; links and special files among them are
        refused with their own rule, unread; ``manifest.csv``, README / ATTRIBUTION
        / LICENSE text files and dotfiles are ignored).

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
        link = not_regular(drop_dir, p.file) if p.file is not None else None
        if link is not None:
            # the manifest sees a dangling link or a FIFO as "not found": name the real rule instead
            rest = [part for part in p.reason.split("; ") if "not found in the drop folder" not in part]
            name = str(p.file.relative_to(drop_dir))
            reason = "; ".join([at_line(p.line, link, name), *rest])
            rejected.append((p.line, Rejected(p.file, None, reason, p.line)))
            continue
        src = p.file if p.file is not None and _is_regular(p.file) else None
        rejected.append((p.line, Rejected(src, digest(src) if src else None, p.reason, p.line)))

    items: list[IngestItem] = []
    first_row: dict[tuple[str, str, str], ManifestRow] = {}
    for row in rows:
        name = str(row.file.relative_to(drop_dir))
        link = not_regular(drop_dir, row.file)  # before anything could read it
        if link is not None:
            rejected.append((row.line, Rejected(row.file, None, at_line(row.line, link, name), row.line)))
            continue
        key = (row.subject, row.session, row.task)
        earlier = first_row.get(key)
        if earlier is not None:
            what = f"sub-{row.subject} ses-{row.session} task {row.task}"
            if earlier.file == row.file:
                rejected.append((row.line, Rejected(None, None, at_line(row.line, f"duplicate of line {earlier.line} ({what})", name), row.line)))
            else:
                reason = at_line(row.line, f"{what} already given by line {earlier.line} with another file ({earlier.file.name})", name)
                rejected.append((row.line, Rejected(row.file, digest(row.file), reason, row.line)))
            continue
        first_row[key] = row

        sha = digest(row.file)
        media = probe(row.file)
        if isinstance(media, MediaError):
            rejected.append((row.line, Rejected(row.file, sha, at_line(row.line, str(media), row.file.name), row.line)))
            continue
        unsuited = modality_problem(row.task, media, params, speech_tasks)
        if unsuited is not None:
            rejected.append((row.line, Rejected(row.file, sha, at_line(row.line, unsuited, name), row.line)))
            continue
        target = RecordingPath(
            site=site,
            subject=row.subject,
            session=row.session,
            task=task_label(row.task),
            kind=media.kind,
            extension=media.extension or row.file.suffix.lower(),
        )
        items.append(IngestItem(row=row, source=row.file, sha256=sha, media=media, target=target))

    rejected.sort(key=lambda t: t[0])
    out = [r for _, r in rejected]

    listed = {r.file for r in rows} | {p.file for p in problems if p.file is not None}
    for path in _drop_entries(drop_dir, params):
        if path in listed or any(path in f.parents for f in listed):
            continue  # a linked folder a row reaches through is refused on that row
        link = not_regular(drop_dir, path)
        if link is not None:
            out.append(Rejected(path, None, f"{link} (and {NOT_LISTED})", None))
        else:
            out.append(Rejected(path, digest(path), NOT_LISTED, None))
    return IngestPlan(items=items, rejected=out)


def _open_regular(path: Path):
    """Open a regular file for reading without following a symbolic link (``O_NOFOLLOW``).

    Raises
    ------
    SourceChangedError
        If ``path`` is (now) a symbolic link or not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise SourceChangedError(f"{path}: cannot be opened as a regular file ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SourceChangedError(f"{path}: is not a regular file any more; {REGULAR_FILES_ONLY}")
    return os.fdopen(fd, "rb")


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
        with _open_regular(item.source) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        got = sha256_file(tmp)
        if got != item.sha256:
            raise SourceChangedError(
                f"{item.source}: content changed since planning (sha256 {got[:12]}, planned {item.sha256[:12]})"
            )
        st = os.lstat(item.source)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.chmod(tmp, 0o444)
    return target, True


def quarantine(
    source: Path | str | None,
    reason: str,
    quarantine_root: Path | str,
    site: str,
    sha256: str | None = None,
    read: bool = True,
    name: str | None = None,
) -> Path:
    """Keep a refused file, with the reason, out of the raw tree.

    The copy is named by its content: ``quarantine_root/site-<site>/<sha256><ext>``
    (``nohash_<name>`` when the file cannot be read), beside a sidecar
    ``<same>.reason.json`` holding ``{file, site, reason, sha256, when}`` (``file``:
    ``name``; ``when``: UTC ISO 8601). The uploaded name appears nowhere when ``name``
    is its keyed hash (:func:`palsyflow.pseudonym.keyed_name`), as ingest passes it. Both are written atomically. Calling again for the same file and
    reason changes nothing; a new reason replaces the sidecar.

    Parameters
    ----------
    source : path-like or None
        The refused file; it may be missing, a symbolic link or a special file (then
        only the sidecar is written: a link's target is never read).
    reason : str
        Why it was refused.
    quarantine_root : path-like
        Root of the quarantine (the catalog's ``quarantine``).
    site : str
        Site label.
    sha256 : str, optional
        Hex sha256 of ``source``; computed when omitted and the file exists.
    read : bool
        False for a file that must not be opened (a symbolic link, or a file reached
        through a linked folder: :func:`not_regular`): only the sidecar is written.
    name : str, optional
        How the sidecar and a ``nohash`` copy name the file (the keyed hash of its
        name); the file's own name when omitted.

    Returns
    -------
    pathlib.Path
        Path of the quarantined copy (which does not exist when ``source`` is not a
        regular file).

    Raises
    ------
    ValueError
        If ``source`` is None and has no name to file it under.
    """
    if source is None:
        raise ValueError("quarantine needs a source path (it may be a missing file)")
    source = Path(source)
    exists = read and _is_regular(source)  # a symbolic link or special file is recorded, never read or copied
    if sha256 is None and exists:
        sha256 = sha256_file(source)
    shown = name or source.name
    suffix = source.suffix.lower() if source.suffix[1:].isalnum() else ""
    leaf = f"{sha256}{suffix}" if sha256 else f"nohash_{shown}"
    dest = Path(quarantine_root) / f"site-{site}" / leaf
    sidecar = dest.with_name(dest.name + ".reason.json")

    if exists and not (dest.is_file() and (sha256 is None or sha256_file(dest) == sha256)):
        with atomic_path(dest) as tmp:
            with _open_regular(source) as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)

    record = {"file": shown, "site": site, "reason": reason, "sha256": sha256}
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
