"""Partners (accounts) and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.core import keys
from voxline.core.principal import Principal
from voxline.store.db import Database
from voxline.store.models import Agent, ApiKey, Partner

_PRINCIPAL = (
    select(
        ApiKey.id,
        ApiKey.key_hash,
        ApiKey.mode,
        Partner.id,
        Partner.rate_limit_per_min,
        Partner.calls_rate_limit_per_min,
    )
    .join(Partner, Partner.id == ApiKey.partner_id)
    .where(ApiKey.prefix == bindparam("prefix"), ApiKey.revoked_at.is_(None), Partner.status == "active")
)
# NO KEY UPDATE: does not conflict with the KEY SHARE locks that inserts referencing the partner take.
_LOCK_LIMIT = (
    select(Partner.concurrency_limit, Partner.sandbox_concurrency_limit)
    .where(Partner.id == bindparam("partner_id"))
    .with_for_update(key_share=True)
)


# One statement: find the key by its prefix and hash, and count the request in its rate window. A presented
# key that matches no active key counts nothing (knowing a key's clear prefix cannot spend its budget). The
# hash equality runs in the database: its timing could only tell how much of a SHA-256 digest matched.
KEY_AND_COUNT = """
WITH k AS (
    SELECT api_keys.id AS key_id, api_keys.mode, partners.id AS partner_id,
           partners.rate_limit_per_min, partners.calls_rate_limit_per_min
    FROM api_keys JOIN partners ON partners.id = api_keys.partner_id
    WHERE api_keys.prefix = $1 AND api_keys.key_hash = $2 AND api_keys.revoked_at IS NULL
      AND partners.status = 'active'
    LIMIT 1
), hit AS (
    INSERT INTO rate_limit_counters (bucket, window_start, count)
    SELECT k.key_id || ':' || $3, $4, 1 FROM k
    ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limit_counters.count + 1
    RETURNING count
)"""  # the key (`k`) and its counted request (`hit`): shared with call_start

_PRINCIPAL_COUNTED = (
    KEY_AND_COUNT
    + """
SELECT k.key_id, k.mode, k.partner_id, k.rate_limit_per_min, k.calls_rate_limit_per_min, hit.count FROM k, hit
"""
)


async def principal_counted(
    db: Database, prefix: str, presented: str, bucket: str, window_start: int
) -> tuple[Principal, int] | None:
    """PostgreSQL: the key's principal and this request's count in its `bucket` window, in one round trip
    outside any transaction (the upsert is atomic by itself); None for an unknown or revoked key."""
    async with db.driver_connection() as conn:
        row = await conn.fetchrow(_PRINCIPAL_COUNTED, prefix, keys.hash_key(presented), bucket, window_start)
    if row is None:
        return None
    key_id, mode, partner_id, rate, calls_rate, count = row
    return Principal(partner_id, key_id, mode, rate, calls_rate), count


async def add_partner(s: AsyncSession, partner: Partner) -> Partner:
    s.add(partner)
    await s.flush()
    return partner


async def get_partner(s: AsyncSession, partner_id: str, *, for_update: bool = False) -> Partner | None:
    stmt = select(Partner).where(Partner.id == partner_id)
    if for_update:
        # NO KEY UPDATE: does not conflict with the KEY SHARE locks that inserts referencing the partner take.
        stmt = stmt.with_for_update(key_share=True)
    return (await s.execute(stmt)).scalar_one_or_none()


async def find_partner(s: AsyncSession, id_or_name: str) -> Partner | None:
    stmt = select(Partner).where(or_(Partner.id == id_or_name, Partner.name == id_or_name))
    return (await s.execute(stmt)).scalars().first()


async def list_partners(s: AsyncSession) -> list[Partner]:
    return list((await s.execute(select(Partner).order_by(Partner.created_at))).scalars())


async def update_partner(s: AsyncSession, partner_id: str, values: dict[str, Any]) -> None:
    await s.execute(update(Partner).where(Partner.id == partner_id).values(**values))


async def lock_concurrency_limits(s: AsyncSession, partner_id: str) -> tuple[int, int | None]:
    """Take the partner's lock (FOR NO KEY UPDATE on PostgreSQL; SQLite is already serial) and read its limits:
    (live, sandbox or None for the deployment's default)."""
    conn = await s.connection()
    live, sandbox = (await conn.execute(_LOCK_LIMIT, {"partner_id": partner_id})).one()
    return live, sandbox


async def destination_policy(s: AsyncSession, partner_id: str) -> tuple[list[Any] | None, list[Any] | None]:
    """The partner's allowed countries (None = all) and number types lifted from the default blocks."""
    stmt = select(Partner.allowed_countries, Partner.allowed_number_types).where(Partner.id == partner_id)
    row = (await s.execute(stmt)).one()
    return row[0], row[1]


async def lock_partner(s: AsyncSession, partner_id: str) -> Partner:
    """Serialise work that checks a per-partner limit (FOR UPDATE on PostgreSQL; SQLite is already serial)."""
    partner = await get_partner(s, partner_id, for_update=True)
    assert partner is not None
    return partner


async def count_live_agents(s: AsyncSession, partner_id: str) -> int:
    stmt = select(func.count()).select_from(Agent).where(Agent.partner_id == partner_id, Agent.deleted_at.is_(None))
    return (await s.execute(stmt)).scalar_one()


async def add_key(s: AsyncSession, key: ApiKey) -> None:
    s.add(key)
    await s.flush()


async def principal_for_key(s: AsyncSession, prefix: str, presented: str) -> Principal | None:
    """Find the key by its clear prefix, then compare hashes in constant time (no timing oracle on the hash)."""
    conn = await s.connection()
    row = (await conn.execute(_PRINCIPAL, {"prefix": prefix})).first()
    if row is None or not keys.hashes_match(row.key_hash, presented):
        return None
    key_id, _hash, mode, partner_id, rate, calls_rate = row
    return Principal(partner_id, key_id, mode, rate, calls_rate)


async def keys_with_prefix(s: AsyncSession, prefix: str) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.prefix.startswith(prefix, autoescape=True))
    return list((await s.execute(stmt)).scalars())


async def revoke_key(s: AsyncSession, key: ApiKey, when: datetime) -> None:
    key.revoked_at = when
    await s.flush()


async def list_keys(s: AsyncSession, partner_id: str) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.partner_id == partner_id).order_by(ApiKey.created_at)
    return list((await s.execute(stmt)).scalars())
