"""POST /calls/start: check everything, then store the call, its session and its dial-queue row at once.

The rows are written only after the partner's lock is taken and its lines in use are counted, so N parallel
starts against a limit of L create exactly L calls on SQLite and on PostgreSQL alike. On SQLite the checks'
reads, the inserts, the lock and the count are one transaction. On PostgreSQL the checks' reads are one
statement and the lock, the count and the inserts another (store/call_start.py): with the key's lookup, three
round trips and no BEGIN or COMMIT.
Everything is in the key's mode: its Idempotency-Keys, its connections, its limit (a sandbox call never
takes a live line); only the agent is shared by both modes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from voxline.calls.sandbox_callee import SANDBOX_VARIABLES
from voxline.calls.views import start_view
from voxline.context import Context
from voxline.core import destination, errors, reachability
from voxline.core.call_limits import concurrency_limit
from voxline.core.call_status import ACTIVE_STATUSES, CallStatus
from voxline.core.ids import is_uuid, new_id
from voxline.core.keys import TEST
from voxline.core.principal import Principal
from voxline.core.templating import MAX_VALUE_CHARS, render, stringify, undeclared
from voxline.core.timefmt import utcnow
from voxline.safety import gate as callee_safety
from voxline.settings import Settings
from voxline.store import call_start as start_store
from voxline.store import calls as call_store
from voxline.store import connections as connection_store
from voxline.store import idempotency as idempotency_store
from voxline.store import partners as partner_store
from voxline.store import webrtc_joins as webrtc_store
from voxline.store.db import Record, Transaction
from voxline.store.errors import Conflict
from voxline.store.models import IdempotencyKey
from voxline.telephony import registry

MAX_IDEMPOTENCY_KEY = 255
_ACTIVE = [s.value for s in ACTIVE_STATUSES]


@dataclass(frozen=True)
class StartRequest:
    agent_id: str
    to_number: str
    provider: str
    variables: dict[str, Any]
    connection_id: str | None
    provider_given: bool = True  # False: the request left `provider` out and got the API's default


@dataclass(frozen=True)
class Started:
    view: dict[str, Any]  # the seed's response shape
    replayed: bool


def request_hash(req: StartRequest) -> str:
    canonical = json.dumps(
        {
            "agent_id": req.agent_id,
            "to_number": req.to_number,
            "provider": req.provider,
            "variables": req.variables,
            "connection_id": req.connection_id,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise errors.InvalidIdempotencyKey(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters.")
    return key


def _string_values(req: StartRequest, declared: list[str]) -> dict[str, str]:
    return string_values(req.variables, declared)


def string_values(variables: dict[str, Any], declared: list[str]) -> dict[str, str]:
    """The variables as the text they render to, after the rules every start shares (declared names only,
    scalar values, bounded length)."""
    extra = undeclared(variables, declared)
    if extra:
        raise errors.UndeclaredVariable(
            f"Variables not declared on the agent: {', '.join(extra)}. Declared: {', '.join(declared) or 'none'}.",
            details=[
                {"field": f"variables.{n}", "code": "UNDECLARED_VARIABLE", "message": "not declared"} for n in extra
            ],
        )
    values: dict[str, str] = {}
    for name, value in variables.items():
        if value is None or not isinstance(value, str | int | float | bool):
            raise errors.InvalidVariableValue(f"variables.{name} must be a string, number or boolean.")
        text = stringify(value)
        if len(text) > MAX_VALUE_CHARS:
            raise errors.InvalidVariableValue(f"variables.{name} is longer than {MAX_VALUE_CHARS} characters.")
        values[name] = text
    return values


async def resolve_connection(s: Transaction, owner: Principal, req: StartRequest) -> Record:
    """The key's own connection: a sandbox call uses test-mode credentials, a live call live ones."""
    found = await connection_store.for_call(s, owner.partner_id, owner.mode, req.provider, req.connection_id)
    return pick_connection(owner, req, found)


