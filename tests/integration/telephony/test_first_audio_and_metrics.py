"""A call whose bot cannot speak in time is never left silent: the first-audio watchdog ends it politely,
failed with reason no_first_audio, and counts it. And /metrics (real HTTP) shows a sandbox call's numbers
without anything that identifies a partner or a callee."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import numpy as np
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from tests.integration.telephony.conftest import LiveServer, make_caller, start, wait_session_done, wait_status
from voxline.calls.conversation import voice_runtime
from voxline.devtools.standins import SECS_PER_CHAR, StandInEngines, StandInSTT, StandInTTS
from voxline.sandbox.callee import Script
from voxline.voice.catalog import Voice
from voxline.voice.runtime import FAULT_APOLOGY

STALL_SECS = 4.0


class StallingTTS(StandInTTS):
    """A deliberately slow speech engine: its first request stalls for STALL_SECS, later ones are prompt."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stalls = 1

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        if self.stalls:
            self.stalls -= 1
            await asyncio.sleep(STALL_SECS)
        async for frame in super().run_tts(text, context_id):
            yield frame


class StallingEngines(StandInEngines):
    def tts(self, voice: Voice) -> FrameProcessor:
        return StallingTTS()


class StallingSTT(StandInSTT):
    """A speech-to-text engine that holds the callee's first audio for STALL_SECS (a cloud STT reconnecting):
    everything queued behind it on the callee's side waits that long."""

    def __init__(self) -> None:
        super().__init__([])
        self.stalls = 1

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InputAudioRawFrame) and self.stalls:
            self.stalls -= 1
            await asyncio.sleep(STALL_SECS)
        await super().process_frame(frame, direction)


class StallingSTTEngines(StandInEngines):
    def stt(self) -> FrameProcessor:
        return StallingSTT()


def _metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert match, f"{name}{labels} not in /metrics"
    return float(match.group(1))


def _spoken_secs(pcm16: bytes) -> float:
    frames = np.frombuffer(pcm16[: len(pcm16) // 320 * 320], dtype="<i2").reshape(-1, 160).astype(np.float64)
    return float((np.sqrt((frames**2).mean(axis=1)) > 300).sum()) * 0.02


async def test_a_bot_that_cannot_speak_in_time_apologises_and_the_call_ends_failed_no_first_audio(
    live: LiveServer,
) -> None:
    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx, StallingEngines([]))
    bound, live.ctx.settings.first_audio_timeout_secs = live.ctx.settings.first_audio_timeout_secs, 1.5
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        before = (await http.get("/metrics")).text
    try:
        caller = await make_caller(live, "twilio")
        to = "+919813400001"
        emu = live.sandbox["twilio"]
        emu.scripts[to] = Script("human", talk_secs=None, hz=0.0)  # a person who waits, silent, to be spoken to
        started = await start(live, caller, to)
        call = await wait_status(live, caller, started["call_id"], ("failed", "completed"), wait=30)
        done = await wait_session_done(live, caller, started["call_id"], wait=30)
    finally:
        del live.app.state.call_runtime_factory
        live.ctx.settings.first_audio_timeout_secs = bound
    # What the call record (and so the session.completed webhook's `call`) shows.
    assert call["status"] == "failed" and call["error_message"].startswith("no_first_audio"), call
    assert done["disposition"] == "failed" and done["session"]["status"] == "failed", done
    emucall = next(c for c in emu.calls.values() if c.to == to)
    for _ in range(100):  # the call is marked failed first, then hung up at the carrier
        if emucall.ended_at is not None:
            break
        await asyncio.sleep(0.05)
    assert emucall.ended_at is not None and emucall.answered_at is not None, "hung up at the carrier"
    # Ended promptly after the bound, not after the stalled engine (nor the silence timeout).
    assert emucall.ended_at - emucall.answered_at < 1.5 + 3.0 + 2.5
    # The callee heard the short apology, and not the greeting after it.
    heard = _spoken_secs(bytes(emucall.heard))
    assert abs(heard - len(FAULT_APOLOGY) * SECS_PER_CHAR) < 0.3, heard
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        after = (await http.get("/metrics")).text
    name, labels = "voxline_call_faults_total", '{reason="no_first_audio"}'
    was = _metric(before, name, labels) if labels in before else 0.0
    assert _metric(after, name, labels) == was + 1


async def test_the_greeting_does_not_wait_behind_the_callees_audio(live: LiveServer) -> None:
    """The bot's own words go straight to its speech engine: a stalled transcriber (and the callee's audio
    piling up behind it) cannot keep the greeting back, so the call is voiced, not a fault."""
    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx, StallingSTTEngines([]))
    bound, live.ctx.settings.first_audio_timeout_secs = live.ctx.settings.first_audio_timeout_secs, 1.5
    try:
        caller = await make_caller(live, "twilio")
        to = "+919813400003"
        live.sandbox["twilio"].scripts[to] = Script("human", talk_secs=STALL_SECS + 1.0)
        started = await start(live, caller, to)
        done = await wait_session_done(live, caller, started["call_id"], wait=30)
    finally:
        del live.app.state.call_runtime_factory
        live.ctx.settings.first_audio_timeout_secs = bound
    assert done["status"] == "completed" and not done["error_message"], done
    said = [t["content"] for t in done["session"]["transcript"] if t["role"] == "bot"]
    assert said[:1] == ["Hello Asha!"], said


async def test_metrics_after_a_sandbox_call_over_http(live: LiveServer) -> None:
    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx, StandInEngines(["Yes, that works."]))
    try:
        caller = await make_caller(live, "twilio")
        to = "+919813400002"
        live.sandbox["twilio"].scripts[to] = Script("human", talk_secs=3.0)
        started = await start(live, caller, to)
        await wait_status(live, caller, started["call_id"], ("completed",), wait=30)
        await wait_session_done(live, caller, started["call_id"], wait=30)
    finally:
        del live.app.state.call_runtime_factory
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        r = await http.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
        assert _metric(text, "voxline_first_audio_delay_seconds_count") >= 1
        assert _metric(text, "voxline_frames_sent_total") >= 5  # the greeting's 20 ms frames ("Hello Asha!": 0.13 s)
        assert _metric(text, "voxline_frames_late_total") >= 0
        assert _metric(text, "voxline_calls_active") >= 0
        assert _metric(text, "voxline_calls_max") == live.ctx.settings.calls_ceiling
        assert _metric(text, "voxline_event_loop_lag_seconds") >= 0
        assert _metric(text, "voxline_dial_queue_depth") >= 0
        assert _metric(text, "voxline_webhook_backlog") >= 0
        assert "voxline_turn_latency_seconds_bucket" in text
        assert 'voxline_admission_refusing{reason="max_calls"}' in text
        # Aggregates only: no callee number, call, session or partner id, no key.
        for secret in (to, started["call_id"], started["session_id"], caller.tenant.partner_id, caller.tenant.api_key):
            assert secret not in text
        # With a token set, /metrics wants it.
        live.ctx.settings.metrics_token = "metrics-secret"
        try:
            refused = await http.get("/metrics")
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            ok = await http.get("/metrics", headers={"Authorization": "Bearer metrics-secret"})
            assert ok.status_code == 200 and "voxline_calls_active" in ok.text
        finally:
            live.ctx.settings.metrics_token = None
