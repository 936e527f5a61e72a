"""What happens when a carrier calls us: check it is really the carrier about a real call, then move the
call along. Used by the carrier-facing routes in api/telephony.py, which only speak HTTP/websocket.

Every request must carry the call's unguessable token; carriers that sign (Twilio, Plivo, Vobiz) must
also sign it with the account's auth token. A request failing either changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voxline.app_state import KnownCall
from voxline.calls import lifecycle
from voxline.context import Context
from voxline.core import call_limits, errors
from voxline.core.call_status import TERMINAL_STATUSES, CallStatus
from voxline.core.media import MediaChannel
from voxline.core.phone import InvalidPhoneNumber, parse_e164
from voxline.core.timefmt import utcnow
from voxline.dialer import carrier_ops, urls
from voxline.dialer.carrier_ops import CallControl, target
from voxline.store import agents as agent_store
from voxline.store import dial_queue as dq
from voxline.store.models import Call
from voxline.telephony.base import CarrierCredentials
from voxline.telephony.carrier import Carrier, CarrierError, CarrierRequest, StatusUpdate, transfer_support
from voxline.telephony.registry import carrier as carrier_for

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

log = logging.getLogger("voxline.telephony")
HANDSHAKE_TIMEOUT_SECS = 10.0


@dataclass
class Verified:
    call: KnownCall
    carrier: Carrier[Any]
    creds: CarrierCredentials
    token: str  # the call's token as the carrier presented it (the database keeps only its hash)


def token_matches(call: Call | KnownCall, token: str | None) -> bool:
    return urls.token_matches(call.callback_token_hash, token)


async def verify(ctx: Context, provider: str, call_id: str, token: str | None, request: CarrierRequest) -> Verified:
    carrier = carrier_for(provider)
    if carrier is None:
        raise errors.NotFound("No such carrier endpoint.")
    # Carriers call back a few times in quick succession: what authenticated the last one is kept a moment
    # (plain values, on this app's context; see app_state.RecentCalls).
    known = ctx.recent_calls.get(call_id)
    if known is None:
        async with ctx.db.transaction() as s:
            row = await dq.get_call(s, call_id)
            conn = await dq.get_connection(s, row.connection_id) if row and row.connection_id else None
        if row is None or conn is None:
            raise errors.NotFound("No such call.")
        creds = carrier_ops.target(ctx, row, conn).creds
        known = KnownCall(row.id, row.provider, row.session_id, row.callback_token_hash, creds)
    if known.provider != provider:
        raise errors.NotFound("No such call.")
    if not token_matches(known, token) or not carrier.verify(request, known.creds):
        log.warning("refused an unauthenticated %s callback for call %s", provider, call_id)
        raise errors.Forbidden("This request is not signed by the call's carrier.")
    ctx.recent_calls.remember(known)
    assert token is not None
    return Verified(known, carrier, known.creds, token)


async def status_callback(ctx: Context, v: Verified, params: Mapping[str, str]) -> None:
    update = v.carrier.parse_status(params)
    await apply_update(ctx, v.call.id, update)


async def apply_update(ctx: Context, call_id: str, update: StatusUpdate) -> None:
    await lifecycle.apply(
        ctx,
        call_id,
        lifecycle.Transition(
            update.status,
            carrier_call_id=update.carrier_call_id,
            answered_by=update.answered_by,
            duration_seconds=update.duration_seconds,
            error_message=update.error_message,
        ),
    )


async def answer(ctx: Context, v: Verified, params: Mapping[str, str]) -> str:
    """The answer document; asking twice gives the same document (carriers do ask twice)."""
    update = v.carrier.parse_status(params)
    await apply_update(
        ctx,
        v.call.id,
        StatusUpdate(CallStatus.IN_PROGRESS, carrier_call_id=update.carrier_call_id, answered_by=update.answered_by),
    )
    call_urls = urls.call_urls(ctx.settings, v.call.provider, v.call.id, v.call.session_id, v.token)
    return v.carrier.answer_document(call_urls, v.call.id, v.call.session_id)


def transfer_document(v: Verified, to_number: str | None) -> str:
    """The document a carrier fetches to run a transfer we asked for (the number is in our signed URL)."""
    transferring = transfer_support(v.carrier)
    if transferring is None:
        raise errors.NotFound("This carrier does not transfer calls.")
    try:
        number = parse_e164(to_number or "")
    except InvalidPhoneNumber:
        raise errors.NotFound("No transfer to that number.") from None
    return transferring.transfer_document(number)


async def open_media(
    ctx: Context,
    websocket: WebSocket,
    provider: str,
    session_id: str | None,
    *,
    path_token: str | None = None,
    flow_key: str | None = None,
) -> tuple[Call, MediaChannel]:
    """Read the carrier's handshake on an accepted websocket, check the call's token, build the channel.

    The call is named by the URL's session (its token in the URL's path or in the handshake), or, for a
    carrier flow that opens one fixed URL per connection (Exotel's Voicebot applet), by the carrier's own
    call id in the stream's start message, with the connection's flow key in the URL as the credential.
    Either way the stream's call id, when it names one, must be the call's.

    A call gets one media stream in its life: some carriers answer twice and open a second stream, which
    may reach another server process; two conversations would then both talk to the callee. The stream
    that takes the call's claim in the database wins, any other is refused (LookupError). The claim stays
    after the stream ends: the call is over then, or is hung up (see `settle_after_media`).
    """
    carrier = carrier_for(provider)
    assert carrier is not None
    async with ctx.db.read() as s:
        call = await dq.call_by_session(s, session_id) if session_id else None
        conn = await dq.get_connection(s, call.connection_id) if call and call.connection_id else None
    if session_id is not None and (call is None or conn is None or call.provider != provider):
        raise LookupError(f"no {provider} call for session {session_id}")
    handshake = await asyncio.wait_for(carrier.accept_media(websocket), HANDSHAKE_TIMEOUT_SECS)
    if call is None:
        call = await _flow_call(ctx, carrier, provider, handshake.carrier_call_id, flow_key)
        token: str | None = ""  # a flow URL carries the connection's key, not the call's token (nothing needs it)
    else:
        token = path_token or handshake.params.get("token") or websocket.query_params.get("token")
        if not token_matches(call, token):
            raise PermissionError("media stream without the call's token")
    if (
        getattr(carrier, "stream_names_call", True)
        and handshake.carrier_call_id
        and call.carrier_call_id
        and handshake.carrier_call_id != call.carrier_call_id
    ):
        raise PermissionError(f"the stream names carrier call {handshake.carrier_call_id}, not call {call.id}'s")
    if CallStatus(call.status) in TERMINAL_STATUSES:
        raise LookupError(f"call {call.id} has already ended")
    if not await carrier_reported_answered(ctx, call.id, carrier):
        raise PermissionError(f"call {call.id} has not been answered: no media stream before the answer")
    async with ctx.db.transaction() as s:
        claimed = await dq.claim_media(s, call.id, utcnow())
    if not claimed:
        async with ctx.db.transaction() as s:
            current = await dq.get_call(s, call.id)
        if current is None or CallStatus(current.status) in TERMINAL_STATUSES:
            raise LookupError(f"call {call.id} has already ended")
        raise LookupError(f"session {call.session_id} already has a media stream (duplicate answer)")
    try:
        applied = await lifecycle.apply(
            ctx, call.id, lifecycle.Transition(CallStatus.IN_PROGRESS, carrier_call_id=handshake.carrier_call_id)
        )
    except BaseException:
        await _release_media(ctx, call.id)
        raise
    if applied is None or CallStatus(applied.call.status) in TERMINAL_STATUSES:
        raise LookupError(f"call {call.id} ended while its media stream opened")
    accepted = getattr(carrier, "stream_accepted", None)
    if accepted is not None:  # carriers whose calls end on their stream (Exotel, MCube) hold it from now on
        accepted(websocket, handshake)
    channel = MediaChannel(
        websocket=websocket,
        serializer=handshake.serializer,
        wire_sample_rate=carrier.wire_sample_rate,
        provider=provider,
        call_id=call.id,
        session_id=call.session_id,
        answered_by=call.answered_by,
        control=CallControl(ctx, call.id, carrier, token=token or ""),
        extra={"stream_id": handshake.stream_id, "carrier_call_id": handshake.carrier_call_id, **handshake.extra},
    )
    return call, channel


FLOW_CALL_WAIT_SECS = 3.0  # the carrier may open the stream before our dialer has stored its call id


async def _flow_call(
    ctx: Context, carrier: Carrier[Any], provider: str, carrier_call_id: str | None, flow_key: str | None
) -> Call:
    """The call a fixed-URL stream belongs to: found by the carrier's call id, and only when the URL's key
    is the one derived for that call's connection (see the carrier's `flow_key`)."""
    keyed = getattr(carrier, "flow_key", None)
    if keyed is None or not flow_key or not carrier_call_id:
        raise LookupError("the media handshake names no known call")
    deadline = time.monotonic() + FLOW_CALL_WAIT_SECS
    while True:
        async with ctx.db.transaction() as s:
            call = await dq.call_by_carrier_id(s, provider, carrier_call_id)
            conn = await dq.get_connection(s, call.connection_id) if call and call.connection_id else None
        if call is not None and conn is not None:
            break
        if time.monotonic() > deadline:
            raise LookupError(f"no {provider} call {carrier_call_id}")
        await asyncio.sleep(0.1)
    if not hmac.compare_digest(keyed(target(ctx, call, conn).creds), flow_key):
        raise PermissionError("media stream with another connection's key")
    return call


def status_reply(ctx: Context, v: Verified, params: Mapping[str, str], token: str) -> dict[str, Any] | None:
    """The body a carrier expects back from its status URL (MCube asks its `refurl` for the websocket URL),
    or None for the usual empty answer. `token` is the call's token this request was verified with."""
    replying = getattr(v.carrier, "status_reply", None)
    if replying is None:
        return None
    call_urls = urls.call_urls(ctx.settings, v.call.provider, v.call.id, v.call.session_id, token)
    return replying(params, call_urls)


