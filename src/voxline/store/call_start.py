"""What POST /calls/start reads and writes, in as few round trips as each database allows.

PostgreSQL: one statement reads everything the checks need (the agent with its partner's rules, the key's
connections, the do-not-call entry, the calling policy and the attempts its caps count, the Idempotency-Key's
record) and one statement writes the call, its session, its dial-queue row and its Idempotency-Key record,
only when the partner has a free line (`voxline_lines_in_use`, migration 0011, takes the partner's lock and
counts). Both run on the driver's connection outside a transaction: the write is a single statement, so it
is written whole or not at all, and the reads need no snapshot shared with it (under READ COMMITTED they had
none inside the transaction either). With the key's own lookup, a start is three round trips.

SQLite: the same facts read with the ORM's session inside the start's transaction (its transactions are
serial, and round trips to a file cost little).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.core.principal import Principal
from voxline.store import agents as agent_store
from voxline.store import calling_policy as policy_store
from voxline.store import connections as connection_store
from voxline.store import partners as partner_store
from voxline.store.errors import Conflict
from voxline.store.models import Call, DialJob, IdempotencyKey, Session


@dataclass(frozen=True)
class Connection:
    id: str
    provider: str
    status: str
    from_number: str | None


@dataclass(frozen=True)
class Agent:
    """What starting a call needs of the agent, with its partner's rules (as agents.for_call reads them)."""

    id: str
    agent_name: str
    prompt: str
    intro_message: str | None
    variables: list[str]
    allowed_providers: list[str]
    allowed_countries: list[Any] | None
    allowed_number_types: list[Any] | None


@dataclass(frozen=True)
class StoredPolicy:
    """The partner's stored calling policy for the mode (the columns `safety.policy.from_row` reads)."""

    windows: list[Any]
    outside_hours: str
    fallback_timezone: str
    max_attempts_per_day: int | None
    max_attempts_per_week: int | None


@dataclass(frozen=True)
class StartFacts:
    agent: Any  # an Agent, or agents.for_call's row (the same names); None: no such live agent
    connections: list[Connection]  # the one asked for by id (any state), else the provider's active ones
    listed: bool  # the number is on the mode's do-not-call list
    policy: StoredPolicy | None  # None: the deployment's defaults
    attempts_day: int | None  # calls to the number in the last day / week, counted only when capped
    attempts_week: int | None
    idempotency_created_at: datetime | None = None  # the key's stored request (PostgreSQL's read only)


# ---- PostgreSQL ----

# The reads, with named slots: `:partner` and `:mode` are the key's (parameters, or the key lookup's columns).
_READS = """
SELECT {first}a.id, a.agent_name, a.prompt, a.intro_message, a.variables,
       p.allowed_providers, p.allowed_countries, p.allowed_number_types,
       conns.ids, conns.providers, conns.statuses, conns.from_numbers,
       EXISTS (SELECT 1 FROM dnc_numbers d WHERE d.partner_id = :partner AND d.mode = :mode AND d.phone = :phone),
       cp.partner_id IS NOT NULL, cp.windows, cp.outside_hours, cp.fallback_timezone,
       cp.max_attempts_per_day, cp.max_attempts_per_week,
       CASE WHEN cp.max_attempts_per_day IS NOT NULL THEN (:attempts AND x.created_at >= :day) END,
       CASE WHEN cp.max_attempts_per_week IS NOT NULL THEN (:attempts AND x.created_at >= :week) END,
       (SELECT i.created_at FROM idempotency_keys i
         WHERE i.partner_id = :partner AND i.mode = :mode AND i.key = :idem)
FROM {source}
LEFT JOIN agents a ON a.id = :agent AND a.partner_id = :partner AND a.deleted_at IS NULL
LEFT JOIN partners p ON p.id = a.partner_id
LEFT JOIN calling_policies cp ON cp.partner_id = :partner AND cp.mode = :mode
CROSS JOIN LATERAL (
    SELECT array_agg(c.id ORDER BY c.created_at) AS ids, array_agg(c.provider ORDER BY c.created_at) AS providers,
           array_agg(c.status ORDER BY c.created_at) AS statuses,
           array_agg(c.from_number ORDER BY c.created_at) AS from_numbers
    FROM telephony_connections c
    WHERE c.partner_id = :partner AND c.mode = :mode AND :which
) AS conns
""".replace(
    ":attempts",
    # calls to the number since then, except those canceled before they were dialed (as attempts_since)
    "SELECT count(*) FROM calls x WHERE x.partner_id = :partner AND x.mode = :mode AND x.to_number = :phone"
    " AND (x.status <> 'canceled' OR x.dialed_at IS NOT NULL)",
)
# :which picks the connection asked for by id (in any state: the checks say what is wrong with it), or the
# provider's active ones: the same rows as connections.one_for_call / .dialable.
_ONE, _DIALABLE = "c.id = :which", "c.provider = :which AND c.status = 'ACTIVE'"


