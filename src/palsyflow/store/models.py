"""Tables of the session store (SQLAlchemy 2 typed declarative models).

The store records *what exists* (sites, subjects, sessions, recordings), *what was
rejected* (quarantine), *what ran* (processing runs) and *what came out* (per-session
scores, PDF reports). Files themselves stay on disk; rows hold paths relative to the
data root and sha256 digests.

Portability rules, so the same models run on SQLite and PostgreSQL:

* only generic column types (``sqlalchemy.JSON``, ``Date``, ``Float`` ...);
* every timestamp is a timezone-aware UTC :class:`datetime.datetime`
  (:class:`UTCDateTime`); naive datetimes are refused;
* constraints carry explicit names (:data:`NAMING_CONVENTION`), so future alembic
  migrations can alter them on SQLite in batch mode.

The schema is created by the alembic migrations in ``palsyflow/store/migrations``,
never by ``metadata.create_all``; a test checks that models and migrations agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

#: Constraint names are deterministic so migrations can refer to them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RECORDING_KINDS: tuple[str, ...] = ("video", "photo", "audio")
RUN_STATUSES: tuple[str, ...] = ("running", "succeeded", "failed", "interrupted")

LABEL_LEN = 64
PATH_LEN = 1024
REASON_LEN = 1000


def utcnow() -> dt.datetime:
    """The current time as a timezone-aware UTC datetime."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """A ``DateTime(timezone=True)`` column that always holds aware UTC datetimes.

    On the way in, aware datetimes are converted to UTC (SQLite, which has no time
    zone support, stores them without the offset); naive datetimes raise
    ``ValueError``. On the way out, values are returned as aware UTC datetimes on
    every backend.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(f"naive datetime {value!r}: use an aware UTC datetime (palsyflow.store.models.utcnow)")
        value = value.astimezone(dt.timezone.utc)
        if dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every store table."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class Site(Base):
    """A recording site (clinic, hospital); ``label`` is the BIDS ``site-<label>``."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(LABEL_LEN), unique=True)

    subjects: Mapped[list[Subject]] = relationship(back_populates="site")

    def __repr__(self) -> str:
        return f"Site(id={self.id!r}, label={self.label!r})"


class Subject(Base):
    """A pseudonymous participant of one site.

    ``healthy`` is ``None`` when the manifest does not say; ``simulated`` marks phantom
    subjects whose recordings were synthetically weakened; ``onset`` is the date of onset
    of the palsy (manifest column ``onset``, migration 0007), ``None`` when not said.
    """

    __tablename__ = "subjects"
    __table_args__ = (sa.UniqueConstraint("site_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(LABEL_LEN))
    healthy: Mapped[bool | None] = mapped_column(sa.Boolean)
    simulated: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    onset: Mapped[dt.date | None] = mapped_column(sa.Date)

    site: Mapped[Site] = relationship(back_populates="subjects")
    sessions: Mapped[list[Session]] = relationship(back_populates="subject")

    def __repr__(self) -> str:
        return f"Subject(id={self.id!r}, site_id={self.site_id!r}, label={self.label!r})"


class Session(Base):
    """One visit of a subject; ``label`` is the session date as ``YYYYMMDD``.

    ``hb_grade`` is the clinician's House-Brackmann grade (1 normal ... 6 total
    paralysis), ``None`` when not graded.
    """

    __tablename__ = "sessions"
    __table_args__ = (
        sa.UniqueConstraint("subject_id", "label"),
        sa.CheckConstraint("hb_grade IS NULL OR (hb_grade >= 1 AND hb_grade <= 6)", name="hb_grade_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(8))
    session_date: Mapped[dt.date] = mapped_column(sa.Date)
    hb_grade: Mapped[int | None] = mapped_column(sa.SmallInteger)

    subject: Mapped[Subject] = relationship(back_populates="sessions")
    recordings: Mapped[list[Recording]] = relationship(back_populates="session")
    scores: Mapped[list[Score]] = relationship(back_populates="session")
    reports: Mapped[list[Report]] = relationship(back_populates="session")

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, subject_id={self.subject_id!r}, label={self.label!r})"


class Recording(Base):
    """One raw file of a session task, copied into the raw tree.

    ``raw_path`` is relative to the data root (POSIX separators); ``sha256`` is the
    hex digest of the file's bytes. Media fields come from probing the file and are
    ``None`` when they do not apply (``fps`` of a photo, ``width`` of audio).
    """

    __tablename__ = "recordings"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "task"),
        sa.CheckConstraint("kind IN ('video', 'photo', 'audio')", name="kind"),
        sa.CheckConstraint("length(sha256) = 64", name="sha256_len"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id"), index=True)
    task: Mapped[str] = mapped_column(sa.String(LABEL_LEN))
    kind: Mapped[str] = mapped_column(sa.String(8))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    raw_path: Mapped[str] = mapped_column(sa.String(PATH_LEN))
    #: the uploaded file's name as a keyed hash plus extension (:func:`palsyflow.pseudonym.keyed_name`);
    #: the name itself is never stored
    original_name_hmac: Mapped[str] = mapped_column(sa.String(PATH_LEN))
    #: the line of the manifest that delivered it (later stages name it in their refusals)
    manifest_line: Mapped[int | None] = mapped_column(sa.Integer)
    #: the text spoken, for a speech task (manifest column ``prompt``)
    prompt: Mapped[str | None] = mapped_column(sa.Text)
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    fps: Mapped[float | None] = mapped_column(sa.Float)
    width: Mapped[int | None] = mapped_column(sa.Integer)
    height: Mapped[int | None] = mapped_column(sa.Integer)
    codec: Mapped[str | None] = mapped_column(sa.String(LABEL_LEN))
    has_audio: Mapped[bool | None] = mapped_column(sa.Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    session: Mapped[Session] = relationship(back_populates="recordings")

    def __repr__(self) -> str:
        return f"Recording(id={self.id!r}, session_id={self.session_id!r}, task={self.task!r}, sha256={self.sha256[:12]!r}...)"


class QuarantineItem(Base):
    """An uploaded file (or a registered recording) that was refused, and why.

    ``sha256`` is ``None`` when the file could not be read; ``quarantined_path`` is
    ``None`` when it was not copied to the quarantine folder, else relative to the data
    root. ``recording_key`` names the recording when a stage after ingest refused it
    (landmarks, validation). ``resolved_at`` is set once the item no longer stands (the
    same content or a file for the same recording was accepted later, or the recording
    later passed the stage that refused it); resolved items are kept, never listed as
    failures.
    """

    __tablename__ = "quarantine_items"
    __table_args__ = (sa.UniqueConstraint("site_id", "original_name_hmac", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    #: keyed hash of the uploaded name (:func:`palsyflow.pseudonym.keyed_name`), ``manifest.csv``
    #: for a drop's manifest, or a recording key for a refusal after ingest
    original_name_hmac: Mapped[str] = mapped_column(sa.String(PATH_LEN))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.String(REASON_LEN))
    quarantined_path: Mapped[str | None] = mapped_column(sa.String(PATH_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recording_key: Mapped[str | None] = mapped_column(sa.String(PATH_LEN))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    site: Mapped[Site] = relationship()


class ProcessingRun(Base):
    """One execution of a pipeline stage, with what it saw and how it ended.

    ``input_hashes`` is any JSON value (usually ``{name: sha256}``); ``site`` is a
    site label when the run was restricted to one site. ``pid`` and ``host`` name the
    process that runs it: a ``running`` run whose process is gone (checked on the same
    host, or found while no process holds the data root's run lock) is marked
    ``interrupted`` (:func:`palsyflow.store.repo.mark_interrupted_runs`).
    """

    __tablename__ = "processing_runs"
    __table_args__ = (
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed', 'interrupted')", name="status"),
        sa.Index("ix_processing_runs_stage_started_at", "stage", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(sa.String(LABEL_LEN))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(sa.String(16), default="running", server_default="running")
    code_version: Mapped[str] = mapped_column(sa.String(LABEL_LEN))
    params_hash: Mapped[str] = mapped_column(sa.String(LABEL_LEN))
    input_hashes: Mapped[Any] = mapped_column(sa.JSON)
    n_processed: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    n_skipped: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    n_failed: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(sa.Text)
    site: Mapped[str | None] = mapped_column(sa.String(LABEL_LEN))
    pid: Mapped[int | None] = mapped_column(sa.Integer)
    host: Mapped[str | None] = mapped_column(sa.String(255))


class Score(Base):
    """One measure of one session (a row of :data:`palsyflow.schemas.SCORE_SCHEMA`)."""

    __tablename__ = "scores"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "measure"),
        sa.CheckConstraint("weaker_side IS NULL OR weaker_side IN ('left', 'right')", name="weaker_side"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id"), index=True)
    measure: Mapped[str] = mapped_column(sa.String(LABEL_LEN))
    region: Mapped[str | None] = mapped_column(sa.String(32))
    value: Mapped[float | None] = mapped_column(sa.Float)
    unit: Mapped[str | None] = mapped_column(sa.String(32))
    z: Mapped[float | None] = mapped_column(sa.Float)
    percentile: Mapped[float | None] = mapped_column(sa.Float)
    weaker_side: Mapped[str | None] = mapped_column(sa.String(8))
    side_basis: Mapped[str | None] = mapped_column(sa.String(64))
    change_since_first: Mapped[float | None] = mapped_column(sa.Float)
    simulated: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    model_version: Mapped[str | None] = mapped_column(sa.String(LABEL_LEN))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("processing_runs.id"), index=True)

    session: Mapped[Session] = relationship(back_populates="scores")
    run: Mapped[ProcessingRun | None] = relationship()


#: The kinds of report a session has (``reports.kind``): the clinician PDF and the one-page patient PDF.
REPORT_KINDS: tuple[str, ...] = ("clinician", "patient")


class Report(Base):
    """A PDF report of one session: one per session and kind, replaced on regeneration."""

    __tablename__ = "reports"
    __table_args__ = (sa.UniqueConstraint("session_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id"))
    kind: Mapped[str] = mapped_column(sa.String(16), default="clinician", server_default="clinician")
    path: Mapped[str] = mapped_column(sa.String(PATH_LEN))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("processing_runs.id"), index=True)

    session: Mapped[Session] = relationship(back_populates="reports")
    run: Mapped[ProcessingRun | None] = relationship()


class AuditEvent(Base):
    """One entry of the append-only audit trail (who did what to which subject/session, when, from where).

    Shaped after FHIR R4 AuditEvent (see ``docs/store.md``): ``action`` is one of
    :data:`palsyflow.store.audit.ACTIONS` (AuditEvent ``type``/``subtype``/``action``),
    ``recorded_at`` its ``recorded``, ``actor`` the ``agent`` (database role and operating
    system user), ``source`` the ``source.observer`` (host and program), ``subject`` /
    ``session`` / ``entity`` the ``entity`` references (pseudonymous labels, a recording
    key, a report path; never an original file name). Rows are only ever inserted: on
    PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE (migration 0006), and the
    repository has no function that changes one.
    """

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_site_recorded_at", "site", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    site: Mapped[str] = mapped_column(sa.String(LABEL_LEN))
    action: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(255))
    subject: Mapped[str | None] = mapped_column(sa.String(LABEL_LEN))
    session: Mapped[str | None] = mapped_column(sa.String(LABEL_LEN))
    entity: Mapped[str | None] = mapped_column(sa.String(PATH_LEN))
    source: Mapped[str] = mapped_column(sa.String(255))
    detail: Mapped[Any] = mapped_column(sa.JSON, nullable=True)


#: Every table the initial migration creates, in dependency order.
TABLES: tuple[str, ...] = tuple(t.name for t in Base.metadata.sorted_tables)


# --------------------------------------------------------------------------- delivery (migration 0008)

DELIVERY_STATES: tuple[str, ...] = ("queued", "sent", "failed")
DELIVERY_CHANNELS: tuple[str, ...] = ("email", "outbox")


class Delivery(Base):
    """One delivery of one report version over one channel (the outbox).

    A row is queued when a session's report is new or its sha256 changed; the unique
    constraint on (``report_id``, ``sha256``, ``channel``) makes a version's delivery
    happen at most once per channel. States: ``queued`` -> ``sent``, or ``queued`` ->
    (``attempts`` grows, ``next_attempt_at`` moves on, ``last_error`` says why) ->
    ``failed`` after ``params.delivery.max_attempts`` attempts. ``target`` names where it
    went (recipient addresses or the outbox files, pseudonymous).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("report_id", "sha256", "channel"),
        sa.CheckConstraint("state IN ('queued', 'sent', 'failed')", name="state"),
        sa.CheckConstraint("channel IN ('email', 'outbox')", name="channel"),
        sa.Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    channel: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16), default="queued", server_default="queued")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.String(REASON_LEN))
    target: Mapped[str | None] = mapped_column(sa.String(PATH_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    report: Mapped[Report] = relationship()


# --------------------------------------------------------------------------- the portal (migration 0010)

#: Roles of a portal account (``palsyflow users add --role``).
WEB_ROLES: tuple[str, ...] = ("clinician", "data_manager", "admin")


class WebUser(Base):
    """A portal account of one site: its role and its Argon2id password hash (never the password).

    The row is read before the request knows its site (at login), so it carries no
    row-level security; everything the account then reads runs under its site's role.
    """

    __tablename__ = "web_users"
    __table_args__ = (sa.CheckConstraint("role IN ('clinician', 'data_manager', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(LABEL_LEN), unique=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    site: Mapped[Site] = relationship()


class LoginAttempt(Base):
    """One login attempt (for rate limiting): the user name tried, whether it succeeded, when."""

    __tablename__ = "login_attempts"
    __table_args__ = (sa.Index("ix_login_attempts_username_at", "username", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(LABEL_LEN))
    ok: Mapped[bool] = mapped_column(sa.Boolean)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReportSignoff(Base):
    """A clinician's sign-off of one report version (its sha256), with a comment."""

    __tablename__ = "report_signoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    username: Mapped[str] = mapped_column(sa.String(LABEL_LEN))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    report: Mapped[Report] = relationship()


class PatientLink(Base):
    """A one-time self-recording link of one subject: the sha256 of its token, never the token.

    ``uploaded_at`` is set when the patient's recordings were uploaded (the link then
    shows the patient report of the night's run until it expires).
    """

    __tablename__ = "patient_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    created_by: Mapped[str] = mapped_column(sa.String(LABEL_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    uploaded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    site: Mapped[Site] = relationship()
    subject: Mapped[Subject] = relationship()
