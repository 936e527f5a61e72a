"""/calls: start an outbound call, read calls, see concurrency."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from voxline.api.deps import CallsCaller, CtxDep
from voxline.api.responses import errors as documented
from voxline.api.schemas import (
    CALL_STATUS_PATTERN,
    CallDetail,
    CallList,
    ConcurrencyOut,
    Envelope,
    StartCallBody,
    StartedCall,
)
from voxline.calls import query, start, views
from voxline.core import errors
from voxline.core.call_status import ACTIVE_STATUSES, CallStatus
from voxline.dialer import cancel

router = APIRouter(prefix="/calls", tags=["calls"], responses=documented(403, 409))


@router.post("/start", response_model=Envelope[StartedCall], summary="Start an outbound call")
async def start_call(
    body: StartCallBody,
    ctx: CtxDep,
    caller: CallsCaller,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Retry-safe key: the same key and body within 24 h return the original call",
        ),
    ] = None,
) -> dict:
    key = start.check_idempotency_key(idempotency_key)
    req = start.StartRequest(
        body.agent_id,
        body.to_number,
        body.provider,
        body.variables,
        body.connection_id,
        provider_given="provider" in body.model_fields_set,
    )
    started = await start.start_call(ctx, caller, req, key)
    if started.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        ctx.dial_wake.notify()  # dial now rather than at the dialer's next poll
    return {"success": True, "data": started.view}


@router.get("/concurrency", response_model=Envelope[ConcurrencyOut], summary="Current call concurrency")
async def concurrency(ctx: CtxDep, caller: CallsCaller) -> dict:
    c = await query.concurrency(ctx, caller)
    data = {
        "limit": c.limit,
        "limit_source": "partner",
        "active": c.active,
        "remaining": max(0, c.limit - c.active),
        "statuses_counted": [s.value.upper() for s in ACTIVE_STATUSES],
    }
    return {"success": True, "data": data}


@router.get("", response_model=Envelope[CallList], summary="List calls, newest first")
async def list_calls(
    ctx: CtxDep,
    caller: CallsCaller,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    status: Annotated[
        str | None,
        Query(
            description="pending, ringing, in_progress, completed, failed, no_answer, busy, canceled (any case)",
            json_schema_extra={"pattern": CALL_STATUS_PATTERN},
        ),
    ] = None,
) -> dict:
    wanted = None
    if status is not None:
        try:
            wanted = CallStatus(status.lower()).value
        except ValueError:
            raise errors.ValidationError(
                f"status must be one of: {', '.join(s.value for s in CallStatus)}.",
                details=[{"field": "status", "code": "VALIDATION_ERROR", "message": "unknown status"}],
            ) from None
    calls, total = await query.list_calls(ctx, caller, wanted, limit, offset)
    data = {"calls": [views.call_view(c) for c in calls], "total": total, "limit": limit, "offset": offset}
    return {"success": True, "data": data}


@router.post(
    "/{call_id}/cancel",
    response_model=Envelope[CallDetail],
    summary="Cancel a call that has not been answered",
)
async def cancel_call(call_id: str, ctx: CtxDep, caller: CallsCaller) -> dict:
    """A pending call is never dialed; a ringing one is hung up at the carrier. Answered or ended: 409."""
    await cancel.cancel_call(ctx, caller, call_id)
    call, session = await query.get_call(ctx, caller, call_id)
    return {"success": True, "data": views.call_detail_view(call, session)}


@router.get("/{call_id}", response_model=Envelope[CallDetail], summary="Get a call with its session")
async def get_call(call_id: str, ctx: CtxDep, caller: CallsCaller) -> dict:
    call, session = await query.get_call(ctx, caller, call_id)
    return {"success": True, "data": views.call_detail_view(call, session)}
