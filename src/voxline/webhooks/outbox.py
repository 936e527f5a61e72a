"""The outbox: turn a session event into one delivery row per enabled endpoint, inside the caller's
transaction, and get the posts going as soon as that transaction commits.

When a delivery worker runs in this process on the same database and has room, the rows are written
already leased to it and handed over in memory at commit, so the first post needs no further query; if
this process dies first, the lease runs out and any worker takes them. Otherwise the rows are written due
now, and wake() nudges the local worker (other processes find them on their next poll).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Protocol

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.core.ids import new_id
from voxline.store import webhooks as store
from voxline.store.models import SessionEvent
from voxline.store.webhook_tables import WebhookDelivery
from voxline.store.webhooks import ClaimedDelivery

_listeners: set[asyncio.Event] = set()


class Taker(Protocol):
    """A running worker that accepts deliveries straight from a committing transaction."""

    def lease_secs(self) -> float: ...

    def has_room_for(self, count: int) -> bool: ...

    def take(self, items: list[ClaimedDelivery], token: str) -> None: ...


_takers: dict[int, Taker] = {}


def register(engine: object, taker: Taker) -> None:
    """`engine`: the sync Engine behind the worker's database; transactions on it may hand over to `taker`."""
    _takers[id(engine)] = taker


def unregister(engine: object, taker: Taker) -> None:
    if _takers.get(id(engine)) is taker:
        del _takers[id(engine)]


async def enqueue(s: AsyncSession, event: SessionEvent) -> int:
    """Add the deliveries of `event` in the open transaction `s`; returns how many endpoints will get it.
    Only endpoints of the event's mode get it: a live session's transcript never reaches a test endpoint."""
    endpoints = await store.enabled_endpoints(s, event.partner_id, event.mode)
    if not endpoints:
        return 0
    now = event.created_at
    taker = _takers.get(id(s.get_bind()))
    token: str | None = None
    due = now
    if taker is not None and taker.has_room_for(len(endpoints)):
        token = new_id()
        due = now + timedelta(seconds=taker.lease_secs())
    rows = [
        WebhookDelivery(
            id=new_id(),
            partner_id=event.partner_id,
            endpoint_id=endpoint_id,
            event_id=event.id,
            status=store.PENDING,
            attempts=0,
            total_attempts=0,
            next_attempt_at=due,
            claim_token=token,
            created_at=now,
            updated_at=now,
        )
        for endpoint_id, _url, _mode, _secret in endpoints
    ]
    await store.add_deliveries(s, rows)
    if taker is not None and token is not None:
        items = [
            ClaimedDelivery(row.id, endpoint_id, event.partner_id, 0, url, mode, secret_enc, event.id,
                            event.event_type, event.payload)
            for row, (endpoint_id, url, mode, secret_enc) in zip(rows, endpoints, strict=True)
        ]

        def hand_over(_session: object, taker: Taker = taker, token: str = token) -> None:
            taker.take(items, token)

        # Only once the rows are durable; on rollback they never existed and nothing is handed over.
        sa_event.listen(s.sync_session, "after_commit", hand_over, once=True)
    return len(rows)


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
