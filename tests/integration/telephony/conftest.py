"""A real Voxline server on a loopback port, with its dialer and carrier emulators, for end-to-end calls.

Every carrier base URL (live and sandbox) points at this server's own emulators, so no test can reach
a real carrier. The server shares the session's database (SQLite file or PostgreSQL schema).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
import uvicorn

from tests.conftest import PG_URL, Database, Tenant, _drop_schema, create_agent
from voxline.app import create_app
from voxline.context import Context
from voxline.core import keys
from voxline.sandbox.mount import Sandbox
from voxline.store.migrate import upgrade
from voxline.telephony import registry

CREDS: dict[str, dict[str, Any]] = {
    "twilio": {
        "account_sid": "AC" + "0123456789abcdef" * 2,
        "auth_token": "fedcba9876543210" * 2,
        "from_number": "+14155551234",
    },
    "plivo": {"auth_id": "MAXXXXXXXXXXXXXXXXX1", "auth_token": "p" * 40, "from_number": "+912231234567"},
    "vobiz": {"auth_id": "MA_TEST1234", "auth_token": "vobiz-token-1234", "from_number": "+912231234568"},
    "exotel": {
        "account_sid": "voxlinetest1",
        "api_key": "exo-key-123",
        "api_token": "exo-token-456",
        "subdomain": "api.in.exotel.com",
        "caller_id": "+918047112233",
        "applet_id": "424242",
    },
    "mcube": {
        # header {"alg":"HS256","typ":"JWT"} . payload {"sub":"voxline-test"} . signature
        "jwt_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ2b3hsaW5lLXRlc3QifQ.c2lnbmF0dXJl",
        "exe_number": "08047112244",
    },
}
CALLEE = "+919876543210"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    ctx: Context
    app: Any
    api: httpx.AsyncClient

    @property
    def sandbox(self) -> Sandbox:
        return self.app.state.sandbox


def emulated_api_bases(base: str) -> dict[str, str]:
    """Every carrier's REST root setting pointed at this server's emulator of it: never a real carrier."""
    return {f"{provider}_api_base": f"{base}/sandbox/{provider}" for provider in registry.emulators()}


def server_settings(database, port: int, **overrides):  # noqa: ANN001, ANN201
    base = f"http://127.0.0.1:{port}"
    values = dict(
        public_base_url=base,
        dialer_enabled=True,
        call_runtime="responder",
        # These servers test the carrier edge with the test-tone runtime, so unscripted callees answer with the
        # tone too; the talking callee has its own tests (test_sandbox_callee.py).
        sandbox_callee="tone",
        dialer_poll_secs=0.05,
        dialer_retry_base_secs=0.05,
        ring_timeout_secs=20.0,
        session_finish_grace_secs=0.5,
        carrier_hangup_grace_secs=1.0,
        dialer_cps=50.0,
        **emulated_api_bases(base),
    )
    values.update(overrides)
    return database.settings(**values)


async def serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="websockets")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 15
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        await asyncio.sleep(0.02)
    return server, task


@pytest_asyncio.fixture(scope="module")
async def live(database) -> AsyncIterator[LiveServer]:  # noqa: ANN001
    port = free_port()
    ctx = Context.build(server_settings(database, port))
    app = create_app(ctx=ctx)
    # Sandbox calls reach the emulators with each partner's sandbox account; live calls (which these tests
    # also point at the emulators) present the partner's configured credentials: register those here.
    for provider, (account, secret) in {
        "twilio": ("account_sid", "auth_token"),
        "plivo": ("auth_id", "auth_token"),
        "vobiz": ("auth_id", "auth_token"),
    }.items():
        app.state.sandbox[provider].register(CREDS[provider][account], CREDS[provider][secret])
    server, task = await serve(app, port)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v2", timeout=30) as api:
        yield LiveServer(f"http://127.0.0.1:{port}", ctx, app, api)
    server.should_exit = True
    await task
    await app.state.sandbox.aclose()
    await ctx.close()


@dataclass
class Caller:
    """A sandbox partner (rg_test_ key) with an agent and one carrier configured."""

    tenant: Tenant
    agent: dict
    provider: str


def sandbox_creds(settings: Any, partner_id: str, provider: str) -> dict[str, Any]:
    """The credentials this partner's sandbox calls present to the emulator (derived from the deployment key)."""
    from voxline.dialer.urls import sandbox_credentials

    stored = registry.credentials_model(provider).model_validate(CREDS[provider])
    return sandbox_credentials(settings, provider, partner_id, stored).model_dump()


