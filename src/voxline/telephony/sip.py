"""SIP trunk: where INVITEs go, digest credentials, caller id, custom headers, which addresses may call us.

The call itself is placed by this process's SIP user agent (`sip_agent`, PJSIP on its own thread) through
`sip_gateway`, which stands where a websocket carrier stands: it reports the call's progress to the call's
status URL, fetches the answer URL when the callee answers, and streams the RTP audio over the call's media
websocket, so the dialer, the lifecycle and the voice runtime treat a SIP call like any other carrier's.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import httpx
from pydantic import AfterValidator, Field, model_validator

from voxline.core.call_status import CallStatus
from voxline.telephony.base import E164, CarrierCredentials
from voxline.telephony.carrier import (
    CallUrls,
    CarrierError,
    CarrierRequest,
    DialRequest,
    MediaHandshake,
    StatusUpdate,
    optional_int,
    read_start_event,
)

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from voxline.settings import Settings

PROVIDER = "sip"

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!%*_+`'~.-]{1,64}$")
# Headers the user agent writes itself: a custom one must not replace or duplicate them.
_RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Max-Forwards",
        "Content-Length",
        "Content-Type",
        "Authorization",
        "Proxy-Authorization",
        "Route",
        "Record-Route",
        "Allow",
        "Supported",
        "Require",
        "Session-Expires",
        "Min-SE",
        "User-Agent",
        "f",
        "t",
        "i",
        "m",
        "l",
        "c",
        "v",
        "k",
    )
)


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR range") from None


def host_port(value: str, what: str = "sip_host") -> tuple[str, int | None]:
    """`host[:port]`: a DNS name or an IP address, and a port from 1 to 65535."""
    host, port = value, None
    if value.startswith("["):  # [IPv6]:port
        end = value.find("]")
        if end < 0:
            raise ValueError(f"{what} {value!r}: an IPv6 address must end with ']'")
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{what} {value!r}: expected ':port' after the IPv6 address")
            port = _port(rest[1:], what, value)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{what} {value!r}: {host!r} is not an IPv6 address") from None
        return host, port
    if value.count(":") == 1:
        host, raw = value.split(":")
        port = _port(raw, what, value)
    if not host:
        raise ValueError(f"{what} {value!r}: the host is missing")
    try:
        ipaddress.IPv4Address(host)
        return host, port
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(f"{what} {value!r}: {host!r} is neither a host name nor an IPv4 address")
    return host, port


def _port(raw: str, what: str, value: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError(f"{what} {value!r}: the port must be a number from 1 to 65535")
    return int(raw)


def _host(value: str) -> str:
    host_port(value)
    return value


def _proxy(value: str | None) -> str | None:
    if value is None:  # stored credentials keep an unset proxy as null
        return None
    bare = value[4:] if value.lower().startswith("sip:") else value
    host_port(bare.split(";", 1)[0], "outbound_proxy")
    return bare


class Credentials(CarrierCredentials):
    secret_fields = frozenset({"outbound_password"})
    caller_id_field = "did_number"
    account_field = "sip_host"

    sip_host: Annotated[str, Field(max_length=255, description="the trunk, host[:port]"), AfterValidator(_host)]
    port: Annotated[int | None, Field(ge=1, le=65535, description="the trunk's port, if not in sip_host")] = None
    outbound_username: Annotated[str | None, Field(max_length=128, pattern=r"^[^\s:@;]+$")] = None
    outbound_password: Annotated[str | None, Field(max_length=256)] = None
    outbound_proxy: Annotated[
        str | None, Field(max_length=255, description="host[:port] every request goes through"), AfterValidator(_proxy)
    ] = None
    custom_headers: dict[str, Annotated[str, Field(max_length=512)]] = Field(default_factory=dict, max_length=20)
    source_ips: list[Annotated[str, AfterValidator(_cidr)]] = Field(default_factory=list, max_length=50)
    did_number: E164
    transport: Literal["UDP", "TCP", "TLS"] = "UDP"
    keepalive_secs: Annotated[
        int | None,
        Field(
            ge=0, le=3600, description="in-dialog OPTIONS this often on an answered call (0 off; unset: the server's)"
        ),
    ] = None

    @model_validator(mode="after")
    def _consistent(self) -> Credentials:
        if bool(self.outbound_username) != bool(self.outbound_password):
            raise ValueError("outbound_username and outbound_password go together: digest authentication needs both")
        _, inline_port = host_port(self.sip_host)
        if inline_port is not None and self.port is not None and inline_port != self.port:
            raise ValueError(f"sip_host names port {inline_port} but port is {self.port}: give the port once")
        for name, value in self.custom_headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"custom header name {name!r} is not a SIP header name (letters, digits, '-')")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"custom header {name!r} is written by the SIP user agent and cannot be set")
            if any(ch in value for ch in "\r\n\0"):
                raise ValueError(f"custom header {name!r}: the value must be one line")
        return self

    def hint(self) -> str:
        return self.sip_host  # a host name is not a secret; show it whole

    def public_settings(self) -> dict:
        return {k: v for k, v in self.model_dump().items() if k not in self.secret_fields}


# ---- the call, as our own user agent reports it (see sip_gateway) ----

BUSY_CODES = frozenset({486, 600, 603})
NO_ANSWER_CODES = frozenset({408, 480, 487})


def ended_status(code: int, reason: str, answered: bool, fault: str | None = None) -> StatusUpdate:
    """A final SIP answer in our vocabulary: 486/600/603 busy, 408/480/487 no answer, anything else failed
    with the trunk's own words. An answered call we ended because our audio stopped reaching the callee
    (`fault`, see sip_agent.MEDIA_STALL_SECS) failed: the person heard a silent line."""
    if answered:
        if fault:
            return StatusUpdate(CallStatus.FAILED, error_message=fault)
        return StatusUpdate(CallStatus.COMPLETED)
    words = f"SIP {code} {reason}".strip() if code else reason
    if code in BUSY_CODES:
        return StatusUpdate(CallStatus.BUSY, error_message=words)
    if code in NO_ANSWER_CODES:
        return StatusUpdate(CallStatus.NO_ANSWER, error_message=words)
    if code in (401, 407):
        words = f"the trunk refused our credentials ({words})"
    return StatusUpdate(CallStatus.FAILED, error_message=f"the trunk refused the call: {words}")


class SipCarrier:
    provider = PROVIDER
    default_cps = 10.0
    wire_sample_rate = 8000
    answer_media_type = "application/json"
    supports_transfer = True  # blind transfer by REFER (RFC 3515); a trunk that refuses it ends the call
    # Our own user agent, in this server, posts the call's progress: no carrier on the internet calls us back
    # (the trunk must still reach our RTP port; see the README's SIP notes).
    calls_back_over_internet = False

    def api_base(self, settings: Settings, creds: Credentials) -> str:
        return f"sip:{creds.sip_host or ''}"

    async def create_call(self, http: httpx.AsyncClient, base: str, creds: Credentials, req: DialRequest) -> str:
        from voxline.telephony import sip_gateway
        from voxline.telephony.sip_agent import SipBusy

        fields: dict[str, Any] = creds.model_dump()
        if base.startswith(("http://", "https://")):  # a sandbox call: the server's own SIP trunk
            fields.update(
                sip_host=await _sandbox_trunk(http, base, fields),
                port=None,
                transport="UDP",
                outbound_proxy=None,
                custom_headers={},
            )
        try:
            return await sip_gateway.gateway().place(target_for(fields, req, base), req)
        except SipBusy as exc:  # no INVITE left: the dialer may try again later, or another process may
            raise CarrierError(f"sip: {exc}", retryable=True) from None
        except RuntimeError as exc:
            raise CarrierError(f"sip: {exc}", retryable=False) from None

    async def hang_up(self, http: httpx.AsyncClient, base: str, creds: Credentials, carrier_call_id: str) -> None:
        from voxline.telephony import sip_gateway

        sip_gateway.gateway().hang_up(carrier_call_id)

    async def transfer(
        self,
        http: httpx.AsyncClient,
        base: str,
        creds: Credentials,
        carrier_call_id: str,
        to_number: str,
        dial_url: str,
    ) -> None:
        from voxline.telephony import sip_gateway

        try:
            await sip_gateway.gateway().transfer(carrier_call_id, to_number)
        except (RuntimeError, TimeoutError) as exc:
            raise CarrierError(f"sip: {exc or 'the trunk did not answer the REFER'}", retryable=False) from None

    def transfer_document(self, to_number: str) -> str:
        return ""  # a SIP trunk fetches no instructions: the REFER names the number

    async def fetch_status(
        self, http: httpx.AsyncClient, base: str, creds: Credentials, carrier_call_id: str
    ) -> StatusUpdate | None:
        from voxline.telephony import sip_gateway

        return sip_gateway.gateway().status(carrier_call_id)

    def answer_document(self, urls: CallUrls, call_id: str, session_id: str) -> str:
        from urllib.parse import quote

        return json.dumps({"media": f"{urls.media}?token={quote(urls.token, safe='')}"})

    def verify(self, request: CarrierRequest, creds: Credentials) -> bool:
        return True  # our own user agent calls back; the call's token in the URL is the credential

    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate:
        event = params.get("event", "")
        call_id = params.get("call_id") or None
        if event == "ringing":
            return StatusUpdate(CallStatus.RINGING, carrier_call_id=call_id)
        if event == "answered":
            return StatusUpdate(CallStatus.IN_PROGRESS, carrier_call_id=call_id)
        if event == "ended":
            update = ended_status(
                optional_int(params.get("code")) or 0,
                params.get("reason", ""),
                params.get("answered") == "1",
                params.get("fault") or None,
            )
            return StatusUpdate(
                update.status,
                carrier_call_id=call_id,
                duration_seconds=optional_int(params.get("duration")),
                error_message=update.error_message,
            )
        return StatusUpdate(None, carrier_call_id=call_id)

    async def accept_media(self, websocket: WebSocket) -> MediaHandshake:
        from voxline.telephony.sip_serializer import SipFrameSerializer

        start = await read_start_event(websocket)
        if not start:
            raise ValueError("the SIP media stream sent no start message")
        return MediaHandshake(
            serializer=SipFrameSerializer(),
            stream_id=str(start.get("stream_id") or ""),
            carrier_call_id=start.get("call_id"),
            params={"token": str(start.get("token") or "")},
        )


async def _sandbox_trunk(http: httpx.AsyncClient, base: str, creds: Mapping[str, Any]) -> str:
    """host:port of the sandbox trunk (the sandbox names it over HTTP, to its sandbox account; the trunk
    itself speaks SIP)."""
    auth = (str(creds.get("outbound_username") or ""), str(creds.get("outbound_password") or ""))
    try:
        resp = await http.get(f"{base}/trunk", auth=auth)
        resp.raise_for_status()
        trunk = resp.json()
        return f"{trunk['host']}:{int(trunk['port'])}"
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise CarrierError(f"sip: the sandbox trunk could not be found: {exc}", retryable=True) from None


def target_for(creds: Mapping[str, Any], req: DialRequest, base: str = "") -> Any:
    """Where the user agent sends this call's INVITE, and as whom."""
    from voxline.telephony.sip_agent import SipTarget

    host = str(creds.get("sip_host") or base.removeprefix("sip:"))
    if creds.get("port") and ":" not in host.strip("[]").rsplit("]", 1)[-1]:
        host = f"{host}:{creds['port']}"
    transport = str(creds.get("transport") or "UDP").lower()
    bare_host = host_port(host)[0]
    # TLS as trunks take it: a sip: URI with transport=tls (a sips: URI would ask for TLS on every hop and
    # a sips: Contact, which callees such as baresip then require: 480 SIPS Required).
    uri = f"sip:{req.to_number}@{host};transport={transport}"
    from_number = req.from_number or str(creds.get("did_number") or "")
    proxy = creds.get("outbound_proxy")
    return SipTarget(
        uri=uri,
        from_uri=f"sip:{from_number}@{bare_host}",
        username=creds.get("outbound_username") or None,
        password=creds.get("outbound_password") or None,
        outbound_proxy=f"sip:{proxy};lr;transport={transport}" if proxy else None,
        headers=tuple((str(k), str(v)) for k, v in (creds.get("custom_headers") or {}).items()),
        transport=transport,
        keepalive_secs=creds.get("keepalive_secs"),
    )


CARRIER = SipCarrier()
