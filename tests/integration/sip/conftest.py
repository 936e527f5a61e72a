"""Real SIP software on loopback: SIPp (sip-tester) driven by the scenario files in tests/sip, and baresip.

The binaries are Debian packages that `.ci/run` installs; a test that cannot find one fails and says so
(a SIP test never skips). The `live` server of the telephony tests places the calls: a live-key partner's
SIP connection points its trunk at the SIPp process of the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import Tenant, create_agent
from tests.integration.telephony.conftest import LiveServer, live  # noqa: F401 - the shared live server
from voxline.core import keys

SCENARIOS = Path(__file__).resolve().parents[2] / "sip"


def binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: the SIP tests need it (apt-get install -y {package}; .ci/run does)")
    return path


# Ports for SIPp and baresip come from below the kernel's ephemeral range (32768-60999 on Linux), where no
# socket bound to port 0 (PJSIP's RTP, any client) can land, and each test process has its own slice of it:
# a port checked free here cannot be taken by another process before SIPp or baresip binds it.
_PORTS_BELOW_EPHEMERAL = (20000, 32000)
_SLICE = 1500
_STEP = 48  # baresip takes its RTP ports from the 40 above its SIP port
_next_port: list[int] = []


def _slice_start() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    slices = (_PORTS_BELOW_EPHEMERAL[1] - _PORTS_BELOW_EPHEMERAL[0]) // _SLICE
    return _PORTS_BELOW_EPHEMERAL[0] + (index % slices) * _SLICE


def free_udp_port() -> int:
    """An even port free for UDP and TCP both (SIPp and PJSIP may use either), with its neighbour free for
    RTCP, taken in turn from this test process's own slice of ports."""
    start = _slice_start()
    if not _next_port:
        _next_port.append(start)
    for _ in range(_SLICE // _STEP):
        port = _next_port[0]
        _next_port[0] = start + (port + _STEP - start) % (_SLICE - _STEP)
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u,
                socket.socket() as t,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u2,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u3,
            ):
                u.bind(("127.0.0.1", port))
                t.bind(("127.0.0.1", port))
                u2.bind(("127.0.0.1", port + 1))
                u3.bind(("127.0.0.1", port + 2))
        except OSError:
            continue
        return port
    raise AssertionError(f"no free port pair left in {start}-{start + _SLICE}")


@dataclass
class Sipp:
    """One SIPp process running one scenario as the trunk (UAS), for one call."""

    scenario: str
    port: int
    proc: asyncio.subprocess.Process
    log_dir: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def finished(self, wait: float = 30.0) -> int:
        """SIPp's exit code: 0 when the call went through the scenario, 1 when it failed in it."""
        try:
            await asyncio.wait_for(self.proc.wait(), wait)
        except TimeoutError:
            raise AssertionError(f"SIPp ({self.scenario}) did not finish: {self.output()}") from None
        return self.proc.returncode or 0

    def output(self) -> str:
        texts = [p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("*")) if p.is_file()]
        return "\n".join(texts)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


async def run_sipp(
    tmp_path: Path,
    scenario: str,
    *,
    talk_ms: int = 1000,
    calls: int = 1,
    files: dict[str, bytes] | None = None,
    echo: bool = False,
    **variables: str,
) -> Sipp:
    """SIPp as the trunk for one call; `files` are written to its working directory (e.g. callee.wav);
    `echo`: SIPp sends every RTP packet back where it came from."""
    sipp = binary("sipp", "sip-tester")
    port = free_udp_port()
    media_port = free_udp_port()
    log_dir = tmp_path / f"sipp-{uuid.uuid4().hex[:6]}"
    log_dir.mkdir()
    for name, data in (files or {}).items():
        (log_dir / name).write_bytes(data)
    args = [
        sipp,
        "-sf",
        str(SCENARIOS / scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        str(media_port),
        "-m",
        str(calls),
        "-d",
        str(talk_ms),
        "-timeout",
        "40s",
        "-timeout_error",
        "-nostdin",
        "-trace_err",
        "-error_file",
        str(log_dir / "errors.log"),
        "-trace_screen",
        "-screen_file",
        str(log_dir / "screen.log"),
        "-max_recv_loops",
        "100",
    ]
    if echo:
        args.append("-rtp_echo")
    for name, value in variables.items():
        args += ["-set", name, value]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=log_dir, stdout=asyncio.subprocess.DEVNULL, stderr=(log_dir / "stderr.log").open("wb")
    )
    await asyncio.sleep(0.2)  # let it bind its port
    if proc.returncode is not None:
        raise AssertionError(f"SIPp did not start: {(log_dir / 'stderr.log').read_text()}")
    return Sipp(scenario, port, proc, log_dir)


