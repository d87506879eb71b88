"""The clinician's pages: review queue, the site's patients, a patient's page, reports, sign-off.

Everything is read with :func:`palsyflow.store.portal.site_scope` for the clinician's
site; a subject, session or report of another site is 404 (the query finds nothing, and on
PostgreSQL row-level security hides the row as well). Viewing a patient's page, opening a
report and signing are audited (``patient-viewed``, ``report-viewed``, ``report-signed``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Annotated

import polars as pl
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from palsyflow.atomic import atomic_write_bytes
from palsyflow.conventions import FACE_TASKS
from palsyflow.measures.longitudinal import read_series
from palsyflow.measures.registry import SCORE_BY_NAME
from palsyflow.measures.symmetry import basis_session
from palsyflow.reports.model import OVERALL_MEASURE, longitudinal_reading
from palsyflow.stages.catalog import Catalog
from palsyflow.stages.report_frames import FrameSource
from palsyflow.store import audit, portal
from palsyflow.store.models import REPORT_KINDS
from palsyflow.store import repo
from palsyflow.store.repo import NotFound
from palsyflow.web.charts import sparkline, timeline
from palsyflow.web.security import check_csrf, client_source, require
from palsyflow.web.templating import render

router = APIRouter(dependencies=[Depends(check_csrf)])
Clinician = Annotated[portal.Account, Depends(require("clinician"))]
#: Who may create a patient's self-recording link.
LinkMaker = Annotated[portal.Account, Depends(require("clinician", "data_manager"))]


def _label(measure: str) -> str:
    m = SCORE_BY_NAME.get(measure)
    return (m.description.split(";")[0].split(".")[0] if m else measure.replace("_", " "))[:80]


@router.get("/queue")
def queue(request: Request, user: Clinician) -> Response:
    """Reports new or changed since they were last signed."""
    with request.app.state.site_scope(user.site) as db:
        items = portal.review_queue(db, user.site)
    return render(request, "queue.html", items=items)


@router.get("/patients")
def patients(request: Request, user: Clinician) -> Response:
    """The site's patients: pseudonym, last session, trend, events at the last session."""
    with request.app.state.site_scope(user.site) as db:
        subjects = portal.site_subjects(db, user.site)
        last = portal.site_last_sessions(db, user.site)
        series = portal.site_overall_scores(db, user.site, OVERALL_MEASURE)
    rows = []
    for s in subjects:
        pts = series.get(s.subject, [])
        values = [v for _, _, v in pts]
        read = read_series(values, OVERALL_MEASURE) if values else ()
        events = read[-1].events if read else ()
        ses = last.get(s.subject)
        rows.append({
            "subject": s.subject, "healthy": s.healthy, "simulated": s.simulated,
            "last_session": ses[1] if ses else None, "n_sessions": ses[2] if ses else 0,
            "last_score": values[-1] if values else None,
            "spark": sparkline(values, label=f"symmetry index of {s.subject} over {len(values)} sessions"),
            "events": events,
        })
    return render(request, "patients.html", rows=rows)


def _sessions_or_404(db, site: str, subject: str) -> list[portal.SessionView]:
    try:
        return portal.subject_sessions(db, site, subject)
    except NotFound:
        raise HTTPException(404) from None


@router.get("/patients/{subject}")
def patient_page(request: Request, subject: str, user: Clinician) -> Response:
    """One patient: timeline with the MDC band, key frames, both reports, speech, sign-off."""
    with request.app.state.site_scope(user.site) as db:
        sessions = _sessions_or_404(db, user.site, subject)
        scores = portal.subject_scores(db, user.site, subject)
        tasks = portal.subject_tasks(db, user.site, subject)
        facts = repo.subject_facts(db, user.site, subject)
        audit.record(db, site=user.site, action="patient-viewed", actor=f"web {user.username}", subject=subject,
                     source=client_source(request))
    frame = pl.DataFrame(scores, infer_schema_length=None) if scores else None
    chart, reading, latest = "<p>No scores yet.</p>", None, None
    if frame is not None and frame.height:
        overall = frame.filter(pl.col("measure") == OVERALL_MEASURE).sort("session_date", "session")
        if overall.height:
            latest = overall["session"][-1]
            reading = longitudinal_reading(frame, latest)
            chart = timeline(overall["session_date"].to_list(), reading)
    by_session: dict[str, dict] = {}
    for r in scores:
        by_session.setdefault(r["session"], {})[r["measure"]] = r
    speech = {
        ses: [(_label(m), r) for m, r in sorted(rows.items()) if m.startswith("speech_") and r["value"] is not None]
        for ses, rows in by_session.items()
    }
    overall_of = {ses: rows.get(OVERALL_MEASURE) for ses, rows in by_session.items()}
    side_from = {ses: basis_session(o.get("side_basis")) for ses, o in overall_of.items() if o and o.get("weaker_side")}
    changes = {}
    if reading is not None:
        measured = [s for s in (x.session for x in sessions) if overall_of.get(s) and overall_of[s]["value"] is not None]
        changes = dict(zip(measured, reading.series))
    return render(request, "patient.html", subject=subject, facts=facts, sessions=list(reversed(sessions)), chart=chart,
                  reading=reading, speech=speech, overall=overall_of, changes=changes, side_from=side_from,
                  frames={ses: frame_slots(t) for ses, t in tasks.items()})


