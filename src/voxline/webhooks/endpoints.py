"""A partner's webhook endpoints: create, change, rotate, delete, and the legacy single-URL route.

The `whsec_` secret exists in clear only in the response that creates or rotates it; at rest it is sealed
with the deployment key, bound to the endpoint id. An endpoint belongs to the mode of the key that created
it: only keys of that mode see or change it, and it receives only that mode's events. Each mode has its own
`default` endpoint (the legacy route) and its own room of MAX_ENDPOINTS.
"""

from __future__ import annotations

import re
import time
from typing import Any

from voxline.context import Context
from voxline.core import errors
from voxline.core.ids import is_uuid, new_id
from voxline.core.principal import Principal
from voxline.core.timefmt import iso, utcnow
from voxline.store import partners as partner_store
from voxline.store import ratelimit as ratelimit_store
from voxline.store import webhooks as store
from voxline.store.db import Transaction
from voxline.store.errors import Conflict
from voxline.store.webhook_tables import WebhookEndpoint
from voxline.webhooks.signer import new_secret
from voxline.webhooks.urlguard import Policy, check_for_save

LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
DEFAULT_LABEL = "default"
MAX_ENDPOINTS = 5


def policy(ctx: Context, mode: str) -> Policy:
    return Policy(
        mode=mode,
        allow_http=ctx.settings.webhook_allow_http,
        allow_private=ctx.settings.webhook_allow_private_targets,
    )


def view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "label": endpoint.label,
        "url": endpoint.url,
        "enabled": endpoint.enabled,
        "last_delivery_at": iso(endpoint.last_delivery_at),
        "last_delivery_status": endpoint.last_delivery_status,
        "last_delivery_status_code": endpoint.last_status_code,
        "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
    }


def _context(endpoint_id: str) -> str:
    return f"webhook:{endpoint_id}"


def _seal(ctx: Context, endpoint: WebhookEndpoint, secret: str) -> None:
    endpoint.secret_enc = ctx.box.encrypt(secret.encode(), context=_context(endpoint.id))


def open_secret(ctx: Context, endpoint_id: str, secret_enc: str) -> str:
    """The clear secret, for signing; never for a response."""
    return ctx.box.decrypt(secret_enc, context=_context(endpoint_id)).decode()


def check_label(label: str) -> str:
    if not LABEL_PATTERN.match(label):
        raise errors.InvalidWebhookLabel(
            "label must be 1-31 lowercase letters, digits or hyphens, starting with a letter or digit."
        )
    if label == DEFAULT_LABEL:
        raise errors.ReservedWebhookLabel()
    return label


async def _require(s: Transaction, owner: Principal, endpoint_id: str) -> WebhookEndpoint:
    """The key's own endpoint; another partner's or the other mode's is simply not found."""
    endpoint = await store.get_endpoint(s, owner.partner_id, owner.mode, endpoint_id) if is_uuid(endpoint_id) else None
    if endpoint is None:
        raise errors.WebhookNotFound()
    return endpoint


async def _check_room(s: Transaction, owner: Principal) -> None:
    await partner_store.lock_partner(s, owner.partner_id)
    if await store.count_endpoints(s, owner.partner_id, owner.mode) >= MAX_ENDPOINTS:
        raise errors.WebhookLimitReached(
            f"This account already has {MAX_ENDPOINTS} webhook endpoints; delete one before adding another."
        )


URL_CHANGE_WINDOW_SECS = 60


