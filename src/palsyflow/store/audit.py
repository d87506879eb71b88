"""The audit trail: who did what to which subject or session, when, and from where.

Every entry is a row of ``audit_events`` (:class:`palsyflow.store.models.AuditEvent`),
written by :func:`record` and never changed: this module has no update or delete, and on
PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE of the table (migration 0006).
Entries carry pseudonymous labels only (site, subject, session, recording key, report
path), never an uploaded file's name.

The shape follows FHIR R4 AuditEvent (http://hl7.org/fhir/R4/auditevent.html);
:data:`ACTIONS` gives each action's ``type`` (DICOM audit event ID, code system
``http://dicom.nema.org/resources/ontology/DCM``), ``subtype`` and ``action`` code
(C create, R read, U update, D delete, E execute); :func:`as_fhir` builds the resource.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DBSession

from palsyflow.paths import check_label
from palsyflow.store.models import AuditEvent, utcnow


@dataclass(frozen=True)
class ActionCode:
    """How an audit action maps to FHIR AuditEvent ``type``, ``subtype`` and ``action``."""

    type_code: str  # DICOM audit event ID (DCM)
    type_display: str
    action: str  # FHIR AuditEvent.action: C, R, U, D or E


#: Every action the trail records, with its FHIR AuditEvent coding.
ACTIONS: dict[str, ActionCode] = {
    "ingest": ActionCode("110107", "Import", "C"),
    "quarantine": ActionCode("110107", "Import", "C"),
    "report-generated": ActionCode("110110", "Patient Record", "C"),
    "report-delivered": ActionCode("110106", "Export", "R"),
    "report-viewed": ActionCode("110110", "Patient Record", "R"),
    "export": ActionCode("110106", "Export", "R"),
    "role-granted": ActionCode("110136", "Security Roles Changed", "E"),
    "report-signed": ActionCode("110110", "Patient Record", "U"),
    "patient-viewed": ActionCode("110110", "Patient Record", "R"),
    "login": ActionCode("110114", "User Authentication", "E"),
    "logout": ActionCode("110114", "User Authentication", "E"),
    "patient-link": ActionCode("110110", "Patient Record", "C"),
    "upload": ActionCode("110107", "Import", "C"),
    "run-started": ActionCode("110100", "Application Activity", "E"),
}

#: Code system of :attr:`ActionCode.type_code`.
DCM = "http://dicom.nema.org/resources/ontology/DCM"
#: Code system of the ``subtype`` (the palsyflow action name).
SUBTYPE_SYSTEM = "https://palsyflow.org/fhir/CodeSystem/audit-action"


def current_actor(db: DBSession) -> str:
    """Who is acting: the database role (PostgreSQL) and the operating system user.

    Returns
    -------
    str
        ``"<role> (os <user>)"`` on PostgreSQL, ``"os <user>"`` on SQLite.
    """
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    if db.get_bind().dialect.name == "postgresql":
        role = db.scalar(sa.text("SELECT current_user"))
        return f"{role} (os {user})"[:255]
    return f"os {user}"[:255]


def current_source() -> str:
    """Where from: ``<host> <program>`` (the observer of FHIR AuditEvent.source)."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    return f"{socket.gethostname()} {prog}"[:255]


def record(
    db: DBSession,
    *,
    site: str,
    action: str,
    actor: str | None = None,
    subject: str | None = None,
    session: str | None = None,
    source: str | None = None,
    entity: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry to the audit trail (in ``db``'s unit of work; the caller commits).

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site : str
        Site label the entry belongs to (who may read it).
    action : str
        One of :data:`ACTIONS`.
    actor : str, optional
        Who; the database role and OS user when omitted (:func:`current_actor`).
    subject, session : str, optional
        Pseudonymous subject and session labels concerned.
    source : str, optional
        From where; host and program when omitted (:func:`current_source`).
    entity : str, optional
        What else is concerned: a recording key, a report path, an export folder, a role.
    detail : dict, optional
        JSON-serialisable extra facts (never an uploaded file's name).

    Returns
    -------
    AuditEvent
        The row added (flushed).

    Raises
    ------
    ValueError
        If ``action`` is unknown or ``site``/``subject`` is not a valid label.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; one of {sorted(ACTIONS)}")
    check_label("site", site)
    if subject is not None:
        check_label("subject", subject)
    who = actor if actor is not None else current_actor(db)
    where = source if source is not None else current_source()
    row = AuditEvent(
        recorded_at=utcnow(),
        site=site,
        action=action,
        actor=who[:255],
        subject=subject,
        session=session,
        entity=entity,
        source=where[:255],
        detail=detail,
    )
    db.add(row)
    db.flush()
    return row


def events(
    db: DBSession,
    *,
    site: str | None = None,
    since: dt.datetime | None = None,
    action: str | None = None,
) -> list[AuditEvent]:
    """Entries of the trail, oldest first.

    Parameters
    ----------
    db : sqlalchemy.orm.Session
    site : str, optional
        Only this site's entries (on PostgreSQL row-level security already hides other
        sites' from a site role).
    since : datetime.datetime, optional
        Only entries recorded at or after this aware datetime.
    action : str, optional
        Only this action.

    Returns
    -------
    list of AuditEvent
    """
    stmt = sa.select(AuditEvent).order_by(AuditEvent.recorded_at, AuditEvent.id)
    if site is not None:
        stmt = stmt.where(AuditEvent.site == site)
    if since is not None:
        stmt = stmt.where(AuditEvent.recorded_at >= since)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    return list(db.scalars(stmt))


def as_dict(event: AuditEvent) -> dict[str, Any]:
    """An entry as a JSON-serialisable dict (``recorded_at`` in ISO 8601 UTC)."""
    return {
        "id": event.id,
        "recorded_at": event.recorded_at.isoformat(),
        "site": event.site,
        "action": event.action,
        "actor": event.actor,
        "subject": event.subject,
        "session": event.session,
        "entity": event.entity,
        "source": event.source,
        "detail": event.detail,
    }


def as_fhir(event: AuditEvent) -> dict[str, Any]:
    """An entry as a FHIR R4 AuditEvent resource (a plain dict, see ``docs/store.md``).

    ``type`` is the DICOM event ID, ``subtype`` the palsyflow action, ``action`` the
    CRUDE code, ``recorded`` the time, ``agent`` the actor (the requestor), ``source``
    the host and program with the site, ``entity`` the subject, session and object
    concerned (labels as identifiers, never names).
    """
    code = ACTIONS[event.action]
    entities: list[dict[str, Any]] = []
    if event.subject:
        entities.append({"what": {"identifier": {"value": f"sub-{event.subject}"}}, "type": {"code": "1", "display": "Person"}})
    if event.session:
        entities.append({"what": {"identifier": {"value": f"ses-{event.session}"}}, "type": {"code": "2", "display": "System Object"}})
    if event.entity:
        entities.append({"what": {"identifier": {"value": event.entity}}, "type": {"code": "2", "display": "System Object"}})
    return {
        "resourceType": "AuditEvent",
        "id": str(event.id),
        "type": {"system": DCM, "code": code.type_code, "display": code.type_display},
        "subtype": [{"system": SUBTYPE_SYSTEM, "code": event.action}],
        "action": code.action,
        "recorded": event.recorded_at.isoformat(),
        "outcome": "0",
        "agent": [{"who": {"display": event.actor}, "requestor": True}],
        "source": {"site": f"site-{event.site}", "observer": {"display": event.source}},
        "entity": entities,
    }
