"""MCube's wire as the only working integration found speaks it (MCube's own documents are not public):
its media messages (playAudio, clearAudio, terminate; start/media in, binary frames too), its refurl
payloads (dialStatus CONNECTING → wss_url; ANSWER with endTime → completed) and ten-digit numbers.
The fixtures below are that integration's message shapes, not our code's."""

from __future__ import annotations

import asyncio
import base64
import json
from types import SimpleNamespace

from pipecat.frames.frames import InputAudioRawFrame, InterruptionFrame, OutputAudioRawFrame

from voxline.core.call_status import CallStatus
from voxline.sandbox.audio import dominant_hz, tone, ulaw_decode, ulaw_encode
from voxline.telephony.carrier import CallUrls
from voxline.telephony.mcube import CARRIER, ten_digits
from voxline.telephony.mcube_serializer import MCubeFrameSerializer, terminate_message

START = {
    "event": "start",
    "start": {
        "callId": "c1",
        "streamId": "s1",
        "tracks": ["inbound", "outbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    },
}


def _setup(serializer: MCubeFrameSerializer) -> MCubeFrameSerializer:
    asyncio.run(serializer.setup(SimpleNamespace(audio_in_sample_rate=8000, audio_out_sample_rate=8000)))
    return serializer


class _Socket:
    def __init__(self, messages: list[dict]) -> None:
        self.messages = [json.dumps(m) for m in messages]

    async def receive_text(self) -> str:
        return self.messages.pop(0)


def test_the_integrations_start_message_is_read() -> None:
    handshake = asyncio.run(CARRIER.accept_media(_Socket([START])))  # type: ignore[arg-type]
    assert handshake.stream_id == "s1" and handshake.carrier_call_id == "c1"


def test_outgoing_audio_is_play_audio_in_mulaw_8khz() -> None:
    serializer = _setup(MCubeFrameSerializer("s1"))
    out = json.loads(asyncio.run(serializer.serialize(OutputAudioRawFrame(tone(440, 0.2), 8000, 1))))
    assert out["event"] == "playAudio"
    assert out["media"]["contentType"] == "audio/x-mulaw" and out["media"]["sampleRate"] == 8000
    assert abs(dominant_hz(ulaw_decode(base64.b64decode(out["media"]["payload"]))) - 440) < 20


def test_incoming_media_and_binary_frames_become_input_audio() -> None:
    serializer = _setup(MCubeFrameSerializer("s1"))
    mulaw = ulaw_encode(tone(440, 0.2))
    media = {
        "event": "media",
        "media": {"payload": base64.b64encode(mulaw).decode(), "contentType": "audio/x-mulaw", "sampleRate": 8000},
    }
    for data in (json.dumps(media), mulaw):
        frame = asyncio.run(serializer.deserialize(data))
        assert isinstance(frame, InputAudioRawFrame) and len(frame.audio) == 2 * 1600
        assert abs(dominant_hz(frame.audio) - 440) < 20


def test_an_l16_stream_is_sent_as_l16() -> None:
    serializer = _setup(MCubeFrameSerializer("s1", encoding="audio/x-l16", wire_rate=16000))
    out = json.loads(asyncio.run(serializer.serialize(OutputAudioRawFrame(tone(440, 0.2), 8000, 1))))
    assert out["media"]["contentType"] == "audio/x-l16" and out["media"]["sampleRate"] == 16000


def test_barge_in_is_clear_audio_and_hang_up_is_terminate() -> None:
    serializer = _setup(MCubeFrameSerializer("s1"))
    assert json.loads(asyncio.run(serializer.serialize(InterruptionFrame()))) == {
        "event": "clearAudio",
        "streamId": "s1",
    }
    assert json.loads(terminate_message("s1")) == {"event": "terminate", "streamId": "s1"}
    assert asyncio.run(serializer.deserialize("not json")) is None


def test_refurl_connecting_gets_the_wss_url_and_the_end_gets_ok() -> None:
    urls = CallUrls("a", "s", "m", "wss://vox.example/telephony/mcube/media/sess1", "tok-_1")
    connecting = {
        "callId": "c1",
        "callDirection": "outbound",
        "fromNumber": "918047112244",
        "toNumber": "919876543210",
        "dialStatus": "CONNECTING",
    }
    assert CARRIER.status_reply(connecting, urls) == {"wss_url": "wss://vox.example/telephony/mcube/media/sess1/tok-_1"}
    # Connecting, not yet answered in our vocabulary: ringing (a BUSY or NOANSWER may still follow).
    assert CARRIER.parse_status(connecting).status is CallStatus.RINGING
    ended = {**connecting, "dialStatus": "ANSWER", "endTime": "2026-11-30 12:00:10", "answeredTime": "9"}
    assert CARRIER.status_reply(ended, urls) == {"status": "ok"}
    update = CARRIER.parse_status(ended)
    assert update.status is CallStatus.COMPLETED and update.duration_seconds == 9 and update.carrier_call_id == "c1"


def test_refurl_end_states_and_the_older_lowercase_fields() -> None:
    assert CARRIER.parse_status({"dialStatus": "BUSY"}).status is CallStatus.BUSY
    assert "executive line" in CARRIER.parse_status({"dialStatus": "EXECUTIVE BUSY"}).error_message
    assert CARRIER.parse_status({"dialStatus": "NOANSWER"}).status is CallStatus.NO_ANSWER
    assert CARRIER.parse_status({"dialStatus": "CANCEL"}).status is CallStatus.CANCELED
    assert CARRIER.parse_status({"dialStatus": "ANSWER"}).status is CallStatus.IN_PROGRESS
    old = CARRIER.parse_status({"callid": "c9", "dialstatus": "ANSWER", "endtime": "x", "answeredtime": "00:01:05"})
    assert old.status is CallStatus.COMPLETED and old.duration_seconds == 65 and old.carrier_call_id == "c9"


def test_numbers_are_ten_digits() -> None:
    assert ten_digits("+919876543210") == "9876543210"
    assert ten_digits("08047112244") == "8047112244"
