"""The operator view under /operator: the deployment's partners, their keys and limits. It signs in with an
admin token (`voxline admin create-token`), never with a partner's key, and calls the use-cases the CLI calls.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from voxline.accounts import dashboard_sessions as sessions
from voxline.accounts import partners
from voxline.accounts.dashboard_sessions import Signed
from voxline.core import errors, keys
from voxline.core.timefmt import iso
from voxline.web import auth, render
from voxline.web.forms import Form

router = APIRouter(prefix="/operator", route_class=auth.HtmlRoute, include_in_schema=False)

Operator = Annotated[Signed, Depends(auth.operator)]
OperatorPost = Annotated[tuple[Signed, Form], Depends(auth.operator_post)]
LIMIT_FIELDS = ("concurrency", "sandbox_concurrency", "agent_limit", "rate_limit_per_min", "calls_rate_limit_per_min")


def _page(request: Request, signed: Signed, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    return render.page(request, template, status=status, operator=signed, csrf=signed.csrf, **values)


def _see(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _account_error(exc: partners.AccountError) -> errors.ApiError:
    return errors.ValidationError(str(exc))


def _limits(form: Form) -> partners.Limits:
    """Limits the form filled in; blank ones stay as they are."""
    values: dict[str, Any] = {}
    for name in LIMIT_FIELDS:
        text = form.get(name)
        if text:
            if not text.isdigit() or len(text) > 9:
                raise errors.ValidationError(f"{name.replace('_', ' ')}: a whole number.")
            values[name] = int(text)
    if form.has("providers_sent"):
        try:
            values["providers"] = partners.parse_providers(",".join(form.getlist("providers")))
        except partners.AccountError as exc:
            raise _account_error(exc) from None
    status = form.get("status")
    if status:
        values["status"] = status
    return partners.Limits(**values)


def _partner_view(p: Any) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "status": p.status,
        "concurrency": p.concurrency_limit,
        "sandbox_concurrency": p.sandbox_concurrency_limit,
        "agent_limit": p.agent_limit,
        "rate_limit_per_min": p.rate_limit_per_min,
        "calls_rate_limit_per_min": p.calls_rate_limit_per_min,
        "providers": list(p.allowed_providers or []),
        "created_at": iso(p.created_at),
    }


def _signin_page(request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
    token = auth.signin_csrf(request)
    response = render.page(request, "operator/signin.html", status=status, csrf=token, error=error)
    auth.set_cookie(request, response, auth.SIGNIN_CSRF_COOKIE, token)
    return response


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    return _signin_page(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await auth.check_signin_form(request)
    try:
        opened = await sessions.sign_in_operator(request.app.state.ctx, form.get("admin_token"))
    except errors.Unauthorized as exc:
        return _signin_page(request, 401, exc.message)
    return auth.signed_in(request, auth.OPERATOR_COOKIE, opened.token, "/operator")


@router.post("/signout")
async def signout(request: Request, posted: OperatorPost) -> Response:
    return await auth.signed_out(request, auth.OPERATOR_COOKIE, "/operator/signin")


@router.get("")
async def partners_page(request: Request, signed: Operator) -> Response:
    found = await partners.list_partners(request.app.state.ctx)
    return _page(request, signed, "operator/partners.html", partners=[_partner_view(p) for p in found])


@router.post("/partners")
async def create_partner(request: Request, posted: OperatorPost) -> Response:
    signed, form = posted
    ctx = request.app.state.ctx
    try:
        issued = await partners.create_partner(ctx, form.get("name"), _limits(form))
    except partners.AccountError as exc:
        raise _account_error(exc) from None
    # The key is shown on this page only (rendered, not redirected to: it must not sit in a URL).
    return _page(request, signed, "operator/key_created.html", issued=issued, partner_name=form.get("name"))


async def _partner(request: Request, partner_id: str) -> Any:
    try:
        return await partners.get_partner(request.app.state.ctx, partner_id)
    except partners.AccountError:
        raise errors.NotFound("No such partner.") from None


@router.get("/partners/{partner_id}")
async def partner_page(partner_id: str, request: Request, signed: Operator) -> Response:
    partner = await _partner(request, partner_id)
    found = await partners.partner_keys(request.app.state.ctx, partner.id)
    keys_view = [
        {"prefix": k.prefix, "mode": k.mode, "created_at": iso(k.created_at), "revoked_at": iso(k.revoked_at)}
        for k in found
    ]
    return _page(
        request,
        signed,
        "operator/partner.html",
        partner=_partner_view(partner),
        keys=keys_view,
        all_providers=list(partners.PROVIDERS),
    )


@router.post("/partners/{partner_id}/limits")
async def update_limits(partner_id: str, request: Request, posted: OperatorPost) -> Response:
    _signed, form = posted
    partner = await _partner(request, partner_id)
    try:
        await partners.update_partner(request.app.state.ctx, partner.id, _limits(form))
    except partners.AccountError as exc:
        raise _account_error(exc) from None
    return _see(f"/operator/partners/{partner.id}")


@router.post("/partners/{partner_id}/keys")
async def create_key(partner_id: str, request: Request, posted: OperatorPost) -> Response:
    signed, form = posted
    partner = await _partner(request, partner_id)
    mode = keys.TEST if form.get("mode") == keys.TEST else keys.LIVE
    issued = await partners.create_key(request.app.state.ctx, partner.id, mode)
    return _page(request, signed, "operator/key_created.html", issued=issued, partner_name=partner.name)


@router.post("/partners/{partner_id}/keys/revoke")
async def revoke_key(partner_id: str, request: Request, posted: OperatorPost) -> Response:
    _signed, form = posted
    partner = await _partner(request, partner_id)
    prefix = form.get("prefix")
    owned = {k.prefix for k in await partners.partner_keys(request.app.state.ctx, partner.id)}
    if prefix not in owned:
        raise errors.NotFound("No such key for this partner.")
    await partners.revoke_key(request.app.state.ctx, prefix)
    return _see(f"/operator/partners/{partner.id}")
