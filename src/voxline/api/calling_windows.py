"""Calling windows and time zones as requests state them, shared by /config/calling-policy and campaign
schedules (both are checked by core/calling_hours, which says why a window or zone is refused)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from voxline.api.schemas import Strict
from voxline.core.calling_hours import zone_names

# A window's end is after its start (checked by core/calling_hours): a start is never 24:00, an end never 00:00.
START = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
END = r"^(00:(0[1-9]|[1-5][0-9])|(0[1-9]|1[0-9]|2[0-3]):[0-5][0-9]|24:00)$"
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
EVERY_DAY: list[Day] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# Documented as the list of zones this server knows; checked by check_zone so an unknown one gets the
# endpoint's own error code (INVALID_CALLING_POLICY, INVALID_SCHEDULE) rather than a generic one.
TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    Field(examples=["Asia/Kolkata"], json_schema_extra={"enum": zone_names()}),
]


class WindowIn(Strict):
    days: Annotated[list[Day], Field(min_length=1, max_length=7)] = EVERY_DAY
    """Days of the week the window applies to; default every day."""
    start: Annotated[str, Field(pattern=START, examples=["09:00"])]
    """Start, HH:MM in the callee's local time (00:00-23:59)."""
    end: Annotated[str, Field(pattern=END, examples=["21:00"])]
    """End (exclusive), HH:MM after `start` (00:01-24:00); split a window that crosses midnight."""


class WindowOut(BaseModel):
    days: list[Day]
    start: str
    end: str
