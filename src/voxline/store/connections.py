"""Telephony connections: a partner's carrier accounts, credentials encrypted by the caller before they land."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.models import TelephonyConnection

_C = TelephonyConnection
_DIALABLE = (
    select(_C.id, _C.provider, _C.status, _C.from_number)
    .where(_C.partner_id == bindparam("partner_id"), _C.provider == bindparam("provider"), _C.status == "ACTIVE")
    .order_by(_C.created_at)
)
_ONE_FOR_CALL = select(_C.id, _C.provider, _C.status, _C.from_number).where(
    _C.partner_id == bindparam("partner_id"), _C.id == bindparam("connection_id")
)


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


async def dialable(s: AsyncSession, partner_id: str, provider: str) -> list[Row]:
    """Active connections of a provider (id, provider, status, from_number): the candidates for a new call."""
    conn = await s.connection()
    return list(await conn.execute(_DIALABLE, {"partner_id": partner_id, "provider": provider}))


async def one_for_call(s: AsyncSession, partner_id: str, connection_id: str) -> Row | None:
    conn = await s.connection()
    return (await conn.execute(_ONE_FOR_CALL, {"partner_id": partner_id, "connection_id": connection_id})).first()


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
