"""Carrier-facing routes, mounted at the app root (not /api/v2, no API key): answer URLs, status and
machine-detection callbacks, and the media websockets. Each request is authenticated as the carrier
(signature and/or the call's token) in dialer/edge.py; these handlers only speak HTTP and websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from voxline.api.deps import CtxDep
from voxline.context import Context
from voxline.core import call_limits
from voxline.dialer import edge
from voxline.dialer.carrier_ops import CallControl
from voxline.store.models import Call
from voxline.telephony.carrier import CarrierError, CarrierRequest
from voxline.telephony.registry import carrier as carrier_for
from voxline.voice.interface import CallRuntime, MediaChannel

log = logging.getLogger("voxline.telephony")
router = APIRouter(prefix="/telephony", include_in_schema=False)

RUNTIME_WRAP_UP_SECS = 120.0


async def _carrier_request(ctx: Context, request: Request) -> tuple[CarrierRequest, dict[str, str]]:
    """The request as the carrier signed it: our public URL (not the proxy's view) and its parameters."""
    body = await request.body()
    params: dict[str, str] = {}
    if request.method == "POST" and body:
        ctype = request.headers.get("content-type", "")
        if "json" in ctype:
            with contextlib.suppress(ValueError):
                data = json.loads(body)
                if isinstance(data, dict):
                    params = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
        else:
            params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    url = ctx.settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    headers = {k.lower(): v for k, v in request.headers.items()}
    all_params = {**dict(request.query_params), **params}
    return CarrierRequest(request.method, url, params, headers, body), all_params


@router.api_route("/{provider}/answer/{call_id}", methods=["GET", "POST"])
async def answer(provider: str, call_id: str, request: Request, ctx: CtxDep) -> Response:
    carrier_req, params = await _carrier_request(ctx, request)
    v = await edge.verify(ctx, provider, call_id, request.query_params.get("token"), carrier_req)
    document = await edge.answer(ctx, v, params)
    return Response(document, media_type=v.carrier.answer_media_type or "text/plain")


@router.api_route("/{provider}/status/{call_id}", methods=["GET", "POST"])
@router.api_route("/{provider}/amd/{call_id}", methods=["GET", "POST"])
async def status_callback(provider: str, call_id: str, request: Request, ctx: CtxDep) -> Response:
    carrier_req, params = await _carrier_request(ctx, request)
    v = await edge.verify(ctx, provider, call_id, request.query_params.get("token"), carrier_req)
    await edge.status_callback(ctx, v, params)
    # Carriers whose status URL must answer (MCube's refurl asks it for the websocket URL).
    reply = edge.status_reply(ctx, v, params, request.query_params.get("token") or "")
    if reply is not None:
        return JSONResponse(reply)
    return Response(status_code=204)


@router.api_route("/{provider}/transfer/{call_id}", methods=["GET", "POST"])
async def transfer(provider: str, call_id: str, request: Request, ctx: CtxDep) -> Response:
    """Fetched by the carrier when we transfer a live call: the document that dials the colleague."""
    carrier_req, params = await _carrier_request(ctx, request)
    v = await edge.verify(ctx, provider, call_id, request.query_params.get("token"), carrier_req)
    document = edge.transfer_document(v, params.get("transfer_to"))
    return Response(document, media_type=v.carrier.answer_media_type or "text/plain")


@router.websocket("/{provider}/media/{session_id}")
async def media(websocket: WebSocket, provider: str, session_id: str) -> None:
    await _media(websocket, provider, session_id)


@router.websocket("/{provider}/media/{session_id}/{token}")
async def media_with_token(websocket: WebSocket, provider: str, session_id: str, token: str) -> None:
    """The call's token as a path segment: for carriers that document no way to pass it otherwise
    (Plivo, Vobiz, MCube, Exotel's per-call StreamUrl)."""
    await _media(websocket, provider, session_id, path_token=token)


@router.websocket("/{provider}/flow/{flow_key}")
async def media_from_flow(websocket: WebSocket, provider: str, flow_key: str) -> None:
    """For a carrier flow that opens one fixed websocket URL per connection (Exotel's Voicebot applet): the
    key names the connection, the stream's own call id names the call (see dialer/edge.open_media)."""
    await _media(websocket, provider, None, flow_key=flow_key)


async def _media(
    websocket: WebSocket,
    provider: str,
    session_id: str | None,
    *,
    path_token: str | None = None,
    flow_key: str | None = None,
) -> None:
    ctx: Context = websocket.app.state.ctx
    carrier = carrier_for(provider)
    if carrier is None:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    try:
        call, channel = await edge.open_media(
            ctx, websocket, provider, session_id, path_token=path_token, flow_key=flow_key
        )
    except (CarrierError, WebSocketDisconnect, TimeoutError, ValueError, LookupError, PermissionError) as exc:
        log.warning("refused a %s media stream: %s", provider, exc)
        if websocket.client_state is WebSocketState.CONNECTED:
            await websocket.close(code=1008)
        return
    # Ours until the media is over, whatever happens on the way (an error must not leave the lease renewed).
    ctx.leases.hold(call.id)
    try:
        await _hold_media(websocket, ctx, call, channel)
    finally:
        ctx.leases.release(call.id)


async def _hold_media(websocket: WebSocket, ctx: Context, call: Call, channel: MediaChannel) -> None:
    runtime = _runtime(websocket, ctx, call.sandbox)
    if runtime is None:
        # Never play the sandbox tone to a real person: a live call with no conversation runtime ends now.
        log.error("no conversation runtime is installed; ending live call %s", call.id)
        await edge.end_without_runtime(ctx, call.id)  # the reason first, before the carrier reports the end
        await websocket.close(code=1011)
        return
    max_secs = await edge.max_call_secs(ctx, call)
    # Not at the maximum itself: there the runtime says its farewell and hangs up (see core.call_limits).
    cap_secs = call_limits.hard_cap_secs(max_secs, ctx.settings.carrier_hangup_grace_secs)
    conversation = asyncio.create_task(runtime.run(channel))
    ended = asyncio.create_task(edge.wait_until_ended(ctx, call.id))
    try:
        done, _ = await asyncio.wait({conversation, ended}, timeout=cap_secs, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            log.info("call %s ran past its maximum duration (%s s) and the runtime's wrap-up; hanging up",
                     call.id, max_secs)
            await CallControl(ctx, call.id).hang_up()
        elif conversation not in done:
            # The call is over but the carrier keeps its stream open (Exotel does): close it ourselves.
            log.info("call %s ended while its media stream was still open; closing it", call.id)
        if conversation not in done:
            with contextlib.suppress(Exception):
                await websocket.close()
        # The conversation files its session after the audio stops: give it time, never forever.
        await asyncio.wait({conversation}, timeout=RUNTIME_WRAP_UP_SECS)
        if conversation.done() and not conversation.cancelled() and conversation.exception() is not None:
            log.error("the conversation of call %s failed", call.id, exc_info=conversation.exception())
    finally:
        for task in (conversation, ended):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()
    if isinstance(channel.control, CallControl) and channel.control.transferred_to:
        await edge.wait_after_transfer(ctx, call.id, max_secs)
    await edge.settle_after_media(ctx, call.id, ctx.settings.carrier_hangup_grace_secs)


def _runtime(websocket: WebSocket, ctx: Context, sandbox: bool) -> CallRuntime | None:
    """The conversation runtime: the app's factory when one is installed (`app.state.call_runtime_factory`,
    called with the context); without one, sandbox calls get the sandbox responder and live calls none."""
    factory: Any = getattr(websocket.app.state, "call_runtime_factory", None)
    if factory is not None:
        return factory(ctx)
    if not sandbox:
        return None
    from voxline.sandbox.responder import Responder

    return Responder(heard=websocket.app.state.sandbox.heard)
