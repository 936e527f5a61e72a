"""What every carrier emulator shares: accounts, scripted callees, the call's timeline, the media leg.

A carrier emulator subclasses `Emulator` and supplies its REST routes, how it signs callbacks, what a
status callback looks like, how it learns where to stream (answer document or fixed URL) and its media
wire format (`MediaWire`). The timeline is the same for all: create → ringing → (busy | declined |
no answer | failed) or answered → AMD verdict → media stream with the simulated callee → completed.

Sealed: the emulators serve only sandbox accounts, whose credentials derive from the deployment's key
(sandbox/credentials.py; this server's dialer presents them), or accounts registered in-process
(`register`). Every request is checked before any route runs; the diagnostic log takes the operator's
token and never shows a callback token, nor does anything the emulators log.

Scripts: `emulator.scripts[to_number] = Script(...)`, or dial a documented test number (sandbox/callee.py)
so scripted outcomes work from any process without test hooks; every other number reaches the talking callee.

The callee speaks its script's tone, or, when the script carries lines (`lines`: PCM16 at 8 kHz; or `texts`,
synthesized offline when the call is answered), says those lines in turn: each one after the bot has finished
speaking, the next only once the bot has answered the previous one, then it hangs up or stays on in silence.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from voxline.sandbox import callee, callee_speech
from voxline.sandbox.audio import FRAME_MS, FRAME_SAMPLES, frames, tone
from voxline.sandbox.callee import Script
from voxline.sandbox.credentials import SandboxSeal

log = logging.getLogger("voxline.sandbox")

# How a callee with lines takes turns (see `Emulator._say_lines`).
BOT_DONE_QUIET_SECS = 0.8  # the bot has finished speaking once nothing reached the callee for this long
GREETING_WAIT_SECS = 10.0  # longest the callee waits for the bot's greeting before its first line
PAUSE_BEFORE_LINE_SECS = 0.3  # the callee's silence between the bot's last words and its own line
ANSWER_WAIT_SECS = 20.0  # longest the callee waits for the bot to answer a line before the next one
INTERRUPT_AFTER_SECS = 1.0  # an interrupting callee starts talking this far into the bot's greeting
GOODBYE_GRACE_SECS = 1.0  # a callee done with its lines hangs up after this much quiet from the bot
BEEP_HZ, BEEP_SECS = 1000.0, 0.4  # an answering machine's tone


@dataclass
class EmuCall:
    id: str
    account: str
    to: str
    from_: str
    params: dict[str, Any]
    script: Script
    status: str = "queued"
    created: float = field(default_factory=time.time)
    answered_at: float | None = None
    ended_at: float | None = None
    answered_by: str | None = None
    hangup: asyncio.Event = field(default_factory=asyncio.Event)
    heard: bytearray = field(default_factory=bytearray)  # PCM16 8 kHz the callee received
    sent_secs: float = 0.0
    streams_opened: int = 0
    answer_fetches: int = 0
    error: str | None = None
    stream_closed_at: float | None = None
    wire_errors: list[str] = field(default_factory=list)  # what our server sent that the carrier would reject
    redirected: asyncio.Event = field(default_factory=asyncio.Event)  # new instructions replace the stream
    redirect: dict[str, Any] = field(default_factory=dict)  # the transfer request that set `redirected`
    transferred_to: str | None = None  # the number the callee was bridged to by a transfer
    lines_said: int = 0  # how many of the script's lines the callee has started to say

    @property
    def duration(self) -> int:
        if self.answered_at is None:
            return 0
        return max(0, round((self.ended_at or time.time()) - self.answered_at))


@dataclass(frozen=True)
class Received:
    """One REST request the emulator received (for tests and the benchmark)."""

    method: str
    path: str
    params: dict[str, Any]
    at: float


@dataclass(frozen=True)
class Sent:
    """One callback the emulator sent, and what our server answered."""

    url: str
    params: dict[str, Any]
    status_code: int | None


class MediaWire(ABC):
    """A carrier's media-stream messages, from the carrier's side."""

    frame_bytes = 160  # bytes of payload per 20 ms frame on the wire

    @abstractmethod
    def opening(self, call: EmuCall, stream_id: str, params: dict[str, str]) -> list[dict[str, Any]]: ...

    @abstractmethod
    def media(self, call: EmuCall, stream_id: str, pcm: bytes, seq: int) -> dict[str, Any]: ...

    @abstractmethod
    def stop(self, call: EmuCall, stream_id: str) -> dict[str, Any] | None:
        """The carrier's end-of-stream message, or None for carriers that just close the socket (Plivo, Vobiz)."""

    @abstractmethod
    def incoming(self, message: dict[str, Any]) -> bytes | None:
        """PCM16 from one message our server sent (None when it is not audio)."""

    def reply(self, call: EmuCall, stream_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
        """What the carrier answers to a control message (a mark played, a checkpoint reached)."""
        return None


async def form_items(request: Any) -> list[tuple[str, str]]:
    """An application/x-www-form-urlencoded body, as carriers send it (repeated keys kept, in order)."""
    return parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)


