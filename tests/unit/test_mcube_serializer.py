"""Our MCube serializer at the JSON wire level: audio out and in, clear on interruption, DTMF."""

from __future__ import annotations

import asyncio
import base64
import json
from types import SimpleNamespace

from pipecat.frames.frames import InputAudioRawFrame, InputDTMFFrame, InterruptionFrame, OutputAudioRawFrame

from voxline.sandbox.audio import dominant_hz, tone, ulaw_encode
from voxline.telephony.mcube_serializer import MCubeFrameSerializer


def _setup(serializer: MCubeFrameSerializer) -> MCubeFrameSerializer:
    asyncio.run(serializer.setup(SimpleNamespace(audio_in_sample_rate=8000, audio_out_sample_rate=8000)))
    return serializer


def test_outgoing_audio_is_a_media_event_of_pcm16_at_8khz() -> None:
    serializer = _setup(MCubeFrameSerializer("st1"))
    pcm = tone(440, 0.02)
    out = json.loads(asyncio.run(serializer.serialize(OutputAudioRawFrame(pcm, sample_rate=8000, num_channels=1))))
    assert out["event"] == "media" and out["streamId"] == "st1"
    assert len(base64.b64decode(out["media"]["payload"])) == 320


def test_incoming_media_becomes_input_audio() -> None:
    serializer = _setup(MCubeFrameSerializer("st1"))
    pcm = tone(440, 0.2)
    frame = asyncio.run(
        serializer.deserialize(json.dumps({"event": "media", "media": {"payload": base64.b64encode(pcm).decode()}}))
    )
    assert isinstance(frame, InputAudioRawFrame) and frame.sample_rate == 8000
    assert abs(dominant_hz(frame.audio) - 440) < 20


def test_a_stream_declared_mulaw_is_decoded_as_mulaw() -> None:
    serializer = _setup(MCubeFrameSerializer("st1", encoding="audio/x-mulaw"))
    payload = base64.b64encode(ulaw_encode(tone(440, 0.2))).decode()
    frame = asyncio.run(serializer.deserialize(json.dumps({"event": "media", "media": {"payload": payload}})))
    assert isinstance(frame, InputAudioRawFrame) and len(frame.audio) == 2 * 1600
    assert abs(dominant_hz(frame.audio) - 440) < 20


def test_interruption_clears_and_dtmf_is_read() -> None:
    serializer = _setup(MCubeFrameSerializer("st1"))
    assert json.loads(asyncio.run(serializer.serialize(InterruptionFrame()))) == {"event": "clear", "streamId": "st1"}
    dtmf = asyncio.run(serializer.deserialize(json.dumps({"event": "dtmf", "dtmf": {"digit": "5"}})))
    assert isinstance(dtmf, InputDTMFFrame)
    assert asyncio.run(serializer.deserialize("not json")) is None
