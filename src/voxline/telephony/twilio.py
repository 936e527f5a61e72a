"""Twilio: account credentials (account SID + auth token) and the default caller id."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from voxline.telephony.base import E164, CarrierCredentials

PROVIDER = "twilio"


class Credentials(CarrierCredentials):
    secret_fields = frozenset({"auth_token"})
    caller_id_field = "from_number"
    account_field = "account_sid"

    account_sid: Annotated[str, Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="Account SID, AC…")]
    auth_token: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$", description="Auth token, 32 hex chars")]
    from_number: E164
