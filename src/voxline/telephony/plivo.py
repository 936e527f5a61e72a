"""Plivo: auth id + auth token, the Call REST API, <Stream bidirectional> answer XML, Plivo's audio
stream events, and callbacks signed with X-Plivo-Signature-V3 (checked by the `plivo` package's own
`validate_v3_signature`). Vobiz speaks a Plivo-shaped protocol on its own host, with its own REST
authentication and its own callback signature: see vobiz.py, which overrides exactly those.

The media stream's URL carries the session and the call's token as path segments: Plivo documents no
promise that a query string on the <Stream> URL survives, and `extraHeaders` allow only letters and
digits (our tokens have `-` and `_`). The stream's own `start.callId` must then name the call we know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx
from pydantic import AliasChoices, Field

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

PROVIDER = "plivo"


class Credentials(CarrierCredentials):
    secret_fields = frozenset({"auth_token"})
    caller_id_field = "from_number"
    account_field = "auth_id"

    auth_id: Annotated[
        str,
        Field(
            pattern=r"^(MA|SA)[A-Z0-9]{18}$",
            validation_alias=AliasChoices("auth_id", "account_sid"),
            description="Auth ID (MA… or SA… for subaccounts), 20 chars",
        ),
    ]
    auth_token: Annotated[str, Field(pattern=r"^\S{40}$", description="Auth token, 40 chars")]
    from_number: E164


STATUS_MAP: dict[str, CallStatus] = {
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "failed": CallStatus.FAILED,
    "timeout": CallStatus.NO_ANSWER,
    "no-answer": CallStatus.NO_ANSWER,
    "cancel": CallStatus.CANCELED,
}

# Hang-up causes Plivo reports under one status: name them so busy and declined can be told apart.
CAUSE_MEANING = {
    "USER_BUSY": "the line was busy",
    "CALL_REJECTED": "the callee declined the call",
    "NO_ANSWER": "the callee did not answer",
    "NO_USER_RESPONSE": "the callee's phone did not respond",
    "UNALLOCATED_NUMBER": "the number does not exist",
    "NORMAL_TEMPORARY_FAILURE": "the carrier's network failed temporarily",
}


class PlivoAccount(Protocol):
    """What Plivo's protocol needs of an account, whoever speaks it (plivo.Credentials, vobiz.Credentials)."""

    @property
    def auth_id(self) -> str: ...
    @property
    def auth_token(self) -> str: ...


