"""Exotel, emulated from Exotel's documents (connect-to-flow, Connect Voice AI, the Voicebot applet, the
AgentStream websocket protocol, the status callback): `Calls/connect` with HTTP Basic api_key:api_token
and form parameters (a flow `Url` of this account, or Connect Voice AI's `StreamUrl` +
`StreamType=bidirectional`), RestException errors, no answer step: the Voicebot applet opens the URL
configured in the flow, and Connect Voice AI the call's `StreamUrl`. The applet URL's query parameters
(at most three) become `start.custom_parameters`; `CustomField` never reaches the stream, it comes back
in status callbacks. Stream events in Exotel's documented snake case, 16-bit PCM at 8 kHz; outbound
`media` must be >= 3.2 KB, <= 100 KB and a multiple of 320 bytes (anything else is a wire error);
`clear` flushes, `mark` is echoed. Status callbacks are form posts, unsigned. Exotel documents no REST
hang-up for these calls: closing the stream ends a Connect Voice AI call, and moves a flow to its next
applet (here: hang up). Field failure kept: the stream is not closed when the call ends."""

from __future__ import annotations

import base64
import hmac
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from voxline.sandbox.credentials import SandboxSeal
from voxline.sandbox.emulator import EmuCall, Emulator, MediaWire, b64, form_items
from voxline.sandbox.twilio import basic_auth

