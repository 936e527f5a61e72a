"""Twilio, emulated: the Calls REST API (basic auth, form parameters, Twilio's error JSON), TwiML answer
fetch, <Connect><Stream> Media Streams (mu-law 8 kHz), and status/AMD callbacks signed with
X-Twilio-Signature exactly as Twilio computes it (`twilio.request_validator.RequestValidator`)."""

from __future__ import annotations

import base64
import binascii
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from twilio.request_validator import RequestValidator

from voxline.sandbox.audio import ulaw_decode, ulaw_encode
from voxline.sandbox.credentials import SandboxSeal
from voxline.sandbox.emulator import EmuCall, Emulator, MediaWire, b64, form_items

_E164 = r"^\+[1-9]\d{6,14}$"
EVENT_STATUS = {
    "initiated": "initiated",
    "ringing": "ringing",
    "answered": "in-progress",
    "completed": "completed",
    "busy": "busy",
    "declined": "busy",
    "no_answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}
SIP_CODE = {"busy": "486", "declined": "603", "failed": "404", "no_answer": "487"}
FINAL = ("completed", "busy", "declined", "no_answer", "failed", "canceled")


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status_code=status,
    )


def basic_auth(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return user, password


class TwilioWire(MediaWire):
    def opening(self, call: EmuCall, stream_id: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {"event": "connected", "protocol": "Call", "version": "1.0.0"},
            {
                "event": "start",
                "sequenceNumber": "1",
                "start": {
                    "accountSid": call.account,
                    "streamSid": stream_id,
                    "callSid": call.id,
                    "tracks": ["inbound"],
                    "customParameters": params,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
                "streamSid": stream_id,
            },
        ]

    def media(self, call: EmuCall, stream_id: str, pcm: bytes, seq: int) -> dict[str, Any]:
        return {
            "event": "media",
            "sequenceNumber": str(seq + 2),
            "media": {
                "track": "inbound",
                "chunk": str(seq + 1),
                "timestamp": str(seq * 20),
                "payload": b64(ulaw_encode(pcm)),
            },
            "streamSid": stream_id,
        }

    def stop(self, call: EmuCall, stream_id: str) -> dict[str, Any]:
        return {"event": "stop", "streamSid": stream_id, "stop": {"accountSid": call.account, "callSid": call.id}}

    def incoming(self, message: dict[str, Any]) -> bytes | None:
        if message.get("event") != "media":
            return None
        payload = (message.get("media") or {}).get("payload")
        return ulaw_decode(base64.b64decode(payload)) if payload else None

    def reply(self, call: EmuCall, stream_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
        if message.get("event") == "mark":  # Twilio echoes a mark once the audio before it has played
            return {"event": "mark", "streamSid": stream_id, "mark": message.get("mark") or {}}
        return None


class TwilioEmulator(Emulator):
    provider = "twilio"
    call_id_prefix = "CA"
    wire = TwilioWire()

    def refuse(self) -> Response:
        return twilio_error(401, 20003, "Authenticate")

    @classmethod
    def sandbox_account(cls, seal: SandboxSeal, partner_id: str) -> dict[str, str]:
        sid = "AC" + seal.account(cls.provider, partner_id)[:32]
        return {"account_sid": sid, "auth_token": cls.sandbox_secret(seal, sid)}

    @classmethod
    def sandbox_secret(cls, seal: SandboxSeal, account: str) -> str:
        return seal.secret(cls.provider, account)[:32]  # an auth token is 32 hex characters

    def routes(self) -> None:
        app = self.app

        @app.post("/2010-04-01/Accounts/{account_sid}/Calls.json")
        async def create(account_sid: str, request: Request) -> Response:
            params: dict[str, Any] = {}
            for key, value in await form_items(request):
                params.setdefault(key, []).append(value)
            flat = {k: v[0] if len(v) == 1 else v for k, v in params.items()}
            self.record("POST", request.url.path, flat)
            user, token = basic_auth(request)
            if user != account_sid or not self.authenticate(user, token):
                return twilio_error(401, 20003, "Authenticate")
            failure = await self.injected_failure()
            if failure == 429:
                return twilio_error(429, 20429, "Too Many Requests")
            if failure:
                return twilio_error(failure, 20500, "Internal Server Error")
            to, from_ = flat.get("To"), flat.get("From")
            if not to:
                return twilio_error(400, 21201, "No 'To' number is specified")
            if not re.match(_E164, str(to)):
                return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            if not from_:
                return twilio_error(400, 21213, "No 'From' number is specified")
            if not flat.get("Url") and not flat.get("Twiml"):
                return twilio_error(400, 21205, "Url parameter is required.")
            call = EmuCall(self.new_call_id(), account_sid, str(to), str(from_), flat, self.script_for(str(to)))
            self.start(call)
            return JSONResponse(self.resource(call), status_code=201)

        @app.get("/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json")
        async def fetch(account_sid: str, call_sid: str, request: Request) -> Response:
            user, token = basic_auth(request)
            if user != account_sid or not self.authenticate(user, token):
                return twilio_error(401, 20003, "Authenticate")
            call = self.calls.get(call_sid)
            if call is None or call.account != account_sid:
                return twilio_error(404, 20404, f"The requested resource /Calls/{call_sid}.json was not found")
            return JSONResponse(self.resource(call))

        @app.post("/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json")
        async def update(account_sid: str, call_sid: str, request: Request) -> Response:
            form = dict(await form_items(request))
            self.record("POST", request.url.path, form)
            user, token = basic_auth(request)
            if user != account_sid or not self.authenticate(user, token):
                return twilio_error(401, 20003, "Authenticate")
            call = self.calls.get(call_sid)
            if call is None or call.account != account_sid or call.ended_at is not None:
                # What Twilio answers for a call that has already ended (field failure: not an error for us).
                return twilio_error(404, 20404, f"The requested resource /Calls/{call_sid}.json was not found")
            if form.get("Twiml") or form.get("Url"):
                # New instructions for the live call (how a transfer is done): the stream stops, they run.
                if call.status != "in-progress" or call.redirected.is_set():
                    return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
                if form.get("Twiml"):
                    try:
                        ET.fromstring(form["Twiml"])
                    except ET.ParseError:
                        return twilio_error(400, 12100, "Document parse failure")
                self.transfer(call, form)
                return JSONResponse(self.resource(call))
            if form.get("Status") not in ("completed", "canceled"):
                return twilio_error(400, 21218, "Invalid Status")
            self.hang_up(call)
            return JSONResponse(self.resource(call))

    def resource(self, call: EmuCall) -> dict[str, Any]:
        status = EVENT_STATUS.get(call.status, call.status)
        return {
            "sid": call.id,
            "account_sid": call.account,
            "to": call.to,
            "from": call.from_,
            "status": status,
            "direction": "outbound-api",
            "duration": str(call.duration) if call.ended_at else None,
            "answered_by": self._answered_by(call) if call.params.get("MachineDetection") else None,
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(call.created)),
            "uri": f"/2010-04-01/Accounts/{call.account}/Calls/{call.id}.json",
        }

    def _answered_by(self, call: EmuCall) -> str | None:
        if call.answered_by == "machine":
            return "machine_end_beep"
        return call.answered_by

    def ring_timeout(self, call: EmuCall) -> float:
        return float(call.params.get("Timeout") or 60)

    def max_duration(self, call: EmuCall) -> float:
        return float(call.params.get("TimeLimit") or 14400)

    def _base_params(self, call: EmuCall) -> dict[str, str]:
        return {
            "AccountSid": call.account,
            "ApiVersion": "2010-04-01",
            "CallSid": call.id,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
        }

    async def signed_post(self, call: EmuCall, url: str, params: dict[str, str]) -> Any:
        signature = RequestValidator(self.accounts[call.account]).compute_signature(url, params)
        return await self.post(url, params, {"X-Twilio-Signature": signature})

    async def notify(self, call: EmuCall, event: str) -> None:
        url = call.params.get("StatusCallback")
        if not url:
            return
        wanted = call.params.get("StatusCallbackEvent") or ["completed"]
        wanted = [wanted] if isinstance(wanted, str) else wanted
        kind = "completed" if event in FINAL else event
        if kind not in wanted:
            return
        params = {
            **self._base_params(call),
            "CallStatus": EVENT_STATUS[event],
            "CallbackSource": "call-progress-events",
        }
        if event in FINAL:
            params["CallDuration"] = str(call.duration)
            params["Duration"] = str((call.duration + 59) // 60)
        if event in SIP_CODE:
            params["SipResponseCode"] = SIP_CODE[event]
        await self.signed_post(call, url, params)

    async def stream_target(self, call: EmuCall) -> tuple[str, dict[str, str]] | None:
        url = call.params.get("Url")
        params = {**self._base_params(call), "CallStatus": "in-progress"}
        if call.params.get("MachineDetection") and call.params.get("AsyncAmd") != "true":
            params["AnsweredBy"] = self._answered_by(call) or "unknown"
        call.answer_fetches += 1
        resp = await self.signed_post(call, url, params) if url else None
        twiml = resp.text if resp is not None and resp.status_code == 200 else call.params.get("Twiml")
        if not twiml:
            call.error = "11200: HTTP retrieval failure"
            return None
        try:
            root = ET.fromstring(twiml)
        except ET.ParseError:
            call.error = "12100: Document parse failure"
            return None
        stream = root.find("./Connect/Stream")
        if stream is None or not stream.get("url"):
            call.error = "no <Connect><Stream> in TwiML"
            return None
        custom = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        return stream.get("url", ""), custom

    async def transfer_target(self, call: EmuCall) -> str | None:
        twiml = call.redirect.get("Twiml")
        if not twiml and call.redirect.get("Url"):
            params = {**self._base_params(call), "CallStatus": "in-progress"}
            resp = await self.signed_post(call, call.redirect["Url"], params)
            twiml = resp.text if resp is not None and resp.status_code == 200 else None
        try:
            dial = ET.fromstring(twiml).find("Dial") if twiml else None
        except ET.ParseError:
            dial = None
        if dial is None:
            call.error = "no <Dial> in the new TwiML"
            return None
        number = dial.find("Number")
        target = ((number.text if number is not None else dial.text) or "").strip()
        if not re.match(_E164, target):
            call.error = f"13223: invalid phone number to dial: {target!r}"
            return None
        return target

    async def amd_verdict(self, call: EmuCall) -> None:
        url = call.params.get("AsyncAmdStatusCallback")
        if not call.params.get("MachineDetection") or call.params.get("AsyncAmd") != "true" or not url:
            return
        params = {
            **self._base_params(call),
            "AnsweredBy": self._answered_by(call) or "unknown",
            "MachineDetectionDuration": "1800",
        }
        await self.signed_post(call, url, params)
