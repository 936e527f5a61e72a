"""What one running app keeps in memory between requests: nudges to its own workers, the calls it holds,
and a short memory of carrier callers. It lives on the app's Context, never in a module global, so two
apps in one process (tests build many) never see each other's.

Nothing here is needed for correctness across processes: the database is the truth, and these only make
this process quicker (a nudge instead of a poll) or tell it what it alone is responsible for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from voxline.core import admission
from voxline.settings import Settings
from voxline.store.webhooks import ClaimedDelivery


def new_worker_id() -> str:
    """Names this app's claims in the database (host, process, and a part unique to the app)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    """Which calls this app is responsible for (dialing them, or holding their media), kept alive in the
    database by the dialer's heartbeat under `worker_id`. When the app dies its leases lapse and another
    process reconciles its calls."""

    def __init__(self, worker_id: str | None = None) -> None:
        self.worker_id = worker_id or new_worker_id()
        self._owned: set[str] = set()

    def hold(self, call_id: str) -> None:
        self._owned.add(call_id)

    def release(self, call_id: str) -> None:
        self._owned.discard(call_id)

    def owned(self) -> list[str]:
        return list(self._owned)

    def __contains__(self, call_id: str) -> bool:
        return call_id in self._owned


class DialWake:
    """A nudge from /calls/start to this app's dialer, so a new call is dialed without waiting for the
    next poll. Other processes find it on their next poll; nothing depends on the nudge."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def register(self) -> asyncio.Event:
        """The running dialer's flag (created in its own event loop)."""
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def unregister(self) -> None:
        self._event = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()


class EndedCalls:
    """Signals that a call ended, for the media edge: some carriers (Exotel) never close their stream, so
    the edge closes it when the call is over. Another process's edge falls back to polling."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def event(self, call_id: str) -> asyncio.Event:
        """The flag a waiter watches; `forget` it when done waiting."""
        return self._events.setdefault(call_id, asyncio.Event())

    def forget(self, call_id: str) -> None:
        self._events.pop(call_id, None)

    def ended(self, call_id: str) -> None:
        event = self._events.get(call_id)
        if event is not None:
            event.set()

    def __len__(self) -> int:
        return len(self._events)


class Taker(Protocol):
    """A running delivery worker that accepts deliveries straight from a committing transaction."""

    def lease_secs(self) -> float: ...

    def has_room_for(self, count: int) -> bool: ...

    def take(self, items: list[ClaimedDelivery], token: str) -> None: ...


class OutboxSignals:
    """How the webhook outbox reaches this app's delivery worker: hand-over at commit, and wake-ups."""

    def __init__(self) -> None:
        self.taker: Taker | None = None
        self._listeners: set[asyncio.Event] = set()

    def register(self, taker: Taker) -> None:
        self.taker = taker

    def unregister(self, taker: Taker) -> None:
        if self.taker is taker:
            self.taker = None

    def listen(self) -> asyncio.Event:
        """A worker's wake-up flag; set by wake() after new deliveries commit."""
        flag = asyncio.Event()
        self._listeners.add(flag)
        return flag

    def unlisten(self, flag: asyncio.Event) -> None:
        self._listeners.discard(flag)

    def wake(self) -> None:
        """Call after committing deliveries. Workers in other processes find them on their next poll."""
        for flag in list(self._listeners):
            with contextlib.suppress(RuntimeError):  # a flag from a loop that has closed
                flag.set()


@dataclass(frozen=True)
class KnownCall:
    """What authenticates a carrier's callbacks of one call: plain values, never a database row (a row
    belongs to the transaction that read it)."""

    id: str
    provider: str
    session_id: str
    callback_token_hash: str | None
    creds: Any  # the carrier's validated credentials model (telephony.base.CarrierCredentials), immutable


class RecentCalls:
    """A call's identity (provider, token, session) never changes once dialed, and carriers call back a few
    times in quick succession: keep what authenticates them for a few seconds instead of re-reading it."""

    def __init__(
        self, ttl_secs: float = 10.0, max_entries: int = 20_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_secs = ttl_secs
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, KnownCall]] = {}

    def get(self, call_id: str) -> KnownCall | None:
        entry = self._entries.get(call_id)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def remember(self, call: KnownCall) -> None:
        if len(self._entries) >= self.max_entries:
            now = self._clock()
            stale = [k for k, v in self._entries.items() if v[0] <= now] or list(self._entries)[: self.max_entries // 2]
            for key in stale:
                self._entries.pop(key, None)
        self._entries[call.id] = (self._clock() + self.ttl_secs, call)

    def __contains__(self, call_id: str) -> bool:
        return self.get(call_id) is not None


class ReadyPlans:
    """Calls' plans read while they ring, so that the media stream's start needs no database.

    The dialer starts reading a call's plan as it asks the carrier to place it; when the callee answers
    and the media stream opens in this process, the plan is already in memory (the greeting waits for
    nothing). A stream that opens in another process, or after `ttl_secs`, reads the plan itself.
    Holds the read's task; the taker awaits it.
    """

    def __init__(
        self, ttl_secs: float = 300.0, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_secs = ttl_secs
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, asyncio.Task[Any]]] = {}

    def put(self, session_id: str, reading: asyncio.Task[Any]) -> None:
        now = self._clock()
        if len(self._entries) >= self.max_entries:
            for key in [k for k, (until, _) in self._entries.items() if until <= now] or list(self._entries)[:1]:
                self._entries.pop(key, None)
        self._entries[session_id] = (now + self.ttl_secs, reading)

    def take(self, session_id: str) -> asyncio.Task[Any] | None:
        """The plan's read for this session (once), or None when there is none or it is stale."""
        entry = self._entries.pop(session_id, None)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def __contains__(self, session_id: str) -> bool:
        entry = self._entries.get(session_id)
        return entry is not None and entry[0] > self._clock()

    def __len__(self) -> int:
        return len(self._entries)