async def carrier_reported_answered(ctx: Context, call_id: str, carrier: Carrier[Any] | None = None) -> bool:
    """Has the call's carrier reported the callee answered? Only then is a media stream accepted: a stream
    for a queued or ringing call is refused before it changes anything (no claim, no start, no greeting).

    The event that proves the answer, per carrier:
    - Twilio, Plivo, Vobiz: the carrier fetches our answer URL only once the callee has answered (signed by
      Twilio and Plivo), and `answer` moves the call to in progress before it returns the document that
      names the media websocket. A genuine stream therefore always finds its call in progress.
    - Exotel: the voicebot applet runs only in an answered call, and we subscribe to its "answered" status
      callback (`StatusCallbackEvents`); MCube reports `ANSWER` to the call's `refurl`. Neither documents
      that this callback arrives before the stream opens, and Exotel's delivery may be late: when the call
      is not yet in progress here, we ask the carrier's REST API (with our account's credentials, which no
      outsider can answer for) and record its answer when it says the call is in progress. A flow's
      Voicebot stream (found by its `start.call_sid`) usually arrives before the "answered" callback: the
      REST answer is what proves it then.
    - MCube: per the integration we follow, MCube reports `ANSWER` only together with the call's end
      (`endTime`), and it documents no status API; what precedes its stream is the refurl request with
      `dialStatus` CONNECTING (the call's token in the URL), answered with the websocket URL. That request
      is MCube's equivalent of the answer-URL fetch: it moves the call to ringing (not in progress, since
      BUSY, CANCEL or NOANSWER may still follow), and a stream is accepted only after it. A stream for a
      call MCube has not asked to connect (still pending) is refused, like any stream before the answer.
    """
    async with ctx.db.transaction() as s:
        call = await dq.get_call(s, call_id)
    if call is None:
        return False
    status = CallStatus(call.status)
    if status is CallStatus.IN_PROGRESS:
        return True
    if status in TERMINAL_STATUSES:
        return False
    if getattr(carrier, "stream_follows_connecting", False):
        return status is CallStatus.RINGING  # moved there only by the carrier's authenticated CONNECTING
    try:
        update = await carrier_ops.fetch_status(ctx, call)
    except CarrierError as exc:
        ctx.meters.carrier_errors.labels(call.provider).inc()
        log.warning("could not ask the carrier whether call %s was answered: %s", call_id, exc.message)
        return False
    if update is None or update.status is not CallStatus.IN_PROGRESS:
        return False
    await apply_update(ctx, call_id, update)
    return True


