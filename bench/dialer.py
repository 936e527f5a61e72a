"""The dialer: sandbox calls through the carrier emulators of one real `voxline serve` process.

Two phases per database backend, each on its own sandbox partner:

  paced  calls are started over HTTP at an offered rate under the connection's calls-per-second limit;
         reports the time from `POST /calls/start` (the call row's created_at) to the emulator receiving
         the carrier create-call request (p50/p99; goal p99 < 100 ms).
  burst  calls are queued first, the partner's concurrency limit is lowered, then the server starts and
         dials them all; reports dials/s, and checks from the database that the concurrency limit and the
         pacing were never exceeded.

Callees: most are busy (…0486: the carrier's full create → ringing → busy path, no audio); a share
answer and talk briefly (…0300: answer URL, media websocket both ways, completed), which costs CPU on
this small machine. The load generator runs on the same machine as the server.

    python bench/dialer.py [--calls 1000] [--rate 10] [--cps 100] [--burst-cps 200] [--limit 50]
                           [--answered-share 0.1] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import PG_URL, fresh_schema, percentile, print_table, summary_ms, write_json  # noqa: E402
from tests.e2e.server import free_port  # noqa: E402

TWILIO = {
    "account_sid": "AC" + "0123456789abcdef" * 2,
    "auth_token": "fedcba9876543210" * 2,
    "from_number": "+14155551234",
}
TERMINAL = ("completed", "failed", "no_answer", "busy", "canceled")


def callee(i: int, answered_share: float) -> str:
    every = max(1, round(1 / answered_share)) if answered_share > 0 else 0
    return f"+9196{i:04d}" + ("0300" if every and i % every == 0 else "0486")


class Bench:
    def __init__(self, backend: str, args: argparse.Namespace) -> None:
        self.backend = backend
        self.args = args
        self.data_dir = tempfile.mkdtemp(prefix=f"vxbench-dialer-{backend}-")
        self.schema = fresh_schema() if backend == "postgres" else None
        self.url = PG_URL if backend == "postgres" else f"sqlite+aiosqlite:///{self.data_dir}/voxline.db"

    def settings(self, **extra: Any):  # noqa: ANN201
        from voxline.settings import Settings

        return Settings(
            data_dir=Path(self.data_dir),
            database_url=self.url,
            database_schema=self.schema,
            rate_limit_per_min=10**9,
            calls_rate_limit_per_min=10**9,
            dialer_enabled=False,
            **extra,
        )

    def server_env(self, port: int) -> dict[str, str]:
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "VOXLINE_DATA_DIR": self.data_dir,
            "VOXLINE_DATABASE_URL": self.url,
            "VOXLINE_PUBLIC_BASE_URL": base,
            "VOXLINE_LOG_LEVEL": "warning",
            "VOXLINE_RATE_LIMIT_PER_MIN": "1000000000",
            "VOXLINE_CALLS_RATE_LIMIT_PER_MIN": "1000000000",
            "VOXLINE_WEBHOOK_WORKER_ENABLED": "false",
            "VOXLINE_DIALER_POLL_SECS": "0.05",
            "VOXLINE_SESSION_FINISH_GRACE_SECS": "1",
            "VOXLINE_CARRIER_HANGUP_GRACE_SECS": "1",
        }
        if self.schema:
            env["VOXLINE_DATABASE_SCHEMA"] = self.schema
        from voxline.telephony.registry import emulators

        for carrier in emulators():  # every carrier the sandbox emulates: never a real one
            env[f"VOXLINE_{carrier.upper()}_API_BASE"] = f"{base}/sandbox/{carrier}"
        return env

    def serve(self) -> tuple[subprocess.Popen, str]:
        port = free_port()
        log = open(Path(self.data_dir) / f"server-{port}.log", "wb")  # noqa: SIM115 - lives as long as the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "voxline", "serve", "--port", str(port)],
            env=self.server_env(port),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        warming = 'voxline_admission_refusing{reason="warming_up"} 1.0'
        while True:
            # Ready once it answers and has warmed its speech engines (it claims no call before): that wait
            # is the deployment's start-up, not the dialer's latency.
            try:
                up = httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                if up and warming not in httpx.get(f"{base}/metrics", timeout=1).text:
                    return proc, base
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)

    @staticmethod
    def stop(proc: subprocess.Popen) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    async def setup(self) -> None:
        from voxline.context import Context
        from voxline.store.migrate import upgrade

        await asyncio.to_thread(upgrade, self.url, self.schema)
        self.ctx = Context.build(self.settings())

    async def partner(self, concurrency: int, cps: float) -> tuple[str, str, str]:
        """A sandbox partner with an agent and Twilio configured; returns (partner id, test key, agent id)."""
        from sqlalchemy import select

        from voxline.accounts import partners
        from voxline.app import create_app
        from voxline.core import keys
        from voxline.store.models import TelephonyConnection
        from voxline.voice.catalog import voices

        issued = await partners.create_partner(
            self.ctx,
            f"bench-{uuid.uuid4().hex[:8]}",
            partners.Limits(concurrency=concurrency, sandbox_concurrency=concurrency),
        )
        issued = await partners.create_key(self.ctx, issued.partner_id, keys.TEST)
        headers = {"Authorization": f"Bearer {issued.api_key}"}
        app = create_app(ctx=self.ctx)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x/api/v2") as c:
            r = await c.post(
                "/agent",
                json={"agent_name": "bench", "prompt": "Hi {{n}}", "voice_id": voices()[0].id},
                headers=headers,
            )
            agent_id = r.json()["data"]["id"]
            assert (await c.put("/config/telephony/twilio", json=TWILIO, headers=headers)).status_code == 200
        async with self.ctx.db.transaction() as s:
            conn = (
                await s.execute(select(TelephonyConnection).where(TelephonyConnection.partner_id == issued.partner_id))
            ).scalar_one()
            conn.calls_per_second = cps
        return issued.partner_id, issued.api_key, agent_id

    async def rows(self, partner_id: str) -> list[Any]:
        from sqlalchemy import select

        from voxline.store.models import Call

        async with self.ctx.db.transaction() as s:
            return list((await s.execute(select(Call).where(Call.partner_id == partner_id))).scalars())

    async def wait_done(self, partner_id: str, n: int, within: float) -> list[Any]:
        deadline = time.monotonic() + within
        while True:
            rows = await self.rows(partner_id)
            if len(rows) == n and all(r.status in TERMINAL for r in rows):
                return rows
            if time.monotonic() > deadline:
                raise RuntimeError(f"calls not finished: {sum(r.status in TERMINAL for r in rows)}/{n}")
            await asyncio.sleep(0.25)

    async def paced(self) -> dict[str, Any]:
        a = self.args
        partner_id, key, agent_id = await self.partner(concurrency=a.calls, cps=a.cps)
        proc, base = self.serve()
        try:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(
                base_url=f"{base}/api/v2", headers=headers, timeout=30, limits=httpx.Limits(max_connections=64)
            ) as http:

                async def one(i: int) -> None:
                    body = {
                        "agent_id": agent_id,
                        "provider": "twilio",
                        "to_number": callee(i, a.answered_share),
                        "variables": {},
                    }
                    r = await http.post("/calls/start", json=body)
                    assert r.status_code == 200, r.text

                began = time.monotonic()
                tasks = []
                for i in range(a.calls):  # an open-loop offered rate, not back-to-back
                    await asyncio.sleep(max(0.0, began + i / a.rate - time.monotonic()))
                    tasks.append(asyncio.create_task(one(i)))
                await asyncio.gather(*tasks)
            rows = await self.wait_done(partner_id, a.calls, within=a.calls / a.rate + 120)
            log = await _sandbox_log(base, self.ctx.settings)
        finally:
            self.stop(proc)
        created = {r.id: r.created_at.timestamp() for r in rows}
        slots = {r.id: r.dialed_at.timestamp() for r in rows if r.dialed_at is not None}
        latencies, to_slot, from_slot, creates = [], [], [], 0
        slow: dict[str, float] = {}
        first = min(created.values(), default=0.0)
        for req in log["received"]:
            if req["path"].endswith("/Calls.json"):
                call_id = req["params"]["Url"].split("/answer/")[1].split("?")[0]
                if call_id in created:
                    creates += 1
                    latencies.append(req["at"] - created[call_id])
                    slow[call_id] = req["at"] - created[call_id]
                    if call_id in slots:  # where the time goes: claiming (to the pacing slot), then sending
                        to_slot.append(slots[call_id] - created[call_id])
                        from_slot.append(req["at"] - slots[call_id])
        return {
            "phase": "paced",
            "calls": a.calls,
            "offered_per_s": a.rate,
            "cps_limit": a.cps,
            "create_requests": creates,
            "statuses": _count(r.status for r in rows),
            "start_to_create": summary_ms(latencies),
            "start_to_slot": summary_ms(to_slot),
            "slot_to_create": summary_ms(from_slot),
            "goal_p99_under_100ms": percentile([x * 1000 for x in latencies], 99) < 100,
            # when in the phase the slow ones were started (seconds from the first start): a cluster shows a
            # pause of the server, a spread shows a steady cost
            "over_100ms_started_at_s": sorted(round(created[c] - first, 1) for c, x in slow.items() if x > 0.1),
        }

    async def burst(self) -> dict[str, Any]:
        a = self.args
        partner_id, key, agent_id = await self.partner(concurrency=a.calls, cps=a.burst_cps)
        from voxline.app import create_app
        from voxline.store.models import Partner

        app = create_app(ctx=self.ctx)  # no dialer in this process: the calls wait in the queue
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x/api/v2", headers=headers
        ) as c:
            for chunk in range(0, a.calls, 50):
                rs = await asyncio.gather(
                    *(
                        c.post(
                            "/calls/start",
                            json={
                                "agent_id": agent_id,
                                "provider": "twilio",
                                "to_number": callee(i, a.answered_share),
                                "variables": {},
                            },
                        )
                        for i in range(chunk, min(a.calls, chunk + 50))
                    )
                )
                assert all(r.status_code == 200 for r in rs), rs[0].text
        async with self.ctx.db.transaction() as s:
            (await s.get(Partner, partner_id)).sandbox_concurrency_limit = a.limit  # a sandbox key's calls
        proc, base = self.serve()
        try:
            rows = await self.wait_done(partner_id, a.calls, within=a.calls / min(a.burst_cps, 50) + 180)
            log = await _sandbox_log(base, self.ctx.settings)
        finally:
            self.stop(proc)
        dials = sorted(r.dialed_at.timestamp() for r in rows)
        gaps = [b - x for x, b in zip(dials, dials[1:], strict=False)]
        peak = _max_overlap([(r.dialed_at.timestamp(), r.ended_at.timestamp()) for r in rows])
        creates = sum(1 for q in log["received"] if q["path"].endswith("/Calls.json"))
        return {
            "phase": "burst",
            "calls": a.calls,
            "cps_limit": a.burst_cps,
            "concurrency_limit": a.limit,
            "dials_per_s": round((len(dials) - 1) / (dials[-1] - dials[0]), 1),
            "peak_concurrent": peak,
            "min_gap_ms": round(min(gaps) * 1000, 2),
            "create_requests": creates,
            "statuses": _count(r.status for r in rows),
            "limits_held": peak <= a.limit and min(gaps) >= 1 / a.burst_cps - 0.002 and creates == a.calls,
        }

    async def close(self) -> None:
        await self.ctx.close()
        if self.schema:
            import asyncpg

            conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            await conn.close()


async def _sandbox_log(base: str, settings: Any) -> dict[str, Any]:
    """The Twilio emulator's log: it takes the operator's token, derived from the deployment key."""
    from voxline.sandbox.credentials import seal_for_key

    headers = {"Authorization": f"Bearer {seal_for_key(settings.resolved_encryption_key).observer_token()}"}
    async with httpx.AsyncClient(timeout=60) as http:
        r = await http.get(f"{base}/sandbox/twilio/_sandbox/log", headers=headers)
        r.raise_for_status()
        return r.json()


def _count(values) -> dict[str, int]:  # noqa: ANN001
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0, help="offered starts/s in the paced phase")
    parser.add_argument("--cps", type=float, default=100.0, help="connection calls/s limit in the paced phase")
    parser.add_argument("--burst-cps", type=float, default=200.0, help="connection calls/s limit in the burst")
    parser.add_argument("--limit", type=int, default=50, help="partner concurrency limit in the burst")
    parser.add_argument("--answered-share", type=float, default=0.1, help="share of callees who answer")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--phases", default="paced,burst")
    args = parser.parse_args()
    results = []
    for backend in args.backends.split(","):
        bench = Bench(backend, args)
        await bench.setup()
        try:
            for phase in [getattr(bench, name) for name in args.phases.split(",")]:
                result = {"backend": backend, **await phase()}
                results.append(result)
                print(result, flush=True)
        finally:
            await bench.close()
    rows = []
    for r in results:
        lat = r.get("start_to_create", {})
        rows.append(
            {
                "backend": r["backend"],
                "phase": r["phase"],
                "calls": r["calls"],
                "dials/s": r.get("dials_per_s", ""),
                "p50 ms": lat.get("p50_ms", ""),
                "p99 ms": lat.get("p99_ms", ""),
                "peak/limit": f"{r['peak_concurrent']}/{r['concurrency_limit']}" if "peak_concurrent" in r else "",
                "min gap ms": r.get("min_gap_ms", ""),
                "creates": r["create_requests"],
                "ok": r.get("limits_held", r.get("goal_p99_under_100ms")),
            }
        )
    print_table(
        "Dialer: sandbox calls through the carrier emulators",
        rows,
        ["backend", "phase", "calls", "dials/s", "p50 ms", "p99 ms", "peak/limit", "min gap ms", "creates", "ok"],
    )
    write_json("dialer", {"args": vars(args), "results": results})


if __name__ == "__main__":
    asyncio.run(main())
