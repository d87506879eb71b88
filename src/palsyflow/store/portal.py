"""The portal's store side: accounts, login rate limit, sign-offs, patient links, site-scoped reads.

Every read here takes the site and filters by it, and on PostgreSQL the portal runs it
inside :func:`site_scope`, whose transactions run under the site's group role
(``SET LOCAL ROLE palsyflow_site_<site>``, :func:`palsyflow.store.repo.site_role`), so
row-level security (migration 0008) hides every other site's rows even from a query that
forgot its filter. Accounts (``web_users``) and login attempts are read before a request
has a site and are never granted to a site role (:data:`palsyflow.store.repo.NO_SITE_GRANT`).

Passwords are hashed with Argon2id (``argon2-cffi``'s :class:`argon2.PasswordHasher`,
RFC 9106 defaults); patient links keep only the sha256 of their random token.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as DBSession

from palsyflow.paths import check_label
from palsyflow.store import audit
from palsyflow.store.db import session_scope
from palsyflow.store.models import (
    WEB_ROLES,
    LoginAttempt,
    PatientLink,
    ProcessingRun,
    Recording,
    Report,
    ReportSignoff,
    Score,
    Session,
    Site,
    Subject,
    WebUser,
    utcnow,
)
from palsyflow.store.repo import NotFound, ensure_site_group, get_or_create_site, site_role

#: Shortest password ``palsyflow users add`` accepts (NIST SP 800-63B asks at least 8).
MIN_PASSWORD_LEN = 10

_hasher = PasswordHasher()


class TooManyAttempts(PermissionError):
    """Too many failed logins of one user name within the window."""


class LinkRefused(PermissionError):
    """A patient link that is unknown, expired or already used."""


# --------------------------------------------------------------------------- site scope


@contextlib.contextmanager
def site_scope(engine: Engine, site: str) -> Iterator[DBSession]:
    """A unit of work whose every transaction runs under ``site``'s PostgreSQL group role.

    On SQLite (one organisation) it is :func:`palsyflow.store.db.session_scope`; the
    site filter of each query is then the only isolation.

    Raises
    ------
    palsyflow.paths.InvalidLabelError
        If ``site`` is not a valid label.
    """
    role = site_role(site)
    with session_scope(engine) as db:
        if engine.dialect.name == "postgresql":
            quoted = engine.dialect.identifier_preparer.quote(role)

            @event.listens_for(db, "after_begin")
            def _as_site(_session, _transaction, connection) -> None:
                connection.exec_driver_sql(f"SET LOCAL ROLE {quoted}")

        yield db


# --------------------------------------------------------------------------- accounts


def add_user(db: DBSession, username: str, site: str, role: str, password: str) -> WebUser:
    """Create a portal account of ``site`` (the site is created when new).

    On PostgreSQL the site's group role is created too (:func:`palsyflow.store.repo.ensure_site_group`).

    Parameters
    ----------
    username : str
        Letters and digits (a label), unique over all sites.
    site : str
    role : str
        One of :data:`palsyflow.store.models.WEB_ROLES`.
    password : str
        At least :data:`MIN_PASSWORD_LEN` characters; only its Argon2id hash is stored.

    Raises
    ------
    ValueError
        For an invalid name, role or short password, or a name already taken.
    """
    check_label("user name", username)
    check_label("site", site)
    if role not in WEB_ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(WEB_ROLES)}")
    if len(password) < MIN_PASSWORD_LEN:
        raise ValueError(f"the password has {len(password)} characters; at least {MIN_PASSWORD_LEN} are needed")
    if db.scalar(sa.select(WebUser.id).where(WebUser.username == username)) is not None:
        raise ValueError(f"user {username!r} exists already")
    if db.get_bind().dialect.name == "postgresql":
        ensure_site_group(db, site)
    user = WebUser(username=username, site=get_or_create_site(db, site), role=role, password_hash=_hasher.hash(password))
    db.add(user)
    db.flush()
    return user


def failed_attempts(db: DBSession, username: str, now: dt.datetime, window_s: float) -> int:
    """Failed logins of ``username`` since its last success, within ``window_s`` seconds before ``now``."""
    since = now - dt.timedelta(seconds=window_s)
    last_ok = db.scalar(
        sa.select(sa.func.max(LoginAttempt.at)).where(LoginAttempt.username == username, LoginAttempt.ok.is_(True))
    )
    if last_ok is not None and last_ok > since:
        since = last_ok
    return int(
        db.scalar(
            sa.select(sa.func.count()).where(
                LoginAttempt.username == username, LoginAttempt.ok.is_(False), LoginAttempt.at > since
            )
        )
        or 0
    )


def authenticate(
    db: DBSession, username: str, password: str, *, max_failures: int, window_s: float, now: dt.datetime | None = None
) -> WebUser | None:
    """Check a login; every attempt is recorded.

    Parameters
    ----------
    max_failures, window_s
        ``web.login_max_failures`` failures within ``web.login_window_s`` seconds refuse
        every further attempt of that name (right password or not) until the window passes.

    Returns
    -------
    WebUser or None
        The account, or None for an unknown name, a wrong password or a disabled account
        (the same answer for each, so a name cannot be probed).

    Raises
    ------
    TooManyAttempts
        When the name is locked out; the attempt is not checked.
    """
    now = now or utcnow()
    name = username[:64]
    if failed_attempts(db, name, now, window_s) >= max_failures:
        raise TooManyAttempts(f"too many failed sign-ins for {name!r}; try again in {int(window_s // 60)} minutes")
    user = db.scalar(sa.select(WebUser).where(WebUser.username == name))
    ok = False
    if user is not None and not user.disabled:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if ok and _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
    else:
        _hasher.hash(password)  # the same work for an unknown name
    db.add(LoginAttempt(username=name, ok=ok, at=now))
    db.flush()
    return user if ok else None


@dataclass(frozen=True)
class Account:
    """What a request knows of its signed-in user."""

    id: int
    username: str
    site: str
    role: str


def account(db: DBSession, user_id: int) -> Account | None:
    """The enabled account ``user_id``, or None."""
    row = db.execute(
        sa.select(WebUser.id, WebUser.username, Site.label, WebUser.role)
        .join(Site, Site.id == WebUser.site_id)
        .where(WebUser.id == user_id, WebUser.disabled.is_(False))
    ).first()
    return Account(*row) if row else None


# --------------------------------------------------------------------------- site-scoped reads


@dataclass(frozen=True)
class ReportRef:
    """One stored report of a session."""

    report_id: int
    kind: str
    path: str  # relative to the data root
    sha256: str
    created_at: dt.datetime


@dataclass(frozen=True)
class SignoffRef:
    """One sign-off of a report version."""

    username: str
    comment: str | None
    signed_at: dt.datetime
    sha256: str


@dataclass
class SessionView:
    """One session of a subject with its reports and sign-offs."""

    session: str
    session_date: dt.date
    hb_grade: int | None
    reports: dict[str, ReportRef] = field(default_factory=dict)
    signoffs: list[SignoffRef] = field(default_factory=list)

    @property
    def signed(self) -> bool:
        """Whether the current clinician report's version is signed."""
        rep = self.reports.get("clinician")
        return rep is not None and any(s.sha256 == rep.sha256 for s in self.signoffs)


