"""The patient's self-recording link: a guided capture of the protocol, then the patient report.

``/p/<token>`` is a one-time link (:func:`palsyflow.store.portal.create_patient_link`)
bound to one site and subject. Before its upload it shows each task of
:data:`CAPTURE_TASKS` with its instruction and an example picture; the browser records
each one from the camera and microphone (``getUserMedia`` + ``MediaRecorder``,
``static/capture.js``), with a countdown, replay and retake, and uploads them together.
The upload becomes rows of the site's drop manifest (one per task, today's date as the
session) and is ingested at once (:func:`palsyflow.stages.ingest.ingest_upload`); the
next run measures it. After the upload the same link shows the subject's newest patient
report. An unknown or expired token is refused (403), a second upload too (409); no
account is involved, and nothing of another subject is reachable from the link.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.datastructures import UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from palsyflow import stages
from palsyflow.ingest.dropbox import DropError, manifest_text
from palsyflow.stages.catalog import Catalog
from palsyflow.store import audit, portal
from palsyflow.store.models import utcnow
from palsyflow.store.repo import NotFound
from palsyflow.web.pictograms import pictogram
from palsyflow.web.security import check_csrf, client_source
from palsyflow.web.templating import render

router = APIRouter(dependencies=[Depends(check_csrf)])

#: The sentence read in the ``speech`` task (GRID grammar, so the recogniser's closed
#: grammar applies: Cooke et al. 2006, doi:10.1121/1.2229005).
SPEECH_PROMPT = "place green by d seven soon"


@dataclass(frozen=True)
class CaptureTask:
    """One task of the self-recording: protocol task, title and what to do."""

    task: str
    title: str
    instruction: str


#: The face protocol as the patient records it, in order (``palsyflow.conventions.FACE_TASKS``).
CAPTURE_TASKS: tuple[CaptureTask, ...] = (
    CaptureTask("rest", "Face at rest", "Look straight into the camera with a relaxed face. Do not move."),
    CaptureTask("brow_raise", "Raise your eyebrows", "Lift both eyebrows as high as you can, as if surprised, and hold."),
    CaptureTask("eye_closure_gentle", "Close your eyes gently", "Close both eyes softly, as if sleeping, and hold."),
    CaptureTask("eye_closure_full", "Close your eyes tightly", "Squeeze both eyes shut as tightly as you can, and hold."),
    CaptureTask("smile", "Smile", "Give a big smile showing your teeth, and hold."),
    CaptureTask("snarl", "Wrinkle your nose", "Lift your upper lip and wrinkle your nose, as at a bad smell."),
    CaptureTask("pucker", "Pucker your lips", "Push your lips forward as if to whistle or kiss, and hold."),
    CaptureTask("eee", "Say 'eee'", "Say a long 'eee', stretching your lips wide."),
    CaptureTask("speech", "Read the sentence aloud", f"Read aloud, clearly and at your usual pace: \u201c{SPEECH_PROMPT}\u201d."),
)


def _link(request: Request, token: str) -> portal.LinkView:
    try:
        with request.app.state.service_scope() as db:
            return portal.resolve_patient_link(db, token)
    except portal.LinkRefused as exc:
        raise HTTPException(403, str(exc)) from None


def _latest_patient_report(request: Request, link: portal.LinkView) -> portal.ReportRef | None:
    with request.app.state.site_scope(link.site) as db:
        for ses in reversed(portal.subject_sessions(db, link.site, link.subject)):
            if "patient" in ses.reports:
                return ses.reports["patient"]
    return None


@router.get("/p/{token}")
def patient_home(request: Request, token: str) -> Response:
    """The capture before the upload, the report (or its wait) after."""
    link = _link(request, token)
    request.state.user = None
    web = request.app.state.project.params.web
    if link.uploaded_at is None:
        return render(request, "capture.html", token=token, tasks=CAPTURE_TASKS, pictogram=pictogram,
                      seconds=web.capture_seconds, countdown=web.capture_countdown_s)
    report = _latest_patient_report(request, link)
    ready = report is not None and report.created_at >= link.uploaded_at
    return render(request, "patient_home.html", token=token, link=link, report=report, ready=ready)


@router.get("/p/{token}/report.pdf")
def patient_report(request: Request, token: str) -> Response:
    """The subject's newest patient report (a one-page PDF)."""
    link = _link(request, token)
    report = _latest_patient_report(request, link)
    if report is None:
        raise HTTPException(404)
    with request.app.state.site_scope(link.site) as db:
        audit.record(db, site=link.site, action="report-viewed", actor=f"patient link {link.link_id}", subject=link.subject,
                     source=client_source(request), entity=report.path)
    path = Catalog.of(request.app.state.project).in_data(report.path)
    if not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, media_type="application/pdf", filename=Path(report.path).name)


@router.post("/p/{token}/upload")
async def patient_upload(request: Request, token: str) -> Response:
    """The recorded tasks (multipart fields ``task_<task>``) into the site's drop, ingested at once."""
    link = _link(request, token)
    if link.uploaded_at is not None:
        raise HTTPException(409, "this link's recordings were uploaded already; ask your clinic for a new link")
    project = request.app.state.project
    form = await request.form(max_files=len(CAPTURE_TASKS), max_part_size=project.params.web.upload_max_mb * 2**20)
    today = utcnow().date()
    tmp = Path(tempfile.mkdtemp(prefix="palsyflow-patient-"))
    rows, files = [], {}
    try:
        for t in CAPTURE_TASKS:
            part = form.get(f"task_{t.task}")
            if not isinstance(part, UploadFile):
                continue
            ext = ".mp4" if "mp4" in (part.content_type or "") else ".webm"
            name = f"home-{link.link_id}-{today:%Y%m%d}-{t.task}{ext}"
            dest = tmp / name
            with dest.open("wb") as out:
                shutil.copyfileobj(part.file, out)
            files[name] = dest
            rows.append({"subject": link.subject, "session_date": today.isoformat(), "task": t.task, "file": name,
                         "notes": "self-recorded with a patient link",
                         "prompt": SPEECH_PROMPT if t.task == "speech" else ""})
        if not rows:
            raise HTTPException(400, "no recording was sent")
        try:
            res = await run_in_threadpool(stages.ingest_upload, project, link.site, files, manifest_text(rows),
                                          f"patient link {link.link_id}", client_source(request))
        except stages.RunLocked:
            raise HTTPException(409, "the clinic's system is busy; please try the upload again in a few minutes") from None
        except DropError as exc:
            raise HTTPException(400, str(exc)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with request.app.state.service_scope() as db:
        try:
            portal.mark_link_uploaded(db, link.link_id)
        except (portal.LinkRefused, NotFound) as exc:
            raise HTTPException(409, str(exc)) from None
    return JSONResponse({"received": len(rows), "accepted": res["processed"] + res["skipped"], "refused": res["failed"],
                         "next": f"/p/{token}"})
