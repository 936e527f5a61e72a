"""The conversation over a real Twilio Media Streams websocket, with stand-in STT/TTS (fast) and the
scripted brain behind the real OpenAI-compatible LLM path."""

from __future__ import annotations

import asyncio
import gc

from pipecat.frames.frames import TTSAudioRawFrame

from tests.integration.voice.conftest import place_call, wait_finished
from voxline.calls.conversation import voice_runtime
from voxline.devtools.callee_voice import line
from voxline.devtools.standins import SECS_PER_CHAR, StandInEngines
from voxline.devtools.twilio_peer import TwilioCallee
from voxline.voice.runtime import with_limits


async def _converse(server, call, script, lines, **runtime_kw):
    runtime = voice_runtime(server.ctx, StandInEngines(script), **runtime_kw)
    server.runtimes[call.session_id] = runtime
    callee = TwilioCallee(server.ws_url, lines, custom={"session_id": call.session_id, "call_id": call.call_id})
    heard = await asyncio.wait_for(callee.run(), 60)
    await wait_finished(server, call.session_id)
    r = await server.http.get(f"/calls/{call.call_id}", headers=call.headers)
    assert r.status_code == 200, r.text
    return runtime, heard, r.json()["data"]


async def test_the_bot_greets_with_variables_answers_and_ends_the_call_with_the_end_call_tool(voice_server):
    call = await place_call(voice_server)
    script = ["I would like to book an appointment.", "Thank you, goodbye."]
    runtime, heard, data = await _converse(voice_server, call, script, [line(script[0]), line(script[1])])
    session = data["session"]
    bot = [t["content"] for t in session["transcript"] if t["role"] == "bot"]
    user = [t["content"] for t in session["transcript"] if t["role"] == "user"]
    assert bot[0] == "Hello Sajal, this is the clinic calling."
    assert "booked your appointment" in bot[1]
    assert bot[-1] == "Thank you for your time. Goodbye!"
    assert user == script
    assert runtime.last_result.reason == "end_call"
    assert session["processing_complete"] is True and session["pipeline_completed_at"]
    assert heard.closed_by_server
    assert len(heard.audio) > 8000  # the callee heard the bot
    answered = [t for t in session["transcript"] if t["role"] == "bot"][1:]
    assert all(isinstance(t["latency_ms"], int) and 0 < t["latency_ms"] < 3000 for t in answered)
    lat = session["latency"]
    assert lat["min_ms"] <= lat["avg_ms"] <= lat["max_ms"]
    assert data["answered_by"] == "human" and data["disposition"] == "completed"


async def test_callee_speaking_over_the_bot_stops_it_within_one_audio_chunk_and_clears_the_carrier_buffer(
    voice_server,
):
    call = await place_call(voice_server, intro_message="Hello {{callee_name}}. " + "I have a lot to say today. " * 12)
    script = ["Sorry, can I book an appointment?", "Thank you very much, goodbye."]
    runtime, heard, data = await _converse(
        voice_server,
        call,
        script,
        [line(script[0], barge_in_after_ms=700), line(script[1])],
    )
    assert heard.clears, "the carrier was never told to clear its buffer"
    # After the clear, at most one 20 ms frame of the interrupted speech may still arrive before new speech.
    first_clear = heard.clears[0]
    stale = [t for t in heard.media_times if first_clear < t < first_clear + 0.15]
    assert len(stale) <= 1
    bot = [t for t in data["session"]["transcript"] if t["role"] == "bot"]
    assert bot[0].get("interrupted") is True
    assert any("booked your appointment" in t["content"] for t in bot)


