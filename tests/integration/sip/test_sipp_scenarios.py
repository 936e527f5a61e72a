"""Real SIP calls from our dialer to SIPp playing the trunk: each scenario ends the call with the status,
disposition and reason a user would expect (POST /calls/start with provider "sip", a live key, the trunk on
loopback). Answered calls are held by the sandbox responder (a tone; it keeps what it hears)."""

from __future__ import annotations

import audioop
import math
import struct
import time
from pathlib import Path

from tests.integration.sip.conftest import SipCaller, Sipp, TransferringRuntime, make_sip_caller, run_sipp
from tests.integration.telephony.conftest import LiveServer, wait_session_done, wait_status
from voxline.telephony import sip_gateway

CALLEE = "+14155550123"
TERMINAL = ("completed", "busy", "no_answer", "failed", "canceled")


async def _start(live: LiveServer, caller: SipCaller) -> str:
    body = {
        "agent_id": caller.agent["id"],
        "to_number": CALLEE,
        "provider": "sip",
        "variables": {"callee_name": "Asha"},
    }
    r = await live.api.post("/calls/start", json=body, headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]["call_id"]


async def _call(live: LiveServer, sipp: Sipp, wait: float = 20.0, **creds: object) -> dict:
    caller = await make_sip_caller(live, sipp.host, **creds)
    call_id = await _start(live, caller)
    return await wait_status(live, caller, call_id, TERMINAL, wait=wait)  # type: ignore[arg-type]


def _mulaw_wav(path: Path, hz: float, secs: float) -> Path:
    """A mu-law 8 kHz WAV (format 7), what SIPp's rtp_stream plays as PCMU."""
    samples = (int(9000 * math.sin(2 * math.pi * hz * i / 8000)) for i in range(int(8000 * secs)))
    pcm = b"".join(struct.pack("<h", v) for v in samples)
    data = audioop.lin2ulaw(pcm, 2)
    fmt = struct.pack("<HHIIHHH", 7, 1, 8000, 8000, 1, 8, 0)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<II", 4, len(data))
    chunks += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    return path


async def test_the_trunk_answers_streams_audio_and_hangs_up(sip_live: LiveServer, tmp_path, sipp_runs) -> None:
    """INVITE → 100 → 180 → 200 → ACK; SIPp streams a 1 kHz WAV over RTP and sends BYE: completed, the
    runtime heard the tone, and the session is filed."""
    wav = _mulaw_wav(tmp_path / "tone.wav", 1000.0, 2.0)
    sipp = await run_sipp(tmp_path, "answer_stream_wav.xml", talk_ms=2500, files={"callee.wav": wav.read_bytes()})
    sipp_runs.append(sipp)
    caller = await make_sip_caller(sip_live, sipp.host)
    t0 = time.monotonic()
    call_id = await _start(sip_live, caller)
    ringing = await wait_status(sip_live, caller, call_id, ("ringing", "in_progress", *TERMINAL))  # type: ignore[arg-type]
    assert ringing["status"] in ("ringing", "in_progress"), ringing
    call = await wait_status(sip_live, caller, call_id, TERMINAL, wait=20)  # type: ignore[arg-type]
    assert call["status"] == "completed" and call["disposition"] == "completed", call
    assert await sipp.finished() == 0, sipp.output()
    assert time.monotonic() - t0 < 15
    print(f"\nINVITE to 200 OK (SIPp): {sip_gateway.gateway().invite_to_answer_ms[-1]:.1f} ms")
    filed = await wait_session_done(sip_live, caller, call_id)  # type: ignore[arg-type]
    assert filed["session"]["processing_complete"]
    log = sip_live.app.state.sandbox.heard
    heard = log.get(call["session_id"], b"")
    assert len(heard) >= 8000 * 2 * 1.0, f"the runtime heard {len(heard)} bytes of the trunk's audio"
    assert audioop.rms(heard, 2) > 2000, "the runtime heard silence, not the trunk's tone"


async def test_we_hang_up_with_bye_when_the_conversation_ends(sip_live: LiveServer, tmp_path, sipp_runs) -> None:
    from voxline.sandbox.responder import Responder

    class Brief(Responder):
        async def run(self, channel) -> None:  # noqa: ANN001 - says its piece, then ends the call
            await channel.serializer.setup(type("S", (), {"audio_in_sample_rate": 8000})())
            await self._speak(channel, 8000)

    sip_live.app.state.call_runtime_factory = lambda ctx: Brief(speak_secs=1.0)
    sipp = await run_sipp(tmp_path, "answer_wait_bye.xml")
    sipp_runs.append(sipp)
    call = await _call(sip_live, sipp)
    assert call["status"] == "completed", call
    assert await sipp.finished() == 0, sipp.output()  # SIPp got our BYE and answered it


async def test_486_is_busy(sip_live: LiveServer, tmp_path, sipp_runs) -> None:
    sipp = await run_sipp(tmp_path, "busy_486.xml")
    sipp_runs.append(sipp)
    call = await _call(sip_live, sipp)
    assert call["status"] == "busy" and call["disposition"] == "busy", call
    assert "486" in (call["error_message"] or ""), call
    assert await sipp.finished() == 0, sipp.output()


