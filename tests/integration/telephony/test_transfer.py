"""Cold transfer of a live call, end to end over loopback: calls/start → dialer → carrier emulator →
media stream → the runtime asks the call's CallControl to transfer → the carrier gets its own transfer
request (Twilio: the live call updated with <Dial> TwiML; Plivo and Vobiz: the A leg sent to our URL
that answers <Dial><Number>) → the media stream stops, the callee is bridged to the number, the call
completes through the carrier's status callbacks and the session is filed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.integration.telephony.conftest import (
    LiveServer,
    make_caller,
    start,
    wait_session_done,
    wait_status,
)
from voxline.core.media import MediaChannel
from voxline.dialer.carrier_ops import CallControl
from voxline.sandbox.emulator import Script
from voxline.sandbox.responder import Responder
from voxline.telephony.carrier import CarrierError
from voxline.telephony.registry import carrier as carrier_for

pytestmark = pytest.mark.asyncio

COLLEAGUE = "+14155550123"


class TransferringResponder:
    """The sandbox responder, which after a moment transfers the callee the way the voice runtime does."""

    def __init__(self, controls: list[Any]) -> None:
        self.controls = controls

    async def run(self, channel: MediaChannel) -> None:
        conversation = asyncio.create_task(Responder(speak_secs=0.2).run(channel))
        self.controls.append(channel.control)
        await asyncio.sleep(0.3)
        assert channel.control is not None and channel.control.supports_transfer
        await channel.control.transfer(COLLEAGUE)
        await asyncio.wait_for(conversation, 10)


async def _transfer_call(live: LiveServer, provider: str, to: str) -> tuple[dict, Any, Any]:
    controls: list[Any] = []
    previous = getattr(live.app.state, "call_runtime_factory", None)
    live.app.state.call_runtime_factory = lambda ctx: TransferringResponder(controls)
    try:
        caller = await make_caller(live, provider)
        emu = live.sandbox[provider]
        emu.scripts[to] = Script("human", talk_secs=None, bridged_secs=0.3)  # stays on until transferred
        started = await start(live, caller, to)
        call = await wait_status(live, caller, started["call_id"], ("completed",), wait=15)
        done = await wait_session_done(live, caller, started["call_id"], wait=15)
    finally:
        if previous is None:
            del live.app.state.call_runtime_factory
        else:
            live.app.state.call_runtime_factory = previous
    assert call["disposition"] == "completed", call
    assert call["error_message"] is None, call
    assert done["session"]["status"] == "completed"
    assert len(controls) == 1 and isinstance(controls[0], CallControl)
    assert controls[0].transferred_to == COLLEAGUE
    emucall = next(c for c in emu.calls.values() if c.to == to)
    assert emucall.error is None, emucall.error
    assert emucall.transferred_to == COLLEAGUE  # the callee was bridged to the colleague
    assert emucall.status == "completed" and emucall.hangup.is_set() is False  # nobody hung up on them
    assert emucall.stream_closed_at is not None and emucall.ended_at is not None
    assert emucall.stream_closed_at <= emucall.ended_at  # the stream stopped, then the bridged call ran
    return started, emu, emucall


async def test_twilio_transfer_updates_the_live_call_with_dial_twiml(live: LiveServer) -> None:
    started, emu, emucall = await _transfer_call(live, "twilio", "+919813400001")
    sid = emucall.account  # the partner's sandbox account
    updates = [r for r in emu.received if r.path.endswith(f"/Accounts/{sid}/Calls/{emucall.id}.json")]
    assert [u.params for u in updates] == [{"Twiml": f"<Response><Dial>{COLLEAGUE}</Dial></Response>"}]
    # The carrier's status callbacks ended the call.
    ours = [s for s in emu.sent if s.params.get("CallSid") == emucall.id]
    finals = [s for s in ours if s.params.get("CallStatus") == "completed"]
    assert finals and finals[-1].status_code == 204


@pytest.mark.parametrize("provider", ["plivo", "vobiz"])
async def test_plivo_transfer_sends_the_a_leg_to_our_dial_xml(live: LiveServer, provider: str) -> None:
    to = "+919813500001" if provider == "plivo" else "+919813600001"
    started, emu, emucall = await _transfer_call(live, provider, to)
    auth_id = emucall.account  # the partner's sandbox account
    transfers = [r for r in emu.received if r.method == "POST" and r.path.endswith(f"/{auth_id}/Call/{emucall.id}/")]
    assert len(transfers) == 1
    body = transfers[0].params
    assert body["legs"] == "aleg" and body["aleg_method"] == "GET"
    dial_url = body["aleg_url"]
    assert dial_url.startswith(f"{live.base_url}/telephony/{provider}/transfer/{started['call_id']}?token=")
    # The carrier fetched our XML (signed) and it dialed the number.
    fetched = [s for s in emu.sent if s.url.startswith(dial_url)]
    assert fetched and fetched[0].status_code == 200
    async with httpx.AsyncClient() as http:
        if provider == "plivo":  # Plivo signs every fetch: an unsigned one is refused
            assert (await http.get(dial_url)).status_code == 403
        forged = dial_url.replace("token=", "token=x", 1)
        assert (await http.get(forged)).status_code == 403


async def test_a_carrier_without_transfer_says_so(live: LiveServer) -> None:
    for provider in ("exotel", "mcube"):
        control = CallControl(live.ctx, "call_unknown", carrier_for(provider))
        assert control.supports_transfer is False
        with pytest.raises(CarrierError, match="cannot be transferred"):
            await control.transfer(COLLEAGUE)
    for provider in ("twilio", "plivo", "vobiz"):
        assert CallControl(live.ctx, "call_unknown", carrier_for(provider)).supports_transfer is True


async def test_the_model_transfers_a_twilio_call_through_its_tool(live: LiveServer) -> None:
    """The whole path with the real conversation runtime: the emulator's callee asks for a person (a
    Piper-voiced line), the stand-in STT hears it, the scripted brain calls `transfer_call` through the
    OpenAI-compatible LLM path, the runtime announces the transfer and asks CallControl, Twilio's live
    call is updated with <Dial> TwiML for the agent's transfer_number, the callee is bridged to it and
    the session is filed with the transfer as the way the conversation ended."""
    from xml.etree import ElementTree as ET

    from voxline.calls.conversation import voice_runtime
    from voxline.devtools.callee_voice import line
    from voxline.devtools.standins import StandInEngines
    from voxline.voice.runtime import VoiceRuntime

    ask = "Can I speak to a real person please?"
    runtimes: list[VoiceRuntime] = []

    def factory(ctx):  # noqa: ANN001, ANN202
        runtimes.append(voice_runtime(ctx, StandInEngines([ask])))
        return runtimes[-1]

    previous = getattr(live.app.state, "call_runtime_factory", None)
    live.app.state.call_runtime_factory = factory
    try:
        caller = await make_caller(
            live,
            "twilio",
            transfer_enabled=True,
            transfer_number=COLLEAGUE,
            transfer_message="Connecting you to {{callee_name}}'s care team now.",
        )
        to = "+919813400002"
        emu = live.sandbox["twilio"]
        emu.scripts[to] = Script("human", talk_secs=None, bridged_secs=0.3, lines=(line(ask).pcm8k.tobytes(),))
        started = await start(live, caller, to)
        call = await wait_status(live, caller, started["call_id"], ("completed",), wait=30)
        done = await wait_session_done(live, caller, started["call_id"], wait=30)
    finally:
        if previous is None:
            del live.app.state.call_runtime_factory
        else:
            live.app.state.call_runtime_factory = previous

    emucall = next(c for c in emu.calls.values() if c.to == to)
    assert emucall.error is None, emucall.error
    assert emucall.lines_said == 1
    sid = emucall.account
    updates = [r.params for r in emu.received if r.path.endswith(f"/Accounts/{sid}/Calls/{emucall.id}.json")]
    assert len(updates) == 1 and set(updates[0]) == {"Twiml"}, updates  # one live-call update, and no hang-up
    dial = ET.fromstring(updates[0]["Twiml"]).find("Dial")
    assert dial is not None and (dial.findtext("Number") or dial.text or "").strip() == COLLEAGUE
    assert emucall.transferred_to == COLLEAGUE  # the callee was bridged to the agent's transfer_number
    assert emucall.status == "completed" and emucall.hangup.is_set() is False
    assert emucall.stream_closed_at is not None and emucall.stream_closed_at <= emucall.ended_at

    assert len(runtimes) == 1 and runtimes[0].last_result is not None
    result = runtimes[0].last_result
    assert result.reason == "transfer" and result.transferred_to == COLLEAGUE and result.error is None
    session = done["session"]
    assert session["status"] == "completed" and session["processing_complete"] is True
    user = [t["content"] for t in session["transcript"] if t["role"] == "user"]
    bot = [t["content"] for t in session["transcript"] if t["role"] == "bot"]
    assert user == [ask]
    assert bot == ["Hello Asha!", "Connecting you to Asha's care team now."]  # greeting, then the announcement
    assert call["disposition"] == "completed" and call["answered_by"] == "human" and call["error_message"] is None
