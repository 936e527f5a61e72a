"""MCube's media stream as a Pipecat serializer (Pipecat ships none for MCube).

Source: a third-party integration (invortoai/voice_bot_latest: its MCube message models, serializer and
transport), not MCube's own documents, which no public source has. Plivo-like JSON events:
- from MCube: `start` (`start.callId`, `start.streamId`, `start.mediaFormat{encoding, sampleRate}`),
  `media` (`media.payload` base64, with `contentType`/`sampleRate`), `playedStream`; binary frames are
  raw audio in the stream's format;
- to MCube: `playAudio` (`media.payload`, `contentType`, `sampleRate`), `checkpoint`, `clearAudio`
  (barge-in), `terminate` (ends the call; see `terminate_message`).
Audio is mu-law 8 kHz unless `start.mediaFormat` announces `audio/x-l16` (8 or 16 kHz).
"""

from __future__ import annotations

import base64
import json

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.utils import create_stream_resampler, pcm_to_ulaw, ulaw_to_pcm
from pipecat.frames.frames import (
    AudioRawFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer

MULAW = "audio/x-mulaw"
L16 = "audio/x-l16"


def terminate_message(stream_id: str) -> str:
    """What ends an MCube call from our side."""
    return json.dumps({"event": "terminate", "streamId": stream_id})


class MCubeFrameSerializer(FrameSerializer):
    class InputParams(FrameSerializer.InputParams):
        sample_rate: int | None = None

    def __init__(
        self,
        stream_id: str,
        call_id: str | None = None,
        encoding: str = MULAW,
        wire_rate: int = 8000,
        params: InputParams | None = None,
    ) -> None:
        params = params or MCubeFrameSerializer.InputParams()
        super().__init__(params)
        self._params: MCubeFrameSerializer.InputParams = params
        self._stream_id = stream_id
        self._call_id = call_id
        self._mulaw = not encoding.lower().startswith(L16)
        self._content_type = MULAW if self._mulaw else L16
        self._wire_rate = 8000 if self._mulaw else wire_rate
        self._sample_rate = 0
        self._in = create_stream_resampler(clear_after_secs=params.resampler_clear_after_secs)
        self._out = create_stream_resampler(clear_after_secs=params.resampler_clear_after_secs)

    async def setup(self, setup: FrameProcessorSetup) -> None:
        self._sample_rate = self._params.sample_rate or setup.audio_in_sample_rate

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            return json.dumps({"event": "clearAudio", "streamId": self._stream_id})
        if isinstance(frame, AudioRawFrame):
            if self._mulaw:
                data = await pcm_to_ulaw(frame.audio, frame.sample_rate, self._wire_rate, self._out)
            else:
                data = await self._out.resample(frame.audio, frame.sample_rate, self._wire_rate)
            if not data:
                return None
            media = {
                "payload": base64.b64encode(data).decode("ascii"),
                "contentType": self._content_type,
                "sampleRate": self._wire_rate,
            }
            return json.dumps({"event": "playAudio", "media": media})
        if isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            return None if self.should_ignore_frame(frame) else json.dumps(frame.message)
        return None

    async def _audio(self, payload: bytes) -> Frame | None:
        if not payload:
            return None
        rate = self._sample_rate or self._wire_rate
        if self._mulaw:
            audio = await ulaw_to_pcm(payload, self._wire_rate, rate, self._in)
        else:
            audio = await self._in.resample(payload, self._wire_rate, rate)
        if not audio:
            return None
        return InputAudioRawFrame(audio=audio, num_channels=1, sample_rate=rate)

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):  # the integration's transport takes binary frames as raw audio
            return await self._audio(data)
        try:
            message = json.loads(data)
        except (TypeError, ValueError):
            return None
        if not isinstance(message, dict):
            return None
        event = message.get("event")
        if event == "media":
            return await self._audio(base64.b64decode((message.get("media") or {}).get("payload") or ""))
        if event == "dtmf":  # not seen in the integration; read if MCube sends Plivo's shape
            try:
                return InputDTMFFrame(KeypadEntry(str((message.get("dtmf") or {}).get("digit"))))
            except ValueError:
                return None
        return None
