"""The partner's dashboard pages: calls, one call, agents, telephony connections, webhooks, campaigns and the
do-not-call list. Each handler calls the use-case the matching /api/v2 route calls, as the signed-in key.

Every form POSTs with the session's CSRF token (auth.partner_post checks it) and answers with a redirect
(post/redirect/get), except where a secret must be shown once: that page is rendered directly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from voxline.accounts import access, telephony
from voxline.accounts import dashboard_sessions as sessions
from voxline.accounts.dashboard_sessions import Signed
from voxline.agents import service as agents
from voxline.calls import browser_session, query, start, views
from voxline.campaigns import service as campaigns
from voxline.core import errors
from voxline.core.call_status import ACTIVE_STATUSES, CallStatus
from voxline.core.phone import InvalidPhoneNumber, parse_e164
from voxline.core.principal import Principal
from voxline.safety import dnc
from voxline.voice import catalog
from voxline.web import auth, connection_fields, render
from voxline.web.forms import Form
from voxline.webhooks import deliveries, endpoints

router = APIRouter(route_class=auth.HtmlRoute, include_in_schema=False)

Partner = Annotated[Signed, Depends(auth.partner)]
PartnerPost = Annotated[tuple[Signed, Form], Depends(auth.partner_post)]

CALLS_PER_PAGE = 50
FINISHED = {s.value for s in CallStatus} - {s.value for s in ACTIVE_STATUSES}


def _who(signed: Signed) -> Principal:
    assert signed.principal is not None  # a partner session always acts as its key
    return signed.principal


def _page(request: Request, signed: Signed, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    return render.page(request, template, status=status, who=signed, csrf=signed.csrf, **values)


def _see(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# ---- signing in and out ----
def _safe_next(target: str) -> str:
    """Only a path on this server (never `//other.host`, `/\\other.host` or a scheme): an open redirect would
    help phishing."""
    parts = urlsplit(target)
    plain = target.startswith("/") and not target.startswith("//") and "\\" not in target and target.isprintable()
    if plain and not parts.scheme and not parts.netloc:
        return target
    return "/calls"


def _signin_page(request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
    token = auth.signin_csrf(request)
    response = render.page(
        request,
        "signin.html",
        status=status,
        csrf=token,
        error=error,
        next=_safe_next(request.query_params.get("next", "")),
    )
    auth.set_cookie(request, response, auth.SIGNIN_CSRF_COOKIE, token)
    return response


@router.get("/")
async def home(request: Request) -> Response:
    return _see("/calls")


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    return _signin_page(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await auth.check_signin_form(request)
    try:
        opened, _principal = await sessions.sign_in_with_key(request.app.state.ctx, form.get("api_key"))
    except errors.Unauthorized as exc:
        return _signin_page(request, 401, exc.message)
    return auth.signed_in(request, auth.PARTNER_COOKIE, opened.token, _safe_next(form.get("next")))


@router.post("/signout")
async def signout(request: Request, posted: PartnerPost) -> Response:
    return await auth.signed_out(request, auth.PARTNER_COOKIE, "/signin")


# ---- calls ----
def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or not 1970 <= day.year <= 9000:  # the day after must exist too (it bounds the range)
        raise errors.ValidationError(f"{field}: a date as YYYY-MM-DD.")
    return day


def _filters(request: Request) -> tuple[query.CallFilters, dict[str, str]]:
    """The list's filters from the query string (what the form sent), checked; the raw values refill the form."""
    q = request.query_params
    raw = {name: q.get(name, "").strip()[:64] for name in ("status", "agent", "from", "to", "number")}
    status = raw["status"].lower() or None
    if status is not None and status not in {s.value for s in CallStatus}:
        raise errors.ValidationError("status: one of " + ", ".join(s.value for s in CallStatus) + ".")
    since, until = _day(raw["from"], "from"), _day(raw["to"], "to")
    filters = query.CallFilters(
        status=status,
        agent_id=raw["agent"] or None,
        since=datetime.combine(since, datetime.min.time(), UTC) if since else None,
        until=datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC) if until else None,
        number=raw["number"] or None,
    )
    return filters, raw


def _offset(request: Request) -> int:
    text = request.query_params.get("page", "1")
    number = int(text) if text.isdigit() and len(text) < 7 else 1
    return (max(number, 1) - 1) * CALLS_PER_PAGE


