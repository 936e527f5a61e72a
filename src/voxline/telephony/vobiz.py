"""Vobiz: Plivo-compatible account (auth id MA_…, auth token) and the outbound-enabled number."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field

from voxline.telephony.base import E164, CarrierCredentials

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
