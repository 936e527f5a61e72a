"""Plivo, emulated (and Vobiz, which speaks a Plivo-shaped protocol on its own host): the Call REST API
(JSON body, Plivo's error JSON, request_uuid), ring/answer/hangup/machine-detection callbacks, the
<Stream> XML and Plivo's audio stream events (mu-law 8 kHz; playAudio, clearAudio and checkpoint).

What each carrier checks comes from its own documents, never from our adapter:
- Plivo: HTTP Basic auth_id:auth_token (the `plivo` SDK's session auth); callbacks signed with
  X-Plivo-Signature-V3, computed by the `plivo` package's own `get_signature_v3`/`construct_post_url`.
- Vobiz: `X-Auth-ID` + `X-Auth-Token` headers (Vobiz's make-call page; the `vobiz-python` SDK sends
  them), Basic is refused; callbacks signed as Vobiz documents: base64(HMAC-SHA256(auth token,
  URL-without-query + "." + nonce)), 20-digit nonce, the POST parameters unsigned.
- Both: `extraHeaders` at most 512 bytes of letters, digits, `=` and `,`; `keepCallAlive` needs
  `bidirectional="true"`; `bidirectional` with `audioTrack` outbound/both hangs up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

from voxline.sandbox.audio import ulaw_decode, ulaw_encode
from voxline.sandbox.credentials import SandboxSeal
from voxline.sandbox.emulator import EmuCall, Emulator, MediaWire, b64
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
    "canceled": "cancel",
}
CAUSE = {
    "completed": ("NORMAL_CLEARING", "Normal Hangup"),
    "busy": ("USER_BUSY", "Busy Line"),
    "declined": ("CALL_REJECTED", "Rejected"),
    "no_answer": ("NO_ANSWER", "No Answer"),
    "failed": ("UNALLOCATED_NUMBER", "Invalid Destination Address"),
    "canceled": ("ORIGINATOR_CANCEL", "Cancelled"),
}
FINAL = tuple(CAUSE)


def plivo_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"api_id": str(uuid.uuid4()), "error": message}, status_code=status)


class PlivoWire(MediaWire):
    def opening(self, call: EmuCall, stream_id: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "event": "start",
                "sequenceNumber": 1,
                "start": {
                    "callId": call.id,
                    "streamId": stream_id,
                    "accountId": call.account,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
                },
                "extra_headers": params.get("extra_headers", ""),
            }
        ]

    def media(self, call: EmuCall, stream_id: str, pcm: bytes, seq: int) -> dict[str, Any]:
        media = {"track": "inbound", "timestamp": str(seq * 20), "chunk": seq + 1, "payload": b64(ulaw_encode(pcm))}
        return {"event": "media", "sequenceNumber": seq + 2, "streamId": stream_id, "media": media}

    def stop(self, call: EmuCall, stream_id: str) -> dict[str, Any] | None:
        return None  # no `stop` from the carrier: it closes the socket when the call or stream ends

    def incoming(self, message: dict[str, Any]) -> bytes | None:
        if message.get("event") != "playAudio":
            return None
        media = message.get("media") or {}
        if media.get("contentType") != "audio/x-mulaw" or str(media.get("sampleRate")) != "8000":
            return None  # not the stream's negotiated format: the carrier does not play it
        return ulaw_decode(base64.b64decode(media.get("payload") or ""))

    def reply(self, call: EmuCall, stream_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
        event = message.get("event")
        if event == "playAudio":
            media = message.get("media") or {}
            if media.get("contentType") != "audio/x-mulaw" or str(media.get("sampleRate")) != "8000":
                call.wire_errors.append(
                    f"playAudio in {media.get('contentType')}/{media.get('sampleRate')}, "
                    "not the stream's audio/x-mulaw 8000"
                )
        elif event == "checkpoint":
            return {"event": "playedStream", "streamId": stream_id, "name": message.get("name")}
        elif event == "clearAudio":
            call.params["_clears"] = call.params.get("_clears", 0) + 1
            return {"event": "clearedAudio", "sequenceNumber": 0, "streamId": stream_id}
        elif event != "sendDTMF":
            call.wire_errors.append(f"unknown event {event!r}")
        return None


EXTRA_HEADERS = re.compile(r"^[A-Za-z0-9]+=[A-Za-z0-9]*(,[A-Za-z0-9]+=[A-Za-z0-9]*)*$")


def stream_refusal(stream: ET.Element) -> str | None:
    """Why the carrier would hang up on this <Stream> (its documented attribute rules), or None."""
    bidirectional = stream.get("bidirectional") == "true"
    if stream.get("keepCallAlive") == "true" and not bidirectional:
        return "keepCallAlive needs bidirectional=true"
    if bidirectional and stream.get("audioTrack", "inbound") in ("outbound", "both"):
        return "bidirectional streams take audioTrack=inbound only"
    extra = stream.get("extraHeaders")
    if extra is not None and (len(extra.encode()) > 512 or not EXTRA_HEADERS.match(extra)):
        return f"extraHeaders must be key=value pairs of letters and digits, 512 bytes at most: {extra!r}"
    url = (stream.text or "").strip()
    if not url.startswith(("wss://", "ws://")):
        return f"the stream URL must be ws(s)://, got {url!r}"
    return None


class PlivoEmulator(Emulator):
    provider = "plivo"
    account_pattern = r"^(MA|SA)[A-Z0-9]{18}$"
    signature_headers = ("X-Plivo-Signature-V3", "X-Plivo-Signature-V3-Nonce")
    wire = PlivoWire()

    def refuse(self) -> Response:
        return plivo_error(401, "Authentication credentials invalid.")  # Vobiz answers the same

    @classmethod
    def sandbox_account(cls, seal: SandboxSeal, partner_id: str) -> dict[str, str]:
        auth_id = "MA" + seal.account(cls.provider, partner_id)[:18].upper()
        return {"auth_id": auth_id, "auth_token": cls.sandbox_secret(seal, auth_id)}

    @classmethod
    def sandbox_secret(cls, seal: SandboxSeal, account: str) -> str:
        return seal.secret(cls.provider, account)[:40]  # Plivo's and Vobiz's tokens: 40 characters

    def __init__(self, public_base_url: str) -> None:
        self.by_request: dict[str, EmuCall] = {}
        super().__init__(public_base_url)

    def new_call_id(self) -> str:
        return str(uuid.uuid4())

    def routes(self) -> None:
        app = self.app

        def authorized(request: Request, auth_id: str) -> bool:
            user, token = self.credentials(request)
            return user == auth_id and bool(re.match(self.account_pattern, auth_id)) and self.authenticate(user, token)

        async def read_body(request: Request, auth_id: str) -> tuple[dict, Response | None]:
            """The JSON body of an API request, recorded; or the error Plivo answers (auth first, as Plivo)."""
            try:
                body = await request.json()
            except ValueError:
                body = None
            self.record("POST", request.url.path, body if isinstance(body, dict) else {})
            if not authorized(request, auth_id):
                return {}, plivo_error(401, "Authentication credentials invalid.")
            if not isinstance(body, dict):
                return {}, plivo_error(400, "invalid JSON body")
            return body, None

        @app.post("/v1/Account/{auth_id}/Call/")
        async def create(auth_id: str, request: Request) -> Response:
            body, refused = await read_body(request, auth_id)
            if refused is not None:
                return refused
            for required in ("from", "to", "answer_url"):
                if not body.get(required):
                    return plivo_error(400, f"{required} parameter is required")
            if not re.match(r"^\+?[1-9]\d{6,14}$", str(body["to"])):
                return plivo_error(400, f"invalid to number {body['to']}")
            to = "+" + str(body["to"]).lstrip("+")
            call = EmuCall(self.new_call_id(), auth_id, to, str(body["from"]), body, self.script_for(to))
            request_uuid = str(uuid.uuid4())
            call.params["_request_uuid"] = request_uuid
            self.by_request[request_uuid] = call
            self.start(call)
            return JSONResponse(
                {"api_id": str(uuid.uuid4()), "message": "call fired", "request_uuid": request_uuid}, status_code=201
            )

        @app.get("/v1/Account/{auth_id}/Call/{call_uuid}/")
        async def get(auth_id: str, call_uuid: str, request: Request) -> Response:
            if not authorized(request, auth_id):
                return plivo_error(401, "Authentication credentials invalid.")
            call = self.calls.get(call_uuid) or self.by_request.get(call_uuid)
            if call is None:
                return plivo_error(404, "Call not found")
            if request.query_params.get("status") == "live":
                if call.ended_at is not None:
                    return plivo_error(404, "Call not found")
                return JSONResponse({"call_uuid": call.id, "call_status": STATUS.get(call.status, call.status)})
            if call.ended_at is None:
                return plivo_error(404, "Call not found")
            cause = CAUSE.get(call.status, ("NORMAL_CLEARING", "Normal Hangup"))
            return JSONResponse(
                {
                    "call_uuid": call.id,
                    "call_status": STATUS.get(call.status, call.status),
                    "call_duration": call.duration,
                    "hangup_cause_code": cause[0],
                    "hangup_cause_name": cause[1],
                }
            )

        @app.post("/v1/Account/{auth_id}/Call/{call_uuid}/")
        async def transfer(auth_id: str, call_uuid: str, request: Request) -> Response:
            """Transfer a live call: the A leg leaves its <Stream> and runs the XML at aleg_url."""
            body, refused = await read_body(request, auth_id)
            if refused is not None:
                return refused
            call = self.calls.get(call_uuid)
            if call is None or call.account != auth_id or call.ended_at is not None:
                return plivo_error(404, "Call not found")
            legs = body.get("legs")
            if legs not in ("aleg", "bleg", "both"):
                return plivo_error(400, "legs parameter must be aleg, bleg or both")
            if legs != "aleg":
                return plivo_error(400, "this call has no bleg to transfer")  # a single-leg outbound call
            if not body.get("aleg_url"):
                return plivo_error(400, "aleg_url parameter is required")
            if str(body.get("aleg_method") or "POST").upper() not in ("GET", "POST"):
                return plivo_error(400, "aleg_method must be GET or POST")
            if call.status != "in-progress" or call.redirected.is_set():
                return plivo_error(400, "call is not in progress")
            self.transfer(call, body)
            return JSONResponse(
                {"api_id": str(uuid.uuid4()), "message": "call transferred", "call_uuids": [call.id]}, status_code=202
            )

        @app.delete("/v1/Account/{auth_id}/Call/{call_uuid}/")
        async def hang_up(auth_id: str, call_uuid: str, request: Request) -> Response:
            self.record("DELETE", request.url.path, {})
            if not authorized(request, auth_id):
                return plivo_error(401, "Authentication credentials invalid.")
            call = self.calls.get(call_uuid)
            if call is None or call.ended_at is not None:
                return plivo_error(404, "Call not found")
            self.hang_up(call)
            return Response(status_code=204)

        @app.delete("/v1/Account/{auth_id}/Request/{request_uuid}/")
        async def cancel(auth_id: str, request_uuid: str, request: Request) -> Response:
            self.record("DELETE", request.url.path, {})
            if not authorized(request, auth_id):
                return plivo_error(401, "Authentication credentials invalid.")
            call = self.by_request.get(request_uuid)
            if call is None or call.ended_at is not None:
                return plivo_error(404, "Request not found")
            self.hang_up(call)
            return Response(status_code=204)

    def credentials(self, request: Request) -> tuple[str | None, str | None]:
        """The (auth id, auth token) a REST request presents: Plivo takes HTTP Basic only."""
        return basic_auth(request)

    async def presented(self, request: Request) -> tuple[str | None, str | None]:
        return self.credentials(request)

    def signature_headers_for(self, call: EmuCall, url: str, params: dict[str, str], method: str) -> dict[str, str]:
        """Plivo's V3 signature, computed by the `plivo` package itself."""
        nonce = str(secrets.randbelow(10**20))
        if method == "GET":
            base = construct_get_url(url, {}).decode()
        else:
            base = construct_post_url(url, dict(params)).decode()
        signature = get_signature_v3(self.accounts[call.account], base, nonce)
        sig = signature.decode() if isinstance(signature, bytes) else signature
        return {"X-Plivo-Signature-V3": sig, "X-Plivo-Signature-V3-Nonce": nonce}

    def ring_timeout(self, call: EmuCall) -> float:
        return float(call.params.get("ring_timeout") or 60)

    def max_duration(self, call: EmuCall) -> float:
        return float(call.params.get("time_limit") or 14400)

    def _base(self, call: EmuCall) -> dict[str, str]:
        return {
            "CallUUID": call.id,
            "RequestUUID": str(call.params.get("_request_uuid", "")),
            "From": call.from_,
            "To": call.to.lstrip("+"),
            "Direction": "outbound",
            "Event": "StartApp",
        }

    async def signed_post(self, call: EmuCall, url: str, params: dict[str, str]) -> Any:
        return await self.post(url, params, self.signature_headers_for(call, url, params, "POST"))

    async def notify(self, call: EmuCall, event: str) -> None:
        if event == "ringing" and call.params.get("ring_url"):
            await self.signed_post(call, call.params["ring_url"], {**self._base(call), "CallStatus": "ringing"})
        elif event in FINAL and call.params.get("hangup_url"):
            cause, name = CAUSE[event]
            params = {
                **self._base(call),
                "Event": "Hangup",
                "CallStatus": STATUS[event],
                "HangupCause": cause,
                "HangupCauseName": name,
                "HangupSource": "Callee" if event != "canceled" else "API Request",
                "Duration": str(call.duration),
                "BillDuration": str(call.duration),
                "EndTime": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            }
            await self.signed_post(call, call.params["hangup_url"], params)

    async def stream_target(self, call: EmuCall) -> tuple[str, dict[str, str]] | None:
        call.answer_fetches += 1
        params = {**self._base(call), "CallStatus": "in-progress"}
        resp = await self.signed_post(call, call.params["answer_url"], params)
        if resp is None or resp.status_code != 200:
            call.error = "answer_url failed"
            return None
        try:
            root = ET.fromstring(resp.text)
        except ET.ParseError:
            call.error = "answer XML does not parse"
            return None
        stream = root.find("Stream")
        if stream is None or not (stream.text or "").strip() or stream.get("bidirectional") != "true":
            call.error = "no bidirectional <Stream> in the answer XML"
            return None
        refusal = stream_refusal(stream)
        if refusal:
            call.error = refusal
            return None
        return stream.text.strip(), {"extra_headers": stream.get("extraHeaders", "").replace(",", ";")}

    async def signed_get(self, call: EmuCall, url: str, params: dict[str, str]) -> Any:
        """A GET the carrier signs: its parameters ride in the query, the signature covers the whole URL."""
        full = url + ("&" if "?" in url else "?") + urlencode(params)
        return await self.get(full, self.signature_headers_for(call, full, {}, "GET"))

    async def transfer_target(self, call: EmuCall) -> str | None:
        url = str(call.redirect.get("aleg_url") or "")
        params = {**self._base(call), "CallStatus": "in-progress", "Event": "Redirect"}
        if str(call.redirect.get("aleg_method") or "POST").upper() == "GET":
            resp = await self.signed_get(call, url, params)
        else:
            resp = await self.signed_post(call, url, params)
        if resp is None or resp.status_code != 200:
            call.error = "aleg_url failed"
            return None
        try:
            number = ET.fromstring(resp.text).find("./Dial/Number")
        except ET.ParseError:
            call.error = "transfer XML does not parse"
            return None
        target = (number.text or "").strip() if number is not None else ""
        if not re.match(r"^\+?[1-9]\d{6,14}$", target):
            call.error = "no <Dial><Number> in the transfer XML"
            return None
        return "+" + target.lstrip("+")

    async def amd_verdict(self, call: EmuCall) -> None:
        url = call.params.get("machine_detection_url")
        if str(call.params.get("machine_detection", "")).lower() not in ("true", "hangup") or not url:
            return
        machine = "true" if call.answered_by == "machine" else "false"
        await self.signed_post(call, url, {**self._base(call), "Machine": machine})


