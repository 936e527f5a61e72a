"""Exotel end to end over loopback: Calls/connect with the voicebot flow → the flow opens our fixed
websocket URL with no XML step → 16-bit PCM 8 kHz both ways → unsigned JSON status callbacks guarded
by the call's token; the stream Exotel never closes is closed by us when the call ends."""

from __future__ import annotations

from tests.integration.telephony import scenarios
from tests.integration.telephony.conftest import CREDS, LiveServer
from voxline.sandbox.emulator import Received


def to_of(r: Received) -> str | None:
    return r.params.get("From") if r.path.endswith("/Calls/connect.json") else None


def status_url_of(r: Received) -> str:
    return r.params.get("StatusCallback", "")


async def test_answered_call_streams_pcm_both_ways_and_completes(live: LiveServer) -> None:
    out = await scenarios.answered_call_streams_audio_both_ways(live, "exotel", "+919833300001", to_of)
    body = out["request"].params
    creds = CREDS["exotel"]
    assert body["CallerId"] == creds["caller_id"]
    sid = out["emucall"].account  # the partner's sandbox account (see sandbox/credentials.py)
    assert body["Url"] == f"http://my.exotel.com/{sid}/exoml/start_voice/{creds['applet_id']}"
    assert body["StatusCallback"].startswith(f"{live.base_url}/telephony/exotel/status/{out['call']['call_id']}?token=")
    assert "session_id=" in body["CustomField"] and "token=" in body["CustomField"]
    emucall = out["emucall"]
    assert emucall.wire_errors == [], "every chunk we sent was 16-bit PCM in multiples of 320 bytes"
    assert emucall.answer_fetches == 0, "no XML step"


async def test_the_stream_exotel_leaves_open_is_closed_when_the_call_ends(live: LiveServer) -> None:
    out = await scenarios.answered_call_streams_audio_both_ways(live, "exotel", "+919833300002", to_of)
    emucall = out["emucall"]
    # The emulator kept its stream open after the callee hung up; the call still ended on time.
    assert emucall.ended_at is not None and emucall.stream_closed_at is not None
    assert emucall.stream_closed_at - emucall.ended_at < 2.0, "we closed the stream soon after the call ended"
    assert out["call"]["duration_seconds"] <= 3


async def test_busy_declined_no_answer_failed(live: LiveServer) -> None:
    await scenarios.unanswered_outcome(live, "exotel", "+919833300486", "busy", reason="Exotel reported busy")
    await scenarios.unanswered_outcome(live, "exotel", "+919833300603", "busy", reason="rejected by callee")
    await scenarios.unanswered_outcome(live, "exotel", "+919833300408", "no_answer")
    await scenarios.unanswered_outcome(live, "exotel", "+919833300500", "failed", reason="Exotel reported failed")


async def test_forged_callback_without_the_calls_token_gets_403(live: LiveServer) -> None:
    forged = {"CallSid": "x", "EventType": "terminal", "Status": "completed"}
    await scenarios.forged_callbacks_are_refused(live, "exotel", "+919833300777", status_url_of, forged)
