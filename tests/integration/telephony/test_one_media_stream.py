"""One media stream per call, whichever server process the carrier reaches: two `voxline serve` processes
on one database, a Twilio call answered and streaming on one of them, then the carrier's duplicate
answer and a second stream, both sent to the OTHER process. The second stream is refused; the first goes
on, and the call ends normally when the callee hangs up. And the database claim under it: of concurrent
claims from two engines exactly one wins, a released claim can be taken again, an ended call's cannot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import httpx
import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.integration.telephony.conftest import CREDS, sandbox_creds, sandbox_twilio_partner
from tests.integration.telephony.servers import ServerProcess, start_server, wait_ready
from voxline.context import Context
from voxline.core.timefmt import utcnow
from voxline.dialer.urls import token_hash
from voxline.sandbox.audio import FRAME_SAMPLES
from voxline.sandbox.emulator import EmuCall, Script
from voxline.sandbox.twilio import TwilioWire
from voxline.store import dial_queue as dq
from voxline.store.models import Call

TWILIO = CREDS["twilio"]
TO = "+919866600999"  # ...0999: the emulated callee stays on the line until hung up
GREETING_SECS = 0.6  # what the sandbox responder says when the call connects


def _emulated_call(server: ServerProcess, call_id: str) -> tuple[dict, dict] | None:
    """The create-call request this server's Twilio emulator received for our call, and the call it runs."""
    log = server.sandbox_log("twilio")
    creates = [r for r in log["received"] if r["path"].endswith("/Calls.json")]
    create = next((r for r in creates if f"/answer/{call_id}?" in r["params"]["Url"]), None)
    emucall = next((c for c in log["calls"] if create and c["to"] == create["params"]["To"]), None)
    return (create, emucall) if create and emucall else None


@contextlib.asynccontextmanager
async def _known_token(ctx: Context, call_id: str) -> AsyncIterator[str]:
    """A token the test knows, for the call, while the test plays the carrier's duplicate request: the
    emulator's log redacts the call's token and the database keeps only its hash. The original comes back
    after, so the carrier's own later callbacks still authenticate."""
    token = secrets.token_urlsafe(32)
    async with ctx.db.transaction() as s:
        row = await s.get(Call, call_id)
        original, row.callback_token_hash = row.callback_token_hash, token_hash(token)
    try:
        yield token
    finally:
        async with ctx.db.transaction() as s:
            (await s.get(Call, call_id)).callback_token_hash = original


