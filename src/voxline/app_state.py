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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

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
