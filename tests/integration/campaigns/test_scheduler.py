"""The campaign scheduler, tick by tick on a moved clock, with call outcomes applied as the carrier's callbacks
would: retries by outcome and delay up to the maximum, windows in each callee's local time, the campaign's and
the partner's concurrency shared fairly, recovery of a stranded attempt without a second call, completion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import configure_twilio, create_agent
from voxline.calls import lifecycle
from voxline.calls.finish import SessionOutcome, finish_session
from voxline.campaigns.scheduler import Scheduler, TickStats
from voxline.core.call_status import CallStatus
from voxline.store.campaign_tables import CampaignAttempt, CampaignContact
from voxline.store.models import Call, SessionEvent

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # 11:30 in India


@pytest.fixture
def clock(ctx):
    original = ctx.clock
    state = {"now": T0}
    ctx.clock = lambda: state["now"]

    def move(**delta: float) -> datetime:
        state["now"] = state["now"] + timedelta(**delta)
        return state["now"]

    move.at = lambda moment: state.update(now=moment)  # type: ignore[attr-defined]
    yield move
    ctx.clock = original


async def _setup(client, make_partner, *, concurrency: int = 5, **campaign):
    tenant = await make_partner(concurrency=concurrency)
    agent = await create_agent(client, tenant, prompt="Hi {{callee_name}}, your plan is {{plan}}.")
    await configure_twilio(client, tenant)
    body = {"name": "c", "agent_id": agent["id"], "provider": "twilio", **campaign}
    r = await client.post("/campaigns", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return tenant, agent, r.json()["data"]["campaign_id"]


async def _add(client, tenant, cid, phones, **extra):
    contacts = [{"phone": p, **extra} for p in phones]
    r = await client.post(f"/campaigns/{cid}/contacts", json={"contacts": contacts}, headers=tenant.headers)
    assert r.status_code == 200, r.text


async def _contacts(client, tenant, cid) -> dict[str, dict]:
    r = await client.get(f"/campaigns/{cid}/contacts?limit=1000", headers=tenant.headers)
    return {c["phone"]: c for c in r.json()["data"]["contacts"]}


async def _end(ctx, call_id: str, status: CallStatus) -> None:
    """As the carrier would report it; an answered call's conversation files its session."""
    if status is CallStatus.COMPLETED:
        await lifecycle.apply(ctx, call_id, lifecycle.Transition(CallStatus.IN_PROGRESS))
        await lifecycle.apply(ctx, call_id, lifecycle.Transition(CallStatus.COMPLETED))
        async with ctx.db.transaction() as s:
            session_id = (await s.get(Call, call_id)).session_id
        await finish_session(ctx, session_id, SessionOutcome(status="completed", duration_seconds=3))
    else:
        await lifecycle.apply(ctx, call_id, lifecycle.Transition(status))