def pick_connection(owner: Principal, req: StartRequest, found: Sequence[Any]) -> Any:
    """The connection a call goes through, from what the store found: the one `req.connection_id` names (in
    any state), else the provider's active connections of the key's mode."""
    if req.connection_id is not None:
        if not found:
            raise errors.ConnectionNotFound()
        conn = found[0]
        if conn.provider != req.provider:
            raise errors.ConnectionProviderMismatch(
                f"Connection {conn.id} is a {conn.provider} connection, not {req.provider}."
            )
        if conn.status != "ACTIVE":
            raise errors.ConnectionInactive(f"Connection {conn.id} is {conn.status}.")
        if not conn.from_number:
            raise errors.ProviderNotConfigured(f"Connection {conn.id} has no caller id configured.")
        return conn
    active = [c for c in found if c.from_number]
    if not active:
        which = "test-mode " if owner.mode == TEST else ""
        raise errors.ProviderNotConfigured(
            f"No {which}{req.provider} credentials are configured; use PUT /config/telephony/{req.provider} "
            "or POST /telephony/connections with this key."
        )
    if len(active) > 1:
        raise errors.ConnectionRequired(
            f"This account has {len(active)} active {req.provider} connections; pass connection_id to choose one."
        )
    return active[0]


def hint_from_body(raw: bytes, idempotency_key: str | None, default_provider: str) -> start_store.StartHint | None:
    """What a start's raw JSON body asks for, before the body is validated (None if it is not even that shape):
    lets the key lookup read the start's facts in the same round trip. Only a hint: the start compares it
    with the validated request (`Prefetched.serves`)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    agent_id, to_number = body.get("agent_id"), body.get("to_number")
    provider, connection_id = body.get("provider", default_provider), body.get("connection_id")
    if not (isinstance(agent_id, str) and isinstance(to_number, str) and isinstance(provider, str)):
        return None
    if connection_id is not None and not isinstance(connection_id, str):
        return None
    return start_store.StartHint(
        agent_id if is_uuid(agent_id) else None, provider, connection_id, to_number, idempotency_key
    )


@dataclass(frozen=True)
class Prefetched:
    """The start's facts read with the key lookup, and what they were read for."""

    hint: start_store.StartHint
    facts: start_store.StartFacts

    def serves(self, req: StartRequest, idem_key: str | None) -> bool:
        h = self.hint
        agent_id = req.agent_id if is_uuid(req.agent_id) else None
        asked = (agent_id, req.provider, req.connection_id, req.to_number, idem_key)
        return (h.agent_id, h.provider, h.connection_id, h.to_number, h.idempotency_key) == asked


def check_reachable(settings: Settings, provider: str, mode: str) -> None:
    """A live call whose carrier could never call this server back fails now, with the fix, not minutes later."""
    if mode == TEST:
        return  # sandbox calls dial this server's own emulators
    if not getattr(registry.carrier(provider), "calls_back_over_internet", True):
        return  # e.g. SIP: our own user agent reports the call from inside this server
    base = settings.public_base_url
    if reachability.carrier_cannot_reach(base, getattr(settings, f"{provider}_api_base", None)):
        raise errors.PublicUrlUnreachable(
            f"This server's public URL is {base}, which {provider} cannot reach from the internet, so its "
            "callbacks and media stream would never arrive. Set VOXLINE_PUBLIC_BASE_URL to a public https URL "
            "that reaches this server (e.g. a tunnel or load balancer) and restart; sandbox calls (rg_test_ keys) "
            "work without it."
        )


async def start_call(
    ctx: Context, principal: Principal, req: StartRequest, idem_key: str | None, prefetched: Prefetched | None = None
) -> Started:
    check_reachable(ctx.settings, req.provider, principal.mode)
    digest = request_hash(req) if idem_key else ""
    try:
        return await _start(ctx, principal, req, idem_key, digest, prefetched)
    except Conflict:
        if not idem_key:
            raise
        # A concurrent request with the same key committed first: answer with its call.
        async with ctx.db.transaction() as s:
            record = await idempotency_store.find(s, principal.partner_id, principal.mode, idem_key)
            if record is None:
                raise
            return await _replay(s, principal, record, digest)


