"""The carrier emulators under /sandbox serve only this server's own sandbox calls, and the carrier-facing
routes trust only what the carrier could have sent: every emulator route refuses a request without a
sandbox account's credentials (checked by walking the mounted apps, so a new route cannot slip in); nobody
can claim a partner's account; the database keeps no callback token in clear and the diagnostic log shows
none; a media stream for a call that is still ringing is refused and changes nothing; a status callback
without the call's token is refused, and even with it an answered call cannot be made busy or unanswered."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import inspect as sa_inspect
from starlette.routing import Mount, Route
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.integration.telephony.conftest import (
    CREDS,
    LiveServer,
    get_call,
    make_caller,
    sandbox_creds,
    start,
    wait_status,
)
from voxline.app import create_app
from voxline.sandbox.credentials import seal_for_key
from voxline.sandbox.emulator import EmuCall, Emulator, Received, Script
from voxline.sandbox.exotel import ExotelWire
from voxline.sandbox.mcube import MCubeWire
from voxline.sandbox.plivo import PlivoWire
from voxline.sandbox.twilio import TwilioEmulator
from voxline.store.models import Call
from voxline.telephony import registry

RINGING_SECS = 6.0  # long enough to act on a ringing call


def _status_url(provider: str, r: Received) -> str:
    key = {"mcube": "refurl", "plivo": "hangup_url", "vobiz": "hangup_url"}.get(provider, "StatusCallback")
    return str(r.params.get(key) or "")


def _create_of(emu: Emulator, provider: str, call_id: str) -> Received:
    return next(r for r in emu.received if f"/status/{call_id}?" in _status_url(provider, r))


def _token_of(emu: Emulator, provider: str, call_id: str) -> str:
    """The call's token, as the carrier was given it (read in-process: no route shows it)."""
    return parse_qs(urlsplit(_status_url(provider, _create_of(emu, provider, call_id))).query)["token"][0]


async def _row(live: LiveServer, call_id: str) -> Call:
    async with live.ctx.db.transaction() as s:
        return await s.get(Call, call_id)


async def _wait_dialed(live: LiveServer, provider: str, call_id: str, status: str) -> EmuCall:
    """The emulator's call once the carrier has it in `status`, and our row knows its carrier id."""
    emu = live.sandbox[provider]
    for _ in range(300):
        row = await _row(live, call_id)
        known = row.carrier_call_id or ""  # Plivo and Vobiz answer the create with a request id first
        emucall = emu.calls.get(known) or getattr(emu, "by_request", {}).get(known)
        if emucall is not None and emucall.status == status:
            return emucall
        await asyncio.sleep(0.05)
    raise AssertionError(f"the {provider} call never reached {status}")


# --- the emulators are sealed ---------------------------------------------------------------------------


def _probe_path(path: str) -> str:
    """A concrete path for a route template: every parameter filled with a plausible value."""
    out = path
    while "{" in out:
        start_, end = out.index("{"), out.index("}")
        name = out[start_ + 1 : end].split(":")[0]
        value = {"account_sid": "AC" + "0" * 32, "auth_id": "MAXXXXXXXXXXXXXXXXX1"}.get(name, "x" + uuid.uuid4().hex)
        out = out[:start_] + value + out[end + 1 :]
    return out


