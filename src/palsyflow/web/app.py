"""The portal's application: FastAPI with Jinja2 templates, served by ``palsyflow web``.

:func:`create_app` builds it for one project. Each view module (:data:`VIEWS`)
contributes an ``APIRouter`` named ``router``; every router carries the CSRF check
(:func:`palsyflow.web.security.check_csrf`). A view reads the store only through
:func:`palsyflow.store.portal.site_scope` for the signed-in user's site (or the patient
link's), so on PostgreSQL every query runs under that site's role.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from palsyflow import __version__
from palsyflow.project import Project
from palsyflow.store.db import session_scope
from palsyflow.store.portal import site_scope
from palsyflow.web import accounts, clinician, datamanager, patient
from palsyflow.web.security import COOKIE, NeedLogin, SecurityHeaders, session_key, signed_in
from palsyflow.web.templating import render

HERE = Path(__file__).resolve().parent
#: The view modules, each with an ``APIRouter`` called ``router``.
VIEWS = (accounts, clinician, datamanager, patient)


def create_app(project: Project) -> FastAPI:
    """The portal for ``project``.

    Parameters
    ----------
    project : Project
        Its store, data tree and ``web`` parameters.

    Returns
    -------
    fastapi.FastAPI
    """
    app = FastAPI(title="palsyflow portal", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.project = project
    app.state.service_scope = lambda: session_scope(project.engine)
    app.state.site_scope = lambda site: site_scope(project.engine, site)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_key(project.secret),
        session_cookie=COOKIE,
        max_age=project.params.web.session_max_s,
        same_site="lax",
        https_only=project.params.web.base_url.startswith("https://"),
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for view in VIEWS:
        app.include_router(view.router)

    @app.exception_handler(NeedLogin)
    async def _login(request: Request, _exc: NeedLogin) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if exc.status_code != 404 else "There is no such page here."
        path = request.url.path
        if path.endswith((".pdf", ".jpg")) or (path.startswith("/p/") and path.endswith("/upload")):
            return Response(str(detail), status_code=exc.status_code, media_type="text/plain")
        request.state.user = signed_in(request) if "uid" in request.session else None
        return render(request, "error.html", status_code=exc.status_code, status=exc.status_code, detail=detail)

    return app
