"""The real conversation runtime behind a real carrier edge: calls/start → dialer → Twilio emulator →
TwiML → Media Streams → voice.runtime.VoiceRuntime (stand-in STT/TTS, scripted brain) → the callee
hears the agent's greeting → the session is filed with its transcript and the call completes."""

from __future__ import annotations

from tests.integration.telephony.conftest import LiveServer, make_caller, start, wait_session_done, wait_status
from voxline.sandbox.audio import seconds
from voxline.sandbox.emulator import Script
from voxline.voice.runtime import VoiceRuntime
from voxline.voice.standins import StandInEngines


async def test_the_voice_runtime_holds_a_call_placed_by_the_dialer(live: LiveServer) -> None:
    live.app.state.call_runtime_factory = lambda ctx: VoiceRuntime(ctx, StandInEngines(["Yes, that works."]))
    try:
        caller = await make_caller(live, "twilio")
        to = "+919813300001"
        emu = live.sandbox["twilio"]
        emu.scripts[to] = Script("human", talk_secs=4.0)
        started = await start(live, caller, to)
        call = await wait_status(live, caller, started["call_id"], ("completed",), wait=30)
        done = await wait_session_done(live, caller, started["call_id"], wait=60)
    finally:
        del live.app.state.call_runtime_factory
    assert call["disposition"] in ("completed", "user_hangup_no_speech")
    bot = [t["content"] for t in done["session"]["transcript"] if t["role"] == "bot"]
    assert bot and bot[0] == "Hello Asha!", done["session"]["transcript"]
    emucall = next(c for c in emu.calls.values() if c.to == to)
    assert seconds(bytes(emucall.heard)) > 0.1, "the callee heard the agent speak (stand-in TTS audio)"


def test_a_server_holds_calls_with_the_ai_conversation_unless_told_otherwise(database) -> None:  # noqa: ANN001
    from voxline.app import create_app

    assert create_app(database.settings()).state.call_runtime_factory is VoiceRuntime
    # Without a runtime, sandbox calls get the test tone and live calls fail (test_twilio_e2e covers both).
    assert not hasattr(create_app(database.settings(call_runtime="responder")).state, "call_runtime_factory")
