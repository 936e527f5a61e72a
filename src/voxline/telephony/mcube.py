"""MCube: the token MCube issues (field `jwt_token`, kept for API compatibility) and the executive line
(`exe_number`) calls go out on.

ASSUMED, NOT VERIFIED: MCube's own API documents were not found in any public source. Everything here
follows the one working third-party integration found (invortoai/voice_bot_latest, its MCube outbound
provider, refurl route, message models and serializer). What it does, and so what we do:
- Create: POST `{base}/Restmcube-api/outbound-calls-websocket` (base `https://config.mcube.com`), JSON
  body `HTTP_AUTHORIZATION` (the token: in the body, no auth header), `exenumber`, `custnumber` (both
  ten digits: no country code, no `+`), `refurl` (our status URL), `refid` (our call id). Success is
  HTTP 200/201 with `callid`; a refusal is `"status": false` (or "false") with `msg`.
- MCube POSTs JSON to `refurl`. With `dialStatus` CONNECTING (or none) it expects `{"wss_url": …}` back
  and opens that websocket; later posts carry the end: `dialStatus` ANSWER (+ `endTime`,
  `answeredTime` in seconds), BUSY, EXECUTIVE BUSY, CANCEL, NOANSWER; it expects `{"status": "ok"}`.
  The older lowercase field names (`dialstatus`, `callid`, `answeredtime` as HH:MM:SS) are read too.
- Media: see telephony/mcube_serializer.py. The session and the call's token ride in the wss URL's
  path. Hang-up is `terminate` on the stream (no REST hang-up, status or transfer API is known).
- MCube does not sign callbacks (none found): the refurl carries the call's unguessable token.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import httpx
from pydantic import Field

from voxline.core.call_status import CallStatus
from voxline.telephony.base import CarrierCredentials
from voxline.telephony.carrier import (
    CallUrls,
    CarrierError,
    CarrierRequest,
    DialRequest,
    LiveStreams,
    MediaHandshake,
    StatusUpdate,
    json_object,
    optional_int,
    raise_for_carrier,
    read_start_event,
    send,
)
from voxline.telephony.mcube_serializer import MULAW, MCubeFrameSerializer, terminate_message

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from voxline.settings import Settings

PROVIDER = "mcube"
SOURCE_NOTE = (
    "MCube support follows a third-party integration (invortoai/voice_bot_latest), not MCube's own "
    "documents, which were not found; endpoint, fields and media messages are assumed from it."
)


class Credentials(CarrierCredentials):
    secret_fields = frozenset({"jwt_token"})
    caller_id_field = "exe_number"
    account_field = "jwt_token"

    jwt_token: Annotated[
        str,
        Field(
            max_length=4096,
            pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$",
            description="MCube token (header.payload.signature), sent as HTTP_AUTHORIZATION",
        ),
    ]
    exe_number: Annotated[str, Field(pattern=r"^\+?\d{4,15}$", description="Outbound line; national ok")]

    def setup_settings(self, public_base_url: str) -> dict[str, Any]:
        return {"implementation_note": SOURCE_NOTE}


def ten_digits(number: str) -> str:
    """MCube's number format in the integration: the last ten digits (no country code, no `+`)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return digits[-10:] if len(digits) >= 10 else digits


