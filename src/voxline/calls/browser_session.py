"""The browser test call (POST /sessions/webrtc): talk to an agent from a browser, before dialing anyone.

Starting one writes a session without a call and a single-use join ticket, under the same concurrency
limit as calls (the partner's lock, then one count of calls and browser sessions). The join page posts its
SDP offer with the token; the token is spent once, the answer goes back, and the conversation runs on the
browser's WebRTC peer with the very runtime phone calls use. It files the session as a call's would, so
the same session.completed goes out (without `call`) and GET /sessions/{id} shows the transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from voxline.calls.finish import finish_session
from voxline.calls.start import pending_session, string_values
from voxline.context import Context
from voxline.core import errors
from voxline.core.call_limits import concurrency_limit, hard_cap_secs
from voxline.core.call_status import ACTIVE_STATUSES, CallStatus
from voxline.core.ids import is_uuid, new_id
from voxline.core.keys import TEST
from voxline.core.media import CallRuntime, MediaChannel
from voxline.core.principal import Principal
from voxline.core.session_sink import SessionOutcome
from voxline.core.timefmt import utcnow
from voxline.store import agents as agent_store
from voxline.store import calls as call_store
from voxline.store import partners as partner_store
from voxline.store import webrtc_joins as webrtc_store

if TYPE_CHECKING:
    from types import ModuleType

log = logging.getLogger("voxline.calls")

JOIN_TOKEN_TTL_SECS = 300  # the page is opened at once by whoever started the session; minutes are plenty
CONNECT_TIMEOUT_SECS = 30.0  # from the answer to a connected peer (ICE + DTLS take well under a second)
WRAP_UP_SECS = 120.0  # the conversation files its session after the audio stops: wait that long, never forever
JOIN_PATH = "/talk/{session_id}"
_ACTIVE = [s.value for s in ACTIVE_STATUSES]


@dataclass(frozen=True)
class BrowserSessionStarted:
    session_id: str
    agent_id: str
    join_url: str  # this server's join page for the session (Vocobase's `daily_room_url`)
    token: str  # the single-use join token (Vocobase's `daily_token`); only its hash is stored
    expires_at: datetime | None = None  # when the token stops admitting the browser

    @property
    def link(self) -> str:
        """The page with the token in its fragment: browsers never send a fragment to the server, so the
        token stays out of access logs, proxies and Referer headers."""
        return f"{self.join_url}#token={self.token}"


def _webrtc() -> ModuleType:
    """The WebRTC edge, loaded when a browser first joins (aiortc is not needed to serve anything else)."""
    from voxline.voice import webrtc_channel

    return webrtc_channel


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ice_servers(ctx: Context) -> list[str]:
    """The STUN servers the server's peer and the join page use (none: host addresses only)."""
    return [url for url in ctx.settings.webrtc_ice_servers.split(",") if url]


def join_url(ctx: Context, session_id: str) -> str:
    return ctx.settings.public_base_url.rstrip("/") + JOIN_PATH.format(session_id=session_id)


async def start_browser_session(
    ctx: Context, principal: Principal, agent_id: str, variables: dict[str, Any] | None
) -> BrowserSessionStarted:
    """A session of `agent_id` for a browser, counted against the key's mode's concurrency limit."""
    partner_id, mode = principal.partner_id, principal.mode
    variables = dict(variables or {})
    now = utcnow()
    clock_now = ctx.clock()
    expires_at = clock_now + timedelta(seconds=JOIN_TOKEN_TTL_SECS)
    token = secrets.token_urlsafe(32)
    async with ctx.db.transaction() as s:
        agent = await agent_store.for_call(s, partner_id, agent_id) if is_uuid(agent_id) else None
        if agent is None:
            raise errors.AgentNotFound()
        values = string_values(variables, list(agent.variables))
        session_id = new_id()
        session = pending_session(session_id, principal, agent, None, values, variables, now)
        join = {
            "session_id": session_id,
            "partner_id": partner_id,
            "mode": mode,
            "token_hash": token_hash(token),
            "expires_at": expires_at,
            "used_at": None,
            "active_until": expires_at,  # holds a line while the browser may still join
            "created_at": now,
        }
        await webrtc_store.insert_browser_session(s, session, join)
        # Last, as /calls/start: the partner's lock, then one count of its calls and browser sessions.
        live_limit, sandbox_limit = await partner_store.lock_concurrency_limits(s, partner_id)
        limit = concurrency_limit(mode, live_limit, sandbox_limit, ctx.settings.sandbox_concurrency)
        active = await call_store.count_active(s, partner_id, mode, _ACTIVE, cap=limit + 1)
        active += await webrtc_store.count_active(s, partner_id, mode, clock_now)
        if active > limit:
            which = "Sandbox concurrency" if mode == TEST else "Concurrency"
            raise errors.ConcurrencyLimit(
                f"{which} limit reached: {limit} calls and browser sessions are already active. "
                "Retry when one ends (see GET /calls/concurrency).",
                headers={"Retry-After": "5"},
            )
    return BrowserSessionStarted(session_id, agent.id, join_url(ctx, session_id), token, expires_at)


