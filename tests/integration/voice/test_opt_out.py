"""Spoken opt-out in a live call (stand-in STT/TTS, the real runtime, a real Media Streams websocket): the
callee says they do not want to be called again; the bot acknowledges briefly and ends the call, the number
is on the partner's do-not-call list, and session.completed says so."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from tests.integration.voice.conftest import place_call, wait_finished
from voxline.calls.conversation import voice_runtime
from voxline.core.opt_out import ACKNOWLEDGEMENT
from voxline.devtools.callee_voice import line
from voxline.devtools.standins import StandInEngines
from voxline.devtools.twilio_peer import TwilioCallee
from voxline.store.campaign_tables import DncEntry
from voxline.store.models import SessionEvent

OPT_OUT = "Please don't call me again. Remove my number."


async def test_a_callee_who_opts_out_is_acknowledged_listed_and_reported(voice_server):
    server = voice_server
    call = await place_call(server)
    runtime = voice_runtime(server.ctx, StandInEngines([OPT_OUT]))
    server.runtimes[call.session_id] = runtime
    callee = TwilioCallee(
        server.ws_url, [line(OPT_OUT)], custom={"session_id": call.session_id, "call_id": call.call_id}
    )
    heard = await asyncio.wait_for(callee.run(), 60)
    await wait_finished(server, call.session_id)
    data = (await server.http.get(f"/calls/{call.call_id}", headers=call.headers)).json()["data"]
    bot = [t["content"] for t in data["session"]["transcript"] if t["role"] == "bot"]
    assert bot[-1] == ACKNOWLEDGEMENT and runtime.last_result.reason == "opted_out"
    assert data["disposition"] == "opted_out" and heard.closed_by_server
    listed = (await server.http.get(f"/dnc/{data['to_number']}", headers=call.headers)).json()["data"]
    assert listed["source"] == "opt_out" and listed["call_id"] == call.call_id and listed["reason"] == OPT_OUT
    async with server.ctx.db.transaction() as s:
        event = (await s.execute(select(SessionEvent).where(SessionEvent.session_id == call.session_id))).scalar_one()
    assert event.payload["data"]["opted_out"] is True and event.payload["data"]["call"]["disposition"] == "opted_out"
    r = await server.http.post(
        "/calls/start",
        json={"agent_id": call.agent["id"], "to_number": data["to_number"], "provider": "twilio"},
        headers=call.headers,
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "NUMBER_ON_DO_NOT_CALL"  # never called again
    async with server.ctx.db.transaction() as s:
        assert (await s.execute(select(DncEntry).where(DncEntry.call_id == call.call_id))).scalar_one()


async def test_a_callee_who_talks_on_is_not_listed(voice_server):
    server = voice_server
    call = await place_call(server)
    script = ["Can you call me back tomorrow?", "Thank you, goodbye."]
    runtime = voice_runtime(server.ctx, StandInEngines(script))
    server.runtimes[call.session_id] = runtime
    callee = TwilioCallee(
        server.ws_url,
        [line(script[0]), line(script[1])],
        custom={"session_id": call.session_id, "call_id": call.call_id},
    )
    await asyncio.wait_for(callee.run(), 60)
    await wait_finished(server, call.session_id)
    data = (await server.http.get(f"/calls/{call.call_id}", headers=call.headers)).json()["data"]
    assert data["disposition"] != "opted_out"
    async with server.ctx.db.transaction() as s:
        assert (await s.execute(select(DncEntry).where(DncEntry.call_id == call.call_id))).first() is None
        event = (await s.execute(select(SessionEvent).where(SessionEvent.session_id == call.session_id))).scalar_one()
    assert event.payload["data"]["opted_out"] is False
