"""The SIP user agent: PJSIP (pjsua2) on its own thread, one endpoint per process.

PJSIP allows one endpoint per process and wants its API called from threads it knows, so one thread owns
it: it polls PJSIP's events and runs the commands other threads queue (`place`, `hang_up`, `dtmf`). Audio
runs on PJSIP's conference clock (a null sound device: no sound card is needed), 20 ms frames of 16-bit
8 kHz PCM through an `AudioMediaPort` lent to each call from a pool that lives as long as the clock (see
`_PortPool`). What happens to a call (ringing, answered, a DTMF digit, its end) and the audio it hears go
to the call's `SipCallEvents`, called on PJSIP's threads: they must only hand the news over (e.g.
`loop.call_soon_threadsafe`), never block.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("voxline.sip")

CLOCK_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = CLOCK_RATE * FRAME_MS // 1000 * 2  # 16-bit mono PCM
SILENCE = b"\x00" * FRAME_BYTES
# The codecs a trunk may choose, best first; PJSIP adds telephone-event (RFC 4733) by itself.
CODECS = ("PCMU/8000", "PCMA/8000")
SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
MAX_QUEUED_FRAMES = 50  # 1 s of our audio waiting to go out; beyond that the oldest is dropped
# An answered call whose audio has not gone out for this long is ended as a fault (a silent line): PJSIP's
# conference clock took no frame from the call's port, or its stream sent no RTP. With silence suppression
# off (noVad) a healthy call sends a packet every 20 ms, so 2 s of nothing is never a quiet moment.
MEDIA_STALL_SECS = 2.0


class SipBusy(RuntimeError):
    """This process's SIP stack holds as many calls as it can; another process, or later, may take it."""


PJ_ETOOMANY = 70010
# PJSIP accounts (one per caller id and digest credentials) this process keeps. The pjsua2-python wheel is
# built with PJSIP's minimal configuration, whose account table is tiny and which aborts the process when
# it overflows: idle accounts are shut down to make room, and a call that finds none idle is refused.
MAX_ACCOUNTS = 3
# PJSIP's socket table (the wheel's select() I/O queue: 64 sockets, SIP's and every call's RTP and RTCP) hands
# a closed socket's slot back only 500 ms after it closed, and the wheel, built with assertions on, aborts
# the process when a socket finds no slot. Short calls in quick succession (busy lines, a campaign) would
# fill it: a call is refused (SipBusy, retried by the dialer) while the sockets open or closed in the last
# second leave less than this margin.
IOQUEUE_SLOTS = 64
SOCKETS_PER_CALL = 2  # RTP and RTCP
SOCKET_SLOT_HOLD_SECS = 1.0  # PJSIP's 500 ms, doubled
RESERVED_SOCKETS = 12  # SIP's own transports and its TCP connections


@dataclass(frozen=True)
class SipTarget:
    """Where and how to place one call."""

    uri: str  # sip:+15551234567@trunk.example.com:5060;transport=udp
    from_uri: str  # sip:+14155550100@trunk.example.com
    username: str | None = None
    password: str | None = None
    outbound_proxy: str | None = None  # sip:proxy.example.com:5060;lr
    headers: tuple[tuple[str, str], ...] = ()
    transport: str = "udp"
    keepalive_secs: int | None = None  # this trunk's OPTIONS keep-alive; None: the agent's default


@dataclass(frozen=True)
class SipEnd:
    """How a call ended: the final SIP status (200 when it was answered, then hung up) and its words."""

    code: int
    reason: str
    answered: bool
    by_us: bool
    talk_secs: float
    fault: str | None = None  # we ended it because its audio was not reaching the callee (see MEDIA_STALL_SECS)


class SipCallEvents(Protocol):
    def ringing(self, code: int) -> None: ...

    def answered(self) -> None: ...

    def audio(self, pcm: bytes) -> None: ...

    def dtmf(self, digit: str) -> None: ...

    def ended(self, end: SipEnd) -> None: ...


def _pj() -> Any:
    try:
        import pjsua2  # SWIG bindings, no stubs (missing imports are ignored by the mypy config)
    except ImportError as exc:  # an optional extra: say how to get it
        raise RuntimeError("SIP calls need PJSIP's Python binding: pip install 'voxline[sip]'") from exc
    return pjsua2