def _render(sql: str, slots: dict[str, str]) -> str:
    for name in sorted(slots, key=len, reverse=True):  # :week before :w..., whatever the names
        sql = sql.replace(f":{name}", slots[name])
    return sql


def _reads(which: str) -> str:
    slots = {"partner": "$2", "mode": "$3", "agent": "$1", "which": "$4", "phone": "$5", "day": "$6"}
    slots |= {"week": "$7", "idem": "$8"}
    return _render(_READS.replace(":which", which).format(first="", source="(SELECT 1) AS one"), slots)


_READ_ONE, _READ_DIALABLE = _reads(_ONE), _reads(_DIALABLE)

# The key lookup and its rate count (as partners.principal_counted) with the reads, in one statement: an
# unknown or revoked key returns no row and counts nothing.
_KEYED = partner_store.KEY_AND_COUNT


def _keyed_reads(which: str) -> str:
    slots = {"partner": "k.partner_id", "mode": "k.mode", "agent": "$5", "which": "$6", "phone": "$7"}
    slots |= {"day": "$8", "week": "$9", "idem": "$10"}
    first = "k.key_id, k.mode, k.partner_id, k.rate_limit_per_min, k.calls_rate_limit_per_min, hit.count, "
    return _KEYED + _render(_READS.replace(":which", which).format(first=first, source="k CROSS JOIN hit"), slots)


_KEYED_ONE, _KEYED_DIALABLE = _keyed_reads(_ONE), _keyed_reads(_DIALABLE)


@dataclass(frozen=True)
class StartHint:
    """What a /calls/start request asks for, read from its body before the body is validated, so that the key
    lookup can read the start's facts in the same statement. The start uses them only if the validated
    request asks for the same (else it reads again)."""

    agent_id: str | None  # None: not a UUID, so no agent
    provider: str
    connection_id: str | None
    to_number: str
    idempotency_key: str | None


def _facts(row: Any, at: int) -> StartFacts:
    agent = Agent(*row[at : at + 8]) if row[at] is not None else None
    ids = row[at + 8] or ()
    arrays = (ids, row[at + 9], row[at + 10], row[at + 11])
    connections = [Connection(*c) for c in zip(*arrays, strict=True)] if ids else []
    policy = StoredPolicy(*row[at + 14 : at + 19]) if row[at + 13] else None
    return StartFacts(agent, connections, row[at + 12], policy, row[at + 19], row[at + 20], row[at + 21])


async def read_postgres(
    conn: Any,
    partner_id: str,
    mode: str,
    agent_id: str | None,
    provider: str,
    connection_id: str | None,
    phone: str,
    now: datetime,
    idempotency_key: str | None,
) -> StartFacts:
    """`conn`: the driver's connection (`Database.driver_connection`). One round trip."""
    sql, which = (_READ_ONE, connection_id) if connection_id is not None else (_READ_DIALABLE, provider)
    args = (agent_id, partner_id, mode, which, phone, now - timedelta(days=1), now - timedelta(days=7))
    return _facts(await conn.fetchrow(sql, *args, idempotency_key), 0)


async def principal_counted_with_facts(
    conn: Any, prefix: str, key_hash: str, bucket: str, window_start: int, hint: StartHint, now: datetime
) -> tuple[Principal, int, StartFacts] | None:
    """`partners.principal_counted` and `read_postgres` in one round trip: the key's principal, this
    request's count in its rate window, and what the start `hint` asks for in the key's partner and mode.
    None for an unknown or revoked key (nothing counted)."""
    if hint.connection_id is not None:
        sql, which = _KEYED_ONE, hint.connection_id
    else:
        sql, which = _KEYED_DIALABLE, hint.provider
    args = (prefix, key_hash, bucket, window_start, hint.agent_id, which, hint.to_number)
    row = await conn.fetchrow(sql, *args, now - timedelta(days=1), now - timedelta(days=7), hint.idempotency_key)
    if row is None:
        return None
    key_id, mode, partner_id, rate, calls_rate, count = row[:6]
    return Principal(partner_id, key_id, mode, rate, calls_rate), count, _facts(row, 6)


