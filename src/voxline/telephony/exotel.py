"""Exotel: account SID, API key and token, the regional API host, the ExoPhone caller id and the
App Bazaar flow (applet id) whose Voicebot applet streams the call's audio to us.

How a call reaches its session (Exotel's documents: connect-to-flow, the Voicebot applet, the
AgentStream websocket protocol):
- We place the call with `Calls/connect` and the flow's URL; Exotel answers with the call's `Sid`.
- The flow's Voicebot applet opens ONE websocket URL configured in the applet (no answer document,
  nothing per call). Its `start` message carries `call_sid`: the Sid our create call received. So the
  applet's URL is per connection, `wss://<public host>/telephony/exotel/flow/<flow key>`, where the
  flow key is derived from the connection's API token (`flow_key`); the call is the one whose carrier
  id is `start.call_sid`, and only if that call belongs to the connection the key was derived for.
  The URL is shown in the connection's settings (`voicebot_url`) and in the README.
- Or, with `stream_mode` "connect_voice_ai" (Exotel's Connect Voice AI, enabled per account by Exotel),
  no flow: the create call names the call's own `StreamUrl`, with the session and token in its path.
- `CustomField` is NOT passed to the stream (Exotel returns it in status callbacks and to Passthru
  applets only); `custom_parameters` are the applet URL's own query parameters. We rely on neither.

Exotel does not sign callbacks (its guidance is IP allow-listing and HTTPS), so the status URL carries
the call's unguessable token. Audio is 16-bit PCM at 8 kHz, sent in the chunk sizes Exotel documents
(telephony/exotel_serializer.py). Ending a call: Exotel documents closing the stream (the flow then
runs its next applet: put a Hangup applet after the Voicebot applet), not a REST hang-up of a
`Calls/connect` call; so `hang_up` closes the call's stream when this process holds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

import httpx
from pydantic import Field

from voxline.core.call_status import CallStatus
from voxline.telephony.base import E164, CarrierCredentials
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
from voxline.telephony.exotel_serializer import ExotelChunkingSerializer

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
    # "flow": the call runs the flow `applet_id`, whose Voicebot applet opens `voicebot_url`.
    # "connect_voice_ai": Exotel's Connect Voice AI (enabled on the account by Exotel) streams each call to
    # its own StreamUrl, no flow needed (`applet_id` is then not used).
    stream_mode: Literal["flow", "connect_voice_ai"] = "flow"

    def setup_settings(self, public_base_url: str) -> dict[str, Any]:
        """What the user must paste into the flow's Voicebot applet (its URL field)."""
        if self.stream_mode == "connect_voice_ai":
            return {"voicebot_setup": "Connect Voice AI must be enabled on the Exotel account; no applet is used."}
        base = public_base_url.rstrip("/")
        host = base.split("://", 1)[-1]
        ws_base = ("wss://" if base.startswith("https://") else "ws://") + host
        return {
            "voicebot_url": f"{ws_base}/telephony/exotel/flow/{flow_key(self.account_sid, self.api_token)}",
            "voicebot_setup": (
                "In the Exotel flow named by applet_id, set the Voicebot applet's URL to voicebot_url "
                "(static URL, 8 kHz) and put a Hangup applet after it."
            ),
        }