@dataclass
class _Live:
    key: str
    events: SipCallEvents
    call: Any = None
    port: Any = None
    outgoing: deque[bytes] = field(default_factory=lambda: deque(maxlen=MAX_QUEUED_FRAMES))
    answered_at: float | None = None
    last_keepalive: float = 0.0
    keepalive_secs: int = 0
    last_request: float = 0.0  # when the conference clock last asked for our audio (for measuring only)
    gaps: deque[float] | None = None  # the intervals between those requests, when the agent measures
    hung_up_by_us: bool = False
    transfer: Future[int] | None = None  # a REFER in flight: its final answer
    ended: bool = False
    placed: Future[None] = field(default_factory=Future)  # the INVITE left (or SipBusy)
    account_key: tuple | None = None
    # Whether our audio is leaving (see _watch_media): the stream's state, when the conference clock last took
    # a frame from the call's port, and the RTP packets the stream had sent when last looked at.
    media: str = "none"  # none | active | held
    media_since: float = 0.0
    last_pull: float = 0.0
    rtp_sent: int = -1
    rtp_sent_at: float = 0.0
    fault: str | None = None


class SipAgent:
    """One PJSIP endpoint on its own thread. `start()` once per process; calls are named by our own key."""

    def __init__(
        self,
        *,
        bind_host: str = "0.0.0.0",
        sip_port: int = 0,
        public_host: str | None = None,
        max_calls: int = 256,
        log_level: int = 1,
        keepalive_secs: int = 0,
        tls_ca_file: str | None = None,
        tls_verify: bool = True,
    ) -> None:
        self.bind_host = bind_host
        self.sip_port = sip_port
        self.public_host = public_host
        self.max_calls = max_calls
        self.log_level = log_level
        # In-dialog OPTIONS on an answered call this often (0: never): a trunk that answers 408 or 481 (or
        # not at all) has lost the call, which then ends here instead of holding a dead line.
        self.keepalive_secs = keepalive_secs
        self._next_keepalive_check = 0.0
        self._next_media_check = 0.0
        self.media_stall_secs = MEDIA_STALL_SECS
        # TLS trunks: the server's certificate is checked against these CAs (the system's when unset).
        self.tls_ca_file = tls_ca_file or (SYSTEM_CA_FILE if os.path.exists(SYSTEM_CA_FILE) else None)
        self.tls_verify = tls_verify
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._calls: dict[str, _Live] = {}
        self._accounts: dict[tuple, Any] = {}
        self._ports = _PortPool()
        self._sockets_closed: deque[float] = deque()  # when each ended call's sockets closed
        self._disconnected: list[_Live] = []  # calls PJSIP has just ended, to release before anything else
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._keys = itertools.count(1)
        self.local_ports: dict[str, int] = {}
        self.measure_frames = False  # the benchmark's: note the clock's intervals in `frame_gaps`
        self.frame_gaps: deque[float] = deque(maxlen=2_000_000)

    # ---- any thread ----

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="sip-agent", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the SIP stack did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the SIP stack did not start: {self._error}") from self._error

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._error is None

    def place(self, target: SipTarget, events: SipCallEvents) -> tuple[str, Future[None]]:
        """Send the INVITE (on the agent's thread). Returns our key for the call at once, and a future that
        is done when the INVITE has left; it raises SipBusy when the stack holds all the calls it can."""
        key = f"sip-{next(self._keys)}-{int(time.time() * 1000) % 100000000}"
        live = _Live(key, events, gaps=self.frame_gaps if self.measure_frames else None)
        live.keepalive_secs = self.keepalive_secs if target.keepalive_secs is None else target.keepalive_secs
        self._calls[key] = live
        self._commands.put(lambda: self._make_call(live, target))
        return key, live.placed

    def hang_up(self, key: str) -> None:
        """BYE when answered, CANCEL while ringing; nothing when the call is already over."""
        self._commands.put(lambda: self._hang_up(key))

    def send_audio(self, key: str, pcm: bytes) -> None:
        """Queue our audio (16-bit 8 kHz PCM, any length) for the call's RTP, in 20 ms frames."""
        live = self._calls.get(key)
        if live is None or live.ended:
            return
        for i in range(0, len(pcm), FRAME_BYTES):
            chunk = pcm[i : i + FRAME_BYTES]
            if len(chunk) < FRAME_BYTES:
                chunk += b"\x00" * (FRAME_BYTES - len(chunk))
            live.outgoing.append(chunk)

    def transfer(self, key: str, refer_to: str) -> Future[int]:
        """Blind transfer (REFER): the trunk calls `refer_to` and bridges the callee there. The future holds
        the REFER's answer (202), or fails with the trunk's refusal; once the trunk reports the new call
        answered (NOTIFY 200) we hang up our leg."""
        done: Future[int] = Future()
        self._commands.put(lambda: self._transfer(key, refer_to, done))
        return done

    def _transfer(self, key: str, refer_to: str, done: Future[int]) -> None:
        pj = _pj()
        live = self._calls.get(key)
        if live is None or live.ended or live.call is None or live.answered_at is None:
            done.set_exception(RuntimeError("the call is not answered (or is over)"))
            return
        live.transfer = done
        try:
            live.call.xfer(refer_to, pj.CallOpParam(True))
        except Exception as exc:
            live.transfer = None
            done.set_exception(RuntimeError(exc.info() if hasattr(exc, "info") else str(exc)))

    def _on_transfer_status(self, live: _Live, code: int, final: bool) -> None:
        if final and 200 <= code < 300 and not live.ended:
            self._hang_up(live.key)  # the callee is with the transfer target now

    def clear_audio(self, key: str) -> None:
        """Drop our audio not yet sent (barge-in)."""
        live = self._calls.get(key)
        if live is not None:
            live.outgoing.clear()

    def is_live(self, key: str) -> bool:
        live = self._calls.get(key)
        return live is not None and not live.ended

    def active_calls(self) -> int:
        return sum(1 for c in self._calls.values() if not c.ended)

    # ---- the agent's thread ----

    def _run(self) -> None:
        pj = _pj()
        try:
            self._ep = ep = pj.Endpoint()
            ep.libCreate()
            cfg = pj.EpConfig()
            cfg.uaConfig.threadCnt = 0  # this thread polls; no PJSIP worker threads
            cfg.uaConfig.mainThreadOnly = False
            cfg.uaConfig.maxCalls = self.max_calls
            cfg.uaConfig.userAgent = "Voxline"
            cfg.logConfig.level = self.log_level
            cfg.logConfig.consoleLevel = self.log_level
            cfg.medConfig.clockRate = CLOCK_RATE
            cfg.medConfig.sndClockRate = CLOCK_RATE
            cfg.medConfig.channelCount = 1
            cfg.medConfig.audioFramePtime = FRAME_MS
            cfg.medConfig.ptime = FRAME_MS
            cfg.medConfig.noVad = True  # send every frame: trunks and media timers expect steady RTP
            cfg.medConfig.ecTailLen = 0
            cfg.medConfig.maxMediaPorts = max(254, self.max_calls * 3)
            ep.libInit(cfg)
            kinds = [("udp", pj.PJSIP_TRANSPORT_UDP), ("tcp", pj.PJSIP_TRANSPORT_TCP), ("tls", pj.PJSIP_TRANSPORT_TLS)]
            for proto, kind in kinds:
                tcfg = pj.TransportConfig()
                tcfg.port = self.sip_port if proto != "tls" or not self.sip_port else self.sip_port + 1
                if proto == "tls":
                    if self.tls_ca_file:
                        tcfg.tlsConfig.CaListFile = self.tls_ca_file
                    tcfg.tlsConfig.verifyServer = self.tls_verify
                tcfg.boundAddress = self.bind_host
                if self.public_host:
                    tcfg.publicAddress = self.public_host
                tid = ep.transportCreate(kind, tcfg)
                self.local_ports[proto] = ep.transportGetInfo(tid).localName and int(
                    ep.transportGetInfo(tid).localName.rsplit(":", 1)[1]
                )
            ep.libStart()
            ep.audDevManager().setNullDev()  # the conference clock without a sound card
            for info in ep.codecEnum2():
                ep.codecSetPriority(info.codecId, 0)
            for rank, codec in enumerate(CODECS):
                ep.codecSetPriority(codec, 255 - rank)
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        while not self._stopping.is_set():
            ep.libHandleEvents(5)
            self._release_disconnected()
            self._drain()
            self._keep_alive(time.monotonic())
            self._watch_media(time.monotonic())
        for live in list(self._calls.values()):
            self._hang_up(live.key)
        deadline = time.monotonic() + 1.0
        while self._calls and time.monotonic() < deadline:  # let the BYEs and CANCELs leave
            ep.libHandleEvents(10)
            self._release_disconnected()
            self._drain()
        # Stop the conference clock before any media port dies: then no PJSIP thread can call into a port
        # that Python is tearing down (see _PortPool).
        ep.audDevManager().setNoDev()
        self._release_disconnected()
        for live in self._calls.values():
            live.call = None
        self._ports.close()
        self._calls.clear()
        self._accounts.clear()
        ep.libDestroy()

    def _drain(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command()
            except Exception:
                log.exception("SIP command failed")
            self._release_disconnected()

    def _account(self, target: SipTarget) -> Any:
        pj = _pj()
        key = (target.from_uri, target.username, target.password, target.outbound_proxy)
        account = self._accounts.get(key)
        if account is not None:
            return key, account
        if len(self._accounts) >= MAX_ACCOUNTS:
            busy = {c.account_key for c in self._calls.values() if not c.ended}
            for old in [k for k in self._accounts if k not in busy]:
                self._accounts.pop(old).shutdown()  # on this thread, as PJSIP requires
                if len(self._accounts) < MAX_ACCOUNTS:
                    break
        if len(self._accounts) >= MAX_ACCOUNTS:
            raise SipBusy("this server's SIP stack has no room for another caller id or trunk account now")
        acfg = pj.AccountConfig()
        acfg.idUri = target.from_uri
        acfg.regConfig.registerOnAdd = False  # a trunk for outbound calls: no registration
        if target.username:
            cred = pj.AuthCredInfo("digest", "*", target.username, 0, target.password or "")
            acfg.sipConfig.authCreds.append(cred)
        if target.outbound_proxy:
            acfg.sipConfig.proxies.append(target.outbound_proxy)
        acfg.mediaConfig.transportConfig.port = 0
        if self.bind_host not in ("0.0.0.0", "::"):
            acfg.mediaConfig.transportConfig.boundAddress = self.bind_host  # RTP where SIP is
        if self.public_host:
            acfg.mediaConfig.transportConfig.publicAddress = self.public_host
        acfg.mediaConfig.lockCodecEnabled = False  # no re-INVITE to narrow the codecs after the answer
        acfg.natConfig.sdpNatRewriteUse = 0
        account = pj.Account()
        account.create(acfg)
        self._accounts[key] = account
        return key, account

    def _make_call(self, live: _Live, target: SipTarget) -> None:
        pj = _pj()
        if live.ended:
            return
        if not self._socket_slots_left():
            self._refuse(
                live, "this server's SIP stack is out of sockets for a moment (calls ended in quick succession)"
            )
            return
        try:
            live.account_key, account = self._account(target)
        except SipBusy as exc:
            self._refuse(live, str(exc))
            return
        call = _Call(self, live, account)
        live.call = call
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        for name, value in target.headers:
            header = pj.SipHeader()
            header.hName = name
            header.hValue = value
            prm.txOption.headers.append(header)
        failure: tuple[int | None, str] | None = None
        try:
            call.makeCall(target.uri, prm)
        except Exception as exc:  # noted, not kept: its traceback holds `call`, which must die on this thread
            failure = (getattr(exc, "status", None), exc.info() if hasattr(exc, "info") else str(exc))
        if failure is None:
            live.placed.set_result(None)
            return
        live.call = None
        del call  # PJSIP objects must die on this thread: drop it here, now
        status, reason = failure
        if status == PJ_ETOOMANY:  # PJSIP's compile-time call limit (the wheel's is 4 calls at once)
            self._refuse(live, "this server's SIP stack holds as many calls as it can")
            return
        live.placed.set_result(None)
        self._sockets_closed.append(time.monotonic())  # any RTP sockets it opened were closed
        self._finish(live, SipEnd(0, f"the call could not be placed: {reason}", False, False, 0.0))

    def _keep_alive(self, now: float) -> None:
        if now < self._next_keepalive_check:
            return
        self._next_keepalive_check = now + 0.5
        pj = _pj()
        for live in list(self._calls.values()):
            if live.ended or live.call is None or live.answered_at is None or not live.keepalive_secs:
                continue
            if now - max(live.answered_at, live.last_keepalive) < live.keepalive_secs:
                continue
            live.last_keepalive = now
            prm = pj.CallSendRequestParam()
            prm.method = "OPTIONS"
            try:
                live.call.sendRequest(prm)
            except Exception as exc:  # the dialog is going away
                log.debug("keep-alive of %s: %s", live.key, exc)

    def _watch_media(self, now: float) -> None:
        """End an answered call whose audio stopped leaving, rather than hold a silent line: the callee
        would hear nothing while the voice runtime, which only sees its frames reach the gateway, speaks on."""
        if now < self._next_media_check:
            return
        self._next_media_check = now + 0.25
        for live in list(self._calls.values()):
            if live.ended or live.call is None or live.answered_at is None or live.fault or live.media == "held":
                continue
            stall = self.media_stall_secs
            since = max(live.answered_at, live.media_since)
            if live.media != "active":
                if now - since > stall:
                    self._media_fault(live, f"the call has had no active audio stream for {stall:g} s")
                continue
            if now - max(live.last_pull, since) > stall:
                self._media_fault(live, f"PJSIP's media clock took none of our audio for {stall:g} s")
                continue
            sent = self._rtp_sent(live)
            if sent is None:
                continue
            if sent != live.rtp_sent:
                live.rtp_sent, live.rtp_sent_at = sent, now
            elif now - max(live.rtp_sent_at, since) > stall:
                self._media_fault(live, f"no RTP left for the trunk for {stall:g} s")

    def _rtp_sent(self, live: _Live) -> int | None:
        try:
            return int(live.call.getStreamStat(0).rtcp.txStat.pkt)
        except Exception:  # no stream (yet, or any more): the port check covers it
            return None

    def _media_fault(self, live: _Live, why: str) -> None:
        live.fault = f"our audio stopped reaching the callee: {why}"
        log.error("SIP call %s: %s; hanging up", live.key, live.fault)
        self._hang_up(live.key)

    def _on_tsx(self, live: _Live, method: str, code: int, reason: str = "") -> None:
        """A trunk that no longer knows the call (481) or does not answer (408): hang up. A REFER's answer
        goes to whoever asked for the transfer."""
        if method == "REFER" and live.transfer is not None and not live.transfer.done() and code >= 200:
            if code < 300:
                live.transfer.set_result(code)
            else:
                live.transfer.set_exception(RuntimeError(f"the trunk refused the transfer: {code} {reason}".strip()))
            return
        if method == "OPTIONS" and code in (408, 481) and not live.ended:
            log.info("SIP call %s: the trunk answered our keep-alive with %s; hanging up", live.key, code)
            self._hang_up(live.key)

    def _refuse(self, live: _Live, why: str) -> None:
        """No INVITE left: the caller may try again later (or another process may)."""
        live.ended = True
        self._calls.pop(live.key, None)
        live.placed.set_exception(SipBusy(why))

    def _socket_slots_left(self) -> bool:
        now = time.monotonic()
        while self._sockets_closed and now - self._sockets_closed[0] > SOCKET_SLOT_HOLD_SECS:
            self._sockets_closed.popleft()
        calls = sum(1 for c in self._calls.values() if c.call is not None) + len(self._sockets_closed)
        return RESERVED_SOCKETS + (calls + 1) * SOCKETS_PER_CALL <= IOQUEUE_SLOTS

    def _hang_up(self, key: str) -> None:
        pj = _pj()
        live = self._calls.get(key)
        if live is None or live.ended or live.call is None:
            if live is not None and live.call is None:  # hung up before its INVITE left: it never will
                live.hung_up_by_us = True
                self._finish(live, SipEnd(487, "Request Terminated", False, True, 0.0))
            return
        live.hung_up_by_us = True
        try:
            live.call.hangup(pj.CallOpParam(True))
        except Exception as exc:  # already disconnected
            log.debug("hang up %s: %s", key, exc)

    def _finish(self, live: _Live, end: SipEnd) -> None:
        if live.ended:
            return
        if live.transfer is not None and not live.transfer.done():
            live.transfer.set_exception(
                RuntimeError(f"the call ended before the trunk answered the REFER ({end.code})")
            )
        live.ended = True
        self._calls.pop(live.key, None)
        try:
            live.events.ended(end)
        except Exception:
            log.exception("SIP end handler failed")

    # called from _Call on this thread
    def _on_state(self, live: _Live, info: Any) -> None:
        pj = _pj()
        state = info.state
        if state == pj.PJSIP_INV_STATE_EARLY:
            live.events.ringing(int(info.lastStatusCode))
        elif state == pj.PJSIP_INV_STATE_CONFIRMED:
            live.answered_at = time.monotonic()
            live.events.answered()
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            answered = live.answered_at is not None
            talk = time.monotonic() - live.answered_at if live.answered_at else 0.0
            code = int(info.lastStatusCode)
            reason = str(info.lastReason)
            self._sockets_closed.append(time.monotonic())
            self._finish(live, SipEnd(code, live.fault or reason, answered, live.hung_up_by_us, talk, live.fault))
            # The pjsua2 objects must outlive this callback and die on this thread: released as soon as
            # PJSIP returns to us (_release_disconnected), before any other command can run.
            self._disconnected.append(live)

    def _release_disconnected(self) -> None:
        """Release the calls PJSIP has ended: each media port goes back to the pool, each pjsua2 Call is
        dropped. Before any new INVITE: a pjsua2 Call keeps its slot number after the call ends, and its
        destructor clears (and hangs up) whatever call holds that slot then; PJSIP reuses a slot at once
        when all are taken."""
        while self._disconnected:
            live = self._disconnected.pop()
            if live.port is not None:
                self._ports.give_back(live.port)
                live.port = None
            live.call = None  # the Call dies here, on this thread

    @property
    def media_ports_created(self) -> int:
        """Media ports made since start: no more than the most calls that were ever live at once."""
        return self._ports.created

    def _on_media(self, live: _Live, call: Any) -> None:
        pj = _pj()
        info = call.getInfo()
        state = "none"
        for i, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in (
                pj.PJSUA_CALL_MEDIA_LOCAL_HOLD,
                pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
            ):
                state = "held"  # the trunk (or we) put the call on hold: no audio is expected to leave
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                audio = call.getAudioMedia(i)
                if live.port is None:
                    live.port = self._ports.lend(live)
                audio.startTransmit(live.port)
                live.port.startTransmit(audio)
                state = "active"
        if state != live.media:
            live.media, live.media_since = state, time.monotonic()


def _call_class() -> type:
    pj = _pj()

    class Call(pj.Call):  # type: ignore[name-defined]  # PJSIP's class, known at run time
        # The call's state is held weakly: no reference cycle, so no garbage collection on another thread
        # ever destroys a PJSIP object (see SipAgent._release).
        def __init__(self, agent: SipAgent, live: _Live, account: Any) -> None:
            super().__init__(account)
            self._agent = agent
            self._live = weakref.ref(live)

        def onCallState(self, prm: Any) -> None:  # noqa: N802 - PJSIP's name
            live = self._live()
            if live is not None:
                self._agent._on_state(live, self.getInfo())

        def onCallMediaState(self, prm: Any) -> None:  # noqa: N802
            live = self._live()
            if live is not None:
                self._agent._on_media(live, self)

        def onCallTsxState(self, prm: Any) -> None:  # noqa: N802
            live = self._live()
            if live is None or prm.e.type != pj.PJSIP_EVENT_TSX_STATE:
                return
            tsx = prm.e.body.tsxState.tsx
            if tsx.role == pj.PJSIP_ROLE_UAC and tsx.state in (
                pj.PJSIP_TSX_STATE_COMPLETED,
                pj.PJSIP_TSX_STATE_TERMINATED,
            ):
                self._agent._on_tsx(live, str(tsx.method), int(tsx.statusCode), str(tsx.statusText))

        def onCallTransferStatus(self, prm: Any) -> None:  # noqa: N802
            live = self._live()
            if live is not None:
                self._agent._on_transfer_status(live, int(prm.statusCode), bool(prm.finalNotify))

        def onDtmfDigit(self, prm: Any) -> None:  # noqa: N802
            live = self._live()
            if live is not None:
                live.events.dtmf(str(prm.digit))

    return Call


def _port_class() -> type:
    pj = _pj()

    class Port(pj.AudioMediaPort):  # type: ignore[name-defined]
        """One call's audio on the conference clock: hands over what the callee said, plays what we queued.
        Lent to one call at a time (`_live`); between calls it answers the clock with nothing."""

        def __init__(self) -> None:
            super().__init__()
            self._live: Callable[[], _Live | None] = _nobody

        def onFrameReceived(self, frame: Any) -> None:  # noqa: N802
            live = self._live()
            if live is not None and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                live.events.audio(bytes(frame.buf))

        def onFrameRequested(self, frame: Any) -> None:  # noqa: N802
            live = self._live()
            if live is None:
                frame.type = pj.PJMEDIA_FRAME_TYPE_NONE
                frame.size = 0
                return
            if live.gaps is not None:
                now = time.monotonic()
                if live.last_request:
                    live.gaps.append(now - live.last_request)
                live.last_request = now
            live.last_pull = time.monotonic()
            try:
                chunk = live.outgoing.popleft()
            except IndexError:
                chunk = SILENCE
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            frame.buf = pj.ByteVector(chunk)
            frame.size = len(chunk)

    return Port


_classes: dict[str, type] = {}


def _Call(agent: SipAgent, live: _Live, account: Any) -> Any:  # noqa: N802 - builds a pjsua2 subclass
    cls = _classes.get("call") or _classes.setdefault("call", _call_class())
    return cls(agent, live, account)


def _nobody() -> _Live | None:
    return None


class _PortPool:
    """The media ports, reused from call to call and dropped only once the conference clock has stopped.

    Why: PJSIP's conference calls every registered port on its clock thread every 20 ms, connected or not.
    Dropping a port's last Python reference runs its C++ destructor with the GIL released (the binding is
    built with SWIG's -threads) while the Python object is already half torn down; the clock thread then
    calls onFrameReceived on that object (AttributeError: no '_live'), and the exception keeps a pointer to
    freed memory: the process crashes, later, in the garbage collector. A call ending every few seconds
    made this rare but certain on a busy machine. A port that never dies while the clock runs cannot race.
    The pool holds as many ports as calls were ever live at once (PJSIP holds only a few)."""

    def __init__(self) -> None:
        self._idle: list[Any] = []
        self._all: list[Any] = []
        self.created = 0

    def lend(self, live: _Live) -> Any:
        """A port for this call (on the agent's thread)."""
        if self._idle:
            port = self._idle.pop()
        else:
            pj = _pj()
            cls = _classes.get("port") or _classes.setdefault("port", _port_class())
            port = cls()
            fmt = pj.MediaFormatAudio()
            fmt.type = pj.PJMEDIA_TYPE_AUDIO
            fmt.clockRate = CLOCK_RATE
            fmt.channelCount = 1
            fmt.bitsPerSample = 16
            fmt.frameTimeUsec = FRAME_MS * 1000
            port.createPort(f"vx{len(self._all)}", fmt)
            self._all.append(port)
            self.created += 1
        port._live = weakref.ref(live)
        return port

    def give_back(self, port: Any) -> None:
        """The call is over (its stream has left the conference, so nothing is connected to the port)."""
        port._live = _nobody
        self._idle.append(port)

    def close(self) -> None:
        """Drop every port: only once the conference clock has stopped (SipAgent._run)."""
        self._idle.clear()
        self._all.clear()