def _sandbox_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route of every app mounted under /sandbox."""
    found = []
    for mount in app.routes:
        if isinstance(mount, Mount) and mount.path.startswith("/sandbox"):
            for route in mount.routes:
                if isinstance(route, Route):
                    for method in sorted(route.methods or ()):
                        if method != "HEAD":
                            found.append((method, mount.path + _probe_path(route.path)))
    return found


async def test_no_route_under_sandbox_answers_without_sandbox_credentials(live: LiveServer) -> None:
    routes = _sandbox_routes(live.app)
    providers = {path.split("/")[2] for _, path in routes}
    assert providers == set(registry.sandbox_providers()), providers
    assert ("GET", "/sandbox/twilio/_sandbox/log") in routes  # the diagnostic log is among them
    stranger = secrets.token_hex(16)
    wrong = [
        {},
        {"Authorization": "Basic " + base64.b64encode(f"AC{stranger}:{stranger}".encode()).decode()},
        {"Authorization": f"Bearer {stranger}"},
        # A well-formed JWT (what MCube checks first) that this deployment did not sign.
        {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdHJhbmdlciJ9.c2lnbmF0dXJl"},
    ]
    # MCube carries its token in the JSON body, as `HTTP_AUTHORIZATION`: a stranger's token there too.
    bodies = [{"to": "+14155550100"}, {"to": "+14155550100", "HTTP_AUTHORIZATION": wrong[-1]["Authorization"][7:]}]
    seen = {name: len(live.sandbox[name].received) for name in providers if name in live.sandbox.emulators}
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        for method, path in routes:
            for headers in wrong:
                for body in bodies:
                    r = await http.request(method, path, headers=headers, json=body)
                    if path.startswith("/sandbox/mcube/"):
                        # MCube's own refusal is HTTP 200 with `"status": false` (per the integration followed).
                        assert r.status_code == 200 and r.json() == {"status": False, "msg": "Invalid token"}, (
                            method,
                            path,
                            r.text[:200],
                        )
                    else:
                        assert r.status_code == 401, (method, path, headers, r.status_code, r.text[:200])
    # Refused before any route ran: no emulator even recorded the requests.
    assert {name: len(live.sandbox[name].received) for name in providers if name in live.sandbox.emulators} == seen
    # The carrier's own refusal, e.g. Twilio's 20003.
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        r = await http.get("/sandbox/twilio/_sandbox/log")
    assert r.status_code == 401 and r.json()["code"] == 20003


async def test_a_stranger_cannot_claim_an_account_a_partner_configures_later(live: LiveServer) -> None:
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        r = await http.post(
            f"/sandbox/twilio/2010-04-01/Accounts/{sid}/Calls.json",
            data={"To": "+919811700300", "From": "+14155551234", "Url": f"{live.base_url}/x"},
            auth=(sid, "f" * 32),  # the stranger's guess at a secret
        )
    assert r.status_code == 401 and r.json()["code"] == 20003
    assert not [c for c in live.sandbox["twilio"].calls.values() if c.account == sid], "no call was created"
    # The partner configures that very account; its sandbox calls go through all the same.
    caller = await make_caller(live, "twilio")
    creds = {**CREDS["twilio"], "account_sid": sid, "auth_token": token}
    r = await live.api.put("/config/telephony/twilio", json=creds, headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    started = await start(live, caller, "+919811700300")
    call = await wait_status(live, caller, started["call_id"], ("completed", "failed"))
    assert call["status"] == "completed" and call["error_message"] is None, call


async def test_any_server_process_accepts_the_sandbox_account_another_process_dialed_with(live: LiveServer) -> None:
    """`voxline serve --workers N`: the emulator that receives a create never saw the dialer that sent it."""
    other = create_app(ctx=live.ctx)  # a second app on the same deployment: shares only the key
    creds = sandbox_creds(live.ctx.settings, "partner-elsewhere", "twilio")
    emu = other.state.sandbox["twilio"]
    assert emu.authenticate(creds["account_sid"], creds["auth_token"])
    assert not emu.authenticate(creds["account_sid"], "0" * 32)
    assert creds["account_sid"] != CREDS["twilio"]["account_sid"]
    exotel = sandbox_creds(live.ctx.settings, "partner-elsewhere", "exotel")
    assert other.state.sandbox["exotel"].authenticate(
        f"{exotel['account_sid']}:{exotel['api_key']}", exotel["api_token"]
    )
    mcube = sandbox_creds(live.ctx.settings, "partner-elsewhere", "mcube")
    assert other.state.sandbox["mcube"].authenticate(mcube["jwt_token"], mcube["jwt_token"])
    # Another deployment's key makes credentials this one refuses.
    foreign = TwilioEmulator.sandbox_account(seal_for_key(b"k" * 32), "partner-elsewhere")
    assert not emu.authenticate(foreign["account_sid"], foreign["auth_token"])


# --- callback tokens ------------------------------------------------------------------------------------


async def test_the_database_and_the_diagnostic_log_hold_no_clear_callback_token(live: LiveServer) -> None:
    caller = await make_caller(live, "exotel")
    to = "+919833700300"
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], ("completed",))
    token = _token_of(live.sandbox["exotel"], "exotel", started["call_id"])
    row = await _row(live, started["call_id"])
    values = [str(getattr(row, attr.key)) for attr in sa_inspect(row).mapper.column_attrs]
    assert not [v for v in values if token in v], "the token is stored in clear"
    assert row.callback_token_hash == hashlib.sha256(token.encode()).hexdigest()
    # The operator's diagnostic log (sealed with a token derived from the key) redacts every callback token.
    observer = seal_for_key(live.ctx.settings.resolved_encryption_key).observer_token()
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as http:
        r = await http.get("/sandbox/exotel/_sandbox/log", headers={"Authorization": f"Bearer {observer}"})
    assert r.status_code == 200
    assert token not in r.text and "token=REDACTED" in r.text


# --- media streams only for answered calls --------------------------------------------------------------


async def _open_stream(live: LiveServer, provider: str, emucall: EmuCall, token: str, session_id: str) -> tuple:
    """Open our media websocket as the carrier would, with the call's right token: (close code, messages)."""
    ws_base = live.base_url.replace("http://", "ws://")
    stream_id = "MZ" + secrets.token_hex(16)
    if provider == "exotel":
        # The flow's Voicebot applet URL (the connection's key), the call named by its start.call_sid.
        url, wire = live.sandbox["exotel"].voicebot_url(emucall), ExotelWire()
        opening = wire.opening(emucall, stream_id, {})
    elif provider == "mcube":
        # The wss_url our refurl hands MCube: session and token in the path.
        url, wire = f"{ws_base}/telephony/mcube/media/{session_id}/{token}", MCubeWire()
        opening = wire.opening(emucall, stream_id, {})
    else:
        url, wire = f"{ws_base}/telephony/{provider}/media/{session_id}/{token}", PlivoWire()
        opening = wire.opening(emucall, stream_id, {})
    received: list[dict] = []
    async with ws_connect(url, open_timeout=10) as ws:
        for message in opening:
            await ws.send(json.dumps(message))
        try:
            for seq in range(10):
                await ws.send(json.dumps(wire.media(emucall, stream_id, bytes(320), seq)))
                await asyncio.sleep(0.02)
            async with asyncio.timeout(5):
                async for raw in ws:
                    received.append(json.loads(raw))
        except ConnectionClosed:
            pass
        except TimeoutError:
            return None, received  # still open: it was accepted
        return ws.close_code, received


