"""Provider name → carrier module. The only place that lists the carriers."""

from __future__ import annotations

from types import ModuleType

from voxline.telephony import exotel, mcube, plivo, sip, twilio, vobiz
from voxline.telephony.base import CarrierCredentials
from voxline.telephony.carrier import Carrier

_MODULES: dict[str, ModuleType] = {m.PROVIDER: m for m in (mcube, twilio, exotel, plivo, vobiz, sip)}

PROVIDERS: tuple[str, ...] = tuple(_MODULES)
DEFAULT_PROVIDER = "mcube"


def credentials_model(provider: str) -> type[CarrierCredentials]:
    return _MODULES[provider].Credentials


def is_known(provider: str) -> bool:
    return provider in _MODULES


def carrier(provider: str) -> Carrier | None:
    """The adapter that dials `provider`, or None when this build cannot place its calls (e.g. SIP)."""
    module = _MODULES.get(provider)
    return getattr(module, "CARRIER", None) if module else None


def dialable() -> tuple[str, ...]:
    return tuple(p for p in PROVIDERS if carrier(p) is not None)
