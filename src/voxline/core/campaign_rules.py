"""Campaign rules, pure: what a finished call means for its contact, whether and when to try again, and
which agent variables a contact's metadata fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# Outcomes of one attempt (the contact's `outcome` is its last attempt's)
COMPLETED, NO_ANSWER, BUSY, FAILED, VOICEMAIL, CANCELED, OPTED_OUT = (
    "completed",
    "no_answer",
    "busy",
    "failed",
    "voicemail",
    "canceled",
    "opted_out",
)
RETRYABLE = (NO_ANSWER, BUSY, FAILED, VOICEMAIL)

# Contact statuses
WAITING, CALLING, DONE, GAVE_UP, SKIPPED, DROPPED = "waiting", "calling", "completed", "failed", "skipped", "canceled"
OPEN = (WAITING, CALLING)

# Campaign statuses
DRAFT, RUNNING, PAUSED, FINISHED, CANCELLED = "draft", "running", "paused", "completed", "canceled"

MAX_CONCURRENCY = 10


def clamp_concurrency(value: int | None) -> int:
    """§9.3: default 1, clamped to 1–10 (not refused)."""
    return max(1, min(MAX_CONCURRENCY, value or 1))


@dataclass(frozen=True)
class RetryPolicy:
    retry_on: tuple[str, ...] = (NO_ANSWER, BUSY)
    delays_secs: tuple[int, ...] = (1800, 3600)  # before the 2nd attempt, the 3rd, …; the last repeats
    max_attempts: int = 3

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> RetryPolicy:
        if not raw:
            return cls()
        base = cls()
        return cls(
            tuple(raw.get("retry_on", base.retry_on)),
            tuple(int(d) for d in raw.get("delays_secs", base.delays_secs)) or base.delays_secs,
            int(raw.get("max_attempts", base.max_attempts)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "retry_on": list(self.retry_on),
            "delays_secs": list(self.delays_secs),
            "max_attempts": self.max_attempts,
        }

    def delay_after(self, attempts: int) -> timedelta:
        return timedelta(seconds=self.delays_secs[min(attempts, len(self.delays_secs)) - 1])


def outcome_of(status: str, disposition: str | None, opted_out: bool) -> str:
    """One word for how an attempt ended."""
    if opted_out:
        return OPTED_OUT
    if status == "completed":
        return VOICEMAIL if disposition == "voicemail" else COMPLETED
    return status if status in (NO_ANSWER, BUSY, FAILED, CANCELED) else FAILED


@dataclass(frozen=True)
class Next:
    status: str  # the contact's next status
    at: datetime | None = None  # when a retry is due (before the calling window is applied)


def after_attempt(policy: RetryPolicy, attempts: int, outcome: str, now: datetime) -> Next:
    if outcome in (COMPLETED, OPTED_OUT):
        return Next(DONE)
    if outcome in policy.retry_on and attempts < policy.max_attempts:
        return Next(WAITING, now + policy.delay_after(attempts))
    if outcome == CANCELED:
        return Next(DROPPED)
    return Next(GAVE_UP)


@dataclass
class Variables:
    """The call's variables from the contact: declared names only (an undeclared one would refuse the call)."""

    declared: list[str]
    mapping: dict[str, str] = field(default_factory=dict)  # variable -> metadata key

    def for_contact(self, phone: str, name: str | None, metadata: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"phone": phone, **({"name": name} if name else {}), **metadata}
        values: dict[str, Any] = {}
        for var in self.declared:
            key = self.mapping.get(var, var)
            if key in fields and fields[key] is not None:
                values[var] = fields[key]
        return values