async def test_503_fails_with_the_trunks_reason(sip_live: LiveServer, tmp_path, sipp_runs) -> None:
    sipp = await run_sipp(tmp_path, "unavailable_503.xml")
    sipp_runs.append(sipp)
    call = await _call(sip_live, sipp)
    assert call["status"] == "failed", call
    assert "503 Service Unavailable" in (call["error_message"] or ""), call
    assert await sipp.finished() == 0, sipp.output()


async def test_ringing_past_the_ring_timeout_is_canceled_as_no_answer(
    sip_live: LiveServer, tmp_path, sipp_runs
) -> None:
    settings = sip_live.ctx.settings
    before = settings.ring_timeout_secs
    settings.ring_timeout_secs = 2.0
    try:
        sipp = await run_sipp(tmp_path, "ring_no_answer_cancel.xml")
        sipp_runs.append(sipp)
        t0 = time.monotonic()
        call = await _call(sip_live, sipp)
    finally:
        settings.ring_timeout_secs = before
    assert call["status"] == "no_answer" and call["disposition"] == "no_answer", call
    assert time.monotonic() - t0 < 10
    assert await sipp.finished() == 0, sipp.output()  # SIPp saw our CANCEL and the ACK of its 487


async def test_a_ringing_call_canceled_by_request_sends_cancel(sip_live: LiveServer, tmp_path, sipp_runs) -> None:
    sipp = await run_sipp(tmp_path, "ring_no_answer_cancel.xml")
    sipp_runs.append(sipp)
    caller = await make_sip_caller(sip_live, sipp.host)
    call_id = await _start(sip_live, caller)
    await wait_status(sip_live, caller, call_id, ("ringing",))  # type: ignore[arg-type]
    r = await sip_live.api.post(f"/calls/{call_id}/cancel", headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    call = await wait_status(sip_live, caller, call_id, TERMINAL)  # type: ignore[arg-type]
    assert call["status"] == "canceled", call
    assert await sipp.finished() == 0, sipp.output()


async def test_a_trunk_that_never_answers_fails_in_bounded_time(sip_live: LiveServer, tmp_path, sipp_runs) -> None:
    gw = sip_gateway.gateway()
    before = gw.first_response_secs
    gw.first_response_secs = 2.0
    try:
        sipp = await run_sipp(tmp_path, "never_answers.xml")
        sipp_runs.append(sipp)
        t0 = time.monotonic()
        call = await _call(sip_live, sipp)
    finally:
        gw.first_response_secs = before
    assert call["status"] == "failed", call
    assert "no response" in (call["error_message"] or ""), call
    assert time.monotonic() - t0 < 8


async def test_digest_challenge_with_the_right_password_is_answered(sip_live: LiveServer, tmp_path, sipp_runs) -> None:
    sipp = await run_sipp(tmp_path, "digest_auth.xml", user="trunkuser", **{"pass": "s3cret-pw"})
    sipp_runs.append(sipp)
    from voxline.sandbox.responder import Responder

    class Brief(Responder):
        async def run(self, channel) -> None:  # noqa: ANN001
            await self._speak(channel, 8000)

    sip_live.app.state.call_runtime_factory = lambda ctx: Brief(speak_secs=0.5)
    call = await _call(sip_live, sipp, outbound_username="trunkuser", outbound_password="s3cret-pw")
    assert call["status"] == "completed", call
    assert await sipp.finished() == 0, sipp.output()  # verifyauth passed: SIPp answered 200, then got our BYE


async def test_digest_challenge_with_a_wrong_password_fails(sip_live: LiveServer, tmp_path, sipp_runs) -> None:
    sipp = await run_sipp(tmp_path, "digest_auth.xml", user="trunkuser", **{"pass": "s3cret-pw"})
    sipp_runs.append(sipp)
    call = await _call(sip_live, sipp, outbound_username="trunkuser", outbound_password="wrong-pw")
    assert call["status"] == "failed", call
    assert "403 Forbidden" in (call["error_message"] or ""), call
    assert await sipp.finished() == 0, sipp.output()


async def test_more_calls_at_once_than_one_pjsip_holds_go_to_another_worker(
    sip_live: LiveServer, tmp_path, sipp_runs
) -> None:
    """PJSIP (as the pjsua2-python wheel builds it) holds 4 calls at once per process; with its worker
    processes the server holds 6 at once, none refused (no retries allowed here)."""
    settings = sip_live.ctx.settings
    before = settings.dialer_max_attempts
    settings.dialer_max_attempts = 1
    try:
        sipp = await run_sipp(tmp_path, "answer_then_bye.xml", talk_ms=3000, calls=6)
        sipp_runs.append(sipp)
        caller = await make_sip_caller(sip_live, sipp.host)
        ids = [await _start(sip_live, caller) for _ in range(6)]
        calls = [await wait_status(sip_live, caller, i, TERMINAL, wait=30) for i in ids]  # type: ignore[arg-type]
    finally:
        settings.dialer_max_attempts = before
    assert [c["status"] for c in calls] == ["completed"] * 6, [(c["status"], c["error_message"]) for c in calls]
    assert await sipp.finished() == 0, sipp.output()


def _with_payload_type(pcap: bytes, pt: int) -> bytes:
    """The capture's RTP packets (Ethernet/IPv4/UDP) with payload type `pt`: a trunk sends telephone-events
    with the payload type our offer named (PJSIP offers 120), whatever its capture used."""
    out, off = bytearray(pcap), 24
    while off + 16 <= len(pcap):
        incl = struct.unpack("<I", pcap[off + 8 : off + 12])[0]
        rtp = off + 16 + 14 + 20 + 8
        if incl > 14 + 20 + 8 + 2:
            out[rtp + 1] = (out[rtp + 1] & 0x80) | pt
            out[off + 16 + 14 + 20 + 6 : off + 16 + 14 + 20 + 8] = b"\x00\x00"  # no UDP checksum
        off += 16 + incl
    return bytes(out)


async def test_rfc_4733_digits_reach_the_runtime_as_dtmf_events(sip_live: LiveServer, tmp_path, sipp_runs) -> None:
    from pipecat.frames.frames import InputDTMFFrame

    digits: list[str] = []

    class Keypad:
        """A runtime that only notes the DTMF events the channel brings."""

        async def run(self, channel) -> None:  # noqa: ANN001
            await channel.serializer.setup(type("S", (), {"audio_in_sample_rate": 8000})())
            while True:
                message = await channel.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                frame = await channel.serializer.deserialize(message.get("text") or message.get("bytes"))
                if isinstance(frame, InputDTMFFrame):
                    digits.append(frame.button.value)

    captures = Path("/usr/share/sip-tester")  # SIPp's own RFC 4733 captures (Debian's sip-tester)
    files = {
        name: _with_payload_type((captures / name).read_bytes(), 120)
        for name in ("dtmf_2833_1.pcap", "dtmf_2833_5.pcap")
    }
    sip_live.app.state.call_runtime_factory = lambda ctx: Keypad()
    sipp = await run_sipp(tmp_path, "answer_dtmf_bye.xml", files=files)
    sipp_runs.append(sipp)
    call = await _call(sip_live, sipp)
    assert call["status"] == "completed", call
    assert await sipp.finished() == 0, sipp.output()
    assert digits == ["1", "5"], digits


async def test_a_trunk_that_lost_the_call_answers_our_keep_alive_481_and_we_hang_up(
    sip_live: LiveServer, tmp_path, sipp_runs
) -> None:
    """The trunk's keep-alive setting (1 s here): an in-dialog OPTIONS on the answered call; SIPp answers 481
    (the call is gone on its side) and expects our BYE at once."""
    sipp = await run_sipp(tmp_path, "keepalive_481.xml")
    sipp_runs.append(sipp)
    t0 = time.monotonic()
    call = await _call(sip_live, sipp, keepalive_secs=1)  # type: ignore[arg-type]
    assert call["status"] == "completed", call
    assert await sipp.finished() == 0, sipp.output()
    assert time.monotonic() - t0 < 10


async def test_early_media_on_183_is_ringing_and_the_call_then_completes(
    sip_live: LiveServer, tmp_path, sipp_runs
) -> None:
    """183 Session Progress with SDP and 1.5 s of early media (a ringback tone), then 200: the early media
    neither breaks the call nor starts the conversation early (the runtime starts at the answer)."""
    wav = _mulaw_wav(tmp_path / "ringback.wav", 425.0, 1.0)
    sipp = await run_sipp(tmp_path, "early_media_183.xml", talk_ms=1000, files={"callee.wav": wav.read_bytes()})
    sipp_runs.append(sipp)
    caller = await make_sip_caller(sip_live, sipp.host)
    call_id = await _start(sip_live, caller)
    ringing = await wait_status(sip_live, caller, call_id, ("ringing", "in_progress", *TERMINAL))  # type: ignore[arg-type]
    assert ringing["status"] in ("ringing", "in_progress"), ringing
    call = await wait_status(sip_live, caller, call_id, TERMINAL, wait=20)  # type: ignore[arg-type]
    assert call["status"] == "completed", call
    assert await sipp.finished() == 0, sipp.output()


async def test_a_transfer_is_a_refer_to_the_trunk_and_our_leg_then_hangs_up(
    sip_live: LiveServer, tmp_path, sipp_runs
) -> None:
    """The runtime asks the call's control to transfer (as its transfer tool does): we send REFER with
    Refer-To sip:+14155550199@<the trunk>, SIPp accepts (202), reports the new call answered (NOTIFY with
    sipfrag 200) and expects our BYE; the call completes."""

    outcome: list[str] = []

    sip_live.app.state.call_runtime_factory = lambda ctx: TransferringRuntime("+14155550199", outcome)
    sipp = await run_sipp(tmp_path, "transfer_refer.xml")
    sipp_runs.append(sipp)
    call = await _call(sip_live, sipp)
    assert call["status"] == "completed", call
    assert outcome == ["transferred"], outcome
    assert await sipp.finished() == 0, sipp.output()
