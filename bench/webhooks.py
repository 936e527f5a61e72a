"""Webhook delivery: deliveries/s from one worker process, and session end → receiver latency.

For each backend (SQLite file, PostgreSQL in a fresh schema) it migrates a database, creates a sandbox
partner with one endpoint pointing at a fast receiver running in its own process on loopback, and starts
calls through the real API (in-process ASGI). Then:

  throughput  N sessions are finished with no worker running (N deliveries queue up in the outbox); one
              DeliveryWorker is started and the clock runs until the receiver holds all N events and
              every outbox row reads `delivered`.
  latency     with the worker running, sessions are finished one at a time at a steady rate; for each,
              the time from calling finish_session() (the session-end transaction, included) to the
              receiver's arrival timestamp for that event's X-Webhook-Id. With a worker in the finishing
              process the deliveries are handed over at commit, so the post often lands before
              finish_session() has even returned; `after_return_p99_ms` measures from its return.

  --no-handoff  measures the latency path without the commit-time hand-over: rows are written due and
              the local worker is woken to claim them (what a process without room, or a poll, goes through).

    python bench/webhooks.py [--deliveries 5000] [--latency-events 500] [--rate 50] [--backends sqlite,postgres]
                             [--no-handoff]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import PG_URL, fresh_schema, print_table, summary_ms, write_json  # noqa: E402

GOAL = ">= 500 deliveries/s from one process; session end -> receiver p99 < 200 ms"
TWILIO = {
    "account_sid": "AC" + "0123456789abcdef" * 2,
    "auth_token": "0123456789abcdef" * 2,
    "from_number": "+14155551234",
}


# ---- the receiver (its own process) ----
def receiver_main(port: int) -> None:
    arrivals: dict[str, float] = {}
    posts = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal posts
        await request.read()
        posts += 1
        arrivals.setdefault(request.headers["X-Webhook-Id"], time.time())
        return web.Response(status=204)

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"posts": posts, "arrivals": arrivals})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


class ReceiverProcess:
    def __init__(self) -> None:
        from tests.e2e.server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.proc = subprocess.Popen([sys.executable, __file__, "--receiver", str(self.port)])
        self._http: httpx.AsyncClient | None = None

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    await http.get(f"http://127.0.0.1:{self.port}/stats")
                    return
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
        raise RuntimeError("receiver did not start")

    async def stats(self) -> dict:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30)
        return (await self._http.get(f"http://127.0.0.1:{self.port}/stats")).json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


# ---- the Voxline side (this process) ----
async def run_backend(backend: str, deliveries: int, latency_events: int, rate: float, handoff: bool) -> dict:
    from voxline.accounts import partners
    from voxline.app import create_app
    from voxline.calls.finish import SessionOutcome, finish_session
    from voxline.context import Context
    from voxline.core import keys
    from voxline.settings import Settings
    from voxline.store.migrate import upgrade
    from voxline.store.webhook_tables import WebhookDelivery
    from voxline.webhooks.worker import DeliveryWorker

    if not handoff:
        DeliveryWorker.has_room_for = lambda self, count: False  # type: ignore[method-assign]

    data_dir = tempfile.mkdtemp(prefix="vxbench-wh-")
    schema = fresh_schema() if backend == "postgres" else None
    url = PG_URL if backend == "postgres" else f"sqlite+aiosqlite:///{data_dir}/voxline.db"
    await asyncio.to_thread(upgrade, url, schema)
    ctx = Context.build(
        Settings(data_dir=Path(data_dir), database_url=url, database_schema=schema, log_level="warning")
    )
    receiver = ReceiverProcess()
    try:
        await receiver.wait_ready()
        issued = await partners.create_partner(
            ctx,
            f"bench-{os.getpid()}",
            partners.Limits(
                concurrency=100_000,
                sandbox_concurrency=100_000,
                rate_limit_per_min=10_000_000,
                calls_rate_limit_per_min=10_000_000,
            ),
        )
        issued = await partners.create_key(ctx, issued.partner_id, keys.TEST)
        app = create_app(ctx=ctx)  # no lifespan: the API only, no dialer or worker in the background
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench/api/v2",
            headers={"Authorization": f"Bearer {issued.api_key}"},
        ) as api:
            voice = (await api.get("/agent/voices")).json()["data"]["voices"][0]["id"]
            agent = (
                await api.post(
                    "/agent", json={"agent_name": "bench", "prompt": "Hi {{callee_name}}", "voice_id": voice}
                )
            ).json()["data"]
            assert (await api.put("/config/telephony/twilio", json=TWILIO)).status_code == 200
            r = await api.post("/config/webhooks", json={"label": "bench", "url": receiver.url})
            assert r.status_code == 200, r.text
            body = {
                "agent_id": agent["id"],
                "to_number": "+919876543210",
                "provider": "twilio",
                "variables": {"callee_name": "Sajal"},
            }

            async def start_sessions(n: int) -> list[str]:
                gate = asyncio.Semaphore(8)

                async def one() -> str:
                    async with gate:
                        r = await api.post("/calls/start", json=body)
                        assert r.status_code == 200, r.text
                        return r.json()["data"]["session_id"]

                return list(await asyncio.gather(*(one() for _ in range(n))))

            outcome = SessionOutcome(
                status="completed",
                duration_seconds=30,
                credits_used=1.8,
                transcript=[
                    {"role": "bot", "content": "Hello Sajal!"},
                    {"role": "user", "content": "Hi.", "latency_ms": 700},
                ],
            )
            print(f"[{backend}] starting {deliveries + latency_events} calls through the API ...", flush=True)
            queued = await start_sessions(deliveries)
            steady = await start_sessions(latency_events)

            # throughput: fill the outbox, then let one worker drain it
            gate = asyncio.Semaphore(8)

            async def finish(sid: str) -> None:
                async with gate:
                    await finish_session(ctx, sid, outcome)

            await asyncio.gather(*(finish(sid) for sid in queued))
            print(f"[{backend}] {deliveries} deliveries queued; draining with one worker ...", flush=True)
            worker = DeliveryWorker(ctx)
            t0 = time.perf_counter()
            task = asyncio.create_task(worker.run())
            while True:
                if len((await receiver.stats())["arrivals"]) >= deliveries:
                    break
                await asyncio.sleep(0.05)
            received_at = time.perf_counter() - t0
            from sqlalchemy import func, select

            while True:
                async with ctx.db.transaction() as s:
                    done = (
                        await s.execute(
                            select(func.count())
                            .select_from(WebhookDelivery)
                            .where(WebhookDelivery.status == "delivered")
                        )
                    ).scalar_one()
                if done >= deliveries:
                    break
                await asyncio.sleep(0.02)
            recorded_at = time.perf_counter() - t0

            # latency: steady arrivals of session ends with the worker running
            print(f"[{backend}] latency: {latency_events} sessions at {rate}/s ...", flush=True)
            ended: dict[str, float] = {}
            returned: dict[str, float] = {}
            for sid in steady:
                tick = time.perf_counter()
                called = time.time()
                event = await finish_session(ctx, sid, outcome)
                ended[event.id] = called
                returned[event.id] = time.time()
                await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - tick)))
            deadline = time.monotonic() + 30
            while True:
                arrivals = (await receiver.stats())["arrivals"]
                if all(e in arrivals for e in ended) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            latencies = [arrivals[e] - t for e, t in ended.items() if e in arrivals]
            after_return = [arrivals[e] - t for e, t in returned.items() if e in arrivals]
            posts = (await receiver.stats())["posts"]
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return {
            "backend": backend,
            "path": "handoff" if handoff else "claim",
            "deliveries": deliveries,
            "deliveries_per_s": round(deliveries / received_at, 1),
            "drain_s": round(received_at, 2),
            "recorded_s": round(recorded_at, 2),
            "latency_events": len(ended),
            "latency_received": len(latencies),
            "posts": posts,
            **summary_ms(latencies),
            "after_return_p99_ms": summary_ms(after_return)["p99_ms"],
        }
    finally:
        receiver.stop()
        await ctx.close()
        if schema:
            conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--latency-events", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="session ends per second in the latency phase")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--no-handoff", action="store_true", help="latency through claim + wake only")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receiver_main(args.receiver)
        return
    rows = [
        asyncio.run(run_backend(b, args.deliveries, args.latency_events, args.rate, not args.no_handoff))
        for b in args.backends.split(",")
    ]
    print_table(
        "Webhook delivery, one worker process, receiver in its own process on loopback",
        rows,
        [
            "backend",
            "path",
            "deliveries",
            "deliveries_per_s",
            "drain_s",
            "recorded_s",
            "latency_events",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "after_return_p99_ms",
            "posts",
        ],
    )
    print(f"goal: {GOAL}")
    write_json("webhooks" if not args.no_handoff else "webhooks_no_handoff", {"goal": GOAL, "runs": rows})


if __name__ == "__main__":
    main()
