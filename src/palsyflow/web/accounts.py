"""Sign-in and sign-out (``/login``, ``/logout``) and the start page by role (``/``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from palsyflow.store import audit
from palsyflow.store.portal import Account, TooManyAttempts, authenticate
from palsyflow.web.security import check_csrf, client_source, require, signed_in, start_session
from palsyflow.web.templating import render

router = APIRouter(dependencies=[Depends(check_csrf)])

#: Where each role starts.
HOME = {"clinician": "/queue", "admin": "/queue", "data_manager": "/uploads"}


@router.get("/")
def home(request: Request) -> Response:
    """The role's start page, or ``/login``."""
    user = signed_in(request)
    return RedirectResponse(HOME[user.role] if user else "/login", status_code=303)


@router.get("/login")
def login_form(request: Request) -> Response:
    """The sign-in form (fields ``username`` and ``password``)."""
    request.state.user = None
    return render(request, "login.html", error=None)


@router.post("/login")
def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]) -> Response:
    """Check the credentials: a new session on success, 401 on failure, 429 when locked out."""
    params = request.app.state.project.params.web
    request.state.user = None
    try:
        with request.app.state.service_scope() as db:
            user = authenticate(db, username.strip(), password, max_failures=params.login_max_failures,
                                window_s=params.login_window_s)
            if user is not None:
                acct = Account(user.id, user.username, user.site.label, user.role)
                audit.record(db, site=acct.site, action="login", actor=f"web {acct.username}", source=client_source(request))
    except TooManyAttempts as exc:
        return render(request, "login.html", status_code=429, error=str(exc))
    if user is None:
        return render(request, "login.html", status_code=401, error="The user name or the password is not right.")
    start_session(request, acct)
    return RedirectResponse(HOME[acct.role], status_code=303)


@router.post("/logout")
def logout(request: Request, user: Annotated[Account, Depends(require())]) -> Response:
    """End the session."""
    with request.app.state.site_scope(user.site) as db:
        audit.record(db, site=user.site, action="logout", actor=f"web {user.username}", source=client_source(request))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
