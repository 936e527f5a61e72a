"""Creating partners and managing their API keys (used by the `voxline` CLI and the tests)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from voxline.context import Context
from voxline.core import keys
from voxline.core.ids import new_id
from voxline.core.timefmt import utcnow
from voxline.store import partners as store
from voxline.store.models import ApiKey, Partner
from voxline.telephony.registry import PROVIDERS

PARTNER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


class AccountError(ValueError):
    """A CLI-facing mistake (bad name, unknown partner): the message is shown to the operator as is."""


@dataclass(frozen=True)
class Limits:
    concurrency: int | None = None
    sandbox_concurrency: int | None = None  # None: the deployment's VOXLINE_SANDBOX_CONCURRENCY
    agent_limit: int | None = None
    rate_limit_per_min: int | None = None
    calls_rate_limit_per_min: int | None = None
    providers: list[str] | None = None
    voicemail_detection: bool | None = None
    status: str | None = None
    allowed_countries: list[str] | None = None  # with set_countries: None = every country
    set_countries: bool = False
    allowed_number_types: list[str] | None = None  # types lifted from the default blocks; [] = none


@dataclass(frozen=True)
class IssuedKey:
    partner_id: str
    key_id: str
    api_key: str
    prefix: str
    mode: str


def parse_providers(text: str) -> list[str]:
    names = [p.strip().lower() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in PROVIDERS]
    if unknown:
        raise AccountError(f"unknown provider(s): {', '.join(unknown)}; choose from {', '.join(PROVIDERS)}")
    return list(dict.fromkeys(names))


def _check_limits(limits: Limits) -> None:
    for label, value, low, high in (
        ("concurrency", limits.concurrency, 1, 100_000),
        ("sandbox concurrency", limits.sandbox_concurrency, 1, 100_000),
        ("agent limit", limits.agent_limit, 1, 100_000),
        ("rate limit", limits.rate_limit_per_min, 1, 10_000_000),
        ("calls rate limit", limits.calls_rate_limit_per_min, 1, 10_000_000),
    ):
        if value is not None and not low <= value <= high:
            raise AccountError(f"{label} must be between {low} and {high}")
    if limits.status is not None and limits.status not in ("active", "suspended"):
        raise AccountError("status must be active or suspended")


async def create_partner(ctx: Context, name: str, limits: Limits, display_name: str | None = None) -> IssuedKey:
    if not PARTNER_NAME.match(name):
        raise AccountError("partner name: lowercase letters, digits, '-' or '_', at most 100 characters")
    _check_limits(limits)
    now = utcnow()
    partner = Partner(
        id=new_id(),
        name=name,
        display_name=display_name or name,
        status="active",
        agent_limit=limits.agent_limit or 10,
        concurrency_limit=limits.concurrency or 5,
        sandbox_concurrency_limit=limits.sandbox_concurrency,
        allowed_providers=limits.providers if limits.providers is not None else list(PROVIDERS),
        rate_limit_per_min=limits.rate_limit_per_min,
        calls_rate_limit_per_min=limits.calls_rate_limit_per_min,
        voicemail_detection_enabled=bool(limits.voicemail_detection),
        created_at=now,
        updated_at=now,
    )
    async with ctx.db.transaction() as s:
        if await store.find_partner(s, name):
            raise AccountError(f"a partner named {name!r} already exists")
        await store.add_partner(s, partner)
        return await _issue_key(s, partner.id, keys.LIVE)


async def update_partner(ctx: Context, id_or_name: str, limits: Limits) -> Partner:
    _check_limits(limits)
    values = {
        "concurrency_limit": limits.concurrency,
        "sandbox_concurrency_limit": limits.sandbox_concurrency,
        "agent_limit": limits.agent_limit,
        "rate_limit_per_min": limits.rate_limit_per_min,
        "calls_rate_limit_per_min": limits.calls_rate_limit_per_min,
        "allowed_providers": limits.providers,
        "voicemail_detection_enabled": limits.voicemail_detection,
        "status": limits.status,
        "allowed_number_types": limits.allowed_number_types,
    }
    values = {k: v for k, v in values.items() if v is not None}
    if limits.set_countries:
        values["allowed_countries"] = limits.allowed_countries
    async with ctx.db.transaction() as s:
        partner = await _require(s, id_or_name)
        if values:
            values["updated_at"] = utcnow()
            await store.update_partner(s, partner.id, values)
        return await store.get_partner(s, partner.id)


async def create_key(ctx: Context, id_or_name: str, mode: str = keys.LIVE) -> IssuedKey:
    async with ctx.db.transaction() as s:
        partner = await _require(s, id_or_name)
        return await _issue_key(s, partner.id, mode)


async def revoke_key(ctx: Context, prefix: str) -> ApiKey:
    """Revoke the one key whose shown prefix starts with `prefix`; refuse ambiguous prefixes."""
    _printable(prefix, "key prefix")
    if len(prefix) < len("rg_live_") + 4:
        raise AccountError("give at least the first 12 characters of the key (e.g. rg_live_AbCd)")
    async with ctx.db.transaction() as s:
        matches = await store.keys_with_prefix(s, prefix[: len("rg_live_") + keys.PREFIX_CHARS])
        if not matches:
            raise AccountError(f"no key starts with {prefix!r}")
        if len(matches) > 1:
            raise AccountError(f"{len(matches)} keys start with {prefix!r}; give more characters")
        key = matches[0]
        if key.revoked_at is None:
            await store.revoke_key(s, key, utcnow())
        return key


async def list_partners(ctx: Context) -> list[Partner]:
    async with ctx.db.transaction() as s:
        return await store.list_partners(s)


async def get_partner(ctx: Context, id_or_name: str) -> Partner:
    async with ctx.db.transaction() as s:
        return await _require(s, id_or_name)


async def partner_keys(ctx: Context, partner_id: str) -> list[ApiKey]:
    """Every key of the partner, revoked ones too (the operator sees when each was revoked)."""
    async with ctx.db.transaction() as s:
        return await store.list_keys(s, partner_id)


def _printable(value: str, what: str) -> str:
    """A NUL cannot be stored or compared on PostgreSQL: refuse it as a mistake rather than fail in the database."""
    if "\x00" in value:
        raise AccountError(f"{what} must not contain the NUL character")
    return value


async def _require(s, id_or_name: str) -> Partner:  # noqa: ANN001
    partner = await store.find_partner(s, _printable(id_or_name, "partner"))
    if partner is None:
        raise AccountError(f"no partner {id_or_name!r}")
    return partner


async def _issue_key(s, partner_id: str, mode: str) -> IssuedKey:  # noqa: ANN001
    new = keys.generate(mode)
    key = ApiKey(
        id=new_id(),
        partner_id=partner_id,
        prefix=new.prefix,
        key_hash=new.hash,
        mode=mode,
        created_at=utcnow(),
        revoked_at=None,
    )
    await store.add_key(s, key)
    return IssuedKey(partner_id, key.id, new.plaintext, new.prefix, mode)