async def make_caller(
    live: LiveServer, provider: str, *, concurrency: int = 20, mode: str = keys.TEST, **agent_fields
) -> Caller:
    from voxline.accounts import partners

    issued = await partners.create_partner(
        live.ctx,
        f"tel-{uuid.uuid4().hex[:10]}",
        partners.Limits(concurrency=concurrency, sandbox_concurrency=concurrency),
    )
    if mode == keys.TEST:
        issued = await partners.create_key(live.ctx, issued.partner_id, keys.TEST)
    tenant = Tenant(issued.partner_id, issued.api_key, "sandbox")
    agent = await create_agent(live.api, tenant, **agent_fields)
    r = await live.api.put(f"/config/telephony/{provider}", json=CREDS[provider], headers=tenant.headers)
    assert r.status_code == 200, r.text
    return Caller(tenant, agent, provider)


async def sandbox_twilio_partner(ctx: Context, client: httpx.AsyncClient, concurrency: int) -> tuple[Tenant, dict]:
    """A partner with an rg_test_ key, an agent and the test Twilio credentials, for tests that run their
    own server processes (rather than the `live` server that `make_caller` talks to)."""
    from voxline.accounts import partners

    limits = partners.Limits(concurrency=concurrency, sandbox_concurrency=concurrency)
    issued = await partners.create_partner(ctx, f"sbx-{uuid.uuid4().hex[:10]}", limits)
    issued = await partners.create_key(ctx, issued.partner_id, keys.TEST)
    tenant = Tenant(issued.partner_id, issued.api_key, "sandbox")
    agent = await create_agent(client, tenant)
    r = await client.put("/config/telephony/twilio", json=CREDS["twilio"], headers=tenant.headers)
    assert r.status_code == 200, r.text
    return tenant, agent


async def start(live: LiveServer, caller: Caller, to: str = CALLEE) -> dict:
    body = {
        "agent_id": caller.agent["id"],
        "to_number": to,
        "provider": caller.provider,
        "variables": {"callee_name": "Asha"},
    }
    r = await live.api.post("/calls/start", json=body, headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def get_call(live: LiveServer, caller: Caller, call_id: str) -> dict:
    r = await live.api.get(f"/calls/{call_id}", headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def wait_status(
    live: LiveServer, caller: Caller, call_id: str, statuses: tuple[str, ...], wait: float = 15.0
) -> dict:
    deadline = time.monotonic() + wait
    while True:
        call = await get_call(live, caller, call_id)
        if call["status"] in statuses:
            return call
        if time.monotonic() > deadline:
            raise AssertionError(f"call stayed {call['status']}, wanted {statuses}: {call}")
        await asyncio.sleep(0.05)


async def wait_session_done(live: LiveServer, caller: Caller, call_id: str, wait: float = 10.0) -> dict:
    deadline = time.monotonic() + wait
    while True:
        call = await get_call(live, caller, call_id)
        if call["session"]["processing_complete"]:
            return call
        if time.monotonic() > deadline:
            raise AssertionError(f"session of {call_id} was never filed: {call['session']}")
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture
async def fresh_database(database, tmp_path) -> AsyncIterator[Database]:  # noqa: ANN001
    """An empty database of the session's backend, for tests that must see only their own dial queue."""
    if database.backend == "sqlite":
        db = Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", None, tmp_path)
    else:
        db = Database("postgres", PG_URL, f"vxdial_{uuid.uuid4().hex[:12]}", tmp_path)
    await asyncio.to_thread(upgrade, db.url, db.schema)
    yield db
    if db.schema:
        await _drop_schema(db.schema)


@pytest_asyncio.fixture
async def fresh(fresh_database) -> AsyncIterator[tuple[Context, httpx.AsyncClient]]:  # noqa: ANN001
    """A context and an API client (in-process, no dialer) on the fresh database."""
    ctx = Context.build(fresh_database.settings())
    app = create_app(ctx=ctx)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver/api/v2") as client:
            yield ctx, client
    await ctx.close()
