"""The portal's request security: signed session cookie, expiry, CSRF tokens, roles, headers.

* The session is Starlette's signed cookie (``itsdangerous``), HTTP-only, ``SameSite=Lax``,
  ``Secure`` when ``web.base_url`` is https; its key is derived from the installation
  secret (:attr:`palsyflow.project.Project.secret`), so it survives restarts and differs
  per installation. A session ends after ``web.session_idle_s`` unused seconds or
  ``web.session_max_s`` in all.
* Every unsafe request (POST, PUT, PATCH, DELETE) must carry the session's CSRF token as
  form field ``csrf_token`` or header ``X-CSRF-Token``; otherwise 403 (OWASP
  synchroniser-token pattern).
* Responses carry a strict Content-Security-Policy (no inline script or style, nothing
  from another origin), ``X-Frame-Options: DENY``, ``nosniff`` and ``no-referrer``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from fastapi import HTTPException, Request
from starlette.middleware.base import BaseHTTPMiddleware

from palsyflow.config import WebParams
from palsyflow.store.portal import Account, account

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE = "palsyflow_session"

#: The portal's Content-Security-Policy: same-origin scripts, styles, images and media only
#: (``blob:`` media for replaying a recording before upload).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def session_key(installation_secret: str) -> str:
    """The cookie-signing key: HMAC-SHA256 of a fixed label under the installation secret."""
    return hmac.new(installation_secret.encode(), b"palsyflow-web-session", hashlib.sha256).hexdigest()


class SecurityHeaders(BaseHTTPMiddleware):
    """Adds :data:`CSP` and the other security headers to every response."""

    async def dispatch(self, request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    tok = request.session.get("csrf")
    if not tok:
        tok = request.session["csrf"] = secrets.token_urlsafe(32)
    return tok


async def check_csrf(request: Request) -> None:
    """FastAPI dependency: refuse an unsafe request without the session's CSRF token.

    Raises
    ------
    fastapi.HTTPException
        403 when the token is missing or differs.
    """
    if request.method not in UNSAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(403, "the form's security token is missing or out of date; reload the page and try again")


def start_session(request: Request, user: Account) -> None:
    """A fresh session for ``user`` (a new CSRF token: no fixation of a pre-login session)."""
    request.session.clear()
    now = int(time.time())
    request.session.update({"uid": user.id, "login_at": now, "seen_at": now, "csrf": secrets.token_urlsafe(32)})


def signed_in(request: Request) -> Account | None:
    """The request's account, or None (no session, expired, or the account disabled)."""
    uid = request.session.get("uid")
    if uid is None:
        return None
    params: WebParams = request.app.state.project.params.web
    now = int(time.time())
    if now - int(request.session.get("seen_at", 0)) > params.session_idle_s or now - int(
        request.session.get("login_at", 0)
    ) > params.session_max_s:
        request.session.clear()
        return None
    with request.app.state.service_scope() as db:
        user = account(db, int(uid))
    if user is None:
        request.session.clear()
        return None
    request.session["seen_at"] = now
    return user


class NeedLogin(Exception):
    """The request needs a signed-in user (answered with a redirect to ``/login``)."""


def require(*roles: str):
    """FastAPI dependency factory: the signed-in account, with one of ``roles`` (``admin`` always passes).

    Raises
    ------
    NeedLogin
        Without a valid session.
    fastapi.HTTPException
        403 for another role.
    """

    def dep(request: Request) -> Account:
        user = signed_in(request)
        if user is None:
            raise NeedLogin()
        if roles and user.role not in roles and user.role != "admin":
            raise HTTPException(403, f"this page is for the {' or '.join(r.replace('_', ' ') for r in roles)} role")
        request.state.user = user
        return user

    return dep


def client_source(request: Request) -> str:
    """Where a request came from, for the audit trail: ``<client address> palsyflow-web``."""
    host = request.client.host if request.client else "unknown"
    return f"{host} palsyflow-web"
