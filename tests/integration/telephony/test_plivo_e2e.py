"""Plivo and Vobiz end to end over loopback: REST create (JSON, basic auth) → answer XML with
<Stream bidirectional> → Plivo stream events both ways → V3-signed ring/hangup/machine callbacks."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.telephony import scenarios
from tests.integration.telephony.conftest import CREDS, LiveServer, make_caller, sandbox_creds, start, wait_status
from voxline.sandbox.audio import seconds
from voxline.sandbox.emulator import Received, Script
from voxline.sandbox.responder import Responder
from voxline.store.models import Call

PROVIDERS = ["plivo", "vobiz"]
RESPONDER_GREETING_SECS = Responder().speak_secs


def to_of(r: Received) -> str | None:
    return r.params.get("to")


def status_url_of(r: Received) -> str:
    return r.params.get("hangup_url", "")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_answered_call_streams_audio_both_ways_and_completes(live: LiveServer, provider: str) -> None:
    out = await scenarios.answered_call_streams_audio_both_ways(live, provider, "+919822200001", to_of)
    body = out["request"].params
    assert body["from"] == CREDS[provider]["from_number"].lstrip("+")
    assert body["answer_url"].startswith(f"{live.base_url}/telephony/{provider}/answer/{out['call']['call_id']}?token=")
    assert body["hangup_url"].startswith(f"{live.base_url}/telephony/{provider}/status/")
    assert body["answer_method"] == "POST" and "machine_detection" not in body
    assert out["emucall"].wire_errors == [], "every message we sent is one the carrier documents, in mu-law 8 kHz"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_busy_and_declined_are_told_apart(live: LiveServer, provider: str) -> None:
    await scenarios.unanswered_outcome(live, provider, "+919822200486", "busy", reason="the line was busy (USER_BUSY)")
    await scenarios.unanswered_outcome(
        live, provider, "+919822200603", "busy", reason="the callee declined the call (CALL_REJECTED)"
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_answer_and_failed(live: LiveServer, provider: str) -> None:
    await scenarios.unanswered_outcome(live, provider, "+919822200408", "no_answer")
    await scenarios.unanswered_outcome(live, provider, "+919822200500", "failed", reason="does not exist")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_machine_answer_is_voicemail_when_detection_is_on(live: LiveServer, provider: str) -> None:
    from voxline.store import partners as partner_store

    caller = await make_caller(live, provider, voicemail_detection_enabled=True)
    async with live.ctx.db.transaction() as s:
        (await partner_store.get_partner(s, caller.tenant.partner_id)).voicemail_detection_enabled = True
    to = "+919822210666"
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], ("completed",))
    assert call["disposition"] == "voicemail" and call["answered_by"] == "machine"
    body = scenarios.creates_to(live.sandbox[provider], to, to_of)[0].params
    assert body["machine_detection"] == "true" and "/amd/" in body["machine_detection_url"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_forged_callbacks_get_403_and_change_nothing(live: LiveServer, provider: str) -> None:
    forged = {"CallUUID": "x", "CallStatus": "completed", "Duration": "1"}
    header = "X-Plivo-Signature-V3" if provider == "plivo" else "X-Vobiz-Signature-V3"
    # A signature that is present but wrong is refused whatever the token.
    bad_sig = {header: "AAAA", header + "-Nonce": "123"}
    to = {"plivo": "+919822220001", "vobiz": "+919822230001"}[provider]
    await scenarios.forged_callbacks_are_refused(live, provider, to, status_url_of, forged)
    # And with the right token but a bad signature:
    caller = await make_caller(live, provider)
    emu = live.sandbox[provider]
    to = "+919822240001" if provider == "plivo" else "+919822250001"
    emu.scripts[to] = Script("human", talk_secs=None)
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], ("in_progress",))
    url = status_url_of(scenarios.creates_to(emu, to, to_of)[0])
    import httpx

    async with httpx.AsyncClient() as http:
        r = await http.post(url, data=forged, headers=bad_sig)
    assert r.status_code == 403
    from tests.integration.telephony.conftest import get_call

    assert (await get_call(live, caller, started["call_id"]))["status"] == "in_progress"
    next(c for c in emu.calls.values() if c.to == to).hangup.set()
    await wait_status(live, caller, started["call_id"], ("completed",))


async def test_a_second_answer_request_and_second_stream_are_harmless(live: LiveServer) -> None:
    """Field failure: Plivo asks for the answer URL twice and opens a second websocket."""
    caller = await make_caller(live, "plivo")
    to = "+919822260001"
    emu = live.sandbox["plivo"]
    emu.scripts[to] = Script("human", talk_secs=1.0, answer_twice=True)
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], ("completed",))
    assert call["disposition"] == "completed"
    emucall = next(c for c in emu.calls.values() if c.to == to)
    assert emucall.answer_fetches == 2 and emucall.streams_opened == 2
    assert len(scenarios.creates_to(emu, to, to_of)) == 1
    # One conversation talked to the callee: it heard the greeting once, not once per stream.
    assert seconds(bytes(emucall.heard)) <= RESPONDER_GREETING_SECS + 0.1
    async with live.ctx.db.transaction() as s:
        assert (await s.get(Call, started["call_id"])).media_started_at is not None


async def test_vobiz_rest_wants_its_auth_headers_not_basic(live: LiveServer) -> None:
    """The emulator checks what Vobiz documents: X-Auth-ID / X-Auth-Token; HTTP Basic gets 401."""
    creds = CREDS["vobiz"]
    url = f"{live.base_url}/sandbox/vobiz/v1/Account/{creds['auth_id']}/Call/"
    body = {"from": "912231234568", "to": "919822270001", "answer_url": f"{live.base_url}/x", "answer_method": "POST"}
    async with httpx.AsyncClient() as http:
        basic = await http.post(url, json=body, auth=(creds["auth_id"], creds["auth_token"]))
        assert basic.status_code == 401
        headers = {"X-Auth-ID": creds["auth_id"], "X-Auth-Token": creds["auth_token"]}
        documented = await http.post(url, json={**body, "to": "919822270486"}, headers=headers)
        assert documented.status_code == 201 and documented.json()["request_uuid"]


async def test_a_vobiz_callback_signed_the_plivo_way_is_refused(live: LiveServer) -> None:
    from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

    caller = await make_caller(live, "vobiz")
    emu = live.sandbox["vobiz"]
    to = "+919822280001"
    emu.scripts[to] = Script("human", talk_secs=None)
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], ("in_progress",))
    url = status_url_of(scenarios.creates_to(emu, to, to_of)[0])
    forged = {"CallUUID": "x", "CallStatus": "completed", "Duration": "1"}
    token = CREDS["vobiz"]["auth_token"]
    plivo_way = get_signature_v3(token, construct_post_url(url, dict(forged)).decode(), "12345678901234567890")
    headers = {"X-Vobiz-Signature-V3": plivo_way.decode(), "X-Vobiz-Signature-V3-Nonce": "12345678901234567890"}
    async with httpx.AsyncClient() as http:
        assert (await http.post(url, data=forged, headers=headers)).status_code == 403
        assert (await http.post(url, data=forged)).status_code == 403, "Vobiz signs every callback"
    from tests.integration.telephony.conftest import get_call

    assert (await get_call(live, caller, started["call_id"]))["status"] == "in_progress"
    next(c for c in emu.calls.values() if c.to == to).hangup.set()
    await wait_status(live, caller, started["call_id"], ("completed",))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_stream_naming_another_call_is_refused(live: LiveServer, provider: str) -> None:
    """The media URL's token is right, but the stream's own start.callId is not the call's: refused."""
    import asyncio
    import json
    from urllib.parse import parse_qs, urlsplit

    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import ConnectionClosed

    from voxline.dialer.urls import call_urls
    from voxline.store.models import Call

    caller = await make_caller(live, provider)
    emu = live.sandbox[provider]
    to = {"plivo": "+919822290001", "vobiz": "+919822290002"}[provider]
    emu.scripts[to] = Script("human", talk_secs=None)
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], ("in_progress",))
    async with live.ctx.db.transaction() as s:
        call = await s.get(Call, started["call_id"])
    # The database keeps only the token's hash: take it as the carrier was given it, from the create.
    create = next(r for r in emu.received if f"/answer/{call.id}?" in str(r.params.get("answer_url") or ""))
    token = parse_qs(urlsplit(str(create.params["answer_url"])).query)["token"][0]
    urls = call_urls(live.ctx.settings, provider, call.id, call.session_id, token)
    start_msg = {
        "event": "start",
        "sequenceNumber": 1,
        "start": {
            "callId": "another-call",
            "streamId": "s9",
            "accountId": sandbox_creds(live.ctx.settings, caller.tenant.partner_id, provider)["auth_id"],
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        },
    }
    async with ws_connect(f"{urls.media}/{token}") as ws:
        await ws.send(json.dumps(start_msg))
        try:
            await asyncio.wait_for(ws.recv(), 5)
            refused = False
        except ConnectionClosed as closed:
            refused = closed.rcvd is not None and closed.rcvd.code == 1008
    assert refused
    next(c for c in emu.calls.values() if c.to == to).hangup.set()
    await wait_status(live, caller, started["call_id"], ("completed",))
