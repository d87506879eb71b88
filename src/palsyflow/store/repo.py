"""Repository functions: every read and write of the session store goes through here.

Each function takes an open :class:`sqlalchemy.orm.Session` named ``db`` (see
:func:`palsyflow.store.db.session_scope`) and flushes, but never commits: the caller's
unit of work decides. "Get or create" functions are safe against a concurrent writer
creating the same row (the insert runs in a savepoint and falls back to reading).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import PurePath
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DBSession

from palsyflow.paths import RecordingPath, check_label, session_key
from palsyflow.store.models import (
    RECORDING_KINDS,
    REPORT_KINDS,
    Base,
    ProcessingRun,
    QuarantineItem,
    Recording,
    Report,
    Score,
    Session,
    Site,
    Subject,
    utcnow,
)

T = TypeVar("T")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SESSION_LABEL = re.compile(r"^\d{8}$")
_MEDIA_FIELDS = ("size_bytes", "duration_s", "fps", "width", "height", "codec", "has_audio")
_SCORE_FIELDS = (
    "region",
    "value",
    "unit",
    "z",
    "percentile",
    "weaker_side",
    "side_basis",
    "change_since_first",
    "simulated",
    "model_version",
)
_FINISHED = ("succeeded", "failed", "interrupted")


class RecordingConflict(Exception):
    """A session task already holds a recording with different content (sha256)."""

    def __init__(self, key: str, existing_sha256: str, new_sha256: str) -> None:
        super().__init__(
            f"{key}: already registered with sha256 {existing_sha256[:12]}..., refusing a different file "
            f"({new_sha256[:12]}...); raw recordings are immutable"
        )
        self.key = key
        self.existing_sha256 = existing_sha256
        self.new_sha256 = new_sha256


class NotFound(LookupError):
    """A site, subject or session named by label is not in the store."""


# --------------------------------------------------------------------------- helpers


def _check_sha256(value: str, what: str = "sha256") -> str:
    value = (value or "").strip().lower()
    if not _SHA256.match(value):
        raise ValueError(f"{what} must be 64 hex characters, got {value!r}")
    return value


def _posix(path: str | PurePath) -> str:
    return path.as_posix() if isinstance(path, PurePath) else str(path)


def _clean_float(value: Any) -> float | None:
    """``None`` for missing or NaN (SQLite cannot store NaN), else a float."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _savepoint_create(db: DBSession, obj: T, refetch: Callable[[], T | None]) -> tuple[T, bool]:
    """Insert ``obj`` in a savepoint; if a concurrent writer won the race, read theirs."""
    try:
        with db.begin_nested():
            db.add(obj)
            db.flush()
    except IntegrityError:
        existing = refetch()
        if existing is None:
            raise
        return existing, False
    return obj, True


def _parse_session_label(label: str) -> dt.date:
    if not _SESSION_LABEL.match(label or ""):
        raise ValueError(f"session label {label!r} must be the session date as YYYYMMDD")
    try:
        return dt.datetime.strptime(label, "%Y%m%d").date()
    except ValueError as exc:
        raise ValueError(f"session label {label!r} is not a valid date (YYYYMMDD)") from exc


# --------------------------------------------------------------------------- entities


def get_or_create_site(db: DBSession, label: str) -> Site:
    """The site with ``label``, created if absent.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    label : str
        Alphanumeric site label.

    Returns
    -------
    Site

    Raises
    ------
    palsyflow.paths.InvalidLabelError
        If ``label`` is not alphanumeric.
    """
    check_label("site", label)

    def fetch() -> Site | None:
        return db.scalar(sa.select(Site).where(Site.label == label))

    site = fetch()
    if site is not None:
        return site
    return _savepoint_create(db, Site(label=label), fetch)[0]


def get_or_create_subject(
    db: DBSession,
    site: Site | str,
    label: str,
    healthy: bool | None = None,
    simulated: bool | None = False,
    onset: dt.date | None = None,
) -> Subject:
    """The subject ``label`` of ``site``, created if absent.

    An existing subject keeps its values, except that a ``healthy`` or ``onset`` still
    unknown (``None``) is filled in when given. Contradicting flags are not an error here:
    ingest refuses them before registering (:func:`subject_facts`,
    :func:`palsyflow.ingest.identity.subject_fact_conflicts`).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site : Site or str
        The site, or its label (created if absent).
    label : str
        Alphanumeric subject label, unique within the site.
    healthy : bool or None, optional
        Healthy control (``True``), patient (``False``) or unknown (``None``).
    simulated : bool or None, optional
        Phantom subject with synthetically weakened recordings (set at creation;
        ``None``, not said, is stored as false).
    onset : datetime.date or None, optional
        Date of onset of the palsy (manifest column ``onset``).

    Returns
    -------
    Subject

    Raises
    ------
    palsyflow.paths.InvalidLabelError
        If a label is not alphanumeric.
    """
    if isinstance(site, str):
        site = get_or_create_site(db, site)
    check_label("subject", label)

    def fetch() -> Subject | None:
        return db.scalar(sa.select(Subject).where(Subject.site_id == site.id, Subject.label == label))

    subject = fetch()
    if subject is None:
        subject, created = _savepoint_create(
            db, Subject(site_id=site.id, label=label, healthy=healthy, simulated=bool(simulated), onset=onset), fetch
        )
        if created:
            return subject
    if healthy is not None and subject.healthy is None:
        subject.healthy = bool(healthy)
        db.flush()
    if onset is not None and subject.onset is None:
        subject.onset = onset
        db.flush()
    return subject


def get_or_create_session(
    db: DBSession,
    subject: Subject,
    label: str,
    session_date: dt.date | None = None,
    hb_grade: int | None = None,
) -> Session:
    """The session ``label`` of ``subject``, created if absent.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    subject : Subject
    label : str
        The session date as ``YYYYMMDD``.
    session_date : datetime.date, optional
        The session date; derived from ``label`` when omitted.
    hb_grade : int, optional
        Clinician House-Brackmann grade 1-6; fills a grade that is still ``None``, never
        replaces one already recorded.

    Returns
    -------
    Session

    Raises
    ------
    ValueError
        If ``label`` is not a ``YYYYMMDD`` date, disagrees with ``session_date``, or
        ``hb_grade`` is outside 1-6.
    """
    label_date = _parse_session_label(label)
    if session_date is None:
        session_date = label_date
    elif isinstance(session_date, dt.datetime):
        session_date = session_date.date()
    if session_date != label_date:
        raise ValueError(f"session label {label!r} does not match session_date {session_date.isoformat()}")
    if hb_grade is not None:
        hb_grade = int(hb_grade)
        if not 1 <= hb_grade <= 6:
            raise ValueError(f"hb_grade must be a House-Brackmann grade 1-6, got {hb_grade}")

    def fetch() -> Session | None:
        return db.scalar(sa.select(Session).where(Session.subject_id == subject.id, Session.label == label))

    session = fetch()
    if session is None:
        session, created = _savepoint_create(
            db, Session(subject_id=subject.id, label=label, session_date=session_date, hb_grade=hb_grade), fetch
        )
        if created:
            return session
    if hb_grade is not None and session.hb_grade is None:
        session.hb_grade = hb_grade
        db.flush()
    return session


