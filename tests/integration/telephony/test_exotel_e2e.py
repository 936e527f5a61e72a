"""Exotel end to end over loopback: Calls/connect with the flow → the flow's Voicebot applet opens the one
URL configured in it (the connection's `voicebot_url`) → its start message's `call_sid` names the call →
16-bit PCM 8 kHz both ways, outbound in Exotel's chunk sizes → unsigned form status callbacks guarded by
the call's token; hang-up is the stream's end; the stream Exotel leaves open is closed by us."""

from __future__ import annotations

import asyncio
import json

import httpx
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.integration.telephony import scenarios
from tests.integration.telephony.conftest import CREDS, LiveServer, get_call, make_caller, start, wait_status
from voxline.sandbox.emulator import Received, Script


def to_of(r: Received) -> str | None:
    return r.params.get("From") if "/Calls/connect" in r.path else None


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
    assert body["CustomField"] == out["call"]["call_id"], "CustomField never reaches the stream; it names the call"
    emucall = out["emucall"]
    assert emucall.wire_errors == [], "every chunk we sent was 16-bit PCM, >= 3.2 KB, in multiples of 320 bytes"
    assert emucall.answer_fetches == 0, "no XML step"


async def test_the_config_response_names_the_voicebot_url_the_applet_needs(live: LiveServer) -> None:
    caller = await make_caller(live, "exotel")
    r = await live.api.put("/config/telephony/exotel", json=CREDS["exotel"], headers=caller.tenant.headers)
    url = r.json()["data"]["voicebot_url"]
    assert url.startswith(live.base_url.replace("http://", "ws://") + "/telephony/exotel/flow/")
    assert "Voicebot applet" in r.json()["data"]["voicebot_setup"]
    other = await live.api.put(
        "/config/telephony/exotel",
        json={**CREDS["exotel"], "api_token": "another-token"},
        headers=caller.tenant.headers,
    )
    assert other.json()["data"]["voicebot_url"] != url, "the key follows the connection's token"


async def _refused(url: str, start: dict) -> bool:
    """True when our server closes a stream that opened with `start` (Exotel's documented shape)."""
    async with ws_connect(url) as ws:
        await ws.send(json.dumps({"event": "connected"}))
        await ws.send(json.dumps(start))
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            return closed.rcvd is not None and closed.rcvd.code == 1008
    return False


async def test_a_voicebot_stream_with_a_wrong_key_or_an_unknown_call_sid_is_refused(live: LiveServer) -> None:
    held = await scenarios.held_call(live, "exotel", "+919833300999")
    emucall = held.emucall()
    good = held.emu.voicebot_url(emucall)
    base, key = good.rsplit("/", 1)

    def start_msg(call_sid: str) -> dict:
        inner = {"stream_sid": "S9", "call_sid": call_sid, "account_sid": emucall.account, "custom_parameters": {}}
        return {"event": "start", "sequence_number": "1", "stream_sid": "S9", "start": inner}

    assert await _refused(f"{base}/{'0' * len(key)}", start_msg(emucall.id)), "another connection's key"
    assert await _refused(good, start_msg("not-a-call-of-ours")), "a call_sid we never placed"
    assert (await get_call(live, held.caller, held.call_id))["status"] == "in_progress"
    await held.callee_hangs_up(live)


async def test_hang_up_ends_the_stream_not_a_rest_call(live: LiveServer) -> None:
    held, _ = await scenarios.we_hang_up(live, "exotel", "+919833300998")
    assert all("/Calls/connect" in r.path for r in held.emu.received), "no undocumented REST hang-up was sent"
    assert held.emucall().stream_closed_at is not None


async def test_the_stream_exotel_leaves_open_is_closed_when_the_call_ends(live: LiveServer) -> None:
    out = await scenarios.answered_call_streams_audio_both_ways(live, "exotel", "+919833300002", to_of)
    emucall = out["emucall"]
    # The emulator kept its stream open after the callee hung up; the call still ended on time.
    assert emucall.ended_at is not None and emucall.stream_closed_at is not None
    assert emucall.stream_closed_at - emucall.ended_at < 2.0, "we closed the stream soon after the call ended"
    assert out["call"]["duration_seconds"] <= 3


async def test_busy_declined_no_answer_failed(live: LiveServer) -> None:
    await scenarios.unanswered_outcome(live, "exotel", "+919833300486", "busy", reason="Exotel reported busy")
    await scenarios.unanswered_outcome(live, "exotel", "+919833300603", "busy", reason="Exotel reported busy")
    await scenarios.unanswered_outcome(live, "exotel", "+919833300408", "no_answer")
    await scenarios.unanswered_outcome(live, "exotel", "+919833300500", "failed", reason="Exotel reported failed")


async def test_forged_callback_without_the_calls_token_gets_403(live: LiveServer) -> None:
    forged = {"CallSid": "x", "EventType": "terminal", "Status": "completed"}
    await scenarios.forged_callbacks_are_refused(live, "exotel", "+919833300777", status_url_of, forged)


async def test_the_documented_terminal_callback_ends_the_call(live: LiveServer) -> None:
    """Exotel's status callback as its documents list the fields (form post), sent to our status URL."""
    caller = await make_caller(live, "exotel")
    emu = live.sandbox["exotel"]
    to = "+919833300997"
    emu.scripts[to] = Script("busy", ring_secs=5.0)
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], ("ringing", "dialing", "pending"))
    for _ in range(50):
        request = next((r for r in emu.received if r.params.get("From") == to), None)
        if request is not None:
            break
        await asyncio.sleep(0.1)
    documented = {
        "CallSid": "b6cfaf5d7a1c4b1d8a5e0c6f0f0f2a1b",
        "EventType": "terminal",
        "Status": "no-answer",
        "DateUpdated": "2026-11-30 12:00:00",
        "DateCreated": "2026-11-30 11:59:30",
        "To": "08047112233",
        "From": "09833300997",
        "Direction": "outbound-api",
        "ConversationDuration": "0",
        "StartTime": "2026-11-30 11:59:30",
        "EndTime": "2026-11-30 12:00:00",
        "RecordingUrl": "",
        "CustomField": started["call_id"],
    }
    async with httpx.AsyncClient() as http:
        r = await http.post(request.params["StatusCallback"], data=documented)
    assert r.status_code < 300
    call = await wait_status(live, caller, started["call_id"], ("no_answer",))
    assert call["disposition"] == "no_answer"


async def test_connect_voice_ai_streams_each_call_to_its_own_stream_url(live: LiveServer) -> None:
    """Exotel's Connect Voice AI: no flow, the create call names the call's socket (StreamUrl)."""
    from voxline.sandbox.audio import seconds

    caller = await make_caller(live, "exotel")
    r = await live.api.put(
        "/config/telephony/exotel",
        json={**CREDS["exotel"], "stream_mode": "connect_voice_ai"},
        headers=caller.tenant.headers,
    )
    assert r.status_code == 200, r.text
    emu = live.sandbox["exotel"]
    to = "+919833300996"
    emu.scripts[to] = Script("human", talk_secs=1.2)
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], ("completed",))
    assert call["disposition"] == "completed"
    body = scenarios.creates_to(emu, to, to_of)[0].params
    assert "Url" not in body and body["StreamType"] == "bidirectional"
    assert body["StreamUrl"].startswith(live.base_url.replace("http://", "ws://") + "/telephony/exotel/media/")
    assert "?" not in body["StreamUrl"] and len(body["StreamUrl"]) < 600
    emucall = next(c for c in emu.calls.values() if c.to == to)
    assert seconds(bytes(emucall.heard)) >= 0.3 and emucall.wire_errors == []
