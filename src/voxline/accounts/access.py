"""Who may call and how often: bearer-key authentication and per-key rate limits in one short transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass

from voxline.context import Context
from voxline.core import errors, keys
from voxline.core.principal import Principal
from voxline.store import call_start as start_store
from voxline.store import partners as partner_store
from voxline.store import ratelimit as ratelimit_store
from voxline.store.call_start import StartFacts, StartHint

GENERAL = "general"
CALLS = "calls"
WEBRTC = "webrtc"  # POST /sessions/webrtc: its own bucket, with the calls limit (10 starts a minute)
WINDOW_SECS = 60


@dataclass(frozen=True)
class RateState:
    limit: int
    remaining: int
    reset_in: int


async def admit(ctx: Context, authorization: str | None, bucket: str) -> tuple[Principal, RateState]:
    """Return the caller's principal after counting this request, or raise UNAUTHORIZED / RATE_LIMITED."""
    presented = _bearer(authorization)
    if presented is None or keys.mode_of(presented) is None:
        raise errors.Unauthorized()
    now = time.time()
    window = int(now // WINDOW_SECS)
    prefix = keys.display_prefix(presented)
    if ctx.db.is_postgres:  # every request passes here: one round trip, not four
        found = await partner_store.principal_counted(ctx.db, prefix, presented, bucket, window)
        if found is None:
            raise errors.Unauthorized()
        principal, count = found
    else:
        async with ctx.db.transaction() as s:
            principal = await partner_store.principal_for_key(s, prefix, presented)
            if principal is None:
                raise errors.Unauthorized()
            count = await ratelimit_store.hit(s, f"{principal.key_id}:{bucket}", window)
    return principal, _counted(ctx, principal, bucket, count, now, window)


async def admit_for_start(
    ctx: Context, authorization: str | None, hint: StartHint | None
) -> tuple[Principal, RateState, StartFacts | None]:
    """`admit` for POST /calls/start: on PostgreSQL, with what the start `hint` asks for read in the same
    round trip (None when there is no hint, or on SQLite)."""
    if hint is None or not ctx.db.is_postgres:
        principal, state = await admit(ctx, authorization, CALLS)
        return principal, state, None
    presented = _bearer(authorization)
    if presented is None or keys.mode_of(presented) is None:
        raise errors.Unauthorized()
    now = time.time()
    window = int(now // WINDOW_SECS)
    async with ctx.db.driver_connection() as conn:
        found = await start_store.principal_counted_with_facts(
            conn, keys.display_prefix(presented), keys.hash_key(presented), CALLS, window, hint, ctx.clock()
        )
    if found is None:
        raise errors.Unauthorized()
    principal, count, facts = found
    return principal, _counted(ctx, principal, CALLS, count, now, window), facts


def _counted(ctx: Context, principal: Principal, bucket: str, count: int, now: float, window: int) -> RateState:
    """The key's rate state after this request, the `count`th in its window; RATE_LIMITED past the limit."""
    limit = _limit_for(ctx, principal, bucket)
    reset_in = max(1, int((window + 1) * WINDOW_SECS - now + 0.999))
    state = RateState(limit, max(0, limit - count), reset_in)
    if count > limit:
        raise errors.RateLimited(
            f"Rate limit of {limit} requests per minute exceeded for this key; retry in {reset_in} s.",
            headers={"Retry-After": str(reset_in), **rate_headers(state)},
        )
    return state


async def count_request(ctx: Context, principal: Principal, bucket: str) -> None:
    """Count a request made for an already-known principal (a dashboard session acting with its key) against
    the key's per-minute limit, as if the key had sent it: the dashboard never lifts the API's limits."""
    now = time.time()
    window = int(now // WINDOW_SECS)
    limit = _limit_for(ctx, principal, bucket)
    async with ctx.db.transaction() as s:
        count = await ratelimit_store.hit(s, f"{principal.key_id}:{bucket}", window)
    if count > limit:
        reset_in = max(1, int((window + 1) * WINDOW_SECS - now + 0.999))
        raise errors.RateLimited(
            f"Rate limit of {limit} requests per minute exceeded for this key; retry in {reset_in} s."
        )


def rate_headers(state: RateState) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(state.limit),
        "X-RateLimit-Remaining": str(state.remaining),
        "X-RateLimit-Reset": str(state.reset_in),
    }


def _limit_for(ctx: Context, principal: Principal, bucket: str) -> int:
    if bucket in (CALLS, WEBRTC):
        return principal.calls_rate_limit_per_min or ctx.settings.calls_rate_limit_per_min
    return principal.rate_limit_per_min or ctx.settings.rate_limit_per_min


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