def _recording_key(db: DBSession, session: Session, task: str) -> str:
    subject = db.get(Subject, session.subject_id)
    site = db.get(Site, subject.site_id)
    return RecordingPath.from_task(site.label, subject.label, session.label, task).key


def register_recording(
    db: DBSession,
    session: Session,
    task: str,
    kind: str,
    sha256: str,
    raw_path: str | PurePath,
    original_name: str,
    media: Mapping[str, Any] | Any,
    manifest_line: int | None = None,
    prompt: str | None = None,
) -> tuple[Recording, bool]:
    """Record that a raw file now holds ``task`` of ``session``.

    Idempotent: registering the same content (sha256) again returns the existing row.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    session : Session
    task : str
        Protocol task (:data:`palsyflow.conventions.TASKS`).
    kind : {"video", "photo", "audio"}
    sha256 : str
        Hex digest of the file (64 characters, case-insensitive).
    raw_path : str or pathlib.PurePath
        Location relative to the data root; stored with ``/`` separators.
    original_name : str
        The uploaded file's name as stored: its keyed hash plus extension
        (:func:`palsyflow.pseudonym.keyed_name`), never the name itself.
    media : mapping or dataclass
        Probe results; the keys ``size_bytes, duration_s, fps, width, height, codec,
        has_audio`` are stored (missing ones as ``None``), others are ignored.
    manifest_line : int, optional
        The 1-based line of the manifest that delivered the file; later stages name it
        when they refuse the recording. Kept from the first registration.
    prompt : str, optional
        The text spoken in a speech task (manifest column ``prompt``). Kept from the
        first registration.

    Returns
    -------
    (Recording, bool)
        The row, and whether it was created by this call.

    Raises
    ------
    RecordingConflict
        If that session and task already hold a recording with another sha256.
    ValueError
        If ``kind``, ``sha256``, ``task`` or ``raw_path`` is invalid.
    """
    sha256 = _check_sha256(sha256)
    if kind not in RECORDING_KINDS:
        raise ValueError(f"kind must be one of {RECORDING_KINDS}, got {kind!r}")
    if not task or not re.fullmatch(r"[A-Za-z0-9_]+", task):
        raise ValueError(f"task {task!r} must be a non-empty protocol task name (letters, digits, _)")
    raw = _posix(raw_path)
    if PurePath(raw).is_absolute():
        raise ValueError(f"raw_path {raw!r} must be relative to the data root")
    if dataclasses.is_dataclass(media) and not isinstance(media, type):
        media = dataclasses.asdict(media)
    media = dict(media or {})

    def fetch() -> Recording | None:
        return db.scalar(sa.select(Recording).where(Recording.session_id == session.id, Recording.task == task))

    def resolve(existing: Recording) -> tuple[Recording, bool]:
        if existing.sha256 != sha256:
            raise RecordingConflict(_recording_key(db, session, task), existing.sha256, sha256)
        return existing, False

    existing = fetch()
    if existing is not None:
        return resolve(existing)
    row = Recording(
        session_id=session.id,
        task=task,
        kind=kind,
        sha256=sha256,
        raw_path=raw,
        original_name_hmac=str(original_name),
        manifest_line=manifest_line,
        prompt=prompt,
        **{f: media.get(f) for f in _MEDIA_FIELDS},
    )
    row, created = _savepoint_create(db, row, fetch)
    return (row, True) if created else resolve(row)


def find_recording_by_sha(db: DBSession, sha256: str) -> Recording | None:
    """The first registered recording with this content, or ``None``.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    sha256 : str
        Hex digest (case-insensitive).

    Returns
    -------
    Recording or None

    Raises
    ------
    ValueError
        If ``sha256`` is not 64 hex characters.
    """
    sha256 = _check_sha256(sha256)
    return db.scalar(sa.select(Recording).where(Recording.sha256 == sha256).order_by(Recording.id).limit(1))


def add_quarantine(
    db: DBSession,
    site_label: str,
    original_name: str,
    sha256: str | None,
    reason: str,
    quarantined_path: str | PurePath | None,
    recording_key: str | None = None,
) -> tuple[QuarantineItem, bool]:
    """Record a refused upload; the same (site, file, reason) is recorded once.

    On a repeat, a ``sha256`` or ``quarantined_path`` still unknown is filled in, and an
    item that had been resolved stands again (``resolved_at`` cleared): the same refusal
    happened once more.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site_label : str
        Site the file was dropped for (created if absent).
    original_name : str
        The uploaded file's keyed hash (:func:`palsyflow.pseudonym.keyed_name`),
        ``manifest.csv``, or a recording key (a refusal after ingest); never an
        uploaded name itself. ``reason`` must not name the file either.
    sha256 : str or None
        Digest, ``None`` if the file could not be read.
    reason : str
        Why it was refused (human-readable).
    quarantined_path : str, pathlib.PurePath or None
        Where the file was moved, relative to the data root; ``None`` if not moved.
    recording_key : str, optional
        The registered recording refused, when a stage after ingest refused it.

    Returns
    -------
    (QuarantineItem, bool)
        The row, and whether it was created by this call.

    Raises
    ------
    ValueError
        If ``reason`` is empty, ``sha256`` is malformed or ``quarantined_path`` is absolute.
    """
    if not reason:
        raise ValueError("a quarantine reason is required")
    sha = _check_sha256(sha256) if sha256 else None
    qpath = _posix(quarantined_path) if quarantined_path is not None else None
    if qpath is not None and PurePath(qpath).is_absolute():
        raise ValueError(f"quarantined_path {qpath!r} must be relative to the data root")
    site = get_or_create_site(db, site_label)

    def fetch() -> QuarantineItem | None:
        return db.scalar(
            sa.select(QuarantineItem).where(
                QuarantineItem.site_id == site.id,
                QuarantineItem.original_name_hmac == original_name,
                QuarantineItem.reason == reason,
            )
        )

    item = fetch()
    if item is None:
        item, created = _savepoint_create(
            db,
            QuarantineItem(
                site_id=site.id,
                original_name_hmac=original_name,
                sha256=sha,
                reason=reason,
                quarantined_path=qpath,
                recording_key=recording_key,
            ),
            fetch,
        )
        if created:
            return item, True
    changed = False
    if item.resolved_at is not None:
        item.resolved_at, changed = None, True
    if item.recording_key is None and recording_key is not None:
        item.recording_key, changed = recording_key, True
    if item.sha256 is None and sha is not None:
        item.sha256, changed = sha, True
    if item.quarantined_path is None and qpath is not None:
        item.quarantined_path, changed = qpath, True
    if changed:
        db.flush()
    return item, False