def flow_key(account_sid: str, api_token: str) -> str:
    """The connection's key in the Voicebot applet's URL: derived from its API token, so it needs no
    storage, cannot be guessed, and changes when the token is rotated."""
    message = f"voxline exotel voicebot {account_sid}".encode()
    return hmac.new(api_token.encode(), message, hashlib.sha256).hexdigest()[:40]


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

    def api_base(self, settings: Settings, creds: Credentials) -> str:
        return (settings.exotel_api_base or f"https://{creds.subdomain}").rstrip("/")

    def _calls(self, base: str, creds: Credentials) -> str:
        return f"{base}/v1/Accounts/{creds.account_sid}/Calls"

    async def create_call(self, http: httpx.AsyncClient, base: str, creds: Credentials, req: DialRequest) -> str:
        data = {
            "From": req.to_number,  # Exotel's "From" is the person to call; CallerId is our ExoPhone
            "CallerId": req.from_number,
            "TimeLimit": str(min(req.max_duration_secs, 14400)),
            "StatusCallback": req.urls.status,
            "StatusCallbackEvents[0]": "terminal",
            "StatusCallbackEvents[1]": "answered",
            "CustomField": req.call_id,  # comes back in status callbacks (never in the stream)
        }
        if creds.stream_mode == "connect_voice_ai":
            # The call's own socket URL: session and token as path segments (no query parameter is
            # documented to survive), well under Exotel's 600 characters.
            data |= {"StreamUrl": f"{req.urls.media}/{quote(req.urls.token, safe='')}", "StreamType": "bidirectional"}
        else:
            flow = f"http://my.exotel.com/{creds.account_sid}/exoml/start_voice/{creds.applet_id}"
            data |= {"Url": flow, "CallType": "trans", "TimeOut": str(req.ring_timeout_secs)}
        auth = (creds.api_key, creds.api_token)
        resp = await send(http, "Exotel", "POST", f"{self._calls(base, creds)}/connect.json", data=data, auth=auth)
        raise_for_carrier(resp, "Exotel", _error(resp))
        sid = (json_object(resp).get("Call") or {}).get("Sid")
        if not sid:
            raise CarrierError("Exotel accepted the call but returned no call Sid")
        return str(sid)

    async def hang_up(self, http: httpx.AsyncClient, base: str, creds: Credentials, carrier_call_id: str) -> None:
        # Exotel's documented end of a streamed call is the stream's end: closing the websocket ends a Connect
        # Voice AI call and moves a flow to its next applet (a Hangup applet). No v1 REST hang-up is documented
        # for Calls/connect calls, and the Legs API is for legs it created itself.
        live = LIVE.pop(carrier_call_id)
        if live is None:
            raise CarrierError(
                "Exotel documents no API to end a call whose stream this server does not hold "
                "(a ringing call, or one streaming to another server process); it ends when the callee hangs up "
                "or its time limit passes"
            )
        websocket, _ = live
        with contextlib.suppress(Exception):
            await websocket.close()

    async def fetch_status(
        self, http: httpx.AsyncClient, base: str, creds: Credentials, carrier_call_id: str
    ) -> StatusUpdate | None:
        auth = (creds.api_key, creds.api_token)
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

    def verify(self, request: CarrierRequest, creds: Credentials) -> bool:
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

    def flow_key(self, creds: Credentials) -> str:
        """The key in the URL of the connection's Voicebot applet (see `flow_key`)."""
        return flow_key(creds.account_sid, creds.api_token)

    async def accept_media(self, websocket: WebSocket) -> MediaHandshake:
        start = await read_start_event(websocket)
        # Exotel documents snake case; its own Agent-Stream code also reads camel case: accept both.
        stream_sid = start.get("stream_sid") or start.get("streamSid")
        call_sid = start.get("call_sid") or start.get("callSid")
        if not stream_sid:
            raise CarrierError("Exotel stream sent no start event")
        custom = start.get("custom_parameters") or {}
        return MediaHandshake(
            serializer=ExotelChunkingSerializer(stream_sid, call_sid, websocket),
            stream_id=stream_sid,
            carrier_call_id=call_sid,
            params={str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict) else {},
            extra={"media_format": start.get("media_format")},
        )

    def stream_accepted(self, websocket: WebSocket, handshake: MediaHandshake) -> None:
        """Hold the stream for `hang_up` once dialer/edge has accepted it (never a refused one: it would
        take the place of the call's real stream)."""
        LIVE.add(handshake.carrier_call_id, websocket, handshake.stream_id)


LIVE = LiveStreams()
CARRIER = ExotelCarrier()
