"""Run real `voxline` processes (CLI and server) for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voxline", *args], env=env, capture_output=True, text=True, timeout=60)


def cli_json(env: dict[str, str], *args: str) -> dict:
    done = cli(env, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@contextmanager
def serving(env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """Start `voxline serve` and yield its base URL once /healthz answers; stop it at the end."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxline", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"voxline serve exited early:\n{proc.stdout.read()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("voxline serve did not start in 30 s")
            time.sleep(0.1)
        yield base
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Stop a server process as a supervisor would: SIGTERM, then SIGKILL after 15 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def process_env(database) -> dict[str, str]:  # noqa: ANN001
    env = database.env()
    env.pop("VOXLINE_RATE_LIMIT_PER_MIN", None)
    env.pop("VOXLINE_CALLS_RATE_LIMIT_PER_MIN", None)
    env["VOXLINE_LOG_LEVEL"] = "warning"
    env["VOXLINE_CALLING_HOURS"] = "00:00-24:00"  # the fuzzed server starts calls at any hour
    # These tests drive the HTTP API only; with live keys a dialer would try to reach the real carrier.
    env["VOXLINE_DIALER_ENABLED"] = "false"
    # A public URL, or live calls are refused (nothing is dialed: the dialer is off).
    env["VOXLINE_PUBLIC_BASE_URL"] = "https://voxline.example.test"
    # The checkout's own code, also when the virtualenv's editable install points at another checkout.
    path = os.pathsep.join([os.getcwd(), os.path.join(os.getcwd(), "src")])
    return {k: v for k, v in env.items() if k != "PYTHONPATH"} | {"PYTHONPATH": path}
