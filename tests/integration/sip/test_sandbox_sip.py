"""A test key with provider "sip" calls the sandbox's own SIP trunk and callee over real SIP/RTP on loopback:
the same scripts and test numbers as the other carriers' emulators, sealed by a digest challenge that only
the partner's sandbox account answers. The partner's webhook gets session.completed."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from tests.integration.sip.conftest import TransferringRuntime, make_sip_caller
from tests.integration.telephony.conftest import LiveServer, wait_status
from voxline.core import keys
from voxline.sandbox.audio import dominant_hz
from voxline.sandbox.callee import Script
from voxline.sandbox.responder import RESPONDER_HZ
from voxline.sandbox.sip_callee import SipCallee

TERMINAL = ("completed", "busy", "no_answer", "failed", "canceled")


async def _receiver() -> tuple[web.AppRunner, str, list[dict]]:
    got: list[dict] = []

    async def handle(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - aiohttp has no public accessor
    return runner, f"http://127.0.0.1:{port}/hook", got


async def _call(live: LiveServer, to: str, hook: str | None = None) -> dict:
    caller = await make_sip_caller(live, "sip.example.net", mode=keys.TEST)
    if hook:
        r = await live.api.post("/config/webhooks", json={"label": "sip", "url": hook}, headers=caller.tenant.headers)
        assert r.status_code == 200, r.text
    body = {"agent_id": caller.agent["id"], "to_number": to, "provider": "sip", "variables": {"callee_name": "Asha"}}
    r = await live.api.post("/calls/start", json=body, headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    return await wait_status(live, caller, r.json()["data"]["call_id"], TERMINAL, wait=20)  # type: ignore[arg-type]


# The callee of the talking test: its tone, and it stays on the line as long as the runtime's first-audio bound
# allows our first words to take. The default tone callee hangs up 1 s after answering, and on a loaded
# machine the server's first frame (answer URL, media websocket, runtime start) came 0.9 s after the
# answer: the callee had then heard only our silence frames, and this test failed now and then.
LISTENER = Script("human", talk_secs=4.0)


async def test_a_sandbox_sip_call_talks_with_the_built_in_callee(sip_live: LiveServer) -> None:
    runner, hook, got = await _receiver()
    sip_live.app.state.sandbox.sip.scripts["+14155550125"] = LISTENER
    try:
        call = await _call(sip_live, "+14155550125", hook)
        assert call["status"] == "completed" and call["disposition"] == "completed", call
        callee: SipCallee = sip_live.app.state.sandbox.sip
        ours = [c for c in callee.calls.values() if c.to == "+14155550125" and c.status == "ended"][-1]
        heard = bytes(ours.heard)
        first = (
            f"{ours.first_loud_at - ours.answered_at:.2f} s after the answer"
            if ours.first_loud_at is not None and ours.answered_at is not None
            else "never"
        )
        told = f"the callee heard {len(heard)} bytes, {ours.loud_frames} loud frames; our first loud frame: {first}"
        assert len(heard) > 8000, f"the sandbox callee heard nothing over RTP ({told})"
        assert abs(dominant_hz(heard) - RESPONDER_HZ) < 30, f"the callee did not hear our responder's tone ({told})"
        deadline = time.monotonic() + 20
        while not any(e.get("event") == "session.completed" for e in got) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        assert any(e.get("event") == "session.completed" for e in got), got
    finally:
        await runner.cleanup()


async def test_sandbox_test_numbers_give_their_outcomes(sip_live: LiveServer) -> None:
    busy, declined, failed = await asyncio.gather(
        _call(sip_live, "+14155550486"), _call(sip_live, "+14155550603"), _call(sip_live, "+14155550500")
    )
    assert busy["status"] == "busy" and "486" in busy["error_message"], busy
    assert declined["status"] == "busy" and "603" in declined["error_message"], declined
    assert failed["status"] == "failed" and "500" in failed["error_message"], failed


async def test_the_sandbox_trunk_refuses_an_invite_without_the_sandbox_account() -> None:
    from voxline.telephony.sip_agent import SipAgent, SipTarget

    callee = SipCallee(seal=None)
    port = await callee.start()
    callee.accounts["vxsbxknown"] = "right-password"
    ended: asyncio.Future = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()

    class Events:
        def ringing(self, code: int) -> None: ...
        def answered(self) -> None: ...
        def audio(self, pcm: bytes) -> None: ...
        def dtmf(self, digit: str) -> None: ...
        def ended(self, end) -> None:  # noqa: ANN001
            loop.call_soon_threadsafe(ended.set_result, end)

    from voxline.telephony import sip_gateway

    agent: SipAgent = sip_gateway.gateway().agent
    try:
        target = SipTarget(
            uri=f"sip:+14155550123@127.0.0.1:{port}",
            from_uri="sip:+14155550100@127.0.0.1",
            username="vxsbxknown",
            password="wrong-password",
        )
        agent.place(target, Events())
        end = await asyncio.wait_for(ended, 10)
        assert end.code in (401, 403) and not end.answered, end
        assert not [c for c in callee.calls.values() if c.status != "ringing"]
    finally:
        await callee.aclose()


async def test_a_sandbox_sip_call_is_transferred_by_refer(sip_live: LiveServer) -> None:
    """A test key's SIP call transferred as the voice runtime's tool does: the sandbox trunk takes the REFER
    for the number, reports the new call answered, and our leg hangs up: completed."""
    outcome: list[str] = []

    sip_live.app.state.call_runtime_factory = lambda ctx: TransferringRuntime("+14155550199", outcome)
    sip_live.app.state.sandbox.sip.scripts["+14155550124"] = Script("human", talk_secs=None, hz=0)  # stays on
    call = await _call(sip_live, "+14155550124")
    assert call["status"] == "completed", call
    assert outcome == ["transferred"], outcome
    callee: SipCallee = sip_live.app.state.sandbox.sip
    assert [c.transferred_to for c in callee.calls.values() if c.to == "+14155550124"][-1] == "+14155550199"