@dataclass(frozen=True)
class PlivoLike:
    """Plivo's protocol, parameterised by who speaks it (Plivo itself, or Vobiz on its own host)."""

    provider: str
    brand: str
    base_setting: str
    signature_headers: tuple[str, str]  # (signature, nonce) header names, lower case
    signature_required: bool
    default_cps: float = 2.0
    wire_sample_rate: int = 8000
    answer_media_type: str = "application/xml"
    supports_transfer: bool = True

    def api_base(self, settings: Settings, creds: PlivoAccount) -> str:
        return str(getattr(settings, self.base_setting)).rstrip("/")

    def _account(self, base: str, creds: PlivoAccount) -> str:
        return f"{base}/v1/Account/{creds.auth_id}"

    def auth(self, creds: PlivoAccount) -> dict[str, Any]:
        """How a REST request proves the account: Plivo takes HTTP Basic auth_id:auth_token (its SDK's
        session auth)."""
        return {"auth": (creds.auth_id, creds.auth_token)}

    async def create_call(self, http: httpx.AsyncClient, base: str, creds: PlivoAccount, req: DialRequest) -> str:
        body: dict[str, Any] = {
            "from": req.from_number.lstrip("+"),
            "to": req.to_number.lstrip("+"),
            "answer_url": req.urls.answer,
            "answer_method": "POST",
            "ring_url": req.urls.status,
            "ring_method": "POST",
            "hangup_url": req.urls.status,
            "hangup_method": "POST",
            "ring_timeout": req.ring_timeout_secs,
            "time_limit": req.max_duration_secs,
        }
        if req.machine_detection:
            body |= {
                "machine_detection": "true",
                "machine_detection_url": req.urls.amd,
                "machine_detection_method": "POST",
            }
        url = f"{self._account(base, creds)}/Call/"
        resp = await send(http, self.brand, "POST", url, json=body, **self.auth(creds))
        raise_for_carrier(resp, self.brand, error_detail(resp, "error", "message"))
        uuid = json_object(resp).get("request_uuid")
        if isinstance(uuid, list):
            uuid = uuid[0] if uuid else None
        if not uuid:
            raise CarrierError(f"{self.brand} accepted the call but returned no request_uuid")
        return str(uuid)

    async def hang_up(self, http: httpx.AsyncClient, base: str, creds: PlivoAccount, carrier_call_id: str) -> None:
        auth = self.auth(creds)
        account = self._account(base, creds)
        # A live call is hung up by its CallUUID; one still being set up is cancelled by its request_uuid.
        for kind in ("Call", "Request"):
            resp = await send(http, self.brand, "DELETE", f"{account}/{kind}/{carrier_call_id}/", **auth)
            if resp.status_code != 404:
                raise_for_carrier(resp, self.brand, error_detail(resp, "error", "message"))
                return
        # Neither knows it: the call has already ended, which is what we wanted.

    async def transfer(
        self,
        http: httpx.AsyncClient,
        base: str,
        creds: PlivoAccount,
        carrier_call_id: str,
        to_number: str,
        dial_url: str,
    ) -> None:
        # Transferring the A leg makes the carrier fetch `dial_url` and run it in place of the <Stream>.
        body = {"legs": "aleg", "aleg_url": dial_url, "aleg_method": "GET"}
        url = f"{self._account(base, creds)}/Call/{carrier_call_id}/"
        resp = await send(http, self.brand, "POST", url, json=body, **self.auth(creds))
        raise_for_carrier(resp, self.brand, error_detail(resp, "error", "message"))

    def transfer_document(self, to_number: str) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>'
            f"<Number>{escape(to_number)}</Number></Dial></Response>"
        )

    async def fetch_status(
        self, http: httpx.AsyncClient, base: str, creds: PlivoAccount, carrier_call_id: str
    ) -> StatusUpdate | None:
        auth = self.auth(creds)
        url = f"{self._account(base, creds)}/Call/{carrier_call_id}/"
        live = await send(http, self.brand, "GET", url, params={"status": "live"}, **auth)
        if live.status_code == 200:
            state = str(json_object(live).get("call_status", "in-progress"))
            return StatusUpdate(STATUS_MAP.get(state, CallStatus.IN_PROGRESS), carrier_call_id=carrier_call_id)
        if live.status_code != 404:
            raise_for_carrier(live, self.brand, error_detail(live, "error"))
        record = await send(http, self.brand, "GET", url, **auth)
        if record.status_code == 404:
            return None
        raise_for_carrier(record, self.brand, error_detail(record, "error"))
        body = json_object(record)
        status = STATUS_MAP.get(str(body.get("call_status") or body.get("call_state") or "").lower())
        return StatusUpdate(
            status, carrier_call_id=carrier_call_id, duration_seconds=optional_int(body.get("call_duration"))
        )

    def answer_document(self, urls: CallUrls, call_id: str, session_id: str) -> str:
        # Session and token ride in the URL's path (see the module docstring); no extraHeaders needed.
        stream_url = f"{urls.media}/{quote(urls.token, safe='')}"
        return (
            '<?xml version="1.0" encoding="UTF-8"?><Response>'
            '<Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">'
            f"{escape(stream_url)}</Stream>"
            "</Response>"
        )

    def verify(self, request: CarrierRequest, creds: PlivoAccount) -> bool:
        from plivo.utils.signature_v3 import validate_v3_signature

        sig_name, nonce_name = self.signature_headers
        signature = request.headers.get(sig_name) or request.headers.get("x-plivo-signature-v3")
        nonce = request.headers.get(nonce_name) or request.headers.get("x-plivo-signature-v3-nonce")
        if not signature or not nonce:
            return not self.signature_required  # the call's token alone guards carriers that may not sign
        params = dict(request.params) if request.method == "POST" else {}
        try:
            ok = validate_v3_signature(request.method, request.url, nonce, creds.auth_token, signature, params)
            return bool(ok)
        except Exception:  # noqa: BLE001 - a malformed header is a forgery, not a server error
            return False

    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate:
        answered_by = None
        if "Machine" in params:
            answered_by = AnsweredBy.MACHINE if params["Machine"].lower() == "true" else AnsweredBy.HUMAN
        raw = (params.get("CallStatus") or "").lower()
        status = STATUS_MAP.get(raw) if raw else None
        error = None
        if status in (CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER):
            cause = params.get("HangupCause", "")
            words = CAUSE_MEANING.get(cause) or params.get("HangupCauseName") or ""
            error = f"{self.brand} reported {raw}" + (f": {words} ({cause})" if cause else "")
        return StatusUpdate(
            status=status,
            carrier_call_id=params.get("CallUUID") or None,
            answered_by=answered_by,
            duration_seconds=optional_int(params.get("Duration")),
            error_message=error,
        )

    def serializer(self, stream_id: str, call_id: str | None) -> Any:
        from pipecat.serializers.plivo import PlivoFrameSerializer

        return PlivoFrameSerializer(
            stream_id=stream_id, call_id=call_id, params=PlivoFrameSerializer.InputParams(auto_hang_up=False)
        )

    async def accept_media(self, websocket: WebSocket) -> MediaHandshake:
        start = await read_start_event(websocket)
        stream_id = start.get("streamId")
        if not stream_id:
            raise CarrierError(f"{self.brand} audio stream sent no start event")
        return MediaHandshake(
            serializer=self.serializer(stream_id, start.get("callId")),
            stream_id=stream_id,
            carrier_call_id=start.get("callId"),
            params={},
            extra={"media_format": start.get("mediaFormat")},
        )


CARRIER = PlivoLike(
    provider=PROVIDER,
    brand="Plivo",
    base_setting="plivo_api_base",
    signature_headers=("x-plivo-signature-v3", "x-plivo-signature-v3-nonce"),
    signature_required=True,
)
