"""Several `voxline serve` processes on one database: 200 queued calls are each dialed exactly once,
the partner's concurrency limit is never exceeded, and the connection's calls-per-second pacing holds.
Then a process is killed mid-call and the call is reconciled when the server comes back; and one
`voxline serve --workers 2` completes sandbox calls whichever worker each request reaches."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import select

from tests.integration.telephony.conftest import sandbox_twilio_partner
from tests.integration.telephony.servers import start_server, wait_ready
from voxline.core.admission import default_ceiling
from voxline.store.models import Call, DialJob, Partner, Session, TelephonyConnection

pytestmark = pytest.mark.slow

CALLS = {"postgres": 200, "sqlite": 60}  # the 200 on PostgreSQL; SQLite (one claimer) checked lighter
LIMIT = 15
CPS = 40.0


def _callee(i: int) -> str:
    """Every other callee answers and talks briefly (…0300); the others are busy (…0486)."""
    return f"+9198{i:04d}" + ("0300" if i % 2 == 0 else "0486")


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


async def test_two_processes_dial_each_call_once_within_the_limits(fresh, fresh_database, tmp_path) -> None:  # noqa: ANN001
    ctx, client = fresh
    database = fresh_database
    n = CALLS[database.backend]
    tenant, agent = await sandbox_twilio_partner(ctx, client, concurrency=n)
    body = {"agent_id": agent["id"], "provider": "twilio", "variables": {"callee_name": "A"}}

    async def start_one(i: int) -> str:
        r = await client.post("/calls/start", json={**body, "to_number": _callee(i)}, headers=tenant.headers)
        assert r.status_code == 200, r.text
        return r.json()["data"]["call_id"]

    call_ids: list[str] = []
    for chunk in range(0, n, 50):
        call_ids += await asyncio.gather(*(start_one(i) for i in range(chunk, min(n, chunk + 50))))
    async with ctx.db.transaction() as s:
        # Queued beyond what may run at once (sandbox calls: the sandbox limit governs them).
        (await s.get(Partner, tenant.partner_id)).sandbox_concurrency_limit = LIMIT
        conn = (
            await s.execute(select(TelephonyConnection).where(TelephonyConnection.partner_id == tenant.partner_id))
        ).scalar_one()
        conn.calls_per_second = CPS

    servers = [start_server(database, tmp_path, wait=False), start_server(database, tmp_path, wait=False)]
    for server in servers:
        wait_ready(server)
    try:
        deadline = time.monotonic() + 120
        while True:
            async with ctx.db.transaction() as s:
                rows = (await s.execute(select(Call).where(Call.id.in_(call_ids)))).scalars().all()
                filed = (
                    (
                        await s.execute(
                            select(Session.id).where(
                                Session.call_id.in_(call_ids), Session.processing_complete.is_(True)
                            )
                        )
                    )
                    .scalars()
                    .all()
                )
            if len(filed) == n:
                break
            assert time.monotonic() < deadline, Counter(c.status for c in rows)
            await asyncio.sleep(0.5)
        logs = [server.sandbox_log("twilio") for server in servers]
    finally:
        for server in servers:
            server.stop()

    assert Counter(c.status for c in rows) == {"completed": n // 2, "busy": n // 2}
    # Exactly once: across both processes' carriers, one create-call request per call.
    creates = Counter()
    for log in logs:
        for r in log["received"]:
            if r["path"].endswith("/Calls.json"):
                creates[r["params"]["Url"].split("/answer/")[1].split("?")[0]] += 1
    assert set(creates) == set(call_ids) and set(creates.values()) == {1}
    assert all(len([r for r in log["received"] if r["path"].endswith("/Calls.json")]) > 0 for log in logs), (
        "both processes dialed"
    )
    async with ctx.db.transaction() as s:
        jobs = (await s.execute(select(DialJob).where(DialJob.call_id.in_(call_ids)))).scalars().all()
        sessions = (await s.execute(select(Session).where(Session.call_id.in_(call_ids)))).scalars().all()
    assert {j.attempts for j in jobs} == {1} and {j.status for j in jobs} == {"done"}
    assert all(s.processing_complete for s in sessions)
    # The concurrency limit held across processes: dial → end intervals never overlap more than LIMIT.
    intervals = [(c.dialed_at.timestamp(), c.ended_at.timestamp()) for c in rows]
    peak = max_overlap(intervals)
    if peak > LIMIT:  # say which calls overlapped, to tell a real breach from a clock artefact
        at = max((sum(1 for a, b in intervals if a <= t < b), t) for t, _ in intervals)[1]
        detail = [
            (c.id[:8], c.dialed_at.isoformat(), c.ended_at.isoformat(), c.status, c.created_at.isoformat())
            for c in rows
            if c.dialed_at.timestamp() <= at < c.ended_at.timestamp()
        ]
        raise AssertionError(f"{peak} calls at once, limit {LIMIT}: {detail}")
    # Pacing held: consecutive dials on the connection are at least 1/CPS apart, whichever process made them.
    dials = sorted(c.dialed_at.timestamp() for c in rows)
    gaps = [b - a for a, b in zip(dials, dials[1:], strict=False)]
    assert min(gaps) >= 1 / CPS - 0.002
    assert max(sum(1 for d in dials if t <= d < t + 1) for t in dials) <= CPS + 1


async def test_a_call_whose_server_is_killed_mid_call_is_reconciled_after_restart(fresh, fresh_database, tmp_path):  # noqa: ANN001
    ctx, client = fresh
    database = fresh_database
    tenant, agent = await sandbox_twilio_partner(ctx, client, concurrency=5)
    first = start_server(database, tmp_path, dialer_lease_secs="2")
    try:
        import httpx

        async with httpx.AsyncClient(base_url=f"{first.base_url}/api/v2", timeout=30) as api:
            body = {
                "agent_id": agent["id"],
                "provider": "twilio",
                "to_number": "+919855500999",
                "variables": {"callee_name": "K"},
            }  # ...0999: the callee stays until hung up
            r = await api.post("/calls/start", json=body, headers=tenant.headers)
            assert r.status_code == 200, r.text
            call_id = r.json()["data"]["call_id"]
            deadline = time.monotonic() + 60
            while (await api.get(f"/calls/{call_id}", headers=tenant.headers)).json()["data"][
                "status"
            ] != "in_progress":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
    finally:
        first.kill()  # mid-call: the media stream, the carrier leg and the process vanish at once

    async with ctx.db.transaction() as s:
        assert (await s.get(Call, call_id)).status == "in_progress"  # stuck, until someone reconciles it
    second = start_server(database, tmp_path, port=first.port, dialer_lease_secs="2")
    try:
        deadline = time.monotonic() + 60
        while True:
            async with ctx.db.transaction() as s:
                call = await s.get(Call, call_id)
                session = await s.get(Session, call.session_id)
                job = (await s.execute(select(DialJob).where(DialJob.call_id == call_id))).scalar_one()
            if call.status != "in_progress" and session.processing_complete:
                break
            assert time.monotonic() < deadline, call.status
            await asyncio.sleep(0.2)
        restarted_log = second.sandbox_log("twilio")
    finally:
        second.stop()
    assert call.status == "failed" and call.disposition == "failed"
    assert "stopped" in call.error_message and call.ended_at is not None
    assert job.attempts == 1, "never redialed"
    assert not [r for r in restarted_log["received"] if r["path"].endswith("/Calls.json")]


def _worker_processes(pid: int) -> list[int]:
    """The server processes uvicorn's supervisor `pid` started (not its multiprocessing helpers)."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = [int(child) for child in f.read().split()]
    workers = []
    for child in children:
        with open(f"/proc/{child}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                workers.append(child)
    return workers


async def test_serve_with_two_workers_answers_and_completes_sandbox_calls(fresh, fresh_database, tmp_path):  # noqa: ANN001
    """`voxline serve --workers 2`: two processes on one port; every request (the API, the emulated
    carrier's REST, callbacks and media streams) may land on either, and the calls still complete."""
    ctx, client = fresh
    tenant, agent = await sandbox_twilio_partner(ctx, client, concurrency=5)
    server = start_server(fresh_database, tmp_path, workers=2)
    try:
        assert len(_worker_processes(server.proc.pid)) == 2, "two worker processes"
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            assert all([(await http.get("/healthz")).status_code == 200 for _ in range(10)])
            # each process's default ceiling of calls counts the other's share of the cores
            metrics = (await http.get("/metrics")).text
            ceiling = re.search(r"^voxline_calls_max (\S+)$", metrics, re.M)
            assert ceiling and float(ceiling.group(1)) == default_ceiling(len(os.sched_getaffinity(0)), 2)
            body = {"agent_id": agent["id"], "provider": "twilio", "variables": {"callee_name": "W"}}
            call_ids = []
            for i in range(4):
                r = await http.post(
                    "/api/v2/calls/start", json={**body, "to_number": f"+91987{i:03d}0300"}, headers=tenant.headers
                )  # ...0300: the callee answers and hangs up after a moment
                assert r.status_code == 200, r.text
                call_ids.append(r.json()["data"]["call_id"])
            deadline = time.monotonic() + 30
            while True:
                calls = [
                    (await http.get(f"/api/v2/calls/{call_id}", headers=tenant.headers)).json()["data"]
                    for call_id in call_ids
                ]
                if all(c["session"]["processing_complete"] for c in calls):
                    break
                assert time.monotonic() < deadline, [(c["status"], c["session"]["status"]) for c in calls]
                await asyncio.sleep(0.2)
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.log.read_text()[-3000:]
    assert {(c["status"], c["disposition"], c["error_message"]) for c in calls} == {("completed", "completed", None)}
    async with ctx.db.transaction() as s:
        rows = (await s.execute(select(Call).where(Call.id.in_(call_ids)))).scalars().all()
        jobs = (await s.execute(select(DialJob).where(DialJob.call_id.in_(call_ids)))).scalars().all()
    assert len(rows) == 4 and all(row.media_started_at is not None and row.started_at is not None for row in rows)
    assert {j.attempts for j in jobs} == {1} and {j.status for j in jobs} == {"done"}
