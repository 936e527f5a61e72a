"""The live conversation on one carrier media stream (or a browser's WebRTC peer): the real `CallRuntime`.

`VoiceRuntime.run(channel)` reads the call's plan, builds one Pipecat pipeline for it
(carrier transport + serializer → STT → Silero VAD and turn taking in the user aggregator → LLM → TTS →
clock-paced output back to the carrier), holds the call until one of the ways out (end-call tool,
transfer, the duration cap, too long a silence, a voicemail left, the callee hanging up), then
hands the outcome (transcript, latency, recording, extraction) once to its `SessionSink`, which files the
session. It reads the call's plan from its `PlanSource`: the runtime never touches the store or the
application (see core/media.py and core/session_sink.py for the ports). Carrier-specific behaviour
arrives only through the channel (serializer, AMD verdict, `control` for REST hang-up and transfer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    EndFrame,
    Frame,
    FunctionCallResultProperties,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import FunctionCallParams
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from voxline.core.call_meter import CallMeter, NoMeter
from voxline.core.call_outcome import EndReason, GateMode
from voxline.core.call_status import AnsweredBy, CallStatus, Disposition
from voxline.core.media import MediaChannel
from voxline.core.opt_out import ACKNOWLEDGEMENT as OPT_OUT_ACKNOWLEDGEMENT
from voxline.core.opt_out import OptOutGuard
from voxline.core.session_sink import SessionOutcome, SessionSink
from voxline.settings import Settings
from voxline.voice import extraction, recording, voicemail
from voxline.voice.batching import BatchedInputSerializer
from voxline.voice.engines import DeploymentEngines, Engines, make_llm
from voxline.voice.pacing import FRAME_SECS, LEAD_FRAMES, PacedWebsocketTransport, PacingStats, TurnClock
from voxline.voice.plan import MAX_DURATION_WARNING_SECS, TIME_WARNING, CallPlan, PlanSource
from voxline.voice.transcript import BotTap, Transcript, Turn
from voxline.voice.vad import BatchedSileroVAD

log = logging.getLogger("voxline.voice")

PIPELINE_IN_RATE = 16000  # what the STT engines want; the serializer resamples from the wire's 8 kHz
WIRE_OUT_RATE = 8000
SPOKEN_WAIT_SECS = 20.0  # longest we wait for an announcement to finish before acting anyway
FAREWELL_LEAD_SECS = 3.0
INPUT_FRAMES_PER_BATCH = 2  # 40 ms input frames (see batching.py)
INTERPRETER_SWITCH_SECS = 0.001
# Said when the bot could not speak in time (a fault): short, so that a slow speech engine may still manage it.
FAULT_APOLOGY = "Sorry, we are having technical trouble. We will call you back."
FAULTS = (EndReason.ERROR, EndReason.NO_FIRST_AUDIO)  # ends that file the session as failed
FAULT_GRACE_SECS = 3.0  # after a fault, the apology gets this long; then the call is cut and hung up


@dataclass
class CallResult:
    """How the conversation went, before it is written down."""

    reason: EndReason = EndReason.CALLEE_HANGUP
    answered_by: AnsweredBy | None = None
    disposition: Disposition = Disposition.COMPLETED
    transferred_to: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended_at: datetime | None = None
    transcript: Transcript = field(default_factory=Transcript)
    recording_pcm: bytes | None = None
    pacing: PacingStats = field(default_factory=PacingStats)
    turn_clock: TurnClock = field(default_factory=TurnClock)
    error: str | None = None


class FirstUtteranceGate(FrameProcessor):
    """Writes down what the callee says, and holds it back until the call knows it reached a person.

    Every transcription goes to the transcript (`on_heard`) first. Then, by mode — machine: drop
    everything (a voicemail greeting must not reach the model) and report the greeting's end.
    classify: the first utterance decides, in-band, person or machine; it is not sent to the model
    either way (the greeting, or the person's "hello?" that the intro answers). open: pass it on.
    One processor rather than a tap and a gate: each processor is a hop for every 40 ms of the
    callee's audio, on every call.
    """

    def __init__(
        self,
        mode: GateMode,
        on_greeting_end: Callable[[], None],
        on_first: Callable[[str], None],
        on_heard: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.mode = mode
        self._on_greeting_end = on_greeting_end
        self._on_first = on_first
        self._on_heard = on_heard
        self.heard_speech = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self.heard_speech = True
        if isinstance(frame, VADUserStoppedSpeakingFrame) and self.mode is GateMode.MACHINE:
            self._on_greeting_end()
        if isinstance(frame, TranscriptionFrame):
            self._on_heard(frame.text)
        if isinstance(frame, TranscriptionFrame) and self.mode is not GateMode.OPEN:
            if self.mode is GateMode.CLASSIFY:
                self._on_first(frame.text)
            return
        await self.push_frame(frame, direction)


class AudioSink(FrameProcessor):
    """Drops audio frames no processor further down needs (downstream only)."""

    def __init__(self, kinds: tuple[type[Frame], ...]) -> None:
        super().__init__()
        self._kinds = kinds

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM and isinstance(frame, self._kinds):
            return
        await self.push_frame(frame, direction)


class LiveCall:
    """One conversation: the pipeline, its tools and its watchdogs."""

    def __init__(
        self,
        settings: Settings,
        plan: CallPlan,
        channel: MediaChannel,
        engines: Engines,
        listeners: list[Callable[[Turn], None]],
        opt_out: OptOutGuard | None = None,
        meter: CallMeter | None = None,
        media_started_at: float | None = None,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.opt_out = opt_out
        self.channel = channel
        self.engines = engines
        self.meter: CallMeter = meter or NoMeter()
        self.media_started_at = media_started_at if media_started_at is not None else time.monotonic()
        self.result = CallResult(
            answered_by=_verdict(channel.answered_by),
            pacing=PacingStats(meter=self.meter),
            turn_clock=TurnClock(self.meter, self.media_started_at),
        )
        self.result.transcript.listeners.extend(listeners)
        self._ending = False
        self._bot_speaking = False
        self._spoken = asyncio.Event()
        self._greeting_over = asyncio.Event()
        self._last_activity = time.monotonic()
        self._worker: PipelineWorker | None = None
        self._tts: FrameProcessor | None = None
        self._gate: FirstUtteranceGate | None = None
        self._tasks: list[asyncio.Task] = []
        self._first_audio_watched = False
        self._hung_up = False  # the carrier was already asked to end the call (a fault)

    @property
    def ending(self) -> bool:
        """The call is on its way out (a reason is set; the pipeline is closing)."""
        return self._ending

    # ---- assembly -------------------------------------------------------------------------------
    def _build(self) -> PipelineWorker:
        plan, s = self.plan, self.settings
        transport = self._transport()

        @transport.event_handler("on_client_disconnected")
        async def _gone(_t: Any, _ws: Any) -> None:
            if not self._ending:
                self.result.reason = EndReason.CALLEE_HANGUP
            self._ending = True
            if self._worker is not None:
                await self._worker.cancel()

        endpoint = self.engines.llm_endpoint()
        llm = make_llm(endpoint, plan.system_prompt)
        tools: list[FunctionSchema] = []
        if plan.end_call_enabled:
            tools.append(FunctionSchema("end_call", "End the phone call, after saying goodbye.", {}, []))
            llm.register_function("end_call", self._tool_end_call)
        can_transfer = (
            plan.transfer_enabled and self.channel.control is not None and self.channel.control.supports_transfer
        )
        if can_transfer:
            tools.append(FunctionSchema("transfer_call", "Transfer the callee to a human colleague.", {}, []))
            llm.register_function("transfer_call", self._tool_transfer)
        context = LLMContext(tools=ToolsSchema(standard_tools=tools)) if tools else LLMContext()
        vad = BatchedSileroVAD(params=VADParams(stop_secs=s.vad_stop_secs, start_secs=s.vad_start_secs))
        if s.turn_detector == "smart-turn":
            strategies = UserTurnStrategies()
        else:
            strategies = UserTurnStrategies(stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.0)])
        pair = LLMContextAggregatorPair(
            context, user_params=LLMUserAggregatorParams(vad_analyzer=vad, user_turn_strategies=strategies)
        )

        transcript = self.result.transcript
        gate_mode = GateMode.OPEN
        if plan.voicemail_detection:
            if self.channel.answered_by == AnsweredBy.MACHINE:
                gate_mode = GateMode.MACHINE
            elif self.channel.answered_by is None:
                gate_mode = GateMode.CLASSIFY
        self._gate = FirstUtteranceGate(gate_mode, self._greeting_over.set, self._classified, self._heard)

        processors: list[FrameProcessor] = [
            transport.input(),
            self.engines.stt(),
            self._gate,
            pair.user(),
        ]
        if not plan.recording:
            # Past the VAD nothing needs the callee's audio: every 20 ms frame would otherwise visit
            # every processor below (the per-frame hops are most of a call's CPU).
            processors.append(AudioSink((InputAudioRawFrame,)))
        self._tts = self.engines.tts(plan.voice)
        processors += [
            llm,
            self._tts,
            transport.output(),
            BotTap(transcript, self.result.turn_clock.take, self._bot_stopped),
        ]
        self._recorder: AudioBufferProcessor | None = None
        if not plan.recording:
            processors.append(AudioSink((InputAudioRawFrame, OutputAudioRawFrame)))
        else:
            self._recorder = AudioBufferProcessor(sample_rate=WIRE_OUT_RATE, num_channels=2)

            @self._recorder.event_handler("on_audio_data")
            async def _audio(_p: Any, audio: bytes, _rate: int, _channels: int) -> None:
                self.result.recording_pcm = (self.result.recording_pcm or b"") + audio

            processors.append(self._recorder)
        processors.append(pair.assistant())

        worker = PipelineWorker(
            Pipeline(processors),
            params=PipelineParams(audio_in_sample_rate=PIPELINE_IN_RATE, audio_out_sample_rate=WIRE_OUT_RATE),
            idle_timeout_secs=None,
            enable_rtvi=False,
            enable_turn_tracking=False,
            cancel_on_idle_timeout=False,
        )

        @worker.event_handler("on_pipeline_started")
        async def _started(_w: Any, _f: Any) -> None:
            self.result.started_at = datetime.now(UTC)
            if self._recorder is not None:
                await self._recorder.start_recording()
            self._tasks.append(asyncio.create_task(self._opening()))
            self._tasks.append(asyncio.create_task(self._watch_duration()))
            self._tasks.append(asyncio.create_task(self._watch_silence()))

        return worker

    def _transport(self) -> Any:
        """The carrier's websocket, clock-paced; or, for a browser test session, its WebRTC peer."""
        if self.channel.peer is not None:
            from voxline.voice import webrtc_channel  # aiortc loads only for browser sessions

            self.result.transcript.listeners.append(webrtc_channel.transcript_feed(self.channel.peer))
            return webrtc_channel.BrowserTransport(self.channel.peer, self.result.turn_clock)
        return PacedWebsocketTransport(
            self.channel.websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=BatchedInputSerializer(self.channel.serializer, INPUT_FRAMES_PER_BATCH),
                audio_out_10ms_chunks=2,  # 20 ms frames on the wire
            ),
            self.result.pacing,
            self.result.turn_clock,
            keep_audio=self.plan.recording,
        )

    # ---- conversation events ---------------------------------------------------------------------
    def _touch(self) -> None:
        self._last_activity = time.monotonic()

    def _heard(self, text: str) -> None:
        self.result.transcript.user_said(text)
        self._touch()
        if self.opt_out is not None and self.plan.call_id and not self._ending:
            # the callee may be asking never to be called again
            self._tasks.append(asyncio.create_task(self._check_opt_out(self.opt_out, self.plan.call_id, text)))

    async def _check_opt_out(self, guard: OptOutGuard, call_id: str, text: str) -> None:
        """Spoken opt-out (the guard the application gives): list the number, acknowledge briefly, end the call."""
        if not await guard.asks_to_stop(text) or self._ending:
            return
        await guard.record(call_id, text)
        self.result.disposition = Disposition.OPTED_OUT
        await self.end(EndReason.OPTED_OUT, OPT_OUT_ACKNOWLEDGEMENT)

    def _bot_stopped(self) -> None:
        self._bot_speaking = False
        self._touch()
        self._spoken.set()

    async def _speak(self, frame: Frame) -> None:
        """Hand the bot's own words (or an interruption of them) straight to the speech engine.

        Queued at the pipeline's start they would wait behind every frame of the callee's audio still
        being transcribed and scored for speech: under load, seconds of silence before a greeting.
        """
        assert self._tts is not None
        await self._tts.queue_frame(frame)

    async def say(self, text: str) -> None:
        self._spoken.clear()
        self._bot_speaking = True
        self._touch()
        await self._speak(TTSSpeakFrame(text))

    async def say_and_wait(self, text: str) -> None:
        await self.say(text)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._spoken.wait(), SPOKEN_WAIT_SECS)

    async def end(self, reason: EndReason, farewell: str | None) -> None:
        """Every way out the bot chooses comes here: say the last words, then close the pipeline."""
        if self._ending:
            return
        self._ending = True
        self.result.reason = reason
        assert self._worker is not None
        if farewell:
            await self._speak(TTSSpeakFrame(farewell))
        # The end travels the whole pipeline (every processor must close): it reaches the speech engine
        # after the farewell.
        await self._worker.queue_frames([EndFrame()])

    async def _opening(self) -> None:
        """Greet; or, when a machine may have answered, find out first."""
        assert self._gate is not None
        if self._gate.mode is GateMode.MACHINE:
            await self._leave_voicemail()
        elif self._gate.mode is GateMode.CLASSIFY:
            await asyncio.sleep(voicemail.HUMAN_SILENCE_SECS)
            if self._gate.mode is GateMode.CLASSIFY and not self._gate.heard_speech:  # nobody spoke: a person
                self._gate.mode = GateMode.OPEN
                if self.plan.intro:
                    self._expect_first_audio(time.monotonic())
                    await self.say(self.plan.intro)
        elif self.plan.intro:
            await self.say(self.plan.intro)

    def _classified(self, first: str) -> None:
        assert self._gate is not None
        if voicemail.sounds_like_machine(first):
            self._gate.mode = GateMode.MACHINE
            self._greeting_over.set()  # the utterance is complete: the greeting has ended
            self._tasks.append(asyncio.create_task(self._leave_voicemail()))
        else:
            self._gate.mode = GateMode.OPEN
            if self.result.answered_by is None:
                self.result.answered_by = AnsweredBy.HUMAN
            if self.plan.intro:
                self._expect_first_audio(time.monotonic())
                self._tasks.append(asyncio.create_task(self.say(self.plan.intro)))

    async def _leave_voicemail(self) -> None:
        self.result.answered_by = AnsweredBy.MACHINE
        self.result.disposition = Disposition.VOICEMAIL
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._greeting_over.wait(), voicemail.GREETING_END_TIMEOUT_SECS)
        await self.end(EndReason.VOICEMAIL, self.plan.voicemail_message)

    async def _tool_end_call(self, params: FunctionCallParams) -> None:
        await params.result_callback({"ended": True}, properties=FunctionCallResultProperties(run_llm=False))
        await self.end(EndReason.END_CALL, self.plan.end_call_message)

    async def _tool_transfer(self, params: FunctionCallParams) -> None:
        await params.result_callback({"transferring": True}, properties=FunctionCallResultProperties(run_llm=False))
        if self._ending or self.channel.control is None or not self.plan.transfer_number:
            return
        self._ending = True
        self.result.reason = EndReason.TRANSFER
        await self.say_and_wait(self.plan.transfer_message)
        try:
            await self.channel.control.transfer(self.plan.transfer_number)
            self.result.transferred_to = self.plan.transfer_number
        except Exception as exc:  # noqa: BLE001 - a failed transfer still ends the call cleanly
            self.result.error = f"transfer failed: {type(exc).__name__}"
        assert self._worker is not None
        await self._worker.queue_frames([EndFrame()])

    async def _watch_duration(self) -> None:
        cap = self.plan.max_duration_secs
        if not cap:
            return
        start = time.monotonic()
        if cap > MAX_DURATION_WARNING_SECS:
            await asyncio.sleep(cap - MAX_DURATION_WARNING_SECS)
            if not self._ending:
                await self.say(TIME_WARNING)
        # The farewell starts a little before the cap so that it has been said when the cap arrives.
        lead = min(FAREWELL_LEAD_SECS, cap * 0.1)
        await asyncio.sleep(max(0.0, cap - lead - (time.monotonic() - start)))
        await self.end(EndReason.MAX_DURATION, self.plan.end_call_message)
        # The farewell gets a short grace; past it the pipeline is cut, whatever it is doing.
        await asyncio.sleep(self.settings.carrier_hangup_grace_secs)
        if self._worker is not None and not self._worker.has_finished():
            await self._worker.cancel()

    def _expect_first_audio(self, since: float) -> None:
        """The bot is about to speak first: its audio must go out within the bound, or the call is a fault."""
        if self.result.turn_clock.first_audio_at is None and not self._first_audio_watched:
            self._first_audio_watched = True
            deadline = since + self.settings.first_audio_timeout_secs
            self._tasks.append(asyncio.create_task(self._watch_first_audio(deadline)))

    async def _watch_first_audio(self, deadline: float) -> None:
        """Never leave a person on a silent line: no first audio by the deadline ends the call politely."""
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        if self.result.turn_clock.first_audio_at is not None or self._ending:
            return
        waited = time.monotonic() - self.media_started_at
        log.error(
            "call %s: no bot audio %.2f s after its media stream opened; ending it as a fault (no_first_audio)",
            self.plan.call_id or self.channel.call_id,
            waited,
        )
        self.meter.fault(EndReason.NO_FIRST_AUDIO.value)
        self.result.error = (
            f"no_first_audio: the agent could not speak within {self.settings.first_audio_timeout_secs:g} s "
            "of the call connecting"
        )
        assert self._worker is not None
        # Drop whatever the slow engine is still making (the greeting must not follow the apology).
        await self._speak(InterruptionFrame())
        self._ending = True
        self.result.reason = EndReason.NO_FIRST_AUDIO
        await self.say(FAULT_APOLOGY)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._spoken.wait(), FAULT_GRACE_SECS)
        # The call is written down as failed and hung up while our side of the stream is still open: closed
        # first, the carrier would report a completed call before the fault was on record. The apology's
        # last audio still buffered at the carrier plays out first.
        await asyncio.sleep(LEAD_FRAMES * FRAME_SECS)
        self._hung_up = True
        await self._hang_up_if_ours()
        await self._worker.queue_frames([EndFrame()])
        await asyncio.sleep(FAULT_GRACE_SECS)
        if not self._worker.has_finished():
            await self._worker.cancel()

    async def _watch_silence(self) -> None:
        limit = self.plan.silence_timeout_secs
        while not self._ending:
            await asyncio.sleep(min(0.5, limit / 4))
            if not self._bot_speaking and time.monotonic() - self._last_activity > limit:
                await self.end(EndReason.SILENCE, self.plan.end_call_message)

    # ---- the call --------------------------------------------------------------------------------
    async def hold(self) -> CallResult:
        self._worker = self._build()
        assert self._gate is not None
        if self.plan.intro and self._gate.mode is GateMode.OPEN:  # the greeting goes out as the media opens
            self._expect_first_audio(self.media_started_at)
        runner = WorkerRunner(handle_sigint=False)
        try:
            await runner.add_workers(self._worker)
            await runner.run()
        except Exception as exc:  # whatever broke, the call is still finalized
            log.exception("pipeline failed for session %s", self.plan.session_id)
            self.result.reason, self.result.error = EndReason.ERROR, f"{type(exc).__name__}: {exc}"[:300]
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.result.transcript.finish()
        self.result.ended_at = datetime.now(UTC)
        if self._recorder is not None and self.result.recording_pcm is None and self._recorder.has_audio():
            self.result.recording_pcm = self._recorder.merge_audio_buffers()
        if not self._hung_up:
            await self._hang_up_if_ours()
        return self.result

    async def _hang_up_if_ours(self) -> None:
        """When the bot ended the call, make sure the carrier ends it too (some never close the stream)."""
        control = self.channel.control
        if control is None or self.result.reason in (EndReason.CALLEE_HANGUP, EndReason.TRANSFER):
            return
        fail = getattr(control, "fail", None)  # a control that can record the fault on the call (dialer's)
        try:
            if self.result.reason is EndReason.NO_FIRST_AUDIO and fail is not None:
                await asyncio.wait_for(fail(self.result.error), timeout=10)
                return
            await asyncio.wait_for(control.hang_up(), timeout=10)
        except Exception as exc:  # noqa: BLE001 - already-ended calls answer errors; nothing to do
            log.info("carrier hang-up for session %s: %s", self.plan.session_id, type(exc).__name__)


