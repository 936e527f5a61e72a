"""How a call's end reads to a user: the disposition and `answered_by` that follow from its final status.

Pure rules, shared by every carrier: voicemail is never a status, only `disposition = voicemail` with
`answered_by = machine`; a call nobody picked up was `not_answered`.
"""

from __future__ import annotations

from voxline.core.call_status import AnsweredBy, CallStatus, Disposition

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


def duration_between(started, ended) -> int:  # noqa: ANN001 - datetimes
    """Whole seconds of conversation (0 when the call was never answered)."""
    if started is None or ended is None:
        return 0
    return max(0, round((ended - started).total_seconds()))