async def _release_media(ctx: Context, call_id: str) -> None:
    """The stream won the claim but the call could not be moved to in progress: let a retry have it."""
    try:
        async with ctx.db.transaction() as s:
            await dq.release_media(s, call_id)
    except Exception:
        log.exception("could not release the media claim of call %s", call_id)


async def max_call_secs(ctx: Context, call: Call) -> float:
    async with ctx.db.read() as s:
        agent = await agent_store.get(s, call.partner_id, call.agent_id)
    agent_max = agent.max_call_duration_secs if agent is not None else None
    return float(call_limits.max_call_secs(ctx.settings.default_max_call_secs, agent_max))


async def wait_until_ended(ctx: Context, call_id: str, poll_secs: float = 5.0) -> None:
    """Return once the call is over: at once when this process ended it, else by polling now and then."""
    event = ctx.ended.event(call_id)
    try:
        while True:
            async with ctx.db.transaction() as s:
                call = await dq.get_call(s, call_id)
            if call is None or CallStatus(call.status) in TERMINAL_STATUSES:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), poll_secs)
    finally:
        ctx.ended.forget(call_id)


async def wait_after_transfer(ctx: Context, call_id: str, max_secs: float) -> None:
    """A transferred call goes on without us until the carrier reports its end: keep holding it till then
    (never hang up on the callee and the colleague), bounded by the call's maximum duration."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wait_until_ended(ctx, call_id), max_secs)


async def end_without_runtime(ctx: Context, call_id: str) -> None:
    reason = "No conversation runtime is installed on this server."
    applied = await lifecycle.apply(ctx, call_id, lifecycle.Transition(CallStatus.FAILED, error_message=reason))
    if applied is not None:
        await carrier_ops.hang_up(ctx, applied.call)


async def settle_after_media(ctx: Context, call_id: str, wait_secs: float) -> None:
    """The conversation ended: give the carrier a moment to report the end, else hang up and end it here."""
    for attempt in range(2):
        deadline = asyncio.get_running_loop().time() + wait_secs
        while asyncio.get_running_loop().time() < deadline:
            async with ctx.db.transaction() as s:
                call = await dq.get_call(s, call_id)
            if call is None or CallStatus(call.status) in TERMINAL_STATUSES:
                return
            await asyncio.sleep(0.1)
        if attempt == 0 and call is not None:  # (None returned above; the loop may not have run at all)
            await carrier_ops.hang_up(ctx, call)
    await lifecycle.apply(
        ctx,
        call_id,
        lifecycle.Transition(CallStatus.COMPLETED, error_message="The carrier did not report the end of the call."),
    )