# --------------------------------------------------------------------------- runs


def start_run(
    db: DBSession,
    stage: str,
    code_version: str,
    params_hash: str,
    input_hashes: Any,
    site: str | None = None,
    pid: int | None = None,
    host: str | None = None,
) -> ProcessingRun:
    """Open a processing run (status ``running``).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    stage : str
        Pipeline stage name (``ingest``, ``landmarks`` ...).
    code_version : str
        Package version or git commit.
    params_hash : str
        Digest of the stage's parameter section (``Params.<section>.digest()``).
    input_hashes : JSON-serialisable
        What the stage read, usually ``{name: sha256}``.
    site : str, optional
        Site label when the run is restricted to one site.
    pid, host : int and str, optional
        The process running the stage (see :func:`mark_interrupted_runs`).

    Returns
    -------
    ProcessingRun
        Flushed, so ``run.id`` is set.
    """
    run = ProcessingRun(
        stage=stage,
        started_at=utcnow(),
        status="running",
        code_version=code_version,
        params_hash=params_hash,
        input_hashes=input_hashes if input_hashes is not None else {},
        site=site,
        pid=pid,
        host=host,
    )
    db.add(run)
    db.flush()
    return run


def finish_run(
    db: DBSession,
    run: ProcessingRun,
    status: str,
    n_processed: int = 0,
    n_skipped: int = 0,
    n_failed: int = 0,
    error: str | None = None,
) -> ProcessingRun:
    """Close a processing run.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    run : ProcessingRun
        A run opened by :func:`start_run`, still ``running``.
    status : {"succeeded", "failed", "interrupted"}
    n_processed, n_skipped, n_failed : int, optional
        Item counts.
    error : str, optional
        What went wrong (shown by :func:`status_summary` for failed runs).

    Returns
    -------
    ProcessingRun

    Raises
    ------
    ValueError
        If ``status`` is not final or the run was already finished.
    """
    if status not in _FINISHED:
        raise ValueError(f"status must be one of {_FINISHED}, got {status!r}")
    run = db.merge(run) if run not in db else run
    if run.status != "running":
        raise ValueError(f"run {run.id} ({run.stage}) already finished with status {run.status!r}")
    run.status = status
    run.finished_at = utcnow()
    run.n_processed, run.n_skipped, run.n_failed = int(n_processed), int(n_skipped), int(n_failed)
    run.error = error
    db.flush()
    return run


# --------------------------------------------------------------------------- outputs


def _find_session(db: DBSession, site: str, subject: str, session: str) -> Session | None:
    return db.scalar(
        sa.select(Session)
        .join(Subject, Session.subject_id == Subject.id)
        .join(Site, Subject.site_id == Site.id)
        .where(Site.label == site, Subject.label == subject, Session.label == session)
    )


def upsert_scores(db: DBSession, rows: Iterable[Mapping[str, Any]] | Any, run: ProcessingRun | None = None) -> int:
    """Write score rows, updating a session's existing measure in place.

    Sessions missing from the store are created (site, subject and session from the
    row's labels; ``session_date`` from the row or the label; the subject's
    ``simulated`` from the row).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    rows : iterable of mappings, or a polars DataFrame
        Shaped like :data:`palsyflow.schemas.SCORE_SCHEMA`; ``site``, ``subject``,
        ``session`` and ``measure`` are required, other columns default to ``None``
        (``simulated`` to ``False``). NaN is stored as ``None``.
    run : ProcessingRun, optional
        The scoring run that produced them.

    Returns
    -------
    int
        Number of distinct (session, measure) rows inserted or updated.

    Raises
    ------
    KeyError
        If a required column is missing from a row.
    ValueError
        If ``weaker_side`` is not ``left``, ``right`` or null, or a label is invalid.
    """
    if hasattr(rows, "to_dicts"):
        rows = rows.to_dicts()
    run_id = run.id if run is not None else None
    sessions: dict[tuple[str, str, str], Session] = {}
    existing: dict[int, dict[str, Score]] = {}
    written: set[tuple[int, str]] = set()

    for row in rows:
        missing = [k for k in ("site", "subject", "session", "measure") if row.get(k) in (None, "")]
        if missing:
            raise KeyError(f"score row lacks {missing}: {dict(row)!r}")
        key = (str(row["site"]), str(row["subject"]), str(row["session"]))
        ses = sessions.get(key)
        if ses is None:
            ses = _find_session(db, *key)
            if ses is None:
                subject = get_or_create_subject(db, key[0], key[1], simulated=bool(row.get("simulated") or False))
                ses = get_or_create_session(db, subject, key[2], row.get("session_date"))
            sessions[key] = ses
            existing[ses.id] = {s.measure: s for s in db.scalars(sa.select(Score).where(Score.session_id == ses.id))}

        values = {f: row.get(f) for f in _SCORE_FIELDS}
        for f in ("value", "z", "percentile", "change_since_first"):
            values[f] = _clean_float(values[f])
        values["simulated"] = bool(values["simulated"] or False)
        if values["weaker_side"] not in (None, "left", "right"):
            raise ValueError(f"weaker_side must be 'left', 'right' or null, got {values['weaker_side']!r}")

        measure = str(row["measure"])
        score = existing[ses.id].get(measure)
        if score is None:
            score = Score(session_id=ses.id, measure=measure)
            db.add(score)
            existing[ses.id][measure] = score
        for f, v in values.items():
            setattr(score, f, v)
        score.run_id = run_id
        written.add((ses.id, measure))

    db.flush()
    return len(written)


