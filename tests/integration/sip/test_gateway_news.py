"""The gateway hears every answer to a call, even one that comes back before `place` has returned the call's
key: a callee who answers at once must get our media (and our voice), not a silent line.

Before the fix the news of a call was addressed with its key as it stood when the news arrived; a callee
that answered while the gateway's thread had not yet stored the key (a loaded machine) was answered by
nobody: no answer URL, no media websocket, no runtime, and the callee heard only PJSIP's silence until it
gave up. Here the pool takes its time returning from `place` after the INVITE has left, so the callee's
answers always come first."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import Future
from typing import Any

from aiohttp import web

from voxline.sandbox.callee import Script
from voxline.sandbox.sip_callee import SipCallee
from voxline.telephony.carrier import CallUrls, DialRequest
from voxline.telephony.sip_agent import SipCallEvents, SipTarget
from voxline.telephony.sip_gateway import SipGateway
from voxline.telephony.sip_workers import SipWorkerPool


class _SlowToReturn(SipWorkerPool):
    """Real SIP workers; only `place` returns the key late, once the callee has already answered."""

    def place(self, target: SipTarget, events: SipCallEvents) -> tuple[str, Future[None]]:
        key, placed = super().place(target, events)
        with contextlib.suppress(Exception):
            placed.result(15)  # the INVITE has left
        time.sleep(0.5)  # the callee rings 50 ms, then answers
        return key, placed


async def _carrier_urls() -> tuple[web.AppRunner, str, list[tuple[str, dict[str, str]]]]:
    """Our side's answer and status URLs: what the gateway posted, in order. The answer names no media,
    so the gateway hangs up once it has asked."""
    got: list[tuple[str, dict[str, str]]] = []

    async def handle(request: web.Request) -> web.Response:
        got.append((request.path, dict(await request.post())))  # type: ignore[arg-type]
        if request.path == "/answer":
            return web.Response(status=503, text="no media in this test")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    return runner, f"http://127.0.0.1:{port}", got


async def _wait_for(check: Any, secs: float) -> bool:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_answers_that_come_back_before_place_returns_reach_the_call() -> None:
    callee = SipCallee(seal=None)
    port = await callee.start()
    callee.accounts["early"] = "early-password"
    callee.scripts["+15550131"] = Script("human", ring_secs=0.05, talk_secs=3.0)
    runner, base, got = await _carrier_urls()
    gw = SipGateway(_SlowToReturn(max_workers=1, bind_host="127.0.0.1", log_level=0))
    gw.start()
    try:
        for number in ("+15550131", "+14155550486"):  # answered at once; busy at once
            target = SipTarget(
                uri=f"sip:{number}@127.0.0.1:{port}",
                from_uri="sip:+15550132@127.0.0.1",
                username="early",
                password="early-password",
            )
            urls = CallUrls(f"{base}/answer", f"{base}/status", f"{base}/amd", "ws://127.0.0.1:9/none", "token")
            req = DialRequest(f"call-{number}", "session", number, "+15550132", urls, False, 20, 30)
            await gw.place(target, req)
        assert await _wait_for(lambda: sum(1 for p, f in got if f.get("event") == "ended") == 2, 8), got
    finally:
        gw.stop()
        await runner.cleanup()
        await callee.aclose()
    answered = [f for p, f in got if p == "/answer"]
    assert len(answered) == 1, f"the gateway never heard the callee answer (no answer URL asked): {got}"
    ends = [f for p, f in got if f.get("event") == "ended"]
    assert sorted(e["code"] for e in ends) == ["200", "486"], ends  # not "no response to the INVITE in 8 s"
    assert [e["answered"] for e in ends if e["code"] == "200"] == ["1"], ends