@dataclass
class SipCaller:
    tenant: Tenant
    agent: dict


async def make_sip_caller(
    server: LiveServer, trunk: str, *, mode: str = keys.LIVE, agent_fields: dict | None = None, **creds
) -> SipCaller:
    """A partner (live key unless told) with an agent and a SIP connection to `trunk` (host:port)."""
    from voxline.accounts import partners

    issued = await partners.create_partner(
        server.ctx, f"sip-{uuid.uuid4().hex[:10]}", partners.Limits(concurrency=20, sandbox_concurrency=20)
    )
    if mode == keys.TEST:
        issued = await partners.create_key(server.ctx, issued.partner_id, keys.TEST)
    tenant = Tenant(issued.partner_id, issued.api_key, "live" if mode == keys.LIVE else "sandbox")
    agent = await create_agent(server.api, tenant, **(agent_fields or {}))
    body = {"sip_host": trunk, "did_number": "+14155550142", "transport": "UDP", **creds}
    r = await server.api.put("/config/telephony/sip", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return SipCaller(tenant, agent)


@pytest_asyncio.fixture
async def sipp_runs(tmp_path: Path) -> AsyncIterator[list[Sipp]]:
    """The SIPp processes a test started, killed at its end whatever happened."""
    runs: list[Sipp] = []
    yield runs
    for run in runs:
        await run.stop()


@pytest_asyncio.fixture
async def sip_live(live: LiveServer) -> AsyncIterator[LiveServer]:  # noqa: F811
    """The live server holding answered calls with the sandbox responder (a tone; it records what it hears)
    on live calls too: a SIPp trunk is no person."""
    from voxline.sandbox.responder import Responder

    before = getattr(live.app.state, "call_runtime_factory", None)
    live.app.state.call_runtime_factory = lambda ctx: Responder(speak_secs=1.0, heard=live.sandbox.heard)
    yield live
    live.app.state.call_runtime_factory = before


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every SIP test runs in one test process, one after another. PJSIP no longer takes a process down
    (its media ports outlive its clock; its socket table is never overfilled; it runs in worker processes),
    but beside other test processes the SIP tests still fail now and then: SIPp's and baresip's ports are
    picked free, then PJSIP workers elsewhere pick their RTP ports at random and may take one. (The
    sandbox callee that heard only silence was the gateway losing an answer that came back before it knew
    the call's key, and a callee that hung up before a loaded server's first frame: both fixed.)"""
    for item in items:
        if "tests/integration/sip/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("sip"))


class TransferringRuntime:
    """A call runtime that transfers the call as the voice runtime's tool does: it talks for a moment, asks the
    carrier to transfer to `to_number`, notes it in `outcome`, and keeps talking until the call ends."""

    def __init__(self, to_number: str, outcome: list[str]) -> None:
        self.to_number = to_number
        self.outcome = outcome

    async def run(self, channel) -> None:  # noqa: ANN001
        from voxline.sandbox.responder import Responder

        talk = asyncio.create_task(Responder(speak_secs=0.2).run(channel))
        await asyncio.sleep(0.5)
        assert channel.control is not None and channel.control.supports_transfer
        await channel.control.transfer(self.to_number)
        self.outcome.append("transferred")
        await asyncio.wait_for(talk, 10)
