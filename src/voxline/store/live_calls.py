"""Reads the voice runtime needs that the API never does (an agent even if deleted mid-call, a partner flag)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.models import Agent, Partner


async def agent_any_state(s: AsyncSession, agent_id: str) -> Agent | None:
    """The agent row whether or not it was soft-deleted: a call in flight keeps its agent."""
    return (await s.execute(select(Agent).where(Agent.id == agent_id))).scalar_one_or_none()


async def partner_voicemail_detection(s: AsyncSession, partner_id: str) -> bool:
    row = (await s.execute(select(Partner.voicemail_detection_enabled).where(Partner.id == partner_id))).first()
    return bool(row and row[0])