def add_report(
    db: DBSession,
    site: str,
    subject: str,
    session: str,
    path: str | PurePath,
    sha256: str,
    run: ProcessingRun | None = None,
    kind: str = "clinician",
) -> Report:
    """Record (or replace) one PDF report of a session (one per session and kind).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site, subject, session : str
        Labels of an existing session.
    path : str or pathlib.PurePath
        Where the PDF is (relative to the data root, ``/`` separators).
    sha256 : str
        Digest of the PDF.
    run : ProcessingRun, optional
        The report run that wrote it.
    kind : {"clinician", "patient"}
        Which report (:data:`palsyflow.store.models.REPORT_KINDS`).

    Returns
    -------
    Report

    Raises
    ------
    NotFound
        If the session is not in the store.
    ValueError
        If ``sha256`` is malformed or ``kind`` unknown.
    """
    sha256 = _check_sha256(sha256)
    if kind not in REPORT_KINDS:
        raise ValueError(f"report kind {kind!r} is not one of {REPORT_KINDS}")
    ses = _find_session(db, site, subject, session)
    if ses is None:
        raise NotFound(f"no session {session_key(site, subject, session)} in the store")
    run_id = run.id if run is not None else None

    def fetch() -> Report | None:
        return db.scalar(sa.select(Report).where(Report.session_id == ses.id, Report.kind == kind))

    report = fetch()
    if report is None:
        report, created = _savepoint_create(
            db, Report(session_id=ses.id, kind=kind, path=_posix(path), sha256=sha256, run_id=run_id), fetch
        )
        if created:
            return report
    report.path, report.sha256, report.run_id, report.created_at = _posix(path), sha256, run_id, utcnow()
    db.flush()
    return report


# --------------------------------------------------------------------------- queries


@dataclasses.dataclass(frozen=True)
class RecordingInfo:
    """One registered recording with the entities above it (read-only view)."""

    key: str  # RecordingPath key: site-<s>_sub-<id>_ses-<date>_task-<task label>
    site: str
    subject: str
    session: str
    session_date: dt.date
    task: str
    kind: str
    sha256: str
    raw_path: str
    healthy: bool | None
    hb_grade: int | None
    simulated: bool
    original_name_hmac: str  # keyed hash of the file's name in the drop it came from (palsyflow.pseudonym.keyed_name)
    manifest_line: int | None  # the manifest line that delivered it (None before migration 0004)
    prompt: str | None = None  # the text spoken, for a speech task (migration 0005)
    onset: dt.date | None = None  # the subject's onset date (migration 0007)


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """One session with the entities above it and what it holds (read-only view)."""

    key: str  # site-<s>_sub-<id>_ses-<date>
    site: str
    subject: str
    session: str
    session_date: dt.date
    healthy: bool | None
    hb_grade: int | None
    simulated: bool
    tasks: tuple[str, ...]
    has_report: bool


def list_recordings(db: DBSession, site: str | None = None) -> list[RecordingInfo]:
    """Every registered recording, ordered by site, subject, session, task.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site : str, optional
        Only this site's recordings.

    Returns
    -------
    list of RecordingInfo
    """
    stmt = (
        sa.select(Site.label, Subject.label, Subject.healthy, Subject.simulated, Subject.onset, Session, Recording)
        .join(Subject, Subject.site_id == Site.id)
        .join(Session, Session.subject_id == Subject.id)
        .join(Recording, Recording.session_id == Session.id)
        .order_by(Site.label, Subject.label, Session.label, Recording.task)
    )
    if site is not None:
        stmt = stmt.where(Site.label == site)
    out = []
    for site_label, sub_label, healthy, simulated, onset, ses, rec in db.execute(stmt):
        out.append(
            RecordingInfo(
                key=RecordingPath.from_task(site_label, sub_label, ses.label, rec.task).key,
                site=site_label,
                subject=sub_label,
                session=ses.label,
                session_date=ses.session_date,
                task=rec.task,
                kind=rec.kind,
                sha256=rec.sha256,
                raw_path=rec.raw_path,
                healthy=healthy,
                hb_grade=ses.hb_grade,
                simulated=bool(simulated),
                original_name_hmac=rec.original_name_hmac,
                manifest_line=rec.manifest_line,
                prompt=rec.prompt,
                onset=onset,
            )
        )
    return out


def list_sessions(db: DBSession, site: str | None = None) -> list[SessionInfo]:
    """Every session, ordered by site, subject, session.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site : str, optional
        Only this site's sessions.

    Returns
    -------
    list of SessionInfo
        ``tasks`` are the registered recordings' tasks, sorted.
    """
    stmt = (
        sa.select(Site.label, Subject.label, Subject.healthy, Subject.simulated, Session, Report.id)
        .join(Subject, Subject.site_id == Site.id)
        .join(Session, Session.subject_id == Subject.id)
        .outerjoin(Report, (Report.session_id == Session.id) & (Report.kind == "clinician"))
        .order_by(Site.label, Subject.label, Session.label)
    )
    if site is not None:
        stmt = stmt.where(Site.label == site)
    rows = db.execute(stmt).all()
    tasks: dict[int, list[str]] = {}
    ids = [r[4].id for r in rows]
    if ids:
        for sid, task in db.execute(
            sa.select(Recording.session_id, Recording.task).where(Recording.session_id.in_(ids))
        ):
            tasks.setdefault(sid, []).append(task)
    return [
        SessionInfo(
            key=session_key(site_label, sub_label, ses.label),
            site=site_label,
            subject=sub_label,
            session=ses.label,
            session_date=ses.session_date,
            healthy=healthy,
            hb_grade=ses.hb_grade,
            simulated=bool(simulated),
            tasks=tuple(sorted(tasks.get(ses.id, []))),
            has_report=report_id is not None,
        )
        for site_label, sub_label, healthy, simulated, ses, report_id in rows
    ]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def content_state(db: DBSession, site: str | None = None) -> dict[str, list]:
    """The rows later runs compare to see whether the store changed, cheaply (no joins beyond the site).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site : str, optional
        Only this site's rows; every site's when omitted.

    Returns
    -------
    dict
        ``recordings``: ``[id, sha256, raw_path]``; ``quarantine``: ``[id, resolved]``;
        ``reports``: ``[id, kind, sha256, path]``; each sorted by id (JSON-serialisable).
    """
    rec = sa.select(Recording.id, Recording.sha256, Recording.raw_path)
    qua = sa.select(QuarantineItem.id, QuarantineItem.resolved_at.is_not(None))
    rep = sa.select(Report.id, Report.kind, Report.sha256, Report.path)
    if site is not None:
        sessions = sa.select(Session.id).join(Subject).join(Site).where(Site.label == site)
        rec = rec.where(Recording.session_id.in_(sessions))
        rep = rep.where(Report.session_id.in_(sessions))
        qua = qua.join(Site, QuarantineItem.site_id == Site.id).where(Site.label == site)
    return {
        name: [list(r) for r in db.execute(q.order_by(q.selected_columns[0])).all()]
        for name, q in (("recordings", rec), ("quarantine", qua), ("reports", rep))
    }


