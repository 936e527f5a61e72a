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
    ["10.0.0.1", "172.31.255.255", "192.168.0.10", "127.0.0.1", "127.255.0.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fd12:3456::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "192.0.2.7"],
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
