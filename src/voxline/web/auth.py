"""Who is looking at a dashboard page: the session cookie, the CSRF check on every POST, and the route class
that turns refusals into pages (an API error becomes an HTML page with its status, never a JSON envelope).

Two separate sign-ins: a partner session (cookie `vx_session`, acting as the API key it signed in with) and
an operator session (cookie `vx_operator`, from an admin token). The cookies carry only a random token.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute

from voxline.accounts import dashboard_sessions as sessions
from voxline.accounts.dashboard_sessions import Signed
from voxline.core import errors
from voxline.web import forms, render

PARTNER_COOKIE = "vx_session"
OPERATOR_COOKIE = "vx_operator"
SIGNIN_CSRF_COOKIE = "vx_signin_csrf"  # the sign-in forms' double-submit token (there is no session yet)
COOKIES = {sessions.PARTNER: PARTNER_COOKIE, sessions.OPERATOR: OPERATOR_COOKIE}
SIGNIN_PAGES = {sessions.PARTNER: "/signin", sessions.OPERATOR: "/operator/signin"}


class SignInRequired(Exception):
    def __init__(self, kind: str, wants_json: bool) -> None:
        self.kind = kind
        self.wants_json = wants_json


class CsrfRefused(Exception):
    """A POST without this session's CSRF token: possibly another site's form submitting in the user's name."""


class HtmlRoute(APIRoute):
    """Dashboard routes answer refusals with pages: a missing session redirects to its sign-in, a bad CSRF
    token is a 403 page, an API error a page with the error's status and message."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except SignInRequired as exc:
                if exc.wants_json:
                    body = {"code": "UNAUTHORIZED", "message": "Sign in to the dashboard again."}
                    return JSONResponse({"success": False, "error": body}, status_code=401)
                target = SIGNIN_PAGES[exc.kind]
                if request.method == "GET" and request.url.path != target:
                    target += "?next=" + quote(request.url.path)
                return RedirectResponse(target, status_code=303)
            except CsrfRefused:
                message = "This form has expired or did not come from this dashboard. Go back, reload and try again."
                return render.error_page(request, 403, message, "Form refused")
            except errors.ApiError as exc:
                return render.error_page(request, exc.status, exc.message)

        return handler


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


async def _signed(request: Request, kind: str) -> Signed:
    ctx = request.app.state.ctx
    signed = await sessions.find(ctx, request.cookies.get(COOKIES[kind]), kind)
    if signed is None:
        raise SignInRequired(kind, request.url.path.endswith(".json"))
    request.state.who = signed
    return signed


async def _posted(request: Request, kind: str) -> tuple[Signed, forms.Form]:
    signed = await _signed(request, kind)
    form = await forms.read(request)
    if not sessions.csrf_ok(signed, form.get("csrf")):
        raise CsrfRefused()
    return signed, form


async def partner(request: Request) -> Signed:
    """A page of the signed-in partner (redirects to sign-in otherwise)."""
    return await _signed(request, sessions.PARTNER)


async def partner_post(request: Request) -> tuple[Signed, forms.Form]:
    """A form the signed-in partner submitted, with this session's CSRF token."""
    return await _posted(request, sessions.PARTNER)


async def operator(request: Request) -> Signed:
    return await _signed(request, sessions.OPERATOR)


async def operator_post(request: Request) -> tuple[Signed, forms.Form]:
    return await _posted(request, sessions.OPERATOR)


def signin_csrf(request: Request) -> str:
    """The sign-in form's token: the cookie's value when the browser has one, else a new one to set."""
    current = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    return current if 20 <= len(current) <= 100 else secrets.token_urlsafe(24)


async def check_signin_form(request: Request) -> forms.Form:
    """The sign-in POST must echo the token of the cookie the sign-in page set (login CSRF)."""
    form = await forms.read(request)
    cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    presented = form.get("csrf")
    if not cookie or not presented or not secrets.compare_digest(cookie.encode(), presented.encode()):
        raise CsrfRefused()
    return form


def signed_in(request: Request, cookie: str, token: str, to: str) -> RedirectResponse:
    """The answer to a sign-in that opened a session: its cookie set (the sign-in form's CSRF cookie dropped),
    then on to `to`."""
    response = RedirectResponse(to, status_code=303)
    set_cookie(request, response, cookie, token, int(sessions.LIFETIME.total_seconds()))
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/")
    return response


async def signed_out(request: Request, cookie: str, to: str) -> RedirectResponse:
    """End the session named by `cookie` (the database row and the cookie), then on to `to`."""
    await sessions.sign_out(request.app.state.ctx, request.cookies.get(cookie))
    response = RedirectResponse(to, status_code=303)
    response.delete_cookie(cookie, path="/")
    return response