def status_summary(db: DBSession, site: str | None = None) -> dict[str, Any]:
    """Counts per site, the last run of every stage and the failures to look at (JSON-serialisable).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site : str, optional
        Only this site: its counts, its runs and failures (runs over every site, with
        no site label, are left out). The repository-level form of the site isolation
        PostgreSQL enforces with row-level security (``docs/store.md``); on SQLite,
        which is single-organisation, it is the only filter.

    Returns
    -------
    dict
        ``{"sites": {label: {"subjects", "sessions", "recordings", "quarantined",
        "reports"}}, "runs": [...], "failures": [{"site", "file", "reason", "kind",
        "when"}]}``. Every site in the store is listed, with zeros where nothing
        exists; ``quarantined`` counts the items that still stand (not resolved);
        ``reports`` the clinician reports (one per reported session).
        ``runs`` holds the newest run of each (stage, site): ``{"stage", "site",
        "status", "started", "finished", "processed", "skipped", "failed", "error"}``.
        Failures are the standing quarantine items (``kind="quarantine"``, ``file`` =
        uploaded name or recording key) and the failed or interrupted processing runs
        not followed by a successful run of the same stage and site (``kind="run"``,
        ``file`` = the stage name, ``reason`` = the run's error or ``"interrupted"``,
        ``site`` possibly ``None``), newest first; ``when`` is an ISO 8601 UTC
        timestamp. Resolved items and superseded runs are history, not failures.
    """
    sites: dict[str, dict[str, int]] = {}
    ids: dict[int, str] = {}
    for sid, label in db.execute(sa.select(Site.id, Site.label).order_by(Site.label)):
        ids[sid] = label
        sites[label] = {"subjects": 0, "sessions": 0, "recordings": 0, "quarantined": 0, "reports": 0}

    def count(name: str, stmt: sa.Select) -> None:
        for sid, n in db.execute(stmt):
            sites[ids[sid]][name] = int(n)

    cnt = sa.func.count()
    count("subjects", sa.select(Subject.site_id, cnt).group_by(Subject.site_id))
    count(
        "sessions",
        sa.select(Subject.site_id, cnt).select_from(Session).join(Subject).group_by(Subject.site_id),
    )
    count(
        "recordings",
        sa.select(Subject.site_id, cnt)
        .select_from(Recording)
        .join(Session, Recording.session_id == Session.id)
        .join(Subject, Session.subject_id == Subject.id)
        .group_by(Subject.site_id),
    )
    count(
        "quarantined",
        sa.select(QuarantineItem.site_id, cnt)
        .where(QuarantineItem.resolved_at.is_(None))
        .group_by(QuarantineItem.site_id),
    )
    count(
        "reports",
        sa.select(Subject.site_id, cnt)
        .select_from(Report)
        .where(Report.kind == "clinician")  # sessions with a clinician report (the patient PDFs beside them not counted)
        .join(Session, Report.session_id == Session.id)
        .join(Subject, Session.subject_id == Subject.id)
        .group_by(Subject.site_id),
    )

    failures: list[tuple[dt.datetime, dict[str, Any]]] = []
    standing = sa.select(QuarantineItem, Site.label).join(Site).where(QuarantineItem.resolved_at.is_(None))
    for item, site_label in db.execute(standing):
        failures.append(
            (
                item.created_at,
                {
                    "site": site_label,
                    "file": item.original_name_hmac,
                    "reason": item.reason,
                    "kind": "quarantine",
                    "when": _iso(item.created_at),
                },
            )
        )
    last_success: dict[tuple[str, str | None], dt.datetime] = {}
    newest: dict[tuple[str, str | None], ProcessingRun] = {}
    runs = list(db.scalars(sa.select(ProcessingRun).order_by(ProcessingRun.started_at, ProcessingRun.id)))
    for run in runs:
        newest[(run.stage, run.site)] = run
        if run.status == "succeeded":
            last_success[(run.stage, run.site)] = run.started_at
    # each refusal once: a failed run whose error is a standing quarantine item's reason (an
    # unreadable manifest) is that item; a failure repeated by later runs is listed at its newest
    quarantined = {(f["site"], f["reason"]) for _, f in failures}
    listed: set[tuple[str, str | None, str]] = set()
    for run in reversed(runs):
        if run.status not in ("failed", "interrupted"):
            continue
        later = last_success.get((run.stage, run.site))
        if later is not None and later > run.started_at:
            continue
        when = run.finished_at or run.started_at
        reason = run.error or ("interrupted: its process died before the stage ended" if run.status == "interrupted" else "failed (no error recorded)")
        if (run.site, reason) in quarantined or (run.stage, run.site, reason) in listed:
            continue
        listed.add((run.stage, run.site, reason))
        failures.append(
            (
                when,
                {"site": run.site, "file": run.stage, "reason": reason, "kind": "run", "when": _iso(when)},
            )
        )
    failures.sort(key=lambda f: f[0], reverse=True)
    last_runs = [
        {
            "stage": r.stage,
            "site": r.site,
            "status": r.status,
            "started": _iso(r.started_at),
            "finished": _iso(r.finished_at),
            "processed": r.n_processed,
            "skipped": r.n_skipped,
            "failed": r.n_failed,
            "error": r.error,
        }
        for r in sorted(newest.values(), key=lambda r: (r.started_at, r.id))
    ]
    out = {"sites": sites, "runs": last_runs, "failures": [f for _, f in failures]}
    if site is not None:
        out = {
            "sites": {k: v for k, v in sites.items() if k == site},
            "runs": [r for r in last_runs if r["site"] == site],
            "failures": [f for f in out["failures"] if f["site"] == site],
        }
    return out


# --------------------------------------------------------------------------- liveness and resolution


