"""A partner's calling policy per mode: the stored one, or the deployment's default; read, check, change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voxline.context import Context
from voxline.core import calling_hours as hours
from voxline.core import errors
from voxline.core.keys import TEST
from voxline.core.principal import Principal
from voxline.settings import Settings
from voxline.store import calling_policy as store
from voxline.store.campaign_tables import CallingPolicy

REFUSE, DEFER = "refuse", "defer"


@dataclass(frozen=True)
class Policy:
    windows: tuple[hours.Window, ...]
    outside_hours: str
    fallback_timezone: str
    max_attempts_per_day: int | None
    max_attempts_per_week: int | None
    is_default: bool

    def view(self) -> dict[str, Any]:
        return {
            "calling_windows": [w.as_dict() for w in self.windows],
            "outside_hours": self.outside_hours,
            "fallback_timezone": self.fallback_timezone,
            "max_attempts_per_day": self.max_attempts_per_day,
            "max_attempts_per_week": self.max_attempts_per_week,
            "is_default": self.is_default,
        }


def default(settings: Settings, mode: str) -> Policy:
    span = settings.sandbox_calling_hours if mode == TEST else settings.calling_hours
    return Policy(hours.parse_span(span), REFUSE, settings.calling_fallback_timezone, None, None, True)


async def effective(s, settings: Settings, partner_id: str, mode: str) -> Policy:  # noqa: ANN001
    return from_row(settings, mode, await store.get(s, partner_id, mode))


def from_row(settings: Settings, mode: str, row: CallingPolicy | None) -> Policy:
    """The policy a stored row says, or the deployment's defaults when the partner has none."""
    if row is None:
        return default(settings, mode)
    return Policy(
        hours.parse_windows(row.windows),
        row.outside_hours,
        row.fallback_timezone,
        row.max_attempts_per_day,
        row.max_attempts_per_week,
        False,
    )


async def read(ctx: Context, principal: Principal) -> dict[str, Any]:
    async with ctx.db.transaction() as s:
        return (await effective(s, ctx.settings, principal.partner_id, principal.mode)).view()


def _windows(raw: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    try:
        return [w.as_dict() for w in hours.parse_windows(raw)]
    except hours.InvalidWindow as exc:
        raise errors.InvalidCallingPolicy(f"calling_windows: {exc}.") from None


async def update(ctx: Context, principal: Principal, changes: dict[str, Any]) -> dict[str, Any]:
    """Change some fields; the rest keep their current (or default) values."""
    async with ctx.db.transaction() as s:
        current = (await effective(s, ctx.settings, principal.partner_id, principal.mode)).view()
        merged = {**current, **changes}
        try:
            zone = hours.check_zone(merged["fallback_timezone"])
        except hours.InvalidWindow as exc:
            raise errors.InvalidCallingPolicy(f"fallback_timezone: {exc}.") from None
        row = CallingPolicy(
            partner_id=principal.partner_id,
            mode=principal.mode,
            windows=_windows(merged["calling_windows"]),
            outside_hours=merged["outside_hours"],
            fallback_timezone=zone,
            max_attempts_per_day=merged["max_attempts_per_day"],
            max_attempts_per_week=merged["max_attempts_per_week"],
            updated_at=ctx.clock(),
        )
        await store.put(s, row)
        return (await effective(s, ctx.settings, principal.partner_id, principal.mode)).view()