def _cast(table: Table, name: str) -> str:
    """The column's type for a parameter cast, without a length (a cast to varchar(n) would cut a value
    silently where the insert refuses it)."""
    return re.sub(r"\(\d+\)", "", table.c[name].type.compile(dialect=postgresql.dialect()))


class _Write:
    """The write statement for one shape of rows, and how to lay its arguments out."""

    def __init__(self, shapes: Sequence[tuple[Any, tuple[str, ...]]]) -> None:  # (a mapped class's Table, names)
        n = 6  # the function's parameters come first
        ctes: list[str] = []
        self.json: list[list[bool]] = []
        for i, (table, names) in enumerate(shapes):
            params = []
            for name in names:
                n += 1
                params.append(f"${n}::{_cast(table, name)}")
            self.json.append([_cast(table, name) == "JSON" for name in names])
            ctes.append(
                f"w{i} AS (INSERT INTO {table.name} ({', '.join(names)}) "
                f"SELECT {', '.join(params)} FROM room WHERE room.in_use < room.line_limit)"
            )
        self.sql = (
            "WITH room AS MATERIALIZED (SELECT line_limit, in_use FROM voxline_lines_in_use($1, $2, $3, $4, $5, $6)), "
            + ", ".join(ctes)
            + " SELECT line_limit, in_use FROM room"
        )


@functools.cache
def _write(session: tuple[str, ...], call: tuple[str, ...], job: tuple[str, ...], idem: tuple[str, ...]) -> _Write:
    shapes = [(Session.__table__, session), (Call.__table__, call), (DialJob.__table__, job)]
    if idem:
        shapes.append((IdempotencyKey.__table__, idem))
    return _Write(shapes)


async def write_postgres(
    conn: Any,
    rows: tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any] | None],
    statuses: Sequence[str],
    sandbox: bool,
    sandbox_default: int,
    now: datetime,
) -> tuple[int, int]:
    """With the partner's lock (held to the end of the statement): count its lines in use in the call's mode
    and, only when fewer than its limit, insert the session, the call, its dial-queue row and the
    Idempotency-Key's record (`rows`, in that order; the last may be None). One round trip, no transaction
    around it. Returns (limit, lines in use before this call): written if and only if in use < limit.
    Raises `Conflict` when a unique constraint refuses a row (a concurrent request with the same key)."""
    session, call, job, idem = rows
    plan = _write(tuple(session), tuple(call), tuple(job), tuple(idem) if idem else ())
    args: list[Any] = [call["partner_id"], call["mode"], sandbox, sandbox_default, list(statuses), now]
    for values, is_json in zip((session, call, job, idem), plan.json, strict=False):
        assert values is not None
        args += [json.dumps(v) if j else v for v, j in zip(values.values(), is_json, strict=True)]
    try:
        line_limit, in_use = await conn.fetchrow(plan.sql, *args)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict(str(exc)) from exc
    return line_limit, in_use


# ---- SQLite (and any database through the ORM's session) ----


async def read_in_transaction(
    s: AsyncSession,
    partner_id: str,
    mode: str,
    agent_id: str | None,
    provider: str,
    connection_id: str | None,
    phone: str,
    now: datetime,
) -> StartFacts:
    agent = await agent_store.for_call(s, partner_id, agent_id) if agent_id is not None else None
    found = await connection_store.for_call(s, partner_id, mode, provider, connection_id)
    connections = [Connection(c.id, c.provider, c.status, c.from_number) for c in found]
    listed, row = await policy_store.listed_and_policy(s, partner_id, mode, phone)
    policy = None
    day = week = None
    if row is not None:
        policy = StoredPolicy(
            row.windows, row.outside_hours, row.fallback_timezone, row.max_attempts_per_day, row.max_attempts_per_week
        )
        if row.max_attempts_per_day is not None:
            day = await policy_store.attempts_since(s, partner_id, mode, phone, now - timedelta(days=1))
        if row.max_attempts_per_week is not None:
            week = await policy_store.attempts_since(s, partner_id, mode, phone, now - timedelta(days=7))
    return StartFacts(agent, connections, bool(listed), policy, day, week)
