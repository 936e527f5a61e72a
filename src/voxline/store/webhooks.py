"""Webhook endpoints and the delivery outbox: every SQL statement the webhooks feature needs.

An endpoint belongs to one mode (that of the key that created it): keys find only their own mode's
endpoints, and an event is delivered only to endpoints of its session's mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.errors import conflicts
from voxline.store.models import SessionEvent
from voxline.store.webhook_tables import WebhookDelivery, WebhookEndpoint

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
CANCELED = "canceled"


# ---- endpoints ----
async def add_endpoint(s: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """Raises `Conflict` when the partner's mode already has an endpoint with the label."""
    s.add(endpoint)
    with conflicts():
        await s.flush()


def _mine(partner_id: str, mode: str):  # noqa: ANN202
    return (WebhookEndpoint.partner_id == partner_id, WebhookEndpoint.mode == mode)


async def count_endpoints(s: AsyncSession, partner_id: str, mode: str) -> int:
    stmt = select(func.count()).select_from(WebhookEndpoint).where(*_mine(partner_id, mode))
    return (await s.execute(stmt)).scalar_one()


async def get_endpoint(s: AsyncSession, partner_id: str, mode: str, endpoint_id: str) -> WebhookEndpoint | None:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, *_mine(partner_id, mode))
    return (await s.execute(stmt)).scalar_one_or_none()


async def get_endpoint_by_label(s: AsyncSession, partner_id: str, mode: str, label: str) -> WebhookEndpoint | None:
    stmt = select(WebhookEndpoint).where(*_mine(partner_id, mode), WebhookEndpoint.label == label)
    return (await s.execute(stmt)).scalar_one_or_none()


async def list_endpoints(s: AsyncSession, partner_id: str, mode: str) -> list[WebhookEndpoint]:
    order = (WebhookEndpoint.created_at, WebhookEndpoint.id)
    stmt = select(WebhookEndpoint).where(*_mine(partner_id, mode)).order_by(*order)
    return list((await s.execute(stmt)).scalars())


async def delete_endpoint(s: AsyncSession, endpoint: WebhookEndpoint) -> None:
    # Deliveries go with their endpoint (explicitly, so it holds even where FK cascades are off).
    await s.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    await s.delete(endpoint)
    await s.flush()


async def cancel_pending(s: AsyncSession, endpoint_id: str, now: datetime, reason: str) -> int:
    stmt = (
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == PENDING)
        .values(status=CANCELED, last_error=reason, claim_token=None, updated_at=now)
    )
    return (await s.execute(stmt)).rowcount or 0


async def flush(s: AsyncSession) -> None:
    with conflicts():
        await s.flush()


# ---- the outbox ----
async def enabled_endpoints(s: AsyncSession, partner_id: str, mode: str) -> list[tuple[str, str, str, str]]:
    """(id, url, mode, secret_enc) of the partner's enabled endpoints of one mode: what posting needs, in one
    read. A live event never goes to a test endpoint (which may be plain http on loopback), nor the reverse."""
    stmt = select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.mode, WebhookEndpoint.secret_enc).where(
        *_mine(partner_id, mode), WebhookEndpoint.enabled.is_(True)
    )
    return [(row[0], row[1], row[2], row[3]) for row in await s.execute(stmt)]


async def add_deliveries(s: AsyncSession, deliveries: Sequence[WebhookDelivery]) -> None:
    s.add_all(deliveries)
    await s.flush()


@dataclass(frozen=True)
class ClaimedDelivery:
    """Everything a worker needs to post one delivery without another query."""

    id: str
    endpoint_id: str
    partner_id: str
    attempts: int
    url: str
    mode: str
    secret_enc: str
    event_id: str
    event_type: str
    payload: dict[str, Any]


