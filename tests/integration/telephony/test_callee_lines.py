"""A scripted callee that says lines (Script.lines) instead of its tone, and takes turns with the bot.

calls/start → dialer → Twilio emulator → Media Streams → a small turn-taking bot on the carrier's own
serializer. The bot greets, answers each thing the callee says, and hangs up after the second; it
notes when it spoke and when it heard sound. The callee must say its lines (not the tone), each only
after the bot has gone quiet, and the second only after the bot answered the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import SimpleNamespace

import numpy as np
import pytest
from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame

from tests.integration.telephony.conftest import LiveServer, make_caller, start, wait_session_done, wait_status
from voxline.core.media import MediaChannel
from voxline.sandbox.audio import FRAME_MS, dominant_hz, frames, tone
from voxline.sandbox.emulator import BOT_DONE_QUIET_SECS, PAUSE_BEFORE_LINE_SECS, Script

pytestmark = pytest.mark.asyncio

LINE_HZ = (520.0, 880.0)  # what the callee "says": one tone per line, none of them the script's 440 Hz
LINE_SECS = 0.5
BOT_HZ = 660.0
LOUD_RMS = 500.0


class TurnTakingBot:
    """Greets, answers each utterance once the callee has been quiet a moment, hangs up after two answers."""

    def __init__(self) -> None:
        self.spoke: list[tuple[float, float]] = []  # (start, end) of each thing the bot said
        self.loud: list[tuple[float, bytes]] = []  # (when, PCM) of each loud frame the bot heard

    async def run(self, channel: MediaChannel) -> None:
        rate = channel.wire_sample_rate
        await channel.serializer.setup(SimpleNamespace(audio_in_sample_rate=rate, audio_out_sample_rate=rate))
        speaking: asyncio.Task | None = asyncio.create_task(self._say(channel, rate, 1.0))
        in_utterance, last_loud, answers = False, 0.0, 0
        try:
            while True:
                message = await channel.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("text") or message.get("bytes")
                frame = await channel.serializer.deserialize(data) if data is not None else None
                if not isinstance(frame, InputAudioRawFrame):
                    continue
                now = time.monotonic()
                pcm = np.frombuffer(frame.audio, dtype="<i2").astype(np.float64)
                if pcm.size and np.sqrt(np.mean(pcm**2)) > LOUD_RMS:
                    self.loud.append((now, frame.audio))
                    in_utterance, last_loud = True, now
                elif in_utterance and now - last_loud > 0.3 and (speaking is None or speaking.done()):
                    in_utterance = False
                    answers += 1
                    speaking = asyncio.create_task(self._say(channel, rate, 0.5))
                    if answers == 2:
                        await speaking
                        assert channel.control is not None
                        await channel.control.hang_up()
        finally:
            if speaking is not None:
                speaking.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await speaking

    async def _say(self, channel: MediaChannel, rate: int, secs: float) -> None:
        started = time.monotonic()
        for i, chunk in enumerate(frames(tone(BOT_HZ, secs))):
            payload = await channel.serializer.serialize(OutputAudioRawFrame(chunk, sample_rate=rate, num_channels=1))
            await channel.websocket.send_text(payload)
            await asyncio.sleep(max(0.0, started + (i + 1) * FRAME_MS / 1000 - time.monotonic()))
        self.spoke.append((started, time.monotonic()))


def _utterances(loud: list[tuple[float, bytes]]) -> list[tuple[float, float, bytes]]:
    """Group loud frames into utterances: (start, end, PCM)."""
    out: list[tuple[float, float, bytes]] = []
    for when, pcm in loud:
        if out and when - out[-1][1] < 0.2:
            out[-1] = (out[-1][0], when, out[-1][2] + pcm)
        else:
            out.append((when, when, pcm))
    return out


async def test_a_callee_with_lines_says_them_in_turn(live: LiveServer) -> None:
    bots: list[TurnTakingBot] = []

    def factory(ctx):  # noqa: ANN001, ANN202
        bots.append(TurnTakingBot())
        return bots[-1]

    previous = getattr(live.app.state, "call_runtime_factory", None)
    live.app.state.call_runtime_factory = factory
    try:
        caller = await make_caller(live, "twilio")
        to = "+919813700001"
        emu = live.sandbox["twilio"]
        lines = tuple(tone(hz, LINE_SECS) for hz in LINE_HZ)
        emu.scripts[to] = Script("human", talk_secs=None, lines=lines)
        started = await start(live, caller, to)
        await wait_status(live, caller, started["call_id"], ("completed",), wait=30)
        await wait_session_done(live, caller, started["call_id"], wait=15)
    finally:
        if previous is None:
            del live.app.state.call_runtime_factory
        else:
            live.app.state.call_runtime_factory = previous

    emucall = next(c for c in emu.calls.values() if c.to == to)
    assert emucall.error is None and emucall.lines_said == 2
    bot = bots[0]
    assert len(bot.spoke) == 3, bot.spoke  # greeting, then one answer per line
    said = _utterances(bot.loud)
    assert len(said) == 2, [(round(a, 2), round(b, 2)) for a, b, _ in said]  # the lines, and no tone
    for (first, last, pcm), hz in zip(said, LINE_HZ, strict=True):
        assert abs(dominant_hz(pcm) - hz) < 15  # the line's own audio, as the callee's script gave it
        assert LINE_SECS - 0.1 < last - first + FRAME_MS / 1000 < LINE_SECS + 0.1
    # Each line waits for the bot to finish (quiet for a while), then a short pause.
    wait = BOT_DONE_QUIET_SECS + PAUSE_BEFORE_LINE_SECS - 0.15
    greeting_end, first_answer_end = bot.spoke[0][1], bot.spoke[1][1]
    assert said[0][0] - greeting_end > wait
    assert said[1][0] - first_answer_end > wait
    assert bot.spoke[1][0] > said[0][1]  # the bot answered the first line before the second was said
