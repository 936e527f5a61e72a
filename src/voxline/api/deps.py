"""Request dependencies: the running context and the authenticated, rate-counted caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from voxline.accounts import access
from voxline.api.schemas import StartCallBody
from voxline.calls import start
from voxline.context import Context
from voxline.core.principal import Principal

_DEFAULT_PROVIDER = StartCallBody.model_fields["provider"].default
# auto_error=False: a missing key is answered by our own 401 envelope, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer rg_live_…`")


async def get_ctx(request: Request) -> Context:
    return request.app.state.ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


def _principal_for(bucket: str):  # noqa: ANN202
    async def dependency(
        request: Request,
        response: Response,
        _creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        ctx: Context = request.app.state.ctx
        principal, state = await access.admit(ctx, request.headers.get("authorization"), bucket)
        response.headers.update(access.rate_headers(state))
        return principal

    return dependency


async def _start_caller(
    request: Request,
    response: Response,
    _creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """POST /calls/start's caller, as CallsCaller: on PostgreSQL the key lookup also reads what the body asks
    for (one round trip fewer), left in `request.state.start_prefetched` for the route."""
    ctx: Context = request.app.state.ctx
    hint = None
    if ctx.db.is_postgres:
        hint = start.hint_from_body(await request.body(), request.headers.get("idempotency-key"), _DEFAULT_PROVIDER)
    principal, state, facts = await access.admit_for_start(ctx, request.headers.get("authorization"), hint)
    response.headers.update(access.rate_headers(state))
    request.state.start_prefetched = start.Prefetched(hint, facts) if hint is not None and facts else None
    return principal


GeneralCaller = Annotated[Principal, Depends(_principal_for(access.GENERAL))]
CallsCaller = Annotated[Principal, Depends(_principal_for(access.CALLS))]
WebrtcCaller = Annotated[Principal, Depends(_principal_for(access.WEBRTC))]
StartCaller = Annotated[Principal, Depends(_start_caller)]
