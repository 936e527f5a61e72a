"""Twilio: account credentials, the Calls REST API, TwiML <Connect><Stream>, Media Streams, signed callbacks.

Callbacks are authenticated with Twilio's own `RequestValidator` (X-Twilio-Signature over the URL and
sorted form parameters); the media stream is Pipecat's Twilio serializer (mu-law 8 kHz), with its
automatic REST hang-up off because hanging up is the dialer's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated
from xml.sax.saxutils import escape, quoteattr

import httpx
from pydantic import Field

from voxline.core.call_status import AnsweredBy, CallStatus
from voxline.telephony.base import E164, CarrierCredentials
from voxline.telephony.carrier import (
    CallUrls,
    CarrierError,
    CarrierRequest,
    DialRequest,
    MediaHandshake,
    StatusUpdate,
    error_detail,
    json_object,
    optional_int,
    raise_for_carrier,
    read_start_event,
    send,
)

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from voxline.settings import Settings

PROVIDER = "twilio"


class Credentials(CarrierCredentials):
    secret_fields = frozenset({"auth_token"})
    caller_id_field = "from_number"
    account_field = "account_sid"

    account_sid: Annotated[str, Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="Account SID, AC…")]
    auth_token: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$", description="Auth token, 32 hex chars")]
    from_number: E164


STATUS_MAP: dict[str, CallStatus] = {
    "queued": CallStatus.PENDING,
    "initiated": CallStatus.PENDING,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "answered": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}

# SIP answers carriers fold into "busy": say which one it was, so declined and busy can be told apart.
SIP_MEANING = {
    "486": "the line was busy (SIP 486)",
    "600": "the callee is busy everywhere (SIP 600)",
    "603": "the callee declined the call (SIP 603)",
    "480": "the callee is temporarily unavailable (SIP 480)",
    "404": "the number does not exist (SIP 404)",
    "503": "the carrier's network is unavailable (SIP 503)",
}


def answered_by(value: str | None) -> AnsweredBy | None:
    if not value:
        return None
    if value == "human":
        return AnsweredBy.HUMAN
    if value.startswith("machine") or value == "fax":
        return AnsweredBy.MACHINE
    return AnsweredBy.UNKNOWN


class TwilioCarrier:
    provider = PROVIDER
    default_cps = 1.0  # Twilio's default calls-per-second per account
    wire_sample_rate = 8000
    answer_media_type = "application/xml"
    supports_transfer = True

    def api_base(self, settings: Settings, creds: Credentials) -> str:
        return settings.twilio_api_base.rstrip("/")

    def _calls_url(self, base: str, creds: Credentials) -> str:
        return f"{base}/2010-04-01/Accounts/{creds.account_sid}/Calls"

    async def create_call(self, http: httpx.AsyncClient, base: str, creds: Credentials, req: DialRequest) -> str:
        data: dict[str, str | list[str]] = {
            "To": req.to_number,
            "From": req.from_number,
            "Url": req.urls.answer,
            "Method": "POST",
            "StatusCallback": req.urls.status,
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": ["ringing", "answered", "completed"],
            "Timeout": str(req.ring_timeout_secs),
            "TimeLimit": str(req.max_duration_secs),
        }
        if req.machine_detection:
            data |= {
                "MachineDetection": "Enable",
                "AsyncAmd": "true",
                "AsyncAmdStatusCallback": req.urls.amd,
                "AsyncAmdStatusCallbackMethod": "POST",
            }
        auth = (creds.account_sid, creds.auth_token)
        resp = await send(http, "Twilio", "POST", f"{self._calls_url(base, creds)}.json", data=data, auth=auth)
        raise_for_carrier(resp, "Twilio", error_detail(resp, "message"))
        sid = json_object(resp).get("sid")
        if not sid:
            raise CarrierError("Twilio accepted the call but returned no call SID")
        return str(sid)

    async def hang_up(self, http: httpx.AsyncClient, base: str, creds: Credentials, carrier_call_id: str) -> None:
        url = f"{self._calls_url(base, creds)}/{carrier_call_id}.json"
        auth = (creds.account_sid, creds.auth_token)
        resp = await send(http, "Twilio", "POST", url, data={"Status": "completed"}, auth=auth)
        if resp.status_code == 404:  # already gone: that is what we wanted
            return
        raise_for_carrier(resp, "Twilio", error_detail(resp, "message"))

    async def transfer(
        self,
        http: httpx.AsyncClient,
        base: str,
        creds: Credentials,
        carrier_call_id: str,
        to_number: str,
        dial_url: str,
    ) -> None:
        # Updating the live call with new TwiML stops its <Connect><Stream> and runs the <Dial> instead;
        # the TwiML travels inline, so `dial_url` is not needed.
        url = f"{self._calls_url(base, creds)}/{carrier_call_id}.json"
        auth = (creds.account_sid, creds.auth_token)
        data = {"Twiml": self.transfer_document(to_number)}
        resp = await send(http, "Twilio", "POST", url, data=data, auth=auth)
        raise_for_carrier(resp, "Twilio", error_detail(resp, "message"))

    def transfer_document(self, to_number: str) -> str:
        return f"<Response><Dial>{escape(to_number)}</Dial></Response>"

    async def fetch_status(
        self, http: httpx.AsyncClient, base: str, creds: Credentials, carrier_call_id: str
    ) -> StatusUpdate | None:
        url = f"{self._calls_url(base, creds)}/{carrier_call_id}.json"
        resp = await send(http, "Twilio", "GET", url, auth=(creds.account_sid, creds.auth_token))
        if resp.status_code == 404:
            return None
        raise_for_carrier(resp, "Twilio", error_detail(resp, "message"))
        body = json_object(resp)
        return StatusUpdate(
            status=STATUS_MAP.get(str(body.get("status"))),
            carrier_call_id=carrier_call_id,
            answered_by=answered_by(body.get("answered_by")),
            duration_seconds=optional_int(body.get("duration")),
        )

    def answer_document(self, urls: CallUrls, call_id: str, session_id: str) -> str:
        # Twilio drops query strings from Stream URLs: the token travels as a <Parameter>.
        return (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
            f"<Stream url={quoteattr(urls.media)}>"
            f'<Parameter name="token" value={quoteattr(urls.token)}/>'
            f'<Parameter name="call_id" value={quoteattr(call_id)}/>'
            "</Stream></Connect></Response>"
        )

    def verify(self, request: CarrierRequest, creds: Credentials) -> bool:
        from twilio.request_validator import RequestValidator

        signature = request.headers.get("x-twilio-signature", "")
        if not signature:
            return False
        return RequestValidator(creds.auth_token).validate(request.url, dict(request.params), signature)

    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate:
        raw = params.get("CallStatus")
        status = STATUS_MAP.get(raw) if raw else None
        error = None
        if status in (CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER):
            sip = params.get("SipResponseCode")
            parts = [f"Twilio reported {raw}"]
            if sip:
                parts.append(SIP_MEANING.get(sip, f"SIP {sip}"))
            if params.get("ErrorCode"):
                parts.append(f"error {params['ErrorCode']}: {params.get('ErrorMessage', '')}".strip())
            error = "; ".join(parts)
        return StatusUpdate(
            status=status,
            carrier_call_id=params.get("CallSid"),
            answered_by=answered_by(params.get("AnsweredBy")),
            duration_seconds=optional_int(params.get("CallDuration")),
            error_message=error,
        )

    async def accept_media(self, websocket: WebSocket) -> MediaHandshake:
        from pipecat.serializers.twilio import TwilioFrameSerializer

        start = await read_start_event(websocket)
        if not start.get("streamSid"):
            raise CarrierError("Twilio media stream sent no start event")
        serializer = TwilioFrameSerializer(
            stream_sid=start["streamSid"],
            call_sid=start.get("callSid"),
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
        )
        return MediaHandshake(
            serializer=serializer,
            stream_id=start["streamSid"],
            carrier_call_id=start.get("callSid"),
            params={str(k): str(v) for k, v in (start.get("customParameters") or {}).items()},
            extra={"media_format": start.get("mediaFormat")},
        )


CARRIER = TwilioCarrier()
