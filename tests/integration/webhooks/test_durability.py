"""No webhook is lost: not when the server is killed mid-delivery, not across several server processes.

These run real `voxline serve` processes against the test database and a real receiver on loopback.
"""

from __future__ import annotations

import asyncio
import json

import httpx
from sqlalchemy import func, select

from tests.integration.webhooks.conftest import (
    Sandbox,
    Server,
    add_endpoint,
    only_on,
    sample_outcome,
    server_env,
    start_call,
    wait_for,
)
from voxline.calls.finish import finish_session
from voxline.store.models import SessionEvent
from voxline.store.webhook_tables import WebhookDelivery

PROCESS_SETTINGS = dict(
    webhook_retry_jitter="0",
    webhook_poll_interval_secs="0.05",
    webhook_lease_secs="2",
    dialer_enabled="false",
)


async def _statuses(ctx, endpoint_id: str) -> dict[str, int]:
    async with ctx.db.transaction() as s:
        rows = await s.execute(
            select(WebhookDelivery.status, func.count())
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .group_by(WebhookDelivery.status)
        )
        return dict(rows.all())


@only_on("sqlite")
async def test_killing_the_server_with_deliveries_pending_loses_none(
    client, ctx, database, sandbox, receiver, worker_paused
):
    answered: set[str] = set()
    state = {"up": False}

    async def respond(got):
        if not state["up"]:
            await asyncio.sleep(60)  # in flight until the server dies under it
        answered.add(got.event_id)
        return 200

    receiver.script("/hook", respond)
    env = server_env(
        database, webhook_timeout_secs="30", webhook_retry_schedule=",".join(["0.2"] * 20), **PROCESS_SETTINGS
    )
    server = await Server(env).start()
    try:
        endpoint = await add_endpoint(client, sandbox.tenant, receiver.url("/hook"))
        events = set()
        for _ in range(40):
            started = await start_call(client, sandbox)
            events.add((await finish_session(ctx, started["session_id"], sample_outcome())).id)
        await wait_for(lambda: len(receiver.at("/hook")) >= 16, within=20)  # its per-endpoint share is in flight
        in_flight = {r.event_id for r in receiver.at("/hook")}
        server.kill()
        assert await _statuses(ctx, endpoint["id"]) == {"pending": 40}

        state["up"] = True
        server = await Server(env).start()
        await wait_for(lambda: answered == events, within=30)
        await wait_for(lambda: _all_delivered(ctx, endpoint["id"], 40))
        assert in_flight <= answered  # the posts cut off by the kill were sent again, same X-Webhook-Id
    finally:
        server.kill()


async def _all_delivered(ctx, endpoint_id: str, n: int) -> bool:
    return await _statuses(ctx, endpoint_id) == {"delivered": n}


@only_on("postgres")
async def test_1000_sessions_across_two_processes_reach_each_endpoint_exactly_once_per_event(
    client, ctx, database, make_partner, receiver, worker_paused
):
    from tests.conftest import configure_twilio, create_agent
    from voxline.core import keys

    tenant = await make_partner(
        mode=keys.TEST, concurrency=5000, rate_limit_per_min=1_000_000, calls_rate_limit_per_min=1_000_000
    )
    box = Sandbox(tenant, await create_agent(client, tenant))
    await configure_twilio(client, tenant)
    a = await add_endpoint(client, tenant, receiver.url("/a"))
    b = await add_endpoint(client, tenant, receiver.url("/b"))

    env = server_env(database, webhook_retry_schedule="0.2,0.5,1,2", **PROCESS_SETTINGS)
    servers = await asyncio.gather(Server(env).start(), Server(env).start())
    try:
        sessions = await _start_calls_through(servers, box, 1000)
        gate = asyncio.Semaphore(32)

        async def finish(session_id: str) -> None:
            async with gate:
                await finish_session(ctx, session_id, sample_outcome())

        await asyncio.gather(*(finish(sid) for sid in sessions))
        async with ctx.db.transaction() as s:
            events = set(
                (await s.execute(select(SessionEvent.id).where(SessionEvent.partner_id == tenant.partner_id))).scalars()
            )
        assert len(events) == 1000

        def distinct(path: str) -> set[str]:
            return {r.event_id for r in receiver.at(path)}

        await wait_for(lambda: distinct("/a") == events and distinct("/b") == events, within=60)
        for path in ("/a", "/b"):
            got = receiver.at(path)
            bodies = {r.event_id: json.loads(r.body)["data"]["session_id"] for r in got}
            assert set(bodies.values()) == set(sessions)  # one event per session, each under its own id
            assert len(got) >= 1000  # more only for retries, which repeat an id already counted
        await wait_for(lambda: _all_delivered(ctx, a["id"], 1000))
        await wait_for(lambda: _all_delivered(ctx, b["id"], 1000))
        async with ctx.db.transaction() as s:
            mine = select(WebhookDelivery.delivered_by).where(WebhookDelivery.partner_id == tenant.partner_id)
            workers = set((await s.execute(mine)).scalars())
        pids = {int(w.split(":")[1]) for w in workers}
        assert pids == {servers[0].pid, servers[1].pid}  # both processes took a share
    finally:
        for server in servers:
            await server.stop()


async def _start_calls_through(servers: list[Server], box: Sandbox, n: int) -> list[str]:
    """POST /calls/start n times over real HTTP, spread over the server processes."""
    from tests.conftest import start_body

    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(headers=box.tenant.headers, timeout=30) as http:

        async def one(i: int) -> str:
            async with gate:
                base = servers[i % len(servers)].base
                r = await http.post(f"{base}/api/v2/calls/start", json=start_body(box))
                assert r.status_code == 200, r.text
                return r.json()["data"]["session_id"]

        return list(await asyncio.gather(*(one(i) for i in range(n))))
