"""Reading calls and sessions, always within the caller's partner."""

from __future__ import annotations

from dataclasses import dataclass

from voxline.context import Context
from voxline.core import errors
from voxline.core.call_status import ACTIVE_STATUSES
from voxline.core.ids import is_uuid
from voxline.store import calls as store
from voxline.store import partners as partner_store
from voxline.store.models import Call, Session


@dataclass(frozen=True)
class Concurrency:
    limit: int
    active: int


async def get_call(ctx: Context, partner_id: str, call_id: str) -> tuple[Call, Session]:
    async with ctx.db.transaction() as s:
        call = await store.get_call(s, partner_id, call_id) if is_uuid(call_id) else None
        if call is None:
            raise errors.NotFound("Call not found.")
        session = await store.get_session(s, partner_id, call.session_id)
        return call, session


async def list_calls(
    ctx: Context, partner_id: str, status: str | None, limit: int, offset: int
) -> tuple[list[Call], int]:
    async with ctx.db.transaction() as s:
        return await store.page(s, partner_id, status, limit, offset)


async def get_session(ctx: Context, partner_id: str, session_id: str) -> tuple[Session, Call | None]:
    async with ctx.db.transaction() as s:
        session = await store.get_session(s, partner_id, session_id) if is_uuid(session_id) else None
        if session is None:
            raise errors.NotFound("Session not found.")
        call = await store.get_call(s, partner_id, session.call_id) if session.call_id else None
        return session, call


async def concurrency(ctx: Context, partner_id: str) -> Concurrency:
    async with ctx.db.transaction() as s:
        partner = await partner_store.get_partner(s, partner_id)
        active = await store.count_active(s, partner_id, [st.value for st in ACTIVE_STATUSES], cap=1_000_000)
        return Concurrency(partner.concurrency_limit, active)
