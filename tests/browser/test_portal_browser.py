"""The portal in a real browser (Debian's Chromium through Playwright).

Each test looks at its pages: a screenshot in ``artifacts/browser/`` and an axe-core
check with no serious or critical violation (:func:`tests.browser.conftest.look`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.browser.conftest import launch, look, sign_in
from tests.support.export_cohort import make_project
from tests.support.servers import serve_app

from palsyflow import stages
from palsyflow.store import audit, portal, repo
from palsyflow.store.db import session_scope
from palsyflow.store.models import Recording, ReportSignoff

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CLIP = ROOT / "data" / "sample" / "north" / "visit1_N01.mpg"


def test_login_and_logout(portal, page):
    project, url = portal
    page.goto(f"{url}/login")
    assert look(page, "login") == []
    sign_in(page, url, "aclin", "not the password")
    assert "not right" in page.inner_text("[role=alert]")
    sign_in(page, url, "aclin")
    assert page.url.endswith("/queue")
    assert look(page, "clinician-queue") == []
    page.click("text=Sign out")
    page.wait_for_url(f"{url}/login")
    assert page.goto(f"{url}/queue").url.endswith("/login")


def test_a_clinician_sees_their_site_only(portal, page):
    project, url = portal
    sign_in(page, url, "aclin")
    page.goto(f"{url}/patients")
    names = page.locator("tbody tr td:first-child a").all_inner_texts()
    assert sorted(names) == ["c01", "p01"]
    assert look(page, "clinician-patients") == []
    resp = page.goto(f"{url}/patients/b07")
    assert resp.status == 404 and "Not found" in page.inner_text("h1")
    assert look(page, "not-found") == []
    assert page.request.get(f"{url}/patients/b07/20260201/clinician.pdf").status == 404
    assert page.request.get(f"{url}/patients/p01/20260105/clinician.pdf").status == 200


def test_a_clinician_signs_a_report_and_the_audit_row_exists(portal, page):
    project, url = portal
    sign_in(page, url, "aclin")
    page.click("a[href='/patients/p01#ses-20260105']")
    page.wait_for_load_state()
    assert look(page, "clinician-patient") == []
    page.fill("#comment-20260105", "matches my examination")
    page.click("text=Sign report of 2026-01-05")
    page.wait_for_load_state()
    assert "Signed by aclin" in page.inner_text("#ses-20260105")
    with session_scope(project.engine) as db:
        rows = audit.events(db, site="A", action="report-signed")
        signed = db.scalars(sa.select(ReportSignoff)).all()
    assert [(e.subject, e.session, e.actor) for e in rows] == [("p01", "20260105", "web aclin")]
    assert [s.comment for s in signed] == ["matches my examination"]
    page.goto(f"{url}/queue")
    assert page.locator("a[href='/patients/p01#ses-20260105']").count() == 0


def test_a_data_manager_uploads_a_drop_and_sees_the_bad_file_s_reason(portal, page, tmp_path):
    project, url = portal
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("subject,session_date,task,file\nd01,2026-02-03,rest,good.mpg\nd01,2026-02-03,smile,broken.mp4\n")
    good, broken = tmp_path / "good.mpg", tmp_path / "broken.mp4"
    good.write_bytes(SAMPLE_CLIP.read_bytes())
    broken.write_bytes(b"not a video at all")
    sign_in(page, url, "adm")
    assert page.url.endswith("/uploads")
    assert look(page, "data-manager-uploads") == []
    page.set_input_files("#manifest", str(manifest))
    page.set_input_files("#files", [str(good), str(broken)])
    page.click("text=Upload and ingest")
    page.wait_for_selector("#result", timeout=120_000)
    refused = page.inner_text("tr.refused")
    assert "broken.mp4" in refused and "line 3" in refused
    assert "accepted" in page.inner_text("tr.accepted")
    assert look(page, "data-manager-upload-result") == []
    with session_scope(project.engine) as db:
        assert [r.task for r in repo.list_recordings(db, "A") if r.subject == "d01"] == ["rest"]
    page.goto(f"{url}/runs")
    assert "ingest" in page.inner_text("tbody")  # the upload's ingest run of site A
    assert look(page, "data-manager-runs") == []
    page.goto(f"{url}/uploads")
    page.fill("#link-subject", "d01")
    page.click("text=Make a self-recording link")
    page.wait_for_load_state()
    link = page.input_value("#link")
    assert "/p/" in link and len(link.rsplit("/", 1)[1]) >= 40
    assert look(page, "patient-link-made") == []


def _fake_media(clip: Path, out: Path) -> tuple[Path, Path]:
    """The clip as a ``.y4m`` (Chromium's fake camera) and a ``.wav`` (its fake microphone)."""
    import av
    import numpy as np
    import soundfile as sf

    y4m, wav = out / "camera.y4m", out / "microphone.wav"
    with av.open(str(clip)) as inp, av.open(str(y4m), "w", format="yuv4mpegpipe") as o:
        vin = inp.streams.video[0]
        st = o.add_stream("rawvideo", rate=25)
        st.width, st.height, st.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        for frame in inp.decode(vin):
            for pkt in st.encode(frame.reformat(format="yuv420p")):
                o.mux(pkt)
        for pkt in st.encode():
            o.mux(pkt)
    with av.open(str(clip)) as inp:
        chunks = [f.to_ndarray().mean(axis=0) for f in inp.decode(audio=0)]
        rate = inp.streams.audio[0].rate
    sf.write(wav, np.concatenate(chunks).astype(np.float32), rate, subtype="PCM_16")
    return y4m, wav


@pytest.mark.slow
def test_a_patient_link_records_the_task_set_and_the_next_run_measures_it(playwright_instance, tmp_path, face_model):
    from palsyflow.web.app import create_app
    from palsyflow.web.patient import CAPTURE_TASKS

    project = make_project(tmp_path / "proj", f"web:\n  capture_seconds: 3.0\n  capture_countdown_s: 1\n")
    (tmp_path / "proj" / "params.yaml").write_text(
        (tmp_path / "proj" / "params.yaml").read_text().replace("face_model: models/face_landmarker.task", f"face_model: {face_model}")
    )
    project = type(project).load(tmp_path / "proj")
    with session_scope(project.engine) as db:
        repo.get_or_create_subject(db, "A", "h01", healthy=True)
        token, _ = portal.create_patient_link(db, "A", "h01", "test", 1.0)
    y4m, wav = _fake_media(SAMPLE_CLIP, tmp_path)
    browser = launch(playwright_instance, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-video-capture={y4m}", f"--use-file-for-fake-audio-capture={wav}")
    try:
        with serve_app(create_app(project)) as url:
            ctx = browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900})
            ctx.grant_permissions(["camera", "microphone"], origin=url)
            page = ctx.new_page()
            page.goto(f"{url}/p/{token}")
            assert look(page, "patient-capture") == []
            page.click("#camera-start")
            page.wait_for_function("document.getElementById('preview').videoWidth > 0", timeout=30_000)
            for t in CAPTURE_TASKS:
                li = page.locator(f"#task-{t.task}")
                li.locator("button.record").click()
                page.wait_for_function(f"document.querySelector('#task-{t.task}').classList.contains('done')", timeout=30_000)
            page.locator("#task-smile button.retake").click()  # a retake replaces the recording
            page.wait_for_function("document.querySelector('#task-smile .state').textContent.startsWith('Recorded')", timeout=30_000)
            assert look(page, "patient-capture-recorded") == []
            page.click("#send")
            page.wait_for_selector("text=Thank you", timeout=180_000)
            assert look(page, "patient-after-upload") == []
            again = page.request.post(f"{url}/p/{token}/upload", headers={"X-CSRF-Token": "x"}, multipart={"task_rest": {"name": "r.webm", "mimeType": "video/webm", "buffer": b"x"}})
            assert again.status in (403, 409)
            ctx.close()
    finally:
        browser.close()
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
    with session_scope(project.engine) as db:
        recs = db.scalars(sa.select(Recording)).all()
        refused = repo.status_summary(db)["failures"]
    assert sorted(r.task for r in recs) == sorted(t.task for t in CAPTURE_TASKS), refused
    assert all(r.kind == "video" and r.has_audio and r.duration_s and r.duration_s > 1.0 for r in recs)
    stages.landmarks(project)
    stages.features(project)
    import polars as pl

    from palsyflow.stages.catalog import Catalog

    feats = pl.read_parquet(Catalog.of(project).path("features_table"))
    ours = feats.filter((pl.col("subject") == "h01") & (pl.col("session") == today))
    assert ours.height == len(CAPTURE_TASKS)
    assert ours["face_found_fraction"].min() > 0.8
    speech = ours.filter(pl.col("task") == "speech").row(0, named=True)
    assert speech["speech_status"] == "ok" and speech["speech_clarity"] is not None, speech  # the speech engine measured it
    print("patient capture, speech task:", {k: speech.get(k) for k in ("speech_status", "speech_reason", "speech_clarity")})
    # the clinician sees the home session's annotated key frames
    import httpx
    import re

    with session_scope(project.engine) as db:
        portal.add_user(db, "hclin", "A", "clinician", "home test password")
    with serve_app(create_app(project)) as url:
        c = httpx.Client(base_url=url, follow_redirects=True, timeout=120)
        tok = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"username": "hclin", "password": "home test password", "csrf_token": tok})
        for task, which in (("rest", "neutral"), ("smile", "peak")):
            img = c.get(f"/patients/h01/{today}/frame/{task}-{which}.jpg")
            assert img.status_code == 200 and img.content[:3] == b"\xff\xd8\xff", (task, img.status_code)
