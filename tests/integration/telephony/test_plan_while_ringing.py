"""A call's plan is read while it rings: when the callee answers, the greeting waits for no database.

The dialer starts the read as it asks the carrier to place the call; the media stream's start takes it from
memory. A stream whose read failed (or that opened in another process) reads the plan itself.
"""

from __future__ import annotations

import asyncio
import time

from tests.integration.telephony.conftest import LiveServer, make_caller, start, wait_session_done, wait_status
from voxline.calls import plan as call_plan
from voxline.calls.conversation import voice_runtime
from voxline.devtools.standins import StandInEngines
from voxline.sandbox.callee import Script


async def test_the_plan_is_read_while_the_phone_rings_and_taken_when_the_media_opens(live: LiveServer) -> None:
    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx, StandInEngines([]))
    try:
        caller = await make_caller(live, "twilio")
        to = "+919813400011"
        live.sandbox["twilio"].scripts[to] = Script("human", ring_secs=1.5, talk_secs=1.0)
        started = await start(live, caller, to)
        session_id = started["session_id"]
        deadline = time.monotonic() + 10
        while session_id not in live.ctx.ready_plans:  # the dialer placed it: its plan is being read
            assert time.monotonic() < deadline, "no plan read while the call rang"
            await asyncio.sleep(0.02)
        assert (await wait_status(live, caller, started["call_id"], ("ringing", "in_progress")))["status"]
        done = await wait_session_done(live, caller, started["call_id"], wait=30)
    finally:
        del live.app.state.call_runtime_factory
    assert session_id not in live.ctx.ready_plans  # taken by the media stream's start
    assert done["status"] == "completed", done
    said = [t for t in done["session"]["transcript"] if t["role"] == "bot"]
    assert said and "Asha" in said[0]["content"], done["session"]["transcript"]  # the plan's greeting, rendered

    # A read that failed is not trusted: the stream's start reads the plan from the store.
    async def broken() -> None:
        raise ConnectionError("the database blinked")

    failed = asyncio.create_task(broken())
    await asyncio.sleep(0)
    live.ctx.ready_plans.put(session_id, failed)
    plan = await call_plan.plan_source(live.ctx)(session_id)
    assert plan.session_id == session_id and plan.intro and "Asha" in plan.intro
