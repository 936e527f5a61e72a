"""Admission rules: may this server process take on another call? Pure judgement over what it measured.

A process that takes more calls than it can voice makes every one of them worse (late frames, a greeting
that waits behind the callees' audio: silent calls). So a call is admitted only while the process is under
its ceiling of calls and its measurements (event-loop lag, late outgoing frames, CPU) are healthy.
The measuring lives in app_state.Admission; the dialer asks before it claims a job.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Refusal(StrEnum):
    """Why a process takes no new call now (reported by /calls/concurrency and the metrics)."""

    MAX_CALLS = "max_calls"  # the configured ceiling of calls per process is reached
    LOOP_LAG = "loop_lag"  # the event loop wakes up late: it has more work than time
    FRAMES_LATE = "frames_late"  # outgoing 20 ms frames leave late: callees would hear gaps
    CPU = "cpu"  # the process uses about all of its core
    WARMING_UP = "warming_up"  # its speech engines are still loading: a call now would start silent
    RAMP = "ramp"  # it took its share of new calls this second: each start costs, and its load shows later


CALLS_PER_CORE = 50  # one process on a core of its own, stand-in engines (bench/concurrent_calls.py)


def default_ceiling(cores: int, processes: int) -> int:
    """Calls per process when none is configured: one event loop holds CALLS_PER_CORE with a core to itself
    (a second core does not help it: the loop is one thread); processes sharing cores share them out."""
    return max(1, round(CALLS_PER_CORE * min(1.0, cores / max(1, processes))))


@dataclass(frozen=True)
class Limits:
    max_calls: int
    max_loop_lag_ms: float
    max_late_frames_pct: float
    max_cpu_pct: float
    max_claims_per_sec: int = 0  # new calls a process takes per second (0: no ramp)


@dataclass(frozen=True)
class Reading:
    """What the process measured over its recent window."""

    calls: int  # calls in this process's care: claimed here and not over, or holding their media here
    loop_lag_ms: float  # the worst wake-up delay of the loop's sampler in the window
    late_frames_pct: float  # share of outgoing frames more than 40 ms late in the window
    cpu_pct: float  # CPU time of the process over wall time (100 = one core)
    ready: bool = True  # its speech engines are loaded (a cold model takes seconds to say its first word)
    claims_last_sec: int = 0  # calls it took in the last second


@dataclass(frozen=True)
class Verdict:
    room: int  # calls that may be claimed now
    reason: Refusal | None  # why there is no room (None when room > 0)


def judge(reading: Reading, limits: Limits) -> Verdict:
    """Room for new calls. Pressure refuses only while the process holds calls: with none, its own load
    cannot come from calls, and refusing would leave it idle for good. New calls are taken at most
    `max_claims_per_sec` a second: a burst claimed at once would start its pipelines together (each start
    holds the loop) before any measurement could show their load."""
    if not reading.ready:
        return Verdict(0, Refusal.WARMING_UP)
    if reading.calls >= limits.max_calls:
        return Verdict(0, Refusal.MAX_CALLS)
    if reading.calls > 0:
        if reading.loop_lag_ms > limits.max_loop_lag_ms:
            return Verdict(0, Refusal.LOOP_LAG)
        if reading.late_frames_pct > limits.max_late_frames_pct:
            return Verdict(0, Refusal.FRAMES_LATE)
        if reading.cpu_pct > limits.max_cpu_pct:
            return Verdict(0, Refusal.CPU)
    room = limits.max_calls - reading.calls
    if limits.max_claims_per_sec:
        ramp = limits.max_claims_per_sec - reading.claims_last_sec
        if ramp <= 0:
            return Verdict(0, Refusal.RAMP)
        room = min(room, ramp)
    return Verdict(room, None)


class FrameWindow:
    """Outgoing frames and late ones over the last `secs` seconds, in one-second buckets (cheap per frame)."""

    def __init__(self, secs: int = 5, clock: Callable[[], float] | None = None) -> None:
        self.secs = secs
        self._clock = clock or time.monotonic
        self._buckets: deque[list[int]] = deque()  # [second, frames, late]
        self.total_frames = 0
        self.total_late = 0

    def record(self, late: bool) -> None:
        second = int(self._clock())
        buckets = self._buckets
        if not buckets or buckets[-1][0] != second:
            buckets.append([second, 0, 0])
            while buckets and buckets[0][0] <= second - self.secs:
                buckets.popleft()
        bucket = buckets[-1]
        bucket[1] += 1
        self.total_frames += 1
        if late:
            bucket[2] += 1
            self.total_late += 1

    def late_pct(self) -> float:
        floor = int(self._clock()) - self.secs
        frames = late = 0
        for second, n, k in self._buckets:
            if second > floor:
                frames += n
                late += k
        return 100.0 * late / frames if frames else 0.0


class PeakWindow:
    """The largest of the values seen over the last `secs` seconds (for the loop's wake-up lag)."""

    def __init__(self, secs: float = 5.0, clock: Callable[[], float] | None = None) -> None:
        self.secs = secs
        self._clock = clock or time.monotonic
        self._values: deque[tuple[float, float]] = deque()

    def add(self, value: float) -> None:
        now = self._clock()
        values = self._values
        while values and values[-1][1] <= value:  # a smaller value before a larger one can never be the peak
            values.pop()
        values.append((now, value))
        self._drop(now)

    def peak(self) -> float:
        self._drop(self._clock())
        return self._values[0][1] if self._values else 0.0

    def _drop(self, now: float) -> None:
        while self._values and self._values[0][0] <= now - self.secs:
            self._values.popleft()
