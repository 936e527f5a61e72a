"""/sessions/{id}: one conversation run, with transcript and latency when it has ended."""

from __future__ import annotations

from fastapi import APIRouter

from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.responses import ok, raises
from voxline.api.schemas import Envelope, SessionOut
from voxline.calls import query, views

router = APIRouter(prefix="/sessions", tags=["sessions"], responses=documented())


@router.get("/{session_id}", summary="Get a session", responses=raises(statuses=()))
async def get_session(session_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[SessionOut]:
    """One conversation run by id (the `session_id` from /calls/start): transcript, latency, duration, cost, recording
    link, variables and extraction. `processing_complete` turns true once post-call work is done.
    """
    session, call = await query.get_session(ctx, caller, session_id)
    return ok(SessionOut(**views.session_view(session, call)))
