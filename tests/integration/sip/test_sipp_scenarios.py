"""Real SIP calls from our dialer to SIPp playing the trunk: each scenario ends the call with the status,
disposition and reason a user would expect (POST /calls/start with provider "sip", a live key, a trunk on
loopback). The calls' audio is our sandbox responder's tone; what the callee says is the scenario's RTP."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.integration.sip.conftest import Sipp, make_sip_caller, run_sipp
from tests.integration.telephony.conftest import LiveServer, wait_status
from voxline.telephony import sip_gateway

CALLEE = "+14155550123"


async def _start(live: LiveServer, caller, to: str = CALLEE) -> dict:  # noqa: ANN001
    body = {"agent_id": caller.agent["id"], "to_number": to, "provider": "sip", "variables": {"callee_name": "Asha"}}
    r = await live.api.post("/calls/start", json=body, headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def _ended(live: LiveServer, caller, call_id: str, wait: float = 20.0) -> dict:  # noqa: ANN001
    terminal = ("completed", "busy", "no_answer", "failed", "canceled")
    return await wait_status(live, caller, call_id, terminal, wait=wait)


async def _call(live: LiveServer, sipp: Sipp, wait: float = 20.0, **creds) -> dict:  # noqa: ANN003
    caller = await make_sip_caller(live, sipp.host, **creds)
    started = await _start(live, caller)
    call = await _ended(live, caller, started["call_id"], wait)
    call["_caller"] = caller
    return call


async def test_answered_call_the_trunk_hangs_up_is_completed(sip_live: LiveServer, tmp_path, sipp_runs) -> None:
    sipp = await run_sipp(tmp_path, "answer_then_bye.xml", talk_ms=1500)
    sipp_runs.append(sipp)
    t0 = time.monotonic()
    call = await _call(sip_live, sipp)
    assert call["status"] == "completed", call
    assert await sipp.finished() == 0, sipp.output()
    assert time.monotonic() - t0 < 15