async def due_candidates(
    s: AsyncSession, *, now: datetime, limit: int, skip_endpoints: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """(delivery id, endpoint id) of due deliveries of enabled endpoints, oldest first, locked for this
    transaction. On PostgreSQL FOR UPDATE SKIP LOCKED lets any number of workers pick side by side without
    waiting or picking the same row; on SQLite the write transaction is already exclusive.
    """
    due = (
        select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    skip = list(skip_endpoints)
    if skip:
        due = due.where(WebhookDelivery.endpoint_id.not_in(skip))
    return [(row[0], row[1]) for row in await s.execute(due)]


async def lease(s: AsyncSession, ids: Sequence[str], *, lease_until: datetime, token: str) -> list[ClaimedDelivery]:
    """Claim the picked deliveries until `lease_until` and return what posting them needs."""
    if not ids:
        return []
    await s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(list(ids)))
        .values(next_attempt_at=lease_until, claim_token=token)
        .execution_options(synchronize_session=False)
    )
    rows = await s.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.endpoint_id,
            WebhookDelivery.partner_id,
            WebhookDelivery.attempts,
            WebhookEndpoint.url,
            WebhookEndpoint.mode,
            WebhookEndpoint.secret_enc,
            SessionEvent.id,
            SessionEvent.event_type,
            SessionEvent.payload,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(SessionEvent, SessionEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(list(ids)))
        .order_by(WebhookDelivery.next_attempt_at)
    )
    return [ClaimedDelivery(*row) for row in rows]


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt, written back in batches."""

    delivery_id: str
    endpoint_id: str
    token: str
    status: str
    attempts: int
    next_attempt_at: datetime
    attempted_at: datetime
    status_code: int | None
    error: str | None
    worker: str


_outcome_update = (
    update(WebhookDelivery.__table__)
    .where(
        WebhookDelivery.__table__.c.id == bindparam("b_id"),
        WebhookDelivery.__table__.c.claim_token == bindparam("b_token"),
    )
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        total_attempts=WebhookDelivery.__table__.c.total_attempts + 1,
        next_attempt_at=bindparam("b_next"),
        last_attempt_at=bindparam("b_at"),
        last_status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        delivered_at=bindparam("b_delivered_at"),
        delivered_by=bindparam("b_by"),
        claim_token=None,
        updated_at=bindparam("b_at"),
    )
)

_endpoint_update = (
    update(WebhookEndpoint.__table__)
    .where(WebhookEndpoint.__table__.c.id == bindparam("b_id"))
    .values(
        last_delivery_at=bindparam("b_at"),
        last_delivery_status=bindparam("b_status"),
        last_status_code=bindparam("b_code"),
    )
)


async def record_outcomes(s: AsyncSession, outcomes: Sequence[Outcome]) -> None:
    """Write attempt results; a row whose lease was taken over by another worker (token changed) is left alone."""
    if not outcomes:
        return
    await s.execute(
        _outcome_update,
        [
            {
                "b_id": o.delivery_id,
                "b_token": o.token,
                "b_status": o.status,
                "b_attempts": o.attempts,
                "b_next": o.next_attempt_at,
                "b_at": o.attempted_at,
                "b_code": o.status_code,
                "b_error": o.error,
                "b_delivered_at": o.attempted_at if o.status == DELIVERED else None,
                "b_by": o.worker if o.status == DELIVERED else None,
            }
            for o in outcomes
        ],
    )
    latest: dict[str, Outcome] = {}
    for o in outcomes:
        if o.endpoint_id not in latest or latest[o.endpoint_id].attempted_at <= o.attempted_at:
            latest[o.endpoint_id] = o
    await s.execute(
        _endpoint_update,
        [
            {
                "b_id": o.endpoint_id,
                "b_at": o.attempted_at,
                "b_status": "success" if o.status == DELIVERED else "failed",
                "b_code": o.status_code,
            }
            for o in latest.values()
        ],
    )


async def release(s: AsyncSession, delivery_ids: Sequence[str], token: str, now: datetime) -> None:
    """Hand back claimed rows that were never attempted (shutdown), so the next worker takes them at once."""
    if not delivery_ids:
        return
    await s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(list(delivery_ids)), WebhookDelivery.claim_token == token)
        .values(next_attempt_at=now, claim_token=None)
        .execution_options(synchronize_session=False)
    )


# ---- history ----
async def purge_finished(s: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to `limit` finished deliveries last touched before `before` (pending ones are never touched)."""
    old = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status.in_([DELIVERED, DEAD, CANCELED]), WebhookDelivery.updated_at < before)
        .limit(limit)
    )
    ids = list((await s.execute(old)).scalars())
    if not ids:
        return 0
    await s.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return len(ids)


async def page_deliveries(
    s: AsyncSession, endpoint_id: str, status: str | None, limit: int, offset: int
) -> tuple[list[tuple[WebhookDelivery, str | None]], int]:
    """An endpoint's deliveries, newest first, each with its event's session id."""
    conditions = [WebhookDelivery.endpoint_id == endpoint_id]
    if status:
        conditions.append(WebhookDelivery.status == status)
    total = (await s.execute(select(func.count()).select_from(WebhookDelivery).where(*conditions))).scalar_one()
    stmt = (
        select(WebhookDelivery, SessionEvent.session_id)
        .join(SessionEvent, SessionEvent.id == WebhookDelivery.event_id)
        .where(*conditions)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [(d, sid) for d, sid in (await s.execute(stmt)).all()], total


async def get_delivery(
    s: AsyncSession, partner_id: str, endpoint_id: str, delivery_id: str
) -> tuple[WebhookDelivery, str | None] | None:
    stmt = (
        select(WebhookDelivery, SessionEvent.session_id)
        .join(SessionEvent, SessionEvent.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.partner_id == partner_id,
        )
    )
    row = (await s.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def deliveries_for_event(s: AsyncSession, event_id: str) -> list[WebhookDelivery]:
    stmt = select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
    return list((await s.execute(stmt)).scalars())


async def backlog(s: AsyncSession) -> tuple[int, datetime | None]:
    """Deliveries not yet delivered (all partners) and the oldest one's creation time."""
    stmt = select(func.count(), func.min(WebhookDelivery.created_at)).where(WebhookDelivery.status == PENDING)
    count, oldest = (await s.execute(stmt)).one()
    return int(count), oldest


async def deliveries_for_session(
    s: AsyncSession, partner_id: str, mode: str, session_id: str
) -> list[tuple[WebhookDelivery, str]]:
    """Every delivery of a session's events to the partner's endpoints of that mode, with the endpoint's label."""
    stmt = (
        select(WebhookDelivery, WebhookEndpoint.label)
        .join(SessionEvent, SessionEvent.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            SessionEvent.session_id == session_id,
            SessionEvent.partner_id == partner_id,
            WebhookDelivery.partner_id == partner_id,
            WebhookEndpoint.mode == mode,
        )
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
    )
    return [(d, label) for d, label in (await s.execute(stmt)).all()]
