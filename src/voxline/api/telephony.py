"""Carrier-facing routes, mounted at the app root (not /api/v2, no API key): answer URLs, status and
machine-detection callbacks, and the media websockets. Each request is authenticated as the carrier
(signature and/or the call's token) in dialer/edge.py; these handlers only speak HTTP and websocket."""

from __future__ import annotations

import contextlib
import json
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.responses import JSONResponse

from voxline.api.deps import CtxDep
from voxline.context import Context
from voxline.dialer import edge
from voxline.dialer import media as media_lifecycle
from voxline.telephony.carrier import CarrierRequest

router = APIRouter(prefix="/telephony", include_in_schema=False)


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
    state = websocket.app.state
    # Read per stream: tests install and remove a conversation runtime on a running app.
    runtimes = media_lifecycle.Runtimes(
        getattr(state, "call_runtime_factory", None), getattr(state, "sandbox_runtime", None)
    )
    await media_lifecycle.serve(
        state.ctx, websocket, provider, session_id, runtimes, path_token=path_token, flow_key=flow_key
    )
