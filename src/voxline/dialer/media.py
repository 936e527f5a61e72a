"""One call's media stream, from the carrier's websocket to the end of the call: the media lifecycle.

The carrier-facing route (api/telephony.py) hands us the websocket; here the stream is authenticated and
claimed (dialer/edge.py), the call is owned by this process while it lasts, a `CallRuntime` holds the
conversation, the call's hard cap is enforced, and the call is settled with its carrier afterwards.
Which runtime holds a call is the app's choice (`Runtimes`, made in app.py): the dialer imports none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.websockets import WebSocketDisconnect, WebSocketState

from voxline.context import Context
from voxline.core import call_limits
from voxline.core.log_context import log_context
from voxline.core.media import CallRuntime, MediaChannel
from voxline.dialer import edge
from voxline.dialer.carrier_ops import CallControl
from voxline.store.models import Call
from voxline.telephony.carrier import CarrierError
from voxline.telephony.registry import carrier as carrier_for

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

log = logging.getLogger("voxline.telephony")

RUNTIME_WRAP_UP_SECS = 120.0


@dataclass(frozen=True)
class Runtimes:
    """Which runtime holds a connected call: the app's conversation when it has one (called with the
    context); without one, sandbox calls get the sandbox's stand-in and live calls none at all."""

    conversation: Callable[[Context], CallRuntime] | None = None
    sandbox: Callable[[], CallRuntime] | None = None

    def pick(self, ctx: Context, sandbox: bool) -> CallRuntime | None:
        if self.conversation is not None:
            return self.conversation(ctx)
        if sandbox and self.sandbox is not None:
            return self.sandbox()
        return None


async def serve(
    ctx: Context,
    websocket: WebSocket,
    provider: str,
    session_id: str | None,
    runtimes: Runtimes,
    *,
    path_token: str | None = None,
    flow_key: str | None = None,
) -> None:
    """Hold one carrier media stream until its call is over (see api/telephony.py for the three URLs)."""
    if carrier_for(provider) is None:
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
    # Counted against this process's room until then, even over its ceiling: the claim admitted the call.
    ctx.leases.hold(call.id)
    ctx.admission.media_started(call.id)
    try:
        with log_context(call_id=call.id, session_id=call.session_id):
            await _hold(ctx, websocket, call, channel, runtimes.pick(ctx, call.sandbox))
    finally:
        ctx.leases.release(call.id)
        ctx.admission.media_ended(call.id)


async def _hold(
    ctx: Context, websocket: WebSocket, call: Call, channel: MediaChannel, runtime: CallRuntime | None
) -> None:
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
            log.info(
                "call %s ran past its maximum duration (%s s) and the runtime's wrap-up; hanging up", call.id, max_secs
            )
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
    # The edge built this channel's control (dialer/edge.open_media): it knows whether a transfer happened.
    if isinstance(channel.control, CallControl) and channel.control.transferred_to:
        await edge.wait_after_transfer(ctx, call.id, max_secs)
    await edge.settle_after_media(ctx, call.id, ctx.settings.carrier_hangup_grace_secs)
