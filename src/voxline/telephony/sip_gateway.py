"""The SIP edge of this process: SIP/RTP on one side, our carrier-facing URLs on the other.

A SIP trunk has no REST API and opens no websocket, so this gateway does what a websocket carrier does for
its calls: it reports each call's progress to the call's status URL (ringing, then how it ended), fetches
the answer URL once the callee answers, and carries the RTP audio over the call's media websocket. Every
other part of the server then handles a SIP call as it handles any carrier's (token checks, the one-stream
claim, the voice runtime, hang-up, settling the end).

It runs on its own thread and event loop, beside PJSIP's thread, so that a SIP call costs the server's
event loop what a websocket carrier's call costs: one websocket of 20 ms frames. One gateway per process;
PJSIP itself runs in worker processes (`sip_workers`), so that neither its crashes nor its 4-call limit are
the server's; a call is known only to the server process that placed it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from voxline.core.call_status import CallStatus
from voxline.telephony.carrier import DialRequest, StatusUpdate
from voxline.telephony.sip_agent import SipAgent, SipBusy, SipEnd, SipTarget
from voxline.telephony.sip_workers import SipWorkerPool

log = logging.getLogger("voxline.sip")

# The trunk must at least say it is trying (100/180/183) this soon, or the call fails here instead of
# waiting out SIP's own 32 s transaction timer.
FIRST_RESPONSE_SECS = 8.0
HTTP_TIMEOUT_SECS = 10.0


@dataclass
class _Leg:
    """One call as the gateway holds it, on the gateway's loop."""

    key: str
    req: DialRequest
    target: SipTarget
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    state: str = "calling"  # calling | ringing | answered | ended
    reported_end: bool = False
    audio_in: asyncio.Queue[bytes | str | None] = field(default_factory=lambda: asyncio.Queue(maxsize=200))
    media_task: asyncio.Task | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    invite_sent_at: float = field(default_factory=time.monotonic)
    answered_at: float | None = None


class _Events:
    """PJSIP's news about one call, handed from PJSIP's threads to the gateway's loop.

    The call's key is read on the gateway's loop, never on the thread the news comes from: the INVITE leaves
    (and its answers may come back) before `agent.place` has returned the key, and news read with the key
    still unset went to no call. A callee who answered then heard only silence: the gateway never saw the
    answer, so it never opened the call's media. `_place` sets the key before its first await, so any news
    the loop runs finds it."""

    def __init__(self, gw: SipGateway, key_box: list[str]) -> None:
        self._gw = gw
        self._key = key_box
        self._call = gw._loop.call_soon_threadsafe

    def _to_gateway(self, handler: Any, *args: Any) -> None:
        self._call(lambda: handler(self._key[0], *args))

    def ringing(self, code: int) -> None:
        self._to_gateway(self._gw._on_ringing, code)

    def answered(self) -> None:
        self._to_gateway(self._gw._on_answered)

    def audio(self, pcm: bytes) -> None:
        self._to_gateway(self._gw._on_audio, pcm)

    def dtmf(self, digit: str) -> None:
        self._to_gateway(self._gw._on_audio, json.dumps({"event": "dtmf", "digit": digit}))

    def ended(self, end: SipEnd) -> None:
        self._to_gateway(self._gw._on_ended, end)


