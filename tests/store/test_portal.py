"""The portal over HTTP on a real uvicorn server, on SQLite and PostgreSQL (row-level security).

Accounts, CSRF, the login rate limit, session expiry, site isolation (404 for another
site's patient and report; on PostgreSQL an unfiltered query under the site's role sees
only its rows), sign-off with its audit row and the review queue, patient links (expired,
unknown, used), the data manager's upload with a bad file. The browser tests
(``tests/browser``) drive the same pages in Chromium.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.support.export_cohort import minimal_pdf, write_report
from tests.support.portal_cohort import PASSWORD, build_portal_project
from tests.support.servers import serve_app

from palsyflow.store import audit, portal, repo
from palsyflow.store.db import session_scope
from palsyflow.store.models import ReportSignoff, Subject
from palsyflow.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CLIP = ROOT / "data" / "sample" / "north" / "visit1_N01.mpg"


@pytest.fixture
def site(tmp_path, db_url):
    """(project, base URL) of a served two-site portal."""
    project = build_portal_project(tmp_path / "proj", db_url=None if db_url.startswith("sqlite") else db_url)
    with serve_app(create_app(project)) as url:
        yield project, url


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(url: str, user: str, password: str = PASSWORD) -> tuple[httpx.Client, httpx.Response]:
    c = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    tok = _token(c.get("/login").text)
    return c, c.post("/login", data={"username": user, "password": password, "csrf_token": tok})


def test_login_sets_a_protected_session_and_logout_ends_it(site):
    project, url = site
    c, r = login(url, "aclin")
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "palsyflow_session=" in cookie
    page = c.get("/queue")
    assert page.status_code == 200 and "aclin" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"] and page.headers["x-frame-options"] == "DENY"
    c.post("/logout", data={"csrf_token": _token(page.text)})
    assert c.get("/queue").status_code == 303  # to /login
    bad, r = login(url, "aclin", "wrong password!")
    assert r.status_code == 401 and "session" not in bad.cookies.get("palsyflow_session", "uid")


def test_posts_without_the_csrf_token_are_refused(site):
    project, url = site
    anon = httpx.Client(base_url=url, follow_redirects=False)
    assert anon.post("/login", data={"username": "aclin", "password": PASSWORD}).status_code == 403
    c, _ = login(url, "aclin")
    assert c.post("/patients/p01/20260105/sign", data={"comment": "ok"}).status_code == 403
    assert c.post("/patients/p01/20260105/sign", data={"comment": "ok", "csrf_token": "forged"}).status_code == 403
    with session_scope(project.engine) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(ReportSignoff)) == 0


def test_a_site_sees_only_its_patients_and_reports(site):
    project, url = site
    a, _ = login(url, "aclin")
    listing = a.get("/patients").text
    assert "/patients/p01" in listing and "/patients/c01" in listing and "b07" not in listing
    assert a.get("/patients/b07").status_code == 404
    assert a.get("/patients/b07/20260201/clinician.pdf").status_code == 404
    pdf = a.get("/patients/p01/20260105/clinician.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    b, _ = login(url, "bclin")
    b07 = b.get("/patients/b07")
    assert b07.status_code == 200 and b.get("/patients/p01").status_code == 404
    # a side kept from an earlier session says so; the session that named it does not
    page = re.sub(r"\s+", " ", b07.text)
    assert "weaker side right (patient's; the side of session 20260201, this session's difference within the healthy range)" in page
    assert page.count("the side of session") == 1
    assert b.get("/patients/b07/20260201/clinician.pdf").content.startswith(b"%PDF")
    with session_scope(project.engine) as db:
        viewed = [e for e in audit.events(db, action="report-viewed") if e.actor.startswith("web ")]
    assert {(e.site, e.subject) for e in viewed} == {("A", "p01"), ("B", "b07")}


def test_the_site_role_hides_other_sites_rows_from_an_unfiltered_query(site):
    project, _ = site
    with portal.site_scope(project.engine, "A") as db:
        labels = set(db.scalars(sa.select(Subject.label)))
    if project.engine.dialect.name == "postgresql":
        assert labels == {"p01", "c01"}  # row-level security under SET LOCAL ROLE
        with portal.site_scope(project.engine, "A") as db:
            assert db.scalar(sa.text("SELECT current_user")) == "palsyflow_site_A"
    else:
        assert labels == {"p01", "c01", "b07"}  # one organisation: the queries' site filter isolates


def test_signing_is_audited_and_a_changed_report_returns_to_the_queue(site):
    project, url = site
    c, _ = login(url, "aclin")
    queue = c.get("/queue").text
    assert queue.count("/patients/p01#ses-") == 2 and "/patients/c01#ses-20260110" in queue
    page = c.get("/patients/p01")
    r = c.post("/patients/p01/20260105/sign", data={"comment": "agrees with exam", "csrf_token": _token(page.text)})
    assert r.status_code == 303
    with session_scope(project.engine) as db:
        signed = audit.events(db, action="report-signed")
        so = db.scalars(sa.select(ReportSignoff)).all()
    assert [(e.site, e.subject, e.session, e.actor) for e in signed] == [("A", "p01", "20260105", "web aclin")]
    assert [(s.username, s.comment) for s in so] == [("aclin", "agrees with exam")]
    queue = c.get("/queue").text
    assert "#ses-20260105" not in queue and "#ses-20260302" in queue
    write_report(project, "A", "p01", "20260105", "report v2")
    queue = c.get("/queue").text
    assert "#ses-20260105" in queue and "changed since signed" in queue
    assert "agrees with exam" in c.get("/patients/p01").text


def test_repeated_failed_logins_lock_the_name_out(site):
    project, url = site
    for _ in range(project.params.web.login_max_failures):
        assert login(url, "adm", "not the password")[1].status_code == 401
    _, r = login(url, "adm")
    assert r.status_code == 429
    assert login(url, "aclin")[1].status_code == 303  # another name is not locked


def test_a_session_unused_too_long_is_over(tmp_path):
    project = build_portal_project(tmp_path / "p", extra_params="web:\n  session_idle_s: 1\n")  # overrides the section
    assert project.params.web.session_idle_s == 1
    with serve_app(create_app(project)) as url:
        c, _ = login(url, "aclin")
        assert c.get("/queue").status_code == 200
        time.sleep(2.2)
        assert c.get("/queue").status_code == 303


def _link(project, subject="p01", site="A", days=14.0, now=None):
    with session_scope(project.engine) as db:
        return portal.create_patient_link(db, site, subject, "test", days, now=now)[0]


def test_patient_links_refuse_unknown_expired_and_reused_tokens(site, tmp_path):
    project, url = site
    anon = httpx.Client(base_url=url, follow_redirects=False, timeout=120)
    assert anon.get("/p/not-a-token").status_code == 403
    old = _link(project, now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=20))
    assert anon.get(f"/p/{old}").status_code == 403
    tok = _link(project)
    page = anon.get(f"/p/{tok}")
    assert page.status_code == 200 and 'data-task="rest"' in page.text and 'data-task="speech"' in page.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    clip = tmp_path / "rest.mpg"
    shutil.copy(SAMPLE_CLIP, clip)
    files = {"task_rest": ("rest.mpg", clip.read_bytes(), "video/mpeg")}
    assert anon.post(f"/p/{tok}/upload", files=files).status_code == 403  # no CSRF header
    r = anon.post(f"/p/{tok}/upload", files=files, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert r.json()["received"] == 1 and r.json()["accepted"] == 1
    again = anon.post(f"/p/{tok}/upload", files=files, headers={"X-CSRF-Token": csrf})
    assert again.status_code in (403, 409)
    assert "Thank you" in anon.get(f"/p/{tok}").text
    with session_scope(project.engine) as db:
        sessions = portal.subject_sessions(db, "A", "p01")
    assert dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d") in {s.session for s in sessions}
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
    assert 'id="report-wait"' in anon.get(f"/p/{tok}").text
    pdf = project.path("data") / "reports" / "site-A" / "sub-p01" / "p01_patient.pdf"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(minimal_pdf("your report"))
    with session_scope(project.engine) as db:  # the night's run made the patient report
        repo.add_report(db, "A", "p01", today, "reports/site-A/sub-p01/p01_patient.pdf", "0" * 64, kind="patient")
    assert 'id="report-ready"' in anon.get(f"/p/{tok}").text
    got = anon.get(f"/p/{tok}/report.pdf")
    assert got.status_code == 200 and got.content == pdf.read_bytes()
    b_link = _link(project, subject="b07", site="B")
    assert "b07" not in anon.get(f"/p/{tok}").text and anon.get(f"/p/{b_link}").status_code == 200


def test_a_data_manager_upload_reports_each_file(site, tmp_path):
    project, url = site
    c, _ = login(url, "adm")
    page = c.get("/uploads")
    assert page.status_code == 200
    manifest = "subject,session_date,task,file\nd01,2026-02-03,rest,good.mpg\nd01,2026-02-03,smile,broken.mp4\n"
    files = [("manifest", ("manifest.csv", manifest.encode(), "text/csv")),
             ("files", ("good.mpg", SAMPLE_CLIP.read_bytes(), "video/mpeg")),
             ("files", ("broken.mp4", b"this is not a video", "video/mp4"))]
    r = c.post("/uploads", files=files, data={"csrf_token": _token(page.text)})
    assert r.status_code == 200, r.text
    good = re.search(r'<tr class="accepted"><td>good.mpg</td><td>accepted</td>', r.text)
    bad = re.search(r'<tr class="refused"><td>broken.mp4</td><td>refused: ([^<]+)</td>', r.text)
    assert good and bad and "line 3" in bad.group(1) and "broken.mp4: not a photo" in bad.group(1)
    latin1 = "subject,session_date,task,file\nd02,2026-02-03,rest,M\u00fcller.mpg\n".encode("latin-1")
    r = c.post("/uploads", files=[("manifest", ("manifest.csv", latin1, "text/csv"))], data={"csrf_token": _token(page.text)})
    assert r.status_code == 400 and "UTF-8" in r.text  # one sentence, not a server error
    assert c.get("/queue").status_code == 403  # a data manager does not review reports
    clin, _ = login(url, "aclin")
    assert clin.get("/uploads").status_code == 403


def test_a_data_manager_starts_the_site_s_run_and_follows_it(tmp_path):
    import os
    import signal

    project = build_portal_project(tmp_path / "p")
    with serve_app(create_app(project)) as url:
        c, _ = login(url, "adm")
        page = c.get("/uploads")
        manifest = "subject,session_date,task,file\nd01,2026-02-03,rest,good.mpg\n"
        c.post("/uploads", data={"csrf_token": _token(page.text)},
               files=[("manifest", ("manifest.csv", manifest.encode(), "text/csv")),
                      ("files", ("good.mpg", SAMPLE_CLIP.read_bytes(), "video/mpeg"))])
        before = c.get("/runs").text.count("<td>ingest</td>")
        r = c.post("/runs", data={"csrf_token": _token(page.text)})
        assert r.status_code == 303 and r.headers["location"] == "/runs"
        pid_file = project.path("data") / "web" / "runs" / "site-A.pid"
        pid = int(pid_file.read_text())
        try:
            runs = c.get("/runs").text
            assert f"process {pid}" in runs and 'http-equiv="refresh"' in runs
            assert c.post("/runs", data={"csrf_token": _token(page.text)}).status_code == 409  # one at a time
            deadline = time.monotonic() + 300
            while c.get("/runs").text.count("<td>ingest</td>") <= before:  # the run's own ingest of site A
                assert time.monotonic() < deadline, (project.path("data") / "web" / "runs" / "site-A.log").read_text()[-2000:]
                time.sleep(2)
        finally:
            with __import__("contextlib").suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        with session_scope(project.engine) as db:
            started = audit.events(db, action="run-started")
        assert [(e.site, e.actor, e.detail["pid"]) for e in started] == [("A", "web adm", pid)]