def running_runs(db: DBSession) -> list[ProcessingRun]:
    """Every processing run still marked ``running``, oldest first.

    Parameters
    ----------
    db : sqlalchemy.orm.Session

    Returns
    -------
    list of ProcessingRun
    """
    return list(
        db.scalars(
            sa.select(ProcessingRun).where(ProcessingRun.status == "running").order_by(ProcessingRun.started_at)
        )
    )


def mark_interrupted_runs(db: DBSession, is_dead: Callable[[ProcessingRun], bool]) -> list[ProcessingRun]:
    """Mark ``interrupted`` every ``running`` run whose process ``is_dead`` says is gone.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    is_dead : callable
        ``is_dead(run) -> bool``, the caller's liveness rule (see
        :func:`palsyflow.stages.lock.run_is_dead`: the run lock is free, or the run's pid
        is gone on this host).

    Returns
    -------
    list of ProcessingRun
        The runs marked, with ``finished_at`` = now and ``error`` saying so.
    """
    marked = []
    for run in running_runs(db):
        if is_dead(run):
            run.status = "interrupted"
            run.finished_at = utcnow()
            where = f"pid {run.pid} on {run.host}" if run.pid else "its process"
            run.error = f"interrupted: {where} died before the stage ended (rerun to complete it)"
            marked.append(run)
    db.flush()
    return marked


def resolve_quarantine(
    db: DBSession,
    site_label: str,
    *,
    sha256: str | None = None,
    original_name: str | None = None,
    recording_key: str | None = None,
    reason_prefix: str | None = None,
    keep: Collection[tuple[str, str]] = (),
) -> int:
    """Mark resolved the standing quarantine items of a site that a later success answers.

    An item matches when any given criterion holds: same content (``sha256``), same
    uploaded name (``original_name``), or same recording (``recording_key``, also
    matched against ``original_name`` for items recorded before the column existed);
    ``reason_prefix`` (e.g. ``"landmarks:"``) restricts the match to one stage's refusals.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site_label : str
    sha256, original_name, recording_key : str, optional
        What was accepted or now passed.
    reason_prefix : str, optional
        Only items whose reason starts with this, or carries it after the manifest line
        and file a later stage's refusal begins with
        (``"manifest.csv line 7: smile.jpg: landmarks: ..."``).
    keep : collection of (str, str), optional
        ``(original_name, reason)`` pairs not to resolve (refused again by the same run).

    Returns
    -------
    int
        Items resolved by this call.
    """
    site = db.scalar(sa.select(Site).where(Site.label == site_label))
    if site is None:
        return 0
    crit = []
    if sha256:
        crit.append(QuarantineItem.sha256 == _check_sha256(sha256))
    if original_name:
        crit.append(QuarantineItem.original_name_hmac == original_name)
    if recording_key:
        crit += [QuarantineItem.recording_key == recording_key, QuarantineItem.original_name_hmac == recording_key]
    if not crit:
        return 0
    stmt = sa.select(QuarantineItem).where(
        QuarantineItem.site_id == site.id, QuarantineItem.resolved_at.is_(None), sa.or_(*crit)
    )
    if reason_prefix:
        stmt = stmt.where(
            sa.or_(
                QuarantineItem.reason.startswith(reason_prefix, autoescape=True),
                QuarantineItem.reason.contains(f": {reason_prefix}", autoescape=True),
            )
        )
    keep = set(keep)
    items = [i for i in db.scalars(stmt) if (i.original_name_hmac, i.reason) not in keep]
    now = utcnow()
    for item in items:
        item.resolved_at = now
    db.flush()
    return len(items)


def report_sha256(db: DBSession, site: str, subject: str, session: str, kind: str = "clinician") -> str | None:
    """The sha256 of the session's recorded PDF report of ``kind``, ``None`` when the store holds none.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site, subject, session : str
        Labels.
    kind : {"clinician", "patient"}

    Returns
    -------
    str or None
    """
    ses = _find_session(db, site, subject, session)
    if ses is None:
        return None
    return db.scalar(sa.select(Report.sha256).where(Report.session_id == ses.id, Report.kind == kind))


# --------------------------------------------------------------------------- identity


@dataclasses.dataclass(frozen=True)
class SubjectFacts:
    """What the store already says about one subject (read-only view).

    Attributes
    ----------
    site, label : str
        Site and subject labels.
    healthy : bool or None
        ``None`` when never said.
    simulated : bool
        Stored as false when never said.
    sessions : tuple of (str, datetime.date)
        Every session's label and date, oldest first.
    onset : datetime.date or None
        The onset date, ``None`` when never said.
    """

    site: str
    label: str
    healthy: bool | None
    simulated: bool
    sessions: tuple[tuple[str, dt.date], ...]
    onset: dt.date | None = None


@dataclasses.dataclass(frozen=True)
class ContentUse:
    """One registered recording holding a given content (sha256), by labels."""

    site: str
    subject: str
    session: str
    task: str


def subject_facts(db: DBSession, site: str, label: str) -> SubjectFacts | None:
    """The stored facts of subject ``label`` of ``site``, or ``None`` if it is not stored.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site, label : str
        Site and subject labels.

    Returns
    -------
    SubjectFacts or None
    """
    row = db.execute(
        sa.select(Subject).join(Site, Subject.site_id == Site.id).where(Site.label == site, Subject.label == label)
    ).scalar_one_or_none()
    if row is None:
        return None
    sessions = db.execute(
        sa.select(Session.label, Session.session_date)
        .where(Session.subject_id == row.id)
        .order_by(Session.session_date, Session.label)
    ).all()
    return SubjectFacts(
        site=site,
        label=label,
        healthy=row.healthy,
        simulated=bool(row.simulated),
        sessions=tuple((s_label, s_date) for s_label, s_date in sessions),
        onset=row.onset,
    )


#: Key of the PostgreSQL advisory lock that serialises ingest registrations store-wide
#: (the first 8 bytes of sha256("palsyflow.ingest"), as a signed 64-bit integer).
INGEST_LOCK_KEY = 8938555569221356649


