"""The outbox: turn a session event into one delivery row per enabled endpoint, inside the caller's
transaction, and get the posts going as soon as that transaction commits.

When the app's delivery worker runs and has room, the rows are written already leased to it and handed
over in memory at commit, so the first post needs no further query; if this process dies first, the lease
runs out and any worker takes them. Otherwise the rows are written due now, and the caller's
`signals.wake()` nudges the app's worker (other processes find them on their next poll).
"""

from __future__ import annotations

from datetime import timedelta

from voxline.app_state import OutboxSignals, Taker
from voxline.core.ids import new_id
from voxline.store import webhooks as store
from voxline.store.db import Transaction, after_commit
from voxline.store.models import SessionEvent
from voxline.store.webhook_tables import WebhookDelivery
from voxline.store.webhooks import ClaimedDelivery


async def enqueue(signals: OutboxSignals, s: Transaction, event: SessionEvent) -> int:
    """Add the deliveries of `event` in the open transaction `s`; returns how many endpoints will get it.
    Only endpoints of the event's mode get it: a live session's transcript never reaches a test endpoint.

    `s` must be a transaction on the database of the app whose `signals` these are: its worker is handed
    the rows."""
    endpoints = await store.enabled_endpoints(s, event.partner_id, event.mode)
    if not endpoints:
        return 0
    now = event.created_at
    taker = signals.taker
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
            ClaimedDelivery(
                row.id,
                endpoint_id,
                event.partner_id,
                0,
                url,
                mode,
                secret_enc,
                event.id,
                event.event_type,
                event.payload,
            )
            for row, (endpoint_id, url, mode, secret_enc) in zip(rows, endpoints, strict=True)
        ]

        def hand_over(taker: Taker = taker, token: str = token) -> None:
            taker.take(items, token)

        # Only once the rows are durable; on rollback they never existed and nothing is handed over.
        after_commit(s, hand_over)
    return len(rows)