@pytest.mark.parametrize("provider", ["exotel", "mcube", "vobiz"])
async def test_a_media_stream_for_a_ringing_call_is_refused_and_changes_nothing(
    live: LiveServer, provider: str
) -> None:
    caller = await make_caller(live, provider)
    to = {"exotel": "+919833700001", "mcube": "+919844700001", "vobiz": "+919813700001"}[provider]
    emu = live.sandbox[provider]
    emu.scripts[to] = Script("human", ring_secs=RINGING_SECS, talk_secs=2.0)  # time to hear us on a busy machine
    started = await start(live, caller, to)
    emucall = await _wait_dialed(live, provider, started["call_id"], "ringing")
    token = _token_of(emu, provider, started["call_id"])
    before = (await _row(live, started["call_id"])).status  # Exotel reports no ringing: still pending
    assert before in ("pending", "ringing")
    close_code, received = await _open_stream(live, provider, emucall, token, started["session_id"])
    assert close_code == 1008, f"a stream for a ringing call was accepted (close {close_code})"
    assert not [m for m in received if m.get("event") in ("media", "playAudio")], "nothing was played"
    row = await _row(live, started["call_id"])
    assert row.status == before and row.started_at is None and row.media_started_at is None
    # The callee then answers: the carrier's own stream is accepted as usual, and the call completes.
    call = await wait_status(live, caller, started["call_id"], ("completed",), wait=RINGING_SECS + 15)
    assert call["error_message"] is None and call["started_at"] is not None
    assert emucall.streams_opened == 1 and len(emucall.heard) > 0


# --- status callbacks -----------------------------------------------------------------------------------


