"""The callee-safety checks a call passes: when it is started (refuse, or defer to the next allowed moment)
and again when the dialer is about to place it (the list or the hours may have changed while it waited)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from voxline.context import Context
from voxline.core import calling_hours as hours
from voxline.core import errors
from voxline.core.timefmt import iso
from voxline.safety.policy import DEFER, Policy, from_row
from voxline.settings import Settings
from voxline.store import calling_policy as policy_store
from voxline.store import dial_queue as dq
from voxline.store.dial_queue import Claimed

log = logging.getLogger("voxline.safety")
DNC_REASON = "Not dialed: the number is on the account's do-not-call list."


def next_moment(
    policy: Policy, phone: str, now: datetime, extra: tuple[tuple[hours.Window, ...], ...] = ()
) -> datetime | None:
    zones = hours.zones_for(phone, policy.fallback_timezone)
    return hours.next_allowed(zones, [policy.windows, *extra], now)


def check_start(
    settings: Settings,
    mode: str,
    phone: str,
    now: datetime,
    listed: bool,
    row: Any,
    attempts_day: int | None,
    attempts_week: int | None,
) -> datetime:
    """Raise the specific error that forbids this call now, or return when it may be dialed (`now`, or the next
    allowed moment when the partner defers calls outside its hours).

    What it decides on is read by the caller: whether the number is on the do-not-call list, the stored
    policy `row` (None: the defaults), and the calls to the number in the last day and week (needed only
    where the policy caps them)."""
    if listed:
        raise errors.NumberOnDoNotCall()
    policy = from_row(settings, mode, row)
    for cap, attempts, word in (
        (policy.max_attempts_per_day, attempts_day, "day"),
        (policy.max_attempts_per_week, attempts_week, "week"),
    ):
        if cap is not None and attempts is not None and attempts >= cap:
            raise errors.FrequencyCapReached(
                f"{phone} was already called {cap} time(s) in the last {word}, the account's limit."
            )
    when = next_moment(policy, phone, now)
    if when == now:
        return now
    if when is not None and policy.outside_hours == DEFER:
        return when
    nxt = f" The next allowed moment is {iso(when)}." if when else ""
    raise errors.OutsideCallingHours(
        f"It is outside the account's calling hours in the callee's local time.{nxt}",
        details=[{"field": "to_number", "code": "OUTSIDE_CALLING_HOURS", "message": iso(when) or "none within 8 days"}],
    )


class DialVerdict(StrEnum):
    DIAL = "dial"
    LATER = "later"  # the callee's hours closed while the call waited: it is back in the queue until they open
    LISTED = "listed"  # the number went on the do-not-call list: the dialer ends the call canceled (DNC_REASON)


async def admit_dial(ctx: Context, claimed: Claimed) -> DialVerdict:
    """At the moment of dialing: a number put on the list since is never dialed, and a call whose callee's hours
    closed while it waited goes back to the queue until they open."""
    call = claimed.call
    now = ctx.clock()
    async with ctx.db.transaction() as s:
        on_list, row = await policy_store.listed_and_policy(s, call.partner_id, call.mode, call.to_number)
        later: datetime | None = None
        if not on_list:
            policy = from_row(ctx.settings, call.mode, row)
            when = next_moment(policy, call.to_number, now)
            if when != now:
                later = when or now + timedelta(days=1)
                job = await dq.job_for_call(s, call.id, lock=True)
                if job is not None and job.status == dq.DIALING:
                    job.status = dq.QUEUED
                    job.available_at = later
                    job.claimed_by = None
                    job.claimed_until = None
                    job.last_error = f"outside calling hours; waits until {iso(later)}"
    if on_list:
        log.info("call %s not dialed: number on the do-not-call list", call.id)
        return DialVerdict.LISTED
    return DialVerdict.DIAL if later is None else DialVerdict.LATER