async def _replay(s: Transaction, owner: Principal, record: IdempotencyKey, digest: str) -> Started:
    if record.request_hash != digest:
        raise errors.IdempotencyConflict()
    call = await call_store.get_call(s, owner.partner_id, owner.mode, record.call_id)
    assert call is not None, "an idempotency record is written with its call, and calls are never deleted"
    return Started(start_view(call), replayed=True)


async def _start(
    ctx: Context,
    principal: Principal,
    req: StartRequest,
    idem_key: str | None,
    digest: str,
    prefetched: Prefetched | None = None,
) -> Started:
    if ctx.db.is_postgres:
        return await _start_postgres(ctx, principal, req, idem_key, digest, prefetched)
    partner_id, mode = principal.partner_id, principal.mode
    now, clock_now = utcnow(), ctx.clock()
    async with ctx.db.transaction() as s:
        if idem_key:
            record = await idempotency_store.find(s, partner_id, mode, idem_key)
            if record is not None:
                if now - record.created_at < timedelta(seconds=ctx.settings.idempotency_ttl_secs):
                    return await _replay(s, principal, record, digest)
                await idempotency_store.forget(s, record)
        agent_id = req.agent_id if is_uuid(req.agent_id) else None
        facts = await start_store.read_in_transaction(
            s, partner_id, mode, agent_id, req.provider, req.connection_id, req.to_number, clock_now
        )
        call, session, job = _checked(ctx, principal, req, facts, now, clock_now)
        await call_store.insert_started_call(s, call, session, job)
        if idem_key:
            await idempotency_store.add(s, _idempotency_row(principal, idem_key, digest, call["id"], now))
        # Last: hold the partner lock only for the count and the commit. Both modes take the same lock
        # (one partner row), but each counts only its own mode's calls against its own limit.
        live_limit, sandbox_limit = await partner_store.lock_concurrency_limits(s, partner_id)
        limit = concurrency_limit(mode, live_limit, sandbox_limit, ctx.settings.sandbox_concurrency)
        active = await call_store.count_active(s, partner_id, mode, _ACTIVE, cap=limit + 1)
        active += await webrtc_store.count_active(s, partner_id, mode, clock_now)  # browser test sessions
        if active > limit:
            raise _limit_reached(mode, limit)
        return Started(start_view(call), replayed=False)


async def _start_postgres(
    ctx: Context,
    principal: Principal,
    req: StartRequest,
    idem_key: str | None,
    digest: str,
    prefetched: Prefetched | None,
) -> Started:
    """Every read in one statement (or none: already read with the key lookup, `prefetched`), then one
    statement that takes the partner's lock, counts its lines in use and writes the rows only when one is
    free (see store/call_start.py)."""
    partner_id, mode = principal.partner_id, principal.mode
    now, clock_now = utcnow(), ctx.clock()
    agent_id = req.agent_id if is_uuid(req.agent_id) else None
    async with ctx.db.driver_connection() as conn:
        if prefetched is not None and prefetched.serves(req, idem_key):
            facts = prefetched.facts
        else:
            facts = await start_store.read_postgres(
                conn, partner_id, mode, agent_id, req.provider, req.connection_id, req.to_number, clock_now, idem_key
            )
        if idem_key and facts.idempotency_created_at is not None:
            # The key was used before: answer with its call, or forget it if it expired (rare: in a transaction).
            async with ctx.db.transaction() as s:
                record = await idempotency_store.find(s, partner_id, mode, idem_key)
                if record is not None:
                    if now - record.created_at < timedelta(seconds=ctx.settings.idempotency_ttl_secs):
                        return await _replay(s, principal, record, digest)
                    await idempotency_store.forget(s, record)
        call, session, job = _checked(ctx, principal, req, facts, now, clock_now)
        idem = _idempotency_row(principal, idem_key, digest, call["id"], now) if idem_key else None
        limit, in_use = await start_store.write_postgres(
            conn,
            (session, call, job, idem),
            _ACTIVE,
            sandbox=mode == TEST,
            sandbox_default=ctx.settings.sandbox_concurrency,
            now=clock_now,  # browser test sessions hold a line until then
        )
    if in_use >= limit:
        raise _limit_reached(mode, limit)
    return Started(start_view(call), replayed=False)


