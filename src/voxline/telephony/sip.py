"""SIP trunk: where INVITEs go, digest credentials, which addresses may send us calls, the DID."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from voxline.telephony.base import E164, CarrierCredentials

PROVIDER = "sip"


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR range") from None


class Credentials(CarrierCredentials):
    secret_fields = frozenset({"outbound_password"})
    caller_id_field = "did_number"
    account_field = "sip_host"

    sip_host: Annotated[str, Field(max_length=255, pattern=r"^[A-Za-z0-9.-]+(:\d{1,5})?$", description="host[:port]")]
    outbound_username: Annotated[str | None, Field(max_length=128)] = None
    outbound_password: Annotated[str | None, Field(max_length=256)] = None
    source_ips: list[Annotated[str, AfterValidator(_cidr)]] = Field(default_factory=list, max_length=50)
    did_number: E164
    transport: Literal["UDP", "TCP", "TLS"] = "UDP"

    def hint(self) -> str:
        return self.sip_host  # a host name is not a secret; show it whole

    def public_settings(self) -> dict:
        return {k: v for k, v in self.model_dump().items() if k not in self.secret_fields}
