"""Who is calling the API: an API key's partner, in the key's mode, with the limits that govern it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's partner with the limits that govern the request."""

    partner_id: str
    key_id: str
    mode: str  # core.keys.LIVE or TEST
    rate_limit_per_min: int | None
    calls_rate_limit_per_min: int | None