async def close_unjoined(ctx: Context, batch: int = 100) -> int:
    """Sessions whose token expired unused end `canceled`, as a call nobody answered ends: their
    session.completed goes out (empty transcript) and the line is released. Returns how many."""
    async with ctx.db.transaction() as s:
        expired = await webrtc_store.expired_unjoined(s, ctx.clock(), batch)
    for session_id in expired:
        await finish_session(ctx, session_id, SessionOutcome(status=CallStatus.CANCELED, ended_at=utcnow()))
        async with ctx.db.transaction() as s:
            await webrtc_store.release(s, session_id)
    return len(expired)


class BrowserPeers:
    """The conversations this process holds for browsers: kept referenced while they run, ended at shutdown
    (each still files its session: the runtime finalizes on cancellation)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _check_ticket(row: Any, presented: str, now: datetime) -> None:
    """Which of the join errors applies. Someone without the token learns nothing about the session."""
    if row is None or not hmac.compare_digest(row.token_hash, token_hash(presented)):
        raise errors.JoinTokenInvalid()
    if row.used_at is not None:
        raise errors.JoinTokenUsed()
    if row.expires_at <= now:
        raise errors.JoinTokenExpired()


async def join_browser_session(
    ctx: Context,
    runtime_factory: Callable[[Context], CallRuntime] | None,
    peers: BrowserPeers,
    session_id: str,
    token: str,
    sdp: str,
    sdp_type: str,
) -> dict[str, str]:
    """Spend the join token on the browser's offer and answer it; the conversation then runs in `peers`."""
    if not is_uuid(session_id):
        raise errors.JoinTokenInvalid()
    async with ctx.db.transaction() as s:
        _check_ticket(await webrtc_store.get(s, session_id), token, ctx.clock())
    if runtime_factory is None:
        raise errors.BrowserSessionsUnavailable()
    if sdp_type != "offer" or "m=audio" not in sdp:
        raise errors.InvalidSdpOffer("The body must carry the browser's SDP offer (type 'offer') with an audio track.")
    try:
        peer, answer = await _webrtc().answer_offer(sdp, sdp_type, ice_servers(ctx))
    except Exception as exc:  # noqa: BLE001 - aiortc rejects a malformed offer with assorted errors
        raise errors.InvalidSdpOffer(f"The SDP offer could not be answered: {type(exc).__name__}.") from None
    now = ctx.clock()
    # The line is held until the hard cap at most (released as soon as the conversation is filed).
    cap = hard_cap_secs(ctx.settings.default_max_call_secs, ctx.settings.carrier_hangup_grace_secs)
    try:
        runtime = runtime_factory(ctx)
        async with ctx.db.transaction() as s:
            if not await webrtc_store.spend(s, session_id, token_hash(token), now, now + timedelta(seconds=cap)):
                # Another offer with this token won the race, or it expired in between.
                _check_ticket(await webrtc_store.get(s, session_id), token, now)
                raise errors.JoinTokenUsed()
            session = await call_store.get_session_by_id(s, session_id)
            assert session is not None, "a join ticket is written with its session"
            session.status = CallStatus.IN_PROGRESS.value
            session.started_at = utcnow()
    except BaseException:
        await _webrtc().close(peer)
        raise
    peers.start(_hold(ctx, runtime, peer, session_id, cap))
    return answer


async def _hold(ctx: Context, runtime: CallRuntime, peer: Any, session_id: str, cap_secs: int) -> None:
    """Run the conversation on the peer until either side ends it or the hard cap; then free the line."""
    conversation: asyncio.Task[None] | None = None
    try:
        if not await _webrtc().wait_connected(peer, CONNECT_TIMEOUT_SECS):
            log.info("browser session %s: the peer never connected", session_id)
            now = utcnow()
            await finish_session(ctx, session_id, SessionOutcome(status=CallStatus.FAILED, ended_at=now))
            return
        channel = MediaChannel(
            websocket=None,
            serializer=None,
            wire_sample_rate=48000,  # Opus in the browser; the transport hands the pipeline its own rates
            provider="webrtc",
            call_id="",
            session_id=session_id,
            peer=peer,
        )
        conversation = asyncio.create_task(runtime.run(channel))
        done, _ = await asyncio.wait({conversation}, timeout=cap_secs)
        if not done:
            log.info("browser session %s ran past its hard cap; closing the peer", session_id)
            await _webrtc().close(peer)
            await asyncio.wait({conversation}, timeout=WRAP_UP_SECS)
        if conversation.done() and not conversation.cancelled() and conversation.exception() is not None:
            log.error("the conversation of browser session %s failed", session_id, exc_info=conversation.exception())
            # It never filed the session (e.g. its plan could not be read): end it here (a no-op if it did).
            await finish_session(ctx, session_id, SessionOutcome(status=CallStatus.FAILED, ended_at=utcnow()))
    except asyncio.CancelledError:
        if conversation is None:  # a shutdown before the conversation began: the session still ends
            outcome = SessionOutcome(status=CallStatus.FAILED, ended_at=utcnow())
            with contextlib.suppress(Exception):
                await asyncio.shield(finish_session(ctx, session_id, outcome))
        raise
    finally:
        if conversation is not None and not conversation.done():
            conversation.cancel()  # a shutdown, or a runtime that outlived its wrap-up: it still files the session
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await conversation
        await _webrtc().close(peer)
        with contextlib.suppress(Exception):
            async with ctx.db.transaction() as s:
                await webrtc_store.release(s, session_id)
