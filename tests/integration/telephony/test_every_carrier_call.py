"""A whole sandbox call on every carrier, with the real conversation runtime (stand-in engines): the
callee hears the greeting, the session is filed with its transcript and latency, and the partner's
webhook endpoint receives `session.completed` signed with its secret. Exotel's outbound messages are all
>= 3.2 KB multiples of 320 bytes, and every emulator saw only messages its carrier accepts."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiohttp import web

from tests.integration.telephony.conftest import LiveServer, make_caller, start, wait_session_done, wait_status
from voxline.calls.conversation import voice_runtime
from voxline.devtools.callee_voice import line
from voxline.devtools.standins import StandInEngines
from voxline.sandbox.audio import seconds
from voxline.sandbox.emulator import Script
from voxline.telephony import registry
from voxline.webhooks import verify

# One callee per carrier the sandbox emulates (the registry's list), each on its own number.
CALLEES = {provider: f"+9198144{n:05d}" for n, provider in enumerate(sorted(registry.emulators()), 1)}


async def _receiver(got: list[tuple[dict, bytes]], arrived: asyncio.Event) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        got.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - aiohttp exposes no public accessor
    return runner, f"http://127.0.0.1:{port}/hook"


@pytest.mark.parametrize("provider", sorted(CALLEES))
async def test_a_whole_call_with_the_runtime_and_a_signed_webhook(live: LiveServer, provider: str) -> None:
    got: list[tuple[dict, bytes]] = []
    arrived = asyncio.Event()
    runner, url = await _receiver(got, arrived)
    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx, StandInEngines(["Yes, that works."]))
    try:
        caller = await make_caller(live, provider)
        r = await live.api.post(
            "/config/webhooks", json={"label": "carriers", "url": url}, headers=caller.tenant.headers
        )
        assert r.status_code == 200, r.text
        secret = r.json()["data"]["secret"]
        to = CALLEES[provider]
        emu = live.sandbox[provider]
        emu.scripts[to] = Script("human", talk_secs=6.0, lines=(line("Yes, that works.").pcm8k.tobytes(),))
        started = await start(live, caller, to)
        call = await wait_status(live, caller, started["call_id"], ("completed",), wait=30)
        done = await wait_session_done(live, caller, started["call_id"], wait=60)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), 20)
    finally:
        del live.app.state.call_runtime_factory
        await runner.cleanup()
    assert call["disposition"] in ("completed", "user_hangup_no_speech")
    session = done["session"]
    bot = [t["content"] for t in session["transcript"] if t["role"] == "bot"]
    assert bot and bot[0] == "Hello Asha!", session["transcript"]
    user = [t["content"] for t in session["transcript"] if t["role"] == "user"]
    assert user == ["Yes, that works."] and len(bot) >= 2, "the callee was heard and answered"
    assert session["latency"] and session["latency"]["avg_ms"] is not None, "the turn's latency was measured"
    emucall = next(c for c in emu.calls.values() if c.to.lstrip("+")[-10:] == to[-10:])
    assert seconds(bytes(emucall.heard)) > 0.1, "the callee heard the agent speak"
    assert emucall.wire_errors == [], emucall.wire_errors
    assert got, "the webhook arrived"
    headers, body = got[0]
    event = verify(secret, headers, body)
    assert event["data"]["session_id"] == started["session_id"]
