"""A conversation with baresip, a real SIP phone, over SIP/RTP on loopback: it answers by itself and says a
Piper-voiced line (aufile); the voice runtime on the offline engines (Whisper, Piper, the scripted brain)
greets, hears and answers. Whisper finds the callee's words in our transcript, and our greeting's words
in what baresip recorded."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import soxr

from tests.integration.sip.baresip import start_baresip
from tests.integration.sip.conftest import make_sip_caller
from tests.integration.telephony.conftest import LiveServer, wait_session_done, wait_status
from voxline.calls.conversation import voice_runtime
from voxline.devtools import callee_voice
from voxline.devtools.demo import quiet_logs
from voxline.voice import local_models
from voxline.voice.catalog import voices

CALLEE_LINE = "Hi, this is Sam, and I would like to book an appointment for tomorrow."
GREETING = "Hello {{callee_name}}! This is the clinic calling about your appointment."
BARESIP_USER = "+14155550177"


def _whisper(pcm8k: bytes, data_dir) -> str:  # noqa: ANN001
    model = local_models.whisper_model(str(local_models.whisper_model_dir(data_dir / "models")))
    audio = soxr.resample(np.frombuffer(pcm8k, dtype=np.int16).astype(np.float32) / 32768.0, 8000, 16000)
    segments, _ = model.transcribe(audio, language="en", beam_size=1)
    return " ".join(s.text for s in segments)


async def test_a_conversation_with_baresip_is_heard_both_ways(live: LiveServer, tmp_path) -> None:
    quiet_logs()
    before = getattr(live.app.state, "call_runtime_factory", None)
    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx)
    speech = callee_voice.line(CALLEE_LINE).pcm8k.tobytes()
    # Load the models before the call, as a running server has: the greeting then starts at the answer.
    await asyncio.to_thread(_whisper, speech[:1600], live.ctx.settings.data_dir)
    phone = await start_baresip(tmp_path / "baresip", BARESIP_USER, speech, lead_silence_secs=8.0)
    try:
        agent = {"intro_message": GREETING, "voice_id": voices("piper")[0].id}
        caller = await make_sip_caller(live, phone.host, agent_fields=agent)
        body = {
            "agent_id": caller.agent["id"],
            "to_number": BARESIP_USER,
            "provider": "sip",
            "variables": {"callee_name": "Asha"},
        }
        r = await live.api.post("/calls/start", json=body, headers=caller.tenant.headers)
        assert r.status_code == 200, r.text
        call_id = r.json()["data"]["call_id"]
        t0 = time.monotonic()
        answered = await wait_status(live, caller, call_id, ("in_progress", "completed", "failed"))  # type: ignore[arg-type]
        assert answered["status"] == "in_progress", (answered, phone.log())
        print(f"\nINVITE to in_progress: {(time.monotonic() - t0) * 1000:.0f} ms (as seen through the API)")
        # The callee speaks at 8 s (after the greeting, even on a busy machine); give the runtime time to
        # hear it and answer, then the phone hangs up.
        await asyncio.sleep(20)
        await phone.stop()
        call = await wait_status(live, caller, call_id, ("completed", "failed"), wait=20)  # type: ignore[arg-type]
        assert call["status"] == "completed", call
        filed = await wait_session_done(live, caller, call_id, wait=60)  # type: ignore[arg-type]
        transcript = filed["session"]["transcript"]
        user = " ".join(t["content"] for t in transcript if t["role"] == "user").lower()
        assert "appointment" in user, transcript  # Whisper heard baresip's WAV through RTP
        bot = [t["content"] for t in transcript if t["role"] == "bot"]
        assert bot and bot[0].startswith("Hello Asha!"), transcript
        heard = _whisper(phone.recording(), tmp_path).lower()
        print(f"transcript: {transcript}\nbaresip recorded: {heard!r}")
        assert "clinic calling about" in heard, heard  # our greeting reached the phone
    finally:
        await phone.stop()
        live.app.state.call_runtime_factory = before
