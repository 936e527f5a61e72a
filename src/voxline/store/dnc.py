"""The do-not-call list in SQL: one row per partner, mode and number."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.core.ids import new_id
from voxline.store.campaign_tables import DncEntry


def _insert(s: AsyncSession):  # noqa: ANN202
    return pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert


async def add_many(
    s: AsyncSession,
    partner_id: str,
    mode: str,
    phones: Sequence[str],
    *,
    source: str,
    now: datetime,
    reason: str | None = None,
    call_id: str | None = None,
) -> int:
    """Add numbers; those already listed stay as they were. Returns how many were new."""
    if not phones:
        return 0
    rows = [
        {
            "id": new_id(),
            "partner_id": partner_id,
            "mode": mode,
            "phone": p,
            "source": source,
            "reason": reason,
            "call_id": call_id,
            "created_at": now,
        }
        for p in dict.fromkeys(phones)
    ]
    added = 0
    for start in range(0, len(rows), 500):
        stmt = (
            _insert(s)(DncEntry)
            .values(rows[start : start + 500])
            .on_conflict_do_nothing(index_elements=["partner_id", "mode", "phone"])
        )
        added += (await s.execute(stmt)).rowcount or 0
    return added


async def remove(s: AsyncSession, partner_id: str, mode: str, phone: str) -> bool:
    stmt = delete(DncEntry).where(DncEntry.partner_id == partner_id, DncEntry.mode == mode, DncEntry.phone == phone)
    return ((await s.execute(stmt)).rowcount or 0) > 0


async def get(s: AsyncSession, partner_id: str, mode: str, phone: str) -> DncEntry | None:
    stmt = select(DncEntry).where(DncEntry.partner_id == partner_id, DncEntry.mode == mode, DncEntry.phone == phone)
    return (await s.execute(stmt)).scalar_one_or_none()


async def listed(s: AsyncSession, partner_id: str, mode: str, phones: Sequence[str]) -> set[str]:
    """Which of `phones` are on the list."""
    found: set[str] = set()
    unique = list(dict.fromkeys(phones))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        stmt = select(DncEntry.phone).where(
            DncEntry.partner_id == partner_id, DncEntry.mode == mode, DncEntry.phone.in_(chunk)
        )
        found.update((await s.execute(stmt)).scalars())
    return found


async def page(s: AsyncSession, partner_id: str, mode: str, limit: int, offset: int) -> tuple[list[DncEntry], int]:
    where = (DncEntry.partner_id == partner_id, DncEntry.mode == mode)
    total = (await s.execute(select(func.count()).select_from(DncEntry).where(*where))).scalar_one()
    stmt = select(DncEntry).where(*where).order_by(DncEntry.created_at.desc(), DncEntry.id).limit(limit).offset(offset)
    return list((await s.execute(stmt)).scalars()), total
