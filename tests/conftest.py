"""Shared fixtures: every integration test runs once on an SQLite file and once on PostgreSQL.

PostgreSQL tests use a fresh schema per run in the `test` database, dropped at the end, so runs never
see each other's rows. Each test makes its own partners, and every query is partner-scoped, so tests
need no truncation between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio

from voxline.accounts import partners
from voxline.accounts.access import WINDOW_SECS
from voxline.app import create_app
from voxline.context import Context
from voxline.core import keys
from voxline.settings import Settings
from voxline.store.migrate import upgrade
from voxline.voice.catalog import voices

PG_URL = os.environ.get("VOXLINE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
VOICE_ID = voices()[0].id
BACKENDS = ["sqlite", "postgres"]


@dataclass
class Database:
    backend: str
    url: str
    schema: str | None
    data_dir: Path

    def settings(self, **overrides) -> Settings:
        values = dict(
            data_dir=self.data_dir,
            database_url=self.url,
            database_schema=self.schema,
            rate_limit_per_min=1_000_000,
            calls_rate_limit_per_min=1_000_000,
            # A public URL: live calls are refused while carriers could not reach the server
            # (PUBLIC_URL_UNREACHABLE); this app never dials, so nothing is ever sent there.
            public_base_url="https://voxline.example.test",
            dialer_enabled=False,  # the shared app never dials; tests/integration/telephony runs its own server
            calling_hours="00:00-24:00",  # tests of the hours set a partner's policy; the others run at any hour
            # In-process test servers swap in their own runtimes; `voxline serve` (tests/e2e) warms its engines.
            warm_up_engines=False,
        )
        values.update(overrides)
        return Settings(**values)

    def env(self) -> dict[str, str]:
        """Environment for a `voxline` subprocess pointed at this database."""
        env = {**os.environ, "VOXLINE_DATA_DIR": str(self.data_dir), "VOXLINE_DATABASE_URL": self.url}
        if self.schema:
            env["VOXLINE_DATABASE_SCHEMA"] = self.schema
        return env


async def _drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def empty_database(
    backend: str,
    data_dir: Path,
    name: str,
    migrate: Callable[[str, str | None], object] = upgrade,
) -> AsyncIterator[Database]:
    """A new database of `backend` (an SQLite file `name`.db, or a PostgreSQL schema vx`name`_…), migrated by
    `migrate` (to the head by default), dropped on exit."""
    if backend == "sqlite":
        db = Database("sqlite", f"sqlite+aiosqlite:///{data_dir / f'{name}.db'}", None, data_dir)
    else:
        db = Database("postgres", PG_URL, f"vx{name}_{uuid.uuid4().hex[:12]}", data_dir)
    await asyncio.to_thread(migrate, db.url, db.schema)
    try:
        yield db
    finally:
        if db.schema:
            await _drop_schema(db.schema)


@pytest_asyncio.fixture(scope="session", params=BACKENDS)
async def database(request, tmp_path_factory) -> AsyncIterator[Database]:
    async with empty_database(request.param, tmp_path_factory.mktemp(f"data-{request.param}"), "test") as db:
        yield db


@pytest_asyncio.fixture(scope="session")
async def ctx(database: Database) -> AsyncIterator[Context]:
    context = Context.build(database.settings())
    yield context
    await context.close()


@pytest_asyncio.fixture(scope="session")
async def app(ctx: Context):
    application = create_app(ctx=ctx)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture(scope="session")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver/api/v2") as c:
        yield c


@dataclass
class Tenant:
    partner_id: str
    api_key: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def room_in_rate_window(need_secs: float = 8.0) -> None:
    """Wait, if need be, until the rate-limit window has need_secs left.

    Limits count in fixed one-minute windows; a burst that straddles a boundary is counted in two
    windows and lets more requests through than the limit, which a test must not mistake for a bug.
    """
    left = WINDOW_SECS - time.time() % WINDOW_SECS
    if left < need_secs:
        time.sleep(left + 0.05)


@pytest.fixture
def rate_window() -> None:
    """For tests that count requests against a per-minute limit: start them early in a window."""
    room_in_rate_window()


@pytest.fixture
def make_partner(ctx: Context):
    """Create a partner (all providers allowed, generous limits unless given) and its live key, or with
    mode=TEST a test key; for a test key, `concurrency` sets the sandbox limit too (the one its calls count
    against) unless `sandbox_concurrency` is given."""

    async def make(mode: str = keys.LIVE, **limits) -> Tenant:
        if mode == keys.TEST:
            limits.setdefault("sandbox_concurrency", limits.get("concurrency"))
        name = f"p-{uuid.uuid4().hex[:10]}"
        issued = await partners.create_partner(ctx, name, partners.Limits(**limits))
        if mode == keys.TEST:
            issued = await partners.create_key(ctx, issued.partner_id, keys.TEST)
        return Tenant(issued.partner_id, issued.api_key, name)

    return make


@pytest_asyncio.fixture
async def tenant(make_partner) -> Tenant:
    return await make_partner(concurrency=50)


TWILIO_CREDS = {
    "account_sid": "AC" + "0123456789abcdef" * 2,
    "auth_token": "0123456789abcdef" * 2,
    "from_number": "+14155551234",
}


async def create_agent(client: httpx.AsyncClient, tenant: Tenant, **fields) -> dict:
    body = {
        "agent_name": f"agent-{uuid.uuid4().hex[:8]}",
        "prompt": "You are calling {{callee_name}} to confirm an appointment.",
        "voice_id": VOICE_ID,
        "intro_message": "Hello {{callee_name}}!",
    }
    body.update(fields)
    r = await client.post("/agent", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def configure_twilio(client: httpx.AsyncClient, tenant: Tenant, **overrides) -> dict:
    r = await client.put("/config/telephony/twilio", json={**TWILIO_CREDS, **overrides}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


@dataclass
class Ready:
    """A partner with an agent and a configured Twilio account: ready to start calls."""

    tenant: Tenant
    agent: dict


@pytest_asyncio.fixture
async def ready(client, tenant) -> Ready:
    agent = await create_agent(client, tenant)
    await configure_twilio(client, tenant)
    return Ready(tenant, agent)


def start_body(ready: Ready, **fields) -> dict:
    body = {
        "agent_id": ready.agent["id"],
        "to_number": "+919876543210",
        "provider": "twilio",
        "variables": {"callee_name": "Sajal"},
    }
    body.update(fields)
    return body
