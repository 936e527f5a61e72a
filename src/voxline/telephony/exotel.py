"""Exotel: account SID, API key and token, the regional API host, the ExoPhone caller id and the
voicebot flow (applet) that streams the call's audio to us."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from voxline.telephony.base import E164, CarrierCredentials

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