async def test_busy_and_no_answer_are_retried_after_the_delay_until_the_maximum(client, ctx, make_partner, clock):
    tenant, _, cid = await _setup(
        client,
        make_partner,
        concurrency_limit=3,
        retry_policy={"retry_on": ["busy", "no_answer"], "delays_secs": [60, 120], "max_attempts": 3},
    )
    a, b, c = "+919811100001", "+919811100002", "+919811100003"
    await _add(client, tenant, cid, [a, b, c], metadata={"callee_name": "Asha", "plan": "gold"})
    await client.post(f"/campaigns/{cid}/start", headers=tenant.headers)
    sched = Scheduler(ctx)
    assert (await sched.tick()).started == 3
    rows = await _contacts(client, tenant, cid)
    calls = {p: rows[p]["calls"][0]["call_id"] for p in (a, b, c)}
    call = (await client.get(f"/calls/{calls[a]}", headers=tenant.headers)).json()["data"]
    assert call["session"]["variables"] == {"callee_name": "Asha", "plan": "gold"}  # metadata → variables by name
    await _end(ctx, calls[a], CallStatus.BUSY)
    await _end(ctx, calls[b], CallStatus.COMPLETED)
    await _end(ctx, calls[c], CallStatus.FAILED)  # not in retry_on: gives up at once
    stats = await sched.tick()
    assert stats.settled == 3 and stats.started == 0  # a's retry waits 60 s
    rows = await _contacts(client, tenant, cid)
    assert rows[a]["status"] == "waiting" and rows[a]["next_attempt_at"] == "2026-12-01T06:01:00.000Z"
    assert rows[b]["status"] == "completed" and rows[b]["outcome"] == "completed"
    assert rows[c]["status"] == "failed" and rows[c]["outcome"] == "failed"
    clock(seconds=61)
    assert (await sched.tick()).started == 1
    second = (await _contacts(client, tenant, cid))[a]["calls"][1]["call_id"]
    await _end(ctx, second, CallStatus.NO_ANSWER)
    await sched.tick()
    clock(seconds=119)
    assert (await sched.tick()).started == 0, "the second delay is 120 s"
    clock(seconds=2)
    assert (await sched.tick()).started == 1
    third = (await _contacts(client, tenant, cid))[a]["calls"][2]["call_id"]
    await _end(ctx, third, CallStatus.BUSY)
    stats = await sched.tick()
    assert cid in stats.completed_campaigns
    row = (await _contacts(client, tenant, cid))[a]
    assert (
        row["status"] == "failed"
        and row["attempts"] == 3
        and [x["outcome"] for x in row["calls"]] == ["busy", "no_answer", "busy"]
    )
    got = (await client.get(f"/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert (got["status"], got["completed_count"], got["failed_count"]) == ("completed", 1, 2)
    async with ctx.db.transaction() as s:
        mine = SessionEvent.partner_id == tenant.partner_id, SessionEvent.event_type == "campaign.completed"
        events = list((await s.execute(select(SessionEvent).where(*mine))).scalars())
    assert len(events) == 1 and events[0].payload["data"]["campaign_id"] == cid
    assert events[0].payload["data"]["failed_count"] == 2


async def test_windows_are_in_each_callees_local_time(client, ctx, make_partner, clock):
    clock.at(datetime(2026, 12, 1, 5, 0, tzinfo=UTC))  # 10:30 in India; 21:00 (the evening before) in California
    tenant, _, cid = await _setup(
        client, make_partner, concurrency_limit=5, schedule={"windows": [{"start": "10:00", "end": "18:00"}]}
    )
    india, california = "+919811200001", "+14155550188"
    await _add(client, tenant, cid, [india, california])
    await client.post(f"/campaigns/{cid}/start", headers=tenant.headers)
    stats = await Scheduler(ctx).tick()
    assert stats.started == 1 and stats.deferred == 1
    rows = await _contacts(client, tenant, cid)
    assert rows[india]["status"] == "calling"
    assert rows[california]["status"] == "waiting"
    assert rows[california]["next_attempt_at"] == "2026-12-01T18:00:00.000Z"  # 10:00 in California
    clock.at(datetime(2026, 12, 1, 17, 59, tzinfo=UTC))
    assert (await Scheduler(ctx).tick()).started == 0
    clock.at(datetime(2026, 12, 1, 18, 0, tzinfo=UTC))
    assert (await Scheduler(ctx).tick()).started == 1
    await client.post(f"/campaigns/{cid}/cancel", headers=tenant.headers)


async def test_campaigns_of_one_partner_share_its_lines_and_never_get_429(client, ctx, make_partner, clock):
    tenant, agent, first = await _setup(client, make_partner, concurrency=4, concurrency_limit=10)
    r = await client.post(
        "/campaigns",
        json={"name": "d", "agent_id": agent["id"], "provider": "twilio", "concurrency_limit": 10},
        headers=tenant.headers,
    )
    second = r.json()["data"]["campaign_id"]
    await _add(client, tenant, first, [f"+9198113{i:05d}" for i in range(10)])
    await _add(client, tenant, second, [f"+9198114{i:05d}" for i in range(10)])
    for cid in (first, second):
        await client.post(f"/campaigns/{cid}/start", headers=tenant.headers)
    sched = Scheduler(ctx)
    assert (await sched.tick()).started == 4
    progress = [(await client.get(f"/campaigns/{c}", headers=tenant.headers)).json()["data"] for c in (first, second)]
    assert [p["in_progress_count"] for p in progress] == [2, 2]  # fair share of the partner's 4 lines
    assert (await sched.tick()).started == 0  # every line busy: contacts wait, nothing fails
    rows = await _contacts(client, tenant, first)
    assert all(r["status"] in ("calling", "waiting") for r in rows.values())
    for cid in (first, second):
        await client.post(f"/campaigns/{cid}/cancel", headers=tenant.headers)


async def test_a_stranded_attempt_is_recovered_with_the_same_call_never_a_second(client, ctx, make_partner, clock):
    tenant, _, cid = await _setup(client, make_partner, concurrency_limit=1)
    await _add(client, tenant, cid, ["+919811500001"])
    await client.post(f"/campaigns/{cid}/start", headers=tenant.headers)
    sched = Scheduler(ctx)
    (claim,) = await sched.claim(TickStats())
    assert await sched.place(claim) is True  # the call was started ...
    async with ctx.db.transaction() as s:  # ... but the process died before recording it
        contact = await s.get(CampaignContact, claim.contact_id)
        contact.current_call_id = None
        contact.claimed_until = T0 - timedelta(seconds=1)
        (
            await s.execute(select(CampaignAttempt).where(CampaignAttempt.contact_id == claim.contact_id))
        ).scalar_one().call_id = None
    await sched.tick()  # recovery repeats the same request: the same call comes back
    async with ctx.db.transaction() as s:
        mine = Call.partner_id == tenant.partner_id
        n = (await s.execute(select(func.count()).select_from(Call).where(mine))).scalar()
    assert n == 1
    row = (await _contacts(client, tenant, cid))["+919811500001"]
    assert row["status"] == "calling" and row["attempts"] == 1 and row["calls"][0]["call_id"]
    assert (await sched.place(claim)) is True  # even placed again by hand: still one call
    async with ctx.db.transaction() as s:
        mine = Call.partner_id == tenant.partner_id
        n = (await s.execute(select(func.count()).select_from(Call).where(mine))).scalar()
    assert n == 1
    await client.post(f"/campaigns/{cid}/cancel", headers=tenant.headers)


async def test_a_number_listed_after_it_was_added_is_skipped_not_called(client, ctx, make_partner, clock):
    tenant, _, cid = await _setup(client, make_partner, concurrency_limit=2)
    await _add(client, tenant, cid, ["+919811600001", "+919811600002"])
    await client.post("/dnc", json={"numbers": ["+919811600001"]}, headers=tenant.headers)
    await client.post(f"/campaigns/{cid}/start", headers=tenant.headers)
    assert (await Scheduler(ctx).tick()).started == 1
    rows = await _contacts(client, tenant, cid)
    assert rows["+919811600001"]["status"] == "skipped" and rows["+919811600001"]["calls"] == []
    await client.post(f"/campaigns/{cid}/cancel", headers=tenant.headers)


async def test_a_paused_campaign_places_no_call_and_resumes(client, ctx, make_partner, clock):
    tenant, _, cid = await _setup(client, make_partner)
    await _add(client, tenant, cid, ["+919811700001"])
    await client.post(f"/campaigns/{cid}/start", headers=tenant.headers)
    await client.post(f"/campaigns/{cid}/pause", headers=tenant.headers)
    assert (await Scheduler(ctx).tick()).started == 0
    await client.post(f"/campaigns/{cid}/resume", headers=tenant.headers)
    assert (await Scheduler(ctx).tick()).started == 1
    await client.post(f"/campaigns/{cid}/cancel", headers=tenant.headers)
