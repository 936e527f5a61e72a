"""Replaying post-call extraction on a finished call (POST /calls/{id}/extract).

It uses the agent's *current* extraction config. A dry run only answers; otherwise the result is saved
on the session (and, as the v2 API says, no webhook is sent again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voxline.context import Context
from voxline.core import errors
from voxline.core.ids import is_uuid
from voxline.core.principal import Principal
from voxline.store import calls as store
from voxline.store import live_calls
from voxline.voice import extraction
from voxline.voice.engines import llm_endpoint


@dataclass
class Replayed:
    call_id: str
    session_id: str
    dry_run: bool
    extraction: dict[str, Any]


async def replay(ctx: Context, owner: Principal, call_id: str, dry_run: bool) -> Replayed:
    partner_id, mode = owner.partner_id, owner.mode
    async with ctx.db.transaction() as s:
        call = await store.get_call(s, partner_id, mode, call_id) if is_uuid(call_id) else None
        if call is None:
            raise errors.NotFound("Call not found.")
        session = await store.get_session(s, partner_id, mode, call.session_id)
        agent = await live_calls.agent_any_state(s, call.agent_id)
        config = agent.extraction_config if agent is not None else None
        transcript = list(session.transcript or []) if session is not None else []
        session_id = call.session_id
    if not config:
        raise errors.ExtractionNotConfigured()
    result = await extraction.extract(llm_endpoint(ctx.settings), config, transcript)
    if not dry_run:
        async with ctx.db.transaction() as s:
            session = await store.get_session(s, partner_id, mode, session_id)
            if session is not None:
                session.extraction = result
    return Replayed(call_id, session_id, dry_run, result)
