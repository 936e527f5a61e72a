"""The delivery worker: claims due outbox rows, posts them signed, records the outcome, schedules retries.

Any number of these run side by side (one per server process). Each posts at most `webhook_max_in_flight`
at a time, and to any one endpoint at most `webhook_max_in_flight_per_endpoint` (with as many again claimed
and queued behind them, so a fast endpoint never waits for a claim round trip; the queue takes no posting
slot): a receiver that hangs for the full timeout ties up its own share and nobody else's. Outcomes are
written in batches. Posting happens on the event loop with no lock held on any table the calls path uses.

Posts go out through aiohttp rather than httpx: httpx's connection pool does work quadratic in its open
connections on every request, which capped one process at ~200 posts/s; aiohttp sustains several times that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter
from datetime import timedelta

import aiohttp

from voxline import __version__
from voxline.context import Context
from voxline.core.crypto import DecryptionError
from voxline.core.ids import new_id
from voxline.core.keys import TEST
from voxline.core.timefmt import iso, utcnow
from voxline.store import webhooks as store
from voxline.store.webhooks import ClaimedDelivery, Outcome
from voxline.webhooks import signer
from voxline.webhooks.backoff import next_delay, parse_schedule
from voxline.webhooks.endpoints import open_secret, policy
from voxline.webhooks.urlguard import GuardedResolver, TargetError, resolve_target

log = logging.getLogger("voxline.webhooks")

USER_AGENT = f"Voxline-Webhooks/{__version__}"
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ERROR_CHARS = 500
RESULT_BATCH = 500
SHUTDOWN_GRACE_SECS = 2.0
PURGE_EVERY_SECS = 600.0
PURGE_BATCH = 1000


def _schedule(text: str) -> tuple[float, ...]:
    try:
        return parse_schedule(text)
    except ValueError:
        log.error("invalid VOXLINE_WEBHOOK_RETRY_SCHEDULE %r; using the default 1,2,4", text)
        return parse_schedule("default")


def sandbox_error(status_code: int | None) -> str:
    """What a sandbox endpoint's history may say about a failure: the HTTP status or just "failed".

    Sandbox keys may post to any loopback port; connection details (refused, reset, timed out, what the
    resolver said) would turn delivery history into a port scanner of the server's own host.
    """
    return f"HTTP {status_code}" if status_code is not None else "failed"


def worker_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{new_id()[:8]}"


class DeliveryWorker:
    def __init__(self, ctx: Context, name: str | None = None) -> None:
        self.ctx = ctx
        self.name = name or worker_name()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._per_endpoint: Counter[str] = Counter()
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._tokens: dict[str, str] = {}
        self._results: asyncio.Queue[Outcome] = asyncio.Queue()
        self._slot_freed = asyncio.Event()
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        # Claims and outcome writes take turns: on SQLite two write transactions from one process would
        # otherwise meet in SQLite's busy handler, which backs off in sleeps of up to 100 ms.
        self._db_turn = asyncio.Lock()
        self._next_purge = 0.0

    # ---- the loop ----
    async def run(self) -> None:
        signals = self.ctx.outbox
        flag = signals.listen()
        signals.register(self)
        writer = asyncio.create_task(self._write_results())
        try:
            while True:
                try:
                    await self._tick(flag)
                except Exception:  # never let one bad turn stop deliveries for everyone
                    log.exception("webhook worker turn failed")
                    await asyncio.sleep(1.0)
        finally:
            signals.unregister(self)
            signals.unlisten(flag)
            await self._shutdown(writer)

    # ---- hand-over from a committing transaction of this app (see outbox.enqueue) ----
    def lease_secs(self) -> float:
        return self.ctx.settings.webhook_lease_secs

    def has_room_for(self, count: int) -> bool:
        settings = self.ctx.settings
        return (
            settings.webhook_worker_enabled
            and self._room() >= count
            and len(self._tasks) + count <= 2 * settings.webhook_max_in_flight
        )

    def take(self, items: list[ClaimedDelivery], token: str) -> None:
        for item in items:
            if item.id not in self._tasks:
                self._tokens[item.id] = token
                self._start(item)

    async def _tick(self, flag: asyncio.Event) -> None:
        settings = self.ctx.settings
        if not settings.webhook_worker_enabled:
            await asyncio.sleep(settings.webhook_poll_interval_secs)
            return
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_SECS
            await self.purge_history()
        room = self._room()
        if room < self._batch_floor():
            # Let a batch's worth of slots free up rather than claiming one row per finished post.
            await self._wait(self._slot_freed)
            return
        flag.clear()
        self._slot_freed.clear()
        try:
            claimed = await self._claim(room)
        except Exception:  # the database may be briefly away; nothing is lost, rows stay due
            log.exception("webhook claim failed")
            await asyncio.sleep(1.0)
            return
        for item in claimed:
            self._start(item)
        if len(claimed) < room:
            # Nothing else is due, or what is due belongs to endpoints at their share: wait for new
            # deliveries (flag) or for an endpoint to drain back to its share (slot freed), at most a poll.
            await self._wait(flag, self._slot_freed)

    async def purge_history(self) -> int:
        """Drop finished deliveries older than the history window, a batch per transaction."""
        before = utcnow() - timedelta(days=self.ctx.settings.webhook_history_days)
        purged = 0
        try:
            while True:
                async with self._db_turn, self.ctx.db.transaction() as s:
                    n = await store.purge_finished(s, before, PURGE_BATCH)
                purged += n
                if n < PURGE_BATCH:
                    return purged
        except Exception:  # history clean-up may wait for the next round
            log.exception("purging old webhook deliveries failed")
            return purged

    def _room(self) -> int:
        """Posting slots not taken: deliveries queued behind their endpoint's share do not count."""
        cap = self.ctx.settings.webhook_max_in_flight_per_endpoint
        return self.ctx.settings.webhook_max_in_flight - sum(min(n, cap) for n in self._per_endpoint.values())

    def _batch_floor(self) -> int:
        return max(1, self.ctx.settings.webhook_max_in_flight // 4) if self._tasks else 1

    async def _wait(self, *flags: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(f.wait()) for f in flags]
        try:
            await asyncio.wait(
                waiters, timeout=self.ctx.settings.webhook_poll_interval_secs, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _claim(self, room: int) -> list[ClaimedDelivery]:
        settings = self.ctx.settings
        cap = settings.webhook_max_in_flight_per_endpoint
        share = 2 * cap  # posting + queued behind them
        busy = [endpoint for endpoint, n in self._per_endpoint.items() if n > cap]
        now = utcnow()
        token = new_id()
        async with self._db_turn, self.ctx.db.transaction() as s:
            # A few endpoints' worth of rows: enough to fill shares without reading the whole backlog.
            limit = min(room, share * 4)
            candidates = await store.due_candidates(s, now=now, limit=limit, skip_endpoints=busy)
            picked: list[str] = []
            taken: Counter[str] = Counter()
            for delivery_id, endpoint_id in candidates:
                if len(picked) >= room:
                    break
                if delivery_id in self._tasks or self._per_endpoint[endpoint_id] + taken[endpoint_id] >= share:
                    continue
                taken[endpoint_id] += 1
                picked.append(delivery_id)
            lease_until = now + timedelta(seconds=settings.webhook_lease_secs)
            claimed = await store.lease(s, picked, lease_until=lease_until, token=token)
        for item in claimed:
            self._tokens[item.id] = token
        return claimed

    def _start(self, item: ClaimedDelivery) -> None:
        self._per_endpoint[item.endpoint_id] += 1
        if item.endpoint_id not in self._gates:
            self._gates[item.endpoint_id] = asyncio.Semaphore(self.ctx.settings.webhook_max_in_flight_per_endpoint)
        task = asyncio.create_task(self._deliver(item, self._gates[item.endpoint_id]))
        self._tasks[item.id] = task
        task.add_done_callback(lambda _t, item=item: self._done(item))

    def _done(self, item: ClaimedDelivery) -> None:
        self._tasks.pop(item.id, None)
        left = self._per_endpoint[item.endpoint_id] - 1
        if left <= 0:
            del self._per_endpoint[item.endpoint_id]
            self._gates.pop(item.endpoint_id, None)
        else:
            self._per_endpoint[item.endpoint_id] = left
        # Wake the claim loop only at thresholds: an endpoint back to its share, or a batch of room.
        settings = self.ctx.settings
        if left == settings.webhook_max_in_flight_per_endpoint or self._room() == self._batch_floor():
            self._slot_freed.set()

    def _session(self, mode: str) -> aiohttp.ClientSession:
        """One HTTP session per key mode, so a connection opened under the sandbox rules (loopback allowed)
        is never reused for a live endpoint, and each resolves names through its own guard."""
        session = self._sessions.get(mode)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.ctx.settings.webhook_max_in_flight,
                resolver=GuardedResolver(lambda: policy(self.ctx, mode)),
                ttl_dns_cache=10,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": USER_AGENT},
                auto_decompress=False,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._sessions[mode] = session
        return session

    # ---- one attempt ----
    async def _deliver(self, item: ClaimedDelivery, gate: asyncio.Semaphore) -> None:
        attempt = item.attempts + 1
        try:
            async with gate:
                code, error, permanent = await self._post(item, attempt)
        except Exception as exc:  # a bug here must cost one attempt, not the delivery
            log.exception("webhook delivery %s failed unexpectedly", item.id)
            code, error, permanent = None, f"internal error: {type(exc).__name__}", False
        if error is not None and item.mode == TEST:
            error = sandbox_error(code)
        now = utcnow()
        ok = error is None
        status = store.DELIVERED
        next_at = now
        if not ok:
            settings = self.ctx.settings
            delay = (
                None
                if permanent
                else next_delay(_schedule(settings.webhook_retry_schedule), attempt, settings.webhook_retry_jitter)
            )
            self.ctx.meters.webhook_failures.labels("true" if delay is None else "false").inc()
            if delay is None:
                status = store.DEAD
                log.warning(
                    "webhook delivery %s to endpoint %s dead after %d attempts: %s",
                    item.id,
                    item.endpoint_id,
                    attempt,
                    error,
                )
            else:
                status = store.PENDING
                next_at = now + timedelta(seconds=delay)
        self._results.put_nowait(
            Outcome(
                delivery_id=item.id,
                endpoint_id=item.endpoint_id,
                token=self._tokens.pop(item.id, ""),
                status=status,
                attempts=attempt,
                next_attempt_at=next_at,
                attempted_at=now,
                status_code=code,
                error=error[:MAX_ERROR_CHARS] if error else None,
                worker=self.name,
            )
        )

    async def _post(self, item: ClaimedDelivery, attempt: int) -> tuple[int | None, str | None, bool]:
        """(HTTP status, error or None on success, whether the failure is permanent)."""
        timeout = self.ctx.settings.webhook_timeout_secs
        try:
            await resolve_target(item.url, policy(self.ctx, item.mode))
            secret = open_secret(self.ctx, item.endpoint_id, item.secret_enc)
        except TargetError as exc:
            return None, str(exc), exc.permanent
        except DecryptionError:
            return None, "endpoint secret cannot be decrypted with this deployment's key", True
        body = signer.encode_body(item.payload)
        headers = signer.headers(secret, iso(utcnow()) or "", body, item.event_id, item.event_type, attempt)
        try:
            async with asyncio.timeout(timeout):
                async with self._session(item.mode).post(
                    item.url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    await response.content.read(MAX_RESPONSE_BYTES)  # drain a little so the connection is reused
                    status = response.status
        except TimeoutError:
            return None, f"no response within {timeout:g} s", False
        except aiohttp.ClientError as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, False
        except OSError as exc:
            return None, f"{type(exc).__name__}: {exc}", False
        if 200 <= status < 300:
            return status, None, False
        return status, f"HTTP {status}", False

    # ---- outcomes ----
    async def _write_results(self) -> None:
        while True:
            first = await self._results.get()
            batch = [first]
            while len(batch) < RESULT_BATCH and not self._results.empty():
                batch.append(self._results.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[Outcome]) -> None:
        delay = 0.2
        while True:
            try:
                async with self._db_turn, self.ctx.db.transaction() as s:
                    await store.record_outcomes(s, batch)
                if any(o.status == store.PENDING for o in batch):
                    self.ctx.outbox.wake()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the outcomes and try again; if we die, leases make the rows due again
                log.exception("writing %d webhook outcomes failed; retrying", len(batch))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _shutdown(self, writer: asyncio.Task[None]) -> None:
        """Finish what is in flight for a moment, hand back the rest, write every outcome we have."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=SHUTDOWN_GRACE_SECS)
        unfinished = list(self._tasks.values())
        for task in unfinished:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*unfinished, return_exceptions=True)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        pending: list[Outcome] = []
        while not self._results.empty():
            pending.append(self._results.get_nowait())
        try:
            if pending:
                async with self.ctx.db.transaction() as s:
                    await store.record_outcomes(s, pending)
            by_token: dict[str, list[str]] = {}
            for delivery_id, token in self._tokens.items():
                by_token.setdefault(token, []).append(delivery_id)
            for token, ids in by_token.items():
                async with self.ctx.db.transaction() as s:
                    await store.release(s, ids, token, utcnow())
        except Exception:  # leases expire on their own; this only makes the next start quicker
            log.exception("webhook worker shutdown bookkeeping failed")
        for session in self._sessions.values():
            await session.close()


async def run(ctx: Context) -> None:
    """Background service: deliver webhooks until cancelled."""
    await DeliveryWorker(ctx).run()
