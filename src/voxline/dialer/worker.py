"""The dialer loop of one server process: claim a due row, dial it in a task, repeat; renew leases; reap.

Any number of processes may run it against one database: claims are exclusive (see store/dial_queue),
pacing and the partner's concurrency limit live in the database, so they hold across processes. A process
claims only while it has room for more calls (core/admission.py); a full one leaves jobs in the queue, for
another process or for later, and says why (`Admission.refusing`, /calls/concurrency, /metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

import httpx

from voxline.context import Context
from voxline.core.admission import Refusal
from voxline.core.timefmt import utcnow
from voxline.dialer import reaper
from voxline.dialer.dial import dial
from voxline.dialer.urls import issue_token
from voxline.store import dial_queue as dq
from voxline.store.models import TelephonyConnection
from voxline.telephony.registry import carrier as carrier_for

log = logging.getLogger("voxline.dialer")
CLAIM_BATCH = 32  # jobs one claim transaction may take, each at its own pacing slot
SETTLE_EVERY_SECS = 1.0  # when full, how often to ask which claimed calls got their media elsewhere


class Dialer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.tasks: set[asyncio.Task[None]] = set()
        self._settled_at = 0.0

    def cps_for(self, conn: TelephonyConnection) -> float:
        if conn.calls_per_second:
            return conn.calls_per_second
        if self.settings.dialer_cps:
            return self.settings.dialer_cps
        carrier = carrier_for(conn.provider)
        return carrier.default_cps if carrier else 1.0

    async def claim(self) -> dq.Claimed | None:
        """One job due now (tests and tools); the loop claims in batches."""
        claimed, _ = await self.claim_or_wait(1, horizon_secs=0.0)
        return claimed[0] if claimed else None

    async def claim_or_wait(self, limit: int, horizon_secs: float | None = None) -> tuple[list[dq.Claimed], float]:
        """Jobs claimed for dialing at their pacing slots, or how long to wait for the next slot (≤ one poll)."""
        horizon = self.settings.dialer_poll_secs if horizon_secs is None else horizon_secs
        async with self.ctx.db.transaction() as s:
            now = utcnow()
            claimed = await dq.claim_batch(
                s,
                worker_id=self.ctx.leases.worker_id,
                now=now,
                lease_secs=self.settings.dialer_lease_secs,
                cps_for=self.cps_for,
                new_token=issue_token,
                sandbox_concurrency=self.settings.sandbox_concurrency,
                limit=limit,
                horizon_secs=horizon,
            )
            if claimed:
                return claimed, 0.0
            slot = await dq.next_slot(s, now)
        poll = self.settings.dialer_poll_secs
        if slot is None:
            return [], poll
        return [], min(poll, max(0.0, (slot - utcnow()).total_seconds() - horizon))

    async def run(self) -> None:
        nudge = self.ctx.dial_wake.register()
        limits = httpx.Limits(max_connections=self.settings.dialer_max_inflight * 2)
        async with httpx.AsyncClient(timeout=self.settings.carrier_timeout_secs, limits=limits) as http:
            side = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._reap())]
            try:
                await self._loop(http, nudge)
            finally:
                for task in side:
                    task.cancel()
                for task in side:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                # Let in-flight create-call requests finish so their outcome is recorded, not lost.
                if self.tasks:
                    await asyncio.wait(self.tasks, timeout=self.settings.carrier_timeout_secs + 1)
                self.ctx.dial_wake.unregister()

    async def _loop(self, http: httpx.AsyncClient, nudge: asyncio.Event) -> None:
        capacity = self.settings.dialer_max_inflight
        while True:
            free = capacity - len(self.tasks)
            if free <= 0:
                await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            claimed: list[dq.Claimed] = []
            wait = self.settings.dialer_poll_secs
            nudge.clear()  # before looking: a call started while we look wakes the next round at once
            try:
                room = await self.room()
                if room > 0:
                    claimed, wait = await self.claim_or_wait(min(free, CLAIM_BATCH, room))
            except Exception:  # the database blinked: try again on the next poll
                log.exception("dial-queue claim failed")
            for one in claimed:
                self.ctx.admission.claimed(one.call.id)  # counted from now: the claim is the admission point
                task = asyncio.create_task(self._dial(http, one))
                self.tasks.add(task)
                task.add_done_callback(self._done)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(nudge.wait(), wait)

    async def room(self) -> int:
        """Calls this process may claim now; when none, record why if jobs are waiting (see core/admission)."""
        admission = self.ctx.admission
        verdict = admission.verdict()
        if verdict.reason is Refusal.MAX_CALLS and time.monotonic() - self._settled_at > SETTLE_EVERY_SECS:
            await self.settle()  # calls whose media went to another process no longer count here
            verdict = admission.verdict()
        if verdict.reason is None:
            if admission.refusing is not None:
                log.info("room for calls again (%d)", verdict.room)
            admission.refusing = None
            return verdict.room
        async with self.ctx.db.read() as s:
            waiting, _ = await dq.queue_stats(s, utcnow())
        if waiting:
            admission.refused(verdict.reason)
            if admission.refusing is not verdict.reason:
                reading = admission.reading()
                log.warning(
                    "no room for new calls (%s): %d calls held, loop lag %.0f ms, %.1f%% frames late, loop CPU %.0f%%;"
                    " %d due calls stay queued",
                    verdict.reason.value,
                    reading.calls,
                    reading.loop_lag_ms,
                    reading.late_frames_pct,
                    reading.cpu_pct,
                    waiting,
                )
            admission.refusing = verdict.reason
        return 0

    async def settle(self) -> None:
        """Stop counting claimed calls whose media stream opened elsewhere, or that ended without one."""
        self._settled_at = time.monotonic()
        awaiting = self.ctx.admission.awaiting_media()
        if not awaiting:
            return
        async with self.ctx.db.read() as s:
            gone = await dq.gone_from(s, awaiting)
        for call_id in gone:
            self.ctx.admission.settled(call_id)

    async def _dial(self, http: httpx.AsyncClient, one: dq.Claimed) -> None:
        try:
            await dial(self.ctx, http, one)
        finally:
            if one.call.id not in self.ctx.leases:  # not ringing: refused, failed, canceled or back in the queue
                self.ctx.admission.settled(one.call.id)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("dial task failed", exc_info=task.exception())

    async def _heartbeat(self) -> None:
        every = self.settings.dialer_lease_secs / 3
        while True:
            try:
                leases = self.ctx.leases
                owned = leases.owned()
                async with self.ctx.db.transaction() as s:
                    until = utcnow() + timedelta(seconds=self.settings.dialer_lease_secs)
                    await dq.renew(s, owned, leases.worker_id, until)
                    held = await dq.still_held(s, owned)
                for call_id in set(owned) - held:
                    leases.release(call_id)
                    self.ctx.admission.settled(call_id)
                await self.settle()
            except Exception:
                log.exception("lease renewal failed")
            await asyncio.sleep(every)

    async def _reap(self) -> None:
        while True:
            try:
                await reaper.sweep(self.ctx)
            except Exception:
                log.exception("reaper sweep failed")
            s = self.settings
            every = min(5.0, s.ring_timeout_secs / 4, s.dialer_lease_secs / 3, max(0.2, s.session_finish_grace_secs))
            await asyncio.sleep(every)


async def run(ctx: Context) -> None:
    """Background service: the dialer, unless this process is configured not to dial."""
    if not ctx.settings.dialer_enabled:
        return
    await Dialer(ctx).run()


async def measure(ctx: Context) -> None:
    """Background service: the event-loop sampler the admission rules read (every process, dialing or not)."""
    await ctx.admission.sample_forever()
