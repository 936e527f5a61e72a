"""Call statuses, dispositions and who answered: the v2 vocabulary and the legal moves between statuses."""

from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    PENDING = "pending"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CANCELED = "canceled"


ACTIVE_STATUSES: tuple[CallStatus, ...] = (CallStatus.PENDING, CallStatus.RINGING, CallStatus.IN_PROGRESS)
TERMINAL_STATUSES: tuple[CallStatus, ...] = (
    CallStatus.COMPLETED,
    CallStatus.FAILED,
    CallStatus.NO_ANSWER,
    CallStatus.BUSY,
    CallStatus.CANCELED,
)


class Disposition(StrEnum):
    COMPLETED = "completed"
    VOICEMAIL = "voicemail"
    OPTED_OUT = "opted_out"  # the callee asked never to be called again (safety/opt_out.py)
    USER_HANGUP_NO_SPEECH = "user_hangup_no_speech"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CANCELED = "canceled"
    BLOCKED = "blocked"
    FAILED = "failed"


class AnsweredBy(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"
    NOT_ANSWERED = "not_answered"


_ORDER = {CallStatus.PENDING: 0, CallStatus.RINGING: 1, CallStatus.IN_PROGRESS: 2}
# Ends only a call nobody answered can have: an answered (in progress) call is never busy or unanswered.
_UNANSWERED_ENDS = (CallStatus.BUSY, CallStatus.NO_ANSWER)


def can_move(current: CallStatus, target: CallStatus) -> bool:
    """A call only moves forward: pending → ringing → in_progress → one terminal status, never back.

    Carriers deliver callbacks late and out of order; a late "ringing" after "completed" must change nothing,
    and a "busy" or "no answer" for a call already in progress is impossible, so it changes nothing either.
    """
    if current in TERMINAL_STATUSES:
        return False
    if target in _UNANSWERED_ENDS:
        return current is not CallStatus.IN_PROGRESS
    if target in TERMINAL_STATUSES:
        return True
    return _ORDER[target] > _ORDER[current]
