"""MCube's media stream as a Pipecat serializer (Pipecat ships none for MCube).

Twilio-like JSON events: `connected`, `start` (streamId, callId, customParameters, mediaFormat),
`media` (base64 payload), `dtmf`, `stop` from MCube; we send `media` and `clear`. Audio is 8 kHz,
16-bit linear PCM unless the start event declares mu-law (`audio/x-mulaw`), which is honoured too.
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
L16 = "audio/l16"


class MCubeFrameSerializer(FrameSerializer):
    class InputParams(FrameSerializer.InputParams):
        mcube_sample_rate: int = 8000
        sample_rate: int | None = None

    def __init__(
        self, stream_id: str, call_id: str | None = None, encoding: str = L16, params: InputParams | None = None
    ) -> None:
        params = params or MCubeFrameSerializer.InputParams()
        super().__init__(params)
        self._params: MCubeFrameSerializer.InputParams = params
        self._stream_id = stream_id
        self._call_id = call_id
        self._mulaw = encoding.lower().startswith(MULAW)
        self._wire_rate = params.mcube_sample_rate
        self._sample_rate = 0
        self._in = create_stream_resampler(clear_after_secs=params.resampler_clear_after_secs)
        self._out = create_stream_resampler(clear_after_secs=params.resampler_clear_after_secs)

    async def setup(self, setup: FrameProcessorSetup) -> None:
        self._sample_rate = self._params.sample_rate or setup.audio_in_sample_rate

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            return json.dumps({"event": "clear", "streamId": self._stream_id})
        if isinstance(frame, AudioRawFrame):
            if self._mulaw:
                data = await pcm_to_ulaw(frame.audio, frame.sample_rate, self._wire_rate, self._out)
            else:
                data = await self._out.resample(frame.audio, frame.sample_rate, self._wire_rate)
            if not data:
                return None
            payload = base64.b64encode(data).decode("ascii")
            return json.dumps({"event": "media", "streamId": self._stream_id, "media": {"payload": payload}})
        if isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            return None if self.should_ignore_frame(frame) else json.dumps(frame.message)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        try:
            message = json.loads(data)
        except (TypeError, ValueError):
            return None
        if not isinstance(message, dict):
            return None
        event = message.get("event")
        if event == "media":
            payload = base64.b64decode((message.get("media") or {}).get("payload") or "")
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
        if event == "dtmf":
            try:
                return InputDTMFFrame(KeypadEntry(str((message.get("dtmf") or {}).get("digit"))))
            except ValueError:
                return None
        return None
