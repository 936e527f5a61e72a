"""Calling hours in the callee's local time: which moments a number may be called, and the next one that may.

The callee's time zones come from the number (libphonenumber's timezone data). A number whose range spans
several zones (a US area code on a zone line, a country with one plan and many zones) may be called only when
every one of its zones allows it; a number with no known zone is judged in the fallback zone. Pure: the clock
is an argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as pn_timezone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")
DEFAULT_START, DEFAULT_END = "09:00", "21:00"  # India's TRAI hours; stricter than the US TCPA's 8-21
_UNKNOWN = "Etc/Unknown"


class InvalidWindow(ValueError):
    pass


def _minutes(text: str) -> int:
    if not _HHMM.fullmatch(text):
        raise InvalidWindow(f"{text!r} is not a time of day HH:MM (00:00-24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class Window:
    """Allowed from `start` to `end` (minutes after local midnight, end exclusive) on `days` (0 = Monday)."""

    start: int
    end: int
    days: frozenset[int] = field(default_factory=lambda: frozenset(range(7)))

    @classmethod
    def parse(cls, raw: dict) -> Window:
        start, end = _minutes(str(raw.get("start", DEFAULT_START))), _minutes(str(raw.get("end", DEFAULT_END)))
        if end <= start:
            raise InvalidWindow("a window's end must be after its start (split a window that crosses midnight)")
        names = raw.get("days") or list(DAYS)
        try:
            days = frozenset(DAYS.index(str(d).lower()[:3]) for d in names)
        except ValueError:
            raise InvalidWindow(f"days must be among {', '.join(DAYS)}") from None
        return cls(start, end, days)

    def as_dict(self) -> dict:
        return {"days": [DAYS[d] for d in sorted(self.days)], "start": _hhmm(self.start), "end": _hhmm(self.end)}

    def allows(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        return local.weekday() in self.days and self.start <= minute < self.end


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_windows(raw: list[dict] | None) -> tuple[Window, ...]:
    if not raw:
        return (Window(_minutes(DEFAULT_START), _minutes(DEFAULT_END)),)
    return tuple(Window.parse(w) for w in raw)


def parse_span(text: str) -> tuple[Window, ...]:
    """'09:00-21:00' (every day): the deployment-wide default's spelling."""
    start, _, end = text.partition("-")
    return (Window(_minutes(start.strip()), _minutes(end.strip())),)


def zone_names() -> list[str]:
    """Every name check_zone accepts, sorted."""
    return sorted(available_timezones() | {"UTC"})


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidWindow(f"{name!r} is not an IANA time zone, e.g. Asia/Kolkata") from None
    if name not in available_timezones() and name != "UTC":
        raise InvalidWindow(f"{name!r} is not an IANA time zone, e.g. Asia/Kolkata")
    return name


def zones_for(number: str, fallback: str) -> tuple[str, ...]:
    """The callee's possible time zones; the fallback when the number's range has none on record."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return (fallback,)
    zones = tuple(z for z in pn_timezone.time_zones_for_number(parsed) if z != _UNKNOWN)
    return zones or (fallback,)


def allowed(zones: tuple[str, ...], rules: list[tuple[Window, ...]], moment: datetime) -> bool:
    """True when, in every zone, every rule set has a window open at `moment`."""
    for zone in zones:
        local = moment.astimezone(ZoneInfo(zone))
        if not all(any(w.allows(local) for w in windows) for windows in rules):
            return False
    return True


def next_allowed(
    zones: tuple[str, ...], rules: list[tuple[Window, ...]], after: datetime, horizon_days: int = 8
) -> datetime | None:
    """The first moment at or after `after` that `allowed` accepts; None when none within the horizon.

    The intersection of windows opens when one of them opens, so the candidates are `after` itself and
    every window start in every zone over the horizon.
    """
    after = after.astimezone(UTC)
    if allowed(zones, rules, after):
        return after
    candidates: set[datetime] = set()
    for zone in zones:
        tz = ZoneInfo(zone)
        local_day = after.astimezone(tz).date()
        for offset in range(horizon_days + 1):
            day = local_day + timedelta(days=offset)
            for windows in rules:
                for w in windows:
                    if day.weekday() not in w.days:
                        continue
                    opens = datetime.combine(day, time(w.start // 60, w.start % 60), tz).astimezone(UTC)
                    if opens > after:
                        candidates.add(opens)
    for moment in sorted(candidates):
        if allowed(zones, rules, moment):
            return moment
    return None
