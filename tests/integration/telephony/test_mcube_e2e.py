"""MCube end to end over loopback: outbound-calls with a Bearer JWT → MCube streams to the websocket
named at create time (Twilio-like JSON, 16-bit PCM 8 kHz, our own serializer) → unsigned JSON status
callbacks guarded by the call's token → final status."""

from __future__ import annotations

from tests.integration.telephony import scenarios
from tests.integration.telephony.conftest import CREDS, LiveServer, make_caller, start, wait_status
from voxline.sandbox.emulator import Received


def to_of(r: Received) -> str | None:
    return r.params.get("cust_number") if r.path.endswith("/outbound-calls") else None


def status_url_of(r: Received) -> str:
    return r.params.get("refurl", "")


async def test_answered_call_streams_audio_both_ways_and_completes(live: LiveServer) -> None:
    out = await scenarios.answered_call_streams_audio_both_ways(live, "mcube", "+919844400001", to_of)
    body = out["request"].params
    assert body["exe_number"] == CREDS["mcube"]["exe_number"]
    assert body["ref_id"] == out["call"]["call_id"]
    assert body["refurl"].startswith(f"{live.base_url}/telephony/mcube/status/{out['call']['call_id']}?token=")
    assert body["stream_url"].startswith(f"ws://127.0.0.1:{live.base_url.rsplit(':', 1)[1]}/telephony/mcube/media/")


async def test_busy_declined_no_answer_failed(live: LiveServer) -> None:
    await scenarios.unanswered_outcome(live, "mcube", "+919844400486", "busy", reason="the line was busy")
    await scenarios.unanswered_outcome(live, "mcube", "+919844400603", "busy", reason="declined the call")
    await scenarios.unanswered_outcome(live, "mcube", "+919844400408", "no_answer")
    await scenarios.unanswered_outcome(live, "mcube", "+919844400500", "failed", reason="MCube reported FAILED")


async def test_forged_callback_without_the_calls_token_gets_403(live: LiveServer) -> None:
    forged = {"callid": "x", "status": "COMPLETE", "duration": "1"}
    await scenarios.forged_callbacks_are_refused(live, "mcube", "+919844400777", status_url_of, forged)


async def test_an_expired_token_ends_the_call_failed_with_mcubes_words(live: LiveServer) -> None:
    # A live key: sandbox calls present the partner's sandbox token, never the configured one.
    caller = await make_caller(live, "mcube", mode="live")
    # payload {"exp": 1}: expired in 1970
    expired = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln"
    r = await live.api.put(
        "/config/telephony/mcube", json={**CREDS["mcube"], "jwt_token": expired}, headers=caller.tenant.headers
    )
    assert r.status_code == 200, r.text
    started = await start(live, caller, "+919844400901")
    call = await wait_status(live, caller, started["call_id"], ("failed",))
    assert "MCube rejected the credentials (401): Invalid or expired token" in call["error_message"]
