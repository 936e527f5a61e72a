"""Telephony connections: store a partner's carrier credentials (encrypted) and show them safely.

A connection belongs to the mode of the key that made it: a test key's credentials are used only by
sandbox calls (on the emulators), a live key's only by live calls, and neither key sees the other's.
"""

from __future__ import annotations

from typing import Any

import pydantic

from voxline.context import Context
from voxline.core import errors
from voxline.core.call_status import ACTIVE_STATUSES
from voxline.core.ids import is_uuid, new_id
from voxline.core.principal import Principal
from voxline.core.timefmt import iso, utcnow
from voxline.core.validation import from_pydantic
from voxline.store import calls as call_store
from voxline.store import connections as store
from voxline.store import partners as partner_store
from voxline.store.models import TelephonyConnection
from voxline.telephony.base import CarrierCredentials
from voxline.telephony.registry import credentials_model, is_known

DEFAULT_NAME = "default"


def validate_credentials(provider: str, fields: dict[str, Any]) -> CarrierCredentials:
    try:
        return credentials_model(provider).model_validate(fields)
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc.errors(include_url=False)) from None


def view(conn: TelephonyConnection) -> dict[str, Any]:
    phone_numbers = []
    if conn.from_number:
        phone_numbers.append(
            {
                "id": conn.id,
                "phone_number": conn.from_number,
                "friendly_name": conn.name,
                "status": conn.status,
                "is_default": True,
            }
        )
    return {
        "id": conn.id,
        "connection_id": conn.id,
        "provider": conn.provider,
        "provider_key": conn.provider.upper(),
        "name": conn.name,
        "status": conn.status,
        "is_default": conn.is_default,
        "configured": bool(conn.from_number),
        "from_number": conn.from_number,
        "credential_hint": conn.credential_hint,
        "settings": conn.public_settings,
        "phone_numbers": phone_numbers,
        "created_at": iso(conn.created_at),
        "updated_at": iso(conn.updated_at),
    }


def _seal(ctx: Context, conn: TelephonyConnection, creds: CarrierCredentials) -> None:
    conn.credentials_enc = ctx.box.encrypt_json(creds.model_dump(), context=f"connection:{conn.id}")
    conn.credential_hint = creds.hint()
    conn.public_settings = {**creds.public_settings(), **creds.setup_settings(ctx.settings.public_base_url)}
    conn.from_number = creds.default_caller_id()


def _stored_fields(ctx: Context, conn: TelephonyConnection) -> dict[str, Any]:
    return ctx.box.decrypt_json(conn.credentials_enc, context=f"connection:{conn.id}")


def open_credentials(ctx: Context, conn: TelephonyConnection) -> CarrierCredentials:
    """The decrypted credentials as the carrier's own model (validated when stored), for the dialer; never
    for a response."""
    return credentials_model(conn.provider).model_validate(_stored_fields(ctx, conn))


async def _check_allowed(s, partner_id: str, provider: str) -> None:  # noqa: ANN001
    partner = await partner_store.get_partner(s, partner_id)
    if provider not in partner.allowed_providers:
        raise errors.ProviderNotAllowed(
            f"Provider {provider!r} is not enabled for this account "
            f"(allowed: {', '.join(partner.allowed_providers) or 'none'})."
        )


def require_provider(provider: str) -> str:
    provider = provider.lower()
    if not is_known(provider):
        raise errors.UnknownProvider(f"Unknown provider {provider!r}.")
    return provider


