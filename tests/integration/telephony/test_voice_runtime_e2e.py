"""The real conversation runtime behind a real carrier edge: calls/start → dialer → Twilio emulator →
TwiML → Media Streams → voice.runtime.VoiceRuntime (stand-in STT/TTS, scripted brain) → the callee
hears the agent's greeting → the session is filed with its transcript and the call completes."""

from __future__ import annotations

import numpy as np

from tests.integration.telephony.conftest import LiveServer, make_caller, start, wait_session_done, wait_status
from voxline.calls.conversation import voice_runtime
from voxline.devtools.standins import SECS_PER_CHAR, StandInEngines
from voxline.sandbox.audio import seconds
from voxline.sandbox.emulator import Script


async def test_the_voice_runtime_holds_a_call_placed_by_the_dialer(live: LiveServer) -> None:
    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx, StandInEngines(["Yes, that works."]))
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

    assert create_app(database.settings()).state.call_runtime_factory is voice_runtime
    # Without a runtime, sandbox calls get the test tone and live calls fail (test_twilio_e2e covers both).
    assert not hasattr(create_app(database.settings(call_runtime="responder")).state, "call_runtime_factory")


FAREWELL = "Our time is up for today, thank you so much for talking with me."  # ≈0.8 s of stand-in speech


async def test_at_the_maximum_duration_the_runtime_says_its_farewell_before_the_edge_cuts_in(live: LiveServer) -> None:
    """The runtime starts its farewell just before the cap and hangs up itself; the carrier edge's own cut
    waits for that (the cap plus the hang-up grace and a margin), so the callee hears the whole farewell."""
    from voxline.store import agents as agent_store

    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx, StandInEngines([]))
    cap = 3
    try:
        caller = await make_caller(live, "twilio", end_call_message=FAREWELL)
        async with live.ctx.db.transaction() as s:  # the API allows 60 s at least; the test uses a short cap
            agent = await agent_store.get(s, caller.tenant.partner_id, caller.agent["id"])
            agent.max_call_duration_secs = cap
        to = "+919813300002"
        emu = live.sandbox["twilio"]
        emu.scripts[to] = Script("human", talk_secs=None, hz=0.0)  # a silent callee who never hangs up
        started = await start(live, caller, to)
        call = await wait_status(live, caller, started["call_id"], ("completed",), wait=30)
        done = await wait_session_done(live, caller, started["call_id"], wait=30)
    finally:
        del live.app.state.call_runtime_factory
    emucall = next(c for c in emu.calls.values() if c.to == to)
    bot = [t["content"] for t in done["session"]["transcript"] if t["role"] == "bot"]
    assert bot[-1] == FAREWELL, bot
    pcm = np.frombuffer(bytes(emucall.heard), dtype="<i2").reshape(-1, 160).astype(np.float64)
    spoken = float((np.sqrt((pcm**2).mean(axis=1)) > 300).sum()) * 0.02  # seconds of bot speech the callee heard
    greeting = len("Hello Asha!") * SECS_PER_CHAR
    farewell = len(FAREWELL) * SECS_PER_CHAR
    assert spoken > greeting + farewell - 0.15, f"the farewell was cut short: {spoken:.2f} s of speech heard"
    hang_ups = [r.at for r in emu.received if r.path.endswith(f"/Calls/{emucall.id}.json") and r.method == "POST"]
    # The first hang-up is the runtime's own, after its farewell and within its grace past the cap: not
    # the edge's cut, which waits for the hard cap (the cap plus the grace and a margin).
    grace = live.ctx.settings.carrier_hangup_grace_secs
    assert hang_ups and cap < hang_ups[0] - emucall.answered_at < cap + grace + 1.0
    create = next(r for r in emu.received if r.path.endswith("/Calls.json") and r.params.get("To") == to)
    assert int(create.params["TimeLimit"]) == cap + 3  # the carrier's cut: the same hard cap, never past cap + 10
    assert call["duration_seconds"] <= cap + 10
