"""PJSIP in worker processes: many short calls in quick succession are placed, answered and ended (calls
ending while PJSIP's media clock runs, calls beyond a worker's 4, sockets closing faster than PJSIP recycles
them), and a worker that dies ends only its own calls while the server goes on placing new ones."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from tests.integration.sip.churn import churn, sipp_trunk
from tests.integration.sip.conftest import make_sip_caller, run_sipp
from tests.integration.telephony.conftest import LiveServer, wait_status
from voxline.telephony import sip_gateway
from voxline.telephony.sip_agent import SipBusy, SipTarget
from voxline.telephony.sip_workers import SipWorkerPool

TERMINAL = ("completed", "busy", "no_answer", "failed", "canceled")


async def test_short_calls_in_quick_succession_through_two_workers() -> None:
    """Before the agent's fixes a worker aborted within a second of this (PJSIP's socket table) or
    crashed in the garbage collector (media ports torn down under the clock). PJSIP 2.15's own race (RTP
    sent on a transport a call's end has just closed) may still take one worker down: its calls end, a new
    worker takes the next ones."""
    sipp, target = sipp_trunk(4)
    pool = SipWorkerPool(max_workers=2, bind_host="127.0.0.1", log_level=0)
    pool.start()
    try:
        counts = await asyncio.to_thread(churn, pool, target, 3.0, 9)  # 9 at once: 8 fit, one is refused
    finally:
        pool.stop()
        sipp.kill()
    print(f"\nchurn through 2 SIP workers for 3 s: {counts}, workers started {pool.workers_started}")
    assert counts["stuck"] == 0, counts
    assert counts["answered"] >= 30, counts
    assert counts["refused"] > 0, counts
    assert pool.workers_lost <= 1, (pool.workers_lost, counts)


async def test_a_worker_that_dies_ends_its_calls_and_the_next_call_goes_through(
    sip_live: LiveServer, tmp_path, sipp_runs
) -> None:
    gw = sip_gateway.gateway()
    assert isinstance(gw.agent, SipWorkerPool), "PJSIP runs in worker processes by default"
    sipp = await run_sipp(tmp_path, "answer_wait_bye.xml")
    sipp_runs.append(sipp)
    caller = await make_sip_caller(sip_live, sipp.host)
    body = {"agent_id": caller.agent["id"], "to_number": "+14155550123", "provider": "sip", "variables": {}}
    r = await sip_live.api.post("/calls/start", json=body, headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    call_id = r.json()["data"]["call_id"]
    await wait_status(sip_live, caller, call_id, ("in_progress",))  # type: ignore[arg-type]
    holding = [w.pid for w in gw.agent._workers if w.calls]  # noqa: SLF001
    assert len(holding) == 1, holding
    os.kill(holding[0], signal.SIGKILL)  # as PJSIP's abort() would
    t0 = time.monotonic()
    call = await wait_status(sip_live, caller, call_id, TERMINAL, wait=10)  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 5
    assert call["status"] in ("completed", "failed"), call
    again = await run_sipp(tmp_path, "answer_then_bye.xml", talk_ms=500)
    sipp_runs.append(again)
    caller = await make_sip_caller(sip_live, again.host)
    r = await sip_live.api.post(
        "/calls/start", json=body | {"agent_id": caller.agent["id"]}, headers=caller.tenant.headers
    )
    assert r.status_code == 200, r.text
    call = await wait_status(sip_live, caller, r.json()["data"]["call_id"], TERMINAL, wait=20)  # type: ignore[arg-type]
    assert call["status"] == "completed", call
    assert await again.finished() == 0, again.output()


async def test_behind_nat_the_public_address_is_in_the_contact_and_the_sdp(tmp_path, sipp_runs) -> None:
    """`sip_public_host`: what a trunk must reach us at, in the INVITE's Contact and its SDP (SIPp checks
    both, then answers 486)."""
    from tests.integration.sip.churn import _Events

    sipp = await run_sipp(tmp_path, "nat_public_address.xml")
    sipp_runs.append(sipp)
    pool = SipWorkerPool(max_workers=1, bind_host="127.0.0.1", public_host="192.0.2.10", log_level=0)
    pool.start()
    try:
        events = _Events()
        target = SipTarget(uri=f"sip:+15550001@{sipp.host};transport=udp", from_uri="sip:+15550002@127.0.0.1")
        _key, placed = pool.place(target, events)
        await asyncio.wrap_future(placed)
        assert await asyncio.to_thread(events.done.wait, 10)
    finally:
        pool.stop()
    assert events.end is not None and events.end.code == 486, events.end
    assert await sipp.finished() == 0, sipp.output()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1: (its PEM, the PEM of certificate and key that baresip serves)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(cert_pem)
    (directory / "server.pem").write_bytes(cert_pem + key_pem)
    return directory / "ca.pem", directory / "server.pem"


async def test_a_tls_trunk_is_called_over_tls_and_its_certificate_is_checked(tmp_path) -> None:
    """baresip takes SIP over TLS with a certificate for 127.0.0.1: trusted (sip_tls_ca_file) the call is
    answered and carries audio; with the system's CAs the same trunk is refused (certificate check)."""
    from tests.integration.sip.baresip import start_baresip
    from tests.integration.sip.churn import _Events

    ca, served = _self_signed(tmp_path / "tls")
    phone = await start_baresip(tmp_path / "baresip", "bob", b"\x00\x00" * 8000, certificate=served)
    target = SipTarget(
        uri=f"sip:bob@127.0.0.1:{phone.port + 1};transport=tls", from_uri="sip:+15550002@127.0.0.1", transport="tls"
    )
    ends = []
    try:
        for trusted in (str(ca), None):
            pool = SipWorkerPool(max_workers=1, bind_host="127.0.0.1", log_level=0, tls_ca_file=trusted)
            pool.start()
            try:
                events = _Events()
                key, placed = pool.place(target, events)
                await asyncio.wrap_future(placed)
                await asyncio.sleep(1.5)
                pool.hang_up(key)
                assert await asyncio.to_thread(events.done.wait, 10)
                ends.append(events.end)
            finally:
                pool.stop()
    finally:
        await phone.stop()
    assert ends[0] is not None and ends[0].answered and ends[0].code == 200, (ends, phone.log())
    assert ends[1] is not None and not ends[1].answered and "certificate" in ends[1].reason.lower(), ends


