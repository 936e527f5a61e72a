"""Outgoing audio paced by the clock: one 20 ms frame per 20 ms of wall time, scheduled, never drifting.

Pipecat's websocket output sleeps a fixed interval after each write, so every late wake-up pushes all
later frames back, and under load the carrier's buffer runs dry (audible gaps; a known field failure).
Here each frame of a talk-spurt has a deadline `t0 + k * 20 ms`; a late frame is sent at once and the
next keeps its own deadline, so lateness never accumulates. A lead (200 ms sent ahead) gives the
carrier a cushion without making barge-in slow: an interruption drops the queue and the
carrier's buffer is cleared by the serializer (Twilio `clear` and the equivalents).

The transport also stamps the first bot audio after the callee stopped speaking: that is the turn's
latency as the carrier sees it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pipecat.frames.frames import (
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportReadyFrame,
    StartFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_output import BOT_VAD_STOP_FALLBACK_SECS, BaseOutputTransport
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketInputTransport,
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

from voxline.core.call_meter import CallMeter, NoMeter

log = logging.getLogger("voxline.voice")

FRAME_SECS = 0.020
# Frames allowed ahead of real time: the carrier plays what it has buffered, so a pause of our process
# shorter than the lead (a full garbage collection: ~1 ms per call held) is never heard. Barge-in
# does not wait for it: an interruption clears the carrier's buffer (Twilio `clear` and the equivalents).
LEAD_FRAMES = 10
LATE_SECS = 0.040  # a frame later than this is "not on time"


@dataclass
class PacingStats:
    """Per-call record of outgoing frames: how late each left against its deadline."""

    frames: int = 0
    late_frames: int = 0
    lateness_ms: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # monotonic send time of each kept sample
    written_at: list[float] = field(default_factory=list)  # monotonic time each kept frame's write returned
    keep_samples: bool = False
    meter: CallMeter = field(default_factory=NoMeter)  # the process's count (admission, /metrics)

    def record(self, lateness: float, sent_at: float | None = None, written_at: float | None = None) -> None:
        self.frames += 1
        late = lateness > LATE_SECS
        if late:
            self.late_frames += 1
        self.meter.frame_sent(late)
        if self.keep_samples:
            now = time.monotonic()
            self.lateness_ms.append(lateness * 1000)
            self.sent_at.append(now if sent_at is None else sent_at)
            self.written_at.append(now if written_at is None else written_at)


class TurnClock:
    """When the callee last stopped speaking, and the latency of the bot audio that answered it."""

    def __init__(self, meter: CallMeter | None = None, media_started_at: float | None = None) -> None:
        self.meter: CallMeter = meter or NoMeter()
        self.media_started_at = media_started_at  # monotonic time the call's media stream opened
        self.user_stopped_at: float | None = None  # monotonic time speech ended (VAD time - stop window)
        self.pending: float | None = None
        self.latencies: list[int] = []  # ms, in order of bot turns that answered a user turn
        self.first_audio_at: float | None = None
        self._answered: int | None = None

    def user_stopped(self, vad_frame: VADUserStoppedSpeakingFrame) -> None:
        now = time.monotonic()
        lag = max(0.0, time.time() - vad_frame.timestamp)
        self.user_stopped_at = now - lag - vad_frame.stop_secs
        self.pending = self.user_stopped_at

    def audio_sent(self) -> int | None:
        now = time.monotonic()
        if self.first_audio_at is None:
            self.first_audio_at = now
            if self.media_started_at is not None:
                self.meter.first_audio(now - self.media_started_at)
        if self.pending is None:
            return None
        self.meter.turn_latency(now - self.pending)
        ms = round((now - self.pending) * 1000)
        self.pending = None
        self.latencies.append(ms)
        self._answered = ms
        return ms

    def take(self) -> int | None:
        """The latency of the bot audio that just answered the callee (once)."""
        ms, self._answered = self._answered, None
        return ms

    @property
    def has_answer(self) -> bool:
        return self._answered is not None


class PacedMediaSender(BaseOutputTransport.MediaSender):
    """Pipecat's media sender (pinned 1.14) with the per-frame costs of a telephone stream taken out.

    Its audio loop wraps every queue read and every write in `asyncio.wait_for`, which creates a task
    per call, and pushes every sent 20 ms frame on down the pipeline for processors that may want it.
    Here a read waits with a timer only when the queue is empty, a write is awaited directly, and a
    sent frame travels on only when somebody needs it (`audio_downstream`):
    the recorder, or the transcript learning a turn's latency. Interruption handling, bot-speaking
    frames and resampling stay Pipecat's.

    Audio waits in the queue as one frame per talk-spurt, not one per 20 ms chunk: a TTS answers faster
    than it is played, and ten seconds of queued speech were 500 frame objects per call, which every full
    garbage collection walked (most of a call's share of the pause). Queued audio of the same kind is
    appended to the frame at the queue's tail; the sender cuts 20 ms frames from it as it sends them.
    An interruption drops the interruptible rest of the spurt being sent, as Pipecat drops queued chunks.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "Bot speaking" heartbeats travel up and down the whole pipeline; Pipecat sends one every
        # 200 ms for idle timeouts a call does not use. Once a second is plenty.
        self._bot_speaking_frame_period = 1.0
        self._spurt: OutputAudioRawFrame | None = None  # the queued frame new audio may be appended to
        self._sending: OutputAudioRawFrame | None = None  # the frame 20 ms chunks are being cut from
        self._sent_bytes = 0  # of `_sending`'s audio

    async def handle_audio_frame(self, frame: OutputAudioRawFrame) -> None:
        """Pipecat's buffering into whole chunks, with the chunks queued by `_queue_chunk`."""
        if not self._params.audio_out_enabled:
            return
        resampled = await self._resampler.resample(frame.audio, frame.sample_rate, self._sample_rate)
        self._audio_buffer_cls = type(frame)
        self._buffer_audio(resampled, uninterruptible=not frame.interruptible)
        while self._buffered_audio_bytes >= self._audio_chunk_size:
            audio, uninterruptible = self._take_audio_chunk()
            self._queue_chunk(type(frame), audio, uninterruptible, frame.num_channels)

    async def _enqueue_audio_chunk(self, audio: bytes, uninterruptible: bool) -> None:
        self._queue_chunk(self._audio_buffer_cls, audio, uninterruptible, self._params.audio_out_channels)

    def _queue_chunk(self, cls: type, audio: bytes, uninterruptible: bool, channels: int) -> None:
        queued = self._audio_queue._queue  # noqa: SLF001 - asyncio.Queue's deque: is our frame still last?
        spurt = self._spurt
        if self._mixer:  # Pipecat's own loop reads the queue then: one frame per chunk, as it expects
            chunk = cls(audio, sample_rate=self._sample_rate, num_channels=channels)
            chunk.transport_destination = self._destination
            chunk.interruptible = not uninterruptible
            self._audio_queue.put_nowait(chunk)
            return
        if (
            spurt is not None
            and queued
            and queued[-1] is spurt
            and type(spurt) is cls
            and spurt.interruptible != uninterruptible
            and spurt.num_channels == channels
        ):
            spurt.audio.extend(audio)  # type: ignore[attr-defined] - a bytearray while queued
            return
        spurt = cls(bytearray(audio), sample_rate=self._sample_rate, num_channels=channels)
        spurt.transport_destination = self._destination
        spurt.interruptible = not uninterruptible
        self._spurt = spurt
        self._audio_queue.put_nowait(spurt)

    def _next_chunk(self) -> OutputAudioRawFrame | None:
        """The next 20 ms frame of the spurt being sent, if any is left."""
        spurt = self._sending
        if spurt is None:
            return None
        start, size = self._sent_bytes, self._audio_chunk_size
        end = start + size
        if end >= len(spurt.audio):
            self._sending = None
        self._sent_bytes = end
        chunk = type(spurt)(
            bytes(spurt.audio[start:end]), sample_rate=spurt.sample_rate, num_channels=spurt.num_channels
        )
        chunk.transport_destination = spurt.transport_destination
        chunk.interruptible = spurt.interruptible
        return chunk

    def _create_audio_task(self) -> None:
        if not self._audio_task:
            self._spurt = self._sending = None
        super()._create_audio_task()

    async def handle_interruptions(self, frame: InterruptionFrame) -> None:
        if self._sending is not None and self._sending.interruptible:
            self._sending = None
        await super().handle_interruptions(frame)

    def _next_frame(self):  # noqa: ANN202 - Pipecat's signature (an async generator)
        if self._mixer:
            return super()._next_frame()

        async def without_mixer():  # noqa: ANN202
            queue = self._audio_queue
            while True:
                frame = self._next_chunk()
                if frame is None:
                    try:
                        frame = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        try:
                            async with asyncio.timeout(BOT_VAD_STOP_FALLBACK_SECS):
                                frame = await queue.get()
                        except TimeoutError:
                            await self._bot_stopped_speaking()
                            continue
                    queue.task_done()
                    if isinstance(frame, OutputAudioRawFrame) and isinstance(frame.audio, bytearray):
                        self._sending, self._sent_bytes = frame, 0
                        frame = self._next_chunk()
                        if frame is None:
                            continue
                await self._filter_audio(frame)
                self._apply_volume(frame)
                yield frame

        return without_mixer()

    async def _audio_task_handler(self) -> None:
        async for frame in self._next_frame():
            if isinstance(frame, EndFrame):
                await self._send_silence(self._params.audio_out_end_silence_secs)
                break
            if isinstance(frame, OutputAudioRawFrame) and not frame.audio:
                continue
            await self._handle_frame(frame)
            push_downstream = True
            if isinstance(frame, OutputAudioRawFrame):
                try:
                    push_downstream = await self._internal_write_audio_frame(frame)
                except Exception as exc:  # noqa: BLE001 - as Pipecat: a failed write is logged, not fatal
                    log.error("%s: error writing audio to the carrier: %s", self._transport, exc)
                    push_downstream = False
                push_downstream = push_downstream and self._transport.audio_downstream()
            if push_downstream:
                await self._transport.push_frame(frame)

    async def _internal_write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        # No per-frame timeout: the paced write sleeps at most until its deadline and a websocket send
        # only appends to the socket's buffer, so it cannot hang; a peer that stops reading is noticed
        # by the connection closing (and every call is bounded by its duration cap).
        if not self._transport.is_usable:
            return False
        return await self._transport.write_audio_frame(frame)


class PacedOutputTransport(FastAPIWebsocketOutputTransport):
    def __init__(
        self, *args: Any, stats: PacingStats, clock: TurnClock, keep_audio: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._stats = stats
        self._turns = clock
        self._keep_audio = keep_audio  # a recorder further down wants every frame sent
        self._t0: float | None = None
        self._k = 0

    def audio_downstream(self) -> bool:
        """Whether the frame just sent goes on down the pipeline (see PacedMediaSender)."""
        return self._keep_audio or self._turns.has_answer

    async def set_transport_ready(self, frame: StartFrame) -> None:
        """Pipecat's, for the one default destination a call has, with the paced media sender."""
        if self._params.audio_out_destinations or self._params.video_out_destinations:
            raise ValueError("a call's transport has one audio destination")
        self._media_senders[None] = PacedMediaSender(
            self,
            destination=None,
            sample_rate=self.sample_rate,
            audio_chunk_size=self.audio_chunk_size,
            params=self._params,
        )
        await self._media_senders[None].start(frame)
        await self.push_frame(OutputTransportReadyFrame(), FrameDirection.UPSTREAM)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self._turns.user_stopped(frame)
        if isinstance(frame, InterruptionFrame):
            self._t0 = None  # the next talk-spurt starts a fresh schedule
        await super().process_frame(frame, direction)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        now = time.monotonic()
        t0, k = self._t0, self._k
        if t0 is None or now - (t0 + k * FRAME_SECS) > 0.5:
            # A new talk-spurt (or a long pause): start the schedule now.
            t0, k = now, 0
        self._t0, self._k = t0, k + 1
        deadline = t0 + (k - LEAD_FRAMES) * FRAME_SECS
        if deadline > now:
            await asyncio.sleep(deadline - now)
        sent_at = time.monotonic()
        ok = await super().write_audio_frame(frame)
        if ok:
            self._stats.record(max(0.0, sent_at - max(deadline, t0)), sent_at, time.monotonic())
            self._turns.audio_sent()
        return ok

    async def _write_audio_sleep(self) -> None:
        """Pacing happens before the write, against the schedule (see write_audio_frame)."""
        return


class CallInputTransport(FastAPIWebsocketInputTransport):
    """Pipecat's websocket input with its audio loop's per-frame `asyncio.wait_for` taken out.

    Pipecat (pinned 1.14) reads each incoming frame through a `wait_for` with a 0.5 s timeout whose
    expiry does nothing, at the price of a task per frame; a plain queue read does the same job.
    """

    async def _audio_task_handler(self) -> None:
        queue = self._audio_in_queue
        while True:
            frame = await queue.get()
            if self._params.audio_in_filter:
                frame.audio = await self._params.audio_in_filter.filter(frame.audio)
            if frame.audio and self._params.audio_in_passthrough:
                await self.push_frame(frame)
            queue.task_done()


class PacedWebsocketTransport(FastAPIWebsocketTransport):
    """Pipecat's FastAPI websocket transport with the clock-paced output above."""

    def __init__(
        self,
        websocket: Any,  # a Starlette WebSocket, as Pipecat types it
        params: FastAPIWebsocketParams,
        stats: PacingStats,
        clock: TurnClock,
        keep_audio: bool = False,
    ) -> None:
        super().__init__(websocket, params)
        self._input = CallInputTransport(self, self._client, self._params, name=self._input_name)
        self._output = PacedOutputTransport(
            self,
            self._client,
            self._params,
            stats=stats,
            clock=clock,
            keep_audio=keep_audio,
            name=self._output_name,
        )