async def put_default(ctx: Context, owner: Principal, provider: str, fields: dict[str, Any]) -> TelephonyConnection:
    """PUT /config/telephony/{provider}: create or replace the provider's default connection of the key's mode."""
    creds = validate_credentials(provider, fields)
    partner_id, mode = owner.partner_id, owner.mode
    now = utcnow()
    async with ctx.db.transaction() as s:
        await _check_allowed(s, partner_id, provider)
        conn = await store.default_for(s, partner_id, mode, provider)
        if conn is None:
            name = DEFAULT_NAME
            if await store.name_in_use(s, partner_id, mode, provider, name, None):
                name = f"{DEFAULT_NAME}-{new_id()[:8]}"
            conn = TelephonyConnection(
                id=new_id(),
                partner_id=partner_id,
                provider=provider,
                mode=mode,
                name=name,
                status="ACTIVE",
                is_default=True,
                created_at=now,
                updated_at=now,
            )
            _seal(ctx, conn, creds)
            await store.add(s, conn)
        else:
            _seal(ctx, conn, creds)
            conn.status = "ACTIVE"
            conn.updated_at = now
            await store.flush(s)
        return conn


async def create(
    ctx: Context, owner: Principal, provider: str, name: str, is_default: bool | None, fields: dict[str, Any]
) -> TelephonyConnection:
    creds = validate_credentials(provider, fields)
    partner_id, mode = owner.partner_id, owner.mode
    now = utcnow()
    async with ctx.db.transaction() as s:
        await _check_allowed(s, partner_id, provider)
        if await store.name_in_use(s, partner_id, mode, provider, name, None):
            raise errors.ConnectionNameTaken(f"A {provider} connection named {name!r} already exists.")
        first = await store.default_for(s, partner_id, mode, provider) is None
        conn = TelephonyConnection(
            id=new_id(),
            partner_id=partner_id,
            provider=provider,
            mode=mode,
            name=name,
            status="ACTIVE",
            is_default=bool(is_default) or first,
            created_at=now,
            updated_at=now,
        )
        _seal(ctx, conn, creds)
        await store.add(s, conn)
        if conn.is_default and not first:
            await store.clear_default(s, partner_id, mode, provider, conn.id)
        return conn


async def get(ctx: Context, owner: Principal, connection_id: str) -> TelephonyConnection:
    async with ctx.db.transaction() as s:
        return await _require(s, owner, connection_id)


async def list_for(ctx: Context, owner: Principal, provider: str | None) -> list[TelephonyConnection]:
    async with ctx.db.transaction() as s:
        return await store.for_partner(s, owner.partner_id, owner.mode, provider)


async def patch(
    ctx: Context,
    owner: Principal,
    connection_id: str,
    *,
    name: str | None,
    status: str | None,
    is_default: bool | None,
    fields: dict[str, Any],
) -> TelephonyConnection:
    partner_id, mode = owner.partner_id, owner.mode
    async with ctx.db.transaction() as s:
        conn = await _require(s, owner, connection_id)
        if fields:
            merged = {**_stored_fields(ctx, conn), **fields}
            _seal(ctx, conn, validate_credentials(conn.provider, merged))
        if name is not None and name != conn.name:
            if await store.name_in_use(s, partner_id, mode, conn.provider, name, conn.id):
                raise errors.ConnectionNameTaken(f"A {conn.provider} connection named {name!r} already exists.")
            conn.name = name
        if status is not None:
            conn.status = status
        if is_default:
            conn.is_default = True
            await store.clear_default(s, partner_id, mode, conn.provider, conn.id)
        elif is_default is False and conn.is_default:
            conn.is_default = False
        conn.updated_at = utcnow()
        await store.flush(s)
        return conn


async def delete(ctx: Context, owner: Principal, connection_id: str) -> None:
    async with ctx.db.transaction() as s:
        conn = await _require(s, owner, connection_id)
        if await call_store.has_active_on_connection(s, conn.id, [st.value for st in ACTIVE_STATUSES]):
            raise errors.ConnectionInUse("This connection has calls in progress; delete it when they end.")
        await store.delete(s, conn)


async def _require(s, owner: Principal, connection_id: str) -> TelephonyConnection:  # noqa: ANN001
    """The key's own connection; another partner's or the other mode's is simply not found."""
    conn = await store.get(s, owner.partner_id, owner.mode, connection_id) if is_uuid(connection_id) else None
    if conn is None:
        raise errors.ConnectionNotFound()
    return conn
