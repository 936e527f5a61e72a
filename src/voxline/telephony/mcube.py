"""MCube: a JWT for its outbound API and the executive line (national format allowed) calls use.

The outbound request names our status URL (`refurl`) and the websocket MCube streams the call to;
MCube does not sign callbacks, so both carry the call's unguessable token. The stream is Twilio-like
JSON at 8 kHz, read by our own serializer (telephony/mcube_serializer.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from pydantic import Field

from voxline.core.call_status import CallStatus
from voxline.telephony.base import CarrierCredentials
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
from voxline.telephony.mcube_serializer import L16, MCubeFrameSerializer

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from voxline.settings import Settings

PROVIDER = "mcube"


class Credentials(CarrierCredentials):
    secret_fields = frozenset({"jwt_token"})
    caller_id_field = "exe_number"
    account_field = "jwt_token"

    jwt_token: Annotated[
        str,
        Field(
            max_length=4096,
            pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$",
            description="MCube JWT (header.payload.signature)",
        ),
    ]
    exe_number: Annotated[str, Field(pattern=r"^\+?\d{4,15}$", description="Outbound line; national ok")]


STATUS_MAP: dict[str, CallStatus] = {
    "RINGING": CallStatus.RINGING,
    "ANSWER": CallStatus.IN_PROGRESS,
    "ANSWERED": CallStatus.IN_PROGRESS,
    "COMPLETE": CallStatus.COMPLETED,
    "COMPLETED": CallStatus.COMPLETED,
    "BUSY": CallStatus.BUSY,
    "REJECTED": CallStatus.BUSY,
    "NOANSWER": CallStatus.NO_ANSWER,
    "CANCEL": CallStatus.CANCELED,
    "FAILED": CallStatus.FAILED,
}


class MCubeCarrier:
    provider = PROVIDER
    default_cps = 1.0
    wire_sample_rate = 8000
    answer_media_type = ""  # MCube streams to the URL given at create time: no answer document

    def api_base(self, settings: Settings, creds: Mapping[str, Any]) -> str:
        return settings.mcube_api_base.rstrip("/")

    def _headers(self, creds: Mapping[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {creds['jwt_token']}"}

    async def create_call(self, http: httpx.AsyncClient, base: str, creds: Mapping[str, Any], req: DialRequest) -> str:
        body = {
            "exe_number": creds["exe_number"],
            "cust_number": req.to_number,
            "refurl": req.urls.status,
            "stream_url": f"{req.urls.media}?token={req.urls.token}",
            "ref_id": req.call_id,
            "ring_timeout": req.ring_timeout_secs,
            "max_duration": req.max_duration_secs,
        }
        url = f"{base}/Restmcube-api/outbound-calls"
        resp = await send(http, "MCube", "POST", url, json=body, headers=self._headers(creds))
        raise_for_carrier(resp, "MCube", error_detail(resp, "msg", "message"))
        payload = json_object(resp)
        if payload.get("status") != "success" or not payload.get("callid"):
            raise CarrierError(f"MCube refused the call: {payload.get('msg') or payload}")
        return str(payload["callid"])

    async def hang_up(self, http: httpx.AsyncClient, base: str, creds: Mapping[str, Any], carrier_call_id: str) -> None:
        url = f"{base}/Restmcube-api/hangup-call"
        resp = await send(http, "MCube", "POST", url, json={"callid": carrier_call_id}, headers=self._headers(creds))
        if resp.status_code == 404:
            return
        raise_for_carrier(resp, "MCube", error_detail(resp, "msg"))

    async def fetch_status(
        self, http: httpx.AsyncClient, base: str, creds: Mapping[str, Any], carrier_call_id: str
    ) -> StatusUpdate | None:
        url = f"{base}/Restmcube-api/call-status/{carrier_call_id}"
        resp = await send(http, "MCube", "GET", url, headers=self._headers(creds))
        if resp.status_code == 404:
            return None
        raise_for_carrier(resp, "MCube", error_detail(resp, "msg"))
        body = json_object(resp)
        return StatusUpdate(
            STATUS_MAP.get(str(body.get("status", "")).upper()),
            carrier_call_id=carrier_call_id,
            duration_seconds=optional_int(body.get("duration")),
        )

    def answer_document(self, urls: CallUrls, call_id: str, session_id: str) -> str:
        return ""

    def verify(self, request: CarrierRequest, creds: Mapping[str, Any]) -> bool:
        return True  # MCube does not sign; the per-call token in the URL is the credential

    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate:
        raw = str(params.get("status") or "").upper()
        status = STATUS_MAP.get(raw)
        error = None
        if status in (CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER):
            words = {"REJECTED": "the callee declined the call", "BUSY": "the line was busy"}.get(raw, raw.lower())
            cause = params.get("hangup_cause")
            error = f"MCube reported {raw}: {words}" + (f" ({cause})" if cause else "")
        return StatusUpdate(
            status=status,
            carrier_call_id=params.get("callid") or None,
            duration_seconds=optional_int(params.get("duration")),
            error_message=error,
        )

    async def accept_media(self, websocket: WebSocket, creds: Mapping[str, Any]) -> MediaHandshake:
        start = await read_start_event(websocket)
        stream_id = start.get("streamId")
        if not stream_id:
            raise CarrierError("MCube stream sent no start event")
        encoding = str((start.get("mediaFormat") or {}).get("encoding") or L16)
        return MediaHandshake(
            serializer=MCubeFrameSerializer(stream_id, start.get("callId"), encoding),
            stream_id=stream_id,
            carrier_call_id=start.get("callId"),
            params={str(k): str(v) for k, v in (start.get("customParameters") or {}).items()},
            extra={"media_format": start.get("mediaFormat")},
        )


CARRIER = MCubeCarrier()
