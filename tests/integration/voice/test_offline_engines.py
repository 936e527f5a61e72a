"""End to end through the carrier emulator with the real offline engines: the demo's call.

The dialer places a sandbox call on the Twilio emulator; its callee speaks Piper-voiced lines;
faster-whisper hears them, the scripted brain answers through the OpenAI-compatible path, Piper speaks,
and Whisper, run on what the callee's phone received (8 kHz μ-law on the wire), hears the bot's words.
The signed session.completed webhook reaches a local receiver.
"""

from __future__ import annotations

import numpy as np
import soxr

from voxline.devtools.demo import quiet_logs, run_demo
from voxline.voice import local_models


def _whisper(pcm8k: bytes, data_dir) -> str:
    model = local_models.whisper_model(str(local_models.whisper_model_dir(data_dir / "models")))
    audio = soxr.resample(np.frombuffer(pcm8k, dtype=np.int16).astype(np.float32) / 32768.0, 8000, 16000)
    segments, _ = model.transcribe(audio, language="en", beam_size=1)
    return " ".join(s.text for s in segments)


async def test_a_sandbox_call_on_the_offline_engines_is_understood_both_ways_and_reported(tmp_path):
    quiet_logs()
    lines: list[str] = []
    result = await run_demo("twilio", say=lines.append, data_dir=tmp_path)
    assert result.ok, "\n".join(lines)
    call, session = result.call, result.call["session"]
    user = " ".join(t["content"] for t in session["transcript"] if t["role"] == "user").lower()
    bot = [t["content"] for t in session["transcript"] if t["role"] == "bot"]
    assert "book an appointment" in user  # Whisper heard the callee
    assert bot[0] == "Hello Sam! This is the clinic calling about your appointment."  # {{callee_name}} filled in
    assert "Sure. I have booked your appointment for tomorrow at ten thirty." in bot, session["transcript"]
    assert bot[-1] == "Thank you for your time. Goodbye!"  # the end_call tool's farewell
    on_the_line = _whisper(result.callee_heard, tmp_path).lower()
    assert "clinic" in on_the_line and "booked your appointment" in on_the_line
    assert result.wire_errors == []
    assert call["status"] == "completed" and call["answered_by"] == "human"
    assert session["recording_url"] and session["extraction"]["status"] == "success"
    assert session["extraction"]["values"] == {"wants_appointment": True}
    assert result.webhook["data"]["session_id"] == session["session_id"]
    lat = session["latency"]
    print(f"\noffline engines through the emulator: voice-to-voice latency {lat}; the callee heard {on_the_line!r}")
