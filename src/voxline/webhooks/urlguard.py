"""Where a webhook may point: HTTPS to public addresses for live keys, no SSRF into our own network.

A URL is checked when it is saved and again, after DNS, right before every post; and the poster's own DNS
resolver applies the same rule to the addresses it is about to connect to, so a name that re-resolves to
an internal address between the check and the connection (DNS rebinding) gains nothing.
Sandbox (rg_test_) endpoints may also target loopback, over http, for local receivers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from voxline.core import errors
from voxline.core.keys import TEST

MAX_URL_CHARS = 2048
_DNS_TIMEOUT_SECS = 3.0
_CACHE_TTL_SECS = 30.0
_cache: dict[tuple[str, int], tuple[float, list[str]]] = {}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Policy:
    mode: str
    allow_http: bool = False
    allow_private: bool = False

    @property
    def sandbox(self) -> bool:
        return self.mode == TEST


@dataclass(frozen=True)
class Target:
    """A checked destination: the URL's parts and the address it resolved to."""

    scheme: str
    host: str
    port: int
    address: str
    path: str


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    host: str
    port: int
    path: str


def _parse(url: str) -> _Parsed:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise errors.InvalidWebhookUrl(f"url must be 1-{MAX_URL_CHARS} characters.")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise errors.InvalidWebhookUrl("url must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise errors.InvalidWebhookUrl(f"url is not a valid URL: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise errors.InvalidWebhookUrl("url must start with https://.")
    if not parts.hostname:
        raise errors.InvalidWebhookUrl("url has no host.")
    if port == 0:
        raise errors.InvalidWebhookUrl("url has an invalid port.")
    if parts.username is not None or parts.password is not None:
        raise errors.InvalidWebhookUrl("url must not carry credentials; the signature authenticates us.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Parsed(scheme, parts.hostname.lower().rstrip("."), port or (443 if scheme == "https" else 80), path)


def _literal(host: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return _unmapped(ip)


def _unmapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


_PUBLIC_ONLY = Policy("live")  # an embedded IPv4 is never a loopback target, even for sandbox keys
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765 "IPv4-translated"
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291, deprecated
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: the IPv4 part sits at an operator-chosen offset


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and routes to (IPv4-translated, IPv4-compatible, NAT64, 6to4,
    Teredo's client), or None. A gateway on the way turns such an address back into that IPv4 target."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_TRANSLATED or ip in _NAT64_WELL_KNOWN:
        return low32
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: or ::1
        return low32
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address, stored inverted; Python undoes the inversion
    return None


def address_refusal(ip: IPAddress, policy: Policy) -> str | None:
    """Why this address may not be a target under `policy`, or None if it may."""
    ip = _unmapped(ip)
    if policy.allow_private:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64_LOCAL:
        return "a local-use NAT64 address (RFC 8215) that may embed a private IPv4 address"
    inner = embedded_ipv4(ip)
    if inner is not None and address_refusal(inner, _PUBLIC_ONLY) is not None:
        return f"an IPv6 address embedding {inner}, which is not a public address"
    if ip.is_loopback:
        return None if policy.sandbox else "a loopback address"
    if ip.is_link_local:
        return "a link-local or cloud metadata address"
    if ip.is_unspecified or ip.is_multicast:
        return "not a unicast address"
    if not ip.is_global:
        return "a private or reserved address"
    return None


def _refuse(url_host: str, ip: IPAddress, reason: str) -> errors.ApiError:
    shown = url_host if str(ip) == url_host else f"{url_host} ({ip})"
    return errors.UnsafeWebhookUrl(f"url points to {shown}, {reason}; webhooks must go to a public HTTPS address.")


def _check_scheme(parsed: _Parsed, policy: Policy, addresses: list[IPAddress]) -> None:
    if parsed.scheme == "https" or policy.allow_http:
        return
    loopback_only = bool(addresses) and all(ip.is_loopback for ip in addresses)
    if policy.sandbox and loopback_only:
        return
    if policy.sandbox:
        raise errors.InvalidWebhookUrl("url must use https:// (sandbox keys may use http:// only for loopback).")
    raise errors.InvalidWebhookUrl("url must use https://.")


async def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    key = (host, port)
    cached = _cache.get(key)
    if cached and cached[0] > time.monotonic():
        return [ipaddress.ip_address(a) for a in cached[1]]
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), _DNS_TIMEOUT_SECS
    )
    found = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in found:
            found.append(address)
    _cache[key] = (time.monotonic() + _CACHE_TTL_SECS, found)
    return [_unmapped(ipaddress.ip_address(a)) for a in found]


async def check_for_save(url: str, policy: Policy) -> str:
    """Validate a URL a partner wants to save; returns it unchanged. A name that does not resolve yet is
    accepted (the delivery-time check still guards it); one that resolves anywhere non-public is refused."""
    parsed = _parse(url)
    try:
        addresses = await _resolve(parsed.host, parsed.port)
    except (OSError, TimeoutError, UnicodeError):
        addresses = []
    _check_scheme(parsed, policy, addresses)
    for ip in addresses:
        reason = address_refusal(ip, policy)
        if reason:
            raise _refuse(parsed.host, ip, reason)
    return url


class TargetError(Exception):
    """The delivery cannot be attempted; `permanent` ones go straight to the dead letters."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


async def resolve_target(url: str, policy: Policy) -> Target:
    """Check a saved URL again at delivery time and choose the address to connect to."""
    try:
        parsed = _parse(url)
    except errors.ApiError as exc:
        raise TargetError(exc.message, permanent=True) from None
    try:
        addresses = await _resolve(parsed.host, parsed.port)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise TargetError(f"could not resolve {parsed.host}: {exc or type(exc).__name__}", permanent=False) from None
    if not addresses:
        raise TargetError(f"{parsed.host} has no address", permanent=False)
    try:
        _check_scheme(parsed, policy, addresses)
    except errors.ApiError as exc:
        raise TargetError(exc.message, permanent=True) from None
    for ip in addresses:
        reason = address_refusal(ip, policy)
        if reason:
            raise TargetError(_refuse(parsed.host, ip, reason).message, permanent=True)
    return Target(parsed.scheme, parsed.host, parsed.port, str(addresses[0]), parsed.path)


class GuardedResolver(AbstractResolver):
    """The DNS step of every connection the poster opens: addresses a policy refuses are never dialled.

    IP-literal URLs skip resolvers altogether; `resolve_target` has already judged those exactly.
    """

    def __init__(self, policy: Callable[[], Policy]) -> None:
        self._policy = policy
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        policy = self._policy()
        for item in found:
            ip = _unmapped(ipaddress.ip_address(str(item["host"]).split("%", 1)[0]))
            reason = address_refusal(ip, policy)
            if reason:
                raise OSError(f"{host} resolved to {ip}, {reason}; refused")
        return found

    async def close(self) -> None:
        await self._inner.close()
