"""The media websocket between our SIP gateway and the voice runtime: the RTP audio, decoded.

Binary messages are 20 ms of 16-bit 8 kHz mono PCM (what PJSIP's conference port hands over and takes);
text messages are JSON events: from the gateway `start` (read by the carrier's `accept_media`) and `dtmf`
(an RFC 4733 digit), to the gateway `clear` (drop our audio not yet played: barge-in).
"""

from __future__ import annotations

import json

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    AudioRawFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
)
from pipecat.serializers.base_serializer import FrameSerializer

WIRE_RATE = 8000


class SipFrameSerializer(FrameSerializer):
    def __init__(self) -> None:
        super().__init__()
        self._sample_rate = 0
        # Named as Pipecat's carrier serializers name them: voice/batching.py defers the input resampling.
        self._input_resampler = create_stream_resampler()
        self._output_resampler = create_stream_resampler()

    async def setup(self, setup) -> None:  # noqa: ANN001 - FrameProcessorSetup
        self._sample_rate = setup.audio_in_sample_rate

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            return '{"event":"clear"}'
        if isinstance(frame, AudioRawFrame):
            audio = frame.audio
            if frame.sample_rate != WIRE_RATE:
                audio = await self._output_resampler.resample(audio, frame.sample_rate, WIRE_RATE)
            return audio or None
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            rate = self._sample_rate or WIRE_RATE
            audio = await self._input_resampler.resample(data, WIRE_RATE, rate)
            return InputAudioRawFrame(audio=audio, sample_rate=rate, num_channels=1)
        try:
            message = json.loads(data)
        except ValueError:
            return None
        if isinstance(message, dict) and message.get("event") == "dtmf":
            try:
                return InputDTMFFrame(KeypadEntry(str(message.get("digit"))))
            except ValueError:
                return None
        return None
