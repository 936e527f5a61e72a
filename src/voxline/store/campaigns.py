"""Campaigns, their contacts and attempts in SQL. Claims are safe across processes as the dial queue's are:
PostgreSQL takes due contacts FOR UPDATE SKIP LOCKED; SQLite runs one writer at a time (BEGIN IMMEDIATE)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.core.call_status import TERMINAL_STATUSES
from voxline.core.campaign_rules import CALLING, OPEN, RUNNING, WAITING
from voxline.store.campaign_tables import Campaign, CampaignAttempt, CampaignContact, DncEntry
from voxline.store.models import Call, Partner, Session, SessionEvent

_TERMINAL = [s.value for s in TERMINAL_STATUSES]


class AttemptTaken(Exception):
    """This contact's attempt n was already reserved (by another process): never dial it twice."""


def _pg(s: AsyncSession) -> bool:
    return s.bind.dialect.name == "postgresql"


async def add_campaign(s: AsyncSession, row: Campaign) -> None:
    s.add(row)
    await s.flush()


async def get(s: AsyncSession, partner_id: str, mode: str, campaign_id: str, *, lock: bool = False) -> Campaign | None:
    stmt = select(Campaign).where(Campaign.id == campaign_id, Campaign.partner_id == partner_id, Campaign.mode == mode)
    if lock and _pg(s):
        stmt = stmt.with_for_update()
    return (await s.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def page(s: AsyncSession, partner_id: str, mode: str, limit: int, offset: int) -> tuple[list[Campaign], int]:
    where = (Campaign.partner_id == partner_id, Campaign.mode == mode)
    total = (await s.execute(select(func.count()).select_from(Campaign).where(*where))).scalar_one()
    stmt = select(Campaign).where(*where).order_by(Campaign.created_at.desc(), Campaign.id).limit(limit).offset(offset)
    return list((await s.execute(stmt)).scalars()), total


async def counts(s: AsyncSession, campaign_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Contacts per status, per campaign."""
    if not campaign_ids:
        return {}
    stmt = (
        select(CampaignContact.campaign_id, CampaignContact.status, func.count())
        .where(CampaignContact.campaign_id.in_(list(campaign_ids)))
        .group_by(CampaignContact.campaign_id, CampaignContact.status)
    )
    out: dict[str, dict[str, int]] = {cid: {} for cid in campaign_ids}
    for cid, status, n in (await s.execute(stmt)).all():
        out[cid][status] = n
    return out


async def phones_in(s: AsyncSession, campaign_id: str, phones: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(phones), 500):
        stmt = select(CampaignContact.phone).where(
            CampaignContact.campaign_id == campaign_id, CampaignContact.phone.in_(list(phones[start : start + 500]))
        )
        found.update((await s.execute(stmt)).scalars())
    return found


async def phones_elsewhere(
    s: AsyncSession, partner_id: str, mode: str, campaign_id: str, phones: Sequence[str]
) -> set[str]:
    """Numbers the partner already has as contacts of its other campaigns (its existing contacts)."""
    found: set[str] = set()
    for start in range(0, len(phones), 500):
        stmt = (
            select(CampaignContact.phone)
            .where(
                CampaignContact.partner_id == partner_id,
                CampaignContact.mode == mode,
                CampaignContact.campaign_id != campaign_id,
                CampaignContact.phone.in_(list(phones[start : start + 500])),
            )
            .distinct()
        )
        found.update((await s.execute(stmt)).scalars())
    return found


async def add_contacts(s: AsyncSession, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 1000):
        await s.execute(CampaignContact.__table__.insert(), rows[start : start + 1000])


async def contacts_page(
    s: AsyncSession, campaign_id: str, status: str | None, limit: int, offset: int
) -> tuple[list[CampaignContact], int]:
    where = [CampaignContact.campaign_id == campaign_id]
    if status:
        where.append(CampaignContact.status == status)
    total = (await s.execute(select(func.count()).select_from(CampaignContact).where(*where))).scalar_one()
    stmt = (
        select(CampaignContact)
        .where(*where)
        .order_by(CampaignContact.created_at, CampaignContact.id)
        .limit(limit)
        .offset(offset)
    )
    return list((await s.execute(stmt)).scalars()), total


async def attempts_for(s: AsyncSession, contact_ids: Sequence[str]) -> dict[str, list[CampaignAttempt]]:
    out: dict[str, list[CampaignAttempt]] = {cid: [] for cid in contact_ids}
    for start in range(0, len(contact_ids), 500):
        stmt = (
            select(CampaignAttempt)
            .where(CampaignAttempt.contact_id.in_(list(contact_ids[start : start + 500])))
            .order_by(CampaignAttempt.contact_id, CampaignAttempt.attempt)
        )
        for row in (await s.execute(stmt)).scalars():
            out[row.contact_id].append(row)
    return out


async def drop_open(s: AsyncSession, campaign_id: str, status: str, now: datetime) -> None:
    """Canceling: waiting contacts are dropped (calls already placed run to their end)."""
    await s.execute(
        update(CampaignContact)
        .where(CampaignContact.campaign_id == campaign_id, CampaignContact.status == WAITING)
        .values(status=status, outcome="canceled", updated_at=now)
    )


# ---- the scheduler's queries -------------------------------------------------------------------------------
async def running(s: AsyncSession, now: datetime) -> list[Campaign]:
    """Running campaigns whose start time has come, least recently served first (fair share)."""
    stmt = (
        select(Campaign)
        .where(Campaign.status == RUNNING)
        .order_by(Campaign.last_dispatch_at.is_not(None), Campaign.last_dispatch_at, Campaign.id)
    )
    return list((await s.execute(stmt)).scalars())


async def in_flight(s: AsyncSession, campaign_ids: Sequence[str]) -> dict[str, int]:
    if not campaign_ids:
        return {}
    stmt = (
        select(CampaignContact.campaign_id, func.count())
        .where(CampaignContact.campaign_id.in_(list(campaign_ids)), CampaignContact.status == CALLING)
        .group_by(CampaignContact.campaign_id)
    )
    return {cid: n for cid, n in (await s.execute(stmt)).all()}


async def due_contacts(s: AsyncSession, campaign_id: str, now: datetime, limit: int) -> list[CampaignContact]:
    stmt = (
        select(CampaignContact)
        .where(
            CampaignContact.campaign_id == campaign_id,
            CampaignContact.status == WAITING,
            CampaignContact.next_attempt_at <= now,
        )
        .order_by(CampaignContact.next_attempt_at, CampaignContact.id)
        .limit(limit)
    )
    if _pg(s):
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await s.execute(stmt.execution_options(populate_existing=True))).scalars())


async def reserve_attempt(s: AsyncSession, row: CampaignAttempt) -> None:
    """Insert attempt n; raise AttemptTaken when it exists. A savepoint keeps the outer transaction usable."""
    try:
        async with s.begin_nested():
            s.add(row)
            await s.flush()
    except IntegrityError:
        raise AttemptTaken(row.contact_id) from None


async def attempt(s: AsyncSession, contact_id: str, number: int) -> CampaignAttempt | None:
    stmt = select(CampaignAttempt).where(CampaignAttempt.contact_id == contact_id, CampaignAttempt.attempt == number)
    return (await s.execute(stmt)).scalar_one_or_none()


async def forget_attempt(s: AsyncSession, contact_id: str, number: int) -> None:
    await s.execute(
        delete(CampaignAttempt).where(CampaignAttempt.contact_id == contact_id, CampaignAttempt.attempt == number)
    )


async def contact(s: AsyncSession, contact_id: str, *, lock: bool = False) -> CampaignContact | None:
    stmt = select(CampaignContact).where(CampaignContact.id == contact_id)
    if lock and _pg(s):
        stmt = stmt.with_for_update()
    return (await s.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def finished_calls(s: AsyncSession, limit: int = 200) -> list[tuple[CampaignContact, Call, bool]]:
    """Contacts whose current call has ended and whose session is filed (so a voicemail or an opt-out is
    known), with whether the callee opted out during that call."""
    opted = select(func.count()).select_from(DncEntry).where(DncEntry.call_id == Call.id).scalar_subquery()
    stmt = (
        select(CampaignContact, Call, opted)
        .join(Call, Call.id == CampaignContact.current_call_id)
        .join(Session, Session.id == Call.session_id)
        .where(CampaignContact.status == CALLING, Call.status.in_(_TERMINAL), Session.processing_complete.is_(True))
        .limit(limit)
    )
    if _pg(s):
        stmt = stmt.with_for_update(skip_locked=True, of=CampaignContact)
    return [(c, call, bool(n)) for c, call, n in (await s.execute(stmt)).all()]


async def stranded(s: AsyncSession, now: datetime, limit: int = 50) -> list[CampaignContact]:
    """Contacts a process reserved an attempt for and then died before recording its call."""
    stmt = (
        select(CampaignContact)
        .where(
            CampaignContact.status == CALLING,
            CampaignContact.current_call_id.is_(None),
            CampaignContact.claimed_until < now,
        )
        .limit(limit)
    )
    if _pg(s):
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await s.execute(stmt)).scalars())


async def finish_if_done(s: AsyncSession, campaign_id: str, now: datetime) -> bool:
    """Mark a running campaign completed when no contact is waiting or being called; True for the one winner."""
    still = (
        select(func.count())
        .select_from(CampaignContact)
        .where(CampaignContact.campaign_id == campaign_id, CampaignContact.status.in_(OPEN))
    )
    if (await s.execute(still)).scalar_one():
        return False
    result = await s.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == RUNNING)
        .values(status="completed", completed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def touch(s: AsyncSession, campaign_id: str, now: datetime) -> None:
    await s.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(last_dispatch_at=now)
        .execution_options(synchronize_session=False)
    )


async def export_rows(s: AsyncSession, campaign_id: str, after_id: str, limit: int) -> list[CampaignContact]:
    stmt = (
        select(CampaignContact)
        .where(CampaignContact.campaign_id == campaign_id, CampaignContact.id > after_id)
        .order_by(CampaignContact.id)
        .limit(limit)
    )
    return list((await s.execute(stmt)).scalars())


async def add_event(s: AsyncSession, event: SessionEvent) -> None:
    """A campaign's event (no session); once per campaign is the caller's conditional status change."""
    s.add(event)
    await s.flush()


async def by_id(s: AsyncSession, campaign_id: str) -> Campaign | None:
    return await s.get(Campaign, campaign_id)


async def partner_limits(s: AsyncSession, partner_id: str) -> tuple[int, int | None]:
    """The partner's (live, sandbox) concurrency limits, unlocked: the scheduler only estimates free lines;
    /calls/start's locked count is what enforces them."""
    stmt = select(Partner.concurrency_limit, Partner.sandbox_concurrency_limit).where(Partner.id == partner_id)
    live, sandbox = (await s.execute(stmt)).one()
    return live, sandbox


async def flush(s: AsyncSession) -> None:
    """Sessions do not autoflush: the next query for due contacts must see the ones just claimed or deferred."""
    await s.flush()
