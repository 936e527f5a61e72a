"""The dial queue in SQL: claiming jobs, pacing connections, leases on live calls, a call's one media
stream, finding the stuck ones.

Job statuses: queued → dialing (claimed, create-call request in flight) → live (the carrier has the call)
→ done | failed | canceled. A queued job may also go back to queued (retry after a transient error).

Claims are safe across processes: PostgreSQL takes the job with FOR UPDATE SKIP LOCKED and then locks
its connection row (pacing) and partner row (concurrency); SQLite opens every transaction with
BEGIN IMMEDIATE, so one claimer at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.core.call_limits import concurrency_limit
from voxline.core.call_status import TERMINAL_STATUSES
from voxline.core.timefmt import utcnow
from voxline.store.models import Agent, Call, DialJob, Partner, Session, TelephonyConnection

QUEUED, DIALING, LIVE, DONE, FAILED, CANCELED = "queued", "dialing", "live", "done", "failed", "canceled"
HELD = (DIALING, LIVE)  # jobs that hold one of the partner's concurrent lines


@dataclass
class Claimed:
    job: DialJob
    call: Call
    connection: TelephonyConnection
    partner: Partner
    agent: Agent | None
    token: str = ""  # the call's callback token in clear, for its URLs: the row keeps only its hash


def _pg(s: AsyncSession) -> bool:
    return s.bind.dialect.name == "postgresql"


async def claim_batch(
    s: AsyncSession,
    *,
    worker_id: str,
    now: datetime,
    lease_secs: float,
    cps_for: Callable[[TelephonyConnection], float],
    new_token: Callable[[], tuple[str, str]],
    sandbox_concurrency: int,
    limit: int = 1,
    horizon_secs: float = 0.0,
    scan: int = 64,
) -> list[Claimed]:
    """Take up to `limit` jobs that may be dialed soon: due, under their partner's concurrency limit for the
    call's mode (sandbox and live lines are counted apart; `sandbox_concurrency` is the deployment's sandbox
    default), each given its connection's next pacing slot (`call.dialed_at`) no more than `horizon_secs`
    ahead. The caller sends each create-call request at its slot, so one transaction can pace many dials."""
    horizon = timedelta(seconds=horizon_secs)
    stmt = (
        select(DialJob)
        .join(TelephonyConnection, TelephonyConnection.id == DialJob.connection_id)
        .where(
            DialJob.status == QUEUED,
            DialJob.available_at <= now,
            (TelephonyConnection.next_dial_at.is_(None)) | (TelephonyConnection.next_dial_at <= now + horizon),
        )
        .order_by(DialJob.available_at, DialJob.id)
        .limit(scan)
    )
    if _pg(s):
        stmt = stmt.with_for_update(skip_locked=True, of=DialJob)
    candidates = list((await s.execute(stmt)).scalars())
    claimed: list[Claimed] = []
    conns: dict[str, TelephonyConnection | None] = {}
    partners: dict[str, Partner | None] = {}
    lines: dict[tuple[str, str], tuple[int, int]] = {}  # (partner, mode) -> (limit, held)
    for job in candidates:
        if len(claimed) >= limit:
            break
        if job.connection_id not in conns:
            conns[job.connection_id] = await _locked(s, TelephonyConnection, job.connection_id)
            # The clock read with the lock held: a time taken before waiting for it would let two
            # processes' dials land closer together than the pacing allows.
            now = max(now, utcnow())
        conn = conns[job.connection_id]
        if conn is None or (conn.next_dial_at is not None and conn.next_dial_at > now + horizon):
            continue  # this connection's slots are taken (by us in this batch, or by another process)
        if job.partner_id not in partners:
            partners[job.partner_id] = await _locked(s, Partner, job.partner_id)
        partner = partners[job.partner_id]
        if partner is None:
            continue
        key = (job.partner_id, job.mode)
        if key not in lines:
            cap = concurrency_limit(
                job.mode, partner.concurrency_limit, partner.sandbox_concurrency_limit, sandbox_concurrency
            )
            lines[key] = (cap, await count_held(s, job.partner_id, job.mode))
        cap, held = lines[key]
        if held >= cap:
            continue
        call = await s.get(Call, job.call_id)
        if call is None:
            continue
        # Read the clock again now that the partner's lines are counted: a slot is never earlier than
        # the moment its line was found free (a call released just before the count must not overlap it).
        now = max(now, utcnow())
        slot = max(now, conn.next_dial_at) if conn.next_dial_at else now
        conn.next_dial_at = slot + timedelta(seconds=1.0 / max(cps_for(conn), 1e-6))
        lines[key] = (cap, held + 1)
        job.status = DIALING
        job.attempts += 1
        job.claimed_by = worker_id
        job.claimed_until = slot + timedelta(seconds=lease_secs)
        # A fresh token for every dial attempt; only its hash is stored (`new_token` gives both).
        token, call.callback_token_hash = new_token()
        call.dialed_at = slot
        claimed.append(Claimed(job, call, conn, partner, await s.get(Agent, call.agent_id), token))
    await s.flush()
    return claimed


async def next_slot(s: AsyncSession, now: datetime) -> datetime | None:
    """The soonest pacing slot of a connection that has due jobs waiting for it (None: none waits)."""
    stmt = (
        select(func.min(TelephonyConnection.next_dial_at))
        .join(DialJob, DialJob.connection_id == TelephonyConnection.id)
        .where(DialJob.status == QUEUED, DialJob.available_at <= now, TelephonyConnection.next_dial_at > now)
    )
    return (await s.execute(stmt)).scalar_one_or_none()


async def _locked(s: AsyncSession, model, key: str):  # noqa: ANN001, ANN202
    """The row, locked on PostgreSQL with FOR NO KEY UPDATE: we never change a key, and a plain FOR UPDATE
    would conflict with the KEY SHARE locks that inserting a referencing row (a new call naming this
    partner and connection) takes, which deadlocks calls/start against the dialer."""
    stmt = select(model).where(model.id == key).execution_options(populate_existing=True)
    if _pg(s):
        stmt = stmt.with_for_update(key_share=True)
    return (await s.execute(stmt)).scalar_one_or_none()


async def count_held(s: AsyncSession, partner_id: str, mode: str) -> int:
    """Lines of one mode in use: a sandbox call never holds one of the live lines, nor the reverse."""
    stmt = (
        select(func.count())
        .select_from(DialJob)
        .where(DialJob.partner_id == partner_id, DialJob.mode == mode, DialJob.status.in_(HELD))
    )
    return (await s.execute(stmt)).scalar_one()


async def job_for_call(s: AsyncSession, call_id: str, *, lock: bool = False) -> DialJob | None:
    stmt = select(DialJob).where(DialJob.call_id == call_id)
    if lock and _pg(s):
        stmt = stmt.with_for_update()
    return (await s.execute(stmt)).scalar_one_or_none()


async def lock_call(s: AsyncSession, call_id: str) -> Call | None:
    """The call row, locked on PostgreSQL so concurrent callbacks apply one after another."""
    return await _locked(s, Call, call_id)


async def renew(s: AsyncSession, call_ids: Sequence[str], worker_id: str, until: datetime) -> None:
    """Keep this process's claim on calls it is dialing or holding the media of."""
    if not call_ids:
        return
    await s.execute(
        update(DialJob)
        .where(DialJob.call_id.in_(list(call_ids)), DialJob.status.in_(HELD))
        .values(claimed_by=worker_id, claimed_until=until)
    )


