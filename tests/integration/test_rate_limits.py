"""Rate limits (spec §8): per key, general and /calls/* buckets, partner overrides, 429 RATE_LIMITED."""

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import start_body
from tests.helpers import assert_error
from voxline.accounts import partners
from voxline.app import create_app
from voxline.context import Context

pytestmark = pytest.mark.usefixtures("rate_window")


async def test_general_bucket_limits_then_answers_429_with_retry_after(client, make_partner):
    t = await make_partner(rate_limit_per_min=5)
    for i in range(5):
        r = await client.get("/config", headers=t.headers)
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == str(4 - i)
    r = await client.get("/config", headers=t.headers)
    assert_error(r, 429, "RATE_LIMITED")
    assert 1 <= int(r.headers["retry-after"]) <= 60


async def test_calls_bucket_is_separate_from_the_general_one(client, make_partner):
    t = await make_partner(rate_limit_per_min=100, calls_rate_limit_per_min=3)
    for _ in range(3):
        assert (await client.get("/calls", headers=t.headers)).status_code == 200
    assert_error(await client.get("/calls/concurrency", headers=t.headers), 429, "RATE_LIMITED")
    assert (await client.get("/config", headers=t.headers)).status_code == 200


async def test_limits_are_per_key(client, ctx, make_partner):
    t = await make_partner(rate_limit_per_min=2)
    other_key = (await partners.create_key(ctx, t.partner_id)).api_key
    for _ in range(2):
        await client.get("/config", headers=t.headers)
    assert_error(await client.get("/config", headers=t.headers), 429, "RATE_LIMITED")
    assert (await client.get("/config", headers={"Authorization": f"Bearer {other_key}"})).status_code == 200


async def test_a_wrong_key_with_a_real_prefix_spends_none_of_that_keys_budget(client, make_partner):
    """The clear prefix of a key is shown in listings; knowing it must not let anyone exhaust the key's limit."""
    t = await make_partner(rate_limit_per_min=2)
    last = t.api_key[-1]
    forged = t.api_key[:-1] + ("a" if last != "a" else "b")  # same prefix and length, another secret
    for _ in range(5):
        assert_error(await client.get("/config", headers={"Authorization": f"Bearer {forged}"}), 401, "UNAUTHORIZED")
    r = await client.get("/config", headers=t.headers)
    assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "1"


async def test_rate_limited_start_creates_no_call(client, ctx, ready, make_partner):
    await partners.update_partner(ctx, ready.tenant.partner_id, partners.Limits(calls_rate_limit_per_min=1))
    assert (await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers)).status_code == 200
    assert_error(
        await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers), 429, "RATE_LIMITED"
    )
    async with ctx.db.transaction() as s:
        n = (
            await s.execute(text("SELECT count(*) FROM calls WHERE partner_id = :p"), {"p": ready.tenant.partner_id})
        ).scalar_one()
    assert n == 1


async def test_two_app_instances_on_one_database_share_the_limit(database, make_partner):
    """Two independent server stacks (as two processes would be) count into the same window."""
    t = await make_partner(rate_limit_per_min=6)
    stacks = [Context.build(database.settings()) for _ in range(2)]
    clients = []
    try:
        for stack in stacks:
            app = create_app(ctx=stack)
            clients.append(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver/api/v2")
            )
        codes = [(await clients[i % 2].get("/config", headers=t.headers)).status_code for i in range(10)]
        assert codes.count(200) == 6 and codes.count(429) == 4
    finally:
        for c in clients:
            await c.aclose()
        for stack in stacks:
            await stack.close()


async def test_a_start_checks_the_key_before_the_body_and_counts_invalid_bodies(client, ready, make_partner):
    """On PostgreSQL the key lookup of /calls/start also reads what the body asks for; the order of the
    answers stays that of every route: the key (401), then the rate (429), then the body (400)."""
    bad_body = {"agent_id": "not-a-uuid", "to_number": "12"}
    assert_error(await client.post("/calls/start", json=bad_body), 401, "UNAUTHORIZED")
    forged = {
        "Authorization": "Bearer " + ready.tenant.api_key[:-1] + ("a" if ready.tenant.api_key[-1] != "a" else "b")
    }
    assert_error(await client.post("/calls/start", json=start_body(ready), headers=forged), 401, "UNAUTHORIZED")
    t = await make_partner(calls_rate_limit_per_min=2)
    assert (await client.post("/calls/start", json=bad_body, headers=t.headers)).status_code == 400
    assert (await client.post("/calls/start", json=bad_body, headers=t.headers)).status_code == 400
    assert_error(await client.post("/calls/start", json=bad_body, headers=t.headers), 429, "RATE_LIMITED")


async def test_a_start_whose_body_reads_otherwise_once_validated_still_starts(client, ready):
    """The facts read with the key are used only for the very request validated: an agent id in capitals
    (validated to lower case) is read again, with the same outcome."""
    body = start_body(ready, agent_id=ready.agent["id"].upper())
    r = await client.post("/calls/start", json=body, headers=ready.tenant.headers)
    assert r.status_code == 200, r.text
    assert r.headers["x-ratelimit-limit"]
    r = await client.post("/calls/start", json=start_body(ready, agent_id=None), headers=ready.tenant.headers)
    assert r.status_code == 400
