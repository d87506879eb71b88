"""The data manager's pages: upload a drop, see each file's outcome, the site's status and runs.

An upload (manifest plus files, or corrected files alone) is added to the site's drop
folder and ingested at once (:func:`palsyflow.stages.ingest.ingest_upload`, over the same
stage function as ``palsyflow ingest``), under the data root's run lock. Refusals name the file by its keyed hash and manifest line in the
store (uploaded names are never stored); the answer to the upload itself maps them back
to the names the data manager just sent. A corrected file or manifest uploaded the same
way resolves the refusal (ingest resolves standing quarantine entries it ingests). "Start
the site's run" starts ``palsyflow run --site <site>`` in the background; the runs page
follows its stages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.datastructures import UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from palsyflow import stages
from palsyflow.atomic import atomic_write_text
from palsyflow.ingest.dropbox import MANIFEST, DropError, safe_name
from palsyflow.ingest.manifest import ManifestError, decode_manifest
from palsyflow.pseudonym import keyed_name
from palsyflow.stages.catalog import Catalog
from palsyflow.store import audit, portal, repo
from palsyflow.web.security import check_csrf, client_source, require
from palsyflow.web.templating import render

router = APIRouter(dependencies=[Depends(check_csrf)])
DataManager = Annotated[portal.Account, Depends(require("data_manager"))]


def _status(request: Request, site: str) -> dict:
    with request.app.state.site_scope(site) as db:
        summary = repo.status_summary(db, site)
        runs = portal.site_runs(db, site)
    return {"summary": summary.get("sites", {}).get(site, {}), "failures": summary.get("failures", []), "runs": runs}


@router.get("/uploads")
def uploads(request: Request, user: DataManager) -> Response:
    """The upload form, the site's standing refusals and its last runs."""
    return render(request, "uploads.html", result=None, **_status(request, user.site))


@router.post("/uploads")
async def upload(request: Request, user: DataManager) -> Response:
    """Receive a drop (``manifest`` and ``files`` fields of a multipart form) and ingest it."""
    form = await request.form(max_files=10000, max_fields=100, max_part_size=request.app.state.project.params.web.upload_max_mb * 2**20)
    project = request.app.state.project
    manifest_part = form.get("manifest")
    parts = [p for p in form.getlist("files") if isinstance(p, UploadFile) and p.filename]
    tmp = Path(tempfile.mkdtemp(prefix="palsyflow-upload-"))
    try:
        files: dict[str, Path] = {}
        refused: list[dict] = []
        for p in parts:
            try:
                name = safe_name(p.filename)
            except DropError as exc:
                refused.append({"name": p.filename, "reason": str(exc)})
                continue
            dest = tmp / name
            with dest.open("wb") as out:
                shutil.copyfileobj(p.file, out)
            files[name] = dest
        manifest = None
        if isinstance(manifest_part, UploadFile) and manifest_part.filename:
            try:
                manifest = decode_manifest(await manifest_part.read(), MANIFEST)
            except ManifestError as exc:
                raise HTTPException(400, str(exc)) from None
        if not files and manifest is None:
            raise HTTPException(400, "choose a manifest.csv, recordings, or both")
        try:
            res = await run_in_threadpool(stages.ingest_upload, project, user.site, files, manifest, f"web {user.username}", client_source(request))
        except stages.RunLocked as exc:
            raise HTTPException(409, f"a run is going on, so the upload was not added: {exc}") from None
        except DropError as exc:
            raise HTTPException(400, str(exc)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    key_of = {n: keyed_name(project.secret, n) for n in files}
    by_key = {k: n for n, k in key_of.items()}
    refused_keys: dict[str, list[str]] = {}
    for f in res["failures"]:  # the uploader sees the names just sent, in the reasons too
        reason = f["reason"]
        for key, name in by_key.items():
            reason = reason.replace(key, name)
        refused_keys.setdefault(f["file"], []).append(reason)
    outcome = [{"name": n, "accepted": k not in refused_keys, "reasons": refused_keys.get(k, [])} for n, k in key_of.items()]
    outcome += [{"name": r["name"], "accepted": False, "reasons": [r["reason"]]} for r in refused]
    others = [{"name": k, "reasons": v} for k, v in refused_keys.items() if k not in by_key]
    return render(request, "uploads.html", result={**res, "outcome": outcome, "others": others}, **_status(request, user.site))


def _portal_run(project, site: str) -> int | None:
    """The pid of a run the portal started for ``site`` that is still going, else None."""
    pid_file = Catalog.of(project).web_run_log(site).with_suffix(".pid")
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    try:  # a finished child stays a zombie until reaped: reap it, it is not going on
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        done = 0
    return None if done == pid else pid


@router.post("/runs")
def start_run(request: Request, user: DataManager) -> Response:
    """Start the site's run (``palsyflow run --site``) in the background; 409 while one started here goes on."""
    project = request.app.state.project
    if (pid := _portal_run(project, user.site)) is not None:
        raise HTTPException(409, f"the run started from the portal (process {pid}) is still going on")
    log = Catalog.of(project).web_run_log(user.site)
    log.parent.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).with_name("palsyflow")
    cmd = [str(exe) if exe.exists() else "palsyflow", "run", "--site", user.site, "--root", str(project.root)]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    atomic_write_text(log.with_suffix(".pid"), str(proc.pid))
    with request.app.state.site_scope(user.site) as db:
        audit.record(db, site=user.site, action="run-started", actor=f"web {user.username}", source=client_source(request),
                     detail={"pid": proc.pid})
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs")
def runs(request: Request, user: DataManager) -> Response:
    """The site's runs and the every-site stages, refreshed every few seconds while one is going on."""
    st = _status(request, user.site)
    with request.app.state.service_scope() as db:
        shared = portal.all_site_runs(db)
    started = _portal_run(request.app.state.project, user.site)
    going = started is not None or any(r.status == "running" for r in st["runs"]) or any(r.status == "running" for r in shared)
    return render(request, "runs.html", going=going, started=started, shared=shared, **st)
