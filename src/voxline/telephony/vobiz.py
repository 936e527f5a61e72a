"""Vobiz: a Plivo-shaped account (auth id MA_…, auth token) on Vobiz's own host, with its own REST
authentication and its own callback signature.

What differs from Plivo (telephony/plivo.py), each from Vobiz's documents:
- REST: `https://api.vobiz.ai/api/v1/Account/{auth_id}/…` authenticated by the headers `X-Auth-ID` and
  `X-Auth-Token` (Vobiz's make-call and authentication pages; the `vobiz-python` SDK's client sends
  exactly these two headers). HTTP Basic, which Plivo wants, is not documented for Vobiz.
- Callbacks: `X-Vobiz-Signature-V3` = base64(HMAC-SHA256(auth token, URL without its query + "." +
  nonce)), nonce in `X-Vobiz-Signature-V3-Nonce`; V2 is the same without the "." (Vobiz's "validating
  callbacks" page). The POST parameters are NOT signed, so Plivo's validator (which signs them) must
  never be used here. Vobiz sends the headers on every callback: an unsigned one is refused.
  The `-MA-` variants are keyed with a parent account's token, which a sub-account's connection does
  not hold: they are not checked.
- The media stream: same events as Plivo; the session and the call's token ride in the stream URL's
  path (how `extraHeaders` reach a Vobiz socket is not documented).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pipecat.serializers.plivo import PlivoFrameSerializer
from pydantic import AliasChoices, Field

from voxline.telephony.base import E164, CarrierCredentials
from voxline.telephony.carrier import CarrierRequest
from voxline.telephony.plivo import PlivoAccount, PlivoLike

PROVIDER = "vobiz"


class Credentials(CarrierCredentials):
    secret_fields = frozenset({"auth_token"})
    caller_id_field = "from_number"
    account_field = "auth_id"

    auth_id: Annotated[
        str,
        Field(
            pattern=r"^MA_[A-Za-z0-9]{4,64}$",
            validation_alias=AliasChoices("auth_id", "account_sid"),
            description="Auth ID, MA_…",
        ),
    ]
    auth_token: Annotated[str, Field(min_length=8, max_length=200, pattern=r"^\S+$")]
    from_number: E164


class VobizFrameSerializer(PlivoFrameSerializer):
    """Vobiz's audio stream: Plivo's events (start/media in, playAudio/clearAudio/checkpoint out),
    mu-law 8 kHz. Hang-up stays with the dialer, never the serializer."""

    def __init__(self, stream_id: str, call_id: str | None = None) -> None:
        params = PlivoFrameSerializer.InputParams(auto_hang_up=False)
        super().__init__(stream_id=stream_id, call_id=call_id, params=params)


def base_url(url: str) -> str:
    """The callback URL as Vobiz signs it: every query parameter (and fragment) stripped."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def signature(auth_token: str, url: str, nonce: str, *, version: int = 3) -> str:
    """Vobiz's callback signature (V3: URL + "." + nonce; V2: URL + nonce), base64 of HMAC-SHA256."""
    message = base_url(url) + ("." if version == 3 else "") + nonce
    digest = hmac.new(auth_token.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_signature(auth_token: str, url: str, nonce: str, header: str, *, version: int = 3) -> bool:
    expected = signature(auth_token, url, nonce, version=version)
    return any(hmac.compare_digest(expected, part.strip()) for part in header.split(",") if part.strip())


class VobizCarrier(PlivoLike):
    def auth(self, creds: PlivoAccount) -> dict[str, Any]:
        return {"headers": {"X-Auth-ID": creds.auth_id, "X-Auth-Token": creds.auth_token}}

    def verify(self, request: CarrierRequest, creds: PlivoAccount) -> bool:
        token = creds.auth_token
        for version in (3, 2):
            header = request.headers.get(f"x-vobiz-signature-v{version}")
            nonce = request.headers.get(f"x-vobiz-signature-v{version}-nonce")
            if header and nonce:
                return valid_signature(token, request.url, nonce, header, version=version)
        return False

    def serializer(self, stream_id: str, call_id: str | None) -> Any:
        return VobizFrameSerializer(stream_id, call_id)


CARRIER = VobizCarrier(
    provider=PROVIDER,
    brand="Vobiz",
    base_setting="vobiz_api_base",
    signature_headers=("x-vobiz-signature-v3", "x-vobiz-signature-v3-nonce"),
    signature_required=True,
)
