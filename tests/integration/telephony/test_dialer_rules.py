"""The dialer's rules, on a database that holds only this test's queue: claims respect the partner's
concurrency limit and the connection's pacing, a claimed row is never claimed twice, recovery never
redials, and an unanswered call ends at the ring timeout."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select

from tests.conftest import Tenant, create_agent
from tests.integration.telephony.conftest import CREDS
from voxline.accounts import partners
from voxline.core import keys
from voxline.core.timefmt import utcnow
from voxline.dialer import reaper
from voxline.dialer.worker import Dialer
from voxline.store import dial_queue as dq
from voxline.store.models import Call, DialJob, Partner, Session, TelephonyConnection


async def _queue(ctx, client, n: int, *, concurrency: int, cps: float | None = None) -> tuple[Tenant, list[str]]:  # noqa: ANN001
    limits = partners.Limits(concurrency=n, sandbox_concurrency=n)
    issued = await partners.create_partner(ctx, f"dq-{uuid.uuid4().hex[:10]}", limits)
    issued = await partners.create_key(ctx, issued.partner_id, keys.TEST)
    tenant = Tenant(issued.partner_id, issued.api_key, "dq")
    agent = await create_agent(client, tenant)
    assert (
        await client.put("/config/telephony/twilio", json=CREDS["twilio"], headers=tenant.headers)
    ).status_code == 200
    ids = []
    for i in range(n):
        body = {"agent_id": agent["id"], "provider": "twilio", "to_number": f"+9197{i:08d}", "variables": {}}
        r = await client.post("/calls/start", json=body, headers=tenant.headers)
        assert r.status_code == 200, r.text
        ids.append(r.json()["data"]["call_id"])
    async with ctx.db.transaction() as s:
        (await s.get(Partner, tenant.partner_id)).sandbox_concurrency_limit = concurrency  # its calls are sandbox
        conn = (
            await s.execute(select(TelephonyConnection).where(TelephonyConnection.partner_id == tenant.partner_id))
        ).scalar_one()
        conn.calls_per_second = cps or 1000.0
    return tenant, ids


async def test_claims_stop_at_the_partners_concurrency_limit(fresh) -> None:  # noqa: ANN001
    ctx, client = fresh
    _, ids = await _queue(ctx, client, 4, concurrency=2)
    dialer = Dialer(ctx)
    first, second, third = await dialer.claim(), await dialer.claim(), await dialer.claim()
    assert first and second and third is None
    async with ctx.db.transaction() as s:  # one call ends: its line is free again
        (await dq.job_for_call(s, first.call.id)).status = dq.DONE
    fourth = await dialer.claim()
    assert fourth is not None and fourth.call.id not in (first.call.id, second.call.id)


async def test_claims_are_paced_per_connection(fresh) -> None:  # noqa: ANN001
    ctx, client = fresh
    # One call a second: the refusal must not depend on two claims landing within a few hundred
    # milliseconds of each other on a busy machine.
    await _queue(ctx, client, 3, concurrency=3, cps=1.0)
    dialer = Dialer(ctx)
    assert await dialer.claim() is not None
    assert await dialer.claim() is None, "the next slot is 1 s away"
    await asyncio.sleep(1.01)
    assert await dialer.claim() is not None


async def test_concurrent_claimers_never_take_the_same_row(fresh) -> None:  # noqa: ANN001
    ctx, client = fresh
    _, ids = await _queue(ctx, client, 12, concurrency=12)
    dialers = [Dialer(ctx) for _ in range(4)]
    claimed = []
    for _ in range(200):  # concurrent rounds; pacing (1 ms slots) refuses some, nothing is taken twice
        claimed += [c for c in await asyncio.gather(*(d.claim() for d in dialers)) if c is not None]
        if len(claimed) >= 12:
            break
        await asyncio.sleep(0.002)
    taken = [c.call.id for c in claimed]
    assert len(taken) == len(set(taken)) == 12 and set(taken) == set(ids)


async def test_a_call_lost_while_dialing_is_failed_not_redialed(fresh) -> None:  # noqa: ANN001
    ctx, client = fresh
    _, ids = await _queue(ctx, client, 1, concurrency=1)
    claimed = await Dialer(ctx).claim()
    assert claimed is not None
    async with ctx.db.transaction() as s:  # the claiming process died before the carrier answered
        (await dq.job_for_call(s, claimed.call.id)).claimed_until = utcnow() - timedelta(seconds=1)
    assert await reaper.reconcile_expired(ctx) == 1
    async with ctx.db.transaction() as s:
        call = await s.get(Call, ids[0])
        job = (await s.execute(select(DialJob).where(DialJob.call_id == ids[0]))).scalar_one()
        session = await s.get(Session, call.session_id)
    assert call.status == "failed" and call.error_message == reaper.LOST_WHILE_DIALING
    assert job.status == dq.DONE and job.attempts == 1
    assert session.processing_complete, "session.completed is emitted for a call that never connected"
    assert await Dialer(ctx).claim() is None, "and it is never dialed again"


async def test_a_call_ringing_past_the_ring_timeout_ends_no_answer(fresh) -> None:  # noqa: ANN001
    ctx, client = fresh
    _, ids = await _queue(ctx, client, 1, concurrency=1)
    claimed = await Dialer(ctx).claim()
    assert claimed is not None
    async with ctx.db.transaction() as s:
        call = await s.get(Call, ids[0])
        call.status = "ringing"
        call.dialed_at = utcnow() - timedelta(seconds=ctx.settings.ring_timeout_secs + 1)
        (await dq.job_for_call(s, ids[0])).status = dq.LIVE
    assert await reaper.end_unanswered(ctx) == 1
    async with ctx.db.transaction() as s:
        call = await s.get(Call, ids[0])
    assert call.status == "no_answer" and call.answered_by == "not_answered"
    assert "Not answered within" in call.error_message


async def test_sandbox_calls_at_their_limit_never_hold_back_live_ones_and_the_reverse(fresh) -> None:  # noqa: ANN001
    """Each mode's lines are counted against its own limit in the claim itself, across every dialer process."""
    ctx, client = fresh
    limits = partners.Limits(concurrency=1, sandbox_concurrency=1)
    issued = await partners.create_partner(ctx, f"dm-{uuid.uuid4().hex[:10]}", limits)
    test_issued = await partners.create_key(ctx, issued.partner_id, keys.TEST)
    live = Tenant(issued.partner_id, issued.api_key, "live")
    test = Tenant(issued.partner_id, test_issued.api_key, "test")
    agent = await create_agent(client, live)
    started: dict[str, list[str]] = {"live": [], "test": []}
    for tenant in (test, live):
        r = await client.put("/config/telephony/twilio", json=CREDS["twilio"], headers=tenant.headers)
        assert r.status_code == 200, r.text
    # Queued oldest first: two sandbox calls, then two live ones (the starts were under the limit; the
    # calls are then queued beyond it so that only the dialer's count decides).
    async with ctx.db.transaction() as s:
        (await s.get(Partner, issued.partner_id)).concurrency_limit = 10
        (await s.get(Partner, issued.partner_id)).sandbox_concurrency_limit = 10
    for mode, tenant in (("test", test), ("test", test), ("live", live), ("live", live)):
        body = {"agent_id": agent["id"], "provider": "twilio", "to_number": "+919700000001", "variables": {}}
        r = await client.post("/calls/start", json=body, headers=tenant.headers)
        assert r.status_code == 200, r.text
        started[mode].append(r.json()["data"]["call_id"])
        await asyncio.sleep(0.002)  # distinct creation times: the queue's order is the order above
    async with ctx.db.transaction() as s:
        partner = await s.get(Partner, issued.partner_id)
        partner.concurrency_limit, partner.sandbox_concurrency_limit = 1, 1
        mine = select(TelephonyConnection).where(TelephonyConnection.partner_id == issued.partner_id)
        for conn in (await s.execute(mine)).scalars():
            conn.calls_per_second = 1000.0

    dialer = Dialer(ctx)
    first, second, third = await dialer.claim(), await dialer.claim(), await dialer.claim()
    assert first is not None and first.call.id == started["test"][0]
    assert second is not None and second.call.id == started["live"][0], "a full sandbox must not block live calls"
    assert third is None, "one line each"
    async with ctx.db.transaction() as s:  # the live call ends: the next live one goes, the sandbox stays full
        (await dq.job_for_call(s, second.call.id)).status = dq.DONE
    fourth = await dialer.claim()
    assert fourth is not None and fourth.call.id == started["live"][1]
    assert await dialer.claim() is None
