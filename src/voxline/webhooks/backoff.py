"""When to try a failed delivery again: an exponential schedule with jitter, then dead-letter.

The default is the v2 API's own (retries after 1, 2 and 4 s: four attempts in all); deployments whose
receivers go down for longer can opt into the 'extended' tail of up to six hours.
"""

from __future__ import annotations

import random

EXTENDED = (1.0, 2.0, 4.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
PRESETS = {"default": (1.0, 2.0, 4.0), "spec": (1.0, 2.0, 4.0), "extended": EXTENDED}


def parse_schedule(text: str) -> tuple[float, ...]:
    """'1,2,4' → (1.0, 2.0, 4.0); a preset name; '' or 'none' → no retries."""
    text = text.strip().lower()
    if text in PRESETS:
        return PRESETS[text]
    if text in ("", "none"):
        return ()
    delays = tuple(float(part) for part in text.split(","))
    if any(d < 0 for d in delays):
        raise ValueError("retry delays must be >= 0")
    return delays


def next_delay(
    schedule: tuple[float, ...], failed_attempts: int, jitter: float, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failures, or None when retries are used up."""
    if failed_attempts < 1 or failed_attempts > len(schedule):
        return None
    base = schedule[failed_attempts - 1]
    spread = (rng or random).uniform(-jitter, jitter) if jitter else 0.0
    return max(0.0, base * (1.0 + spread))
