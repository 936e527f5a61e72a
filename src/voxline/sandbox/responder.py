"""A stand-in conversation runtime for the sandbox: it speaks a fixed tone and records what it hears.

It implements core.media.CallRuntime on the carrier's own serializer, exactly as the real runtime
receives the call, so the carrier edge is proven end to end without speech engines. The app
(app.py) gives it to sandbox calls when no conversation runtime is installed, and it keeps what it heard
in its sandbox's `HeardLog` (`app.state.sandbox.heard`), where tests read it.
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


class HeardLog:
    """What each session's responder heard (PCM16 at the wire rate), kept for the last `keep` sessions."""

    def __init__(self, keep: int = 500) -> None:
        self.keep = keep
        self._by_session: OrderedDict[str, bytes] = OrderedDict()

    def record(self, session_id: str, audio: bytes) -> None:
        self._by_session[session_id] = audio
        while len(self._by_session) > self.keep:
            self._by_session.popitem(last=False)

    def __getitem__(self, session_id: str) -> bytes:
        return self._by_session[session_id]

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._by_session

    def get(self, session_id: str, default: bytes = b"") -> bytes:
        return self._by_session.get(session_id, default)

    def __len__(self) -> int:
        return len(self._by_session)


class Responder:
    def __init__(self, hz: float = RESPONDER_HZ, speak_secs: float = 0.6, heard: HeardLog | None = None) -> None:
        self.hz = hz
        self.speak_secs = speak_secs
        self.heard = bytearray()
        self.log = heard

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
            if self.log is not None:
                self.log.record(channel.session_id, bytes(self.heard))

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
