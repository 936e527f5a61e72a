"""Calling hours in the callee's local time (core/calling_hours.py): zones from the number, the intersection
across zones, and the next allowed moment."""

from datetime import UTC, datetime

from voxline.core import calling_hours as h

NINE_TO_NINE = [h.parse_windows(None)]


def test_zones_come_from_the_number():
    assert h.zones_for("+919876543210", "UTC") == ("Asia/Calcutta",)
    assert h.zones_for("+14155550123", "UTC") == ("America/Los_Angeles",)


def test_a_number_with_no_known_zone_uses_the_fallback():
    assert h.zones_for("+80012345678", "Asia/Kolkata") == ("Asia/Kolkata",)


def test_a_number_spanning_zones_is_allowed_only_when_all_allow():
    zones = ("Asia/Calcutta", "America/New_York")
    # 14:00 UTC = 19:30 in India, 09:00 in New York: both open
    assert h.allowed(zones, NINE_TO_NINE, datetime(2026, 12, 1, 14, 0, tzinfo=UTC))
    # 13:00 UTC = 18:30 India, 08:00 New York: not yet in New York
    assert not h.allowed(zones, NINE_TO_NINE, datetime(2026, 12, 1, 13, 0, tzinfo=UTC))
    assert h.next_allowed(zones, NINE_TO_NINE, datetime(2026, 12, 1, 13, 0, tzinfo=UTC)) == datetime(
        2026, 12, 1, 14, 0, tzinfo=UTC
    )


def test_zones_13_and_a_half_hours_apart_share_only_an_evening_and_a_morning():
    zones = ("Asia/Calcutta", "America/Los_Angeles")
    # India 09-21 is 03:30-15:30 UTC; Los Angeles 09-21 is 17:00-05:00 UTC: both only 03:30-05:00 UTC.
    after = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert h.next_allowed(zones, NINE_TO_NINE, after) == datetime(2026, 12, 2, 3, 30, tzinfo=UTC)
    mornings = [h.parse_windows([{"start": "09:00", "end": "12:00"}])]
    assert h.next_allowed(zones, mornings, after) is None  # no hour is morning in both


def test_campaign_windows_and_partner_hours_intersect():
    partner = h.parse_windows(None)
    campaign = h.parse_windows([{"days": ["sat"], "start": "10:00", "end": "12:00"}])
    after = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # a Tuesday
    assert h.next_allowed(("Asia/Calcutta",), [partner, campaign], after) == datetime(2026, 12, 5, 4, 30, tzinfo=UTC)


def test_windows_are_checked():
    for bad in (
        {"start": "9", "end": "21:00"},
        {"start": "21:00", "end": "09:00"},
        {"days": ["xyz"], "start": "09:00", "end": "10:00"},
    ):
        try:
            h.Window.parse(bad)
        except h.InvalidWindow:
            continue
        raise AssertionError(f"{bad} accepted")
