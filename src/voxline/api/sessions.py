"""/sessions: one conversation run (GET), and the browser test session (POST /sessions/webrtc) with its
signaling endpoint, which the join page calls with the session's single-use token instead of an API key."""

from __future__ import annotations

from fastapi import APIRouter, Request

from voxline.api.deps import CtxDep, GeneralCaller, WebrtcCaller
from voxline.api.responses import errors as documented
from voxline.api.responses import ok, raises
from voxline.api.schemas import (
    BrowserSessionBody,
    BrowserSessionOut,
    Envelope,
    SessionOut,
    WebrtcAnswer,
    WebrtcOfferBody,
)
from voxline.calls import browser_session, query, views
from voxline.core import errors
from voxline.core.timefmt import iso

router = APIRouter(prefix="/sessions", tags=["sessions"], responses=documented())

WEBRTC_DESCRIPTION = (
    "Starts a session in which a person talks to `agent_id` from a browser (microphone and speaker) instead of "
    "a phone: the same conversation runtime, transcript, recording and `session.completed` webhook (without the "
    "`call` object) as a call, and the session is readable at GET /sessions/{id}. `variables` follow the rules "
    "of POST /calls/start. The session counts against the key's concurrency limit (in the key's mode) while "
    "the browser may join and while it talks, and starts are limited to 10 a minute per key.\n\n"
    "**Vocobase's field names, our values.** Vocobase answers with a Daily room; this server is its own WebRTC "
    "endpoint. `daily_room_url` is the absolute URL of this server's join page for the session, and "
    "`daily_token` a single-use join token (valid a few minutes, until `expires_at`; only its hash is stored). "
    "Open `{daily_room_url}#token={daily_token}` in a browser: the token travels in the URL fragment, which "
    "browsers never send to a server, so it stays out of logs. The page posts its SDP offer with the token to "
    "POST /sessions/{session_id}/webrtc/offer. Browsers allow the microphone only on https or on "
    "127.0.0.1/localhost, so set `VOXLINE_PUBLIC_BASE_URL` to an https URL for remote testers.\n\n"
    "Ending: the browser hanging up (or `client.disconnect()` in a client of your own) ends the session; so do "
    "the agent's end-call tool, its maximum duration and a long silence."
)


@router.post(
    "/webrtc",
    summary="Start a browser (WebRTC) test session",
    description=WEBRTC_DESCRIPTION,
    responses=raises(
        errors.UndeclaredVariable,
        errors.InvalidVariableValue,
        errors.AgentNotFound,
        errors.ConcurrencyLimit,
    ),
)
async def start_webrtc_session(
    body: BrowserSessionBody, ctx: CtxDep, caller: WebrtcCaller
) -> Envelope[BrowserSessionOut]:
    """See WEBRTC_DESCRIPTION."""
    started = await browser_session.start_browser_session(ctx, caller, body.agent_id, body.variables)
    return ok(
        BrowserSessionOut(
            session_id=started.session_id,
            agent_id=started.agent_id,
            daily_room_url=started.join_url,
            daily_token=started.token,
            expires_at=iso(started.expires_at) or "",
        )
    )


@router.post(
    "/{session_id}/webrtc/offer",
    summary="Join a browser session: SDP offer in, SDP answer out",
    responses=raises(
        errors.JoinTokenInvalid,
        errors.JoinTokenUsed,
        errors.JoinTokenExpired,
        errors.InvalidSdpOffer,
        errors.BrowserSessionsUnavailable,
        statuses=(),
    ),
)
async def webrtc_offer(session_id: str, body: WebrtcOfferBody, request: Request) -> Envelope[WebrtcAnswer]:
    """The join page's signaling: authenticated by the session's single-use `token` (from POST /sessions/webrtc),
    not by an API key. The first valid offer spends the token (`JOIN_TOKEN_USED` afterwards; `JOIN_TOKEN_EXPIRED`
    after `expires_at`; `JOIN_TOKEN_INVALID` for any other token). Send the offer once ICE gathering is complete:
    the answer carries the server's candidates and there is no trickle ICE.
    """
    state = request.app.state
    answer = await browser_session.join_browser_session(
        state.ctx,
        getattr(state, "call_runtime_factory", None),
        state.browser_peers,
        session_id,
        body.token,
        body.sdp,
        body.type,
    )
    return ok(WebrtcAnswer(**answer))


@router.get("/{session_id}", summary="Get a session", responses=raises(statuses=()))
async def get_session(session_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[SessionOut]:
    """One conversation run by id (the `session_id` from /calls/start or /sessions/webrtc): transcript, latency,
    duration, cost, recording link, variables and extraction. `processing_complete` turns true once post-call
    work is done. A browser session has `call_id: null`.
    """
    session, call = await query.get_session(ctx, caller, session_id)
    return ok(SessionOut(**views.session_view(session, call)))