def _status_bodies(provider: str, carrier_call_id: str) -> dict[str, dict[str, str]]:
    """What each carrier would post for these outcomes."""
    if provider == "exotel":
        return {
            "completed": {"CallSid": carrier_call_id, "EventType": "terminal", "Status": "completed"},
            "busy": {"CallSid": carrier_call_id, "EventType": "terminal", "Status": "busy"},
            "no_answer": {"CallSid": carrier_call_id, "EventType": "terminal", "Status": "no-answer"},
            "ringing": {"CallSid": carrier_call_id, "Status": "ringing"},
        }
    if provider == "mcube":
        ended = {"endTime": "2026-11-30 12:00:10", "answeredTime": "1"}
        return {
            "completed": {"callId": carrier_call_id, "dialStatus": "ANSWER", **ended},
            "busy": {"callId": carrier_call_id, "dialStatus": "BUSY"},
            "no_answer": {"callId": carrier_call_id, "dialStatus": "NOANSWER"},
            "ringing": {"callId": carrier_call_id, "dialStatus": "CONNECTING"},  # what precedes the answer
        }
    base = {"CallUUID": carrier_call_id, "Event": "Hangup"}
    return {
        "completed": {**base, "CallStatus": "completed", "HangupCause": "NORMAL_CLEARING"},
        "busy": {**base, "CallStatus": "busy", "HangupCause": "USER_BUSY"},
        "no_answer": {**base, "CallStatus": "no-answer", "HangupCause": "NO_ANSWER"},
        "ringing": {"CallUUID": carrier_call_id, "CallStatus": "ringing"},
    }


async def _post(
    http: httpx.AsyncClient, provider: str, url: str, body: dict[str, str], emucall: EmuCall, emu: Emulator
) -> httpx.Response:
    """A status callback as the carrier sends it: MCube posts JSON, the others forms; Vobiz signs every
    callback with the account's token (so what is refused below is the missing call token, not the signature)."""
    if provider == "mcube":
        return await http.post(url, json=body)
    signing = getattr(emu, "signature_headers_for", None)
    headers = signing(emucall, url, body, "POST") if signing is not None else {}
    return await http.post(url, data=body, headers=headers)


@pytest.mark.parametrize("provider", ["exotel", "vobiz", "mcube"])
async def test_a_status_without_the_calls_token_is_refused_and_an_answered_call_cannot_go_back(
    live: LiveServer, provider: str
) -> None:
    caller = await make_caller(live, provider)
    to = {"exotel": "+919833700999", "mcube": "+919844700999", "vobiz": "+919813700999"}[provider]
    emu = live.sandbox[provider]
    emu.scripts[to] = Script("human", ring_secs=RINGING_SECS, talk_secs=None)
    started = await start(live, caller, to)
    emucall = await _wait_dialed(live, provider, started["call_id"], "ringing")
    status_url = _status_url(provider, _create_of(emu, provider, started["call_id"]))
    bodies = _status_bodies(provider, emucall.id)
    bare = status_url.split("?")[0]
    async with httpx.AsyncClient(timeout=10) as http:
        for url in (bare, f"{bare}?token=", f"{bare}?token={secrets.token_urlsafe(32)}"):
            for body in (bodies["completed"], bodies["busy"]):
                r = await _post(http, provider, url, body, emucall, emu)
                assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN", (url, r.text)
        row = await _row(live, started["call_id"])
        assert row.status in ("pending", "ringing") and row.ended_at is None, "a refused callback changed nothing"

        await wait_status(live, caller, started["call_id"], ("in_progress",), wait=RINGING_SECS + 10)
        # With the right token, an answered call still cannot be made busy, unanswered, or ringing again.
        for outcome in ("busy", "no_answer", "ringing"):
            r = await _post(http, provider, status_url, bodies[outcome], emucall, emu)
            # MCube's refurl always answers (`{"status": "ok"}`, or the wss_url to a CONNECTING).
            assert r.status_code == (200 if provider == "mcube" else 204), r.text
        call = await get_call(live, caller, started["call_id"])
        assert call["status"] == "in_progress" and call["ended_at"] is None, call
    emucall.hangup.set()
    await wait_status(live, caller, started["call_id"], ("completed",))