def field(params: Mapping[str, Any], *names: str) -> str:
    """A refurl field by any of its spellings (camelCase in the current payload, lowercase in the old)."""
    lowered = {str(k).lower(): v for k, v in params.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value not in (None, ""):
            return str(value)
    return ""


def seconds(value: str) -> int | None:
    """`answeredTime` in seconds, or the older `answeredtime` as HH:MM:SS."""
    if ":" in value:
        with contextlib.suppress(ValueError):
            total = 0
            for part in value.split(":"):
                total = total * 60 + int(part)
            return total
        return None
    return optional_int(value)


CONNECTING = ("", "CONNECTING")
STATUS_MAP: dict[str, CallStatus] = {
    "ANSWER": CallStatus.IN_PROGRESS,  # COMPLETED once `endTime` is present
    "BUSY": CallStatus.BUSY,
    "EXECUTIVE BUSY": CallStatus.BUSY,
    "CANCEL": CallStatus.CANCELED,
    "NOANSWER": CallStatus.NO_ANSWER,
    "NO ANSWER": CallStatus.NO_ANSWER,
}
WORDS = {"BUSY": "the line was busy", "EXECUTIVE BUSY": "the executive line was busy"}


class MCubeCarrier:
    provider = PROVIDER
    default_cps = 1.0
    wire_sample_rate = 8000
    answer_media_type = ""  # MCube asks the refurl for the websocket: no answer document
    stream_names_call = False  # whether start.callId equals create's callid is not known
    # MCube opens the media websocket only once it has asked the refurl for it (dialStatus CONNECTING, on
    # the URL carrying the call's token), and it reports ANSWER only with the call's end: that CONNECTING
    # request is its "answered" report, as the answer-URL fetch is Twilio's (see dialer/edge.py).
    stream_follows_connecting = True

    def api_base(self, settings: Settings, creds: Credentials) -> str:
        return settings.mcube_api_base.rstrip("/")

    async def create_call(self, http: httpx.AsyncClient, base: str, creds: Credentials, req: DialRequest) -> str:
        body = {
            "HTTP_AUTHORIZATION": creds.jwt_token,
            "exenumber": ten_digits(creds.exe_number),
            "custnumber": ten_digits(req.to_number),
            "refurl": req.urls.status,
            "refid": req.call_id,
        }
        url = f"{base}/Restmcube-api/outbound-calls-websocket"
        resp = await send(http, "MCube", "POST", url, json=body)
        payload = json_object(resp)
        raise_for_carrier(resp, "MCube", str(payload.get("msg") or resp.text[:200] or resp.reason_phrase))
        if payload.get("status") in (False, "false"):
            raise CarrierError(f"MCube refused the call: {payload.get('msg') or payload}")
        if not payload.get("callid"):
            raise CarrierError(f"MCube accepted the call but returned no callid: {payload}")
        return str(payload["callid"])

    async def hang_up(self, http: httpx.AsyncClient, base: str, creds: Credentials, carrier_call_id: str) -> None:
        live = LIVE.pop(carrier_call_id)
        if live is None:
            raise CarrierError(
                "MCube has no known hang-up API; a call is ended by `terminate` on its stream, which this "
                "server process does not hold"
            )
        websocket, stream_id = live
        with contextlib.suppress(Exception):
            await websocket.send_text(terminate_message(stream_id))

    async def fetch_status(
        self, http: httpx.AsyncClient, base: str, creds: Credentials, carrier_call_id: str
    ) -> StatusUpdate | None:
        raise CarrierError("MCube has no known call-status API")

    def answer_document(self, urls: CallUrls, call_id: str, session_id: str) -> str:
        return ""

    def status_reply(self, params: Mapping[str, str], urls: CallUrls) -> dict[str, Any]:
        """The refurl's answer: the websocket URL while connecting, else MCube's acknowledgement."""
        if field(params, "dialStatus").upper() in CONNECTING:
            return {"wss_url": f"{urls.media}/{quote(urls.token, safe='')}"}
        return {"status": "ok"}

    def verify(self, request: CarrierRequest, creds: Credentials) -> bool:
        return True  # no signature known; the per-call token in the URL is the credential

    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate:
        raw = field(params, "dialStatus").upper()
        call_id = field(params, "callId") or None
        if raw in CONNECTING:
            # MCube asks for the websocket: the call is being connected to us. Recorded as ringing (not
            # in progress: a BUSY, CANCEL or NOANSWER may still follow); see `stream_follows_connecting`.
            return StatusUpdate(CallStatus.RINGING, carrier_call_id=call_id)
        ended = bool(field(params, "endTime"))
        status = STATUS_MAP.get(raw, CallStatus.FAILED)
        if status is CallStatus.IN_PROGRESS and ended:
            status = CallStatus.COMPLETED
        error = None
        if status in (CallStatus.FAILED, CallStatus.BUSY, CallStatus.NO_ANSWER):
            error = f"MCube reported {raw}" + (f": {WORDS[raw]}" if raw in WORDS else "")
        return StatusUpdate(
            status=status,
            carrier_call_id=call_id,
            duration_seconds=seconds(field(params, "answeredTime")),
            error_message=error,
        )

    async def accept_media(self, websocket: WebSocket) -> MediaHandshake:
        start = await read_start_event(websocket)
        stream_id = start.get("streamId")
        if not stream_id:
            raise CarrierError("MCube stream sent no start event")
        media_format = start.get("mediaFormat") or {}
        encoding = str(media_format.get("encoding") or MULAW)
        rate = optional_int(media_format.get("sampleRate")) or 8000
        return MediaHandshake(
            serializer=MCubeFrameSerializer(stream_id, start.get("callId"), encoding, rate),
            stream_id=stream_id,
            carrier_call_id=start.get("callId"),
            params={},
            extra={"media_format": media_format},
        )

    def stream_accepted(self, websocket: WebSocket, handshake: MediaHandshake) -> None:
        """Hold the stream for `hang_up` once dialer/edge has accepted it (never a refused one: it would
        take the place of the call's real stream)."""
        LIVE.add(handshake.carrier_call_id, websocket, handshake.stream_id)


LIVE = LiveStreams()
CARRIER = MCubeCarrier()
