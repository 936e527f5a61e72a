"""Delivery history of an endpoint, and sending one again on request (after a fix on the receiver's side)."""

from __future__ import annotations

from typing import Any

from voxline.context import Context
from voxline.core import errors
from voxline.core.ids import is_uuid
from voxline.core.keys import TEST
from voxline.core.principal import Principal
from voxline.core.timefmt import iso, utcnow
from voxline.store import webhooks as store
from voxline.store.webhook_tables import WebhookDelivery
from voxline.webhooks.endpoints import get as get_endpoint
from voxline.webhooks.worker import sandbox_error

STATUSES = (store.PENDING, store.DELIVERED, store.DEAD, store.CANCELED)


def view(delivery: WebhookDelivery, session_id: str, sandbox: bool = False) -> dict[str, Any]:
    pending = delivery.status == store.PENDING
    last_error = delivery.last_error
    if sandbox and last_error and delivery.status != store.CANCELED:  # rows written before the rule, too
        last_error = sandbox_error(delivery.last_status_code)
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "event": "session.completed",
        "session_id": session_id,
        "status": delivery.status,
        "attempts": delivery.total_attempts,
        "attempts_this_round": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": last_error,
        "last_attempt_at": iso(delivery.last_attempt_at),
        "next_attempt_at": iso(delivery.next_attempt_at) if pending else None,
        "delivered_at": iso(delivery.delivered_at),
        "created_at": iso(delivery.created_at),
        "updated_at": iso(delivery.updated_at),
    }


async def page(
    ctx: Context, owner: Principal, endpoint_id: str, status: str | None, limit: int, offset: int
) -> dict[str, Any]:
    endpoint = await get_endpoint(ctx, owner, endpoint_id)
    async with ctx.db.transaction() as s:
        rows, total = await store.page_deliveries(s, endpoint.id, status, limit, offset)
    sandbox = endpoint.mode == TEST
    return {"deliveries": [view(d, sid, sandbox) for d, sid in rows], "total": total, "limit": limit, "offset": offset}


async def redeliver(ctx: Context, owner: Principal, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
    """Queue a finished (delivered, dead or canceled) delivery for a fresh round of attempts."""
    endpoint = await get_endpoint(ctx, owner, endpoint_id)
    now = utcnow()
    async with ctx.db.transaction() as s:
        found = (
            await store.get_delivery(s, endpoint.partner_id, endpoint.id, delivery_id) if is_uuid(delivery_id) else None
        )
        if found is None:
            raise errors.WebhookDeliveryNotFound()
        delivery, session_id = found
        if delivery.status == store.PENDING:
            raise errors.WebhookDeliveryPending()
        delivery.status = store.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = now
        delivery.claim_token = None
        delivery.updated_at = now
        await store.flush(s)
    ctx.outbox.wake()
    return view(delivery, session_id, endpoint.mode == TEST)


async def for_session(ctx: Context, owner: Principal, session_id: str) -> list[dict[str, Any]]:
    """The deliveries of one session's events to the owner's endpoints of its mode, oldest first, each with
    its endpoint's label (the session itself must already have been found for this owner)."""
    if not is_uuid(session_id):
        return []
    async with ctx.db.transaction() as s:
        rows = await store.deliveries_for_session(s, owner.partner_id, owner.mode, session_id)
    sandbox = owner.mode == TEST
    return [{**view(d, session_id, sandbox), "endpoint_label": label} for d, label in rows]