def _page_query(request: Request, number: int) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return urlencode([*kept, ("page", str(number))])


async def _agent_names(request: Request, partner_id: str) -> dict[str, str]:
    found, _total = await agents.page(request.app.state.ctx, partner_id, 100, 0)
    return {a.id: a.agent_name for a in found}


def _call_row(call: Any, names: dict[str, str]) -> dict[str, Any]:
    view = views.call_view(call)
    view["agent_name"] = names.get(call.agent_id, "(deleted agent)")
    view["finished"] = call.status in FINISHED
    return view


@router.get("/calls")
async def calls_page(request: Request, signed: Partner) -> Response:
    filters, raw = _filters(request)
    offset = _offset(request)
    found, total = await query.search_calls(request.app.state.ctx, _who(signed), filters, CALLS_PER_PAGE, offset)
    names = await _agent_names(request, _who(signed).partner_id)
    return _page(
        request,
        signed,
        "calls.html",
        calls=[_call_row(c, names) for c in found],
        total=total,
        raw=raw,
        agents=names,
        statuses=[s.value for s in CallStatus],
        query_string=str(request.query_params),
        newer=_page_query(request, offset // CALLS_PER_PAGE) if offset else None,
        older=_page_query(request, offset // CALLS_PER_PAGE + 2) if offset + CALLS_PER_PAGE < total else None,
    )


@router.get("/calls.json")
async def calls_json(request: Request, signed: Partner) -> Response:
    """The list's rows, for its script to refresh statuses without reloading the page."""
    filters, _raw = _filters(request)
    found, total = await query.search_calls(
        request.app.state.ctx, _who(signed), filters, CALLS_PER_PAGE, _offset(request)
    )
    names = await _agent_names(request, _who(signed).partner_id)
    rows = [_call_row(c, names) for c in found]
    return JSONResponse({"calls": rows, "total": total}, headers={"Cache-Control": "no-store"})


def _recording_path(url: str | None) -> str | None:
    """The signed recording link as a path on this server, so the player works on whichever address the
    browser reached the dashboard by (the link's host is the public URL carriers use)."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@router.get("/calls/{call_id}")
async def call_page(call_id: str, request: Request, signed: Partner) -> Response:
    ctx = request.app.state.ctx
    call, session = await query.get_call(ctx, _who(signed), call_id)
    detail = views.call_detail_view(call, session)
    names = await _agent_names(request, _who(signed).partner_id)
    sent = await deliveries.for_session(ctx, _who(signed), session.id)
    return _page(
        request,
        signed,
        "call.html",
        call=detail,
        session=detail["session"],
        agent_name=names.get(call.agent_id, session.agent_name),
        recording=_recording_path(detail["session"]["recording_url"]),
        deliveries=sent,
        finished=call.status in FINISHED,
    )


@router.get("/calls/{call_id}/status.json")
async def call_status(call_id: str, request: Request, signed: Partner) -> Response:
    call, session = await query.get_call(request.app.state.ctx, _who(signed), call_id)
    body = {
        "status": call.status,
        "disposition": call.disposition,
        "duration_seconds": call.duration_seconds,
        "finished": call.status in FINISHED,
        "processing_complete": session.processing_complete,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post("/calls/{call_id}/redeliver")
async def redeliver(call_id: str, request: Request, posted: PartnerPost) -> Response:
    signed, form = posted
    ctx = request.app.state.ctx
    _call, session = await query.get_call(ctx, _who(signed), call_id)  # the call must be this key's
    ours = {d["id"] for d in await deliveries.for_session(ctx, _who(signed), session.id)}
    if form.get("delivery_id") not in ours:  # and the delivery one of this call's
        raise errors.WebhookDeliveryNotFound()
    await deliveries.redeliver(ctx, _who(signed), form.get("endpoint_id"), form.get("delivery_id"))
    return _see(f"/calls/{call_id}#deliveries")


# ---- agents ----
AGENT_TEXT_FIELDS = ("agent_name", "prompt", "intro_message", "end_call_message", "voicemail_message")
AGENT_FLAGS = ("enable_recording", "voicemail_detection_enabled", "end_call_enabled")
# The API's limits for these fields (api/schemas.py, _AgentFields and AgentCreate): (least, most) characters.
AGENT_TEXT_LIMITS = {
    "agent_name": (1, 50),
    "prompt": (1, 120_000),
    "intro_message": (0, 500),
    "end_call_message": (0, 500),
    "voicemail_message": (0, 500),
}


def _agent_values(form: Form) -> dict[str, Any]:
    """What the agent form submits, as the API's field names and within the API's limits (an unticked
    checkbox is absent: off; an empty optional text is "none")."""
    values: dict[str, Any] = {}
    for name, (least, most) in AGENT_TEXT_LIMITS.items():
        text = form.get(name)
        if not least <= len(text) <= most:
            label = name.replace("_", " ")
            raise errors.ValidationError(
                f"{label}: {least}-{most} characters." if least else f"{label}: at most {most} characters."
            )
        values[name] = text
    values["voice_id"] = form.get("voice_id")
    for flag in AGENT_FLAGS:
        values[flag] = form.get(flag) == "on"
    duration = form.get("max_call_duration_secs")
    if duration:
        if not duration.isdigit() or not 60 <= int(duration[:6]) <= 3600:
            raise errors.ValidationError("maximum call duration: 60-3600 seconds.")
        values["max_call_duration_secs"] = int(duration)
    return values


def _agent_form(request: Request, signed: Signed, agent: dict[str, Any] | None, status: int = 200, **extra: Any):  # noqa: ANN202
    voices = catalog.voices(request.app.state.ctx.settings.tts_engines)
    return _page(request, signed, "agent_form.html", status=status, agent=agent or {}, voices=voices, **extra)


def _form_as_agent(form: Form, agent_id: str | None = None) -> dict[str, Any]:
    agent: dict[str, Any] = {
        name: form.get(name) for name in (*AGENT_TEXT_FIELDS, "voice_id", "max_call_duration_secs")
    }
    agent.update({flag: form.get(flag) == "on" for flag in AGENT_FLAGS})
    if agent_id:
        agent["id"] = agent_id
    return agent


@router.get("/agents")
async def agents_page(request: Request, signed: Partner) -> Response:
    found, total = await agents.page(request.app.state.ctx, _who(signed).partner_id, 100, 0)
    return _page(request, signed, "agents.html", agents=[agents.view(a) for a in found], total=total)


@router.get("/agents/new")
async def new_agent(request: Request, signed: Partner) -> Response:
    return _agent_form(request, signed, {"enable_recording": True, "end_call_enabled": True})


@router.post("/agents")
async def create_agent(request: Request, posted: PartnerPost) -> Response:
    signed, form = posted
    try:
        agent = await agents.create(request.app.state.ctx, _who(signed).partner_id, _agent_values(form))
    except errors.ApiError as exc:
        return _agent_form(request, signed, _form_as_agent(form), exc.status, error=exc.message)
    return _see(f"/agents/{agent.id}")


async def _providers(request: Request, who: Principal) -> list[str]:
    """Carriers this key's mode has an active connection for: the ones a call can go through."""
    conns = await telephony.list_for(request.app.state.ctx, who, None)
    return list(dict.fromkeys(c.provider for c in conns if c.status == "ACTIVE"))


@router.get("/agents/{agent_id}")
async def agent_page(agent_id: str, request: Request, signed: Partner) -> Response:
    agent = agents.view(await agents.get(request.app.state.ctx, _who(signed).partner_id, agent_id))
    return _agent_form(request, signed, agent, providers=await _providers(request, _who(signed)))


@router.post("/agents/{agent_id}")
async def update_agent(agent_id: str, request: Request, posted: PartnerPost) -> Response:
    signed, form = posted
    ctx = request.app.state.ctx
    current = await agents.get(ctx, _who(signed).partner_id, agent_id)  # 404 before reading the form's values
    try:
        await agents.update(ctx, _who(signed).partner_id, current.id, _agent_values(form))
    except errors.ApiError as exc:
        providers = await _providers(request, _who(signed))
        return _agent_form(
            request, signed, _form_as_agent(form, current.id), exc.status, error=exc.message, providers=providers
        )
    return _see(f"/agents/{current.id}?saved=1")


@router.post("/agents/{agent_id}/talk")
async def talk_to_agent(agent_id: str, request: Request, posted: PartnerPost) -> Response:
    """The browser test call: the same use-case as POST /api/v2/sessions/webrtc, as the signed-in key (its
    concurrency limit and its 10 starts a minute), then the browser goes to the session's join page with the
    single-use token in the URL fragment (never sent to a server, so never logged)."""
    signed, form = posted
    ctx = request.app.state.ctx
    who = _who(signed)
    agent = await agents.get(ctx, who.partner_id, agent_id)
    variables = {name: form.get(f"var_{name}") for name in agent.variables if form.get(f"var_{name}")}
    try:
        await access.count_request(ctx, who, access.WEBRTC)
        started = await browser_session.start_browser_session(ctx, who, agent.id, variables)
    except errors.ApiError as exc:
        if exc.status == 404:
            raise
        providers = await _providers(request, who)
        return _agent_form(request, signed, agents.view(agent), exc.status, providers=providers, talk_error=exc.message)
    return _see(started.link)


@router.post("/agents/{agent_id}/call")
async def call_a_number(agent_id: str, request: Request, posted: PartnerPost) -> Response:
    """Start a call from the agent page: the same use-case as POST /api/v2/calls/start, counted against the
    key's calls-per-minute limit."""
    signed, form = posted
    ctx = request.app.state.ctx
    who = _who(signed)
    agent = await agents.get(ctx, who.partner_id, agent_id)
    variables = {name: form.get(f"var_{name}") for name in agent.variables if form.get(f"var_{name}")}
    req = start.StartRequest(agent.id, form.get("to_number"), form.get("provider").lower(), variables, None)
    try:
        # What the API's body schema checks before the use-case sees them: an E.164 number, a known carrier.
        parse_e164(req.to_number)
        if req.provider not in connection_fields.providers():
            raise errors.UnknownProvider("Choose a carrier from the list.")
        await access.count_request(ctx, who, access.CALLS)
        started = await start.start_call(ctx, who, req, None)
    except InvalidPhoneNumber as exc:
        failure: errors.ApiError = errors.InvalidPhoneNumber(f"to_number {exc}.")
    except errors.ApiError as exc:
        if exc.status == 404:
            raise
        failure = exc
    else:
        if not started.replayed:
            ctx.dial_wake.notify()
        return _see(f"/calls/{started.view['call_id']}")
    # Refused (a bad number, the do-not-call list, a limit): the agent page again, saying why.
    providers = await _providers(request, who)
    return _agent_form(
        request,
        signed,
        agents.view(agent),
        failure.status,
        providers=providers,
        call_error=failure.message,
        entered={"to_number": req.to_number, **{f"var_{k}": v for k, v in variables.items()}},
    )


# ---- telephony connections ----
@router.get("/connections")
async def connections_page(request: Request, signed: Partner) -> Response:
    conns = await telephony.list_for(request.app.state.ctx, _who(signed), None)
    return _page(
        request,
        signed,
        "connections.html",
        connections=[telephony.view(c) for c in conns],
        providers=connection_fields.providers(),
    )


@router.get("/connections/new")
async def new_connection(request: Request, signed: Partner) -> Response:
    provider = request.query_params.get("provider", "").lower()
    if provider not in connection_fields.providers():
        raise errors.UnknownProvider("Choose a carrier from the list.")
    return _page(
        request, signed, "connection_form.html", provider=provider, fields=connection_fields.fields(provider), values={}
    )


@router.post("/connections")
async def create_connection(request: Request, posted: PartnerPost) -> Response:
    signed, form = posted
    provider = form.get("provider").lower()
    if provider not in connection_fields.providers():
        raise errors.UnknownProvider("Choose a carrier from the list.")
    fields = connection_fields.fields(provider)
    try:
        if not 1 <= len(form.get("name")) <= 100:
            raise errors.ValidationError("name: 1-100 characters.")
        await telephony.create(
            request.app.state.ctx,
            _who(signed),
            provider,
            form.get("name"),
            form.get("is_default") == "on",
            connection_fields.submitted(provider, form),
        )
    except errors.ApiError as exc:
        kept = {f.name: form.get(f.name) for f in fields if not f.secret}
        return _page(
            request,
            signed,
            "connection_form.html",
            status=exc.status,
            provider=provider,
            fields=fields,
            values={**kept, "name": form.get("name")},
            error=exc.message,
        )
    return _see("/connections")


@router.post("/connections/{connection_id}/delete")
async def delete_connection(connection_id: str, request: Request, posted: PartnerPost) -> Response:
    signed, _form = posted
    await telephony.delete(request.app.state.ctx, _who(signed), connection_id)
    return _see("/connections")


# ---- webhook endpoints ----
async def _webhooks_page(request: Request, signed: Signed, status: int = 200, **extra: Any) -> HTMLResponse:
    found = await endpoints.list_for(request.app.state.ctx, _who(signed))
    return _page(request, signed, "webhooks.html", status=status, webhooks=[endpoints.view(e) for e in found], **extra)


@router.get("/webhooks")
async def webhooks_page(request: Request, signed: Partner) -> Response:
    return await _webhooks_page(request, signed)


@router.post("/webhooks")
async def create_webhook(request: Request, posted: PartnerPost) -> Response:
    signed, form = posted
    try:
        if len(form.get("url")) > 4096 or len(form.get("label")) > 64:
            raise errors.InvalidWebhookUrl("The URL is longer than 4096 characters or the label than 31.")
        endpoint, secret = await endpoints.create(
            request.app.state.ctx, _who(signed), form.get("label"), form.get("url"), True
        )
    except errors.ApiError as exc:
        return await _webhooks_page(
            request, signed, exc.status, error=exc.message, entered={"label": form.get("label"), "url": form.get("url")}
        )
    # The secret is shown on this page only (no redirect: it must never sit in a URL or be shown again).
    return await _webhooks_page(request, signed, created={"label": endpoint.label, "secret": secret})


@router.post("/webhooks/{webhook_id}/enabled")
async def toggle_webhook(webhook_id: str, request: Request, posted: PartnerPost) -> Response:
    signed, form = posted
    await endpoints.update(request.app.state.ctx, _who(signed), webhook_id, enabled=form.get("enabled") == "true")
    return _see("/webhooks")


# ---- campaigns and the do-not-call list ----
@router.get("/campaigns")
async def campaigns_page(request: Request, signed: Partner) -> Response:
    rows, total = await campaigns.page(request.app.state.ctx, _who(signed), 100, 0)
    return _page(request, signed, "campaigns.html", campaigns=rows, total=total)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(campaign_id: str, request: Request, signed: Partner) -> Response:
    ctx = request.app.state.ctx
    campaign = await campaigns.get(ctx, _who(signed), campaign_id)
    contacts, total = await campaigns.contacts(ctx, _who(signed), campaign_id, None, 100, 0)
    return _page(request, signed, "campaign.html", campaign=campaign, contacts=contacts, total=total)


@router.get("/dnc")
async def dnc_page(request: Request, signed: Partner) -> Response:
    return await _dnc_page(request, signed)


async def _dnc_page(request: Request, signed: Signed, status: int = 200, **extra: Any) -> HTMLResponse:
    rows, total = await dnc.page(request.app.state.ctx, _who(signed), 200, 0)
    return _page(request, signed, "dnc.html", status=status, numbers=rows, total=total, **extra)


def _numbers(text: str) -> list[str]:
    found = []
    for raw in text.replace(",", "\n").splitlines():
        if raw.strip():
            try:
                found.append(parse_e164(raw.strip()))
            except InvalidPhoneNumber as exc:
                raise errors.InvalidPhoneNumber(f"{raw.strip()[:40]}: {exc}.") from None
    return found


@router.post("/dnc")
async def add_dnc(request: Request, posted: PartnerPost) -> Response:
    signed, form = posted
    try:
        phones = _numbers(form.get("numbers"))[:10_000]
    except errors.ApiError as exc:
        return await _dnc_page(request, signed, exc.status, error=exc.message, entered=form.get("numbers"))
    if phones:
        await dnc.add(request.app.state.ctx, _who(signed), phones, form.get("reason")[:500] or None)
    return _see("/dnc")


@router.post("/dnc/remove")
async def remove_dnc(request: Request, posted: PartnerPost) -> Response:
    signed, form = posted
    await dnc.remove(request.app.state.ctx, _who(signed), form.get("phone"))
    return _see("/dnc")
