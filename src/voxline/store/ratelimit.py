"""Rate-limit counters: one atomic upsert per request, so every process sharing the database agrees."""

from __future__ import annotations

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.models import RateLimitCounter

_table = RateLimitCounter.__table__


def _upsert(insert):  # noqa: ANN001, ANN202
    stmt = insert(_table).values(bucket=bindparam("bucket"), window_start=bindparam("window_start"), count=1)
    return stmt.on_conflict_do_update(
        index_elements=[_table.c.bucket, _table.c.window_start], set_={"count": _table.c.count + 1}
    ).returning(_table.c.count)


_HIT = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}


async def hit(s: AsyncSession, bucket: str, window_start: int) -> int:
    """Count one request in the window and return the window's count including it."""
    conn = await s.connection()
    result = await conn.execute(_HIT[conn.dialect.name], {"bucket": bucket, "window_start": window_start})
    return result.scalar_one()


async def purge_before(s: AsyncSession, window_start: int) -> int:
    result = await s.execute(delete(_table).where(_table.c.window_start < window_start))
    return result.rowcount or 0
