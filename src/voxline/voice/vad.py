"""Pipecat's Silero VAD, run for every call on the process in batches on one thread, behind a cheap level gate.

Pipecat's `SileroVADAnalyzer` gives each call its own worker thread and, for every 32 ms window, a
thread hop out of the event loop and back, one Silero run, and a BS.1770 loudness measure over the last
400 ms. At a hundred calls that is thousands of hops and wake-ups a second, and the loudness measure
alone costs more than the model. Here:

- the level of each window is its RMS in dBFS, put on Pipecat's 0..1 volume scale, with a fast-attack,
  slow-release envelope (a short "Hello?" reaches the gate at once; a pause between syllables does not
  drop it);
- windows of a stream whose level stays under the gate never reach the model (they cannot count as
  speech anyway: Pipecat requires both confidence and volume). Silero scores the start of speech low
  when its state has not heard the audio just before it, so when the level rises the model starts
  from a clean state and first hears the last quarter second that was gated (its scores discarded);
- the windows that do need the model go to one process-wide thread that runs a single Silero inference
  for all the streams waiting at that moment (Silero's recurrent state is an input and output of each
  run, so streams batch by stacking their states) and wakes each event loop once per batch.

The speech/silence state machine is Pipecat's own (`VADAnalyzer._run_analyzer`): this class only
supplies it with the confidences and levels it asks for.
"""

from __future__ import annotations

import asyncio
import audioop  # the standard library's until 3.13, then the audioop-lts package Pipecat depends on
import contextlib
import math
import threading
from collections import deque
from functools import lru_cache
from typing import Any

import numpy as np
import onnxruntime
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

SAMPLE_RATES = {16000: (512, 64), 8000: (256, 32)}  # rate -> (window samples, context samples)
RELEASE_PER_WINDOW = 0.1  # envelope fall per 32 ms window on the 0..1 scale (10 dB)
PREROLL_WINDOWS = 8  # gated windows replayed to warm the model when the level rises (~0.25 s)


@lru_cache(maxsize=1)
def _session() -> Any:
    from importlib import resources

    path = str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


def window_levels(pcm: np.ndarray) -> list[float]:
    """Level of each row of int16 samples on Pipecat's volume scale (-110 dB → 0, -10 dB → 1)."""
    out = []
    for row in pcm:
        rms = audioop.rms(row.tobytes(), 2) / 32768.0  # C, about a microsecond for a 32 ms window
        level = (20.0 * math.log10(rms) + 110.0) / 100.0 if rms > 0 else 0.0
        out.append(min(1.0, max(0.0, level)))
    return out


class SileroStream:
    """One call's model state (touched by the batcher thread only while a job of it is outstanding)."""

    __slots__ = ("context", "rate", "state")

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.reset()

    def reset(self) -> None:
        _, context = SAMPLE_RATES[self.rate]
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.context = np.zeros(context, dtype=np.float32)


class _Job:
    __slots__ = ("confidences", "future", "loop", "stream", "windows")

    def __init__(
        self, stream: SileroStream, windows: np.ndarray, loop: asyncio.AbstractEventLoop, future: asyncio.Future
    ) -> None:
        self.stream = stream
        self.windows = windows  # int16, one row per window (scaled to float in the batch thread)
        self.loop = loop
        self.future = future
        self.confidences = np.zeros(len(windows), dtype=np.float32)


