"""The outbox: turn a session event into one delivery row per enabled endpoint, inside the caller's
transaction, and nudge this process's worker so the post goes out without waiting for the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.ext.asyncio import AsyncSession

from voxline.core.ids import new_id
from voxline.store import webhooks as store
from voxline.store.models import SessionEvent
from voxline.store.webhook_tables import WebhookDelivery

_listeners: set[asyncio.Event] = set()


async def enqueue(s: AsyncSession, event: SessionEvent) -> int:
    """Add the deliveries of `event` in the open transaction `s`; returns how many endpoints will get it."""
    endpoint_ids = await store.enabled_endpoint_ids(s, event.partner_id)
    if not endpoint_ids:
        return 0
    now = event.created_at
    await store.add_deliveries(
        s,
        [
            WebhookDelivery(
                id=new_id(),
                partner_id=event.partner_id,
                endpoint_id=endpoint_id,
                event_id=event.id,
                status=store.PENDING,
                attempts=0,
                total_attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            for endpoint_id in endpoint_ids
        ],
    )
    return len(endpoint_ids)


def listen() -> asyncio.Event:
    """A worker's wake-up flag; set by wake() after new deliveries commit."""
    flag = asyncio.Event()
    _listeners.add(flag)
    return flag


def unlisten(flag: asyncio.Event) -> None:
    _listeners.discard(flag)


def wake() -> None:
    """Call after committing deliveries. Workers in other processes find them on their next poll."""
    for flag in list(_listeners):
        with contextlib.suppress(RuntimeError):  # a flag from a loop that has closed
            flag.set()
