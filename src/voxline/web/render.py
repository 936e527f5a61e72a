"""Rendering pages: the template environment, the headers every dashboard page carries, and the error page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))

# Scripts, styles and media only from this server: no inline script can run, so an injected string cannot either.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """A full page; `values` reach the template next to `request` (and `csrf`/`who` the caller set)."""
    response = templates.TemplateResponse(request, template, values, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, status: int, message: str, title: str | None = None) -> HTMLResponse:
    titles = {400: "Not accepted", 401: "Sign in needed", 403: "Refused", 404: "Not found", 409: "Not now"}
    return page(
        request,
        "error.html",
        status=status,
        title=title or titles.get(status, "Something went wrong"),
        message=message,
        who=getattr(request.state, "who", None),
    )