LOG_PATH = "/_sandbox/log"
_TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']*", re.IGNORECASE)


def presented_credentials(request: Request) -> tuple[str | None, str | None]:
    """What a carrier API request authenticates with: HTTP Basic (user, password) or a bearer token (token, token)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), value.strip()
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return user, password
    return None, None


def route_path(request: Request) -> str:
    """The request's path inside the emulator's app (below the /sandbox/{provider} mount)."""
    path, root = request.scope.get("path", ""), request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def redact(value: Any) -> Any:
    """A received request's parameters with every callback token blanked (they ride in our URLs)."""
    if isinstance(value, str):
        return _TOKEN_IN_TEXT.sub(r"\1REDACTED", value)
    if isinstance(value, dict):
        return {k: "REDACTED" if str(k).lower() == "token" else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Emulator(ABC):
    provider = ""
    call_id_prefix = ""
    closes_stream = True  # False: when the call ends the stream stays open until the server closes it

    def __init__(self, public_base_url: str) -> None:
        self.public_base_url = public_base_url.rstrip("/")
        self.seal: SandboxSeal | None = None  # what checks sandbox accounts (`mount.install` sets it)
        # Accounts seen with valid credentials (their secrets sign the callbacks), and accounts this
        # process registered itself (`register`); nothing else is ever accepted.
        self.accounts: dict[str, str] = {}
        self._logins: dict[str, str] = {}
        self.calls: dict[str, EmuCall] = {}
        self.received: list[Received] = []
        self.sent: list[Sent] = []
        self.scripts: dict[str, Script] = {}
        # What an unscripted number that is no test number reaches (None: the talking callee).
        self.default_script: Script | None = None
        # Lines a call asked its callee to say (`variables.sandbox_callee_say`), looked up by this emulator's
        # call id when the call is answered; the app installs it (sandbox/mount.py).
        self.custom_lines: Callable[[str], Awaitable[tuple[str, ...]]] | None = None
        # What the user of a sandbox account configured in the carrier's dashboard (not through its API), given
        # the account's credential fields: the connection's setup settings, as the user was shown them. The app
        # installs it (sandbox/mount.py), so an emulator reads a documented setting, never our adapter's code.
        self.account_setup: Callable[[dict[str, str]], Mapping[str, Any]] | None = None
        # Fault injection for tests: HTTP statuses the next create-call requests answer, and a delay
        # before answering (a carrier at its calls-per-second limit answers slowly or ambiguously).
        self.create_failures: list[int] = []
        self.create_delay_secs = 0.0
        self.app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http: httpx.AsyncClient | None = None
        self.routes()
        self._seal_routes()

    def _seal_routes(self) -> None:
        """Every request to the emulator must carry a sandbox account's credentials, checked here before any
        route runs (so a route added later cannot forget it); the carrier's own route checks them again,
        bound to the account its path names. The diagnostic log takes the operator's token instead."""
        emulator = self

        @self.app.get(LOG_PATH)
        async def sandbox_log(request: Request) -> dict[str, Any]:
            """What this emulator saw (callback tokens redacted), for tests that run the server in another process."""
            return emulator.log_view()

        @self.app.middleware("http")
        async def sealed(request: Request, call_next: Callable[[Request], Any]) -> Response:
            if route_path(request) == LOG_PATH:
                ok = emulator.observer_admitted(request)
            else:
                ok = emulator.admits(*(await emulator.presented(request)))
            if not ok:
                return emulator.refuse()
            return await call_next(request)

    def log_view(self) -> dict[str, Any]:
        return {
            "received": [
                {"method": r.method, "path": r.path, "params": redact(r.params), "at": r.at} for r in self.received
            ],
            "calls": [
                {
                    "id": c.id,
                    "to": c.to,
                    "status": c.status,
                    "streams": c.streams_opened,
                    "heard_secs": len(c.heard) / 16000,
                    "transferred_to": c.transferred_to,
                }
                for c in self.calls.values()
            ],
        }

    # --- to be supplied by each carrier -------------------------------------------------------------
    @abstractmethod
    def routes(self) -> None: ...

    wire: MediaWire

    @abstractmethod
    async def notify(self, call: EmuCall, event: str) -> None:
        """Send the carrier's status callback for `event` (ringing, answered, busy, …, completed)."""

    @abstractmethod
    async def stream_target(self, call: EmuCall) -> tuple[str, dict[str, str]] | None:
        """Where the answered call's audio goes (websocket URL, custom parameters), or None to hang up."""

    async def amd_verdict(self, call: EmuCall) -> None:
        """Report answering-machine detection if the create request asked for it (carriers without AMD: nothing)."""
        return None

    async def transfer_target(self, call: EmuCall) -> str | None:
        """The number the new instructions of a transfer (`call.redirect`) dial, or None when they dial none."""
        return None

    # --- shared machinery ---------------------------------------------------------------------------
    def new_call_id(self) -> str:
        return self.call_id_prefix + secrets.token_hex(16)

    async def presented(self, request: Request) -> tuple[str | None, str | None]:
        """The (login, secret) a REST request authenticates with; a carrier that does not use HTTP Basic or a
        bearer token (Vobiz's headers, MCube's token in the body) says where its requests carry them."""
        return presented_credentials(request)

    def refuse(self) -> Response:
        """The answer to a request without valid sandbox credentials (each emulator gives its carrier's own)."""
        return JSONResponse({"error": "Authentication credentials invalid."}, status_code=401)

    def register(self, account: str, secret: str) -> None:
        """Accept `account` with `secret` in this process (tests that point live calls at the emulator).
        An "SID:key" account (Exotel's) is also known by its key, the login its requests present."""
        self.accounts[account] = secret
        self._logins[account.rpartition(":")[2]] = secret

    def _expected(self, account: str) -> str | None:
        known = self.accounts.get(account) or self._logins.get(account)
        if known is not None:
            return known
        return self.sandbox_secret(self.seal, account) if self.seal is not None else None

    # --- sandbox accounts (sandbox/credentials.py): shaped like the carrier's own ------------------------
    @classmethod
    @abstractmethod
    def sandbox_account(cls, seal: SandboxSeal, partner_id: str) -> dict[str, str]:
        """The partner's sandbox account at this carrier: the fields of the carrier's credentials that replace
        the connection's own account and secrets when the dialer places a sandbox call."""

    @classmethod
    @abstractmethod
    def sandbox_secret(cls, seal: SandboxSeal, account: str) -> str | None:
        """The secret a sandbox account must present, or None when `account` is not one. `account` is what
        this emulator calls the account (see `presented`)."""

    def admits(self, login: str | None, secret: str | None) -> bool:
        """The credentials a request presents (basic user and password, or a bearer token) are a sandbox account's."""
        if not login or not secret:
            return False
        expected = self._expected(login)
        return expected is not None and secrets.compare_digest(expected.encode(), secret.encode())

    def authenticate(self, account: str | None, secret: str | None) -> bool:
        """`secret` is the secret of `account`: a sandbox account (see sandbox/credentials.py) or one this
        process registered. Never an account claimed by its first user. Known accounts sign callbacks."""
        if not account or not secret:
            return False
        expected = self._expected(account)
        if expected is None or not secrets.compare_digest(expected.encode(), secret.encode()):
            return False
        self.accounts.setdefault(account, expected)
        return True

    def observer_admitted(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token or self.seal is None:
            return False
        return secrets.compare_digest(token.encode(), self.seal.observer_token().encode())

    async def injected_failure(self) -> int | None:
        if self.create_delay_secs:
            await asyncio.sleep(self.create_delay_secs)
        return self.create_failures.pop(0) if self.create_failures else None

    def script_for(self, to_number: str) -> Script:
        if to_number in self.scripts:
            return self.scripts[to_number]
        return callee.script_for(to_number, self.default_script)

    def record(self, method: str, path: str, params: dict[str, Any]) -> None:
        self.received.append(Received(method, path, params, time.time()))
        if len(self.received) > 20_000:
            del self.received[:10_000]

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        return self._http

    def ours(self, url: str) -> bool:
        """The emulators only ever call this server back: never a URL a stranger put in a request."""
        base = self.public_base_url
        ws_base = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return any(url == b or url.startswith(b + "/") for b in (base, ws_base))

    async def post(
        self, url: str, params: dict[str, Any], headers: dict[str, str] | None = None, *, as_json: bool = False
    ) -> httpx.Response | None:
        if not self.ours(url):
            log.warning("%s emulator: refused to call back %s (not this server)", self.provider, redact(url))
            self.sent.append(Sent(url, params, None))
            return None
        client = await self.http()
        try:
            if as_json:
                resp = await client.post(url, json=params, headers=headers or {})
            else:
                resp = await client.post(url, data=params, headers=headers or {})
        except httpx.HTTPError as exc:
            log.warning("%s emulator: callback to %s failed: %s", self.provider, redact(url), exc)
            self.sent.append(Sent(url, params, None))
            return None
        self.sent.append(Sent(url, params, resp.status_code))
        return resp

    async def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response | None:
        """GET one of this server's URLs (a document the carrier fetches), None when it failed."""
        if not self.ours(url):
            log.warning("%s emulator: refused to fetch %s (not this server)", self.provider, redact(url))
            self.sent.append(Sent(url, {}, None))
            return None
        client = await self.http()
        try:
            resp = await client.get(url, headers=headers or {})
        except httpx.HTTPError as exc:
            log.warning("%s emulator: fetching %s failed: %s", self.provider, redact(url), exc)
            self.sent.append(Sent(url, {}, None))
            return None
        self.sent.append(Sent(url, {}, resp.status_code))
        return resp

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def hang_up(self, call: EmuCall) -> None:
        call.hangup.set()

    def transfer(self, call: EmuCall, request: dict[str, Any]) -> None:
        """A live call got new instructions: its media stream stops, then they run (see `_bridge`)."""
        call.redirect = request
        call.redirected.set()

    def start(self, call: EmuCall) -> None:
        if len(self.calls) >= 20_000:  # a long-running server keeps only recent sandbox calls
            for key in [k for k, c in self.calls.items() if c.ended_at is not None][:10_000]:
                del self.calls[key]
        self.calls[call.id] = call
        self.spawn(self._run(call))

    async def _run(self, call: EmuCall) -> None:
        try:
            await self._timeline(call)
        except Exception as exc:  # the emulator must never take the server down
            log.exception("%s emulator: call %s broke", self.provider, call.id)
            call.error = repr(exc)
            if call.ended_at is None:
                call.status = "failed"
                call.ended_at = time.time()

    async def _wait_or_hangup(self, call: EmuCall, secs: float) -> bool:
        """Sleep `secs`; True when we hung up meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.hangup.wait(), secs)
            return True
        return False

    async def _timeline(self, call: EmuCall) -> None:
        call.status = "initiated"
        await self.notify(call, "initiated")
        call.status = "ringing"
        await self.notify(call, "ringing")
        script = call.script
        ring_limit = float(self.ring_timeout(call))
        if await self._wait_or_hangup(call, min(script.ring_secs, ring_limit)):
            return await self._end(call, "canceled")
        if script.outcome in ("busy", "declined", "failed"):
            return await self._end(call, script.outcome)
        if script.outcome == "no_answer" or script.ring_secs >= ring_limit:
            return await self._end(call, "no_answer")
        call.status = "in-progress"
        call.answered_at = time.time()
        call.answered_by = "machine" if script.outcome == "machine" else "human"
        await self.notify(call, "answered")
        target = await self.stream_target(call)
        if script.answer_twice and target is not None:
            again = await self.stream_target(call)  # the duplicate answer request some carriers make
            if again is not None:
                self.spawn(self._stream(call, *again, duplicate=True))
        self.spawn(self.amd_verdict(call))
        if target is not None:
            await self._stream(call, *target)
        if call.redirected.is_set() and call.ended_at is None:
            await self._bridge(call)
        await self._end(call, "completed")

    async def _bridge(self, call: EmuCall) -> None:
        """Run a transfer's instructions: dial the number and keep the callee on with it for a while."""
        number = await self.transfer_target(call)
        if number is None:
            return  # instructions that dial nobody: the call ends when they run out
        call.transferred_to = number
        await self._wait_or_hangup(call, call.script.bridged_secs)

    def ring_timeout(self, call: EmuCall) -> float:
        return 60.0

    def max_duration(self, call: EmuCall) -> float:
        return 4 * 3600.0

    async def _end(self, call: EmuCall, outcome: str) -> None:
        if call.ended_at is not None:
            return
        call.ended_at = time.time()
        call.status = outcome
        await self.notify(call, outcome)

    async def _stream(self, call: EmuCall, url: str, params: dict[str, str], duplicate: bool = False) -> None:
        """The media leg: the callee talks (its tone or its lines) and records what it hears until someone hangs up."""
        wire = self.wire
        if not self.ours(url):
            call.error = f"refused to stream to {url} (not this server)"
            return
        stream_id = "MZ" + secrets.token_hex(16)
        call.streams_opened += 1
        try:
            async with ws_connect(url, open_timeout=10, max_size=2**22) as ws:
                for message in wire.opening(call, stream_id, params):
                    await ws.send(json.dumps(message))
                talk = asyncio.create_task(self._talk(call, ws, stream_id))
                listen = asyncio.create_task(self._listen(call, ws, stream_id))
                hangup = asyncio.create_task(call.hangup.wait())
                redirect = asyncio.create_task(call.redirected.wait())
                limit = call.script.talk_secs if call.script.talk_secs is not None else self.max_duration(call)
                tasks = {talk, listen, hangup, redirect}
                done, _ = await asyncio.wait(tasks, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                stop = wire.stop(call, stream_id)
                if redirect in done and listen not in done:  # transferred: the stream stops, the call goes on
                    with contextlib.suppress(ConnectionClosed):
                        if stop is not None:
                            await ws.send(json.dumps(stop))
                elif listen not in done and not self.closes_stream and not duplicate:
                    # Field failure some carriers show: the call ends, the stream stays open until we close it.
                    await self._end(call, "canceled" if hangup in done and call.answered_at is None else "completed")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._drain(ws), self.max_duration(call))
                elif listen not in done:  # the callee (or the REST hang-up) ended it: stop the stream
                    with contextlib.suppress(ConnectionClosed):
                        if stop is not None:
                            await ws.send(json.dumps(stop))
            if not duplicate:
                call.stream_closed_at = time.time()
        except (OSError, ConnectionClosed, TimeoutError) as exc:
            if not duplicate:
                log.info("%s emulator: media stream of %s ended: %s", self.provider, call.id, exc)
        except Exception as exc:  # noqa: BLE001 - e.g. the server refused the websocket handshake
            if not duplicate:
                log.info("%s emulator: media stream of %s refused: %s", self.provider, call.id, exc)

    async def _drain(self, ws: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass

    async def _talk(self, call: EmuCall, ws: Any, stream_id: str) -> None:
        """The callee's side of the media stream, paced in real time: its lines when it has some, else its tone."""
        lines = await self._lines_of(call)
        if lines:
            await self._say_lines(call, ws, stream_id, lines)
            return
        script = call.script
        chunks = frames(tone(script.hz, 1.0)) if script.hz else [bytes(FRAME_SAMPLES * 2)]
        seq = 0
        started = time.monotonic()
        while True:
            pcm = chunks[seq % len(chunks)]
            await ws.send(json.dumps(self.wire.media(call, stream_id, pcm, seq)))
            seq += 1
            call.sent_secs = seq * FRAME_MS / 1000
            # Real-time pacing against the clock, so scheduling jitter never accumulates.
            await asyncio.sleep(max(0.0, started + seq * FRAME_MS / 1000 - time.monotonic()))

    async def _lines_of(self, call: EmuCall) -> tuple[bytes, ...]:
        """What the callee will say: the call's own lines if it gave some, else its script's (spoken offline)."""
        if call.script.lines:
            return call.script.lines
        texts = call.script.texts
        if self.custom_lines is not None and call.script.outcome == "human":
            try:
                asked = await self.custom_lines(call.id)
            except Exception:  # a lookup that fails leaves the callee its own lines
                log.exception("%s emulator: custom callee lines of %s could not be read", self.provider, call.id)
                asked = ()
            if asked:
                call.script = callee.with_custom_lines(call.script, asked)
                texts = asked
        if not texts:
            return ()
        spoken = await callee_speech.speak_all(texts)
        if spoken is None:  # no offline voice installed: the callee falls back to its tone
            call.error = call.error or "no offline voice to speak the callee's lines"
            return ()
        return spoken

    async def _say_lines(self, call: EmuCall, ws: Any, stream_id: str, lines: tuple[bytes, ...]) -> None:
        """Say the lines as a person would: wait for the bot's greeting to end (nothing heard for
        BOT_DONE_QUIET_SECS, at most GREETING_WAIT_SECS), pause, say a line, wait until the bot has
        answered it and gone quiet (at most ANSWER_WAIT_SECS), and so on; then hang up, or stay on in silence.
        An answering machine speaks at once; an interrupting callee starts while the greeting still plays."""
        script = call.script
        frame_bytes = FRAME_SAMPLES * 2
        silence = bytes(frame_bytes)
        seq = 0
        started = time.monotonic()
        heard = [0, time.monotonic()]  # bytes the callee had heard, when that count last grew

        def bot_quiet_for(secs: float) -> bool:
            size = len(call.heard)
            if size != heard[0]:
                heard[0], heard[1] = size, time.monotonic()
            return size > 0 and time.monotonic() - heard[1] > secs

        async def send(pcm: bytes) -> None:
            nonlocal seq
            await ws.send(json.dumps(self.wire.media(call, stream_id, pcm, seq)))
            seq += 1
            call.sent_secs = seq * FRAME_MS / 1000
            await asyncio.sleep(max(0.0, started + seq * FRAME_MS / 1000 - time.monotonic()))

        async def say(pcm: bytes) -> None:
            for i in range(0, len(pcm), frame_bytes):
                await send(pcm[i : i + frame_bytes].ljust(frame_bytes, b"\x00"))

        async def silence_until(done: Callable[[], bool], limit: float) -> None:
            deadline = time.monotonic() + limit
            while not done() and time.monotonic() < deadline:
                await send(silence)

        if script.interrupts:  # a few words into the greeting
            bytes_in = int(INTERRUPT_AFTER_SECS * 8000 * 2)
            await silence_until(lambda: len(call.heard) >= bytes_in, GREETING_WAIT_SECS)
        elif not script.speaks_first:
            await silence_until(lambda: bot_quiet_for(BOT_DONE_QUIET_SECS), GREETING_WAIT_SECS)
        for number, pcm in enumerate(lines):
            if number or not (script.speaks_first or script.interrupts):
                await silence_until(lambda: False, PAUSE_BEFORE_LINE_SECS)
            call.lines_said += 1
            await say(pcm)
            if number == 0 and script.beep_after_first_line:
                await say(tone(BEEP_HZ, BEEP_SECS))
                break  # a machine records from here on
            mark = len(call.heard)
            await silence_until(
                lambda m=mark: len(call.heard) > m and bot_quiet_for(BOT_DONE_QUIET_SECS), ANSWER_WAIT_SECS
            )
        if script.hangs_up_after_lines:
            await silence_until(lambda: bot_quiet_for(GOODBYE_GRACE_SECS), ANSWER_WAIT_SECS)
            return  # the callee hangs up
        while True:
            await send(silence)

    async def _listen(self, call: EmuCall, ws: Any, stream_id: str) -> None:
        async for raw in ws:
            try:
                message = json.loads(raw)
            except (TypeError, ValueError):
                continue
            pcm = self.wire.incoming(message)
            if pcm:
                call.heard.extend(pcm)
            answer = self.wire.reply(call, stream_id, message)
            if answer is not None:
                await ws.send(json.dumps(answer))
