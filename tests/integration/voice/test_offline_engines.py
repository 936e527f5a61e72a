"""End to end with the real offline engines: faster-whisper hears the callee, the scripted brain answers
through the OpenAI-compatible path, Piper speaks, and Whisper, run on what the callee's phone received
(8 kHz μ-law), hears the bot's words."""

from __future__ import annotations

import asyncio

import numpy as np
import soxr

from tests.integration.voice.conftest import place_call, wait_finished
from voxline.voice import local_models
from voxline.voice.callee_voice import line
from voxline.voice.engines import DeploymentEngines
from voxline.voice.runtime import VoiceRuntime
from voxline.voice.twilio_peer import TwilioCallee


def _whisper(pcm8k: np.ndarray, settings) -> str:
    model = local_models.whisper_model(str(local_models.whisper_model_dir(settings.data_dir / "models")))
    audio = soxr.resample(pcm8k.astype(np.float32) / 32768.0, 8000, 16000)
    segments, _ = model.transcribe(audio, language="en", beam_size=1)
    return " ".join(s.text for s in segments)


async def test_callee_and_bot_understand_each_other_through_whisper_piper_and_the_phone_line(voice_server):
    call = await place_call(voice_server)
    runtime = VoiceRuntime(voice_server.ctx, DeploymentEngines(voice_server.ctx.settings))
    voice_server.runtimes[call.session_id] = runtime
    lines = [line("I would like to book an appointment tomorrow."), line("Thank you, goodbye.")]
    callee = TwilioCallee(voice_server.ws_url, lines, custom={"session_id": call.session_id})
    heard = await asyncio.wait_for(callee.run(), 90)
    await wait_finished(voice_server, call.session_id, 60)
    data = (await voice_server.http.get(f"/calls/{call.call_id}", headers=call.headers)).json()["data"]
    turns = data["session"]["transcript"]
    user = " ".join(t["content"] for t in turns if t["role"] == "user").lower()
    bot = [t["content"] for t in turns if t["role"] == "bot"]
    assert "book an appointment" in user  # Whisper heard the callee
    assert bot[0] == "Hello Sajal, this is the clinic calling."
    assert bot[1] == "Sure. I have booked your appointment for tomorrow at ten thirty."  # the brain answered it
    assert runtime.last_result.reason == "end_call"
    # What reached the callee's phone, transcribed again: the bot's words came through.
    on_the_line = (await asyncio.to_thread(_whisper, heard.pcm(), voice_server.ctx.settings)).lower()
    assert "clinic" in on_the_line
    assert "booked your appointment" in on_the_line
    latency = data["session"]["latency"]
    assert latency and 0 < latency["min_ms"] <= latency["max_ms"] < 10_000
    print(f"\noffline engines: voice-to-voice latency {latency}; the callee heard: {on_the_line!r}")
