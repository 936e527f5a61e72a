"""The campaign scheduler of one server process: settle finished calls, recover stranded attempts, start due
contacts within their callees' windows, the campaign's concurrency and the partner's free lines.

Any number of processes may run it on one database. A contact is claimed in a transaction (SKIP LOCKED on
PostgreSQL), its attempt n reserved as a unique row, and its call started through the same use-case as
POST /calls/start with the Idempotency-Key `campaign:{contact}:{n}`: every rule of a single call holds
(do-not-call, hours, caps, destination policy, limits), and if the process dies between the reservation and
the call, the recovery repeats the same request and gets the same call, never a second one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from voxline.calls import start as call_start
from voxline.campaigns.views import campaign_view
from voxline.context import Context
from voxline.core import calling_hours as hours
from voxline.core import campaign_rules as rules
from voxline.core import errors
from voxline.core.call_limits import concurrency_limit
from voxline.core.call_status import ACTIVE_STATUSES
from voxline.core.ids import new_id
from voxline.core.keys import LIVE
from voxline.core.principal import Principal
from voxline.core.timefmt import iso, utcnow
from voxline.safety.gate import next_moment
from voxline.safety.policy import Policy, effective
from voxline.store import agents as agent_store
from voxline.store import calls as call_store
from voxline.store import campaigns as store
from voxline.store import dnc as dnc_store
from voxline.store.campaign_tables import Campaign, CampaignAttempt, CampaignContact
from voxline.store.db import Transaction
from voxline.store.models import SessionEvent
from voxline.webhooks import outbox

log = logging.getLogger("voxline.campaigns")
CAMPAIGN_COMPLETED = "campaign.completed"
_ACTIVE = [s.value for s in ACTIVE_STATUSES]


def idempotency_key(contact_id: str, attempt: int) -> str:
    return f"campaign:{contact_id}:{attempt}"


def principal_for(c: Campaign) -> Principal:
    return Principal(c.partner_id, f"campaign:{c.id}", c.mode, None, None)


@dataclass
class Claim:
    campaign: Campaign
    contact_id: str
    attempt: int
    request: call_start.StartRequest


@dataclass
class TickStats:
    started: int = 0
    settled: int = 0
    deferred: int = 0
    completed_campaigns: list[str] = field(default_factory=list)


class Scheduler:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # A reserved attempt whose call was not recorded within the dialer's lease: its process died, and any
        # process repeats the same request (the same Idempotency-Key, so the same call).
        self.lease = timedelta(seconds=ctx.settings.dialer_lease_secs)
        self._policies: dict[tuple[str, str], Policy] = {}  # per tick
        self._declared: dict[str, list[str]] = {}  # agent id -> declared variables, per tick

    async def tick(self) -> TickStats:
        stats = TickStats()
        stats.settled = await self.settle()
        await self.recover()
        claims = await self.claim(stats)
        if claims:
            results = await asyncio.gather(*(self.place(c) for c in claims), return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    log.error("campaign call failed", exc_info=r)
            stats.started = sum(1 for r in results if r is True)
            self.ctx.dial_wake.notify()
        stats.completed_campaigns = await self.complete()
        return stats

    # ---- 1. calls that ended: the contact's outcome, a retry or the end --------------------------------
    async def settle(self) -> int:
        now = self.ctx.clock()
        async with self.ctx.db.transaction() as s:
            done = await store.finished_calls(s)
            for contact, call, opted_out in done:
                campaign = await store.by_id(s, contact.campaign_id)
                assert campaign is not None
                outcome = rules.outcome_of(call.status, call.disposition, opted_out)
                attempt = await store.attempt(s, contact.id, contact.attempts)
                if attempt is not None:
                    attempt.status, attempt.outcome, attempt.opted_out = call.status, outcome, opted_out
                    attempt.ended_at = call.ended_at or now
                nxt = rules.after_attempt(
                    rules.RetryPolicy.from_dict(campaign.retry_policy), contact.attempts, outcome, now
                )
                contact.status, contact.outcome = nxt.status, outcome
                contact.current_call_id = None
                contact.last_error = call.error_message
                contact.next_attempt_at = nxt.at
                contact.updated_at = now
        return len(done)

    # ---- 2. attempts whose process died before their call was recorded -------------------------------
    async def recover(self) -> None:
        now = self.ctx.clock()
        self._declared = {}
        claims: list[Claim] = []
        async with self.ctx.db.transaction() as s:
            for contact in await store.stranded(s, now):
                campaign = await store.by_id(s, contact.campaign_id)
                assert campaign is not None
                contact.claimed_until = now + self.lease
                claims.append(Claim(campaign, contact.id, contact.attempts, await self._request(s, campaign, contact)))
        for claim in claims:
            await self.place(claim)

    # ---- 3. due contacts, fairly across a partner's campaigns ----------------------------------------
    async def claim(self, stats: TickStats) -> list[Claim]:
        now = self.ctx.clock()
        self._policies, self._declared = {}, {}
        claims: list[Claim] = []
        async with self.ctx.db.transaction() as s:
            campaigns = [c for c in await store.running(s, now) if _started(c, now)]
            if not campaigns:
                return []
            flying = await store.in_flight(s, [c.id for c in campaigns])
            free: dict[tuple[str, str], int] = {}
            for c in campaigns:
                key = (c.partner_id, c.mode)
                if key not in free:
                    free[key] = await self._free_lines(s, c.partner_id, c.mode)
            # Round robin: one contact per campaign per turn while its partner has free lines, least
            # recently served campaign first, so many campaigns of one partner share its limit.
            room = {c.id: max(0, c.concurrency_limit - flying.get(c.id, 0)) for c in campaigns}
            queues: dict[str, list[CampaignContact]] = {}
            progress = True
            while progress:
                progress = False
                for c in campaigns:
                    key = (c.partner_id, c.mode)
                    if room[c.id] <= 0 or free[key] <= 0:
                        continue
                    contact = await self._next_contact(s, c, now, queues, stats)
                    if contact is None:
                        room[c.id] = 0
                        continue
                    contact.attempts += 1
                    try:
                        await store.reserve_attempt(
                            s,
                            CampaignAttempt(
                                id=new_id(),
                                contact_id=contact.id,
                                attempt=contact.attempts,
                                call_id=None,
                                status=None,
                                outcome=None,
                                opted_out=False,
                                created_at=now,
                                ended_at=None,
                            ),
                        )
                    except store.AttemptTaken:
                        contact.attempts -= 1
                        continue
                    contact.status = rules.CALLING
                    contact.claimed_until = now + self.lease
                    contact.updated_at = now
                    await store.flush(s)
                    claims.append(Claim(c, contact.id, contact.attempts, await self._request(s, c, contact)))
                    room[c.id] -= 1
                    free[key] -= 1
                    progress = True
            for c in {claim.campaign.id: claim.campaign for claim in claims}.values():
                await store.touch(s, c.id, now)
        return claims

    async def _free_lines(self, s, partner_id: str, mode: str) -> int:  # noqa: ANN001
        live_limit, sandbox_limit = await store.partner_limits(s, partner_id)
        cap = concurrency_limit(mode, live_limit, sandbox_limit, self.ctx.settings.sandbox_concurrency)
        return max(0, cap - await call_store.count_active(s, partner_id, mode, _ACTIVE, cap=cap + 1))

    async def _next_contact(
        self,
        s: Transaction,
        c: Campaign,
        now: datetime,
        queues: dict[str, list[CampaignContact]],
        stats: TickStats,
    ) -> CampaignContact | None:
        """The next due contact that may be called now; those outside their window wait until it opens."""
        key = (c.partner_id, c.mode)
        if key not in self._policies:  # once per tick: a policy changed now applies from the next tick
            self._policies[key] = await effective(s, self.ctx.settings, c.partner_id, c.mode)
        policy = self._policies[key]
        windows = _campaign_windows(c)
        fallback = (c.schedule or {}).get("timezone") or policy.fallback_timezone
        while True:
            queue = queues.get(c.id)
            if not queue:
                await store.flush(s)  # the skipped and deferred ones must not come back
                queue = queues[c.id] = await store.due_contacts(s, c.id, now, 50)
                if not queue:
                    return None
            contact = queue.pop(0)
            if await dnc_store.get(s, c.partner_id, c.mode, contact.phone) is not None:
                contact.status, contact.outcome, contact.updated_at = rules.SKIPPED, "do_not_call", now
                continue
            zones = hours.zones_for(contact.phone, fallback)
            rule_sets = [policy.windows, *([windows] if windows else [])]
            when = hours.next_allowed(zones, rule_sets, now)
            if when == now:
                return contact
            # Not now in this callee's zone(s): wait for the window to open (never a call outside it).
            contact.next_attempt_at = when or now + timedelta(days=1)
            contact.updated_at = now
            stats.deferred += 1

    async def _request(self, s, c: Campaign, contact: CampaignContact) -> call_start.StartRequest:  # noqa: ANN001
        if c.agent_id not in self._declared:
            agent = await agent_store.for_call(s, c.partner_id, c.agent_id)
            self._declared[c.agent_id] = list(agent.variables) if agent is not None else []
        declared = self._declared[c.agent_id]
        values = rules.Variables(declared, c.variable_mapping or {}).for_contact(
            contact.phone, contact.name, contact.contact_metadata or {}
        )
        return call_start.StartRequest(c.agent_id, contact.phone, c.provider, values, c.connection_id)

    # ---- placing one call through the ordinary start-call use-case -----------------------------------
    async def place(self, claim: Claim) -> bool:
        key = idempotency_key(claim.contact_id, claim.attempt)
        try:
            started = await call_start.start_call(self.ctx, principal_for(claim.campaign), claim.request, key)
        except errors.ConcurrencyLimit:
            await self._release(claim, retry_in=2.0)  # the partner's lines filled meanwhile: wait, not fail
            return False
        except errors.OutsideCallingHours:
            await self._release(claim, retry_in=None)
            return False
        except errors.ApiError as exc:
            await self._refused(claim, exc)
            return False
        now = self.ctx.clock()
        async with self.ctx.db.transaction() as s:
            contact = await store.contact(s, claim.contact_id, lock=True)
            attempt = await store.attempt(s, claim.contact_id, claim.attempt)
            if contact is not None and contact.status == rules.CALLING and contact.attempts == claim.attempt:
                contact.current_call_id = started.view["call_id"]
                contact.claimed_until = None
                contact.updated_at = now
            if attempt is not None:
                attempt.call_id = started.view["call_id"]
        return True

    async def _release(self, claim: Claim, retry_in: float | None) -> None:
        """No call was made: give the attempt back and try again later (at the window's next opening)."""
        now = self.ctx.clock()
        async with self.ctx.db.transaction() as s:
            contact = await store.contact(s, claim.contact_id, lock=True)
            if contact is None or contact.status != rules.CALLING or contact.attempts != claim.attempt:
                return
            await store.forget_attempt(s, contact.id, claim.attempt)
            contact.attempts -= 1
            contact.status = rules.WAITING
            contact.claimed_until = None
            if retry_in is None:
                policy = await effective(s, self.ctx.settings, contact.partner_id, contact.mode)
                when = next_moment(policy, contact.phone, now + timedelta(seconds=1))
                contact.next_attempt_at = when or now + timedelta(days=1)
            else:
                contact.next_attempt_at = now + timedelta(seconds=retry_in)
            contact.updated_at = now

    async def _refused(self, claim: Claim, exc: errors.ApiError) -> None:
        now = self.ctx.clock()
        skipped = isinstance(exc, errors.NumberOnDoNotCall | errors.FrequencyCapReached)
        outcome = "do_not_call" if isinstance(exc, errors.NumberOnDoNotCall) else exc.code.lower()
        async with self.ctx.db.transaction() as s:
            contact = await store.contact(s, claim.contact_id, lock=True)
            if contact is None or contact.status != rules.CALLING or contact.attempts != claim.attempt:
                return
            attempt = await store.attempt(s, contact.id, claim.attempt)
            if attempt is not None:
                attempt.outcome, attempt.ended_at = outcome, now
            contact.status = rules.SKIPPED if skipped else rules.GAVE_UP
            contact.outcome = outcome
            contact.last_error = f"{exc.code}: {exc.message}"[:2000]
            contact.claimed_until = None
            contact.updated_at = now

    # ---- 4. campaigns with nothing left: completed, and campaign.completed once ----------------------
    async def complete(self) -> list[str]:
        now = self.ctx.clock()
        finished: list[str] = []
        async with self.ctx.db.transaction() as s:
            for running in await store.running(s, now):
                if await store.finish_if_done(s, running.id, now):
                    c = await store.get(s, running.partner_id, running.mode, running.id)
                    assert c is not None
                    agent = await agent_store.for_call(s, c.partner_id, c.agent_id)
                    counts = (await store.counts(s, [c.id]))[c.id]
                    event = SessionEvent(
                        id=new_id(),
                        partner_id=c.partner_id,
                        mode=c.mode,
                        session_id=None,
                        event_type=CAMPAIGN_COMPLETED,
                        payload={
                            "event": CAMPAIGN_COMPLETED,
                            "timestamp": iso(utcnow()),
                            "livemode": c.mode == LIVE,
                            "data": campaign_view(c, agent.agent_name if agent else None, counts),
                        },
                        created_at=utcnow(),
                    )
                    await store.add_event(s, event)
                    await outbox.enqueue(self.ctx.outbox, s, event)
                    finished.append(c.id)
        if finished:
            self.ctx.outbox.wake()
        return finished


def _started(c: Campaign, now: datetime) -> bool:
    start_at = (c.schedule or {}).get("start_at")
    if not start_at:
        return True
    return datetime.fromisoformat(start_at.replace("Z", "+00:00")) <= now


def _campaign_windows(c: Campaign) -> tuple[hours.Window, ...] | None:
    raw = (c.schedule or {}).get("windows")
    return hours.parse_windows(raw) if raw else None


async def run(ctx: Context) -> None:
    """Background service: the scheduler, wherever the dialer runs."""
    if not ctx.settings.dialer_enabled:
        return
    scheduler = Scheduler(ctx)
    while True:
        try:
            stats = await scheduler.tick()
        except Exception:  # the database blinked: try again on the next poll
            log.exception("campaign tick failed")
            stats = TickStats()
        if not stats.started:
            await asyncio.sleep(ctx.settings.campaign_poll_secs)
