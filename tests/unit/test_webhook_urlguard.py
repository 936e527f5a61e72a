"""Which webhook targets are allowed (no SSRF), checked without DNS: addresses and URL syntax only."""

from __future__ import annotations

import ipaddress

import pytest

from voxline.core import errors
from voxline.webhooks.urlguard import (
    GuardedResolver,
    Policy,
    Target,
    TargetError,
    address_refusal,
    check_for_save,
    resolve_target,
)

LIVE = Policy("live")
SANDBOX = Policy("test")


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.31.255.255",
        "192.168.0.10",
        "127.0.0.1",
        "127.255.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd12:3456::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "192.0.2.7",
    ],
)
def test_live_keys_may_not_reach_internal_addresses(address):
    assert address_refusal(ipaddress.ip_address(address), LIVE) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(ipaddress.ip_address(address), LIVE) is None


def test_sandbox_keys_may_use_loopback_but_not_metadata_or_private_ranges():
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), SANDBOX) is None
    assert address_refusal(ipaddress.ip_address("::1"), SANDBOX) is None
    assert address_refusal(ipaddress.ip_address("169.254.169.254"), SANDBOX) is not None
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), SANDBOX) is not None


def test_the_private_targets_setting_lifts_the_address_rule():
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), Policy("live", allow_private=True)) is None


async def test_http_needs_a_sandbox_loopback_target_or_the_development_setting():
    with pytest.raises(errors.InvalidWebhookUrl):
        await check_for_save("http://93.184.215.14/h", LIVE)
    with pytest.raises(errors.InvalidWebhookUrl):
        await check_for_save("http://93.184.215.14/h", SANDBOX)
    await check_for_save("http://127.0.0.1:8080/h", SANDBOX)
    await check_for_save("http://93.184.215.14/h", Policy("live", allow_http=True))


async def test_the_delivery_time_check_resolves_and_judges_again():
    target = await resolve_target("https://93.184.215.14:8443/hooks?x=1", LIVE)
    assert target == Target("https", "93.184.215.14", 8443, "93.184.215.14", "/hooks?x=1")
    with pytest.raises(TargetError) as refused:
        await resolve_target("https://127.0.0.1/hooks", LIVE)
    assert refused.value.permanent


async def test_the_posters_resolver_refuses_names_that_resolve_inside():
    """DNS rebinding: even after the URL check, the connection's own lookup may not land on loopback."""
    with pytest.raises(OSError, match="refused"):
        await GuardedResolver(lambda: LIVE).resolve("localhost", 443)
    found = await GuardedResolver(lambda: SANDBOX).resolve("localhost", 443)
    assert found and all(ipaddress.ip_address(r["host"]).is_loopback for r in found)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 (RFC 6052) of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::7f00:1",  # local-use NAT64 (RFC 8215)
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "::127.0.0.1",  # IPv4-compatible
        "::10.0.0.1",
        "::ffff:0:127.0.0.1",  # IPv4-translated (RFC 2765)
        "::ffff:0:a9fe:a9fe",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (stored inverted)
    ],
)
@pytest.mark.parametrize("policy", [LIVE, SANDBOX], ids=["live", "sandbox"])
def test_ipv6_forms_that_embed_a_private_ipv4_are_refused(address, policy):
    assert address_refusal(ipaddress.ip_address(address), policy) is not None


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:0:808:808"])
def test_ipv6_forms_that_embed_a_public_ipv4_are_judged_by_it(address):
    assert address_refusal(ipaddress.ip_address(address), LIVE) is None


async def test_a_url_with_an_embedded_loopback_address_is_refused_at_save_and_delivery():
    with pytest.raises(errors.UnsafeWebhookUrl):
        await check_for_save("https://[64:ff9b::7f00:1]/h", LIVE)
    with pytest.raises(errors.UnsafeWebhookUrl):
        await check_for_save("https://[::ffff:0:127.0.0.1]:8080/h", SANDBOX)
    with pytest.raises(TargetError):
        await resolve_target("https://[2002:7f00:1::]/h", LIVE)
