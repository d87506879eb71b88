"""``palsyflow deliver`` and the nightly's ``deliver`` task: new or changed reports reach the site.

A side effect after the report stage, not a DVC stage. Each run:

1. queues, in the store's outbox table (``deliveries``), every report version that has no
   delivery yet on each of its site's channels (``outbox`` always; ``email`` when the
   site has recipients in ``params.delivery.sites``): one row per
   (report, sha256, channel), so a version is queued once, ever;
2. works through the queued rows that are due: ``outbox`` copies the PDF and the
   session's FHIR bundle into :meth:`Catalog.site_outbox` (pseudonymous names, shifted
   labels); ``email`` sends the notification (:func:`palsyflow.exports.delivery.notification`)
   over SMTP (:mod:`smtplib`). Success marks the row ``sent``; a failure counts the
   attempt, keeps ``last_error`` and retries at ``next_attempt_at`` on a later run
   (``params.delivery.retry_delay_s``, doubled per attempt), up to ``max_attempts``,
   after which the row is ``failed``.

A rerun with nothing new sends nothing. Each row is sent and then marked in its own
transaction: only a crash between the SMTP server accepting a message and the commit
could send it a second time.
"""

from __future__ import annotations

import datetime as dt
import json
import smtplib

import sqlalchemy as sa

from palsyflow.atomic import atomic_write_bytes, atomic_write_text
from palsyflow.config import DeliveryParams
from palsyflow.exports.delivery import notification, report_link
from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.export import fhir_bundles
from palsyflow.stages.runs import StageResult
from palsyflow.store import audit, repo
from palsyflow.store.db import session_scope
from palsyflow.store.models import Delivery, utcnow


def channels(params: DeliveryParams, site: str) -> tuple[str, ...]:
    """The channels a site's reports go out on: ``outbox``, plus ``email`` when it has recipients."""
    conf = params.sites.get(site)
    return ("outbox", "email") if conf is not None and conf.recipients else ("outbox",)


def _send_outbox(project: Project, site: str, subject: str, session: str, sha256: str, pdf: bytes) -> str:
    cat = Catalog.of(project)
    hits = [b for b in fhir_bundles(project, site, only={(subject, session)}) if b.sha256 == sha256]
    if not hits:
        raise RuntimeError(f"the report of sub-{subject} changed before its outbox copy was made")
    sb = hits[0]
    folder = cat.site_outbox(site)
    bundle = atomic_write_text(folder / sb.file_name, json.dumps(sb.bundle, indent=1) + "\n")
    atomic_write_bytes(bundle.with_name(sb.file_name.removesuffix(".fhir.json") + ".pdf"), pdf)
    return cat.data_relative(bundle)


def _send_email(params: DeliveryParams, msg) -> None:
    with smtplib.SMTP(params.smtp_host, params.smtp_port, timeout=params.smtp_timeout_s) as smtp:
        smtp.send_message(msg)


def _send(project: Project, params: DeliveryParams, job: dict) -> str:
    """Deliver one queued row (``job``: its channel, report and entities); where it went."""
    pdf = Catalog.of(project).in_data(job["path"]).read_bytes()
    if job["channel"] == "outbox":
        return _send_outbox(project, job["site"], job["subject"], job["session"], job["sha256"], pdf)
    conf = params.sites[job["site"]]
    msg = notification(
        site=job["site"],
        subject=job["subject"],
        report_id=job["report_id"],
        sha256=job["sha256"],
        sender=params.smtp_from,
        recipients=conf.recipients,
        link=report_link(params.link_base_url, job["site"], job["subject"], job["report_id"], job["sha256"]),
        changed=job["changed"],
        pdf=pdf if conf.attach else None,
    )
    _send_email(params, msg)
    return ", ".join(conf.recipients)


def deliver(project: Project, site: str | None = None, now: dt.datetime | None = None) -> StageResult:
    """Queue new report versions and send the due deliveries (see the module docstring).

    Parameters
    ----------
    project : Project
    site : str, optional
        Only this site's reports.
    now : datetime, optional
        Aware UTC "now" (tests move it past ``next_attempt_at``); default the clock.

    Returns
    -------
    StageResult
        ``processed``: deliveries sent; ``skipped``: none due; ``failed``: attempts that
        failed this run (each with its reason in ``failures``); ``notes``: how many were queued.
    """
    params = project.params.delivery
    now = now or utcnow()
    result = StageResult("deliver", site=site)
    with session_scope(project.engine) as db:
        queued = repo.queue_deliveries(db, lambda s: channels(params, s), site, now)
    with session_scope(project.engine) as db:
        due = [d.id for d in repo.due_deliveries(db, now, site)]
    if queued:
        result.notes.append(f"{queued} deliveries queued")
    for delivery_id in due:
        with session_scope(project.engine) as db:  # what to send, read first: no transaction is open while sending
            d = db.get(Delivery, delivery_id)
            rep, ses = d.report, d.report.session
            job = {
                "channel": d.channel, "sha256": d.sha256, "report_id": rep.id, "path": rep.path,
                "subject": ses.subject.label, "site": ses.subject.site.label, "session": ses.label,
            }
            job["changed"] = bool(db.scalar(
                sa.select(sa.func.count()).select_from(Delivery).where(
                    Delivery.report_id == rep.id, Delivery.channel == d.channel, Delivery.sha256 != d.sha256
                )
            ))
        error = None
        try:
            target = _send(project, params, job)
        except (OSError, smtplib.SMTPException, RuntimeError, KeyError, ValueError) as exc:
            error = f"{job['channel']} delivery of sub-{job['subject']}'s report failed: {type(exc).__name__}: {exc}"
        with session_scope(project.engine) as db:
            d = db.get(Delivery, delivery_id)
            if error is not None:
                repo.mark_delivery_failed(db, d, error, now, params.retry_delay_s, params.max_attempts)
                result.failed += 1
                result.failures.append({"site": job["site"], "file": f"report-{job['report_id']}", "reason": error})
                continue
            repo.mark_delivery_sent(db, d, target, now)
            audit.record(db, site=job["site"], action="report-delivered", subject=job["subject"],
                   detail={"channel": job["channel"], "sha256": job["sha256"]})
            result.processed += 1
    if not due:
        result.skipped += 1
    return result
