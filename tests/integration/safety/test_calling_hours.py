"""Calling hours in the callee's local time and frequency caps, at /calls/start and at dial time.
The clock is the context's: each test moves it, never the wall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import start_body
from tests.integration.test_auth import assert_error
from voxline.safety import gate
from voxline.store import dial_queue as dq
from voxline.store.models import Call, DialJob

# +91 (India, UTC+5:30) and +1 415 (California, UTC-8 in December)
INDIA, CALIFORNIA = "+919876543210", "+14155550123"


@pytest.fixture
def clock(ctx):
    """Set the context's clock to a UTC moment; restored after the test."""
    original = ctx.clock

    def set_to(*args: int) -> datetime:
        moment = datetime(*args, tzinfo=UTC)
        ctx.clock = lambda: moment
        return moment

    yield set_to
    ctx.clock = original


async def _policy(client, tenant, **body):
    r = await client.put("/config/calling-policy", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_the_default_policy_is_nine_to_nine_every_day(client, ready):
    data = (await client.get("/config/calling-policy", headers=ready.tenant.headers)).json()["data"]
    # The deployment under test opens all hours (see conftest); the shape is what a partner sees.
    assert data["outside_hours"] == "refuse" and data["is_default"] is True
    assert data["max_attempts_per_day"] is None and data["max_attempts_per_week"] is None


async def test_a_call_at_night_in_the_callees_zone_is_refused_with_the_next_moment(client, ready, clock):
    await _policy(client, ready.tenant, calling_windows=[{"start": "09:00", "end": "21:00"}])
    clock(2026, 12, 1, 16, 0)  # 21:30 in India, 08:00 in California
    r = await client.post("/calls/start", json=start_body(ready, to_number=INDIA), headers=ready.tenant.headers)
    body = assert_error(r, 403, "OUTSIDE_CALLING_HOURS")
    assert body["error"]["details"][0]["message"] == "2026-12-02T03:30:00.000Z"  # 09:00 IST next morning
    r = await client.post("/calls/start", json=start_body(ready, to_number=CALIFORNIA), headers=ready.tenant.headers)
    assert_error(r, 403, "OUTSIDE_CALLING_HOURS")
    clock(2026, 12, 1, 17, 0)  # 22:30 India, 09:00 California: the same partner may call California now
    r = await client.post("/calls/start", json=start_body(ready, to_number=CALIFORNIA), headers=ready.tenant.headers)
    assert r.status_code == 200, r.text


async def test_a_partner_that_defers_gets_the_call_queued_for_the_morning(client, ctx, ready, clock):
    await _policy(client, ready.tenant, outside_hours="defer", calling_windows=[{"start": "09:00", "end": "21:00"}])
    clock(2026, 12, 1, 18, 0)  # 23:30 in India
    r = await client.post("/calls/start", json=start_body(ready, to_number=INDIA), headers=ready.tenant.headers)
    assert r.status_code == 200, r.text
    async with ctx.db.transaction() as s:
        job = (await s.execute(select(DialJob).where(DialJob.call_id == r.json()["data"]["call_id"]))).scalar_one()
    assert job.available_at == datetime(2026, 12, 2, 3, 30, tzinfo=UTC)


async def test_days_of_week_are_the_callees(client, ready, clock):
    await _policy(
        client,
        ready.tenant,
        calling_windows=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "10:00", "end": "18:00"}],
    )
    clock(2026, 12, 4, 19, 0)  # Friday 19:00 UTC = Saturday 00:30 in India
    r = await client.post("/calls/start", json=start_body(ready, to_number=INDIA), headers=ready.tenant.headers)
    body = assert_error(r, 403, "OUTSIDE_CALLING_HOURS")
    assert body["error"]["details"][0]["message"] == "2026-12-07T04:30:00.000Z"  # Monday 10:00 IST


async def test_a_call_whose_hours_closed_while_it_waited_goes_back_to_the_queue(client, ctx, ready, clock):
    await _policy(client, ready.tenant, calling_windows=[{"start": "09:00", "end": "21:00"}])
    clock(2026, 12, 1, 10, 0)  # 15:30 India
    r = await client.post("/calls/start", json=start_body(ready, to_number=INDIA), headers=ready.tenant.headers)
    call_id = r.json()["data"]["call_id"]
    clock(2026, 12, 1, 16, 0)  # 21:30 India: the dialer reaches it too late
    async with ctx.db.transaction() as s:
        job = (await s.execute(select(DialJob).where(DialJob.call_id == call_id))).scalar_one()
        job.status = dq.DIALING
        call = await s.get(Call, call_id)
    verdict = await gate.admit_dial(ctx, dq.Claimed(job, call, None, None, None))  # type: ignore[arg-type]
    assert verdict is gate.DialVerdict.LATER
    async with ctx.db.transaction() as s:
        job = (await s.execute(select(DialJob).where(DialJob.call_id == call_id))).scalar_one()
        assert job.status == dq.QUEUED and job.available_at == datetime(2026, 12, 2, 3, 30, tzinfo=UTC)
        assert (await s.get(Call, call_id)).status == "pending"


async def test_frequency_cap_per_day_and_week(client, ctx, ready, clock):
    await _policy(client, ready.tenant, max_attempts_per_day=2, max_attempts_per_week=3)
    h = ready.tenant.headers
    for _ in range(2):
        assert (await client.post("/calls/start", json=start_body(ready), headers=h)).status_code == 200
    assert_error(await client.post("/calls/start", json=start_body(ready), headers=h), 403, "FREQUENCY_CAP_REACHED")
    async with ctx.db.transaction() as s:  # the two calls were yesterday: the day's cap is free, the week's is not
        for call in (await s.execute(select(Call).where(Call.partner_id == ready.tenant.partner_id))).scalars():
            call.created_at -= timedelta(days=1, seconds=1)
    assert (await client.post("/calls/start", json=start_body(ready), headers=h)).status_code == 200
    assert_error(await client.post("/calls/start", json=start_body(ready), headers=h), 403, "FREQUENCY_CAP_REACHED")
    other = start_body(ready, to_number="+919876500099")
    assert (await client.post("/calls/start", json=other, headers=h)).status_code == 200  # per number


async def test_bad_policies_are_refused(client, ready):
    h = ready.tenant.headers
    r = await client.put(
        "/config/calling-policy", json={"calling_windows": [{"start": "21:00", "end": "09:00"}]}, headers=h
    )
    assert_error(r, 400, "INVALID_CALLING_POLICY")
    r = await client.put("/config/calling-policy", json={"fallback_timezone": "Mars/Olympus"}, headers=h)
    assert_error(r, 400, "INVALID_CALLING_POLICY")
    r = await client.put("/config/calling-policy", json={"outside_hours": "later"}, headers=h)
    assert r.status_code == 400


async def test_an_empty_change_is_refused_and_the_policy_kept(client, ready):
    h = ready.tenant.headers
    await _policy(client, ready.tenant, max_attempts_per_day=2)
    assert_error(await client.put("/config/calling-policy", json={}, headers=h), 400, "EMPTY_UPDATE")
    assert (await client.get("/config/calling-policy", headers=h)).json()["data"]["max_attempts_per_day"] == 2
