"""The operator's credential for the dashboard's operator view: `vx_admin_` + 32 random characters, made by
`voxline admin create-token`, printed once and stored only as a SHA-256 hash (like API keys)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from voxline.context import Context
from voxline.core import keys
from voxline.core.ids import new_id
from voxline.core.timefmt import utcnow
from voxline.store import dashboard as store
from voxline.store.dashboard_tables import AdminToken

PREFIX = "vx_admin_"
_RANDOM_CHARS = 32
_SHOWN_CHARS = len(PREFIX) + 8


@dataclass(frozen=True)
class IssuedAdminToken:
    token_id: str
    token: str
    prefix: str
    label: str


def _well_formed(presented: str) -> bool:
    body = presented[len(PREFIX) :]
    return (
        presented.startswith(PREFIX) and len(body) == _RANDOM_CHARS and body.replace("-", "").replace("_", "").isalnum()
    )


async def create(ctx: Context, label: str = "admin") -> IssuedAdminToken:
    body = ""
    while len(body) < _RANDOM_CHARS:
        body += secrets.token_urlsafe(_RANDOM_CHARS)
    token = PREFIX + body[:_RANDOM_CHARS]
    row = AdminToken(
        id=new_id(),
        prefix=token[:_SHOWN_CHARS],
        token_hash=keys.hash_key(token),
        label=label[:100] or "admin",
        created_at=utcnow(),
        revoked_at=None,
    )
    async with ctx.db.transaction() as s:
        await store.add_admin_token(s, row)
    return IssuedAdminToken(row.id, token, row.prefix, row.label)


async def check(ctx: Context, presented: str) -> str | None:
    """The id of the unrevoked admin token `presented` is, or None (hashes compared in constant time)."""
    presented = presented.strip()
    if not _well_formed(presented):
        return None
    async with ctx.db.transaction() as s:
        row = await store.admin_token_by_prefix(s, presented[:_SHOWN_CHARS])
    if row is None or not keys.hashes_match(row.token_hash, presented):
        return None
    return row.id
