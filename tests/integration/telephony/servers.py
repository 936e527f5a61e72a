"""Real `voxline serve` processes on loopback ports, pointed at the test database, for the tests that
need more than one process or a process to die."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.integration.telephony.conftest import emulated_api_bases, free_port
from voxline.sandbox.credentials import seal_for_key


@dataclass
class ServerProcess:
    port: int
    proc: subprocess.Popen
    log: Path
    observer_token: str = ""  # the emulators' diagnostic log takes it (derived from the deployment key)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def sandbox_log(self, provider: str = "twilio") -> dict:
        """What this server's emulator saw: its diagnostic log takes the operator's token, derived from the key."""
        headers = {"Authorization": f"Bearer {self.observer_token}"}
        r = httpx.get(f"{self.base_url}/sandbox/{provider}/_sandbox/log", headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


def start_server(  # noqa: ANN201
    database,
    tmp_path: Path,
    *,
    port: int | None = None,
    wait: bool = True,
    workers: int = 1,
    **settings: str,  # noqa: ANN001
) -> ServerProcess:
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **database.env(),
        "VOXLINE_PUBLIC_BASE_URL": base,
        "VOXLINE_RATE_LIMIT_PER_MIN": "1000000",
        "VOXLINE_CALLS_RATE_LIMIT_PER_MIN": "1000000",
        "VOXLINE_DIALER_POLL_SECS": "0.05",
        "VOXLINE_CALL_RUNTIME": "responder",
        "VOXLINE_SANDBOX_CALLEE": "tone",  # the test-tone runtime meets the tone callee (see conftest.py)
        "VOXLINE_SESSION_FINISH_GRACE_SECS": "0.5",
        "VOXLINE_CARRIER_HANGUP_GRACE_SECS": "1",
        "VOXLINE_WEBHOOK_WORKER_ENABLED": "false",
        "VOXLINE_LOG_LEVEL": "warning",
        "VOXLINE_CALLING_HOURS": "00:00-24:00",  # tests run at any hour; the hours' own tests set a policy
    }
    # never a real carrier from a test
    env.update({f"VOXLINE_{name.upper()}": url for name, url in emulated_api_bases(base).items()})
    env.update({f"VOXLINE_{k.upper()}": v for k, v in settings.items()})
    log = tmp_path / f"server-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxline", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=os.getcwd(),
    )
    observer = seal_for_key(database.settings().resolved_encryption_key).observer_token()
    server = ServerProcess(port, proc, log, observer)
    if wait:
        wait_ready(server)
    return server


def wait_ready(server: ServerProcess) -> ServerProcess:
    proc, log, base = server.proc, server.log, server.base_url
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"server did not start: {log.read_text()[-3000:]}")
        time.sleep(0.1)
