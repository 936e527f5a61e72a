"""MCube, emulated: the outbound-call REST API with a Bearer JWT (a malformed or expired token is 401),
JSON status callbacks to the request's `refurl` (unsigned), and a Twilio-like media stream of 16-bit
PCM at 8 kHz opened on the `stream_url` given at create time."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from voxline.sandbox.emulator import EmuCall, Emulator, MediaWire, b64

STATUS = {
    "ringing": "RINGING",
    "answered": "ANSWER",
    "completed": "COMPLETE",
    "busy": "BUSY",
    "declined": "REJECTED",
    "no_answer": "NOANSWER",
    "failed": "FAILED",
    "canceled": "CANCEL",
}
CAUSE = {"busy": "USER_BUSY", "declined": "CALL_REJECTED", "failed": "UNALLOCATED_NUMBER", "no_answer": "NO_ANSWER"}
FINAL = ("completed", "busy", "declined", "no_answer", "failed", "canceled")


def mcube_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "msg": message}, status_code=status)


def jwt_ok(token: str) -> bool:
    """Well formed, with a JSON payload that has not expired: what MCube checks before anything else."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return False
    return isinstance(payload, dict) and float(payload.get("exp", time.time() + 1)) > time.time()


class MCubeWire(MediaWire):
    frame_bytes = 320

    def opening(self, call: EmuCall, stream_id: str, params: dict[str, str]) -> list[dict[str, Any]]:
        start = {
            "streamId": stream_id,
            "callId": call.id,
            "customParameters": {"ref_id": str(call.params.get("ref_id", ""))},
            "mediaFormat": {"encoding": "audio/l16", "sampleRate": 8000, "channels": 1},
        }
        return [{"event": "connected"}, {"event": "start", "streamId": stream_id, "start": start}]

    def media(self, call: EmuCall, stream_id: str, pcm: bytes, seq: int) -> dict[str, Any]:
        return {"event": "media", "streamId": stream_id, "media": {"chunk": seq + 1, "payload": b64(pcm)}}

    def stop(self, call: EmuCall, stream_id: str) -> dict[str, Any]:
        return {"event": "stop", "streamId": stream_id, "callId": call.id}

    def incoming(self, message: dict[str, Any]) -> bytes | None:
        if message.get("event") != "media":
            return None
        return base64.b64decode((message.get("media") or {}).get("payload") or "")


class MCubeEmulator(Emulator):
    provider = "mcube"
    wire = MCubeWire()

    def routes(self) -> None:
        app = self.app

        def token_of(request: Request) -> str | None:
            header = request.headers.get("authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            return token if token and jwt_ok(token) and self.authenticate(token, token) else None

        @app.post("/Restmcube-api/outbound-calls")
        async def outbound(request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                body = None
            self.record("POST", request.url.path, body if isinstance(body, dict) else {})
            token = token_of(request)
            if token is None:
                return mcube_error(401, "Invalid or expired token")
            if not isinstance(body, dict):
                return mcube_error(400, "JSON body required")
            for required in ("exe_number", "cust_number", "refurl", "stream_url"):
                if not body.get(required):
                    return mcube_error(400, f"{required} is required")
            if not re.match(r"^\+?\d{6,15}$", str(body["cust_number"])):
                return mcube_error(400, "cust_number is not a phone number")
            to = str(body["cust_number"])
            call = EmuCall(self.new_call_id(), token, to, str(body["exe_number"]), body, self.script_for(to))
            self.start(call)
            return JSONResponse({"status": "success", "callid": call.id, "msg": "Call initiated"})

        @app.post("/Restmcube-api/hangup-call")
        async def hang_up(request: Request) -> Response:
            body = await request.json()
            self.record("POST", request.url.path, body if isinstance(body, dict) else {})
            token = token_of(request)
            if token is None:
                return mcube_error(401, "Invalid or expired token")
            call = self.calls.get(str((body or {}).get("callid")))
            if call is None or call.account != token or call.ended_at is not None:
                return mcube_error(404, "call not found or already ended")
            self.hang_up(call)
            return JSONResponse({"status": "success"})

        @app.get("/Restmcube-api/call-status/{callid}")
        async def status(callid: str, request: Request) -> Response:
            token = token_of(request)
            if token is None:
                return mcube_error(401, "Invalid or expired token")
            call = self.calls.get(callid)
            if call is None or call.account != token:
                return mcube_error(404, "call not found")
            return JSONResponse({"status": STATUS.get(call.status, "RINGING"), "duration": call.duration})

    def new_call_id(self) -> str:
        return "MC" + super().new_call_id()[:24]

    def ring_timeout(self, call: EmuCall) -> float:
        return float(call.params.get("ring_timeout") or 60)

    def max_duration(self, call: EmuCall) -> float:
        return float(call.params.get("max_duration") or 14400)

    async def notify(self, call: EmuCall, event: str) -> None:
        if event not in STATUS:
            return
        params: dict[str, Any] = {
            "callid": call.id,
            "ref_id": call.params.get("ref_id"),
            "status": STATUS[event],
            "exe_number": call.from_,
            "cust_number": call.to,
        }
        if event in FINAL:
            params["duration"] = call.duration
            params["endtime"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            if event in CAUSE:
                params["hangup_cause"] = CAUSE[event]
        await self.post(call.params["refurl"], params, as_json=True)

    async def stream_target(self, call: EmuCall) -> tuple[str, dict[str, str]] | None:
        return str(call.params["stream_url"]), {}
