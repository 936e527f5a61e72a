"""PJSIP in worker processes: many short calls in quick succession are placed, answered and ended (calls
ending while PJSIP's media clock runs, calls beyond a worker's 4, sockets closing faster than PJSIP recycles
them), and a worker that dies ends only its own calls while the server goes on placing new ones."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from tests.integration.sip.churn import churn, sipp_trunk
from tests.integration.sip.conftest import make_sip_caller, run_sipp
from tests.integration.telephony.conftest import LiveServer, wait_status
from voxline.telephony import sip_gateway
from voxline.telephony.sip_agent import SipTarget
from voxline.telephony.sip_workers import SipWorkerPool

TERMINAL = ("completed", "busy", "no_answer", "failed", "canceled")


async def test_short_calls_in_quick_succession_through_two_workers() -> None:
    """Before the agent's fixes a worker aborted within a second of this (PJSIP's socket table) or
    crashed in the garbage collector (media ports torn down under the clock). PJSIP 2.15's own race (RTP
    sent on a transport a call's end has just closed) may still take one worker down: its calls end, a new
    worker takes the next ones."""
    sipp, target = sipp_trunk(4)
    pool = SipWorkerPool(max_workers=2, bind_host="127.0.0.1", log_level=0)
    pool.start()
    try:
        counts = await asyncio.to_thread(churn, pool, target, 3.0, 9)  # 9 at once: 8 fit, one is refused
    finally:
        pool.stop()
        sipp.kill()
    print(f"\nchurn through 2 SIP workers for 3 s: {counts}, workers started {pool.workers_started}")
    assert counts["stuck"] == 0, counts
    assert counts["answered"] >= 30, counts
    assert counts["refused"] > 0, counts
    assert pool.workers_lost <= 1, (pool.workers_lost, counts)


async def test_a_worker_that_dies_ends_its_calls_and_the_next_call_goes_through(
    sip_live: LiveServer, tmp_path, sipp_runs
) -> None:
    gw = sip_gateway.gateway()
    assert isinstance(gw.agent, SipWorkerPool), "PJSIP runs in worker processes by default"
    sipp = await run_sipp(tmp_path, "answer_wait_bye.xml")
    sipp_runs.append(sipp)
    caller = await make_sip_caller(sip_live, sipp.host)
    body = {"agent_id": caller.agent["id"], "to_number": "+14155550123", "provider": "sip", "variables": {}}
    r = await sip_live.api.post("/calls/start", json=body, headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    call_id = r.json()["data"]["call_id"]
    await wait_status(sip_live, caller, call_id, ("in_progress",))  # type: ignore[arg-type]
    holding = [w.pid for w in gw.agent._workers if w.calls]  # noqa: SLF001
    assert len(holding) == 1, holding
    os.kill(holding[0], signal.SIGKILL)  # as PJSIP's abort() would
    t0 = time.monotonic()
    call = await wait_status(sip_live, caller, call_id, TERMINAL, wait=10)  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 5
    assert call["status"] in ("completed", "failed"), call
    again = await run_sipp(tmp_path, "answer_then_bye.xml", talk_ms=500)
    sipp_runs.append(again)
    caller = await make_sip_caller(sip_live, again.host)
    r = await sip_live.api.post(
        "/calls/start", json=body | {"agent_id": caller.agent["id"]}, headers=caller.tenant.headers
    )
    assert r.status_code == 200, r.text
    call = await wait_status(sip_live, caller, r.json()["data"]["call_id"], TERMINAL, wait=20)  # type: ignore[arg-type]
    assert call["status"] == "completed", call
    assert await again.finished() == 0, again.output()


async def test_behind_nat_the_public_address_is_in_the_contact_and_the_sdp(tmp_path, sipp_runs) -> None:
    """`sip_public_host`: what a trunk must reach us at, in the INVITE's Contact and its SDP (SIPp checks
    both, then answers 486)."""
    from tests.integration.sip.churn import _Events

    sipp = await run_sipp(tmp_path, "nat_public_address.xml")
    sipp_runs.append(sipp)
    pool = SipWorkerPool(max_workers=1, bind_host="127.0.0.1", public_host="192.0.2.10", log_level=0)
    pool.start()
    try:
        events = _Events()
        target = SipTarget(uri=f"sip:+15550001@{sipp.host};transport=udp", from_uri="sip:+15550002@127.0.0.1")
        _key, placed = pool.place(target, events)
        await asyncio.wrap_future(placed)
        assert await asyncio.to_thread(events.done.wait, 10)
    finally:
        pool.stop()
    assert events.end is not None and events.end.code == 486, events.end
    assert await sipp.finished() == 0, sipp.output()