class VoiceRuntime:
    """The CallRuntime carriers hand their media channel to.

    `plans` gives each call's plan by its session id; `sink` files the session when the call ends
    (the application wires both: see calls/conversation.py).
    """

    def __init__(
        self,
        settings: Settings,
        plans: PlanSource,
        sink: SessionSink,
        engines: Engines | None = None,
        *,
        adjust_plan: Callable[[CallPlan], CallPlan] | None = None,
        listeners: list[Callable[[Turn], None]] | None = None,
        opt_out: OptOutGuard | None = None,
        meter: CallMeter | None = None,
    ) -> None:
        self.settings = settings
        self.meter = meter  # the process's counts (frames, first audio, turn latency, faults)
        self.opt_out = opt_out  # asked about each final utterance: does the callee ask never to be called again?
        self.plans = plans
        self.sink = sink
        self.engines = engines or DeploymentEngines(settings)
        self.adjust_plan = adjust_plan
        self.listeners = listeners or []
        self.last_result: CallResult | None = None
        recording.register(settings)
        # The event loop shares the interpreter lock with the VAD's batch thread (and, in one process,
        # whatever else runs threads). Python hands the lock over every 5 ms by default, which shows
        # up as tens of milliseconds in the slowest turns; every 1 ms measured p99 31-38 → 24-25 ms.
        if sys.getswitchinterval() > INTERPRETER_SWITCH_SECS:
            sys.setswitchinterval(INTERPRETER_SWITCH_SECS)

    async def run(self, channel: MediaChannel) -> None:
        media_started_at = time.monotonic()  # the media stream is open: the callee is listening from now
        plan = await self.plans(channel.session_id)
        if self.adjust_plan is not None:
            plan = self.adjust_plan(plan)
        live = LiveCall(
            self.settings, plan, channel, self.engines, self.listeners, self.opt_out, self.meter, media_started_at
        )
        try:
            result = await live.hold()
        except asyncio.CancelledError:
            # Cut from outside (the carrier edge's hard cap, a shutdown): still file what happened.
            result = live.result
            result.transcript.finish()
            result.ended_at = datetime.now(UTC)
            if result.reason is EndReason.CALLEE_HANGUP and not live.ending:
                result.reason = EndReason.MAX_DURATION
            self.last_result = result
            await asyncio.shield(self._finalize(plan, result))
            raise
        self.last_result = result
        await self._finalize(plan, result)

    async def _finalize(self, plan: CallPlan, result: CallResult) -> None:
        await self.sink.file(plan.session_id, await outcome_of(self.settings, plan, result, self.engines))


