"""Vobiz: a Plivo-compatible account (auth id MA_…, auth token) on Vobiz's own host.

Same REST paths, answer XML and stream events as Plivo (telephony/plivo.py), with Vobiz's own
serializer class below. Callback signatures use Plivo's V3 algorithm under Vobiz's header names
and are checked when present; the call's unguessable token in every URL is always required.
"""

from __future__ import annotations

from typing import Annotated, Any

from pipecat.serializers.plivo import PlivoFrameSerializer
from pydantic import AliasChoices, Field

from voxline.telephony.base import E164, CarrierCredentials
from voxline.telephony.plivo import PlivoLike

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
    """Vobiz's audio stream: Plivo's events (start/media/stop in, playAudio/clearAudio/checkpoint out),
    mu-law 8 kHz. Hang-up stays with the dialer, never the serializer."""

    def __init__(self, stream_id: str, call_id: str | None = None) -> None:
        params = PlivoFrameSerializer.InputParams(auto_hang_up=False)
        super().__init__(stream_id=stream_id, call_id=call_id, params=params)


class VobizCarrier(PlivoLike):
    def serializer(self, stream_id: str, call_id: str | None) -> Any:
        return VobizFrameSerializer(stream_id, call_id)


CARRIER = VobizCarrier(
    provider=PROVIDER,
    brand="Vobiz",
    base_setting="vobiz_api_base",
    signature_headers=("x-vobiz-signature-v3", "x-vobiz-signature-v3-nonce"),
    signature_required=False,
)
