"""How a call's end reads: dispositions, answered_by, and which carrier errors may be retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from voxline.core.call_outcome import disposition_for, duration_between, final_answered_by
from voxline.core.call_status import AnsweredBy, CallStatus, Disposition, can_move
from voxline.telephony.carrier import CarrierError, raise_for_carrier


def test_voicemail_is_a_disposition_never_a_status() -> None:
    assert disposition_for(CallStatus.COMPLETED, AnsweredBy.MACHINE) is Disposition.VOICEMAIL
    assert disposition_for(CallStatus.COMPLETED, AnsweredBy.HUMAN) is Disposition.COMPLETED
    assert disposition_for(CallStatus.BUSY, AnsweredBy.NOT_ANSWERED) is Disposition.BUSY


def test_a_call_nobody_answered_is_not_answered() -> None:
    assert final_answered_by(False, AnsweredBy.HUMAN) is AnsweredBy.NOT_ANSWERED
    assert final_answered_by(True, None) is AnsweredBy.UNKNOWN
    assert final_answered_by(True, AnsweredBy.MACHINE) is AnsweredBy.MACHINE


def test_duration_counts_only_answered_time() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert duration_between(None, t) == 0
    assert duration_between(t, t + timedelta(seconds=61.4)) == 61


def test_late_callbacks_never_move_a_call_back() -> None:
    assert not can_move(CallStatus.COMPLETED, CallStatus.RINGING)
    assert not can_move(CallStatus.IN_PROGRESS, CallStatus.RINGING)
    assert not can_move(CallStatus.BUSY, CallStatus.COMPLETED)
    assert can_move(CallStatus.RINGING, CallStatus.CANCELED)


def _error(status: int) -> CarrierError:
    try:
        raise_for_carrier(httpx.Response(status), "Twilio", "words")
    except CarrierError as exc:
        return exc
    raise AssertionError("no error raised")


def test_only_refusals_that_placed_no_call_are_retried() -> None:
    assert _error(429).retryable and _error(503).retryable and _error(502).retryable
    for status in (400, 401, 403, 404, 500):
        assert not _error(status).retryable
    assert "rejected the credentials (401): words" in _error(401).message