def vobiz_signature(auth_token: str, url: str, nonce: str, *, version: int = 3) -> str:
    """Vobiz's documented callback signature: the URL with all query parameters stripped, "." (V3 only),
    the nonce; HMAC-SHA256 keyed with the auth token; base64. Body parameters are not signed."""
    parts = urlsplit(url)
    message = urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + ("." if version == 3 else "") + nonce
    return base64.b64encode(hmac.new(auth_token.encode(), message.encode(), hashlib.sha256).digest()).decode()


class VobizEmulator(PlivoEmulator):
    provider = "vobiz"
    account_pattern = r"^MA_[A-Za-z0-9]{4,64}$"
    signature_headers = ("X-Vobiz-Signature-V3", "X-Vobiz-Signature-V3-Nonce")

    @classmethod
    def sandbox_account(cls, seal: SandboxSeal, partner_id: str) -> dict[str, str]:
        auth_id = "MA_" + seal.account(cls.provider, partner_id)[:24]
        return {"auth_id": auth_id, "auth_token": cls.sandbox_secret(seal, auth_id)}

    def credentials(self, request: Request) -> tuple[str | None, str | None]:
        """Vobiz authenticates REST requests by the X-Auth-ID and X-Auth-Token headers (not Basic)."""
        return request.headers.get("x-auth-id"), request.headers.get("x-auth-token")

    def signature_headers_for(self, call: EmuCall, url: str, params: dict[str, str], method: str) -> dict[str, str]:
        token = self.accounts[call.account]
        nonce = "".join(secrets.choice("0123456789") for _ in range(20))
        return {
            "X-Vobiz-Signature-V2": vobiz_signature(token, url, nonce, version=2),
            "X-Vobiz-Signature-V2-Nonce": nonce,
            "X-Vobiz-Signature-V3": vobiz_signature(token, url, nonce),
            "X-Vobiz-Signature-V3-Nonce": nonce,
        }
