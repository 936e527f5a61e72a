"""MCube: a JWT for its outbound API and the executive line (national format allowed) calls use."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from voxline.telephony.base import CarrierCredentials

PROVIDER = "mcube"


class Credentials(CarrierCredentials):
    secret_fields = frozenset({"jwt_token"})
    caller_id_field = "exe_number"
    account_field = "jwt_token"

    jwt_token: Annotated[
        str,
        Field(
            max_length=4096,
            pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$",
            description="MCube JWT (header.payload.signature)",
        ),
    ]
    exe_number: Annotated[str, Field(pattern=r"^\+?\d{4,15}$", description="Outbound line; national ok")]
