"""Exotel's wire as its documents show it, without a network: the AgentStream start message (snake case;
Exotel's own code also sends camel case), the status callback's fields, the connection's Voicebot key,
and outbound media in the sizes Exotel requires (>= 3.2 KB, multiples of 320 bytes) with `clear` intact."""

from __future__ import annotations

import asyncio
import base64
import json

from pipecat.frames.frames import InterruptionFrame, OutputAudioRawFrame

from voxline.core.call_status import CallStatus
from voxline.telephony.carrier import CallUrls
from voxline.telephony.exotel import CARRIER, Credentials, flow_key
from voxline.telephony.exotel_serializer import ExotelChunkingSerializer

# Exotel's documented start message (AgentStream websocket protocol).
DOCUMENTED_START = {
    "event": "start",
    "sequence_number": "1",
    "stream_sid": "S1",
    "start": {
        "stream_sid": "S1",
        "call_sid": "C1",
        "account_sid": "A1",
        "from": "+919876543210",
        "to": "+918047112233",
        "custom_parameters": {"k": "v"},
        "media_format": {"encoding": "audio/x-raw", "sample_rate": "8000", "bit_rate": "16"},
    },
}


class _Socket:
    """Just enough of a websocket: replays the carrier's messages, keeps what we send."""

    def __init__(self, messages: list[dict] | None = None) -> None:
        self.messages = [json.dumps(m) for m in messages or []]
        self.sent: list[dict] = []

    async def receive_text(self) -> str:
        return self.messages.pop(0)

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))


def test_the_documented_start_message_names_the_stream_and_the_call() -> None:
    handshake = asyncio.run(CARRIER.accept_media(_Socket([{"event": "connected"}, DOCUMENTED_START])))
    assert handshake.stream_id == "S1" and handshake.carrier_call_id == "C1"
    assert handshake.params == {"k": "v"}, "custom_parameters are the applet URL's own query parameters"


def test_the_camel_case_start_exotels_own_code_sends_is_read_too() -> None:
    camel = {"event": "start", "start": {"streamSid": "S2", "callSid": "C2"}}
    handshake = asyncio.run(CARRIER.accept_media(_Socket([camel])))
    assert handshake.stream_id == "S2" and handshake.carrier_call_id == "C2"


def test_the_documented_status_callback_fields() -> None:
    done = CARRIER.parse_status(
        {
            "CallSid": "x",
            "EventType": "terminal",
            "Status": "completed",
            "ConversationDuration": "12",
            "DateUpdated": "2026-11-30 12:00:00",
            "Direction": "outbound-api",
        }
    )
    assert done.status is CallStatus.COMPLETED and done.duration_seconds == 12 and done.carrier_call_id == "x"
    assert CARRIER.parse_status({"EventType": "answered", "Status": "in-progress"}).status is CallStatus.IN_PROGRESS
    busy = CARRIER.parse_status({"EventType": "terminal", "Status": "busy"})
    assert busy.status is CallStatus.BUSY and "Exotel reported busy" in busy.error_message


def test_there_is_no_answer_document() -> None:
    assert CARRIER.answer_document(CallUrls("a", "s", "m", "w", "t"), "c", "s") == ""
    assert CARRIER.answer_media_type == ""


def test_the_voicebot_url_is_per_connection_and_follows_its_token() -> None:
    creds = {
        "account_sid": "acme1",
        "api_key": "k",
        "api_token": "t1",
        "subdomain": "api.in.exotel.com",
        "caller_id": "+918047112233",
        "applet_id": "42",
    }
    connection = Credentials(**creds)
    setup = connection.setup_settings("https://vox.example")
    key = flow_key("acme1", "t1")
    assert setup["voicebot_url"] == f"wss://vox.example/telephony/exotel/flow/{key}"
    assert CARRIER.flow_key(connection) == key, "the stream's URL is checked with the same key"
    assert key != flow_key("acme1", "t2")
    assert key.isalnum() and len(key) >= 32


def _sizes(messages: list[dict]) -> list[int]:
    return [len(base64.b64decode(m["media"]["payload"])) for m in messages if m.get("event") == "media"]


def test_outbound_media_is_at_least_3200_bytes_in_multiples_of_320_and_the_tail_is_flushed() -> None:
    async def run() -> tuple[list[dict], list[dict]]:
        socket = _Socket()
        serializer = ExotelChunkingSerializer("S1", "C1", socket)
        returned = []
        for _ in range(27):  # 8640 bytes: two full 3200-byte messages and a 2240-byte tail
            frame = OutputAudioRawFrame(b"\x01\x02" * 160, sample_rate=8000, num_channels=1)
            out = await serializer.serialize(frame)
            if out:
                returned.append(json.loads(out))
        await asyncio.sleep(0.3)  # no more audio: the tail goes out, padded
        return returned, socket.sent

    returned, flushed = asyncio.run(run())
    sizes = _sizes(returned) + _sizes(flushed)
    assert all(size >= 3200 and size % 320 == 0 and size <= 100_000 for size in sizes), sizes
    assert _sizes(returned) == [3200, 3200], "each message leaves as soon as 3.2 KB are there"
    assert _sizes(flushed) == [3200], "the tail is not held back: it leaves padded once the audio stops"
    assert all(m["stream_sid"] == "S1" for m in returned + flushed)


def test_barge_in_clears_exotels_buffer_and_drops_ours() -> None:
    async def run() -> tuple[dict, list[dict]]:
        socket = _Socket()
        serializer = ExotelChunkingSerializer("S1", "C1", socket)
        for _ in range(3):
            await serializer.serialize(OutputAudioRawFrame(b"\x00\x01" * 160, sample_rate=8000, num_channels=1))
        clear = json.loads(await serializer.serialize(InterruptionFrame()))
        await asyncio.sleep(0.3)
        return clear, socket.sent

    clear, flushed = asyncio.run(run())
    assert clear == {"event": "clear", "stream_sid": "S1"}, "Exotel's documented clear"
    assert flushed == [], "the interrupted audio is dropped, not sent after the clear"
