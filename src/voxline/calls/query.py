"""Reading calls and sessions, always within the caller's partner and mode: the other mode's are not found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from voxline.context import Context
from voxline.core import errors
from voxline.core.call_limits import concurrency_limit
from voxline.core.call_status import ACTIVE_STATUSES
from voxline.core.ids import is_uuid
from voxline.core.principal import Principal
from voxline.core.timefmt import utcnow
from voxline.store import calls as store
from voxline.store import dial_queue as dq
from voxline.store import partners as partner_store
from voxline.store import webrtc_joins as webrtc_store
from voxline.store.models import Call, Session


@dataclass(frozen=True)
class Concurrency:
    limit: int
    active: int
    queued: int = 0  # of the active: started, waiting in the dial queue to be dialed
    waiting_reason: str | None = None  # why they wait (None: nothing waits)


async def get_call(ctx: Context, owner: Principal, call_id: str) -> tuple[Call, Session]:
    async with ctx.db.transaction() as s:
        call = await store.get_call(s, owner.partner_id, owner.mode, call_id) if is_uuid(call_id) else None
        if call is None:
            raise errors.NotFound("Call not found.")
        session = await store.get_session(s, owner.partner_id, owner.mode, call.session_id)
        if session is None:  # written with its call in one transaction: only a damaged database lacks it
            raise errors.NotFound("Call not found.")
        return call, session


async def list_calls(
    ctx: Context, owner: Principal, status: str | None, limit: int, offset: int
) -> tuple[list[Call], int]:
    async with ctx.db.transaction() as s:
        return await store.page(s, owner.partner_id, owner.mode, status, limit, offset)


@dataclass(frozen=True)
class CallFilters:
    """What the dashboard's call list narrows by; None leaves a filter off."""

    status: str | None = None
    agent_id: str | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    number: str | None = None  # digits (and +) found anywhere in the callee's or caller's number


async def search_calls(
    ctx: Context, owner: Principal, filters: CallFilters, limit: int, offset: int
) -> tuple[list[Call], int]:
    """The owner's calls in its mode, newest first, narrowed by `filters` (an ill-formed agent id finds none)."""
    if filters.agent_id is not None and not is_uuid(filters.agent_id):
        return [], 0
    number = "".join(ch for ch in filters.number or "" if ch.isdigit() or ch == "+") or None
    async with ctx.db.transaction() as s:
        return await store.search(
            s,
            owner.partner_id,
            owner.mode,
            status=filters.status,
            agent_id=filters.agent_id,
            since=filters.since,
            until=filters.until,
            number=number,
            limit=limit,
            offset=offset,
        )


async def get_session(ctx: Context, owner: Principal, session_id: str) -> tuple[Session, Call | None]:
    async with ctx.db.transaction() as s:
        session = await store.get_session(s, owner.partner_id, owner.mode, session_id) if is_uuid(session_id) else None
        if session is None:
            raise errors.NotFound("Session not found.")
        call = await store.get_call(s, owner.partner_id, owner.mode, session.call_id) if session.call_id else None
        return session, call


async def concurrency(ctx: Context, owner: Principal) -> Concurrency:
    """The caller's mode's limit and active calls (a test key sees the sandbox's, a live key the live ones);
    browser test sessions holding a line count as calls."""
    async with ctx.db.transaction() as s:
        partner = await partner_store.get_partner(s, owner.partner_id)
        assert partner is not None, "the caller's key was just checked against its partner"
        active = await store.count_active(
            s, owner.partner_id, owner.mode, [st.value for st in ACTIVE_STATUSES], cap=1_000_000
        )
        queued = await dq.count_queued(s, owner.partner_id, owner.mode, utcnow())
        held = await dq.count_held(s, owner.partner_id, owner.mode) if queued else 0
        active += await webrtc_store.count_active(s, owner.partner_id, owner.mode, ctx.clock())
    limit = concurrency_limit(
        owner.mode, partner.concurrency_limit, partner.sandbox_concurrency_limit, ctx.settings.sandbox_concurrency
    )
    return Concurrency(limit, active, queued, waiting_reason(ctx, queued, held, limit))


def waiting_reason(ctx: Context, queued: int, held: int, limit: int) -> str | None:
    """Why started calls are still in the queue: the partner's own limit, a server without room (this
    process's view: it refuses for the reason named), or else a dialer's next claim (the connection's pacing,
    or no dialer has looked yet)."""
    if not queued:
        return None
    if held >= limit:
        return "concurrency_limit"
    refusing = ctx.admission.refusing
    if refusing is not None:
        return f"server_{refusing.value}"
    return "dialer"
