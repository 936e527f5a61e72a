"""Can a carrier reach this server? A carrier on the internet cannot call back a loopback or private URL.

Used to fail a live call at once, at `/calls/start`, when the server's public URL is one the carrier can never
reach (a newcomer's `localhost`), instead of minutes later when the carrier's callbacks go nowhere. A carrier
whose API is itself on a private address (the built-in emulators, a carrier stand-in on the same network) can
reach a private URL, so both ends are judged. Host names are judged by name only (no DNS lookup here):
`localhost` and the reserved local suffixes are private, every other name is taken as public.
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def is_private_url(url: str) -> bool:
    """The URL's host is loopback, private, link-local or a local-only name."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return True
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global  # loopback, private, link-local, shared (CGNAT), documentation, unspecified


@functools.lru_cache(maxsize=64)
def carrier_cannot_reach(public_base_url: str, carrier_api_base: str | None) -> bool:
    """A carrier at `carrier_api_base` (None: its public default) could not call back `public_base_url`.
    Cached: every live /calls/start asks it of the same few settings (parsing the URLs cost ~1% of its CPU)."""
    carrier_is_private = carrier_api_base is not None and is_private_url(carrier_api_base)
    return is_private_url(public_base_url) and not carrier_is_private