@dataclass(frozen=True)
class SubjectView:
    """A subject of the site (pseudonym and flags)."""

    subject: str
    healthy: bool | None
    simulated: bool
    onset: dt.date | None


def _subject(db: DBSession, site: str, subject: str) -> Subject:
    row = db.scalar(
        sa.select(Subject).join(Site, Site.id == Subject.site_id).where(Site.label == site, Subject.label == subject)
    )
    if row is None:
        raise NotFound(f"no subject {subject!r} at site {site!r}")
    return row


def site_subjects(db: DBSession, site: str) -> list[SubjectView]:
    """The site's subjects, by label."""
    rows = db.execute(
        sa.select(Subject.label, Subject.healthy, Subject.simulated, Subject.onset)
        .join(Site, Site.id == Subject.site_id)
        .where(Site.label == site)
        .order_by(Subject.label)
    )
    return [SubjectView(*r) for r in rows]


def subject_sessions(db: DBSession, site: str, subject: str) -> list[SessionView]:
    """One subject's sessions in date order, with their reports and sign-offs.

    Raises
    ------
    NotFound
        If the site has no such subject.
    """
    sub = _subject(db, site, subject)
    sessions = db.scalars(sa.select(Session).where(Session.subject_id == sub.id).order_by(Session.session_date, Session.label)).all()
    out = {s.id: SessionView(s.label, s.session_date, s.hb_grade) for s in sessions}
    if not out:
        return []
    for r in db.scalars(sa.select(Report).where(Report.session_id.in_(out))):
        out[r.session_id].reports[r.kind] = ReportRef(r.id, r.kind, r.path, r.sha256, r.created_at)
    signs = db.execute(
        sa.select(Report.session_id, ReportSignoff)
        .join(Report, Report.id == ReportSignoff.report_id)
        .where(Report.session_id.in_(out))
        .order_by(ReportSignoff.signed_at)
    )
    for sid, so in signs:
        out[sid].signoffs.append(SignoffRef(so.username, so.comment, so.signed_at, so.sha256))
    return list(out.values())


