"""Finishing a session: the one way a conversation ends, whatever ended it.

It writes the session's final state and the session.completed event in one transaction, so the event
(and later its webhook deliveries) exists if and only if the session is finished. Finishing twice is a no-op.
"""

from __future__ import annotations

from voxline.calls.views import completed_event_data
from voxline.context import Context
from voxline.core.call_status import AnsweredBy, CallStatus, Disposition
from voxline.core.ids import new_id
from voxline.core.keys import LIVE
from voxline.core.session_sink import SessionOutcome
from voxline.core.timefmt import iso, utcnow
from voxline.store import calls as store
from voxline.store.models import SessionEvent
from voxline.webhooks import outbox

SESSION_COMPLETED = "session.completed"


async def finish_session(ctx: Context, session_id: str, outcome: SessionOutcome) -> SessionEvent | None:
    """Finalize the session and emit session.completed; returns None when it was already finished."""
    now = utcnow()
    async with ctx.db.transaction() as s:
        session = await store.get_session_by_id(s, session_id, for_update=True)
        if session is None:
            raise LookupError(f"no session {session_id}")
        if session.processing_complete:  # finished already (or by a racing finisher we waited for)
            return None
        session.status = CallStatus(outcome.status).value
        session.transcript = outcome.transcript
        session.latency = outcome.latency
        session.duration_seconds = outcome.duration_seconds
        session.credits_used = outcome.credits_used
        session.recording_path = outcome.recording_path
        session.extraction = outcome.extraction
        session.started_at = outcome.started_at or session.started_at
        session.ended_at = outcome.ended_at or now
        session.processing_complete = True
        session.pipeline_completed_at = now
        call = await store.get_call_by_id(s, session.call_id) if session.call_id else None
        if call is not None:
            if outcome.disposition is not None:
                call.disposition = Disposition(outcome.disposition).value
            if outcome.answered_by is not None:
                call.answered_by = AnsweredBy(outcome.answered_by).value
            if outcome.duration_seconds is not None and call.duration_seconds is None:
                call.duration_seconds = outcome.duration_seconds
        event = SessionEvent(
            id=new_id(),
            partner_id=session.partner_id,
            mode=session.mode,  # decides which endpoints get it: the session's mode's only
            session_id=session.id,
            event_type=SESSION_COMPLETED,
            payload={
                "event": SESSION_COMPLETED,
                "timestamp": iso(now),
                # As Stripe's events: tells a receiver shared by both modes which world this came from.
                "livemode": session.mode == LIVE,
                "data": completed_event_data(session, call),
            },
            created_at=now,
        )
        if await store.add_event(s, event):
            # Same transaction: the event's webhook deliveries exist if and only if the session is finished.
            await outbox.enqueue(ctx.outbox, s, event)
    ctx.outbox.wake()
    return event


class SessionFiler:
    """The `SessionSink` a conversation runtime hands its outcome to: files it with `finish_session`."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def file(self, session_id: str, outcome: SessionOutcome) -> None:
        await finish_session(self._ctx, session_id, outcome)
