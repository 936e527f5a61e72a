"""POST /calls/start throughput and latency against one real `voxline serve` process.

Starts the server on SQLite and on PostgreSQL (a fresh schema), creates a partner with raised rate and
concurrency limits, then drives /calls/start from concurrent keep-alive clients for a fixed time and
reports requests/s and p50/p99 latency. The load generator runs on the same 2-core machine.

    python bench/api_start.py [--seconds 20] [--clients 32] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import PG_URL, fresh_schema, print_table, summary_ms, write_json  # noqa: E402
from tests.e2e.server import free_port  # noqa: E402

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


async def drive(base: str, key: str, seconds: float, clients: int, server_pid: int) -> dict:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base_url=base, headers=headers, connector=connector) as http:
        async with http.post(
            "/api/v2/agent", json={"agent_name": "bench", "prompt": "Call {{callee_name}}", "voice_id": VOICE_ID}
        ) as r:
            agent_id = (await r.json())["data"]["id"]
        async with http.put("/api/v2/config/telephony/twilio", json=TWILIO) as r:
            assert r.status == 200
        body = json.dumps(
            {
                "agent_id": agent_id,
                "to_number": "+919876543210",
                "provider": "twilio",
                "variables": {"callee_name": "Sajal"},
            }
        )
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

        t_start, cpu_start = time.perf_counter(), cpu_seconds(server_pid)
        await asyncio.gather(*[worker() for _ in range(clients)])
        elapsed, cpu = time.perf_counter() - t_start, cpu_seconds(server_pid) - cpu_start
    return {
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "ok": len(latencies),
        "statuses": statuses,
        "seconds": round(elapsed, 1),
        # the server's CPU per request (all requests, including the few not answered 200)
        "server_cpu_ms_per_req": round(cpu * 1000 / max(1, sum(statuses.values())), 3),
        **summary_ms(latencies),
    }


def run_backend(backend: str, seconds: float, clients: int) -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        env, _schema = server_env(backend, data_dir)
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
        proc, base = serve(env)
        try:
            result = asyncio.run(drive(base, key, seconds, clients, proc.pid))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"backend": backend, "clients": clients, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    rows = [run_backend(b, args.seconds, args.clients) for b in args.backends.split(",")]
    print_table(
        "POST /calls/start, one server process (load generator on the same machine)",
        rows,
        [
            "backend",
            "clients",
            "requests_per_s",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "server_cpu_ms_per_req",
            "ok",
            "statuses",
        ],
    )
    write_json("api_start", {"goal": ">= 1000 starts/s; p99 < 50 ms at 80% of it, on PostgreSQL", "runs": rows})


if __name__ == "__main__":
    main()
