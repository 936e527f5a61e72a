"""Retry timing: the v2 schedule (1, 2, 4 s) by default, jittered, then dead-lettered."""

from __future__ import annotations

import random

import pytest

from voxline.settings import Settings
from voxline.webhooks.backoff import EXTENDED, next_delay, parse_schedule


def test_default_schedule_is_three_retries_after_1_2_and_4_seconds():
    schedule = parse_schedule(Settings().webhook_retry_schedule)
    assert schedule == (1.0, 2.0, 4.0)
    assert [next_delay(schedule, n, jitter=0) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_after_the_last_retry_there_is_no_next_attempt():
    assert next_delay((1.0, 2.0, 4.0), 4, jitter=0) is None
    assert next_delay((), 1, jitter=0) is None


def test_jitter_stays_within_its_band_and_varies():
    rng = random.Random(7)
    delays = [next_delay((10.0,), 1, jitter=0.2, rng=rng) for _ in range(200)]
    assert all(8.0 <= d <= 12.0 for d in delays) and len(set(delays)) > 100


def test_a_longer_tail_is_available_by_name_or_list():
    assert parse_schedule("extended") == EXTENDED and EXTENDED[:3] == (1.0, 2.0, 4.0) and EXTENDED[-1] >= 3600
    assert parse_schedule("5, 30,300") == (5.0, 30.0, 300.0)
    assert parse_schedule("none") == ()


@pytest.mark.parametrize("bad", ["1,,2", "soon", "-1"])
def test_a_malformed_schedule_is_refused(bad):
    with pytest.raises(ValueError):
        parse_schedule(bad)
