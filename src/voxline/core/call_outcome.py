"""How a call's end reads to a user: the disposition and `answered_by` that follow from its final status.

Pure rules, shared by every carrier: voicemail is never a status, only `disposition = voicemail` with
`answered_by = machine`; a call nobody picked up was `not_answered`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from voxline.core.call_status import AnsweredBy, CallStatus, Disposition


class EndReason(StrEnum):
    """Why a conversation ended (the runtime's own account; the call's status comes from the carrier)."""

    END_CALL = "end_call"  # the model called the end-call tool
    TRANSFER = "transfer"
    MAX_DURATION = "max_duration"
    SILENCE = "silence"
    VOICEMAIL = "voicemail"  # a message was left on a machine
    OPTED_OUT = "opted_out"  # the callee asked never to be called again: acknowledged, then ended
    CALLEE_HANGUP = "callee_hangup"
    NO_FIRST_AUDIO = "no_first_audio"  # the bot's first audio did not go out in time: a fault, ended politely
    ERROR = "error"


class GateMode(StrEnum):
    """What the runtime does with the callee's words before it knows a person answered."""

    MACHINE = "machine"  # a machine answered: nothing reaches the model; wait for the greeting's end
    CLASSIFY = "classify"  # unknown: the first utterance decides, in-band, person or machine
    OPEN = "open"  # a person: everything goes to the model


_BY_STATUS = {
    CallStatus.COMPLETED: Disposition.COMPLETED,
    CallStatus.FAILED: Disposition.FAILED,
    CallStatus.NO_ANSWER: Disposition.NO_ANSWER,
    CallStatus.BUSY: Disposition.BUSY,
    CallStatus.CANCELED: Disposition.CANCELED,
}


def final_answered_by(was_answered: bool, verdict: AnsweredBy | None) -> AnsweredBy:
    """Who picked up: the carrier's detection verdict when there is one; `unknown` if answered without one."""
    if not was_answered:
        return AnsweredBy.NOT_ANSWERED
    return verdict or AnsweredBy.UNKNOWN


def disposition_for(status: CallStatus, answered_by: AnsweredBy | None) -> Disposition:
    """The outcome a user filters on; a completed call that reached a machine is `voicemail`."""
    if status is CallStatus.COMPLETED and answered_by is AnsweredBy.MACHINE:
        return Disposition.VOICEMAIL
    return _BY_STATUS[status]


def duration_between(started: datetime | None, ended: datetime | None) -> int:
    """Whole seconds of conversation (0 when the call was never answered)."""
    if started is None or ended is None:
        return 0
    return max(0, round((ended - started).total_seconds()))
