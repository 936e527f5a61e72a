"""Barge-in on every carrier: the serializer each carrier's documented start message produces turns an
interruption into that carrier's documented "drop your buffered audio" message."""

from __future__ import annotations

import asyncio
import json

import pytest
from pipecat.frames.frames import InterruptionFrame

from voxline.telephony.registry import carrier

STARTS = {
    "twilio": [
        {"event": "connected", "protocol": "Call", "version": "1.0.0"},
        {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "streamSid": "MZ1",
                "accountSid": "AC1",
                "callSid": "CA1",
                "tracks": ["inbound"],
                "customParameters": {"token": "t1"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
            "streamSid": "MZ1",
        },
    ],
    "plivo": [
        {
            "event": "start",
            "sequenceNumber": 1,
            "start": {
                "callId": "c1",
                "streamId": "s1",
                "accountId": "MA1",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
            },
        }
    ],
    "vobiz": [
        {
            "event": "start",
            "start": {
                "callId": "c1",
                "streamId": "s1",
                "accountId": "1",
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
            },
        }
    ],
    "exotel": [
        {"event": "connected"},
        {
            "event": "start",
            "sequence_number": "1",
            "stream_sid": "S1",
            "start": {
                "stream_sid": "S1",
                "call_sid": "C1",
                "account_sid": "A1",
                "custom_parameters": {},
                "media_format": {"encoding": "audio/x-raw", "sample_rate": "8000", "bit_rate": "16"},
            },
        },
    ],
    "mcube": [
        {
            "event": "start",
            "start": {
                "callId": "c1",
                "streamId": "s1",
                "tracks": ["inbound", "outbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
            },
        }
    ],
}
CLEARS = {
    "twilio": {"event": "clear", "streamSid": "MZ1"},
    "plivo": {"event": "clearAudio", "streamId": "s1"},
    "vobiz": {"event": "clearAudio", "streamId": "s1"},
    "exotel": {"event": "clear", "stream_sid": "S1"},
    "mcube": {"event": "clearAudio", "streamId": "s1"},
}


class _Socket:
    def __init__(self, messages: list[dict]) -> None:
        self.messages = [json.dumps(m) for m in messages]

    async def receive_text(self) -> str:
        return self.messages.pop(0)

    async def send_text(self, text: str) -> None:
        pass


@pytest.mark.parametrize("provider", sorted(CLEARS))
def test_an_interruption_clears_the_carriers_buffer(provider: str) -> None:
    async def run() -> dict:
        adapter = carrier(provider)
        handshake = await adapter.accept_media(_Socket(STARTS[provider]))
        return json.loads(await handshake.serializer.serialize(InterruptionFrame()))

    assert asyncio.run(run()) == CLEARS[provider]
