"""Where a partner's calls may go: allowed countries and blocked number types, like a carrier's geo permissions.

Toll fraud (IRSF) pumps calls to premium-rate, satellite and other high-cost numbers; a leaked key or a
careless integration must not be able to dial them. By default every country is open but the high-risk
number types are not; an operator can narrow the countries or lift single types per partner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from voxline.core import errors

# Calling codes of satellite and international networks (Inmarsat, GMSS, international networks): the
# costliest destinations there are, and a staple of toll fraud. Reported as the type SATELLITE.
SATELLITE_CODES = frozenset({870, 881, 882, 883})
SATELLITE = "SATELLITE"

NUMBER_TYPES = {name: value for name, value in vars(PhoneNumberType).items() if name.isupper()}
ALL_TYPES = (*NUMBER_TYPES, SATELLITE)
DEFAULT_BLOCKED_TYPES = ("PREMIUM_RATE", "SHARED_COST", "PERSONAL_NUMBER", "PAGER", "VOICEMAIL", "UNKNOWN", SATELLITE)


@dataclass(frozen=True)
class DestinationPolicy:
    allowed_countries: tuple[str, ...] | None = None  # ISO 3166 alpha-2 codes; None = every country
    allowed_number_types: tuple[str, ...] = ()  # types lifted from DEFAULT_BLOCKED_TYPES for this partner

    @property
    def blocked_types(self) -> tuple[str, ...]:
        return tuple(t for t in DEFAULT_BLOCKED_TYPES if t not in self.allowed_number_types)

    @classmethod
    def from_stored(cls, countries: Iterable[str] | None, types: Iterable[str] | None) -> DestinationPolicy:
        return cls(tuple(countries) if countries is not None else None, tuple(types or ()))


def number_type(number: phonenumbers.PhoneNumber) -> str:
    if number.country_code in SATELLITE_CODES:
        return SATELLITE
    value = phonenumbers.number_type(number)
    return next((name for name, v in NUMBER_TYPES.items() if v == value), "UNKNOWN")


def check(to_number: str, from_number: str | None, policy: DestinationPolicy) -> None:
    """Raise DESTINATION_NOT_ALLOWED unless this partner may call `to_number` (E.164, already checked)."""
    if from_number and to_number == from_number:
        raise errors.DestinationNotAllowed(
            "to_number is this account's own caller id (from_number); a call to itself is refused."
        )
    parsed = phonenumbers.parse(to_number, None)
    kind = number_type(parsed)
    if kind in policy.blocked_types:
        raise errors.DestinationNotAllowed(
            f"to_number is a {kind.lower().replace('_', ' ')} number, which this account may not call "
            "(high-risk destinations are blocked by default; the operator can allow them)."
        )
    if policy.allowed_countries is not None:
        region = phonenumbers.region_code_for_number(parsed) or "unknown"
        if region not in policy.allowed_countries:
            allowed = ", ".join(policy.allowed_countries) or "none"
            raise errors.DestinationNotAllowed(f"to_number is in {region}; this account may call: {allowed}.")


def parse_countries(text: str) -> list[str] | None:
    """`IN,US` → ["IN", "US"]; `all` → None (every country). Raises ValueError naming unknown codes."""
    if text.strip().lower() == "all":
        return None
    codes = [c.strip().upper() for c in text.split(",") if c.strip()]
    known = phonenumbers.SUPPORTED_REGIONS
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ValueError(f"unknown country code(s): {', '.join(unknown)}; use ISO 3166 alpha-2 codes such as IN,US")
    return list(dict.fromkeys(codes))


def parse_types(text: str) -> list[str]:
    """`PREMIUM_RATE,SATELLITE` → those names; `none` → [] (the default blocks apply in full)."""
    if text.strip().lower() == "none":
        return []
    names = [t.strip().upper() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in DEFAULT_BLOCKED_TYPES]
    if unknown:
        raise ValueError(
            f"not a blocked number type: {', '.join(unknown)}; choose from {', '.join(DEFAULT_BLOCKED_TYPES)}"
        )
    return list(dict.fromkeys(names))