def subject_tasks(db: DBSession, site: str, subject: str) -> dict[str, set[str]]:
    """Session label -> the tasks recorded in it, for one subject of the site.

    Raises
    ------
    NotFound
        If the site has no such subject.
    """
    sub = _subject(db, site, subject)
    out: dict[str, set[str]] = {}
    rows = db.execute(
        sa.select(Session.label, Recording.task).join(Recording, Recording.session_id == Session.id).where(Session.subject_id == sub.id)
    )
    for label, task in rows:
        out.setdefault(label, set()).add(task)
    return out


def subject_scores(db: DBSession, site: str, subject: str) -> list[dict]:
    """The score rows of one subject (``session``, ``session_date``, ``measure``, ``region``, ``value`` ...).

    Raises
    ------
    NotFound
        If the site has no such subject.
    """
    sub = _subject(db, site, subject)
    rows = db.execute(
        sa.select(Session.label, Session.session_date, Score)
        .join(Score, Score.session_id == Session.id)
        .where(Session.subject_id == sub.id)
        .order_by(Session.session_date, Score.measure)
    )
    return [
        {"site": site, "subject": subject, "session": label, "session_date": day, "measure": s.measure, "region": s.region,
         "value": s.value, "unit": s.unit, "z": s.z, "percentile": s.percentile, "weaker_side": s.weaker_side,
         "side_basis": s.side_basis, "change_since_first": s.change_since_first}
        for label, day, s in rows
    ]


def site_overall_scores(db: DBSession, site: str, measure: str) -> dict[str, list[tuple[str, dt.date, float | None]]]:
    """Subject -> ``(session, date, value)`` of one measure over the site's sessions, in date order."""
    rows = db.execute(
        sa.select(Subject.label, Session.label, Session.session_date, Score.value)
        .join(Site, Site.id == Subject.site_id)
        .join(Session, Session.subject_id == Subject.id)
        .join(Score, Score.session_id == Session.id)
        .where(Site.label == site, Score.measure == measure)
        .order_by(Subject.label, Session.session_date, Session.label)
    )
    out: dict[str, list[tuple[str, dt.date, float | None]]] = {}
    for sub, ses, day, value in rows:
        out.setdefault(sub, []).append((ses, day, value))
    return out


def site_last_sessions(db: DBSession, site: str) -> dict[str, tuple[str, dt.date, int]]:
    """Subject -> (last session label, its date, number of sessions)."""
    rows = db.execute(
        sa.select(Subject.label, Session.label, Session.session_date)
        .join(Site, Site.id == Subject.site_id)
        .join(Session, Session.subject_id == Subject.id)
        .where(Site.label == site)
        .order_by(Subject.label, Session.session_date, Session.label)
    )
    out: dict[str, tuple[str, dt.date, int]] = {}
    for sub, ses, day in rows:
        n = out[sub][2] + 1 if sub in out else 1
        out[sub] = (ses, day, n)
    return out


@dataclass(frozen=True)
class QueueItem:
    """A clinician report whose current version no one has signed."""

    subject: str
    session: str
    session_date: dt.date
    created_at: dt.datetime
    changed: bool  # an earlier version was signed: the report changed since


def review_queue(db: DBSession, site: str) -> list[QueueItem]:
    """The site's clinician reports new or changed since they were last signed, oldest first."""
    rows = db.execute(
        sa.select(Subject.label, Session.label, Session.session_date, Report)
        .join(Site, Site.id == Subject.site_id)
        .join(Session, Session.subject_id == Subject.id)
        .join(Report, Report.session_id == Session.id)
        .where(Site.label == site, Report.kind == "clinician")
        .order_by(Report.created_at, Subject.label, Session.label)
    ).all()
    signed: dict[int, set[str]] = {}
    if rows:
        for rid, sha in db.execute(
            sa.select(ReportSignoff.report_id, ReportSignoff.sha256).where(ReportSignoff.report_id.in_([r.id for *_, r in rows]))
        ):
            signed.setdefault(rid, set()).add(sha)
    return [
        QueueItem(sub, ses, day, r.created_at, bool(signed.get(r.id)))
        for sub, ses, day, r in rows
        if r.sha256 not in signed.get(r.id, set())
    ]


def session_report(db: DBSession, site: str, subject: str, session: str, kind: str) -> ReportRef:
    """The stored report of one kind of one session of the site.

    Raises
    ------
    NotFound
        If the site has no such session or report.
    """
    r = db.scalar(
        sa.select(Report)
        .join(Session, Session.id == Report.session_id)
        .join(Subject, Subject.id == Session.subject_id)
        .join(Site, Site.id == Subject.site_id)
        .where(Site.label == site, Subject.label == subject, Session.label == session, Report.kind == kind)
    )
    if r is None:
        raise NotFound(f"no {kind} report of {subject}/{session} at site {site!r}")
    return ReportRef(r.id, r.kind, r.path, r.sha256, r.created_at)


