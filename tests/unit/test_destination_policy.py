"""Destination policy: high-risk number types blocked by default, countries narrowed per partner."""

import pytest

from voxline.core import errors
from voxline.core.destination import DEFAULT_BLOCKED_TYPES, DestinationPolicy, check, parse_countries, parse_types

DEFAULT = DestinationPolicy()


@pytest.mark.parametrize(
    "number",
    [
        "+19005550100",  # US premium rate (900)
        "+449090000000",  # UK premium rate (909)
        "+882345678901",  # international networks (satellite and the like)
        "+881612345678",  # GMSS satellite
        "+870772001234",  # Inmarsat
        "+447012345678",  # UK personal number (070), a classic fraud route
    ],
)
def test_high_risk_destinations_are_blocked_by_default(number):
    with pytest.raises(errors.DestinationNotAllowed):
        check(number, "+14155551234", DEFAULT)


@pytest.mark.parametrize("number", ["+919876543210", "+14155550100", "+442071838750", "+18005550199"])
def test_ordinary_destinations_are_open_by_default(number):
    check(number, "+14155551234", DEFAULT)


def test_a_call_to_the_caller_id_itself_is_refused():
    with pytest.raises(errors.DestinationNotAllowed, match="caller id"):
        check("+14155551234", "+14155551234", DEFAULT)


def test_countries_can_be_narrowed_and_types_lifted():
    only_india = DestinationPolicy(allowed_countries=("IN",))
    check("+919876543210", None, only_india)
    with pytest.raises(errors.DestinationNotAllowed, match="US"):
        check("+14155550100", None, only_india)
    premium_ok = DestinationPolicy(allowed_number_types=("PREMIUM_RATE",))
    check("+19005550100", None, premium_ok)
    assert "PREMIUM_RATE" not in premium_ok.blocked_types and "SATELLITE" in premium_ok.blocked_types


def test_cli_values_are_checked():
    assert parse_countries("in, us") == ["IN", "US"] and parse_countries("all") is None
    assert parse_types("premium_rate,SATELLITE") == ["PREMIUM_RATE", "SATELLITE"] and parse_types("none") == []
    with pytest.raises(ValueError, match="XX"):
        parse_countries("IN,XX")
    with pytest.raises(ValueError, match="MOBILE"):
        parse_types("MOBILE")
    assert set(DEFAULT_BLOCKED_TYPES) >= {"PREMIUM_RATE", "SATELLITE", "UNKNOWN"}