def _verdict(answered_by: str | None) -> AnsweredBy | None:
    """The carrier's verdict at connect time as the enum (None: no verdict yet)."""
    return AnsweredBy(answered_by) if answered_by else None


def _disposition(result: CallResult) -> Disposition:
    if result.reason is EndReason.NO_FIRST_AUDIO:
        return Disposition.FAILED
    if result.disposition in (Disposition.VOICEMAIL, Disposition.OPTED_OUT):
        return result.disposition
    if result.reason is EndReason.CALLEE_HANGUP and not result.transcript.said("user"):
        return Disposition.USER_HANGUP_NO_SPEECH
    if result.reason is EndReason.ERROR:
        return Disposition.FAILED
    return Disposition.COMPLETED


def _answered_by(result: CallResult) -> AnsweredBy:
    if result.answered_by:
        return result.answered_by
    return AnsweredBy.HUMAN if result.transcript.said("user") else AnsweredBy.UNKNOWN


async def outcome_of(settings: Settings, plan: CallPlan, result: CallResult, engines: Engines) -> SessionOutcome:
    """What the session files: transcript, latency, duration, recording (written here), extraction."""
    transcript = result.transcript.as_list()
    recording_path = None
    if plan.recording and result.recording_pcm:
        path = recording.recordings_dir(settings) / f"{plan.session_id}.wav"
        await asyncio.to_thread(recording.write_wav, path, result.recording_pcm, WIRE_OUT_RATE)
        recording_path = str(path)
    extracted = None
    if plan.extraction_config:
        extracted = await extraction.extract(engines.llm_endpoint(), plan.extraction_config, transcript)
    ended = result.ended_at or datetime.now(UTC)
    return SessionOutcome(
        status=CallStatus.FAILED if result.reason in FAULTS else CallStatus.COMPLETED,
        transcript=transcript,
        latency=result.transcript.latency_summary(),
        duration_seconds=max(0, round((ended - result.started_at).total_seconds())),
        recording_path=recording_path,
        extraction=extracted,
        started_at=result.started_at,
        ended_at=ended,
        disposition=_disposition(result),
        answered_by=_answered_by(result),
    )


def with_limits(plan: CallPlan, **changes: Any) -> CallPlan:
    """A plan with some limits changed (tests use short caps; the API only allows 60–3600 s)."""
    return replace(plan, **changes)
