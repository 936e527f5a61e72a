"""Exotel: account SID, API key and token, the regional API host, the ExoPhone caller id and the
voicebot flow (applet) that streams the call's audio to us.

Exotel does not sign callbacks and its voicebot applet opens one fixed websocket URL with no XML
step, so every URL carries the call's unguessable token and the stream names its session in the
custom parameters we pass as CustomField. Audio is 16-bit PCM at 8 kHz (Pipecat's Exotel serializer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode

import httpx
from pydantic import Field

from voxline.core.call_status import CallStatus
from voxline.telephony.base import E164, CarrierCredentials
from voxline.telephony.carrier import (
    CallUrls,
    CarrierError,
    CarrierRequest,
    DialRequest,
    MediaHandshake,
    StatusUpdate,
    json_object,
    optional_int,
    raise_for_carrier,
    read_start_event,
    send,
)

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from voxline.settings import Settings

PROVIDER = "exotel"


class Credentials(CarrierCredentials):
    secret_fields = frozenset({"api_key", "api_token"})
    caller_id_field = "caller_id"
    account_field = "account_sid"

    account_sid: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
    api_key: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]
    api_token: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]
    subdomain: Literal["api.exotel.com", "api.in.exotel.com"]
    caller_id: E164
    applet_id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$")]


STATUS_MAP: dict[str, CallStatus] = {
    "queued": CallStatus.PENDING,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "answered": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}


def _error(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    exc = body.get("RestException") if isinstance(body, dict) else None
    return str((exc or {}).get("Message") or body)[:300]


class ExotelCarrier:
    provider = PROVIDER
    default_cps = 1.0
    wire_sample_rate = 8000
    answer_media_type = ""  # the flow opens the websocket itself: there is no answer document

    def api_base(self, settings: Settings, creds: Mapping[str, Any]) -> str:
        return (settings.exotel_api_base or f"https://{creds['subdomain']}").rstrip("/")

    def _calls(self, base: str, creds: Mapping[str, Any]) -> str:
        return f"{base}/v1/Accounts/{creds['account_sid']}/Calls"

    async def create_call(self, http: httpx.AsyncClient, base: str, creds: Mapping[str, Any], req: DialRequest) -> str:
        flow = f"http://my.exotel.com/{creds['account_sid']}/exoml/start_voice/{creds['applet_id']}"
        data = {
            "From": req.to_number,  # Exotel's "From" is the person to call; CallerId is our ExoPhone
            "CallerId": req.from_number,
            "Url": flow,
            "CallType": "trans",
            "TimeLimit": str(req.max_duration_secs),
            "TimeOut": str(req.ring_timeout_secs),
            "StatusCallback": req.urls.status,
            "StatusCallbackEvents[0]": "terminal",
            "StatusCallbackEvents[1]": "answered",
            "StatusCallbackContentType": "application/json",
            "CustomField": urlencode({"session_id": req.session_id, "token": req.urls.token}),
        }
        auth = (creds["api_key"], creds["api_token"])
        resp = await send(http, "Exotel", "POST", f"{self._calls(base, creds)}/connect.json", data=data, auth=auth)
        raise_for_carrier(resp, "Exotel", _error(resp))
        sid = (json_object(resp).get("Call") or {}).get("Sid")
        if not sid:
            raise CarrierError("Exotel accepted the call but returned no call Sid")
        return str(sid)

    async def hang_up(self, http: httpx.AsyncClient, base: str, creds: Mapping[str, Any], carrier_call_id: str) -> None:
        auth = (creds["api_key"], creds["api_token"])
        url = f"{self._calls(base, creds)}/{carrier_call_id}.json"
        resp = await send(http, "Exotel", "POST", url, data={"Status": "completed"}, auth=auth)
        if resp.status_code == 404:
            return
        raise_for_carrier(resp, "Exotel", _error(resp))

    async def fetch_status(
        self, http: httpx.AsyncClient, base: str, creds: Mapping[str, Any], carrier_call_id: str
    ) -> StatusUpdate | None:
        auth = (creds["api_key"], creds["api_token"])
        resp = await send(http, "Exotel", "GET", f"{self._calls(base, creds)}/{carrier_call_id}.json", auth=auth)
        if resp.status_code == 404:
            return None
        raise_for_carrier(resp, "Exotel", _error(resp))
        call = json_object(resp).get("Call") or {}
        return StatusUpdate(
            STATUS_MAP.get(str(call.get("Status", "")).lower()),
            carrier_call_id=carrier_call_id,
            duration_seconds=optional_int(call.get("Duration")),
        )

    def answer_document(self, urls: CallUrls, call_id: str, session_id: str) -> str:
        return ""

    def verify(self, request: CarrierRequest, creds: Mapping[str, Any]) -> bool:
        return True  # Exotel does not sign; the per-call token in the URL is the credential

    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate:
        raw = (params.get("Status") or params.get("CallStatus") or "").lower()
        event = (params.get("EventType") or "").lower()
        status = STATUS_MAP.get(raw)
        if event == "answered" and status is None:
            status = CallStatus.IN_PROGRESS
        error = None
        if status in (CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER):
            detail = params.get("DialCallStatus") or params.get("Legs") or ""
            error = f"Exotel reported {raw}" + (f" ({detail})" if detail and detail != raw else "")
        return StatusUpdate(
            status=status,
            carrier_call_id=params.get("CallSid") or None,
            duration_seconds=optional_int(params.get("ConversationDuration") or params.get("Duration")),
            error_message=error,
        )

    async def accept_media(self, websocket: WebSocket, creds: Mapping[str, Any]) -> MediaHandshake:
        from pipecat.serializers.exotel import ExotelFrameSerializer

        start = await read_start_event(websocket)
        stream_sid = start.get("stream_sid")
        if not stream_sid:
            raise CarrierError("Exotel stream sent no start event")
        custom = start.get("custom_parameters") or {}
        if isinstance(custom, str):  # the CustomField string, passed through as sent
            custom = dict(parse_qsl(custom))
        return MediaHandshake(
            serializer=ExotelFrameSerializer(stream_sid=stream_sid, call_sid=start.get("call_sid")),
            stream_id=stream_sid,
            carrier_call_id=start.get("call_sid"),
            params={str(k): str(v) for k, v in custom.items()},
            extra={"media_format": start.get("media_format")},
        )


CARRIER = ExotelCarrier()
