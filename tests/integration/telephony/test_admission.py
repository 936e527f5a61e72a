"""Admission control end to end: a server process that has no room for another call leaves it in the dial
queue (and /calls/concurrency says why) rather than dialing it; with room again it is dialed. Two apps on
one PostgreSQL: the full one claims nothing, the other dials every call."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from tests.integration.telephony.conftest import (
    CREDS,
    LiveServer,
    free_port,
    sandbox_twilio_partner,
    serve,
    server_settings,
)
from voxline.app import create_app
from voxline.context import Context
from voxline.sandbox.callee import Script
from voxline.store.models import DialJob
from voxline.voice import engines


@contextlib.asynccontextmanager
async def running(database, **overrides) -> AsyncIterator[LiveServer]:  # noqa: ANN001
    port = free_port()
    ctx = Context.build(server_settings(database, port, **overrides))
    app = create_app(ctx=ctx)
    app.state.sandbox["twilio"].register(CREDS["twilio"]["account_sid"], CREDS["twilio"]["auth_token"])
    server, task = await serve(app, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v2", timeout=30) as api:
            yield LiveServer(f"http://127.0.0.1:{port}", ctx, app, api)
    finally:
        server.should_exit = True
        await task
        await app.state.sandbox.aclose()
        await ctx.close()


async def _start(live: LiveServer, tenant, agent, to: str) -> str:  # noqa: ANN001
    body = {"agent_id": agent["id"], "provider": "twilio", "to_number": to, "variables": {"callee_name": "A"}}
    r = await live.api.post("/calls/start", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]["call_id"]


async def _status(live: LiveServer, tenant, call_id: str) -> dict:  # noqa: ANN001
    r = await live.api.get(f"/calls/{call_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def _until(check, wait: float = 20.0, what: str = ""):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + wait
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_full_process_leaves_the_call_queued_and_says_why_then_dials_it_when_room_returns(
    fresh_database,  # noqa: ANN001
) -> None:
    async with running(fresh_database, max_calls_per_process=1) as live:
        tenant, agent = await sandbox_twilio_partner(live.ctx, live.api, concurrency=5)
        emu = live.sandbox["twilio"]
        first_to, second_to = "+919811100001", "+919811100002"
        emu.scripts[first_to] = Script("human", talk_secs=6.0)
        emu.scripts[second_to] = Script("human", talk_secs=0.5)
        first = await _start(live, tenant, agent, first_to)
        await _until(lambda: _in_progress(live, tenant, first), what="the first call to connect")
        second = await _start(live, tenant, agent, second_to)
        await asyncio.sleep(0.6)  # a dozen dialer polls: a process with room would have dialed it by now
        call = await _status(live, tenant, second)
        assert call["status"] == "pending", call
        r = await live.api.get("/calls/concurrency", headers=tenant.headers)
        data = r.json()["data"]
        # The existing fields keep their meaning; the new ones say the call waits for the server's room.
        assert data["active"] == 2 and data["remaining"] == 3 and data["limit"] == 5
        assert data["queued"] == 1 and data["waiting_reason"] == "server_max_calls", data
        assert live.ctx.admission.refusals.get("max_calls", 0) > 0
        # The first call's media stream reached a full process and was held: counted once, from claim to media end.
        assert live.ctx.admission.calls() == 1
        assert not any(c.to == second_to for c in emu.calls.values()), "the second call must not ring yet"
        # The first call ends: room again, and the waiting call is dialed and completes.
        done = await _until(lambda: _ended(live, tenant, second), wait=30, what="the queued call to be dialed")
        assert done["status"] == "completed", done
        first_call = await _status(live, tenant, first)
        assert first_call["ended_at"] <= done["started_at"], "dialed only once the first call had ended"
        r = await live.api.get("/calls/concurrency", headers=tenant.headers)
        assert r.json()["data"]["queued"] == 0 and r.json()["data"]["waiting_reason"] is None
        await _until(lambda: _no_calls_held(live), wait=10, what="the process to hold no call")


async def _no_calls_held(live: LiveServer) -> bool:
    return live.ctx.admission.calls() == 0


async def _in_progress(live: LiveServer, tenant, call_id: str) -> bool:  # noqa: ANN001
    return (await _status(live, tenant, call_id))["status"] == "in_progress"


async def _ended(live: LiveServer, tenant, call_id: str) -> dict | None:  # noqa: ANN001
    call = await _status(live, tenant, call_id)
    return call if call["status"] in ("completed", "failed", "no_answer", "busy", "canceled") else None


# Several claimers at once need PostgreSQL's row locks (SQLite has one writer): PostgreSQL only.
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_two_apps_on_one_postgresql_calls_go_to_the_process_with_room(fresh_database) -> None:  # noqa: ANN001
    async with running(fresh_database) as full, running(fresh_database) as roomy:
        # The full app holds as many calls as its ceiling allows (claimed calls still ringing elsewhere count;
        # an id that the database never settles keeps them counted for the test's length).
        for i in range(full.ctx.settings.calls_ceiling):
            full.ctx.admission.claimed(f"held-elsewhere-{i}")
        tenant, agent = await sandbox_twilio_partner(full.ctx, full.api, concurrency=20)
        for i in range(6):
            full.sandbox["twilio"].scripts[f"+91981120{i:04d}"] = Script("human", talk_secs=0.3)
            roomy.sandbox["twilio"].scripts[f"+91981120{i:04d}"] = Script("human", talk_secs=0.3)
        ids = [await _start(full, tenant, agent, f"+91981120{i:04d}") for i in range(6)]  # nudges the full one
        for call_id in ids:
            call = await _until(lambda c=call_id: _ended(full, tenant, c), wait=30, what="every call to end")
            assert call["status"] == "completed", call
        async with full.ctx.db.transaction() as s:
            jobs = list((await s.execute(select(DialJob).where(DialJob.call_id.in_(ids)))).scalars())
        assert {j.claimed_by for j in jobs} == {roomy.ctx.leases.worker_id}, "only the app with room dialed"
        assert all(j.attempts == 1 for j in jobs)
        assert full.ctx.admission.refusals.get("max_calls", 0) > 0
        assert not full.sandbox["twilio"].calls and len(roomy.sandbox["twilio"].calls) == 6
        # Room again on the full app: it takes calls too.
        for i in range(full.ctx.settings.calls_ceiling):
            full.ctx.admission.settled(f"held-elsewhere-{i}")
        more = "+919811300001"
        full.sandbox["twilio"].scripts[more] = Script("human", talk_secs=0.3)
        roomy.sandbox["twilio"].scripts[more] = Script("human", talk_secs=0.3)
        roomy.ctx.admission.claimed("now-the-other-is-full")
        for i in range(1, roomy.ctx.settings.calls_ceiling):
            roomy.ctx.admission.claimed(f"busy-{i}")
        last = await _start(roomy, tenant, agent, more)
        call = await _until(lambda: _ended(roomy, tenant, last), wait=30, what="the call on the freed app")
        assert call["status"] == "completed" and len(full.sandbox["twilio"].calls) == 1


async def test_a_process_claims_no_call_until_its_speech_engines_are_warm(fresh_database, monkeypatch) -> None:  # noqa: ANN001
    # The engines' loading is held open by the test (the real models, once loaded, stay cached in this process,
    # so their own load time cannot be relied on here): while it lasts, the call waits in the queue.
    loading = threading.Event()

    def slow_warm_up(settings) -> None:  # noqa: ANN001
        loading.wait(30)

    monkeypatch.setattr(engines, "warm_up", slow_warm_up)
    async with running(fresh_database, warm_up_engines=True, call_runtime="voice") as live:
        tenant, agent = await sandbox_twilio_partner(live.ctx, live.api, concurrency=5)
        to = "+919811100009"
        live.sandbox["twilio"].scripts[to] = Script("human", talk_secs=0.5)
        call_id = await _start(live, tenant, agent, to)
        await asyncio.sleep(0.6)  # a dozen dialer polls
        assert (await _status(live, tenant, call_id))["status"] == "pending"
        data = (await live.api.get("/calls/concurrency", headers=tenant.headers)).json()["data"]
        assert data["queued"] == 1 and data["waiting_reason"] == "server_warming_up", data
        assert not live.sandbox["twilio"].calls, "nothing rings while the engines load"
        loading.set()
        done = await _until(lambda: _ended(live, tenant, call_id), wait=30, what="the call to be dialed once warm")
        assert done["status"] == "completed", done