async def still_held(s: AsyncSession, call_ids: Sequence[str]) -> set[str]:
    if not call_ids:
        return set()
    stmt = select(DialJob.call_id).where(DialJob.call_id.in_(list(call_ids)), DialJob.status.in_(HELD))
    return set((await s.execute(stmt)).scalars())


async def take_over(s: AsyncSession, jobs: Sequence[DialJob], worker_id: str, until: datetime) -> None:
    for job in jobs:
        job.claimed_by = worker_id
        job.claimed_until = until
    await s.flush()


async def expired(s: AsyncSession, now: datetime, limit: int = 50) -> list[tuple[DialJob, Call]]:
    """Jobs whose owner stopped renewing them: the process died while dialing or holding the call."""
    stmt = (
        select(DialJob, Call)
        .join(Call, Call.id == DialJob.call_id)
        .where(DialJob.status.in_(HELD), DialJob.claimed_until < now)
        .order_by(DialJob.claimed_until)
        .limit(limit)
    )
    if _pg(s):
        stmt = stmt.with_for_update(skip_locked=True, of=DialJob)
    return [(job, call) for job, call in (await s.execute(stmt)).all()]


async def ring_overdue(s: AsyncSession, dialed_before: datetime, limit: int = 50) -> list[Call]:
    """Calls dialed long ago that nobody has answered yet."""
    stmt = (
        select(Call)
        .join(DialJob, DialJob.call_id == Call.id)
        .where(Call.status.in_(["pending", "ringing"]), Call.dialed_at < dialed_before, DialJob.status == LIVE)
        .limit(limit)
    )
    return list((await s.execute(stmt)).scalars())


