"""MCube, emulated from the only working integration found (invortoai/voice_bot_latest), since MCube's own
documents are not public: what that integration sends and expects is what this emulator checks.

- POST /Restmcube-api/outbound-calls-websocket, JSON, the token in the body as `HTTP_AUTHORIZATION` (no
  auth header); `exenumber`, `custnumber` ten digits each (E.164 is refused), `refurl`, `refid`. Errors
  are HTTP 200 with `"status": false` and `msg`. An account is the executive number; its token is learnt
  on first use and must match after that.
- The call: MCube POSTs JSON (camelCase) to `refurl` with `dialStatus: CONNECTING` and opens the
  `wss_url` the reply names; at the end it POSTs `dialStatus` ANSWER (+`endTime`, `answeredTime`),
  BUSY, CANCEL or NOANSWER (FAILED for a failed call is not seen in the integration: assumed).
- The stream: `start` (callId, streamId, mediaFormat mu-law 8 kHz), `media` (payload, contentType,
  sampleRate); from us `playAudio` with a matching contentType and sampleRate (anything else is a wire
  error), `checkpoint` → `playedStream`, `clearAudio` flushes, `terminate` ends the call.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from voxline.sandbox.audio import ulaw_decode, ulaw_encode
from voxline.sandbox.credentials import SandboxSeal
from voxline.sandbox.emulator import EmuCall, Emulator, MediaWire, Script, b64

DIAL_STATUS = {
    "completed": "ANSWER",
    "busy": "BUSY",
    "declined": "CANCEL",
    "no_answer": "NOANSWER",
    "failed": "FAILED",
    "canceled": "CANCEL",
}
TEN_DIGITS = re.compile(r"^\d{10}$")
REFUSED = "Invalid Request or Executive is not opted for Outbound Calls or agent is in oncall"


def refusal(message: str) -> JSONResponse:
    return JSONResponse({"status": False, "msg": message})


class MCubeWire(MediaWire):
    frame_bytes = 160

    def opening(self, call: EmuCall, stream_id: str, params: dict[str, str]) -> list[dict[str, Any]]:
        start = {
            "callId": call.id,
            "streamId": stream_id,
            "tracks": ["inbound", "outbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        }
        return [{"event": "start", "start": start}]

    def media(self, call: EmuCall, stream_id: str, pcm: bytes, seq: int) -> dict[str, Any]:
        media = {"payload": b64(ulaw_encode(pcm)), "contentType": "audio/x-mulaw", "sampleRate": 8000}
        return {"event": "media", "media": media}

    def stop(self, call: EmuCall, stream_id: str) -> dict[str, Any]:
        # The integration handles no inbound end message (the socket closes); this one is ignored by it.
        return {"event": "stop", "streamId": stream_id}

    def incoming(self, message: dict[str, Any]) -> bytes | None:
        if message.get("event") != "playAudio":
            return None
        media = message.get("media") or {}
        if media.get("contentType") != "audio/x-mulaw" or str(media.get("sampleRate")) != "8000":
            return None
        return ulaw_decode(base64.b64decode(media.get("payload") or ""))

    def reply(self, call: EmuCall, stream_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
        event = message.get("event")
        if event == "playAudio":
            media = message.get("media") or {}
            if media.get("contentType") != "audio/x-mulaw" or str(media.get("sampleRate")) != "8000":
                call.wire_errors.append(f"playAudio in {media.get('contentType')}/{media.get('sampleRate')}")
        elif event == "clearAudio":
            call.params["_clears"] = call.params.get("_clears", 0) + 1
        elif event == "checkpoint":
            return {"event": "playedStream", "streamId": stream_id, "name": message.get("name")}
        elif event == "terminate":
            call.hangup.set()
        else:
            call.wire_errors.append(f"unknown event {event!r}")
        return None


class MCubeEmulator(Emulator):
    provider = "mcube"
    wire = MCubeWire()

    def refuse(self) -> Response:
        return refusal("Invalid token")  # MCube answers 200 with status false

    # MCube has no account id, only a bearer token: the sandbox's is an HS256 JWT signed with the sealed key.
    @classmethod
    def sandbox_account(cls, seal: SandboxSeal, partner_id: str) -> dict[str, str]:
        return {"jwt_token": seal.jwt({"sub": "sandbox-" + seal.account(cls.provider, partner_id)[:24]})}

    @classmethod
    def sandbox_secret(cls, seal: SandboxSeal, account: str) -> str | None:
        return account if seal.jwt_valid(account) else None  # the whole token is the account and the secret

    def routes(self) -> None:
        app = self.app

        @app.post("/Restmcube-api/outbound-calls-websocket")
        async def outbound(request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                body = None
            self.record("POST", request.url.path, body if isinstance(body, dict) else {})
            if not isinstance(body, dict):
                return refusal("Invalid Request")
            token = str(body.get("HTTP_AUTHORIZATION") or "")
            exe = str(body.get("exenumber") or "")
            if not token or not self.authenticate(token, token):
                return refusal("Invalid token")
            for required in ("exenumber", "custnumber", "refurl"):
                if not body.get(required):
                    return refusal(f"{required} is required")
            if not TEN_DIGITS.match(exe) or not TEN_DIGITS.match(str(body["custnumber"])):
                return refusal(REFUSED)
            to = str(body["custnumber"])
            call = EmuCall(self.new_call_id(), exe, to, exe, body, self.script_for(to))
            self.start(call)
            return JSONResponse({"status": True, "callid": call.id, "msg": "Call initiated"})

    async def presented(self, request: Request) -> tuple[str | None, str | None]:
        """MCube carries its token in the JSON body (`HTTP_AUTHORIZATION`), not in a header."""
        try:
            body = await request.json()
        except ValueError:
            return None, None
        token = str(body.get("HTTP_AUTHORIZATION") or "") if isinstance(body, dict) else ""
        return (token, token) if token else (None, None)

    def script_for(self, to_number: str) -> Script:
        """Tests script a callee by its full number; MCube's wire has only its ten digits."""
        for key, script in self.scripts.items():
            if key.lstrip("+").endswith(to_number):
                return script
        return super().script_for(to_number)

    def new_call_id(self) -> str:
        return str(int(time.time() * 1000)) + super().new_call_id()[:8]

    def _base(self, call: EmuCall, dial_status: str) -> dict[str, Any]:
        return {
            "callId": call.id,
            "callDirection": "outbound",
            "fromNumber": "91" + call.from_,
            "toNumber": "91" + call.to,
            "dialStatus": dial_status,
            "callProvider": "mcube",
            "accountId": call.account,
            "startTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(call.created)),
        }

    async def notify(self, call: EmuCall, event: str) -> None:
        if event not in DIAL_STATUS:
            return
        params = self._base(call, DIAL_STATUS[event])
        if event == "completed":
            params |= {
                "endTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                "answeredTime": str(call.duration),
                "filename": "",
            }
        await self.post(str(call.params["refurl"]), params, as_json=True)

    async def stream_target(self, call: EmuCall) -> tuple[str, dict[str, str]] | None:
        call.answer_fetches += 1
        resp = await self.post(str(call.params["refurl"]), self._base(call, "CONNECTING"), as_json=True)
        try:
            url = str(resp.json().get("wss_url") or "") if resp is not None and resp.status_code == 200 else ""
        except ValueError:
            url = ""
        if not url.startswith(("ws://", "wss://")):
            call.error = "the refurl did not answer CONNECTING with a wss_url"
            return None
        return url, {}
