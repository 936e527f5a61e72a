"""Webhook test kit: a real HTTP receiver on loopback, quick retry settings, sessions that end, servers to kill.

The receiver is an aiohttp server on 127.0.0.1 that records every request (raw body bytes, headers,
arrival time) and answers as each test scripts it, per path.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from tests.conftest import Tenant, configure_twilio, create_agent, start_body
from voxline.calls.finish import SessionOutcome, finish_session
from voxline.context import Context
from voxline.core import keys

FAST = {
    "webhook_retry_schedule": "0.05,0.1,0.2",
    "webhook_retry_jitter": 0.0,
    "webhook_timeout_secs": 2.0,
    "webhook_poll_interval_secs": 0.05,
}


@pytest.fixture(autouse=True)
def fast_webhooks(ctx: Context, monkeypatch):
    """The in-process worker (started by the app fixture) with test-speed retries; restored after each test."""
    for name, value in FAST.items():
        monkeypatch.setattr(ctx.settings, name, value)
    return ctx.settings


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event_id(self) -> str:
        return self.headers["x-webhook-id"]


Responder = Callable[[Received], Awaitable[int] | int]


@dataclass
class Receiver:
    """Answers 200 unless a path is scripted otherwise; `script(path, fn)` sets fn(received) -> status."""

    base: str = ""
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, Responder] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def script(self, path: str, responder: Responder) -> None:
        self.scripts[path] = responder

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        received = Received(
            request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read(), time.time()
        )
        self.requests.append(received)
        responder = self.scripts.get(request.path)
        status = 200
        if responder is not None:
            outcome = responder(received)
            status = await outcome if asyncio.iscoroutine(outcome) else outcome
        return web.Response(status=status, text="ok")


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - aiohttp exposes no public accessor
    rec.base = f"http://127.0.0.1:{port}"
    yield rec
    await runner.cleanup()


async def wait_for(predicate: Callable[[], Any], within: float = 10.0, every: float = 0.02) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(every)


@dataclass
class Sandbox:
    """A partner with a sandbox (rg_test_) key, an agent and Twilio configured: may use loopback receivers."""

    tenant: Tenant
    agent: dict


@pytest_asyncio.fixture
async def sandbox(client, make_partner) -> Sandbox:
    tenant = await make_partner(mode=keys.TEST, concurrency=500)
    agent = await create_agent(client, tenant)
    await configure_twilio(client, tenant)
    return Sandbox(tenant, agent)


async def add_endpoint(client, tenant: Tenant, url: str, label: str | None = None, **extra) -> dict:
    body = {"label": label or f"ep-{uuid.uuid4().hex[:8]}", "url": url, **extra}
    r = await client.post("/config/webhooks", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def start_call(client, box: Sandbox, **fields) -> dict:
    r = await client.post("/calls/start", json=start_body(box, **fields), headers=box.tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def sample_outcome(**overrides) -> SessionOutcome:
    values: dict[str, Any] = dict(
        status="completed",
        transcript=[
            {"role": "bot", "content": "Hello Sajal!", "timestamp": "2026-11-25T10:00:00.000Z"},
            {"role": "user", "content": "Hi, yes.", "timestamp": "2026-11-25T10:00:02.000Z", "latency_ms": None},
            {"role": "bot", "content": "Great, confirmed.", "timestamp": "2026-11-25T10:00:03.000Z", "latency_ms": 640},
        ],
        duration_seconds=19,
        credits_used=1.8,
        extraction={"status": "success", "values": {"confirmed": True}},
    )
    values.update(overrides)
    return SessionOutcome(**values)


async def ended_session(ctx: Context, client, box: Sandbox, **outcome) -> tuple[dict, Any]:
    """Start a call through the API and finish its session; returns (start response, the event row)."""
    started = await start_call(client, box)
    event = await finish_session(ctx, started["session_id"], sample_outcome(**outcome))
    return started, event


# ---- real server processes ----
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database, **settings: str) -> dict[str, str]:  # noqa: ANN001
    env = database.env()
    env["VOXLINE_LOG_LEVEL"] = "warning"
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), os.path.join(os.getcwd(), "src")])  # the checkout's code
    for name, value in settings.items():
        env[f"VOXLINE_{name.upper()}"] = value
    return env


class Server:
    """`python -m voxline serve` as a child process that a test can stop gently or kill outright."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, within: float = 30.0) -> Server:
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the wait below is async
            [sys.executable, "-m", "voxline", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"voxline serve exited: {self.proc.stderr.read().decode()[-2000:]}")
                try:
                    if (await http.get(f"{self.base}/healthz", timeout=1)).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("voxline serve did not start")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs; whatever was claimed or in flight is simply abandoned."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    async def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 15)
            except TimeoutError:
                self.kill()


def only_on(*backends: str):
    """Run a (slow) test on the named database backends only; the other parametrizations are deselected."""

    def mark(fn):  # noqa: ANN001, ANN202
        fn._webhook_backends = backends  # noqa: SLF001
        return fn

    return mark


def pytest_collection_modifyitems(config, items):  # noqa: ANN001
    keep, drop = [], []
    for item in items:
        backends = getattr(getattr(item, "function", None), "_webhook_backends", None)
        param = getattr(getattr(item, "callspec", None), "params", {}).get("database")
        (drop if backends and param not in backends else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def worker_paused(ctx: Context, monkeypatch):
    """Stop this test process's own webhook worker so only the server processes under test deliver, and
    slow its dialer's pacing to a crawl so it does not spend the test dialing the sandbox calls we create."""
    monkeypatch.setattr(ctx.settings, "webhook_worker_enabled", False)
    monkeypatch.setattr(ctx.settings, "dialer_cps", 0.001, raising=False)
    return ctx
