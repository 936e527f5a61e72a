"""Telephony connections: a partner's carrier accounts, credentials encrypted by the caller before they land."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.models import TelephonyConnection


async def add(s: AsyncSession, conn: TelephonyConnection) -> None:
    s.add(conn)
    await s.flush()


async def get(s: AsyncSession, partner_id: str, connection_id: str) -> TelephonyConnection | None:
    stmt = select(TelephonyConnection).where(
        TelephonyConnection.id == connection_id, TelephonyConnection.partner_id == partner_id
    )
    return (await s.execute(stmt)).scalar_one_or_none()


async def for_partner(s: AsyncSession, partner_id: str, provider: str | None = None) -> list[TelephonyConnection]:
    stmt = select(TelephonyConnection).where(TelephonyConnection.partner_id == partner_id)
    if provider:
        stmt = stmt.where(TelephonyConnection.provider == provider)
    stmt = stmt.order_by(TelephonyConnection.created_at, TelephonyConnection.id)
    return list((await s.execute(stmt)).scalars())


async def active_for(s: AsyncSession, partner_id: str, provider: str) -> list[TelephonyConnection]:
    stmt = select(TelephonyConnection).where(
        TelephonyConnection.partner_id == partner_id,
        TelephonyConnection.provider == provider,
        TelephonyConnection.status == "ACTIVE",
    )
    return list((await s.execute(stmt.order_by(TelephonyConnection.created_at))).scalars())


async def default_for(s: AsyncSession, partner_id: str, provider: str) -> TelephonyConnection | None:
    stmt = select(TelephonyConnection).where(
        TelephonyConnection.partner_id == partner_id,
        TelephonyConnection.provider == provider,
        TelephonyConnection.is_default.is_(True),
    )
    return (await s.execute(stmt)).scalars().first()


async def name_in_use(s: AsyncSession, partner_id: str, provider: str, name: str, except_id: str | None) -> bool:
    stmt = select(TelephonyConnection.id).where(
        TelephonyConnection.partner_id == partner_id,
        TelephonyConnection.provider == provider,
        TelephonyConnection.name == name,
    )
    if except_id:
        stmt = stmt.where(TelephonyConnection.id != except_id)
    return (await s.execute(stmt.limit(1))).first() is not None


async def clear_default(s: AsyncSession, partner_id: str, provider: str, except_id: str) -> None:
    await s.execute(
        update(TelephonyConnection)
        .where(
            TelephonyConnection.partner_id == partner_id,
            TelephonyConnection.provider == provider,
            TelephonyConnection.id != except_id,
        )
        .values(is_default=False)
    )


async def delete(s: AsyncSession, conn: TelephonyConnection) -> None:
    await s.delete(conn)
    await s.flush()


async def flush(s: AsyncSession) -> None:
    await s.flush()