STATUS = {
    "initiated": "queued",
    "ringing": "ringing",
    "answered": "in-progress",
    "completed": "completed",
    "busy": "busy",
    "declined": "busy",
    "no_answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}
MIN_CHUNK, MAX_CHUNK, ALIGN = 3200, 100_000, 320
FINAL = ("completed", "busy", "declined", "no_answer", "failed", "canceled")
FLOW_URL = re.compile(r"^https?://my\.exotel\.com/(?P<sid>[^/]+)/exoml/start_voice/(?P<applet>[0-9A-Za-z_-]+)$")


def exotel_error(status: int, message: str, code: int | None = None) -> JSONResponse:
    return JSONResponse({"RestException": {"Status": status, "Message": message, "Code": code}}, status_code=status)


class ExotelWire(MediaWire):
    frame_bytes = 320

    def opening(self, call: EmuCall, stream_id: str, params: dict[str, str]) -> list[dict[str, Any]]:
        start = {
            "stream_sid": stream_id,
            "call_sid": call.id,
            "account_sid": call.account,
            "from": call.to,
            "to": call.from_,
            "custom_parameters": params,
            "media_format": {"encoding": "audio/x-raw", "sample_rate": "8000", "bit_rate": "16"},
        }
        return [
            {"event": "connected"},
            {"event": "start", "sequence_number": "1", "stream_sid": stream_id, "start": start},
        ]

    def media(self, call: EmuCall, stream_id: str, pcm: bytes, seq: int) -> dict[str, Any]:
        media = {"chunk": str(seq + 1), "timestamp": str(seq * 20), "payload": b64(pcm)}
        return {"event": "media", "sequence_number": str(seq + 2), "stream_sid": stream_id, "media": media}

    def stop(self, call: EmuCall, stream_id: str) -> dict[str, Any]:
        stop = {"call_sid": call.id, "account_sid": call.account, "reason": "callended"}
        return {"event": "stop", "stream_sid": stream_id, "stop": stop}

    def incoming(self, message: dict[str, Any]) -> bytes | None:
        if message.get("event") != "media":
            return None
        return base64.b64decode((message.get("media") or {}).get("payload") or "")

    def reply(self, call: EmuCall, stream_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
        event = message.get("event")
        if event in ("media", "mark", "clear"):
            named = message.get("stream_sid") or message.get("streamSid")
            if named != stream_id:
                call.wire_errors.append(f"{event} names stream {named!r}, not {stream_id!r}")
        if event == "media":
            size = len(base64.b64decode((message.get("media") or {}).get("payload") or ""))
            if size < MIN_CHUNK or size > MAX_CHUNK or size % ALIGN:
                call.wire_errors.append(f"media chunk of {size} bytes (needs 3200..100000, a multiple of 320)")
        if event == "clear":
            call.params.setdefault("_clears", 0)
            call.params["_clears"] += 1
        if event == "mark":
            return {"event": "mark", "stream_sid": stream_id, "mark": message.get("mark") or {}}
        return None


class ExotelEmulator(Emulator):
    provider = "exotel"
    wire = ExotelWire()
    closes_stream = False

    def refuse(self) -> Response:
        return exotel_error(401, "Authentication is required to view this resource.")

    # The API key is derived from the account SID, and the token from the key, so a key and token can be
    # checked before the SID a request names is known, and then that the key belongs to that SID.
    @staticmethod
    def _sandbox_key(seal: SandboxSeal, sid: str) -> str:
        return "vxk" + seal.hex("exotel-key", sid)[:29]

    @classmethod
    def sandbox_account(cls, seal: SandboxSeal, partner_id: str) -> dict[str, str]:
        sid = "vxsandbox" + seal.account(cls.provider, partner_id)[:16]
        api_key = cls._sandbox_key(seal, sid)
        return {"account_sid": sid, "api_key": api_key, "api_token": seal.secret(cls.provider, api_key)[:40]}

    @classmethod
    def sandbox_secret(cls, seal: SandboxSeal, account: str) -> str | None:
        """`account` is "SID:API key", or the API key alone before the SID is known."""
        sid, _, api_key = account.rpartition(":")
        if sid and not hmac.compare_digest(cls._sandbox_key(seal, sid), api_key):
            return None
        return seal.secret(cls.provider, api_key)[:40]

    def __init__(self, public_base_url: str) -> None:
        self.flows: dict[str, str] = {}  # flow Url -> the URL its Voicebot applet is configured with
        self.tokens: dict[str, str] = {}  # account sid -> API token it authenticated with
        super().__init__(public_base_url)

    def routes(self) -> None:
        app = self.app

        def authorized(request: Request, sid: str) -> bool:
            key, token = basic_auth(request)
            if not key or not self.authenticate(f"{sid}:{key}", token):
                return False
            self.tokens[sid] = token or ""
            return True

        @app.post("/v1/Accounts/{sid}/Calls/connect")
        @app.post("/v1/Accounts/{sid}/Calls/connect.json")
        async def connect(sid: str, request: Request) -> Response:
            items = await form_items(request)
            form = dict(items)
            form["_events"] = [v for k, v in items if k.startswith("StatusCallbackEvents")]
            self.record("POST", request.url.path, form)
            if not authorized(request, sid):
                return exotel_error(401, "Authentication is required to view this resource.")
            refusal = self.refusal(sid, form)
            if refusal:
                return exotel_error(400, refusal, 400)
            to = form["From"]
            call = EmuCall(self.new_call_id(), sid, to, form["CallerId"], form, self.script_for(to))
            self.start(call)
            return JSONResponse({"Call": self.resource(call)})

        @app.get("/v1/Accounts/{sid}/Calls/{call_sid}.json")
        async def details(sid: str, call_sid: str, request: Request) -> Response:
            if not authorized(request, sid):
                return exotel_error(401, "Authentication is required to view this resource.")
            call = self.calls.get(call_sid)
            if call is None or call.account != sid:
                return exotel_error(404, "Call not found")
            return JSONResponse({"Call": self.resource(call)})

    def refusal(self, sid: str, form: dict[str, Any]) -> str | None:
        """Why Exotel would refuse this Calls/connect request (its documented parameter rules), or None."""
        for required in ("From", "CallerId"):
            if not form.get(required):
                return f"Missing parameter {required}"
        if form.get("StreamUrl") or form.get("StreamType"):  # Connect Voice AI
            url = str(form.get("StreamUrl") or "")
            if not url.startswith(("ws://", "wss://")) or len(url) >= 600:
                return "StreamUrl must be a ws:// or wss:// URL shorter than 600 characters"
            if form.get("StreamType") != "bidirectional":
                return "StreamType must be bidirectional"
            allowed = {"answered", "terminal", "ringing"}
        else:
            flow = FLOW_URL.match(str(form.get("Url") or ""))
            if flow is None or flow.group("sid") != sid:
                return "Url must be a flow of this account: http://my.exotel.com/<sid>/exoml/start_voice/<id>"
            allowed = {"answered", "terminal"}
        if any(event not in allowed for event in form["_events"]):
            return f"StatusCallbackEvents must be among {sorted(allowed)}"
        limit = str(form.get("TimeLimit") or "0")
        if not limit.isdigit() or int(limit) > 14400:
            return "TimeLimit must be at most 14400 seconds"
        if len(str(form.get("CustomField") or "")) > 128:
            return "CustomField must be at most 128 characters"
        return None

    def new_call_id(self) -> str:
        return super().new_call_id()[:32]

    def resource(self, call: EmuCall) -> dict[str, Any]:
        return {
            "Sid": call.id,
            "AccountSid": call.account,
            "To": call.to,
            "From": call.from_,
            "Status": STATUS.get(call.status, call.status),
            "Duration": call.duration if call.ended_at else None,
            "StartTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(call.created)),
        }

    def ring_timeout(self, call: EmuCall) -> float:
        return float(call.params.get("TimeOut") or 60)

    def max_duration(self, call: EmuCall) -> float:
        return float(call.params.get("TimeLimit") or 14400)

    async def notify(self, call: EmuCall, event: str) -> None:
        url = call.params.get("StatusCallback")
        if not url:
            return
        kind = "terminal" if event in FINAL else event
        wanted = set(call.params.get("_events") or []) or {"terminal"}  # without events: terminal only
        if kind not in wanted:
            return
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        params: dict[str, str] = {
            "CallSid": call.id,
            "Status": STATUS[event],
            "DateUpdated": now,
            "RecordingUrl": "",
        }
        if call.params.get("_events"):
            params |= {
                "EventType": kind,
                "DateCreated": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(call.created)),
                "To": call.from_,
                "From": call.to,
                "Direction": "outbound-api",
                "CustomField": str(call.params.get("CustomField", "")),
                "StartTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(call.created)),
            }
            if kind == "terminal":
                params |= {
                    "EndTime": now,
                    "ConversationDuration": str(call.duration),
                    "Legs[0][Status]": STATUS[event],
                    "Legs[0][OnCallDuration]": str(call.duration),
                }
        await self.post(url, params)

    def voicebot_url(self, call: EmuCall) -> str:
        """The URL the flow's Voicebot applet is configured with. A real account's user pastes it from the
        connection's setup settings; the sandbox account's user is shown the same (`account_setup`), and
        `flows` (a flow Url → applet URL) overrides it."""
        configured = self.flows.get(str(call.params.get("Url", "")))
        if configured:
            return configured
        if self.account_setup is None:
            return ""
        setup = self.account_setup({"account_sid": call.account, "api_token": self.tokens.get(call.account, "")})
        return str(setup.get("voicebot_url") or "")

    async def stream_target(self, call: EmuCall) -> tuple[str, dict[str, str]] | None:
        # Connect Voice AI streams to the call's StreamUrl; a flow's Voicebot applet to its configured URL.
        url = str(call.params.get("StreamUrl") or "") or self.voicebot_url(call)
        if not url:
            call.error = "the flow's Voicebot applet has no URL configured"
            return None
        parts = urlsplit(url)
        custom = dict(parse_qsl(parts.query))
        if len(custom) > 3 or len(parts.query) > 256:
            call.error = "at most 3 custom parameters (256 characters) on the stream URL"
            return None
        return url, custom
