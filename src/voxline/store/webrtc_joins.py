"""Browser sessions' join tickets: write one with its session, spend it once, count the lines they hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.models import Session
from voxline.store.webrtc_tables import WebrtcJoin

_INSERT_SESSION = insert(Session.__table__)
_INSERT_JOIN = insert(WebrtcJoin.__table__)


async def insert_browser_session(s: AsyncSession, session: dict[str, Any], join: dict[str, Any]) -> None:
    """Write the session (no call) and its join ticket."""
    conn = await s.connection()
    await conn.execute(_INSERT_SESSION, session)
    await conn.execute(_INSERT_JOIN, join)


async def count_active(s: AsyncSession, partner_id: str, mode: str, now: datetime) -> int:
    """Browser sessions of the partner in one mode that hold a line now."""
    stmt = select(func.count()).where(
        WebrtcJoin.partner_id == partner_id,
        WebrtcJoin.mode == mode,
        WebrtcJoin.active_until.is_not(None),
        WebrtcJoin.active_until > now,
    )
    return (await s.execute(stmt)).scalar_one()


async def get(s: AsyncSession, session_id: str) -> WebrtcJoin | None:
    return await s.get(WebrtcJoin, session_id)


async def spend(s: AsyncSession, session_id: str, token_hash: str, now: datetime, active_until: datetime) -> bool:
    """Mark the ticket used if it is this token's, unused and unexpired: one atomic update, so two offers
    racing with the same token cannot both win."""
    stmt = (
        update(WebrtcJoin)
        .where(
            WebrtcJoin.session_id == session_id,
            WebrtcJoin.token_hash == token_hash,
            WebrtcJoin.used_at.is_(None),
            WebrtcJoin.expires_at > now,
        )
        .values(used_at=now, active_until=active_until)
    )
    result = await s.execute(stmt)
    return (result.rowcount or 0) == 1


async def release(s: AsyncSession, session_id: str) -> None:
    """The session is over: it no longer holds a line."""
    await s.execute(update(WebrtcJoin).where(WebrtcJoin.session_id == session_id).values(active_until=None))


async def expired_unjoined(s: AsyncSession, now: datetime, limit: int) -> list[str]:
    """Sessions whose token expired unused and that still hold their line (not yet closed)."""
    stmt = (
        select(WebrtcJoin.session_id)
        .where(WebrtcJoin.used_at.is_(None), WebrtcJoin.expires_at <= now, WebrtcJoin.active_until.is_not(None))
        .limit(limit)
    )
    return list((await s.execute(stmt)).scalars())