async def unfinished_sessions(s: AsyncSession, ended_before: datetime, limit: int = 50) -> list[Call]:
    """Ended calls whose conversation never filed its session (its process died, or it had none)."""
    stmt = (
        select(Call)
        .join(Session, Session.id == Call.session_id)
        .where(
            Call.status.in_(["completed", "failed", "no_answer", "busy", "canceled"]),
            Call.ended_at < ended_before,
            Session.processing_complete.is_(False),
        )
        .limit(limit)
    )
    return list((await s.execute(stmt)).scalars())


async def claim_media(s: AsyncSession, call_id: str, now: datetime) -> bool:
    """Take the call's one media stream; False when a stream already has it or the call has ended.

    One conditional UPDATE whose row count says who won: PostgreSQL's row lock makes a concurrent
    duplicate re-check `media_started_at` once the winner commits (and find it set); SQLite runs one
    writer at a time. So two websockets for the same call, on any server processes, get one winner.
    """
    result = await s.execute(
        update(Call)
        .where(
            Call.id == call_id,
            Call.media_started_at.is_(None),
            Call.status.not_in([status.value for status in TERMINAL_STATUSES]),
        )
        .values(media_started_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def release_media(s: AsyncSession, call_id: str) -> None:
    """Give back a claim whose stream never got going (the call could not be moved to in progress)."""
    stmt = update(Call).where(Call.id == call_id).values(media_started_at=None)
    await s.execute(stmt.execution_options(synchronize_session=False))


async def call_by_session(s: AsyncSession, session_id: str) -> Call | None:
    return (await s.execute(select(Call).where(Call.session_id == session_id))).scalar_one_or_none()


async def call_by_carrier_id(s: AsyncSession, provider: str, carrier_call_id: str) -> Call | None:
    """The newest call the carrier knows by this id (carriers whose stream names only their own call id)."""
    query = (
        select(Call)
        .where(Call.provider == provider, Call.carrier_call_id == carrier_call_id)
        .order_by(Call.created_at.desc())
        .limit(1)
    )
    return (await s.execute(query)).scalars().first()


async def get_connection(s: AsyncSession, connection_id: str) -> TelephonyConnection | None:
    return await s.get(TelephonyConnection, connection_id)


async def get_call(s: AsyncSession, call_id: str) -> Call | None:
    return await s.get(Call, call_id)


async def flush(s: AsyncSession) -> None:
    await s.flush()


async def queue_stats(s: AsyncSession, now: datetime) -> tuple[int, datetime | None]:
    """Jobs queued and due now, and the oldest one's due time (all partners: the operator's view)."""
    stmt = select(func.count(), func.min(DialJob.available_at)).where(
        DialJob.status == QUEUED, DialJob.available_at <= now
    )
    count, oldest = (await s.execute(stmt)).one()
    return int(count), oldest


async def count_queued(s: AsyncSession, partner_id: str, mode: str, now: datetime) -> int:
    """One partner's jobs of one mode waiting in the queue, due now (not yet claimed by any process)."""
    stmt = (
        select(func.count())
        .select_from(DialJob)
        .where(
            DialJob.partner_id == partner_id,
            DialJob.mode == mode,
            DialJob.status == QUEUED,
            DialJob.available_at <= now,
        )
    )
    return int((await s.execute(stmt)).scalar_one())


async def gone_from(s: AsyncSession, call_ids: Sequence[str]) -> set[str]:
    """Of these calls, those whose media stream has opened (on any process) or that have ended."""
    if not call_ids:
        return set()
    terminal = [status.value for status in TERMINAL_STATUSES]
    stmt = select(Call.id).where(
        Call.id.in_(list(call_ids)), Call.media_started_at.is_not(None) | Call.status.in_(terminal)
    )
    return set((await s.execute(stmt)).scalars())
