"""Exotel, emulated: the Calls/connect REST API (basic auth api_key:api_token, form parameters,
Exotel's RestException errors), the voicebot flow that opens one fixed websocket URL with no XML step,
Exotel's stream events with 16-bit PCM at 8 kHz in multiples of 320 bytes, unsigned status callbacks
(JSON when asked), and its field failure: the stream is not closed when the call ends."""

from __future__ import annotations

import base64
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse, Response

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
DETAIL = {"declined": "rejected by callee", "failed": "invalid number"}
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
            "media_format": {"encoding": "raw/slin", "sample_rate": "8000", "bit_rate": "128kbps"},
        }
        return [
            {"event": "connected"},
            {"event": "start", "sequence_number": 1, "stream_sid": stream_id, "start": start},
        ]

    def media(self, call: EmuCall, stream_id: str, pcm: bytes, seq: int) -> dict[str, Any]:
        media = {"chunk": seq + 1, "timestamp": str(seq * 20), "payload": b64(pcm)}
        return {"event": "media", "sequence_number": seq + 2, "stream_sid": stream_id, "media": media}

    def stop(self, call: EmuCall, stream_id: str) -> dict[str, Any]:
        stop = {"call_sid": call.id, "account_sid": call.account, "reason": "callended"}
        return {"event": "stop", "stream_sid": stream_id, "stop": stop}

    def incoming(self, message: dict[str, Any]) -> bytes | None:
        if message.get("event") != "media":
            return None
        return base64.b64decode((message.get("media") or {}).get("payload") or "")

    def reply(self, call: EmuCall, stream_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
        if message.get("event") == "media":
            size = len(base64.b64decode((message.get("media") or {}).get("payload") or ""))
            if size % 320:
                call.wire_errors.append(f"media chunk of {size} bytes is not a multiple of 320")
        if message.get("event") == "mark":
            return {"event": "mark", "stream_sid": stream_id, "mark": message.get("mark") or {}}
        return None


class ExotelEmulator(Emulator):
    provider = "exotel"
    wire = ExotelWire()
    closes_stream = False

    def routes(self) -> None:
        app = self.app

        def authorized(request: Request, sid: str) -> bool:
            key, token = basic_auth(request)
            return bool(key) and self.authenticate(f"{sid}:{key}", token)

        @app.post("/v1/Accounts/{sid}/Calls/connect.json")
        async def connect(sid: str, request: Request) -> Response:
            form = dict(await form_items(request))
            self.record("POST", request.url.path, form)
            if not authorized(request, sid):
                return exotel_error(401, "Authentication is required to view this resource.")
            for required in ("From", "CallerId", "Url"):
                if not form.get(required):
                    return exotel_error(400, f"Missing parameter {required}", 400)
            flow = FLOW_URL.match(form["Url"])
            if flow is None or flow.group("sid") != sid:
                return exotel_error(
                    400, "Url must be a flow of this account: http://my.exotel.com/<sid>/exoml/start_voice/<id>"
                )
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

        @app.post("/v1/Accounts/{sid}/Calls/{call_sid}.json")
        async def hang_up(sid: str, call_sid: str, request: Request) -> Response:
            self.record("POST", request.url.path, dict(await form_items(request)))
            if not authorized(request, sid):
                return exotel_error(401, "Authentication is required to view this resource.")
            call = self.calls.get(call_sid)
            if call is None or call.account != sid or call.ended_at is not None:
                return exotel_error(404, "Call not found")
            self.hang_up(call)
            return JSONResponse({"Call": self.resource(call)})

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
        wanted = {v for k, v in call.params.items() if k.startswith("StatusCallbackEvents")}
        kind = "terminal" if event in FINAL else event
        if kind not in wanted:
            return
        params: dict[str, Any] = {
            "CallSid": call.id,
            "EventType": kind,
            "Status": STATUS[event],
            "CustomField": call.params.get("CustomField", ""),
            "DateUpdated": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        }
        if event in FINAL:
            params["ConversationDuration"] = call.duration
            if event in DETAIL:
                params["DialCallStatus"] = DETAIL[event]
        as_json = call.params.get("StatusCallbackContentType") == "application/json"
        await self.post(url, params if as_json else {k: str(v) for k, v in params.items()}, as_json=as_json)

    async def stream_target(self, call: EmuCall) -> tuple[str, dict[str, str]] | None:
        # The voicebot applet's configured URL: fixed for the flow, the session named by CustomField.
        base = self.public_base_url.replace("https://", "wss://").replace("http://", "ws://")
        return f"{base}/telephony/exotel/media", dict(parse_qsl(call.params.get("CustomField", "")))