class SipGateway:
    def __init__(self, agent: SipAgent | SipWorkerPool | None = None) -> None:
        self.agent = agent or SipAgent()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sip-gateway", daemon=True)
        self._legs: dict[str, _Leg] = {}
        self._http: httpx.AsyncClient | None = None
        self.invite_to_answer_ms: list[float] = []  # for the benchmark and the logs
        self.first_response_secs = FIRST_RESPONSE_SECS

    def start(self) -> None:
        self.agent.start()
        self._thread.start()

    def stop(self) -> None:
        self.agent.stop()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    # ---- from the server's loop ----

    async def place(self, target: SipTarget, req: DialRequest) -> str:
        fut: Future[str] = asyncio.run_coroutine_threadsafe(self._place(target, req), self._loop)
        return await asyncio.wrap_future(fut)

    def hang_up(self, key: str) -> None:
        self.agent.hang_up(key)

    async def transfer(self, key: str, to_number: str) -> None:
        """Blind transfer by REFER to `to_number` at the call's own trunk; raises RuntimeError when the trunk
        refuses it (many trunks do: then the call simply ends, see the README)."""
        leg = self._legs.get(key)
        if leg is None or leg.state != "answered":
            raise RuntimeError("the call is not answered (or is over)")
        refer_to = refer_target(leg.target.uri, to_number)
        await asyncio.wait_for(asyncio.wrap_future(self.agent.transfer(key, refer_to)), HTTP_TIMEOUT_SECS)

    def status(self, key: str) -> StatusUpdate | None:
        leg = self._legs.get(key)
        if leg is None:
            return None
        if leg.state == "answered":
            return StatusUpdate(CallStatus.IN_PROGRESS, carrier_call_id=key)
        if leg.state == "ringing":
            return StatusUpdate(CallStatus.RINGING, carrier_call_id=key)
        return StatusUpdate(CallStatus.PENDING, carrier_call_id=key)

    # ---- the gateway's loop ----

    async def _place(self, target: SipTarget, req: DialRequest) -> str:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECS)
        box: list[str] = [""]
        key, placed = self.agent.place(target, _Events(self, box))
        # Both before this coroutine first awaits: the call's news, already on its way, runs on this loop
        # after that, and finds its key and its leg (see _Events).
        box[0] = key
        leg = _Leg(key, req, target)
        self._legs[key] = leg
        try:
            await asyncio.wrap_future(placed)
        except SipBusy:
            self._legs.pop(key, None)
            raise
        leg.timers.append(self._loop.call_later(self.first_response_secs, self._no_first_response, key))
        leg.timers.append(self._loop.call_later(max(1, req.ring_timeout_secs), self._ring_timeout, key))
        return key

    def _no_first_response(self, key: str) -> None:
        leg = self._legs.get(key)
        if leg is None or leg.state != "calling":
            return
        secs = self.first_response_secs
        log.info("SIP call %s: the trunk sent no response in %.0f s; giving up", key, secs)
        self.agent.hang_up(key)
        self._on_ended(key, SipEnd(0, f"the trunk sent no response to the INVITE in {secs:.0f} s", False, True, 0.0))

    def _ring_timeout(self, key: str) -> None:
        leg = self._legs.get(key)
        if leg is not None and leg.state in ("calling", "ringing"):
            self.agent.hang_up(key)  # CANCEL; the trunk answers 487, reported as no answer

    def _on_ringing(self, key: str, code: int) -> None:
        leg = self._legs.get(key)
        if leg is None or leg.state != "calling":
            return
        leg.state = "ringing"
        self._spawn(self._report(leg, {"event": "ringing", "code": str(code)}))

    def _on_answered(self, key: str) -> None:
        leg = self._legs.get(key)
        if leg is None or leg.state in ("answered", "ended"):
            return
        leg.state = "answered"
        leg.answered_at = time.monotonic()
        self.invite_to_answer_ms.append((leg.answered_at - leg.invite_sent_at) * 1000)
        for timer in leg.timers:
            timer.cancel()
        leg.timers = [self._loop.call_later(max(1, leg.req.max_duration_secs), self.agent.hang_up, key)]
        leg.media_task = self._spawn(self._media(leg))

    def _on_audio(self, key: str, message: bytes | str) -> None:
        leg = self._legs.get(key)
        if leg is None or leg.state != "answered":
            return
        with contextlib.suppress(asyncio.QueueFull):  # the runtime fell 4 s behind: drop, never block PJSIP
            leg.audio_in.put_nowait(message)

    def _on_ended(self, key: str, end: SipEnd) -> None:
        leg = self._legs.get(key)
        if leg is None or leg.reported_end:
            return
        leg.reported_end = True
        leg.state = "ended"
        for timer in leg.timers:
            timer.cancel()
        params = {
            "event": "ended",
            "code": str(end.code),
            "reason": end.reason,
            "answered": "1" if end.answered else "0",
            "duration": str(round(end.talk_secs)),
        }
        if end.fault:  # we hung up an answered call whose audio was not reaching the callee
            params["fault"] = end.fault
            self._spawn(self._report_fault_then_close(leg, params))
            return
        with contextlib.suppress(asyncio.QueueFull):
            leg.audio_in.put_nowait(None)  # closes the media websocket
        self._spawn(self._report(leg, params, forget=True))

    async def _report_fault_then_close(self, leg: _Leg, params: dict[str, str]) -> None:
        """The fault reaches the call's record (failed, with its reason) before the media websocket closes:
        the runtime, seeing its media end, would otherwise file the call as completed first."""
        await self._report(leg, params)
        with contextlib.suppress(asyncio.QueueFull):
            leg.audio_in.put_nowait(None)
        if leg.media_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(leg.media_task), 5)
        self._legs.pop(leg.key, None)

    async def _report(self, leg: _Leg, params: dict[str, str], *, forget: bool = False) -> None:
        """POST one event to the call's status URL, in order (one report at a time per call)."""
        async with leg.lock:
            if forget and leg.media_task is not None:
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(leg.media_task), 5)
            try:
                assert self._http is not None
                await self._http.post(leg.req.urls.status, data={**params, "call_id": leg.key})
            except httpx.HTTPError as exc:
                log.warning("SIP call %s: could not report %s: %s", leg.key, params.get("event"), exc)
        if forget:
            self._legs.pop(leg.key, None)

    async def _media(self, leg: _Leg) -> None:
        """The answered call: fetch the answer URL, open the media websocket it names, carry the audio."""
        try:
            async with leg.lock:
                assert self._http is not None
                resp = await self._http.post(leg.req.urls.answer, data={"event": "answered", "call_id": leg.key})
                resp.raise_for_status()
                media_url = resp.json()["media"]
            # A short close timeout: once the runtime has closed its side the call is over; do not wait for TCP.
            async with websockets.connect(media_url, max_size=2**20, compression=None, close_timeout=0.5) as ws:
                start = {"call_id": leg.key, "stream_id": uuid.uuid4().hex, "token": leg.req.urls.token}
                await ws.send(json.dumps({"event": "start", "start": start}))
                sender = asyncio.create_task(self._to_server(leg, ws))
                try:
                    async for message in ws:
                        if isinstance(message, bytes):
                            self.agent.send_audio(leg.key, message)
                        elif '"clear"' in message:
                            self.agent.clear_audio(leg.key)
                finally:
                    sender.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sender
        except Exception as exc:
            log.warning("SIP call %s: media ended: %s: %s", leg.key, exc.__class__.__name__, exc)
        finally:
            if leg.state != "ended":  # the runtime closed its side (or could not open it): end the call
                self.agent.hang_up(leg.key)

    async def _to_server(self, leg: _Leg, ws: Any) -> None:
        while True:
            message = await leg.audio_in.get()
            if message is None:
                await ws.close()
                return
            await ws.send(message)

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    _tasks: set[asyncio.Task] = set()


