"""Dashboard sessions and admin tokens: rows found by the hash of what the browser or the operator presents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.core.principal import Principal
from voxline.store.dashboard_tables import AdminToken, DashboardSession
from voxline.store.models import ApiKey, Partner


async def add_session(s: AsyncSession, row: DashboardSession) -> None:
    s.add(row)
    await s.flush()


async def session_by_hash(s: AsyncSession, token_hash: str, now: datetime) -> DashboardSession | None:
    stmt = select(DashboardSession).where(DashboardSession.token_hash == token_hash, DashboardSession.expires_at > now)
    return (await s.execute(stmt)).scalar_one_or_none()


async def delete_session(s: AsyncSession, token_hash: str) -> None:
    await s.execute(delete(DashboardSession).where(DashboardSession.token_hash == token_hash))


async def purge_expired(s: AsyncSession, now: datetime) -> None:
    await s.execute(delete(DashboardSession).where(DashboardSession.expires_at <= now))


async def principal_for_key_id(s: AsyncSession, key_id: str) -> Principal | None:
    """The key's principal while the key is unrevoked and its partner active (a session dies with its key)."""
    stmt = (
        select(ApiKey.id, ApiKey.mode, Partner.id, Partner.rate_limit_per_min, Partner.calls_rate_limit_per_min)
        .join(Partner, Partner.id == ApiKey.partner_id)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None), Partner.status == "active")
    )
    row = (await s.execute(stmt)).first()
    if row is None:
        return None
    kid, mode, partner_id, rate, calls_rate = row
    return Principal(partner_id, kid, mode, rate, calls_rate)


async def add_admin_token(s: AsyncSession, row: AdminToken) -> None:
    s.add(row)
    await s.flush()


async def admin_token_by_prefix(s: AsyncSession, prefix: str) -> AdminToken | None:
    stmt = select(AdminToken).where(AdminToken.prefix == prefix, AdminToken.revoked_at.is_(None))
    return (await s.execute(stmt)).scalar_one_or_none()


async def active_admin_token(s: AsyncSession, token_id: str) -> AdminToken | None:
    stmt = select(AdminToken).where(AdminToken.id == token_id, AdminToken.revoked_at.is_(None))
    return (await s.execute(stmt)).scalar_one_or_none()