async def test_a_stuck_worker_never_blocks_the_caller_and_is_stopped(tmp_path, sipp_runs) -> None:
    """A worker that stops reading (SIGSTOP here; a PJSIP deadlock in life): our audio to it is dropped at
    once instead of blocking the gateway's loop, and once it has read nothing for 3 s the next message
    stops the worker, which ends its call."""
    from tests.integration.sip.churn import _Events

    sipp = await run_sipp(tmp_path, "answer_wait_bye.xml")
    sipp_runs.append(sipp)
    pool = SipWorkerPool(max_workers=1, bind_host="127.0.0.1", log_level=0)
    pool.start()
    try:
        events = _Events()
        target = SipTarget(uri=f"sip:+15550001@{sipp.host};transport=udp", from_uri="sip:+15550002@127.0.0.1")
        key, placed = pool.place(target, events)
        await asyncio.wrap_future(placed)
        await asyncio.sleep(0.5)
        (pid,) = pool.worker_pids()
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        for _ in range(5000):  # 100 s of audio: far more than the socket and the outbox hold
            pool.send_audio(key, b"\x10\x00" * 160)
        assert time.monotonic() - t0 < 2, "sending audio to a stuck worker blocked"
        for _ in range(60):  # the gateway goes on sending the call's audio
            pool.send_audio(key, b"\x10\x00" * 160)
            await asyncio.sleep(0.1)
        pool.hang_up(key)
        assert await asyncio.to_thread(events.done.wait, 5), "the stuck worker's call never ended"
    finally:
        pool.stop()
    assert events.end is not None and "worker" in events.end.reason, events.end
    assert pool.workers_lost == 1


async def test_each_call_hears_its_own_audio_while_media_ports_are_reused(tmp_path, sipp_runs) -> None:
    """Rounds of 4 and 3 calls at once through one worker, SIPp echoing each call's RTP: each call sends its
    own tone and hears that tone back, never another call's, while PJSIP's media ports pass from call to
    call (_PortPool)."""
    import math
    import struct

    from tests.integration.sip.churn import _Events
    from voxline.sandbox.audio import dominant_hz

    class Heard(_Events):
        def __init__(self) -> None:
            super().__init__()
            self.pcm = bytearray()

        def audio(self, pcm: bytes) -> None:
            self.pcm.extend(pcm)

    def tone(hz: int) -> bytes:
        return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / 8000))) for i in range(8000))

    sipp = await run_sipp(tmp_path, "answer_wait_bye.xml", calls=20, echo=True)
    sipp_runs.append(sipp)
    pool = SipWorkerPool(max_workers=1, bind_host="127.0.0.1", log_level=0)
    pool.start()
    target = SipTarget(uri=f"sip:+15550001@{sipp.host};transport=udp", from_uri="sip:+15550002@127.0.0.1")
    wrong = []
    try:
        for tones in ((400, 700, 1000, 1300), (1300, 400, 1000), (700, 1000, 400, 1300)):
            calls = []
            for hz in tones:
                for _ in range(20):  # SipBusy: the last round's calls are still leaving PJSIP; try again
                    events = Heard()
                    key, placed = pool.place(target, events)
                    try:
                        await asyncio.wrap_future(placed)
                        break
                    except SipBusy:
                        await asyncio.sleep(0.25)
                else:
                    raise AssertionError("the worker refused calls for 5 s after the last round had ended")
                calls.append((key, events, hz))
            await asyncio.sleep(0.6)  # answered, media flowing
            for key, events, hz in calls:
                events.pcm.clear()
                pool.send_audio(key, tone(hz))
            await asyncio.sleep(1.5)
            for key, events, hz in calls:
                heard = dominant_hz(bytes(events.pcm))
                if abs(heard - hz) > 30:
                    wrong.append((hz, heard))
                pool.hang_up(key)
            for _key, events, _hz in calls:
                assert await asyncio.to_thread(events.done.wait, 5)
    finally:
        pool.stop()
    assert wrong == [], f"calls that heard another call's tone (or none): {wrong}"
