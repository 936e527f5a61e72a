"""Browser sessions of the dashboard: signing in with an API key (a partner session that acts exactly as
that key: its partner and its mode) or with an admin token (the operator view), and finding them again.

The browser holds only a random token; the row holds its hash, who it is, when it expires and the
session's CSRF secret. A partner session dies with its key: every request checks the key is still valid.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from voxline.accounts import admin_tokens
from voxline.context import Context
from voxline.core import errors, keys
from voxline.core.ids import new_id
from voxline.core.principal import Principal
from voxline.core.timefmt import utcnow
from voxline.store import dashboard as store
from voxline.store import partners as partner_store
from voxline.store.dashboard_tables import DashboardSession

PARTNER = "partner"
OPERATOR = "operator"
LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Opened:
    """A session just opened: the token for the cookie (never stored) and the CSRF secret for its forms."""

    token: str
    csrf: str


@dataclass(frozen=True)
class Signed:
    """A session found again: who it acts as, and its CSRF secret."""

    kind: str
    csrf: str
    principal: Principal | None  # partner sessions
    admin_token_id: str | None  # operator sessions


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _open(ctx: Context, kind: str, **who: str | None) -> Opened:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    row = DashboardSession(
        id=new_id(),
        token_hash=_hash(token),
        kind=kind,
        csrf_secret=csrf,
        created_at=now,
        expires_at=now + LIFETIME,
        **who,
    )
    async with ctx.db.transaction() as s:
        await store.purge_expired(s, now)
        await store.add_session(s, row)
    return Opened(token, csrf)


async def sign_in_with_key(ctx: Context, api_key: str) -> tuple[Opened, Principal]:
    """Open a partner session for a valid, unrevoked key of an active partner; UNAUTHORIZED otherwise."""
    presented = api_key.strip()
    if keys.mode_of(presented) is None:
        raise errors.Unauthorized("That is not a valid API key (rg_live_… or rg_test_…).")
    async with ctx.db.transaction() as s:
        principal = await partner_store.principal_for_key(s, keys.display_prefix(presented), presented)
    if principal is None:
        raise errors.Unauthorized("That API key is not valid (unknown, revoked, or its account is suspended).")
    opened = await _open(ctx, PARTNER, partner_id=principal.partner_id, key_id=principal.key_id, mode=principal.mode)
    return opened, principal


async def sign_in_operator(ctx: Context, admin_token: str) -> Opened:
    token_id = await admin_tokens.check(ctx, admin_token)
    if token_id is None:
        raise errors.Unauthorized("That admin token is not valid.")
    return await _open(ctx, OPERATOR, admin_token_id=token_id)


async def find(ctx: Context, token: str | None, kind: str) -> Signed | None:
    """The live session of `kind` the browser's token names, or None (unknown, expired, or its key revoked)."""
    if not token or len(token) > 200:
        return None
    async with ctx.db.transaction() as s:
        row = await store.session_by_hash(s, _hash(token), utcnow())
        if row is None or row.kind != kind:
            return None
        if kind == PARTNER:
            principal = await store.principal_for_key_id(s, row.key_id or "")
            if principal is None or principal.partner_id != row.partner_id or principal.mode != row.mode:
                return None
            return Signed(kind, row.csrf_secret, principal, None)
        if await store.active_admin_token(s, row.admin_token_id or "") is None:
            return None
        return Signed(kind, row.csrf_secret, None, row.admin_token_id)


async def sign_out(ctx: Context, token: str | None) -> None:
    if token and len(token) <= 200:
        async with ctx.db.transaction() as s:
            await store.delete_session(s, _hash(token))


def csrf_ok(signed: Signed, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(signed.csrf.encode(), (presented or "").encode())