async def _duplicate_answer(other: ServerProcess, owner: ServerProcess, url: str, call_sid: str, account: dict) -> str:
    """Twilio's duplicate answer request, sent to the other process and signed for its URL: the TwiML."""
    url = url.replace(owner.base_url, other.base_url, 1)
    params = {
        "AccountSid": account["account_sid"],
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "Direction": "outbound-api",
        "From": TWILIO["from_number"],
        "To": TO,
        "CallStatus": "in-progress",
    }
    signature = RequestValidator(account["auth_token"]).compute_signature(url, params)
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(url, data=params, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 200, r.text
    return r.text


async def _second_stream(twiml: str, call_sid: str) -> tuple[int | None, list[dict], float]:
    """Open the stream the TwiML names as Twilio does (connected, start with the custom parameters, then
    the callee's audio) and read until the server closes it: its close code, what it sent, how long it took."""
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None
    custom = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    wire = TwilioWire()
    emucall = EmuCall(call_sid, TWILIO["account_sid"], TO, TWILIO["from_number"], {}, Script())
    stream_id = "MZ" + secrets.token_hex(16)
    received: list[dict] = []
    began = time.monotonic()
    async with ws_connect(stream.get("url", ""), open_timeout=10) as ws:
        for message in wire.opening(emucall, stream_id, custom):
            await ws.send(json.dumps(message))
        try:
            for seq in range(25):  # half a second of the callee, as the carrier streams it
                await ws.send(json.dumps(wire.media(emucall, stream_id, bytes(FRAME_SAMPLES * 2), seq)))
                await asyncio.sleep(0.02)
            async with asyncio.timeout(10):
                async for raw in ws:
                    received.append(json.loads(raw))
        except ConnectionClosed:
            pass
        except TimeoutError:
            return None, received, time.monotonic() - began  # still open after 10 s: it was accepted
        return ws.close_code, received, time.monotonic() - began


@pytest.mark.slow
async def test_a_second_stream_on_another_process_is_refused_and_the_call_goes_on(  # noqa: ANN001
    fresh, fresh_database, tmp_path
) -> None:
    ctx, client = fresh
    tenant, agent = await sandbox_twilio_partner(ctx, client, concurrency=5)
    servers = [start_server(fresh_database, tmp_path, wait=False) for _ in range(2)]
    try:
        for server in servers:
            wait_ready(server)
        body = {"agent_id": agent["id"], "provider": "twilio", "to_number": TO, "variables": {"callee_name": "D"}}
        r = await client.post("/calls/start", json=body, headers=tenant.headers)
        assert r.status_code == 200, r.text
        call_id = r.json()["data"]["call_id"]

        # Whichever process dialed owns the call at its carrier (its emulator) and gets the first stream.
        deadline = time.monotonic() + 20
        while True:
            found = [(server, _emulated_call(server, call_id)) for server in servers]
            owned = [(server, emu) for server, emu in found if emu is not None]
            if owned and owned[0][1][1]["streams"] == 1 and owned[0][1][1]["heard_secs"] >= GREETING_SECS:
                break
            assert time.monotonic() < deadline, f"the call never reached its media stream: {found}"
            await asyncio.sleep(0.05)
        assert len(owned) == 1, "dialed exactly once"
        owner, (create, emucall) = owned[0]
        other = next(server for server in servers if server is not owner)
        call_sid = emucall["id"]
        before = (await client.get(f"/calls/{call_id}", headers=tenant.headers)).json()["data"]
        assert before["status"] == "in_progress"
        async with ctx.db.transaction() as s:
            claimed_at = (await s.get(Call, call_id)).media_started_at
        assert claimed_at is not None, "the first stream's claim is in the database"

        # The duplicate is signed with the partner's sandbox account, as the emulator signs its callbacks.
        account = sandbox_creds(fresh_database.settings(), tenant.partner_id, "twilio")
        async with _known_token(ctx, call_id) as token:
            answer_url = create["params"]["Url"].replace("token=REDACTED", f"token={token}")
            twiml = await _duplicate_answer(other, owner, answer_url, call_sid, account)
            close_code, sent_to_duplicate, took = await _second_stream(twiml, call_sid)
        assert close_code == 1008, f"the second stream was not refused (close {close_code}, {took:.1f} s)"
        assert not [m for m in sent_to_duplicate if m.get("event") == "media"], "nothing spoken on the duplicate"
        assert "already has a media stream" in other.log.read_text()

        # The first stream goes on: after longer than the server's hang-up grace, nobody has hung up and
        # the callee has heard the greeting once (the duplicate added nothing).
        await asyncio.sleep(2.0)
        log = owner.sandbox_log("twilio")
        still = next(c for c in log["calls"] if c["id"] == call_sid)
        assert still["status"] == "in-progress" and still["streams"] == 1
        assert GREETING_SECS - 0.05 <= still["heard_secs"] <= GREETING_SECS + 0.1, still
        assert not [x for x in log["received"] if x["path"].endswith(f"/Calls/{call_sid}.json")], "no hang-up"
        during = (await client.get(f"/calls/{call_id}", headers=tenant.headers)).json()["data"]
        assert during["status"] == "in_progress" and during["started_at"] == before["started_at"]

        # The callee hangs up (the carrier's REST hang-up on the emulator): the call completes as usual.
        hung_up_at = time.monotonic()
        async with httpx.AsyncClient(timeout=10, auth=(account["account_sid"], account["auth_token"])) as http:
            r = await http.post(
                f"{owner.base_url}/sandbox/twilio/2010-04-01/Accounts/{account['account_sid']}/Calls/{call_sid}.json",
                data={"Status": "completed"},
            )
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 20
        while True:
            done = (await client.get(f"/calls/{call_id}", headers=tenant.headers)).json()["data"]
            if done["status"] != "in_progress" and done["session"]["processing_complete"]:
                break
            assert time.monotonic() < deadline, done
            await asyncio.sleep(0.1)
        assert time.monotonic() - hung_up_at < 10
    finally:
        for server in servers:
            server.stop()

    assert done["status"] == "completed" and done["disposition"] == "completed"
    assert done["error_message"] is None
    assert done["started_at"] == before["started_at"] and done["ended_at"] is not None
    assert done["duration_seconds"] >= 2
    assert done["session"]["status"] == "completed"
    async with ctx.db.transaction() as s:
        row = await s.get(Call, call_id)
    assert row.media_started_at == claimed_at, "the refused stream did not take or move the claim"
    assert row.carrier_call_id == call_sid


async def test_of_concurrent_claims_on_one_call_from_two_processes_exactly_one_wins(fresh, fresh_database) -> None:  # noqa: ANN001
    """The claim itself, as two server processes race for it: each its own engine on the same database."""
    ctx, client = fresh
    tenant, agent = await sandbox_twilio_partner(ctx, client, concurrency=5)
    body = {"agent_id": agent["id"], "provider": "twilio", "to_number": TO, "variables": {"callee_name": "R"}}
    r = await client.post("/calls/start", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    call_id = r.json()["data"]["call_id"]  # pending: this test's app runs no dialer
    processes = [Context.build(fresh_database.settings()) for _ in range(2)]

    async def claim(process: Context) -> bool:
        async with process.db.transaction() as s:
            return await dq.claim_media(s, call_id, utcnow())

    try:
        results = await asyncio.gather(*(claim(p) for p in processes for _ in range(6)))
        assert results.count(True) == 1, results
        async with processes[0].db.transaction() as s:
            await dq.release_media(s, call_id)  # the winner's call could not be moved on: a retry may claim
        assert await claim(processes[1]) is True
        assert await claim(processes[0]) is False
        async with processes[0].db.transaction() as s:
            await dq.release_media(s, call_id)
        r = await client.post(f"/calls/{call_id}/cancel", headers=tenant.headers)
        assert r.status_code == 200, r.text
        assert await claim(processes[0]) is False, "an ended call has no media stream to give"
    finally:
        for p in processes:
            await p.close()