class Admission:
    """This process's room for calls (see core/admission.py): the calls in its care and what it measures.

    A call counts from the moment this process claims it from the dial queue until its media ends here,
    or, when its media stream went to another process (or never came: no answer, busy), until the dialer
    learns that (`settle`). A media stream for a call claimed elsewhere counts from its start to its end:
    it is never refused, because the claim was the admission point.
    """

    LAG_WINDOW_SECS = 3.0
    WINDOW_SECS = 5

    def __init__(self, limits: admission.Limits) -> None:
        self.limits = limits
        self.frames = admission.FrameWindow(self.WINDOW_SECS)
        self.lag = admission.PeakWindow(self.LAG_WINDOW_SECS)
        self._cpu: deque[tuple[float, float]] = deque()  # (monotonic, loop thread CPU seconds)
        self._claimed: set[str] = set()  # claimed here; media not (yet) held here
        self._media: set[str] = set()  # media streams held here
        self._claim_times: deque[float] = deque()  # when this process took its latest calls (the ramp)
        self.refusing: admission.Refusal | None = None  # why the dialer last found no room (None: it had room)
        self.refusals: dict[str, int] = {}  # claim rounds refused while jobs waited, by reason (metrics)
        self.ready = True  # False while the app warms its speech engines (app.py): no call is claimed then

    def warmed(self) -> None:
        """The speech engines are up: claim calls. The loop lag and CPU that loading them cost are not the
        calls' load; left in the windows, they refused every claim after the first for up to 3 s."""
        self.lag = admission.PeakWindow(self.LAG_WINDOW_SECS)
        self._cpu.clear()
        self.ready = True

    # ---- the calls in this process's care ----
    def claimed(self, call_id: str) -> None:
        self._claimed.add(call_id)
        self._claim_times.append(time.monotonic())

    def claims_last_sec(self) -> int:
        floor = time.monotonic() - 1.0
        times = self._claim_times
        while times and times[0] <= floor:
            times.popleft()
        return len(times)

    def media_started(self, call_id: str) -> None:
        self._claimed.discard(call_id)
        self._media.add(call_id)

    def media_ended(self, call_id: str) -> None:
        self._media.discard(call_id)
        self._claimed.discard(call_id)

    def settled(self, call_id: str) -> None:
        """The call no longer needs this process: its dial failed, it ended, or its media is elsewhere."""
        self._claimed.discard(call_id)

    def awaiting_media(self) -> list[str]:
        return list(self._claimed - self._media)

    def calls(self) -> int:
        return len(self._claimed) + len(self._media)

    # ---- measurements ----
    def sampled(self, lag_secs: float, now: float, loop_cpu_secs: float) -> None:
        """One tick of the loop sampler: how late it woke, and the loop thread's CPU clock."""
        self.lag.add(lag_secs * 1000)
        self._cpu.append((now, loop_cpu_secs))
        while len(self._cpu) > 2 and self._cpu[0][0] < now - self.WINDOW_SECS:
            self._cpu.popleft()

    def loop_cpu_pct(self) -> float:
        if len(self._cpu) < 2:
            return 0.0
        (t0, c0), (t1, c1) = self._cpu[0], self._cpu[-1]
        return 100.0 * (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    def reading(self) -> admission.Reading:
        return admission.Reading(
            self.calls(),
            self.lag.peak(),
            self.frames.late_pct(),
            self.loop_cpu_pct(),
            ready=self.ready,
            claims_last_sec=self.claims_last_sec(),
        )

    def verdict(self) -> admission.Verdict:
        return admission.judge(self.reading(), self.limits)

    def refused(self, reason: admission.Refusal) -> None:
        self.refusals[reason.value] = self.refusals.get(reason.value, 0) + 1

    async def sample_forever(self, every_secs: float = 0.05) -> None:
        """Measure the event loop: a sleep of `every_secs` that returns late shows the loop's backlog."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(every_secs)
            now = loop.time()
            self.sampled(max(0.0, now - before - every_secs), now, time.thread_time())


def admission_limits(settings: Settings) -> admission.Limits:
    return admission.Limits(
        max_calls=settings.calls_ceiling,
        max_loop_lag_ms=settings.admission_max_loop_lag_ms,
        max_late_frames_pct=settings.admission_max_late_frames_pct,
        max_cpu_pct=settings.admission_max_loop_cpu_pct,
        max_claims_per_sec=settings.admission_max_claims_per_sec,
    )
