"""Telephony connections: a partner's carrier accounts, credentials encrypted by the caller before they land.

Each connection belongs to one mode: test-mode ones are dialed by sandbox calls only, live ones by live
calls only, and a key reads and changes only its own mode's.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.models import TelephonyConnection

_C = TelephonyConnection
_DIALABLE = (
    select(_C.id, _C.provider, _C.status, _C.from_number)
    .where(
        _C.partner_id == bindparam("partner_id"),
        _C.mode == bindparam("mode"),
        _C.provider == bindparam("provider"),
        _C.status == "ACTIVE",
    )
    .order_by(_C.created_at)
)
_ONE_FOR_CALL = select(_C.id, _C.provider, _C.status, _C.from_number).where(
    _C.partner_id == bindparam("partner_id"), _C.mode == bindparam("mode"), _C.id == bindparam("connection_id")
)


def _mine(partner_id: str, mode: str):  # noqa: ANN202
    return (_C.partner_id == partner_id, _C.mode == mode)


async def add(s: AsyncSession, conn: TelephonyConnection) -> None:
    s.add(conn)
    await s.flush()


async def get(s: AsyncSession, partner_id: str, mode: str, connection_id: str) -> TelephonyConnection | None:
    stmt = select(_C).where(_C.id == connection_id, *_mine(partner_id, mode))
    return (await s.execute(stmt)).scalar_one_or_none()


async def for_partner(
    s: AsyncSession, partner_id: str, mode: str, provider: str | None = None
) -> list[TelephonyConnection]:
    stmt = select(_C).where(*_mine(partner_id, mode))
    if provider:
        stmt = stmt.where(_C.provider == provider)
    stmt = stmt.order_by(_C.created_at, _C.id)
    return list((await s.execute(stmt)).scalars())


async def dialable(s: AsyncSession, partner_id: str, mode: str, provider: str) -> list[Row]:
    """Active connections of a provider (id, provider, status, from_number): the candidates for a new call."""
    conn = await s.connection()
    return list(await conn.execute(_DIALABLE, {"partner_id": partner_id, "mode": mode, "provider": provider}))


async def one_for_call(s: AsyncSession, partner_id: str, mode: str, connection_id: str) -> Row | None:
    conn = await s.connection()
    params = {"partner_id": partner_id, "mode": mode, "connection_id": connection_id}
    return (await conn.execute(_ONE_FOR_CALL, params)).first()


async def for_call(s: AsyncSession, partner_id: str, mode: str, provider: str, connection_id: str | None) -> list[Row]:
    """The candidates for a new call: the connection `connection_id` names (in any state, so the checks can
    say what is wrong with it), else the provider's active ones."""
    if connection_id is not None:
        one = await one_for_call(s, partner_id, mode, connection_id)
        return [one] if one is not None else []
    return await dialable(s, partner_id, mode, provider)


async def default_for(s: AsyncSession, partner_id: str, mode: str, provider: str) -> TelephonyConnection | None:
    stmt = select(_C).where(*_mine(partner_id, mode), _C.provider == provider, _C.is_default.is_(True))
    return (await s.execute(stmt)).scalars().first()


async def name_in_use(
    s: AsyncSession, partner_id: str, mode: str, provider: str, name: str, except_id: str | None
) -> bool:
    stmt = select(_C.id).where(*_mine(partner_id, mode), _C.provider == provider, _C.name == name)
    if except_id:
        stmt = stmt.where(_C.id != except_id)
    return (await s.execute(stmt.limit(1))).first() is not None


async def clear_default(s: AsyncSession, partner_id: str, mode: str, provider: str, except_id: str) -> None:
    """One default per partner, provider and mode: the live default is untouched by a test one."""
    await s.execute(
        update(_C).where(*_mine(partner_id, mode), _C.provider == provider, _C.id != except_id).values(is_default=False)
    )


async def delete(s: AsyncSession, conn: TelephonyConnection) -> None:
    await s.delete(conn)
    await s.flush()


async def flush(s: AsyncSession) -> None:
    await s.flush()
