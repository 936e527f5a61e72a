"""/calls: start an outbound call, read calls, see concurrency."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from voxline.api.deps import CallsCaller, CtxDep, StartCaller
from voxline.api.responses import errors as documented
from voxline.api.responses import ok, raises
from voxline.api.schemas import (
    CALL_STATUS_PATTERN,
    CallDetail,
    CallList,
    CallOut,
    ConcurrencyOut,
    Envelope,
    StartCallBody,
    StartedCall,
)
from voxline.calls import query, start, views
from voxline.core import errors
from voxline.core.call_status import ACTIVE_STATUSES, CallStatus
from voxline.dialer import cancel
from voxline.sandbox import callee

router = APIRouter(prefix="/calls", tags=["calls"], responses=documented(403))

START_DESCRIPTION = (
    "Queues an outbound call from `agent_id` to `to_number` through `provider` (default `mcube`) and returns at "
    "once with `status: pending`; follow it with GET /calls/{id} or the `session.completed` webhook. The caller id "
    "comes from the chosen connection (`connection_id` when the account has several for the provider). `variables` "
    "fill the agent's `{{name}}` placeholders. Send an `Idempotency-Key` header to retry safely. Live calls need a "
    "public URL carriers can reach (`PUBLIC_URL_UNREACHABLE` otherwise).\n\n"
    "**Sandbox.** Calls with a test key (`rg_test_`) go to the built-in carrier emulators, never to a phone, where "
    "a simulated callee answers. The last four digits of `to_number` choose what it does; "
    "`variables.sandbox_callee_say` (lines separated by `|`, test keys only) gives it its own lines.\n\n"
    + callee.markdown_table()
)


@router.post(
    "/start",
    summary="Start an outbound call",
    description=START_DESCRIPTION,
    responses=raises(
        errors.InvalidPhoneNumber,
        errors.InvalidIdempotencyKey,
        errors.UndeclaredVariable,
        errors.InvalidVariableValue,
        errors.ProviderNotConfigured,
        errors.ConnectionRequired,
        errors.ConnectionProviderMismatch,
        errors.ConnectionInactive,
        errors.ProviderNotAllowed,
        errors.DestinationNotAllowed,
        errors.AgentNotFound,
        errors.ConnectionNotFound,
        errors.IdempotencyConflict,
        errors.ConcurrencyLimit,
        errors.PublicUrlUnreachable,
    ),
)
async def start_call(
    body: StartCallBody,
    ctx: CtxDep,
    caller: StartCaller,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Retry-safe key: the same key and body within 24 h return the original call",
        ),
    ] = None,
) -> Envelope[StartedCall]:
    """See START_DESCRIPTION (the operation's documentation, with the sandbox's test numbers)."""
    key = start.check_idempotency_key(idempotency_key)
    req = start.StartRequest(
        body.agent_id,
        body.to_number,
        body.provider,
        body.variables,
        body.connection_id,
        provider_given="provider" in body.model_fields_set,
    )
    started = await start.start_call(ctx, caller, req, key, getattr(request.state, "start_prefetched", None))
    if started.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        ctx.dial_wake.notify()  # dial now rather than at the dialer's next poll
    return ok(StartedCall(**started.view))


@router.get("/concurrency", summary="Current call concurrency", responses=raises())
async def concurrency(ctx: CtxDep, caller: CallsCaller) -> Envelope[ConcurrencyOut]:
    """How many calls this account may have active at once, how many are active (pending, ringing or in progress) and
    how many more can start now; of the active, how many still wait in the dial queue, and why.
    """
    c = await query.concurrency(ctx, caller)
    return ok(
        ConcurrencyOut(
            limit=c.limit,
            limit_source="partner",
            active=c.active,
            remaining=max(0, c.limit - c.active),
            statuses_counted=[s.value.upper() for s in ACTIVE_STATUSES],
            queued=c.queued,
            waiting_reason=c.waiting_reason,
        )
    )


@router.get("", summary="List calls, newest first", responses=raises())
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
) -> Envelope[CallList]:
    """Calls of this account, newest first, paginated with `limit` and `offset`, optionally filtered by `status`."""
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
    found = [CallOut(**views.call_view(c)) for c in calls]
    return ok(CallList(calls=found, total=total, limit=limit, offset=offset))


@router.post(
    "/{call_id}/cancel",
    summary="Cancel a call that has not been answered",
    responses=raises(errors.CallNotCancelable),
)
async def cancel_call(call_id: str, ctx: CtxDep, caller: CallsCaller) -> Envelope[CallDetail]:
    """A pending call is never dialed; a ringing one is hung up at the carrier. Answered or ended: 409."""
    await cancel.cancel_call(ctx, caller, call_id)
    call, session = await query.get_call(ctx, caller, call_id)
    return ok(CallDetail(**views.call_detail_view(call, session)))


@router.get("/{call_id}", summary="Get a call with its session", responses=raises())
async def get_call(call_id: str, ctx: CtxDep, caller: CallsCaller) -> Envelope[CallDetail]:
    """The call and its session: status, disposition, who answered, duration, transcript, latency, a fresh recording
    link and extraction results.
    """
    call, session = await query.get_call(ctx, caller, call_id)
    return ok(CallDetail(**views.call_detail_view(call, session)))
