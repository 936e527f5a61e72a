"""The one protocol every carrier module implements, and the plain values that cross it.

The dialer, the lifecycle and the carrier-facing routes speak only these types; each carrier module
turns them into its own REST requests, answer documents, callback parameters and media handshakes.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx

from voxline.core.call_status import AnsweredBy, CallStatus
from voxline.telephony.base import CarrierCredentials

if TYPE_CHECKING:
    from pipecat.serializers.base_serializer import FrameSerializer
    from starlette.websockets import WebSocket

    from voxline.settings import Settings


@dataclass(frozen=True)
class CallUrls:
    """Our carrier-facing URLs for one call (each carries the call's unguessable token)."""

    answer: str
    status: str
    amd: str
    media: str  # ws(s):// URL of the media websocket, without the token
    token: str


@dataclass(frozen=True)
class DialRequest:
    call_id: str
    session_id: str
    to_number: str
    from_number: str
    urls: CallUrls
    machine_detection: bool
    ring_timeout_secs: int
    max_duration_secs: int


@dataclass(frozen=True)
class StatusUpdate:
    """What one carrier callback (or status lookup) says. `status` None: nothing about the status."""

    status: CallStatus | None
    carrier_call_id: str | None = None
    answered_by: AnsweredBy | None = None
    duration_seconds: int | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class CarrierRequest:
    """A callback as received, with the URL the carrier called (rebuilt from our public base URL)."""

    method: str
    url: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass
class MediaHandshake:
    """What the carrier said before the audio: its ids, our custom parameters, the serializer for it."""

    serializer: FrameSerializer
    stream_id: str
    carrier_call_id: str | None
    params: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class CarrierError(Exception):
    """A carrier refused or failed a REST request. `retryable` only when no call can have been created."""

    def __init__(self, message: str, *, retryable: bool = False, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.http_status = http_status


# The carrier's own credentials model (e.g. twilio.Credentials): each carrier receives the validated object.
C = TypeVar("C", bound=CarrierCredentials, contravariant=True)


class Carrier(Protocol[C]):
    @property
    def provider(self) -> str: ...
    @property
    def default_cps(self) -> float: ...
    @property
    def wire_sample_rate(self) -> int: ...
    @property
    def answer_media_type(self) -> str:
        """e.g. application/xml; "" when the carrier opens the websocket with no document."""

    def api_base(self, settings: Settings, creds: C) -> str: ...

    async def create_call(self, http: httpx.AsyncClient, base: str, creds: C, req: DialRequest) -> str:
        """Place the call; returns the carrier's call id. Raises CarrierError."""

    async def hang_up(self, http: httpx.AsyncClient, base: str, creds: C, carrier_call_id: str) -> None:
        """End the call; a call the carrier already ended is not an error."""

    async def fetch_status(
        self, http: httpx.AsyncClient, base: str, creds: C, carrier_call_id: str
    ) -> StatusUpdate | None:
        """The carrier's view of the call, or None when it has no record of it."""

    def answer_document(self, urls: CallUrls, call_id: str, session_id: str) -> str:
        """The instruction that connects the answered call's audio to our media websocket."""

    def verify(self, request: CarrierRequest, creds: C) -> bool:
        """True when the carrier signed this request (carriers that do not sign: True; the token guards)."""

    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate:
        """A status or machine-detection callback in our vocabulary."""

    async def accept_media(self, websocket: WebSocket) -> MediaHandshake:
        """Read the carrier's opening messages on an accepted websocket and build its serializer (before the
        call is known: a fixed-URL stream names its call only in these messages)."""


class TransferringCarrier(Carrier[C], Protocol[C]):
    """A carrier that can move a live call's callee to another number (cold transfer). Optional: a carrier
    module opts in with `supports_transfer = True` and these methods; `transfer_support` finds out."""

    @property
    def supports_transfer(self) -> bool: ...

    async def transfer(
        self,
        http: httpx.AsyncClient,
        base: str,
        creds: C,
        carrier_call_id: str,
        to_number: str,
        dial_url: str,
    ) -> None:
        """Bridge the live call to `to_number`; its media stream then ends. `dial_url` is our URL that answers
        with `transfer_document(to_number)`, for carriers that fetch new instructions. Raises CarrierError."""

    def transfer_document(self, to_number: str) -> str:
        """The instruction that dials `to_number`, as the carrier fetches it from `dial_url`."""


def transfer_support(carrier: Carrier[C]) -> TransferringCarrier[C] | None:
    """The carrier's transfer side, or None when this server cannot transfer its calls."""
    if getattr(carrier, "supports_transfer", False) is True:
        return carrier  # type: ignore[return-value]
    return None


def raise_for_carrier(resp: httpx.Response, carrier: str, detail: str) -> None:
    """Turn a carrier's error answer into CarrierError: 429/502/503 mean no call was placed, retry later."""
    if resp.is_success:
        return
    status = resp.status_code
    retryable = status in (429, 502, 503)
    if status == 401:
        message = f"{carrier} rejected the credentials (401): {detail}"
    elif status == 403:
        message = f"{carrier} refused the call (403): {detail}"
    elif status == 429:
        message = f"{carrier} calls-per-second limit reached (429): {detail}"
    elif status >= 500:
        message = f"{carrier} server error ({status}): {detail}"
    else:
        message = f"{carrier} rejected the request ({status}): {detail}"
    raise CarrierError(message, retryable=retryable, http_status=status)


async def send(http: httpx.AsyncClient, carrier: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One carrier REST request. A request that never reached the carrier may be retried; a timeout may not
    (the carrier may have placed the call before it went quiet: retrying could ring the person twice)."""
    try:
        return await http.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise CarrierError(f"{carrier} could not be reached: {exc.__class__.__name__}", retryable=True) from None
    except httpx.TimeoutException:
        raise CarrierError(
            f"{carrier} did not answer in time; not retried, because the call may already have been placed",
            retryable=False,
        ) from None
    except httpx.HTTPError as exc:
        raise CarrierError(f"{carrier} request failed: {exc.__class__.__name__}", retryable=False) from None


def error_detail(resp: httpx.Response, *keys: str) -> str:
    """The carrier's own words for an error, from the first of `keys` present in its JSON body."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200] or resp.reason_phrase
    if isinstance(body, dict):
        for key in keys:
            if body.get(key):
                return str(body[key])[:300]
    return str(body)[:200]


# ---- wire helpers every carrier module shares ----


def optional_int(value: Any) -> int | None:
    """A carrier's numeric field, which may arrive missing, empty or as text."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def json_object(resp: httpx.Response) -> dict[str, Any]:
    """The response body if it is a JSON object, else {} (carriers answer errors in HTML or text too)."""
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def read_start_event(websocket: WebSocket, max_messages: int = 5) -> dict[str, Any]:
    """The `start` payload of a media stream, skipping what comes before it (e.g. Twilio's `connected`);
    {} when the carrier sends none within the first few messages."""
    for _ in range(max_messages):
        message = json.loads(await websocket.receive_text())
        if message.get("event") == "start":
            return message.get("start") or {}
    return {}


class LiveStreams:
    """The media websockets this process holds, by the carrier's call id: for carriers whose documented
    way to end a call is on its stream (Exotel: close it; MCube: send `terminate`), not a REST request.
    Entries vanish with their websocket (weak references)."""

    def __init__(self) -> None:
        self._streams: dict[str, tuple[weakref.ref[Any], str]] = {}

    def add(self, carrier_call_id: str | None, websocket: Any, stream_id: str) -> None:
        if not carrier_call_id:
            return
        for key in [k for k, (ref, _) in self._streams.items() if ref() is None]:
            del self._streams[key]
        self._streams[carrier_call_id] = (weakref.ref(websocket), stream_id)

    def pop(self, carrier_call_id: str) -> tuple[Any, str] | None:
        """The call's websocket and stream id, if this process holds it (and it is still referenced)."""
        entry = self._streams.pop(carrier_call_id, None)
        if entry is None:
            return None
        websocket = entry[0]()
        return (websocket, entry[1]) if websocket is not None else None
