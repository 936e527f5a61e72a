"""Nothing stays stuck: unanswered calls end at the ring timeout, calls whose process died are
reconciled with the carrier, and ended calls whose conversation never filed a session get one.

Recovery never redials: a call whose create-call request was in flight when its process died may or
may not have been placed, so it ends `failed` with that reason instead of risking a second ring.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from voxline.calls import lifecycle
from voxline.context import Context
from voxline.core.call_status import TERMINAL_STATUSES, CallStatus
from voxline.core.timefmt import utcnow
from voxline.dialer import carrier_ops
from voxline.store import dial_queue as dq
from voxline.store.models import Call, DialJob
from voxline.telephony.carrier import CarrierError

log = logging.getLogger("voxline.dialer")

LOST_WHILE_DIALING = (
    "The server stopped while placing this call; it was not redialed so that the person is never called twice."
)
LOST_MID_CALL = "The server holding this call stopped; the call was ended when the server restarted."


async def sweep(ctx: Context) -> None:
    await reconcile_expired(ctx)
    await end_unanswered(ctx)
    await file_missing_sessions(ctx)


async def reconcile_expired(ctx: Context) -> int:
    now = utcnow()
    async with ctx.db.transaction() as s:
        rows = await dq.expired(s, now)
        # Take them over first, so two processes never reconcile the same call.
        until = now + timedelta(seconds=ctx.settings.dialer_lease_secs)
        await dq.take_over(s, [job for job, _ in rows], ctx.leases.worker_id, until)
    for job, call in rows:
        try:
            await _reconcile(ctx, job, call)
        except Exception:
            log.exception("reconciling call %s failed", call.id)
    return len(rows)


async def _reconcile(ctx: Context, job: DialJob, call: Call) -> None:
    if CallStatus(call.status) in TERMINAL_STATUSES:
        return
    if job.status == dq.DIALING or not call.carrier_call_id:
        await _end(ctx, call, CallStatus.FAILED, LOST_WHILE_DIALING)
        return
    try:
        seen = await carrier_ops.fetch_status(ctx, call)
    except CarrierError as exc:
        await carrier_ops.hang_up(ctx, call)
        await _end(ctx, call, CallStatus.FAILED, f"{LOST_MID_CALL} The carrier could not be asked: {exc.message}")
        return
    if seen is None:
        await _end(ctx, call, CallStatus.FAILED, f"{LOST_MID_CALL} The carrier has no record of it.")
        return
    if seen.status in TERMINAL_STATUSES:
        await lifecycle.apply(
            ctx,
            call.id,
            lifecycle.Transition(
                seen.status,
                answered_by=seen.answered_by,
                duration_seconds=seen.duration_seconds,
                error_message=seen.error_message,
            ),
        )
        return
    if seen.status in (CallStatus.PENDING, CallStatus.RINGING):
        ctx.leases.hold(call.id)  # still ringing: ours now; the ring timeout or the carrier ends it
        return
    # In progress at the carrier, but nobody holds its audio any more: stop the bill.
    await carrier_ops.hang_up(ctx, call)
    await _end(ctx, call, CallStatus.FAILED, LOST_MID_CALL)


async def _end(ctx: Context, call: Call, status: CallStatus, reason: str) -> None:
    await lifecycle.apply(ctx, call.id, lifecycle.Transition(status, error_message=reason))


async def end_unanswered(ctx: Context) -> int:
    timeout = ctx.settings.ring_timeout_secs
    async with ctx.db.transaction() as s:
        overdue = await dq.ring_overdue(s, utcnow() - timedelta(seconds=timeout))
    for call in overdue:
        await carrier_ops.hang_up(ctx, call)
        await lifecycle.apply(
            ctx,
            call.id,
            lifecycle.Transition(CallStatus.NO_ANSWER, error_message=f"Not answered within {int(timeout)} s."),
            only_from=(CallStatus.PENDING, CallStatus.RINGING),
        )
    return len(overdue)


async def file_missing_sessions(ctx: Context) -> int:
    grace = ctx.settings.session_finish_grace_secs
    async with ctx.db.transaction() as s:
        calls = await dq.unfinished_sessions(s, utcnow() - timedelta(seconds=grace))
    for call in calls:
        await lifecycle.finish_unconnected(ctx, call)
    return len(calls)
