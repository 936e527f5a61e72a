"""The sandbox's SIP trunk and callee: a small SIP user agent server with RTP, on loopback UDP.

Written from RFC 3261 (INVITE, 100/180/200, ACK, BYE, CANCEL → 200 + 487, digest challenge per RFC 2617
without qop), RFC 4566 SDP and RFC 3550/3551 RTP (PCMU, 20 ms), never from our SIP adapter. Sealed like the
other emulators: an INVITE must answer the digest challenge with a sandbox account's password (derived
from the deployment's key); any other gets 403. The callee follows the same scripts and test numbers as
the other carriers' emulators (`MAGIC_SUFFIXES`): busy → 486, declined → 603, failed → 500, no answer →
rings until CANCEL, human or machine → answers, speaks its tone for `talk_secs` and hangs up with BYE
(or waits for ours), keeping what it heard. A REFER (blind transfer, RFC 3515) is accepted and reported
answered at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import random
import re
import secrets
import struct
import time
from dataclasses import dataclass, field

from voxline.sandbox import callee, callee_speech
from voxline.sandbox.audio import FRAME_MS, FRAME_SAMPLES, frames, tone, ulaw_decode, ulaw_encode
from voxline.sandbox.credentials import SandboxSeal
from voxline.sandbox.emulator import (
    ANSWER_WAIT_SECS,
    BOT_DONE_QUIET_SECS,
    GOODBYE_GRACE_SECS,
    GREETING_WAIT_SECS,
    PAUSE_BEFORE_LINE_SECS,
    Script,
)

log = logging.getLogger("voxline.sandbox")

REALM = "voxline-sandbox"
PROVIDER = "sip"
_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "r": "refer-to",
}


@dataclass
class SipMessage:
    first: str
    headers: list[tuple[str, str]]
    body: bytes

    def get(self, name: str) -> str:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return ""

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name.lower()]

    @property
    def method(self) -> str:
        return self.first.split(" ", 1)[0]


def parse(data: bytes) -> SipMessage | None:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    if not lines or not lines[0]:
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # a folded header line
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
            continue
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers.append((_COMPACT.get(key, key), value.strip()))
    return SipMessage(lines[0], headers, body)


@dataclass
class CalleeCall:
    call_id: str
    to: str
    script: Script
    invite: SipMessage
    peer: tuple[str, int]
    tag: str = field(default_factory=lambda: secrets.token_hex(6))
    status: str = "ringing"  # ringing | answered | busy | declined | failed | canceled | ended
    heard: bytearray = field(default_factory=bytearray)
    rtp_peer: tuple[str, int] | None = None
    rtp: asyncio.DatagramTransport | None = None
    task: asyncio.Task | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    answered_at: float | None = None
    loud_frames: int = 0  # frames of the bot's speech heard (RTP carries silence too: count the loud ones)
    last_loud: float = 0.0
    first_loud_at: float | None = None  # when the bot was first heard (time.monotonic(), as answered_at)
    lines_said: int = 0
    wire_errors: list[str] = field(default_factory=list)  # the websocket emulators' checks; none on RTP
    transferred_to: str | None = None  # the number a REFER named

    def bot_quiet_for(self, secs: float) -> bool:
        return self.loud_frames > 0 and time.monotonic() - self.last_loud > secs


LOUD = 500  # a frame whose peak is above this is speech (or a tone), not line silence


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, call: CalleeCall) -> None:
        self.call = call

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > 12 and data[1] & 0x7F == 0:  # PCMU
            pcm = ulaw_decode(data[12:])
            self.call.heard.extend(pcm)
            if max(abs(v) for v in struct.unpack(f"<{len(pcm) // 2}h", pcm)) > LOUD:
                self.call.loud_frames += 1
                self.call.last_loud = time.monotonic()
                if self.call.first_loud_at is None:
                    self.call.first_loud_at = self.call.last_loud


class SipCallee(asyncio.DatagramProtocol):
    """The sandbox trunk: `await start()` binds it on loopback; `port` is where INVITEs go."""

    provider = PROVIDER

    def __init__(self, seal: SandboxSeal | None = None, host: str = "127.0.0.1") -> None:
        self.seal = seal
        self.default_script: Script | None = None  # an unscripted number: None = the talking callee
        self.host = host
        self.port = 0
        self.scripts: dict[str, Script] = {}
        self.calls: dict[str, CalleeCall] = {}
        self.accounts: dict[str, str] = {}  # registered in-process (tests): username → password
        self._transport: asyncio.DatagramTransport | None = None
        self._nonces: set[str] = set()
        self._started = asyncio.Lock()

    async def start(self) -> int:
        async with self._started:
            if self._transport is None:
                loop = asyncio.get_running_loop()
                self._transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, 0))
                self.port = self._transport.get_extra_info("sockname")[1]
        return self.port

    async def aclose(self) -> None:
        for call in list(self.calls.values()):
            if call.task is not None:
                call.task.cancel()
            if call.rtp is not None:
                call.rtp.close()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def knows(self, authorization: str) -> bool:
        """HTTP Basic credentials of a sandbox digest account (the dialer asking where the trunk is)."""
        if not authorization.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        expected = self._password(user)
        return expected is not None and secrets.compare_digest(expected, password)

    def _password(self, user: str) -> str | None:
        if user in self.accounts:
            return self.accounts[user]
        return self.sandbox_secret(self.seal, user) if self.seal is not None and user.startswith("vxsbx") else None

    @classmethod
    def sandbox_account(cls, seal: SandboxSeal, partner_id: str) -> dict[str, str]:
        """A partner's sandbox digest account at this trunk (what the dialer presents in place of the stored one)."""
        user = "vxsbx" + seal.account(PROVIDER, partner_id)[:24]
        return {"outbound_username": user, "outbound_password": cls.sandbox_secret(seal, user)}

    @classmethod
    def sandbox_secret(cls, seal: SandboxSeal, account: str) -> str:
        return seal.secret(PROVIDER, account)[:40]

    def script_for(self, to: str) -> Script:
        if to in self.scripts:
            return self.scripts[to]
        return callee.script_for(to, self.default_script)

    # ---- SIP ----

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse(data)
        if message is None or message.first.startswith("SIP/2.0"):
            return  # a response (to our BYE): nothing to do
        try:
            self._request(message, addr)
        except Exception:
            log.exception("sandbox SIP callee: could not handle %s", message.method)

    def _request(self, m: SipMessage, addr: tuple[str, int]) -> None:
        call_id = m.get("call-id")
        call = self.calls.get(call_id)
        if m.method == "INVITE":
            if call is not None:  # a retransmission, or a re-INVITE: answer as before
                if call.status == "answered":
                    self._reply(m, addr, 200, "OK", call, sdp=True)
                return
            if not self._authorized(m):
                nonce = secrets.token_hex(12)
                self._nonces.add(nonce)
                extra = [f'WWW-Authenticate: Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5']
                self._reply(m, addr, 401, "Unauthorized", None, extra=extra)
                return
            to = _user(m.get("to"))
            call = CalleeCall(call_id, to, self.script_for(to), m, addr)
            self.calls[call_id] = call
            self._reply(m, addr, 100, "Trying", None)
            call.task = asyncio.get_running_loop().create_task(self._run(call))
        elif m.method == "ACK":
            return
        elif m.method == "CANCEL":
            self._reply(m, addr, 200, "OK", None)
            if call is not None and call.status == "ringing":
                call.status = "canceled"
                self._reply(call.invite, call.peer, 487, "Request Terminated", call)
                self._stop(call)
        elif m.method == "BYE":
            self._reply(m, addr, 200, "OK", call)
            if call is not None:
                call.status = "ended"
                self._stop(call)
        elif m.method == "OPTIONS":
            self._reply(m, addr, 200, "OK", None)
        elif m.method == "REFER" and call is not None and call.status == "answered":
            # A blind transfer: accepted, and the new call reported answered at once (NOTIFY with a sipfrag
            # 200, RFC 3515); the caller then hangs up its leg with BYE.
            call.transferred_to = _user(m.get("refer-to"))
            self._reply(m, addr, 202, "Accepted", call)
            extra = ["Event: refer", "Subscription-State: terminated;reason=noresource"]
            self._in_dialog(call, "NOTIFY", 2, extra, b"SIP/2.0 200 OK\r\n", "message/sipfrag;version=2.0")
        else:
            self._reply(m, addr, 501, "Not Implemented", None)

    def _authorized(self, m: SipMessage) -> bool:
        header = m.get("authorization")
        if not header.lower().startswith("digest "):
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
        user, nonce = fields.get("username", ""), fields.get("nonce", "")
        password = self._password(user)
        if password is None or nonce not in self._nonces:
            return False
        ha1 = _md5(f"{user}:{fields.get('realm', '')}:{password}")
        ha2 = _md5(f"INVITE:{fields.get('uri', '')}")
        qop = fields.get("qop")
        if qop:
            expected = _md5(f"{ha1}:{nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:{qop}:{ha2}")
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        return secrets.compare_digest(expected, fields.get("response", ""))

    async def _run(self, call: CalleeCall) -> None:
        script = call.script
        outcome = {"busy": (486, "Busy Here"), "declined": (603, "Decline"), "failed": (500, "Server Internal Error")}
        if script.outcome in outcome:
            code, reason = outcome[script.outcome]
            call.status = script.outcome
            self._reply(call.invite, call.peer, code, reason, call)
            return
        self._reply(call.invite, call.peer, 180, "Ringing", call)
        if script.outcome == "no_answer":
            return  # rings until the caller gives up (CANCEL)
        await asyncio.sleep(script.ring_secs)
        if call.status != "ringing":
            return
        await self._open_rtp(call)
        call.status = "answered"
        call.answered_at = time.monotonic()
        self._reply(call.invite, call.peer, 200, "OK", call, sdp=True)
        speaking = asyncio.get_running_loop().create_task(self._speak(call))
        try:
            if script.talk_secs is None:
                await call.ended.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.ended.wait(), script.talk_secs)
            if call.status == "answered":
                call.status = "ended"
                self._bye(call)
                self._stop(call)
        finally:
            speaking.cancel()

    async def _open_rtp(self, call: CalleeCall) -> None:
        sdp = call.invite.body.decode("utf-8", "replace")
        host = re.search(r"^c=IN IP4 (\S+)", sdp, re.M)
        port = re.search(r"^m=audio (\d+)", sdp, re.M)
        if host and port:
            call.rtp_peer = (host.group(1), int(port.group(1)))
        loop = asyncio.get_running_loop()
        call.rtp, _ = await loop.create_datagram_endpoint(lambda: _Rtp(call), local_addr=(self.host, 0))

    async def _speak(self, call: CalleeCall) -> None:
        """20 ms PCMU packets on the clock until the call ends: the script's tone, or its lines said in turn
        as the other emulators' callees say them (after the bot's greeting, each once the bot has answered
        the previous one), then silence."""
        assert call.rtp is not None
        ssrc, seq0, ts0 = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32)
        silence = b"\x00\x00" * FRAME_SAMPLES
        start = time.monotonic()
        sent = 0

        async def send(pcm: bytes) -> None:
            nonlocal sent
            if call.status != "answered" or call.rtp is None or call.rtp_peer is None:
                raise asyncio.CancelledError
            header = struct.pack(
                "!BBHII", 0x80, 0, (seq0 + sent) & 0xFFFF, (ts0 + sent * FRAME_SAMPLES) & 0xFFFFFFFF, ssrc
            )
            call.rtp.sendto(header + ulaw_encode(pcm.ljust(FRAME_SAMPLES * 2, b"\x00")), call.rtp_peer)
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * FRAME_MS / 1000 - time.monotonic()))

        async def silence_until(done, limit: float) -> None:  # noqa: ANN001 - a predicate
            deadline = time.monotonic() + limit
            while not done() and time.monotonic() < deadline:
                await send(silence)

        lines = call.script.lines
        if not lines and call.script.texts:  # said in the offline voice, as the emulators' callees say them
            lines = await callee_speech.speak_all(call.script.texts) or ()
        if lines:
            await silence_until(lambda: call.bot_quiet_for(BOT_DONE_QUIET_SECS), GREETING_WAIT_SECS)
            for pcm in lines:
                await silence_until(lambda: False, PAUSE_BEFORE_LINE_SECS)
                call.lines_said += 1
                for chunk in frames(pcm):
                    await send(chunk)
                mark = call.loud_frames
                await silence_until(
                    lambda m=mark: call.loud_frames > m and call.bot_quiet_for(BOT_DONE_QUIET_SECS), ANSWER_WAIT_SECS
                )
            if call.script.hangs_up_after_lines:  # done talking: a moment of quiet from the bot, then BYE
                await silence_until(lambda: call.bot_quiet_for(GOODBYE_GRACE_SECS), ANSWER_WAIT_SECS)
                call.ended.set()
                return
        else:
            for chunk in frames(tone(call.script.hz, call.script.talk_secs or 1.0)):
                await send(chunk)
        while True:
            await send(silence)

    def _stop(self, call: CalleeCall) -> None:
        call.ended.set()
        if call.rtp is not None:
            call.rtp.close()

    def _reply(
        self,
        m: SipMessage,
        addr: tuple[str, int],
        code: int,
        reason: str,
        call: CalleeCall | None,
        *,
        sdp: bool = False,
        extra: list[str] | None = None,
    ) -> None:
        to = m.get("to")
        if code > 100 and ";tag=" not in to:
            to += f";tag={call.tag if call else secrets.token_hex(6)}"
        lines = [f"SIP/2.0 {code} {reason}"]
        lines += [f"Via: {v}" for v in m.all("via")]
        lines += [f"From: {m.get('from')}", f"To: {to}", f"Call-ID: {m.get('call-id')}", f"CSeq: {m.get('cseq')}"]
        lines.append(f"Contact: <sip:{self.host}:{self.port}>")
        lines += extra or []
        body = self._sdp(call).encode() if sdp and call is not None else b""
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self._send(("\r\n".join(lines) + "\r\n\r\n").encode() + body, addr)

    def _sdp(self, call: CalleeCall) -> str:
        port = call.rtp.get_extra_info("sockname")[1] if call.rtp else 0
        return (
            f"v=0\r\no=sandbox 1 1 IN IP4 {self.host}\r\ns=Voxline sandbox callee\r\nc=IN IP4 {self.host}\r\n"
            f"t=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            f"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        )

    def _bye(self, call: CalleeCall) -> None:
        self._in_dialog(call, "BYE", 1)

    def _in_dialog(
        self,
        call: CalleeCall,
        method: str,
        cseq: int,
        extra: list[str] | None = None,
        body: bytes = b"",
        content_type: str = "",
    ) -> None:
        """A request of ours inside the call's dialog (to the caller's Contact)."""
        inv = call.invite
        contact = re.search(r"<([^>]+)>", inv.get("contact"))
        target = contact.group(1) if contact else inv.first.split(" ")[1]
        branch = "z9hG4bK" + secrets.token_hex(8)
        lines = [
            f"{method} {target} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport",
            f"From: {inv.get('to')};tag={call.tag}",
            f"To: {inv.get('from')}",
            f"Call-ID: {call.call_id}",
            f"CSeq: {cseq} {method}",
            "Max-Forwards: 70",
            f"Contact: <sip:{self.host}:{self.port}>",
            *(extra or []),
        ]
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        self._send(("\r\n".join(lines) + "\r\n\r\n").encode() + body, call.peer)

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)


def _user(header: str) -> str:
    match = re.search(r"sips?:([^@;>]+)@", header)
    return match.group(1) if match else ""


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()