def lock_ingest(db: DBSession) -> None:
    """Hold the store-wide ingest lock until ``db``'s transaction ends.

    Ingest checks a row against what the store holds (the same content under another
    subject or site, subject flags, session order) and then registers it; both must
    happen under this lock in one transaction, or two ingests running at once (two data
    roots, or two sites, sharing one store) could each find nothing and both register
    the same recording. On PostgreSQL this takes ``pg_advisory_xact_lock`` on
    :data:`INGEST_LOCK_KEY` (waits for the holder; released by commit or rollback, or
    when the holder's connection dies). On SQLite every transaction of a palsyflow
    engine already begins with ``BEGIN IMMEDIATE`` (:func:`palsyflow.store.db.make_engine`),
    which serialises writers, so nothing more is needed; it starts the transaction.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
        The unit of work that will check and register.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_LOCK_KEY})
    else:
        db.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite)


def content_uses(db: DBSession, sha256: str) -> list[ContentUse]:
    """Every registered recording with this content, across all sites.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    sha256 : str
        Hex digest (case-insensitive).

    Returns
    -------
    list of ContentUse
        Ordered by site, subject, session, task. Callers showing them to one site must
        not reveal another site's labels.

    Raises
    ------
    ValueError
        If ``sha256`` is not 64 hex characters.
    """
    sha256 = _check_sha256(sha256)
    stmt = (
        sa.select(Site.label, Subject.label, Session.label, Recording.task)
        .select_from(Recording)
        .join(Session, Recording.session_id == Session.id)
        .join(Subject, Session.subject_id == Subject.id)
        .join(Site, Subject.site_id == Site.id)
        .where(Recording.sha256 == sha256)
        .order_by(Site.label, Subject.label, Session.label, Recording.task)
    )
    return [ContentUse(*r) for r in db.execute(stmt).all()]


def subject_labels(db: DBSession, site: str) -> list[str]:
    """Every subject label of ``site``, sorted (empty for an unknown site).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site : str
        Site label.

    Returns
    -------
    list of str
    """
    stmt = sa.select(Subject.label).join(Site, Subject.site_id == Site.id).where(Site.label == site)
    return sorted(db.scalars(stmt).all())


# --------------------------------------------------------------------------- site access (PostgreSQL row-level security)

#: Prefix of a site's PostgreSQL group role (``palsyflow_site_<site>``, migration 0006).
SITE_ROLE_PREFIX = "palsyflow_site_"
#: The pipeline's PostgreSQL group role: sees and writes every site.
SERVICE_ROLE = "palsyflow_service"


#: Tables a site's role gets no grant on: the portal's accounts and login attempts (every
#: site's, read by the portal's own role before a request has a site).
NO_SITE_GRANT: tuple[str, ...] = ("web_users", "login_attempts")


class SiteAccessError(PermissionError):
    """The connected database role may not write a site's data."""


def site_role(site: str) -> str:
    """The PostgreSQL group role of ``site`` (``palsyflow_site_<site>``).

    Raises
    ------
    ValueError
        If ``site`` is not a valid label or the role name would exceed PostgreSQL's 63 bytes.
    """
    check_label("site", site)
    name = SITE_ROLE_PREFIX + site
    if len(name.encode()) > 63:
        raise ValueError(f"site {site!r}: its role name {name!r} exceeds PostgreSQL's 63 characters; use a shorter site label")
    return name


def may_write_site(db: DBSession, site: str) -> bool:
    """Whether the connected role may write ``site``'s rows.

    Always true on SQLite (single-organisation, ``docs/store.md``). On PostgreSQL: a
    superuser, a role with BYPASSRLS, a member of :data:`SERVICE_ROLE` or of the site's
    group role (:func:`site_role`), the same test the row-level security policies apply.
    """
    if db.get_bind().dialect.name != "postgresql":
        return True
    return bool(db.scalar(sa.text("SELECT palsyflow_site_ok(:s)"), {"s": site}))


def check_may_write_site(db: DBSession, site: str) -> None:
    """Refuse with one sentence when the connected role may not write ``site`` (:func:`may_write_site`).

    Raises
    ------
    SiteAccessError
    """
    if not may_write_site(db, site):
        role = db.scalar(sa.text("SELECT current_user"))
        raise SiteAccessError(
            f"database role {role!r} may not write site {site!r}: it is neither a member of "
            f"{site_role(site)!r} nor of {SERVICE_ROLE!r} (palsyflow db grant-site {site} {role})"
        )


def grant_site(db: DBSession, site: str, role: str) -> str:
    """Make an existing PostgreSQL login role a member of ``site``'s group role.

    Creates the group role (NOLOGIN) when missing and grants it what a site's user
    needs on the store's tables in the current schema: SELECT, INSERT, UPDATE, DELETE
    (row-level security restricts every one to the site's rows), INSERT and SELECT only
    on ``audit_events``, SELECT on ``alembic_version``, and the sequences. Needs a role
    that may create roles and grant on the tables (the store's owner or a superuser).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
        On PostgreSQL.
    site : str
        Site label.
    role : str
        An existing login role.

    Returns
    -------
    str
        The site's group role.

    Raises
    ------
    ValueError
        If the store is not PostgreSQL, ``site`` is invalid or ``role`` does not exist.
    """
    if db.get_bind().dialect.name != "postgresql":
        raise ValueError("grant-site needs a PostgreSQL store; a SQLite store is single-organisation (docs/store.md)")
    group = site_role(site)
    if db.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}) is None:
        raise ValueError(f"PostgreSQL role {role!r} does not exist; create the login role first (CREATE ROLE {role} LOGIN)")
    q = db.get_bind().dialect.identifier_preparer.quote
    ensure_site_group(db, site)
    db.execute(sa.text(f"GRANT {q(group)} TO {q(role)}"))
    return group


