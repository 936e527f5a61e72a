"""Place one claimed call: build the request, send it, and record what the carrier said.

A transient refusal (carrier unreachable, 429, 502, 503) puts the row back in the queue with backoff,
a bounded number of times; anything else ends the call `failed` with the carrier's words. A call
canceled while its create-call request was in flight is hung up as soon as the carrier names it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx

from voxline.calls import lifecycle
from voxline.calls import plan as call_plan
from voxline.context import Context
from voxline.core import call_limits
from voxline.core.call_status import CallStatus
from voxline.core.log_context import log_context
from voxline.core.timefmt import utcnow
from voxline.dialer import carrier_ops
from voxline.dialer.urls import call_urls
from voxline.safety import gate as safety_gate
from voxline.store import dial_queue as dq
from voxline.store.dial_queue import Claimed
from voxline.telephony.carrier import CarrierError, DialRequest

log = logging.getLogger("voxline.dialer")


async def dial(ctx: Context, http: httpx.AsyncClient, claimed: Claimed) -> None:
    with log_context(claimed.call.id, claimed.call.session_id):
        await _dial(ctx, http, claimed)


async def _dial(ctx: Context, http: httpx.AsyncClient, claimed: Claimed) -> None:
    verdict = await safety_gate.admit_dial(ctx, claimed)  # do-not-call and calling hours, again at dial time
    if verdict is safety_gate.DialVerdict.LISTED:
        transition = lifecycle.Transition(CallStatus.CANCELED, error_message=safety_gate.DNC_REASON)
        await lifecycle.apply(ctx, claimed.call.id, transition)
        return
    if verdict is not safety_gate.DialVerdict.DIAL:
        return
    call, conn = claimed.call, claimed.connection
    settings = ctx.settings
    ctx.leases.hold(call.id)
    try:
        target = carrier_ops.target(ctx, call, conn)
        agent, partner = claimed.agent, claimed.partner
        amd = bool(partner.voicemail_detection_enabled and agent and agent.voicemail_detection_enabled)
        max_secs = call_limits.max_call_secs(
            settings.default_max_call_secs, agent.max_call_duration_secs if agent is not None else None
        )
        req = DialRequest(
            call_id=call.id,
            session_id=call.session_id,
            to_number=call.to_number,
            from_number=call.from_number or conn.from_number or "",
            urls=call_urls(settings, call.provider, call.id, call.session_id, claimed.token),
            machine_detection=amd,
            ring_timeout_secs=int(settings.ring_timeout_secs),
            # The carrier's own time limit is the hard cap, past the runtime's farewell at the maximum.
            max_duration_secs=call_limits.hard_cap_secs(max_secs, settings.carrier_hangup_grace_secs),
        )
        delay = (call.dialed_at - utcnow()).total_seconds() if call.dialed_at else 0.0
        if delay > 0:  # the pacing slot this call was given at claim time
            await asyncio.sleep(delay)
        # Read the conversation's plan while the phone rings: when the callee answers, the greeting waits
        # for no database (under load, a read at that moment can take seconds on SQLite).
        call_plan.prefetch(ctx, call.session_id)
        carrier_call_id = await target.carrier.create_call(http, target.base, target.creds, req)
    except CarrierError as exc:
        ctx.leases.release(call.id)
        await _refused(ctx, claimed, exc)
        return
    except Exception as exc:  # a bug or a database fault: end the call with a reason, never leave it claimed
        ctx.leases.release(call.id)
        log.exception("dialing call %s failed", call.id)
        reason = f"dialer error: {exc.__class__.__name__}"
        await lifecycle.apply(ctx, call.id, lifecycle.Transition(CallStatus.FAILED, error_message=reason))
        return
    await _placed(ctx, claimed, carrier_call_id, target)


async def _placed(ctx: Context, claimed: Claimed, carrier_call_id: str, target: carrier_ops.Target) -> None:
    async with ctx.db.transaction() as s:
        call = await dq.lock_call(s, claimed.call.id)
        job = await dq.job_for_call(s, claimed.call.id, lock=True)
        assert call is not None
        call.carrier_call_id = call.carrier_call_id or carrier_call_id
        # Canceled while the request was in flight: the carrier has a live call we no longer want. (A call
        # the carrier itself already ended, busy or failed, needs nothing.)
        ended = CallStatus(call.status) is CallStatus.CANCELED
        if job is not None and job.status == dq.DIALING:
            job.status = dq.LIVE
        call.updated_at = utcnow()
    if ended:
        ctx.leases.release(call.id)
        await carrier_ops.hang_up(ctx, call)


async def _refused(ctx: Context, claimed: Claimed, exc: CarrierError) -> None:
    settings = ctx.settings
    ctx.meters.carrier_errors.labels(claimed.call.provider).inc()
    job = claimed.job
    if exc.retryable and job.attempts < settings.dialer_max_attempts:
        delay = settings.dialer_retry_base_secs * (2 ** (job.attempts - 1))
        async with ctx.db.transaction() as s:
            row = await dq.job_for_call(s, claimed.call.id, lock=True)
            if row is not None and row.status == dq.DIALING:
                row.status = dq.QUEUED
                row.available_at = utcnow() + timedelta(seconds=delay)
                row.claimed_by = None
                row.claimed_until = None
                row.last_error = exc.message[:2000]
                return
    log.info("call %s failed at the carrier: %s", claimed.call.id, exc.message)
    async with ctx.db.transaction() as s:
        row = await dq.job_for_call(s, claimed.call.id, lock=True)
        if row is not None:
            row.last_error = exc.message[:2000]
    await lifecycle.apply(ctx, claimed.call.id, lifecycle.Transition(CallStatus.FAILED, error_message=exc.message))
