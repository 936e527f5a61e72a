"""The join page of a browser test session: `/talk/{session_id}` and its script and style, from the package.

The page is the same for every session and says nothing about it: the join token stays in the URL fragment
(`#token=…`), which browsers never send to a server, so it never reaches access logs, proxies or a Referer.
The page reads it and posts it once, with its SDP offer, to POST /api/v2/sessions/{id}/webrtc/offer.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from voxline.calls import browser_session
from voxline.core.ids import is_uuid

router = APIRouter(include_in_schema=False)

_STATIC = {"talk.js": "text/javascript; charset=utf-8", "talk.css": "text/css; charset=utf-8"}
# The page runs only its own script: no inline code, no other origin (and no framing by another site).
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; media-src 'self' blob: mediastream:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@lru_cache(maxsize=4)
def _file(name: str) -> str:
    return resources.files("voxline.api").joinpath("talk_page", name).read_text(encoding="utf-8")


@router.get("/talk/{session_id}")
async def talk_page(session_id: str, request: Request) -> Response:
    if not is_uuid(session_id):
        return HTMLResponse("<!doctype html><title>Not found</title><p>No such session.</p>", status_code=404)
    # The deployment's STUN URLs (checked by settings: stun: URLs only, no quotes), for the page's peer.
    stun = html.escape(json.dumps(browser_session.ice_servers(request.app.state.ctx)), quote=True)
    page = _file("talk.html").replace("{{SESSION_ID}}", session_id).replace("{{ICE_SERVERS}}", stun)
    return HTMLResponse(page, headers=_HEADERS)


@router.get("/talk-static/{name}")
async def talk_static(name: str) -> Response:
    if name not in _STATIC:
        return Response("Not found", status_code=404, media_type="text/plain")
    return Response(_file(name), media_type=_STATIC[name], headers={"X-Content-Type-Options": "nosniff"})