def ensure_site_group(db: DBSession, site: str) -> str:
    """Create ``site``'s group role (NOLOGIN) when missing and grant it the site tables (:func:`grant_site`).

    The portal runs each request under this role (``SET LOCAL ROLE``), so the role needs
    no login; idempotent.

    Returns
    -------
    str
        The site's group role.

    Raises
    ------
    ValueError
        If the store is not PostgreSQL or ``site`` is invalid.
    """
    if db.get_bind().dialect.name != "postgresql":
        raise ValueError("site roles need a PostgreSQL store; a SQLite store is single-organisation (docs/store.md)")
    group = site_role(site)
    q = db.get_bind().dialect.identifier_preparer.quote
    if db.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": group}) is None:
        db.execute(sa.text(f"CREATE ROLE {q(group)} NOLOGIN"))
    schema = db.scalar(sa.text("SELECT current_schema()"))
    tables = [t for t in Base.metadata.tables if t not in ("audit_events", *NO_SITE_GRANT)]
    db.execute(sa.text(f"GRANT USAGE ON SCHEMA {q(schema)} TO {q(group)}"))
    db.execute(sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(q(t) for t in tables)} TO {q(group)}"))
    db.execute(sa.text(f"GRANT SELECT, INSERT ON audit_events TO {q(group)}"))
    db.execute(sa.text(f"GRANT SELECT ON alembic_version TO {q(group)}"))
    db.execute(sa.text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {q(schema)} TO {q(group)}"))
    return group


# --------------------------------------------------------------------------- exports and delivery

from palsyflow.store.models import PATH_LEN, REASON_LEN, Delivery  # noqa: E402  (this section's own, kept apart for merging)


@dataclasses.dataclass(frozen=True)
class ReportInfo:
    """One session's current report with the entities above it (read-only view)."""

    report_id: int
    site: str
    subject: str
    session: str
    session_date: dt.date
    path: str  # relative to the data root
    sha256: str


def site_reports(db: DBSession, site: str | None = None, kind: str = "clinician") -> list[ReportInfo]:
    """Every session's current report of one kind (of one site, or all), ordered by site, subject, session.

    Exports and deliveries go to clinicians and clinical systems: the default is the
    clinician report (:data:`palsyflow.store.models.REPORT_KINDS`); the patient's page
    is not delivered as a second report of the session.
    """
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown report kind {kind!r}; one of {REPORT_KINDS}")
    stmt = (
        sa.select(Site.label, Subject.label, Session.label, Session.session_date, Report)
        .join(Subject, Subject.site_id == Site.id)
        .join(Session, Session.subject_id == Subject.id)
        .join(Report, Report.session_id == Session.id)
        .where(Report.kind == kind)
        .order_by(Site.label, Subject.label, Session.label)
    )
    if site is not None:
        stmt = stmt.where(Site.label == site)
    return [ReportInfo(r.id, s, sub, ses, day, r.path, r.sha256) for s, sub, ses, day, r in db.execute(stmt)]


def site_scores(db: DBSession, site: str) -> list[dict[str, Any]]:
    """The score rows of one site's sessions: ``subject``, ``session`` and the score fields (``measure``, ``value`` ...)."""
    stmt = (
        sa.select(Subject.label, Session.label, Score)
        .join(Site, Subject.site_id == Site.id)
        .join(Session, Session.subject_id == Subject.id)
        .join(Score, Score.session_id == Session.id)
        .where(Site.label == site)
        .order_by(Subject.label, Session.label, Score.measure)
    )
    return [
        {"subject": sub, "session": ses, "measure": sc.measure, **{f: getattr(sc, f) for f in _SCORE_FIELDS}}
        for sub, ses, sc in db.execute(stmt)
    ]


def recording_media(db: DBSession, site: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Probe facts of one site's recordings, by (subject, session, task): the ``_MEDIA_FIELDS``."""
    stmt = (
        sa.select(Subject.label, Session.label, Recording)
        .join(Site, Subject.site_id == Site.id)
        .join(Session, Session.subject_id == Subject.id)
        .join(Recording, Recording.session_id == Session.id)
        .where(Site.label == site)
    )
    return {(sub, ses, r.task): {f: getattr(r, f) for f in _MEDIA_FIELDS} for sub, ses, r in db.execute(stmt)}


def queue_deliveries(
    db: DBSession, channels_of: Callable[[str], Collection[str]], site: str | None = None, now: dt.datetime | None = None
) -> int:
    """Queue a delivery for every report version and channel that has none yet.

    Idempotent: the unique (report, sha256, channel) constraint is checked first and,
    for a concurrent writer, through a savepoint.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    channels_of : callable
        Site label -> the channels it delivers on (a subset of ``DELIVERY_CHANNELS``).
    site : str, optional
        Only this site's reports.
    now : datetime, optional
        Aware UTC time the new rows are first due (default: the clock).

    Returns
    -------
    int
        The number of deliveries queued.
    """
    have = {tuple(r) for r in db.execute(sa.select(Delivery.report_id, Delivery.sha256, Delivery.channel)).all()}
    site_ids = {label: sid for label, sid in db.execute(sa.select(Site.label, Site.id)).all()}
    queued = 0
    for info in site_reports(db, site):
        for channel in channels_of(info.site):
            key = (info.report_id, info.sha256, channel)
            if key in have:
                continue
            row = Delivery(
                report_id=info.report_id, site_id=site_ids[info.site], sha256=info.sha256, channel=channel,
                next_attempt_at=now or utcnow(),
            )

            def fetch(k=key):
                return db.scalar(
                    sa.select(Delivery).where(Delivery.report_id == k[0], Delivery.sha256 == k[1], Delivery.channel == k[2])
                )

            _, created = _savepoint_create(db, row, fetch)
            queued += created
            have.add(key)
    return queued


def due_deliveries(db: DBSession, now: dt.datetime, site: str | None = None) -> list[Any]:
    """Queued deliveries whose ``next_attempt_at`` has come, oldest first, whose report still has that sha256.

    A delivery queued for a version that a newer report replaced before it went out is
    not due (the newer version has its own).
    """
    stmt = (
        sa.select(Delivery)
        .join(Report, Report.id == Delivery.report_id)
        .where(Delivery.state == "queued", Delivery.next_attempt_at <= now, Report.sha256 == Delivery.sha256)
        .order_by(Delivery.id)
    )
    if site is not None:
        stmt = stmt.join(Site, Site.id == Delivery.site_id).where(Site.label == site)
    return list(db.scalars(stmt))


def mark_delivery_sent(db: DBSession, delivery: Any, target: str, now: dt.datetime) -> None:
    """``queued`` -> ``sent``: one more attempt, where it went, when."""
    delivery.attempts += 1
    delivery.state, delivery.target, delivery.sent_at, delivery.last_error = "sent", target[:PATH_LEN], now, None
    db.flush()


def mark_delivery_failed(
    db: DBSession, delivery: Any, error: str, now: dt.datetime, retry_delay_s: float, max_attempts: int
) -> None:
    """Record a failed attempt: retry after ``retry_delay_s * 2**(attempts-1)``, or ``failed`` at ``max_attempts``."""
    delivery.attempts += 1
    delivery.last_error = error[:REASON_LEN]
    if delivery.attempts >= max_attempts:
        delivery.state = "failed"
    else:
        delivery.next_attempt_at = now + dt.timedelta(seconds=retry_delay_s * 2 ** (delivery.attempts - 1))
    db.flush()
