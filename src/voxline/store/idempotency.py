"""Idempotency keys for /calls/start: one stored request per (partner, mode, key).

The mode is part of the key: a test request must never answer for a live one (the real call would never
be placed), nor a live one for a test one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.errors import conflicts
from voxline.store.models import IdempotencyKey

_INSERT = insert(IdempotencyKey.__table__)


async def find(s: AsyncSession, partner_id: str, mode: str, key: str) -> IdempotencyKey | None:
    stmt = select(IdempotencyKey).where(
        IdempotencyKey.partner_id == partner_id, IdempotencyKey.mode == mode, IdempotencyKey.key == key
    )
    return (await s.execute(stmt)).scalar_one_or_none()


async def add(s: AsyncSession, record: dict[str, Any]) -> None:
    """Raises `Conflict` when a concurrent request stored the same key first."""
    conn = await s.connection()
    with conflicts():
        await conn.execute(_INSERT, record)


async def forget(s: AsyncSession, record: IdempotencyKey) -> None:
    await s.delete(record)
    await s.flush()


async def purge_older_than(s: AsyncSession, cutoff: datetime) -> int:
    result = await s.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return result.rowcount or 0