def frame_slots(tasks: set[str]) -> list[tuple[str, str]]:
    """Key frames the patient page shows of a session with ``tasks``: the rest face's neutral
    frame, then each other face task's peak, in protocol order."""
    return [(t, "neutral" if t == "rest" else "peak") for t in FACE_TASKS if t in tasks]


@router.get("/patients/{subject}/{session}/frame/{task}-{which}.jpg")
def keyframe(request: Request, subject: str, session: str, task: str, which: str, user: Clinician) -> Response:
    """One annotated key frame of a session (drawn once, cached by its inputs' fingerprint)."""
    if task not in FACE_TASKS or which not in ("neutral", "peak"):
        raise HTTPException(404)
    with request.app.state.site_scope(user.site) as db:
        if not any(s.session == session for s in _sessions_or_404(db, user.site, subject)):
            raise HTTPException(404)
    project = request.app.state.project
    source = FrameSource.of(project)
    inputs = source.inputs(user.site, subject, session)
    key = hashlib.sha256(f"{inputs.fingerprint}|{task}|{which}".encode()).hexdigest()[:16]
    path = Catalog.of(project).web_keyframe(user.site, subject, session, f"{task}-{which}-{key}.jpg")
    if not path.exists():
        frames = source.load(inputs)
        hit = next((k for k in frames.keyframes if k.task == task and k.which == which and k.image is not None), None)
        if hit is None:
            raise HTTPException(404)
        atomic_write_bytes(path, hit.image.data)
    return FileResponse(path, media_type="image/jpeg")


@router.get("/patients/{subject}/{session}/{kind}.pdf")
def report_pdf(request: Request, subject: str, session: str, kind: str, user: Clinician) -> Response:
    """A session's report PDF (``clinician`` or ``patient``); audited as ``report-viewed``."""
    if kind not in REPORT_KINDS:
        raise HTTPException(404)
    with request.app.state.site_scope(user.site) as db:
        try:
            ref = portal.session_report(db, user.site, subject, session, kind)
        except NotFound:
            raise HTTPException(404) from None
        audit.record(db, site=user.site, action="report-viewed", actor=f"web {user.username}", subject=subject,
                     session=session, source=client_source(request), entity=ref.path)
    path = Catalog.of(request.app.state.project).in_data(ref.path)
    if not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, media_type="application/pdf", filename=Path(ref.path).name)


@router.post("/patients/{subject}/{session}/sign")
def sign(request: Request, subject: str, session: str, user: Clinician,
         comment: Annotated[str, Form()] = "") -> Response:
    """Sign the session's current clinician report with a comment."""
    with request.app.state.site_scope(user.site) as db:
        try:
            portal.sign_report(db, user.site, subject, session, user.username, comment, client_source(request))
        except NotFound:
            raise HTTPException(404) from None
    return RedirectResponse(f"/patients/{subject}#ses-{session}", status_code=303)


@router.post("/links")
def make_link(request: Request, user: LinkMaker, subject: Annotated[str, Form()]) -> Response:
    """A one-time self-recording link for the patient (shown once)."""
    params = request.app.state.project.params.web
    with request.app.state.site_scope(user.site) as db:
        try:
            token, expires = portal.create_patient_link(db, user.site, subject, user.username, params.patient_link_days)
        except NotFound:
            raise HTTPException(404) from None
        audit.record(db, site=user.site, action="patient-link", actor=f"web {user.username}", subject=subject,
                     source=client_source(request), detail={"expires": expires.isoformat()})
    url = f"{params.base_url.rstrip('/')}/p/{token}"
    return render(request, "link.html", subject=subject, url=url, expires=expires.astimezone(dt.timezone.utc))
