"""Campaigns on real `voxline serve` processes: two processes share one campaign (each contact called once,
the partner's limit held across them), and a server killed in the middle of a campaign is replaced by another
that finishes it with nothing lost and nothing doubled."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from sqlalchemy import select

from tests.integration.telephony.conftest import sandbox_twilio_partner
from tests.integration.telephony.servers import start_server, wait_ready
from tests.integration.telephony.test_multiprocess import max_overlap
from voxline.store.campaign_tables import Campaign, CampaignAttempt, CampaignContact
from voxline.store.models import Call, Partner

pytestmark = pytest.mark.slow
LIMIT = 4


async def _campaign(ctx, client, phones: list[str], concurrency: int, **extra) -> tuple[object, str]:  # noqa: ANN001
    tenant, agent = await sandbox_twilio_partner(ctx, client, concurrency=LIMIT)
    body = {"name": "p", "agent_id": agent["id"], "provider": "twilio", "concurrency_limit": concurrency, **extra}
    cid = (await client.post("/campaigns", json=body, headers=tenant.headers)).json()["data"]["campaign_id"]
    r = await client.post(
        f"/campaigns/{cid}/contacts", json={"contacts": [{"phone": p} for p in phones]}, headers=tenant.headers
    )
    assert r.json()["data"]["added"] == len(phones)
    async with ctx.db.transaction() as s:
        (await s.get(Partner, tenant.partner_id)).sandbox_concurrency_limit = LIMIT
    assert (await client.post(f"/campaigns/{cid}/start", headers=tenant.headers)).status_code == 200
    return tenant, cid


async def _wait(ctx, cid: str, wait: float = 150.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + wait
    while True:
        async with ctx.db.transaction() as s:
            c = await s.get(Campaign, cid, populate_existing=True)
            statuses = Counter(
                (await s.execute(select(CampaignContact.status).where(CampaignContact.campaign_id == cid))).scalars()
            )
        if c.status == "completed":
            return
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.5)


async def _rows(ctx, tenant, cid):  # noqa: ANN001
    async with ctx.db.transaction() as s:
        contacts = list((await s.execute(select(CampaignContact).where(CampaignContact.campaign_id == cid))).scalars())
        attempts = list(
            (
                await s.execute(select(CampaignAttempt).where(CampaignAttempt.contact_id.in_([c.id for c in contacts])))
            ).scalars()
        )
        calls = list((await s.execute(select(Call).where(Call.partner_id == tenant.partner_id))).scalars())
    return contacts, attempts, calls


async def test_two_processes_share_a_campaign_and_call_each_contact_once(fresh, fresh_database, tmp_path):  # noqa: ANN001
    ctx, client = fresh
    n = 40 if fresh_database.backend == "postgres" else 20
    phones = [f"+9198{i:04d}0300" for i in range(n)]  # short answered calls
    tenant, cid = await _campaign(ctx, client, phones, concurrency=10)
    servers = [start_server(fresh_database, tmp_path, wait=False) for _ in range(2)]
    try:
        for server in servers:
            wait_ready(server)
        await _wait(ctx, cid)
        logs = [server.sandbox_log("twilio") for server in servers]
    finally:
        for server in servers:
            server.stop()
    contacts, attempts, calls = await _rows(ctx, tenant, cid)
    assert Counter(c.status for c in contacts) == {"completed": n}, [(c.outcome, c.last_error) for c in contacts][:3]
    assert {c.attempts for c in contacts} == {1} and len(attempts) == n and all(a.call_id for a in attempts)
    assert sorted(c.to_number for c in calls) == sorted(phones)  # one call per contact, none twice
    creates = [r for log in logs for r in log["received"] if r["path"].endswith("/Calls.json")]
    assert len(creates) == n and all(any(r["path"].endswith("/Calls.json") for r in log["received"]) for log in logs)
    peak = max_overlap([(c.dialed_at.timestamp(), c.ended_at.timestamp()) for c in calls])
    assert peak <= LIMIT, f"{peak} calls at once, the partner's limit is {LIMIT}"


async def test_a_server_killed_mid_campaign_is_replaced_and_nothing_is_lost_or_doubled(
    fresh,
    fresh_database,
    tmp_path,  # noqa: ANN001
):
    ctx, client = fresh
    phones = [f"+9197{i:04d}0300" for i in range(16)] + [f"+9197{i:04d}0486" for i in range(4)]  # answered, busy
    tenant, cid = await _campaign(
        ctx,
        client,
        phones,
        concurrency=3,
        retry_policy={"retry_on": ["busy", "failed"], "delays_secs": [1], "max_attempts": 2},
    )
    first = start_server(fresh_database, tmp_path, dialer_lease_secs="2")
    try:
        deadline = time.monotonic() + 60
        while True:  # kill it once some contacts are done and others are on the line
            contacts, _, _ = await _rows(ctx, tenant, cid)
            done = sum(1 for c in contacts if c.status in ("completed", "failed"))
            if done >= 4:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        first.kill()
    second = start_server(fresh_database, tmp_path, dialer_lease_secs="2")
    try:
        await _wait(ctx, cid)
    finally:
        second.stop()
    contacts, attempts, calls = await _rows(ctx, tenant, cid)
    assert all(c.status in ("completed", "failed") for c in contacts), Counter(c.status for c in contacts)
    by_number = Counter(c.to_number for c in calls)
    for c in contacts:
        mine = [a for a in attempts if a.contact_id == c.id]
        # Every attempt made exactly one call, and no call exists that no attempt made.
        assert sorted(a.attempt for a in mine) == list(range(1, c.attempts + 1))  # rows come in no set order
        assert all(a.call_id for a in mine) and by_number[c.phone] == c.attempts, (c.phone, c.attempts, mine)
    assert len({a.call_id for a in attempts}) == len(attempts) == len(calls)
    assert {c.phone for c in contacts if c.status == "completed"} >= {p for p in phones if p.endswith("0300")} - {
        c.phone for c in contacts if c.outcome == "failed"
    }