async def test_a_long_answer_waits_as_one_frame_and_reaches_the_callee_whole_and_paced(voice_server):
    """A TTS answers faster than it is played; what waits is held as one frame per talk-spurt (not one object
    per 20 ms for every full garbage collection to walk), and the callee still gets every 20 ms of it."""
    intro = "Hello {{callee_name}}. " + "I have a lot to say today. " * 16
    call = await place_call(voice_server, intro_message=intro)
    script = ["Thank you very much, goodbye."]
    talk = asyncio.create_task(_converse(voice_server, call, script, [line(script[0])]))
    await asyncio.sleep(2.0)  # the stand-in TTS has made the whole greeting; about 3 s of it still waits
    gc.collect()  # (frames of earlier tests' calls, dead but not yet collected, are not this call's)
    queued = sum(1 for o in gc.get_objects() if type(o) is TTSAudioRawFrame)
    runtime, heard, _ = await talk
    assert queued <= 4, f"{queued} audio frames held while the greeting played"
    spoken = len(intro.replace("{{callee_name}}", "Sajal")) * SECS_PER_CHAR
    first_spurt = [heard.media_times[0]]
    for t in heard.media_times[1:]:
        if t - first_spurt[-1] > 0.3:
            break
        first_spurt.append(t)
    assert abs(len(first_spurt) * 0.020 - spoken) < 0.1, (len(first_spurt), spoken)
    assert first_spurt[-1] - first_spurt[0] > spoken - 0.5  # paced: sent over its own length, minus the lead
    assert runtime.last_result.transcript.turns[0].interrupted is False


async def test_a_call_reaching_its_duration_cap_says_the_farewell_and_ends(voice_server):
    call = await place_call(voice_server, end_call_message="Our time is up, {{callee_name}}. Goodbye.")
    runtime = voice_runtime(
        voice_server.ctx, StandInEngines([]), adjust_plan=lambda p: with_limits(p, max_duration_secs=4)
    )
    voice_server.runtimes[call.session_id] = runtime
    callee = TwilioCallee(voice_server.ws_url, [], custom={"session_id": call.session_id})
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(callee.run(), 30)
    elapsed = asyncio.get_running_loop().time() - started
    await wait_finished(voice_server, call.session_id)
    r = await voice_server.http.get(f"/calls/{call.call_id}", headers=call.headers)
    bot = [t["content"] for t in r.json()["data"]["session"]["transcript"] if t["role"] == "bot"]
    assert runtime.last_result.reason == "max_duration"
    assert bot[-1] == "Our time is up, Sajal. Goodbye."
    assert elapsed < 4 + voice_server.ctx.settings.carrier_hangup_grace_secs + 2


async def test_a_call_where_nobody_speaks_for_too_long_is_ended_with_the_farewell(voice_server):
    call = await place_call(voice_server)
    runtime = voice_runtime(
        voice_server.ctx, StandInEngines([]), adjust_plan=lambda p: with_limits(p, silence_timeout_secs=2.0)
    )
    voice_server.runtimes[call.session_id] = runtime
    callee = TwilioCallee(voice_server.ws_url, [], custom={"session_id": call.session_id})
    await asyncio.wait_for(callee.run(), 30)
    await wait_finished(voice_server, call.session_id)
    r = await voice_server.http.get(f"/calls/{call.call_id}", headers=call.headers)
    bot = [t["content"] for t in r.json()["data"]["session"]["transcript"] if t["role"] == "bot"]
    assert runtime.last_result.reason == "silence"
    assert bot == ["Hello Sajal, this is the clinic calling.", "Thank you for your time. Goodbye!"]


async def test_the_callee_hanging_up_ends_the_call_and_files_the_session(voice_server):
    call = await place_call(voice_server)
    said = "Hello, who is this please?"  # a bare "Hello?" can sit under the VAD's volume gate
    runtime = voice_runtime(voice_server.ctx, StandInEngines([said]))
    voice_server.runtimes[call.session_id] = runtime
    callee = TwilioCallee(
        voice_server.ws_url, [line(said)], custom={"session_id": call.session_id}, hang_up_after_lines=True
    )
    await asyncio.wait_for(callee.run(), 30)
    await wait_finished(voice_server, call.session_id)
    r = await voice_server.http.get(f"/calls/{call.call_id}", headers=call.headers)
    data = r.json()["data"]
    assert runtime.last_result.reason == "callee_hangup"
    assert data["session"]["processing_complete"] is True
    assert [t["content"] for t in data["session"]["transcript"] if t["role"] == "user"] == [said]