_lock = threading.Lock()
_gateway: SipGateway | None = None


def refer_target(call_uri: str, to_number: str) -> str:
    """The Refer-To URI: `to_number` at the host, port and transport the call itself went to."""
    _, _, at = call_uri.partition("@")
    return f"sip:{to_number}@{at}"


def _user_agent() -> SipAgent | SipWorkerPool:
    """PJSIP in worker processes (the default), or in this process when `sip_workers` is 0."""
    from voxline.settings import Settings

    settings = Settings()
    options: dict[str, Any] = {
        "bind_host": settings.sip_bind_host,
        "public_host": settings.sip_public_host,
        "keepalive_secs": settings.sip_keepalive_secs,
        "tls_ca_file": settings.sip_tls_ca_file,
        "tls_verify": settings.sip_tls_verify,
    }
    if settings.sip_workers == 0:
        return SipAgent(**options)
    return SipWorkerPool(max_workers=settings.sip_workers, **options)


def gateway() -> SipGateway:
    """This process's gateway, started on first use: PJSIP allows one endpoint per process."""
    global _gateway
    with _lock:
        if _gateway is None:
            gw = SipGateway(_user_agent())
            gw.start()
            # PJSIP's objects must be destroyed on its own thread, before the interpreter tears modules down.
            atexit.register(gw.stop)
            _gateway = gw
        return _gateway
