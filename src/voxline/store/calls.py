"""Calls, their sessions, the dial queue and session events.

Reads on behalf of a key take the key's partner and mode: another partner's or the other mode's rows
do not exist for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.models import Call, DialJob, Session, SessionEvent

# Built once: /calls/start is the hot path, and building statements per request costs more than running them.
_INSERT_SESSION = insert(Session.__table__)
_INSERT_CALL = insert(Call.__table__)
_INSERT_JOB = insert(DialJob.__table__)
_COUNT_ACTIVE = select(func.count()).select_from(
    select(Call.id)
    .where(
        Call.partner_id == bindparam("partner_id"),
        Call.mode == bindparam("mode"),
        Call.status.in_(bindparam("statuses", expanding=True)),
    )
    .limit(bindparam("cap"))
    .subquery()
)


async def insert_started_call(
    s: AsyncSession, call: dict[str, Any], session: dict[str, Any], job: dict[str, Any]
) -> None:
    """Write a new call, its session and its dial-queue row (plain inserts: no unit-of-work bookkeeping)."""
    conn = await s.connection()
    await conn.execute(_INSERT_SESSION, session)
    await conn.execute(_INSERT_CALL, call)
    await conn.execute(_INSERT_JOB, job)


async def count_active(s: AsyncSession, partner_id: str, mode: str, statuses: Sequence[str], cap: int) -> int:
    """Active calls of the partner in one mode, counted up to `cap` (enough to decide a limit, cheap on big
    tables). Each mode has its own limit: sandbox load never refuses a live call."""
    conn = await s.connection()
    params = {"partner_id": partner_id, "mode": mode, "statuses": list(statuses), "cap": cap}
    return (await conn.execute(_COUNT_ACTIVE, params)).scalar_one()


async def get_call(s: AsyncSession, partner_id: str, mode: str, call_id: str) -> Call | None:
    stmt = select(Call).where(Call.id == call_id, Call.partner_id == partner_id, Call.mode == mode)
    return (await s.execute(stmt)).scalar_one_or_none()


async def get_call_by_id(s: AsyncSession, call_id: str) -> Call | None:
    return await s.get(Call, call_id)


async def get_session(s: AsyncSession, partner_id: str, mode: str, session_id: str) -> Session | None:
    stmt = select(Session).where(Session.id == session_id, Session.partner_id == partner_id, Session.mode == mode)
    return (await s.execute(stmt)).scalar_one_or_none()


async def get_session_by_id(s: AsyncSession, session_id: str, *, for_update: bool = False) -> Session | None:
    """`for_update` serialises finishers of one session (PostgreSQL row lock; SQLite is already serial)."""
    if for_update:
        stmt = select(Session).where(Session.id == session_id).with_for_update(key_share=True)
        return (await s.execute(stmt)).scalar_one_or_none()
    return await s.get(Session, session_id)


async def page(
    s: AsyncSession, partner_id: str, mode: str, status: str | None, limit: int, offset: int
) -> tuple[list[Call], int]:
    conditions = [Call.partner_id == partner_id, Call.mode == mode]
    if status:
        conditions.append(Call.status == status)
    total = (await s.execute(select(func.count()).select_from(Call).where(*conditions))).scalar_one()
    stmt = select(Call).where(*conditions).order_by(Call.created_at.desc(), Call.id.desc()).limit(limit).offset(offset)
    return list((await s.execute(stmt)).scalars()), total


async def search(
    s: AsyncSession,
    partner_id: str,
    mode: str,
    *,
    status: str | None = None,
    agent_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    number: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Call], int]:
    """The partner's calls of one mode, newest first, narrowed by status, agent, creation time and a
    fragment of the callee's or caller's number."""
    conditions: list[Any] = [Call.partner_id == partner_id, Call.mode == mode]
    if status:
        conditions.append(Call.status == status)
    if agent_id:
        conditions.append(Call.agent_id == agent_id)
    if since is not None:
        conditions.append(Call.created_at >= since)
    if until is not None:
        conditions.append(Call.created_at < until)
    if number:
        pattern = f"%{number}%"
        conditions.append(or_(Call.to_number.like(pattern, escape="\\"), Call.from_number.like(pattern, escape="\\")))
    total = (await s.execute(select(func.count()).select_from(Call).where(*conditions))).scalar_one()
    stmt = select(Call).where(*conditions).order_by(Call.created_at.desc(), Call.id.desc()).limit(limit).offset(offset)
    return list((await s.execute(stmt)).scalars()), total


async def has_active_on_connection(s: AsyncSession, connection_id: str, statuses: Sequence[str]) -> bool:
    stmt = select(Call.id).where(Call.connection_id == connection_id, Call.status.in_(list(statuses))).limit(1)
    return (await s.execute(stmt)).first() is not None


async def add_event(s: AsyncSession, event: SessionEvent) -> bool:
    """Record an event once per (session, type); a second finalisation of the same session adds nothing."""
    existing = await s.execute(
        select(SessionEvent.id).where(
            SessionEvent.session_id == event.session_id, SessionEvent.event_type == event.event_type
        )
    )
    if existing.first() is not None:
        return False
    s.add(event)
    await s.flush()
    return True


async def events_for_session(s: AsyncSession, session_id: str) -> list[SessionEvent]:
    stmt = select(SessionEvent).where(SessionEvent.session_id == session_id).order_by(SessionEvent.created_at)
    return list((await s.execute(stmt)).scalars())


async def dial_job_for_call(s: AsyncSession, call_id: str) -> DialJob | None:
    return (await s.execute(select(DialJob).where(DialJob.call_id == call_id))).scalar_one_or_none()


async def flush(s: AsyncSession) -> None:
    await s.flush()
