"""POST /calls/start throughput and latency against one real `voxline serve` process.

Starts the server on SQLite and on PostgreSQL (a fresh schema), creates a partner with raised rate and
concurrency limits, then drives /calls/start from concurrent keep-alive clients for a fixed time (closed
loop: each client sends its next request when the last is answered) and reports requests/s, p50/p99
latency and the server's CPU per request. The load generator runs on the same 2-core machine.

Open loop (`--open-at 0.8`): after the closed loop, offer a fixed rate, that fraction of the throughput
just measured (or `--rate N` requests/s), whatever the answers take, and report latency at that rate. Each
request's latency counts from the moment it was due, so a server that falls behind is charged for the
queue it builds. This is the figure the goal's "p99 at 80% of capacity" means.

Calls end (`--active 100`, PostgreSQL): the load generator ends the oldest pending calls several times a
second, keeping about that many active, as a partner's limit keeps them in real use. Without it every call
of the run stays pending, and each start's count of lines in use (which the limit needs) reads every one of
them: the cost per start grew with the run's length.

Round trips (`--round-trips`): the server reaches PostgreSQL through a relay that counts the server's
ReadyForQuery messages (one per round trip); it reports round trips per start over sequential starts.

    python bench/api_start.py [--seconds 20] [--clients 32] [--backends sqlite,postgres]
                              [--open-at 0.8 | --rate 300] [--round-trips]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import PG_URL, fresh_schema, print_table, summary_ms, write_json  # noqa: E402
from tests.e2e.server import free_port, stop  # noqa: E402
from tests.pg_wire import RoundTrips  # noqa: E402

VOICE_ID = "6176b5f2-e8df-572a-92e9-54414a621127"
TWILIO = {
    "account_sid": "AC" + "0123456789abcdef" * 2,
    "auth_token": "0123456789abcdef" * 2,
    "from_number": "+14155551234",
}


def server_env(backend: str, data_dir: str) -> tuple[dict[str, str], str | None]:
    # The API alone is measured: no dialer (it would try to reach the real carrier for these live-key calls).
    env = {
        **os.environ,
        "VOXLINE_DATA_DIR": data_dir,
        "VOXLINE_LOG_LEVEL": "warning",
        "VOXLINE_DIALER_ENABLED": "false",
        "VOXLINE_CALLING_HOURS": "00:00-24:00",
        # a public URL, or live calls are refused; nothing is dialed, so nothing is sent there
        "VOXLINE_PUBLIC_BASE_URL": "https://voxline.example.test",
    }  # any hour
    schema = None
    if backend == "postgres":
        schema = fresh_schema()
        env.update(VOXLINE_DATABASE_URL=PG_URL, VOXLINE_DATABASE_SCHEMA=schema)
    return env, schema


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used: per request, it hardly depends on what else the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _local_ports_to(pid: int, remote_port: int) -> set[int]:
    """The local TCP ports of process `pid`'s connections to `remote_port` on this machine."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[9] in inodes and int(f[2].rsplit(":", 1)[1], 16) == remote_port:
                ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def postgres_cpu_seconds(server_pid: int) -> float:
    """CPU used so far by the PostgreSQL backends serving the server's connections (found by their client
    ports; on a shared machine, other clients' backends are not counted)."""
    ports = _local_ports_to(server_pid, 5432)
    rows = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "test", "-Atc", "SELECT pid, client_port FROM pg_stat_activity"],
        capture_output=True,
        text=True,
    ).stdout.split()
    total = 0.0
    for row in rows:
        pid, _, port = row.partition("|")
        if port and int(port) in ports:
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(pid))
    return total