def _checked(
    ctx: Context,
    principal: Principal,
    req: StartRequest,
    facts: start_store.StartFacts,
    now: datetime,
    clock_now: datetime,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Every rule a start passes, in the order its errors take precedence, on what the store read; then the
    new call's rows (call, session, dial-queue job)."""
    partner_id, mode = principal.partner_id, principal.mode
    agent = facts.agent
    if agent is None:
        raise errors.AgentNotFound()
    if req.provider not in agent.allowed_providers:
        defaulted = "" if req.provider_given else " (no provider was given, and the API's default is mcube)"
        raise errors.ProviderNotAllowed(
            f"Provider {req.provider!r}{defaulted} is not enabled for this account "
            f'(allowed: {", ".join(agent.allowed_providers) or "none"}); pass "provider" to choose one.'
        )
    conn = pick_connection(principal, req, facts.connections)
    policy = destination.DestinationPolicy.from_stored(agent.allowed_countries, agent.allowed_number_types)
    destination.check(req.to_number, conn.from_number, policy)
    # Do-not-call, frequency caps, calling hours: refused here, or deferred to when the callee's hours open.
    dial_at = callee_safety.check_start(
        ctx.settings,
        mode,
        req.to_number,
        clock_now,
        facts.listed,
        facts.policy,
        facts.attempts_day,
        facts.attempts_week,
    )
    sandbox_only = SANDBOX_VARIABLES if mode == TEST else frozenset()
    values = _string_values(req, [*agent.variables, *sandbox_only])

    call_id, session_id = new_id(), new_id()
    session = pending_session(session_id, principal, agent, call_id, values, dict(req.variables), now)
    call = {
        "id": call_id,
        "partner_id": partner_id,
        "agent_id": agent.id,
        "session_id": session_id,
        "connection_id": conn.id,
        "provider": req.provider,
        "mode": mode,
        "direction": "outbound",
        "from_number": conn.from_number,
        "to_number": req.to_number,
        "status": CallStatus.PENDING.value,
        "disposition": None,
        "answered_by": None,
        "carrier_call_id": None,
        "error_message": None,
        "duration_seconds": None,
        "started_at": None,
        "ended_at": None,
        "created_at": now,
        "updated_at": now,
    }
    job = {
        "id": new_id(),
        "call_id": call_id,
        "partner_id": partner_id,
        "mode": mode,
        "connection_id": conn.id,
        "status": "queued",
        "attempts": 0,
        "available_at": max(now, dial_at),
        "claimed_by": None,
        "claimed_until": None,
        "last_error": None,
        "created_at": now,
    }
    return call, session, job


def _idempotency_row(principal: Principal, key: str, digest: str, call_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "partner_id": principal.partner_id,
        "mode": principal.mode,
        "key": key,
        "request_hash": digest,
        "call_id": call_id,
        "created_at": now,
    }


def pending_session(
    session_id: str,
    principal: Principal,
    agent: Any,
    call_id: str | None,
    values: dict[str, str],
    variables: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """A new conversation's session row, before anything has been said: a call's (`call_id`) or a browser
    test session's (None). The agent's texts are rendered with the call's `values` once, here."""
    return {
        "id": session_id,
        "partner_id": principal.partner_id,
        "mode": principal.mode,
        "agent_id": agent.id,
        "call_id": call_id,
        "agent_name": agent.agent_name,
        "status": CallStatus.PENDING.value,
        "rendered_prompt": render(agent.prompt, values),
        "rendered_intro": render(agent.intro_message, values),
        "variables": variables,
        "transcript": [],
        "latency": None,
        "duration_seconds": None,
        "credits_used": None,
        "recording_path": None,
        "extraction": None,
        "processing_complete": False,
        "pipeline_completed_at": None,
        "started_at": None,
        "ended_at": None,
        "created_at": now,
    }


def _limit_reached(mode: str, limit: int) -> errors.ConcurrencyLimit:
    which = "Sandbox concurrency" if mode == TEST else "Concurrency"
    return errors.ConcurrencyLimit(
        f"{which} limit reached: {limit} calls are already pending, ringing "
        "or in progress. Retry when one ends (see GET /calls/concurrency).",
        headers={"Retry-After": "5"},
    )
