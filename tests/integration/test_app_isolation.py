"""Two apps in one process, each on its own database, share nothing but the process: what one app keeps
in memory (callers it verified a moment ago, dialer nudges, ended-call signals, outbox hand-overs and
wake-ups, the calls it holds) never shows in the other. Tests build many apps in one process, and a
deployment may embed more than one."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from tests.conftest import PG_URL, TWILIO_CREDS, Database, Tenant, _drop_schema, configure_twilio, create_agent
from voxline.accounts import partners
from voxline.app import create_app
from voxline.context import Context
from voxline.dialer.urls import token_hash
from voxline.dialer.worker import Dialer
from voxline.store.migrate import upgrade
from voxline.store.models import Call, DialJob


@dataclass
class App:
    app: FastAPI
    ctx: Context
    client: httpx.AsyncClient
    tenant: Tenant
    agent: dict

    async def start_call(self, to: str = "+919876543210") -> dict:
        body = {"agent_id": self.agent["id"], "to_number": to, "provider": "twilio", "variables": {}}
        r = await self.client.post("/calls/start", json=body, headers=self.tenant.headers)
        assert r.status_code == 200, r.text
        return r.json()["data"]


async def _fresh(database: Database, tmp, name: str) -> Database:  # noqa: ANN001
    if database.backend == "sqlite":
        db = Database("sqlite", f"sqlite+aiosqlite:///{tmp / f'{name}.db'}", None, tmp)
    else:
        db = Database("postgres", PG_URL, f"vxiso_{uuid.uuid4().hex[:12]}", tmp)
    await asyncio.to_thread(upgrade, db.url, db.schema)
    return db


@pytest_asyncio.fixture
async def two_apps(database: Database, tmp_path) -> AsyncIterator[tuple[App, App]]:  # noqa: ANN001
    """Two running apps (webhook workers on, no dialer: nothing here reaches a carrier), on two databases,
    each with a live partner whose Twilio account is configured."""
    built: list[App] = []
    dbs: list[Database] = []
    stack = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            db = await _fresh(database, tmp_path / name, name)
            dbs.append(db)
            ctx = Context.build(db.settings())
            app = create_app(ctx=ctx)
            lifespan = app.router.lifespan_context(app)
            await lifespan.__aenter__()
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver/api/v2")
            stack.append((lifespan, client, ctx))
            issued = await partners.create_partner(ctx, f"iso-{name}-{uuid.uuid4().hex[:6]}", partners.Limits())
            tenant = Tenant(issued.partner_id, issued.api_key, name)
            agent = await create_agent(client, tenant)
            await configure_twilio(client, tenant)
            built.append(App(app, ctx, client, tenant, agent))
        yield built[0], built[1]
    finally:
        for lifespan, client, ctx in reversed(stack):
            await client.aclose()
            await lifespan.__aexit__(None, None, None)
            await ctx.close()
        for db in dbs:
            if db.schema:
                await _drop_schema(db.schema)


async def _status_callback(app: App, call_id: str, token: str) -> httpx.Response:
    """Twilio's signed status callback for the call, as Twilio would send it to `app`."""
    path = f"/telephony/twilio/status/{call_id}?token={token}"
    url = app.ctx.settings.public_base_url.rstrip("/") + path
    params = {
        "AccountSid": TWILIO_CREDS["account_sid"],
        "CallSid": "CA" + secrets.token_hex(16),
        "CallStatus": "ringing",
    }
    signature = RequestValidator(TWILIO_CREDS["auth_token"]).compute_signature(url, params)
    transport = httpx.ASGITransport(app=app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.post(path, data=params, headers={"X-Twilio-Signature": signature})


async def _give_token(ctx: Context, call_id: str) -> str:
    """The call's token as the dialer would issue it (the database keeps only its hash)."""
    token = secrets.token_urlsafe(32)
    async with ctx.db.transaction() as s:
        (await s.get(Call, call_id)).callback_token_hash = token_hash(token)
    return token


async def test_a_carrier_caller_verified_by_one_app_is_unknown_to_the_other(two_apps) -> None:  # noqa: ANN001
    a, b = two_apps
    started = await a.start_call()
    token = await _give_token(a.ctx, started["call_id"])
    assert (await _status_callback(a, started["call_id"], token)).status_code == 204
    # Same call id, token and signature, sent to the app whose database has no such call.
    assert (await _status_callback(b, started["call_id"], token)).status_code == 404


async def test_starting_a_call_nudges_only_its_own_apps_dialer(two_apps) -> None:  # noqa: ANN001
    a, b = two_apps
    nudge_a, nudge_b = a.ctx.dial_wake.register(), b.ctx.dial_wake.register()
    try:
        await a.start_call()
        assert nudge_a.is_set()
        assert not nudge_b.is_set()
    finally:
        a.ctx.dial_wake.unregister()
        b.ctx.dial_wake.unregister()


async def test_a_call_ending_signals_only_its_own_apps_media_edge(two_apps) -> None:  # noqa: ANN001
    a, b = two_apps
    started = await a.start_call()
    ended_a, ended_b = a.ctx.ended.event(started["call_id"]), b.ctx.ended.event(started["call_id"])
    try:
        r = await a.client.post(f"/calls/{started['call_id']}/cancel", headers=a.tenant.headers)
        assert r.status_code == 200, r.text
        assert ended_a.is_set()
        assert not ended_b.is_set()
    finally:
        a.ctx.ended.forget(started["call_id"])
        b.ctx.ended.forget(started["call_id"])


async def test_each_apps_outbox_hands_over_to_and_wakes_only_its_own_worker(two_apps) -> None:  # noqa: ANN001
    a, b = two_apps
    assert a.ctx.outbox.taker is not None and b.ctx.outbox.taker is not None, "both delivery workers run"
    assert a.ctx.outbox.taker is not b.ctx.outbox.taker
    flag_a, flag_b = a.ctx.outbox.listen(), b.ctx.outbox.listen()
    try:
        started = await a.start_call()
        # A call canceled before it was dialed has its session filed at once: its outbox wakes its worker.
        r = await a.client.post(f"/calls/{started['call_id']}/cancel", headers=a.tenant.headers)
        assert r.status_code == 200, r.text
        assert flag_a.is_set()
        assert not flag_b.is_set()
    finally:
        a.ctx.outbox.unlisten(flag_a)
        b.ctx.outbox.unlisten(flag_b)


async def test_calls_held_by_one_app_are_not_held_by_the_other(two_apps) -> None:  # noqa: ANN001
    a, b = two_apps
    assert a.ctx.leases.worker_id != b.ctx.leases.worker_id
    started = await a.start_call()
    claimed = await Dialer(a.ctx).claim()  # claims in the app's database name the app's own worker
    assert claimed is not None and claimed.call.id == started["call_id"]
    async with a.ctx.db.transaction() as s:
        job = await s.get(DialJob, claimed.job.id)
        assert job.claimed_by == a.ctx.leases.worker_id
    a.ctx.leases.hold(started["call_id"])
    try:
        assert started["call_id"] in a.ctx.leases
        assert started["call_id"] not in b.ctx.leases
        assert b.ctx.leases.owned() == []
    finally:
        a.ctx.leases.release(started["call_id"])