class SileroBatcher:
    """The process's one Silero thread: takes every job waiting, runs them as one batch per window index."""

    def __init__(self) -> None:
        self._jobs: deque[_Job] = deque()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self.runs = 0  # inferences run (for tests and benchmarks)
        self.rows = 0  # windows scored

    def submit(self, job: _Job) -> None:
        with self._cv:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="silero-batcher", daemon=True)
                self._thread.start()
            self._jobs.append(job)
            self._cv.notify()

    def _serve(self) -> None:
        while True:
            with self._cv:
                while not self._jobs:
                    self._cv.wait()
                jobs = list(self._jobs)
                self._jobs.clear()
            try:
                self._score(jobs)
            except Exception as exc:  # noqa: BLE001 - a failed run must not leave calls waiting forever
                self._deliver(jobs, exc)
            else:
                self._deliver(jobs, None)

    def _score(self, jobs: list[_Job]) -> None:
        session = _session()
        for rate in {job.stream.rate for job in jobs}:
            same = [job for job in jobs if job.stream.rate == rate]
            sr = np.array(rate, dtype=np.int64)
            context = SAMPLE_RATES[rate][1]
            for index in range(max(len(job.windows) for job in same)):
                rows = [job for job in same if index < len(job.windows)]
                windows = np.stack([job.windows[index] for job in rows]).astype(np.float32) * (1 / 32768.0)
                contexts = np.stack([job.stream.context for job in rows])
                batch = np.concatenate((contexts, windows), axis=1)
                state = np.concatenate([job.stream.state for job in rows], axis=1)
                out, new_state = session.run(None, {"input": batch, "state": state, "sr": sr})
                tails = batch[:, -context:]
                for row, job in enumerate(rows):  # views into this run's arrays: no per-row copies
                    job.confidences[index] = out[row, 0]
                    job.stream.state = new_state[:, row : row + 1, :]
                    job.stream.context = tails[row]
                self.runs += 1
                self.rows += len(rows)

    @staticmethod
    def _deliver(jobs: list[_Job], error: Exception | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in jobs:
            by_loop.setdefault(job.loop, []).append(job)
        for loop, mine in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting any more
                loop.call_soon_threadsafe(_resolve, mine, error)


def _resolve(jobs: list[_Job], error: Exception | None) -> None:
    for job in jobs:
        if job.future.done():
            continue
        if error is None:
            job.future.set_result(job.confidences)
        else:
            job.future.set_exception(error)


_batcher = SileroBatcher()


def batcher() -> SileroBatcher:
    return _batcher


async def confidences(stream: SileroStream, pcm: np.ndarray) -> list[float]:
    """Silero's speech confidence for each row of int16 samples (one window each), in order, through the
    process's batcher; the stream's recurrent state carries over from call to call."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()
    _batcher.submit(_Job(stream, pcm, loop, future))
    return (await future).tolist()


class BatchedSileroVAD(VADAnalyzer):
    """A Silero `VADAnalyzer` for one call whose model runs go through the process's batcher."""

    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None) -> None:
        super().__init__(sample_rate=sample_rate, params=params)
        self._executor.shutdown(wait=False)  # Pipecat's per-analyzer thread: not used here
        self._pending = b""
        self._stream: SileroStream | None = None
        self._envelope = 0.0
        self._gated: deque[np.ndarray] = deque(maxlen=PREROLL_WINDOWS)  # latest windows the model skipped
        self._gated_count = 0
        self._confidences: deque[float] = deque()
        self._levels: deque[float] = deque()

    def set_sample_rate(self, sample_rate: int) -> None:
        if (self._init_sample_rate or sample_rate) not in SAMPLE_RATES:
            raise ValueError(f"Silero VAD runs at 8000 or 16000 Hz, not {sample_rate}")
        super().set_sample_rate(sample_rate)
        self._stream = SileroStream(self.sample_rate)

    def num_frames_required(self) -> int:
        return SAMPLE_RATES[self.sample_rate][0]

    async def analyze_audio(self, buffer: bytes) -> VADState:
        size = self._vad_frames_num_bytes
        data = self._pending + buffer
        count = len(data) // size
        self._pending = data[count * size :]
        if count:
            pcm = np.frombuffer(data[: count * size], dtype=np.int16).reshape(count, size // 2)
            levels = self._envelope_of(window_levels(pcm))
            confidences = await self._confidences_for(pcm, levels)
            self._levels.extend(levels)
            self._confidences.extend(confidences)
        return self._run_analyzer(buffer)  # Pipecat's state machine; it asks for the values queued above

    def _envelope_of(self, levels: list[float]) -> list[float]:
        out = []
        env = self._envelope
        for level in levels:
            env = level if level >= env else max(level, env - RELEASE_PER_WINDOW)
            out.append(env)
        self._envelope = env
        return out

    async def _confidences_for(self, pcm: np.ndarray, levels: list[float]) -> list[float]:
        assert self._stream is not None
        gate = self._params.min_volume
        if all(level < gate for level in levels):
            self._gated.extend(pcm)
            self._gated_count += len(pcm)
            return [0.0] * len(levels)
        if not self._gated:
            return await confidences(self._stream, pcm)
        if self._gated_count > PREROLL_WINDOWS:  # a long quiet: start afresh (a short one just catches up)
            self._stream.reset()
        self._gated_count = 0
        preroll = len(self._gated)
        windows = np.concatenate([np.array(self._gated, dtype=np.int16).reshape(-1, pcm.shape[1]), pcm])
        self._gated.clear()
        return (await confidences(self._stream, windows))[preroll:]

    def voice_confidence(self, buffer: bytes) -> float:
        return self._confidences.popleft() if self._confidences else 0.0

    def _get_smoothed_volume(self, audio: bytes) -> float:
        return self._levels.popleft() if self._levels else 0.0

    async def cleanup(self) -> None:
        self._confidences.clear()
        self._levels.clear()
