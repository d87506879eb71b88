"""The portal's Jinja2 templates (autoescaped) and :func:`render`."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from palsyflow import __version__
from palsyflow.web.security import csrf_token

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
templates.env.globals["version"] = __version__


def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    """Render template ``name`` with the request's user (``request.state.user``) and CSRF token."""
    context.setdefault("user", getattr(request.state, "user", None))
    return templates.TemplateResponse(request, name, {"csrf_token": csrf_token(request), **context}, status_code=status_code)
