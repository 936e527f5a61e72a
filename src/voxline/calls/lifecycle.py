"""A call's status changes: every carrier callback, dial failure, cancel and reconciliation lands here.

Moves are checked by `core.call_status.can_move`, so late or repeated callbacks change nothing. A move
to a final status fills disposition, answered_by, ended_at and duration, releases the dial-queue row,
and (for a call that never connected) finishes its session at once so session.completed is emitted;
a connected call's session is filed by its conversation, or by the reaper after a grace period.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from voxline.calls.finish import finish_session
from voxline.context import Context
from voxline.core.call_outcome import disposition_for, duration_between, final_answered_by
from voxline.core.call_status import TERMINAL_STATUSES, AnsweredBy, CallStatus, can_move
from voxline.core.session_sink import SessionOutcome
from voxline.core.timefmt import utcnow
from voxline.store import dial_queue as dq
from voxline.store.models import Call


@dataclass(frozen=True)
class Transition:
    status: CallStatus | None
    carrier_call_id: str | None = None
    answered_by: AnsweredBy | None = None
    duration_seconds: int | None = None
    error_message: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Applied:
    call: Call
    moved: bool
    previous: CallStatus

    @property
    def ended(self) -> bool:
        return self.moved and CallStatus(self.call.status) in TERMINAL_STATUSES


async def apply(
    ctx: Context, call_id: str, t: Transition, *, only_from: Collection[CallStatus] | None = None
) -> Applied | None:
    """Apply what a carrier (or we) said about a call; returns None for an unknown call."""
    async with ctx.db.transaction() as s:
        call = await dq.lock_call(s, call_id)
        if call is None:
            return None
        current = CallStatus(call.status)
        now = t.at or utcnow()
        if t.carrier_call_id:
            # The carrier's latest name for the call (Plivo answers create with a request id, then
            # calls back with the call's own UUID, which is what hang-up needs).
            call.carrier_call_id = t.carrier_call_id
        if t.answered_by and t.answered_by is not AnsweredBy.NOT_ANSWERED and current not in TERMINAL_STATUSES:
            call.answered_by = t.answered_by.value
        target = t.status
        moved = (
            target is not None
            and target is not current
            and can_move(current, target)
            and (only_from is None or current in only_from)
        )
        if moved:
            assert target is not None
            if target is CallStatus.IN_PROGRESS:
                call.started_at = call.started_at or now
            if target in TERMINAL_STATUSES:
                _end(call, target, t, now)
                job = await dq.job_for_call(s, call.id, lock=True)
                if job is not None and job.status in (dq.QUEUED, *dq.HELD):
                    job.status = dq.CANCELED if target is CallStatus.CANCELED else dq.DONE
                    job.claimed_until = None
            call.status = target.value
        call.updated_at = utcnow()
        await dq.flush(s)
    applied = Applied(call, moved, current)
    if applied.ended:
        ctx.ended.ended(call_id)  # this app's media edge of the call closes its stream now
    if applied.ended and call.started_at is None:
        await finish_unconnected(ctx, call)
    return applied


def _end(call: Call, target: CallStatus, t: Transition, now: datetime) -> None:
    if target is CallStatus.COMPLETED and call.started_at is None:
        # The "answered" callback was lost: the carrier's duration tells when the call began.
        call.started_at = now - timedelta(seconds=t.duration_seconds or 0)
    answered = call.started_at is not None
    verdict = AnsweredBy(call.answered_by) if call.answered_by else None
    who = final_answered_by(answered, verdict)
    call.answered_by = who.value
    if not (target is CallStatus.COMPLETED and call.disposition):
        # A conversation that already filed a finer outcome (voicemail, user_hangup_no_speech) keeps it.
        call.disposition = disposition_for(target, who).value
    call.ended_at = now
    if answered and t.duration_seconds is not None:
        call.duration_seconds = t.duration_seconds
    else:
        call.duration_seconds = duration_between(call.started_at, now)
    if t.error_message:
        call.error_message = t.error_message[:2000]


async def finish_unconnected(ctx: Context, call: Call) -> None:
    """File the session of a call that ended without a conversation (or whose conversation never filed it)."""
    await finish_session(
        ctx,
        call.session_id,
        SessionOutcome(
            status=CallStatus(call.status),
            duration_seconds=call.duration_seconds or 0,
            started_at=call.started_at,
            ended_at=call.ended_at,
        ),
    )