class CpuMeter:
    """CPU per request: the server, the PostgreSQL backends serving it, and this load generator. (The
    backends' CPU is read from connections open at both ends of the run: the pool keeps them open.)"""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.start = self._read()

    def _read(self) -> tuple[float, float, float]:
        return cpu_seconds(self.pid), postgres_cpu_seconds(self.pid), time.process_time()

    def per_request_ms(self, requests: int) -> dict[str, float]:
        end = self._read()
        server, pg, client = ((b - a) * 1000 / max(1, requests) for a, b in zip(self.start, end, strict=True))
        return {
            "server_cpu_ms_per_req": round(server, 3),
            "pg_cpu_ms_per_req": round(pg, 3),
            "client_cpu_ms_per_req": round(client, 3),
        }


def serve(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxline", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("voxline serve did not start")
        time.sleep(0.1)


def cli_json(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "voxline", *args, "--json"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


async def setup(http: aiohttp.ClientSession) -> str:
    """An agent and a Twilio account for the bench partner; returns the /calls/start body."""
    async with http.post(
        "/api/v2/agent", json={"agent_name": "bench", "prompt": "Call {{callee_name}}", "voice_id": VOICE_ID}
    ) as r:
        agent_id = (await r.json())["data"]["id"]
    async with http.put("/api/v2/config/telephony/twilio", json=TWILIO) as r:
        assert r.status == 200
    return json.dumps(
        {
            "agent_id": agent_id,
            "to_number": "+919876543210",
            "provider": "twilio",
            "variables": {"callee_name": "Sajal"},
        }
    )


async def closed_loop(http: aiohttp.ClientSession, body: str, seconds: float, clients: int, server_pid: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            async with http.post("/api/v2/calls/start", data=body) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1
            if r.status == 200:
                latencies.append(time.perf_counter() - t0)

    t_start, meter = time.perf_counter(), CpuMeter(server_pid)
    await asyncio.gather(*[worker() for _ in range(clients)])
    elapsed = time.perf_counter() - t_start
    return _result("closed", clients, latencies, statuses, elapsed, meter)


async def open_loop(http: aiohttp.ClientSession, body: str, seconds: float, rate: float, server_pid: int) -> dict:
    """Send at `rate` per second on a fixed schedule, not waiting for answers; latency from each send's due time."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    late: list[float] = []  # how late the generator itself sent (its own loop was busy)

    async def one(due: float) -> None:
        late.append(time.perf_counter() - due)
        async with http.post("/api/v2/calls/start", data=body) as r:
            await r.read()
            statuses[r.status] = statuses.get(r.status, 0) + 1
        if r.status == 200:
            latencies.append(time.perf_counter() - due)

    n = int(seconds * rate)
    tasks = []
    t_start, meter = time.perf_counter(), CpuMeter(server_pid)
    for i in range(n):
        due = t_start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t_start
    result = _result("open", None, latencies, statuses, elapsed, meter)
    late_ms = sorted(x * 1000 for x in late)
    return {
        **result,
        "offered_per_s": round(rate, 1),
        "sender_late_p99_ms": round(late_ms[int(0.99 * (len(late_ms) - 1))], 2),
    }


def _result(
    loop: str, clients: int | None, latencies: list[float], statuses: dict, elapsed: float, meter: CpuMeter
) -> dict:
    return {
        "loop": loop,
        "clients": clients if clients is not None else "-",
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "ok": len(latencies),
        "statuses": statuses,
        "seconds": round(elapsed, 1),
        # CPU per request (all requests, including the few not answered 200): it hardly depends on load
        **meter.per_request_ms(sum(statuses.values())),
        **summary_ms(latencies),
    }


async def count_round_trips(http: aiohttp.ClientSession, body: str, relay: RoundTrips, n: int = 100) -> float:
    """Round trips per start, over `n` sequential starts after a warm-up (statements prepared)."""
    for _ in range(10):
        async with http.post("/api/v2/calls/start", data=body) as r:
            assert r.status == 200, await r.text()
    before = relay.count
    for _ in range(n):
        async with http.post("/api/v2/calls/start", data=body) as r:
            assert r.status == 200, await r.text()
    return (relay.count - before) / n


async def end_calls(schema: str, keep: int, stop: asyncio.Event) -> None:
    """Keep about `keep` calls active: end the older pending ones, as their conversations would."""
    conn = await asyncpg.connect(PG_URL.replace("+asyncpg", ""), server_settings={"search_path": schema})
    try:
        while not stop.is_set():
            await conn.execute(
                "UPDATE calls SET status = 'completed', ended_at = now() WHERE id IN (SELECT id FROM calls "
                "WHERE status = 'pending' ORDER BY created_at DESC OFFSET $1)",
                keep,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
    finally:
        await conn.close()


async def drive(
    base: str, key: str, args: argparse.Namespace, server_pid: int, relay: RoundTrips | None, schema: str | None
) -> list[dict]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=max(args.clients, 512))
    async with aiohttp.ClientSession(base_url=base, headers=headers, connector=connector) as http:
        body = await setup(http)
        if relay is not None:
            return [{"loop": "sequential", "round_trips_per_start": await count_round_trips(http, body, relay)}]
        runs = []
        stop = asyncio.Event()
        ender = asyncio.ensure_future(end_calls(schema, args.active, stop)) if schema and args.active else None
        try:
            rate = args.rate
            if not rate:
                runs.append(await closed_loop(http, body, args.seconds, args.clients, server_pid))
                rate = args.open_at * runs[-1]["requests_per_s"] if args.open_at else 0
            if rate:
                runs.append(await open_loop(http, body, args.seconds, rate, server_pid))
        finally:
            stop.set()
            if ender is not None:
                await ender
        return [{"active": args.active if ender else "all", **r} for r in runs]


async def _with_relay(env: dict[str, str], run) -> list[dict]:  # noqa: ANN001
    relay = RoundTrips()
    await relay.start()
    try:
        env["VOXLINE_DATABASE_URL"] = relay.url(PG_URL)
        return await asyncio.to_thread(run, env, relay)
    finally:
        await relay.close()


def run_backend(backend: str, args: argparse.Namespace) -> list[dict]:
    with tempfile.TemporaryDirectory() as data_dir:
        env, schema = server_env(backend, data_dir)
        key = cli_json(
            env,
            "partner",
            "create",
            "bench",
            "--rate-limit",
            "10000000",
            "--calls-rate-limit",
            "10000000",
            "--concurrency",
            "100000",
        )["api_key"]

        def run(env: dict[str, str], relay: RoundTrips | None) -> list[dict]:
            proc, base = serve(env)
            try:  # the client gets its own loop (the relay, if any, runs on the caller's)
                return asyncio.run(drive(base, key, args, proc.pid, relay, schema))
            finally:
                stop(proc)

        if args.round_trips:
            if backend != "postgres":
                return []
            runs = asyncio.run(_with_relay(env, run))
        else:
            runs = run(env, None)
    return [{"backend": backend, **r} for r in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--open-at", type=float, default=0.0, help="then offer this fraction of the closed loop's rate")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop only, at this many requests/s")
    parser.add_argument("--active", type=int, default=100, help="PostgreSQL: calls kept active (0: none end)")
    parser.add_argument("--round-trips", action="store_true", help="count PostgreSQL round trips per start")
    args = parser.parse_args()
    rows = [row for b in args.backends.split(",") for row in run_backend(b, args)]
    if args.round_trips:
        print_table("POST /calls/start: PostgreSQL round trips per start", rows, ["backend", "round_trips_per_start"])
        write_json("api_start_round_trips", {"runs": rows})
        return
    print_table(
        "POST /calls/start, one server process (load generator on the same machine)",
        rows,
        [
            "backend",
            "loop",
            "active",
            "clients",
            "offered_per_s",
            "requests_per_s",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "server_cpu_ms_per_req",
            "pg_cpu_ms_per_req",
            "client_cpu_ms_per_req",
            "sender_late_p99_ms",
            "ok",
            "statuses",
        ],
    )
    write_json("api_start", {"goal": ">= 1000 starts/s; p99 < 50 ms at 80% of it, on PostgreSQL", "runs": rows})


if __name__ == "__main__":
    main()
