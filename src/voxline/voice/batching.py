"""The callee's audio on its way in: low-latency upsampling, then steady 40 ms frames.

Carriers send 20 ms of 8 kHz audio per message; the pipeline runs at 16 kHz for the STT. Pipecat's
serializers upsample with a very-high-quality soxr stream that holds audio back and releases it in
~100 ms lumps, so the VAD learns of the end of speech up to 100 ms late and barge-in reacts late. On a
telephone band the quick soxr preset is indistinguishable and releases every frame at once, so the
wrapper resamples with it, once per batch (the carrier serializer hands it wire-rate audio). Then every
frame travels through the STT, the VAD and the turn-taking processors, and those per-frame hops are
most of a call's CPU: joining two messages into one 40 ms frame halves that for at most 20 ms of delay.
Outgoing audio is untouched: the carrier still gets 20 ms frames.
"""

from __future__ import annotations

from pipecat.audio.resamplers.soxr_stream_resampler import SOXRStreamAudioResampler
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.serializers.base_serializer import FrameSerializer


class CalleeAudioFrame(InputAudioRawFrame):
    """The callee's audio, named in constant time: at every hop Pipecat formats the frame into a trace
    message (`f"Pushing {frame} ..."`) whether or not tracing is on, and an audio frame's own `__str__`
    describes its size and timestamps."""

    def __str__(self) -> str:
        return "CalleeAudioFrame"


class _DeferredResampler:
    """Takes a carrier serializer's place as its input resampler: notes the rates it was asked for and
    hands the wire-rate audio back untouched, so that the batch is resampled once, not every message."""

    def __init__(self) -> None:
        self.rates: tuple[int, int] | None = None

    async def resample(self, audio: bytes, in_rate: int, out_rate: int) -> bytes:
        self.rates = (in_rate, out_rate)
        return audio


class BatchedInputSerializer(FrameSerializer):
    def __init__(self, inner: FrameSerializer, frames_per_batch: int = 2) -> None:
        super().__init__()
        self._inner = inner
        self._n = max(1, frames_per_batch)
        self._pending: list[bytes] = []
        self._deferred: _DeferredResampler | None = None
        self._resampler = SOXRStreamAudioResampler(quality="QQ")
        if hasattr(inner, "_input_resampler"):  # Pipecat's carrier serializers keep it there (pinned 1.14)
            self._deferred = inner._input_resampler = _DeferredResampler()  # noqa: SLF001

    def should_ignore_frame(self, frame: Frame) -> bool:
        return self._inner.should_ignore_frame(frame)

    async def setup(self, setup) -> None:  # noqa: ANN001 - FrameProcessorSetup
        await self._inner.setup(setup)

    async def serialize(self, frame: Frame) -> str | bytes | None:
        return await self._inner.serialize(frame)

    async def deserialize(self, data: str | bytes) -> Frame | None:
        frame = await self._inner.deserialize(data)
        if not isinstance(frame, InputAudioRawFrame):
            return frame
        self._pending.append(frame.audio)
        if len(self._pending) < self._n:
            return None
        audio = b"".join(self._pending)
        self._pending.clear()
        rate = frame.sample_rate
        if self._deferred is not None and self._deferred.rates is not None:
            wire, rate = self._deferred.rates
            audio = await self._resampler.resample(audio, wire, rate)
        return CalleeAudioFrame(audio=audio, sample_rate=rate, num_channels=frame.num_channels)
