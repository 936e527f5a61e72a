"""Plivo: auth id + auth token, and the voice-enabled number calls come from."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field

from voxline.telephony.base import E164, CarrierCredentials

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