async def _count_url_change(ctx: Context, partner_id: str) -> None:
    """Creating or re-pointing an endpoint is rate-limited per partner: each new URL gets posts whose outcome
    the history shows, so a fast stream of them would probe whatever the URLs may reach."""
    now = time.time()
    window = int(now // URL_CHANGE_WINDOW_SECS)
    async with ctx.db.transaction() as s:
        count = await ratelimit_store.hit(s, f"{partner_id}:webhook-url", window)
    limit = ctx.settings.webhook_url_changes_per_min
    if count > limit:
        retry = max(1, int((window + 1) * URL_CHANGE_WINDOW_SECS - now + 0.999))
        raise errors.RateLimited(
            f"At most {limit} webhook endpoints may be created or given a new url per minute; retry in {retry} s.",
            headers={"Retry-After": str(retry)},
        )


async def create(
    ctx: Context, principal: Principal, label: str, url: str, enabled: bool = True
) -> tuple[WebhookEndpoint, str]:
    check_label(label)
    await _count_url_change(ctx, principal.partner_id)
    await check_for_save(url, policy(ctx, principal.mode))
    secret = new_secret()
    now = utcnow()
    endpoint = WebhookEndpoint(
        id=new_id(),
        partner_id=principal.partner_id,
        label=label,
        url=url,
        enabled=enabled,
        mode=principal.mode,
        created_at=now,
        updated_at=now,
    )
    _seal(ctx, endpoint, secret)
    try:
        async with ctx.db.transaction() as s:
            await _check_room(s, principal)
            if await store.get_endpoint_by_label(s, principal.partner_id, principal.mode, label) is not None:
                raise errors.WebhookLabelTaken(f"A webhook endpoint labelled {label!r} already exists.")
            await store.add_endpoint(s, endpoint)
    except Conflict:
        raise errors.WebhookLabelTaken(f"A webhook endpoint labelled {label!r} already exists.") from None
    return endpoint, secret


async def list_for(ctx: Context, owner: Principal) -> list[WebhookEndpoint]:
    async with ctx.db.transaction() as s:
        return await store.list_endpoints(s, owner.partner_id, owner.mode)


async def get(ctx: Context, owner: Principal, endpoint_id: str) -> WebhookEndpoint:
    async with ctx.db.transaction() as s:
        return await _require(s, owner, endpoint_id)


async def update(
    ctx: Context, principal: Principal, endpoint_id: str, *, url: str | None = None, enabled: bool | None = None
) -> WebhookEndpoint:
    """Change the URL and/or switch the endpoint on or off; switching off cancels its pending deliveries."""
    if url is not None:
        await _count_url_change(ctx, principal.partner_id)
        await check_for_save(url, policy(ctx, principal.mode))
    now = utcnow()
    async with ctx.db.transaction() as s:
        endpoint = await _require(s, principal, endpoint_id)
        if url is not None:
            endpoint.url = url
        if enabled is not None:
            if endpoint.enabled and not enabled:
                await store.cancel_pending(s, endpoint.id, now, "endpoint disabled")
            endpoint.enabled = enabled
        endpoint.updated_at = now
        await store.flush(s)
    if enabled:
        ctx.outbox.wake()
    return endpoint


async def delete(ctx: Context, owner: Principal, endpoint_id: str) -> None:
    async with ctx.db.transaction() as s:
        endpoint = await _require(s, owner, endpoint_id)
        await store.delete_endpoint(s, endpoint)


async def rotate_secret(ctx: Context, owner: Principal, endpoint_id: str) -> tuple[WebhookEndpoint, str]:
    """A new secret signs every post from now on, retries of older events included; the old one stops at once."""
    secret = new_secret()
    async with ctx.db.transaction() as s:
        endpoint = await _require(s, owner, endpoint_id)
        _seal(ctx, endpoint, secret)
        endpoint.updated_at = utcnow()
        await store.flush(s)
    return endpoint, secret


async def put_legacy(ctx: Context, principal: Principal, url: str) -> tuple[WebhookEndpoint, str]:
    """PUT /config/webhook: create or replace the key's mode's `default` endpoint; always issues a new secret."""
    await _count_url_change(ctx, principal.partner_id)
    await check_for_save(url, policy(ctx, principal.mode))
    secret = new_secret()
    now = utcnow()
    try:
        async with ctx.db.transaction() as s:
            await partner_store.lock_partner(s, principal.partner_id)
            endpoint = await store.get_endpoint_by_label(s, principal.partner_id, principal.mode, DEFAULT_LABEL)
            if endpoint is None:
                await _check_room(s, principal)
                endpoint = WebhookEndpoint(
                    id=new_id(),
                    partner_id=principal.partner_id,
                    label=DEFAULT_LABEL,
                    url=url,
                    enabled=True,
                    mode=principal.mode,
                    created_at=now,
                    updated_at=now,
                )
                _seal(ctx, endpoint, secret)
                await store.add_endpoint(s, endpoint)
            else:
                endpoint.url = url
                endpoint.enabled = True
                endpoint.updated_at = now
                _seal(ctx, endpoint, secret)
                await store.flush(s)
    except Conflict:
        raise errors.WebhookLabelTaken("The default webhook endpoint was being changed concurrently; retry.") from None
    ctx.outbox.wake()
    return endpoint, secret


async def config_state(ctx: Context, owner: Principal) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`webhook` (the legacy default endpoint) and `webhooks` (all of them) of the key's mode for GET /config;
    no secrets."""
    endpoints = await list_for(ctx, owner)
    default = next((e for e in endpoints if e.label == DEFAULT_LABEL), None)
    legacy = {
        "configured": default is not None and default.enabled,
        "url": default.url if default else None,
        "secret": None,
    }
    return legacy, [view(e) for e in endpoints]
