"""MCube end to end over loopback, as the only working integration found does it (MCube's own documents
are not public): outbound-calls-websocket with the token in the JSON body and ten-digit numbers → MCube
asks our refurl (dialStatus CONNECTING) for the websocket URL → Plivo-like JSON media (playAudio,
clearAudio, checkpoint, terminate) in mu-law 8 kHz → the end posted to the same refurl (dialStatus),
guarded by the call's token; hang-up is `terminate` on the stream."""

from __future__ import annotations

import httpx

from tests.integration.telephony import scenarios
from tests.integration.telephony.conftest import (
    CREDS,
    LiveServer,
    get_call,
    make_caller,
    sandbox_creds,
    start,
    wait_status,
)
from voxline.sandbox.emulator import Received


def to_of(r: Received) -> str | None:
    return r.params.get("custnumber") if r.path.endswith("/outbound-calls-websocket") else None


def status_url_of(r: Received) -> str:
    return r.params.get("refurl", "")


async def test_answered_call_streams_audio_both_ways_and_completes(live: LiveServer) -> None:
    out = await scenarios.answered_call_streams_audio_both_ways(live, "mcube", "+919844400001", to_of)
    body = out["request"].params
    # A sandbox call presents the partner's sandbox token (never the configured one), in the body.
    sandbox_token = sandbox_creds(live.ctx.settings, out["caller"].tenant.partner_id, "mcube")["jwt_token"]
    assert body["HTTP_AUTHORIZATION"] == sandbox_token != CREDS["mcube"]["jwt_token"], "the token rides in the body"
    assert body["exenumber"] == "8047112244" and body["custnumber"] == "9844400001", "ten digits, no country code"
    assert body["refid"] == out["call"]["call_id"]
    assert body["refurl"].startswith(f"{live.base_url}/telephony/mcube/status/{out['call']['call_id']}?token=")
    emucall = out["emucall"]
    assert emucall.answer_fetches == 1, "MCube asked the refurl for the websocket once"
    assert emucall.wire_errors == [], "every message we sent is one MCube's integration knows, in mu-law 8 kHz"


async def test_the_refurl_answers_connecting_with_the_wss_url_and_later_posts_with_ok(live: LiveServer) -> None:
    held = await scenarios.held_call(live, "mcube", "+919844400999")
    emu = held.emu
    refurl = scenarios.creates_to(emu, held.to, to_of)[0].params["refurl"]
    async with httpx.AsyncClient() as http:
        connecting = await http.post(refurl, json={"callId": "1", "dialStatus": "CONNECTING"})
        assert connecting.status_code == 200
        wss = connecting.json()["wss_url"]
        assert wss.startswith(live.base_url.replace("http://", "ws://") + "/telephony/mcube/media/")
        assert "?" not in wss, "session and token ride in the path"
    await held.callee_hangs_up(live)
    ended = [s for s in emu.sent if s.url == refurl and s.params.get("dialStatus") == "ANSWER"]
    assert ended and ended[-1].status_code == 200


async def test_hang_up_is_terminate_on_the_stream(live: LiveServer) -> None:
    held, ended = await scenarios.we_hang_up(live, "mcube", "+919844400998")
    assert ended["disposition"] == "completed"
    assert held.emucall().hangup.is_set(), "MCube ended the call on our terminate"


async def test_busy_cancel_no_answer_failed(live: LiveServer) -> None:
    await scenarios.unanswered_outcome(live, "mcube", "+919844400486", "busy", reason="MCube reported BUSY: the line")
    await scenarios.unanswered_outcome(live, "mcube", "+919844400603", "canceled")
    await scenarios.unanswered_outcome(live, "mcube", "+919844400408", "no_answer")
    await scenarios.unanswered_outcome(live, "mcube", "+919844400500", "failed", reason="MCube reported FAILED")


async def test_forged_callback_without_the_calls_token_gets_403(live: LiveServer) -> None:
    forged = {"callId": "x", "dialStatus": "ANSWER", "endTime": "2026-11-30 12:00:00", "answeredTime": "1"}
    await scenarios.forged_callbacks_are_refused(live, "mcube", "+919844400777", status_url_of, forged)


async def test_a_wrong_token_ends_the_call_failed_with_mcubes_words(live: LiveServer) -> None:
    # A live key: sandbox calls present the partner's derived sandbox token, never the configured one.
    caller = await make_caller(live, "mcube", mode="live")
    other = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzb21lb25lLWVsc2UifQ.c2ln"
    r = await live.api.put(
        "/config/telephony/mcube", json={**CREDS["mcube"], "jwt_token": other}, headers=caller.tenant.headers
    )
    assert r.status_code == 200, r.text
    assert "third-party integration" in r.json()["data"]["implementation_note"]
    started = await start(live, caller, "+919844400901")
    call = await wait_status(live, caller, started["call_id"], ("failed",))
    assert "MCube refused the call: Invalid token" in call["error_message"]
    assert (await get_call(live, caller, started["call_id"]))["status"] == "failed"
