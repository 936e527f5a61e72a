"""A stand-in conversation runtime for the sandbox: it speaks a fixed tone and records what it hears.

It implements core.media.CallRuntime on the carrier's own serializer, exactly as the real runtime
receives the call, so the carrier edge is proven end to end without speech engines. The app
(app.py) gives it to sandbox calls when no conversation runtime is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from types import SimpleNamespace

from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame

from voxline.core.media import MediaChannel
from voxline.sandbox.audio import FRAME_MS, frames, tone

RESPONDER_HZ = 660.0
# What each session's responder heard (PCM16 at the wire rate), kept for the last few hundred sessions.
HEARD: OrderedDict[str, bytes] = OrderedDict()
_KEEP = 500


class Responder:
    def __init__(self, hz: float = RESPONDER_HZ, speak_secs: float = 0.6) -> None:
        self.hz = hz
        self.speak_secs = speak_secs
        self.heard = bytearray()

    async def run(self, channel: MediaChannel) -> None:
        rate = channel.wire_sample_rate
        await channel.serializer.setup(SimpleNamespace(audio_in_sample_rate=rate, audio_out_sample_rate=rate))
        speaker = asyncio.create_task(self._speak(channel, rate))
        try:
            while True:
                message = await channel.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("text") or message.get("bytes")
                if data is None:
                    continue
                frame = await channel.serializer.deserialize(data)
                if isinstance(frame, InputAudioRawFrame):
                    self.heard.extend(frame.audio)
                elif _is_stop(data):
                    break
        finally:
            speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await speaker
            HEARD[channel.session_id] = bytes(self.heard)
            while len(HEARD) > _KEEP:
                HEARD.popitem(last=False)

    async def _speak(self, channel: MediaChannel, rate: int) -> None:
        for chunk in frames(tone(self.hz, self.speak_secs)):
            payload = await channel.serializer.serialize(OutputAudioRawFrame(chunk, sample_rate=rate, num_channels=1))
            if payload is not None:
                if isinstance(payload, bytes):
                    await channel.websocket.send_bytes(payload)
                else:
                    await channel.websocket.send_text(payload)
            await asyncio.sleep(FRAME_MS / 1000)


def _is_stop(data: str | bytes) -> bool:
    try:
        message = json.loads(data)
    except (ValueError, TypeError):
        return False
    return isinstance(message, dict) and message.get("event") == "stop"
