"""Delivery of new or changed reports: exactly once per (report version, channel), retried on failure.

A real SMTP server (``aiosmtpd``'s :class:`~aiosmtpd.controller.Controller`) runs on a free
loopback port and keeps every message it receives; the outbox folder is read back.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import socket

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from tests.support.export_cohort import SESSIONS, build_cohort, make_project, write_report

from palsyflow.project import Project
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.deliver import deliver
from palsyflow.store import repo
from palsyflow.store.db import session_scope
from palsyflow.store.models import Delivery

N_REPORTS = sum(len(v) for v in SESSIONS.values())


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = _Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    ctl.start()
    try:
        yield ctl, inbox
    finally:
        ctl.stop()


def _project(tmp_path, port: int, attach: bool = False):
    os.environ["PALSYFLOW_SECRET"] = (b"d" * 32).hex()
    extra = (
        "\n".join(
            [
                "",
                "delivery:",
                "  smtp_host: 127.0.0.1",
                f"  smtp_port: {port}",
                "  smtp_from: palsyflow@clinic.invalid",
                "  smtp_timeout_s: 5.0",
                "  link_base_url: https://reports.clinic.invalid",
                "  max_attempts: 3",
                "  retry_delay_s: 60.0",
                "  sites:",
                "    A:",
                "      recipients: [dr.a@clinic.invalid, dr.b@clinic.invalid]",
                f"      attach: {str(attach).lower()}",
            ]
        )
        + "\n"
    )
    root = make_project(tmp_path / "proj").root
    params = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(params.split("\ndelivery:")[0] + extra)  # this test's delivery section
    project = Project.load(root)
    build_cohort(project)
    return project


@pytest.fixture(autouse=True)
def _secret_env():
    yield
    os.environ.pop("PALSYFLOW_SECRET", None)


def _states(project) -> list[tuple[str, str, int]]:
    with session_scope(project.engine) as db:
        return sorted(tuple(r) for r in db.execute(sa.select(Delivery.channel, Delivery.state, Delivery.attempts)).all())


def test_one_message_per_new_report_version_none_on_rerun(tmp_path, smtp):
    ctl, inbox = smtp
    project = _project(tmp_path, ctl.port)
    first = deliver(project)
    assert first.processed == 2 * N_REPORTS and first.failed == 0
    assert len(inbox.messages) == N_REPORTS
    msg = inbox.messages[0]
    assert msg["To"] == "dr.a@clinic.invalid, dr.b@clinic.invalid"
    body = msg.get_content()
    assert "sub-" in body and "https://reports.clinic.invalid/site-A/sub-" in body
    assert not msg.is_multipart()  # no attachment by default
    for s in SESSIONS["p01"] + SESSIONS["c01"]:
        assert s not in msg.as_string()
    assert "Smith" not in msg.as_string() and "MRN" not in msg.as_string()

    # the outbox holds a PDF and a valid FHIR bundle per report, pseudonymous names
    folder = Catalog.of(project).site_outbox("A")
    pdfs, bundles = sorted(folder.glob("*.pdf")), sorted(folder.glob("*.fhir.json"))
    assert len(pdfs) == len(bundles) == N_REPORTS
    from fhir.resources.R4B.bundle import Bundle

    for b in bundles:
        Bundle.model_validate(json.loads(b.read_text()))

    # a rerun sends nothing
    again = deliver(project)
    assert again.processed == 0 and len(inbox.messages) == N_REPORTS
    assert _states(project) == sorted([("email", "sent", 1)] * N_REPORTS + [("outbox", "sent", 1)] * N_REPORTS)

    # a changed report: exactly one more message, marked as an update; then quiet again
    write_report(project, "A", "p01", SESSIONS["p01"][0], "report p01 v2")
    third = deliver(project)
    assert third.processed == 2 and len(inbox.messages) == N_REPORTS + 1
    assert "updated" in inbox.messages[-1]["Subject"]
    assert deliver(project).processed == 0 and len(inbox.messages) == N_REPORTS + 1
    assert len(list(folder.glob("*.pdf"))) == N_REPORTS + 1


def test_server_down_is_retried_next_run_then_sent_once(tmp_path):
    inbox, port = _Inbox(), _free_port()  # nothing listens there yet: the server is down
    project = _project(tmp_path, port)
    down = deliver(project)
    assert down.failed == N_REPORTS and down.processed == N_REPORTS  # outbox copies went, e-mails did not
    with session_scope(project.engine) as db:
        failed = db.scalars(sa.select(Delivery).where(Delivery.channel == "email")).all()
        assert {(d.state, d.attempts) for d in failed} == {("queued", 1)}
        assert all("Connection" in d.last_error or "refused" in d.last_error.lower() for d in failed)
        retry_at = min(d.next_attempt_at for d in failed)

    # before next_attempt_at nothing is tried, even with the server back
    ctl2 = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl2.start()
    try:
        assert deliver(project).processed == 0 and inbox.messages == []
        later = retry_at + dt.timedelta(seconds=1)
        up = deliver(project, now=later)
        assert up.processed == N_REPORTS and up.failed == 0 and len(inbox.messages) == N_REPORTS
        assert deliver(project, now=later + dt.timedelta(days=1)).processed == 0
        assert len(inbox.messages) == N_REPORTS
    finally:
        ctl2.stop()
    assert _states(project) == sorted([("email", "sent", 2)] * N_REPORTS + [("outbox", "sent", 1)] * N_REPORTS)


def test_attempts_run_out_and_attachment_when_enabled(tmp_path):
    inbox, port = _Inbox(), _free_port()  # down
    project = _project(tmp_path, port, attach=True)
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(3):
        deliver(project, now=now + dt.timedelta(days=i))
    assert {s for c, s, _ in _states(project) if c == "email"} == {"failed"}
    ctl2 = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl2.start()
    try:
        assert deliver(project, now=now + dt.timedelta(days=9)).processed == 0  # failed rows are not retried
        write_report(project, "A", "c01", SESSIONS["c01"][0], "report c01 v2")
        deliver(project, now=now + dt.timedelta(days=10))
    finally:
        ctl2.stop()
    (msg,) = inbox.messages
    assert msg.is_multipart()
    (att,) = [p for p in msg.iter_attachments()]
    assert att.get_content_type() == "application/pdf" and att.get_payload(decode=True).startswith(b"%PDF")


def test_the_patient_page_is_not_delivered_as_a_second_report(tmp_path, smtp):
    """Deliveries and FHIR copies are of the clinician report; a session's patient page is not queued."""
    ctl, inbox = smtp
    project = _project(tmp_path, ctl.port)
    cat = Catalog.of(project)
    subject, session = "p01", SESSIONS["p01"][0]
    page = cat.patient_report("A", subject, session, SESSIONS["p01"])
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_bytes(b"%PDF-1.4 patient page")
    with session_scope(project.engine) as db:
        repo.add_report(db, "A", subject, session, cat.data_relative(page), "e" * 64, kind="patient")
    out = deliver(project)
    assert out.failed == 0 and out.processed == 2 * N_REPORTS
    assert len(inbox.messages) == N_REPORTS
    with session_scope(project.engine) as db:
        assert len(repo.site_reports(db, "A")) == N_REPORTS
        assert len(repo.site_reports(db, "A", kind="patient")) == 1