def sign_report(
    db: DBSession, site: str, subject: str, session: str, username: str, comment: str | None, source: str
) -> ReportSignoff:
    """Sign the current clinician report of a session, with an audit entry (``report-signed``).

    Raises
    ------
    NotFound
        If the session has no clinician report at the site.
    """
    ref = session_report(db, site, subject, session, "clinician")
    site_id = db.scalar(sa.select(Site.id).where(Site.label == site))
    text = (comment or "").strip()[:4000] or None
    so = ReportSignoff(report_id=ref.report_id, site_id=site_id, sha256=ref.sha256, username=username, comment=text)
    db.add(so)
    db.flush()
    audit.record(db, site=site, action="report-signed", actor=f"web {username}", subject=subject, session=session,
                 source=source, entity=ref.path, detail={"sha256": ref.sha256, "comment": bool(text)})
    return so


def site_runs(db: DBSession, site: str, limit: int = 20) -> list[ProcessingRun]:
    """The site's newest processing runs (those started for the site)."""
    return list(
        db.scalars(sa.select(ProcessingRun).where(ProcessingRun.site == site).order_by(ProcessingRun.id.desc()).limit(limit))
    )


@dataclass(frozen=True)
class RunView:
    """A stage run of every site (no site column): what it did, without its error text.

    The error sentence of a run over every site may name another site's files (keyed),
    so a site's user sees only that the stage failed.
    """

    stage: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    n_processed: int
    n_skipped: int
    n_failed: int


def all_site_runs(db: DBSession, limit: int = 20) -> list[RunView]:
    """The newest runs of stages that run for every site at once (features, train, score, report ...).

    Read with the portal's own role: on PostgreSQL a site role does not see these rows.
    """
    rows = db.scalars(sa.select(ProcessingRun).where(ProcessingRun.site.is_(None)).order_by(ProcessingRun.id.desc()).limit(limit))
    return [RunView(r.stage, r.status, r.started_at, r.finished_at, r.n_processed, r.n_skipped, r.n_failed) for r in rows]


# --------------------------------------------------------------------------- patient links


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_patient_link(
    db: DBSession, site: str, subject: str, created_by: str, days: float, now: dt.datetime | None = None
) -> tuple[str, dt.datetime]:
    """A one-time self-recording link for one subject of the site.

    Parameters
    ----------
    days : float
        Validity (``web.patient_link_days``).

    Returns
    -------
    token : str
        The link's secret (32 random bytes, URL-safe); only its sha256 is stored.
    expires_at : datetime.datetime

    Raises
    ------
    NotFound
        If the site has no such subject.
    """
    sub = _subject(db, site, subject)
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(days=days)
    db.add(PatientLink(token_sha256=_token_hash(token), site_id=sub.site_id, subject_id=sub.id, created_by=created_by,
                       created_at=now, expires_at=expires))
    db.flush()
    return token, expires


@dataclass(frozen=True)
class LinkView:
    """What a patient link opens: its site and subject, and whether it was used."""

    link_id: int
    site: str
    subject: str
    expires_at: dt.datetime
    uploaded_at: dt.datetime | None


def resolve_patient_link(db: DBSession, token: str, now: dt.datetime | None = None) -> LinkView:
    """The link a token opens (run with the portal's own role: the token names the site).

    Raises
    ------
    LinkRefused
        If the token is unknown or the link has expired.
    """
    now = now or utcnow()
    row = db.execute(
        sa.select(PatientLink, Site.label, Subject.label)
        .join(Site, Site.id == PatientLink.site_id)
        .join(Subject, Subject.id == PatientLink.subject_id)
        .where(PatientLink.token_sha256 == _token_hash(token))
    ).first()
    if row is None:
        raise LinkRefused("this link is not known")
    link, site, subject = row
    if link.expires_at <= now:
        raise LinkRefused("this link has expired; ask your clinic for a new one")
    return LinkView(link.id, site, subject, link.expires_at, link.uploaded_at)


def mark_link_uploaded(db: DBSession, link_id: int, now: dt.datetime | None = None) -> None:
    """Record that the link's recordings were uploaded; a second upload is refused.

    Raises
    ------
    LinkRefused
        If the link was already used for an upload.
    """
    link = db.get(PatientLink, link_id)
    if link is None or link.uploaded_at is not None:
        raise LinkRefused("this link's recordings were uploaded already; ask your clinic for a new link")
    link.uploaded_at = now or utcnow()
    db.flush()
