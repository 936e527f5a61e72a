"""Rate-limit counters: one atomic upsert per request, so every process sharing the database agrees."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.models import RateLimitCounter

_table = RateLimitCounter.__table__


async def hit(s: AsyncSession, bucket: str, window_start: int) -> int:
    """Count one request in the window and return the window's count including it."""
    dialect = s.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_table).values(bucket=bucket, window_start=window_start, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_table.c.bucket, _table.c.window_start], set_={"count": _table.c.count + 1}
    ).returning(_table.c.count)
    return (await s.execute(stmt)).scalar_one()


async def purge_before(s: AsyncSession, window_start: int) -> int:
    result = await s.execute(delete(_table).where(_table.c.window_start < window_start))
    return result.rowcount or 0
