"""Twilio end to end over loopback: calls/start → dialer → Twilio emulator REST → TwiML → Media Streams
websocket (audio both ways) → signed status callbacks → the call's final status, disposition and times."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import pytest

from tests.integration.telephony.conftest import (
    CALLEE,
    CREDS,
    LiveServer,
    get_call,
    make_caller,
    start,
    wait_session_done,
    wait_status,
)
from voxline.sandbox.audio import dominant_hz, seconds
from voxline.sandbox.emulator import Script
from voxline.sandbox.responder import RESPONDER_HZ

pytestmark = pytest.mark.asyncio


def _emu(live: LiveServer):
    return live.sandbox["twilio"]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_answered_call_streams_audio_both_ways_and_completes(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    to = "+919811100001"
    _emu(live).scripts[to] = Script("human", talk_secs=1.2, hz=440.0)
    started = await start(live, caller, to)
    assert started["status"] == "pending"

    call = await wait_status(live, caller, started["call_id"], ("completed",))
    assert call["disposition"] == "completed"
    assert call["answered_by"] == "unknown"  # no machine detection asked for
    assert call["error_message"] is None
    assert _ts(call["started_at"]) <= _ts(call["ended_at"])
    assert call["duration_seconds"] >= 1

    # The emulator received a correct create-call request.
    emu = _emu(live)
    creates = [r for r in emu.received if r.path.endswith("/Calls.json") and r.params.get("To") == to]
    assert len(creates) == 1
    params = creates[0].params
    assert params["From"] == CREDS["twilio"]["from_number"]
    assert params["Url"].startswith(f"{live.base_url}/telephony/twilio/answer/{started['call_id']}?token=")
    assert params["StatusCallback"].startswith(f"{live.base_url}/telephony/twilio/status/")
    assert set(params["StatusCallbackEvent"]) == {"ringing", "answered", "completed"}
    assert "MachineDetection" not in params

    emucall = next(c for c in emu.calls.values() if c.to == to)
    # Audio both ways: the callee heard the responder's tone, the responder heard the callee's.
    assert seconds(bytes(emucall.heard)) >= 0.3
    assert abs(dominant_hz(bytes(emucall.heard)) - RESPONDER_HZ) < 20
    await wait_session_done(live, caller, started["call_id"])  # the conversation has wound up
    heard = live.sandbox.heard[started["session_id"]]
    assert seconds(heard) >= 0.5
    assert abs(dominant_hz(heard) - 440.0) < 20
    # Every callback was signed and accepted.
    ours = [s for s in emu.sent if emucall.id == s.params.get("CallSid")]
    assert ours and all(s.status_code in (200, 204) for s in ours)

    done = await wait_session_done(live, caller, started["call_id"])
    assert done["session"]["status"] == "completed"


async def test_busy_line_ends_busy_with_the_sip_reason(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    started = await start(live, caller, "+919811100486")
    call = await wait_status(live, caller, started["call_id"], ("busy",))
    assert call["disposition"] == "busy"
    assert call["answered_by"] == "not_answered"
    assert call["duration_seconds"] == 0 and call["started_at"] is None
    assert "busy (SIP 486)" in call["error_message"]
    done = await wait_session_done(live, caller, started["call_id"])
    assert done["session"]["processing_complete"] is True


async def test_declined_call_is_told_apart_from_busy(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    started = await start(live, caller, "+919811100603")
    call = await wait_status(live, caller, started["call_id"], ("busy",))
    assert "declined the call (SIP 603)" in call["error_message"]


async def test_no_answer_ends_no_answer(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    started = await start(live, caller, "+919811100408")
    call = await wait_status(live, caller, started["call_id"], ("no_answer",))
    assert call["disposition"] == "no_answer" and call["answered_by"] == "not_answered"


async def test_failed_call_ends_failed_with_the_carrier_reason(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    started = await start(live, caller, "+919811100500")
    call = await wait_status(live, caller, started["call_id"], ("failed",))
    assert call["disposition"] == "failed"
    assert "Twilio reported failed" in call["error_message"]


async def test_machine_answer_is_voicemail_when_detection_is_on(live: LiveServer) -> None:
    from voxline.store import partners as partner_store

    caller = await make_caller(live, "twilio", voicemail_detection_enabled=True)
    async with live.ctx.db.transaction() as s:
        partner = await partner_store.get_partner(s, caller.tenant.partner_id)
        partner.voicemail_detection_enabled = True
    to = "+919811100666"
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], ("completed",))
    assert call["status"] == "completed"  # voicemail is never a status
    assert call["disposition"] == "voicemail"
    assert call["answered_by"] == "machine"
    create = next(r for r in _emu(live).received if r.path.endswith("/Calls.json") and r.params.get("To") == to)
    assert create.params["MachineDetection"] == "Enable" and create.params["AsyncAmd"] == "true"


async def test_machine_detection_needs_both_the_account_and_the_agent_flag(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio", voicemail_detection_enabled=True)  # account flag stays off
    to = "+919811200666"
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], ("completed",))
    assert call["disposition"] == "completed"
    create = next(r for r in _emu(live).received if r.path.endswith("/Calls.json") and r.params.get("To") == to)
    assert "MachineDetection" not in create.params


async def test_forged_status_callback_gets_403_and_changes_nothing(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    to = "+919811100999"  # stays on the line until we hang up
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], ("in_progress",))
    create = next(r for r in _emu(live).received if r.path.endswith("/Calls.json") and r.params.get("To") == to)
    status_url = create.params["StatusCallback"]
    forged = {"CallSid": "CAforged", "CallStatus": "completed", "CallDuration": "1"}
    async with httpx.AsyncClient() as http:
        unsigned = await http.post(status_url, data=forged)
        wrong_key = await http.post(status_url, data=forged, headers={"X-Twilio-Signature": "bm9wZQ=="})
        from twilio.request_validator import RequestValidator

        # Signed correctly but with a guessed token in the URL: still refused.
        guessed_url = status_url.split("?token=")[0] + "?token=guess"
        sig = RequestValidator(CREDS["twilio"]["auth_token"]).compute_signature(guessed_url, forged)
        wrong_token = await http.post(guessed_url, data=forged, headers={"X-Twilio-Signature": sig})
    for r in (unsigned, wrong_key, wrong_token):
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "FORBIDDEN"
    call = await get_call(live, caller, started["call_id"])
    assert call["status"] == "in_progress"
    # Clean up: cancel is refused for an answered call; hang up through the emulator's callee instead.
    r = await live.api.post(f"/calls/{started['call_id']}/cancel", headers=caller.tenant.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CALL_NOT_CANCELABLE"
    emucall = next(c for c in _emu(live).calls.values() if c.to == to)
    emucall.hangup.set()
    await wait_status(live, caller, started["call_id"], ("completed",))


async def test_late_ringing_after_completed_changes_nothing(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    to = "+919811300001"
    _emu(live).scripts[to] = Script("human", talk_secs=0.3)
    started = await start(live, caller, to)
    before = await wait_status(live, caller, started["call_id"], ("completed",))
    emu = _emu(live)
    emucall = next(c for c in emu.calls.values() if c.to == to)
    late = {**emu._base_params(emucall), "CallStatus": "ringing"}
    await emu.signed_post(emucall, emucall.params["StatusCallback"], late)
    assert emu.sent[-1].status_code == 204  # authentic, accepted, and ignored
    after = await get_call(live, caller, started["call_id"])
    assert after["status"] == "completed" and after["ended_at"] == before["ended_at"]


async def test_cancel_a_ringing_call_hangs_it_up_at_the_carrier(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    to = "+919811400001"
    _emu(live).scripts[to] = Script("human", ring_secs=10.0)
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], ("ringing",))
    r = await live.api.post(f"/calls/{started['call_id']}/cancel", headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "canceled" and r.json()["data"]["disposition"] == "canceled"
    emucall = next(c for c in _emu(live).calls.values() if c.to == to)
    assert emucall.hangup.is_set()
    again = await live.api.post(f"/calls/{started['call_id']}/cancel", headers=caller.tenant.headers)
    assert again.status_code == 409


async def test_cancel_of_another_partners_call_is_404(live: LiveServer) -> None:
    a = await make_caller(live, "twilio")
    b = await make_caller(live, "twilio")
    _emu(live).scripts["+919811500001"] = Script("human", ring_secs=5.0)
    started = await start(live, a, "+919811500001")
    r = await live.api.post(f"/calls/{started['call_id']}/cancel", headers=b.tenant.headers)
    assert r.status_code == 404
    await live.api.post(f"/calls/{started['call_id']}/cancel", headers=a.tenant.headers)


async def test_wrong_credentials_end_the_call_failed_with_the_carriers_words(live: LiveServer) -> None:
    # A live key: sandbox calls present the partner's sandbox account, never the configured credentials.
    caller = await make_caller(live, "twilio", mode="live")
    creds = {**CREDS["twilio"], "account_sid": "AC" + "ab" * 16, "auth_token": "11" * 16}
    r = await live.api.put("/config/telephony/twilio", json=creds, headers=caller.tenant.headers)
    assert r.status_code == 200
    _emu(live).register(creds["account_sid"], "22" * 16)  # the carrier knows this account with another token
    started = await start(live, caller, CALLEE)
    call = await wait_status(live, caller, started["call_id"], ("failed",))
    assert "rejected the credentials (401)" in call["error_message"] and "Authenticate" in call["error_message"]


async def _job(live: LiveServer, call_id: str):  # noqa: ANN202
    from voxline.store import dial_queue as dq

    async with live.ctx.db.transaction() as s:
        return await dq.job_for_call(s, call_id)


async def test_transient_carrier_errors_are_retried_and_the_person_is_dialed_once(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    to = "+919811600300"
    emu = _emu(live)
    emu.create_failures = [503, 429]
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], ("completed",))
    assert call["error_message"] is None
    assert (await _job(live, started["call_id"])).attempts == 3
    assert len([r for r in emu.received if r.path.endswith("/Calls.json") and r.params.get("To") == to]) == 3
    assert len([c for c in emu.calls.values() if c.to == to]) == 1, "one live dial"


async def test_transient_errors_past_the_bound_end_the_call_failed(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    _emu(live).create_failures = [503, 503, 503]
    started = await start(live, caller, "+919811700001")
    call = await wait_status(live, caller, started["call_id"], ("failed",))
    assert call["error_message"] == "Twilio server error (503): Internal Server Error"
    assert (await _job(live, started["call_id"])).attempts == live.ctx.settings.dialer_max_attempts


async def test_a_carrier_refusal_is_not_retried(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio")
    _emu(live).create_failures = [400]
    started = await start(live, caller, "+919811800001")
    call = await wait_status(live, caller, started["call_id"], ("failed",))
    assert "Twilio rejected the request (400)" in call["error_message"]
    assert (await _job(live, started["call_id"])).attempts == 1


async def test_a_create_call_that_times_out_is_not_retried(live: LiveServer) -> None:
    """A slow answer (a carrier at its calls-per-second limit) may still have placed the call."""
    from voxline.dialer.urls import call_urls
    from voxline.telephony.carrier import CarrierError, DialRequest
    from voxline.telephony.twilio import CARRIER, Credentials

    emu = _emu(live)
    emu.create_delay_secs = 1.0
    urls = call_urls(live.ctx.settings, "twilio", "c1", "s1", "t")
    req = DialRequest("c1", "s1", "+919811900001", "+14155551234", urls, False, 30, 60)
    try:
        async with httpx.AsyncClient(timeout=0.2) as http:
            with pytest.raises(CarrierError) as err:
                await CARRIER.create_call(http, f"{live.base_url}/sandbox/twilio", Credentials(**CREDS["twilio"]), req)
    finally:
        emu.create_delay_secs = 0.0
    assert err.value.retryable is False and "did not answer in time" in err.value.message


async def test_a_call_ends_at_the_agents_maximum_duration(live: LiveServer) -> None:
    from voxline.store.models import Agent

    caller = await make_caller(live, "twilio", max_call_duration_secs=60)
    async with live.ctx.db.transaction() as s:  # the API's floor is 60 s; a short cap keeps the test short
        (await s.get(Agent, caller.agent["id"])).max_call_duration_secs = 2
    to = "+919812000999"  # the callee never hangs up
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], ("completed",), wait=20)
    create = next(r for r in _emu(live).received if r.path.endswith("/Calls.json") and r.params.get("To") == to)
    # The sandbox responder never ends a call itself: the hard cap does, the maximum plus the hang-up
    # grace (1 s here) and a 2 s margin, left for the runtime's farewell. The carrier enforces it too.
    assert create.params["TimeLimit"] == "5", "the carrier enforces the hard cap too; our media edge hangs up at it"
    assert 2 <= call["duration_seconds"] <= 6


async def test_hanging_up_a_call_the_carrier_already_ended_is_not_an_error(live: LiveServer) -> None:
    from voxline.dialer import carrier_ops
    from voxline.store.models import Call

    caller = await make_caller(live, "twilio")
    to = "+919812100001"
    _emu(live).scripts[to] = Script("human", talk_secs=0.3)
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], ("completed",))
    async with live.ctx.db.transaction() as s:
        call = await s.get(Call, started["call_id"])
    assert await carrier_ops.hang_up(live.ctx, call) is True  # Twilio answers 404: already gone, as we wanted
    hangups = [r for r in _emu(live).received if r.path.endswith(f"/Calls/{call.carrier_call_id}.json")]
    assert hangups and hangups[-1].params == {"Status": "completed"}


async def test_a_live_call_with_no_conversation_runtime_ends_failed_instead_of_beeping(live: LiveServer) -> None:
    """Live keys dial the carrier (here the emulator stands in via settings); the sandbox responder is
    never used on a real person, so without a runtime the call ends at once with the reason."""
    caller = await make_caller(live, "twilio", mode="live")
    to = "+919812200999"
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], ("failed",))
    assert call["error_message"] == "No conversation runtime is installed on this server."
    assert call["sandbox"] is False
    emucall = next(c for c in _emu(live).calls.values() if c.to == to)
    # The reason is written first, then the carrier is told to hang up: the status may be seen in between.
    await asyncio.wait_for(emucall.hangup.wait(), 10)
