"""Idempotency keys for /calls/start: one stored request per (partner, key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.models import IdempotencyKey


async def find(s: AsyncSession, partner_id: str, key: str) -> IdempotencyKey | None:
    stmt = select(IdempotencyKey).where(IdempotencyKey.partner_id == partner_id, IdempotencyKey.key == key)
    return (await s.execute(stmt)).scalar_one_or_none()


async def add(s: AsyncSession, record: IdempotencyKey) -> None:
    s.add(record)
    await s.flush()


async def forget(s: AsyncSession, record: IdempotencyKey) -> None:
    await s.delete(record)
    await s.flush()


async def purge_older_than(s: AsyncSession, cutoff: datetime) -> int:
    result = await s.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return result.rowcount or 0
