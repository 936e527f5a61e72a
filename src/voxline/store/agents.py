"""Agents of a partner; soft-deleted rows are invisible to every query here."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.errors import conflicts
from voxline.store.models import Agent, Partner

_FOR_CALL = (
    select(
        Agent.id,
        Agent.agent_name,
        Agent.prompt,
        Agent.intro_message,
        Agent.variables,
        Partner.allowed_providers,
        Partner.allowed_countries,
        Partner.allowed_number_types,
    )
    .join(Partner, Partner.id == Agent.partner_id)
    .where(Agent.id == bindparam("agent_id"), Agent.partner_id == bindparam("partner_id"), Agent.deleted_at.is_(None))
)


def _live(partner_id: str):  # noqa: ANN202
    return (Agent.partner_id == partner_id, Agent.deleted_at.is_(None))


async def add(s: AsyncSession, agent: Agent) -> None:
    """Raises `Conflict` when a live agent of the partner already has the name (a concurrent create won)."""
    s.add(agent)
    with conflicts():
        await s.flush()


async def get(s: AsyncSession, partner_id: str, agent_id: str) -> Agent | None:
    stmt = select(Agent).where(Agent.id == agent_id, *_live(partner_id))
    return (await s.execute(stmt)).scalar_one_or_none()


async def for_call(s: AsyncSession, partner_id: str, agent_id: str) -> Row | None:
    """What starting a call needs of the agent, with the partner's allowed providers and destination policy, in
    one round trip."""
    conn = await s.connection()
    return (await conn.execute(_FOR_CALL, {"agent_id": agent_id, "partner_id": partner_id})).first()


async def name_in_use(s: AsyncSession, partner_id: str, name: str, except_id: str | None = None) -> bool:
    stmt = select(Agent.id).where(Agent.agent_name == name, *_live(partner_id))
    if except_id:
        stmt = stmt.where(Agent.id != except_id)
    return (await s.execute(stmt.limit(1))).first() is not None


async def page(s: AsyncSession, partner_id: str, limit: int, offset: int) -> tuple[list[Agent], int]:
    total = (await s.execute(select(func.count()).select_from(Agent).where(*_live(partner_id)))).scalar_one()
    stmt = (
        select(Agent)
        .where(*_live(partner_id))
        .order_by(Agent.created_at.desc(), Agent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await s.execute(stmt)).scalars()), total


async def flush(s: AsyncSession) -> None:
    """Write pending changes; raises `Conflict` when a rename collides with a name taken meanwhile."""
    with conflicts():
        await s.flush()
