"""A partner's calling policy rows, and the recent calls to one number the frequency cap counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.campaign_tables import CallingPolicy, DncEntry
from voxline.store.models import Call

_ONE = select(literal(1).label("one")).subquery()
_LISTED = exists().where(
    DncEntry.partner_id == bindparam("partner_id"),
    DncEntry.mode == bindparam("mode"),
    DncEntry.phone == bindparam("phone"),
)
_LISTED_AND_POLICY = (
    select(_LISTED.label("listed"), CallingPolicy)
    .select_from(_ONE)
    .outerjoin(
        CallingPolicy,
        and_(CallingPolicy.partner_id == bindparam("partner_id"), CallingPolicy.mode == bindparam("mode")),
    )
)


async def listed_and_policy(
    s: AsyncSession, partner_id: str, mode: str, phone: str
) -> tuple[bool, CallingPolicy | None]:
    """Whether `phone` is on the do-not-call list, and the stored policy (None: the defaults), in one round trip:
    both are read for every call started and again for every call dialed."""
    params = {"partner_id": partner_id, "mode": mode, "phone": phone}
    listed, row = (await s.execute(_LISTED_AND_POLICY, params)).one()
    return bool(listed), row


async def get(s: AsyncSession, partner_id: str, mode: str) -> CallingPolicy | None:
    return await s.get(CallingPolicy, (partner_id, mode))


async def put(s: AsyncSession, row: CallingPolicy) -> CallingPolicy:
    existing = await s.get(CallingPolicy, (row.partner_id, row.mode))
    if existing is None:
        s.add(row)
        await s.flush()
        return row
    for name in (
        "windows",
        "outside_hours",
        "fallback_timezone",
        "max_attempts_per_day",
        "max_attempts_per_week",
        "updated_at",
    ):
        setattr(existing, name, getattr(row, name))
    await s.flush()
    return existing


async def attempts_since(s: AsyncSession, partner_id: str, mode: str, phone: str, since: datetime) -> int:
    """Calls to `phone` created since `since`, except those canceled before they were dialed."""
    stmt = (
        select(func.count())
        .select_from(Call)
        .where(
            Call.partner_id == partner_id,
            Call.mode == mode,
            Call.to_number == phone,
            Call.created_at >= since,
            or_(Call.status != "canceled", Call.dialed_at.is_not(None)),
        )
    )
    return (await s.execute(stmt)).scalar_one()
