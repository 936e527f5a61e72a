"""Campaign use-cases: create, add contacts (JSON or CSV), start, pause, resume, cancel, read, export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from voxline.calls.start import StartRequest, resolve_connection
from voxline.campaigns.views import campaign_view, contact_view
from voxline.context import Context
from voxline.core import calling_hours as hours
from voxline.core import campaign_rules as rules
from voxline.core import errors
from voxline.core.ids import is_uuid, new_id
from voxline.core.phone import InvalidPhoneNumber, parse_e164
from voxline.core.principal import Principal
from voxline.core.timefmt import iso
from voxline.store import agents as agent_store
from voxline.store import campaigns as store
from voxline.store import dnc as dnc_store
from voxline.store.campaign_tables import Campaign

MAX_CONTACTS_PER_REQUEST = 10_000
MAX_METADATA_CHARS = 4000


@dataclass(frozen=True)
class NewCampaign:
    name: str
    agent_id: str
    provider: str
    description: str | None = None
    concurrency_limit: int | None = None
    connection_id: str | None = None
    variable_mapping: dict[str, str] | None = None
    schedule: dict[str, Any] | None = None
    retry_policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class NewContact:
    phone: str
    name: str | None = None
    metadata: dict[str, Any] | None = None


def check_schedule(raw: dict[str, Any] | None, fallback: str) -> dict[str, Any] | None:
    """Normalised schedule {start_at, timezone, windows}; windows are in each callee's local time."""
    if raw is None:
        return None
    try:
        windows = [w.as_dict() for w in hours.parse_windows(raw.get("windows"))] if raw.get("windows") else None
        zone = hours.check_zone(raw.get("timezone") or fallback)
    except hours.InvalidWindow as exc:
        raise errors.InvalidSchedule(f"schedule: {exc}.") from None
    start_at = raw.get("start_at")
    if start_at:
        try:
            moment = datetime.fromisoformat(start_at.replace("Z", "+00:00"))
        except ValueError:
            raise errors.InvalidSchedule("schedule.start_at is not an ISO 8601 time.") from None
        start_at = iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return {"start_at": start_at, "timezone": zone, "windows": windows}


async def create(ctx: Context, who: Principal, new: NewCampaign) -> dict[str, Any]:
    now = ctx.clock()
    retry = rules.RetryPolicy.from_dict(new.retry_policy)
    async with ctx.db.transaction() as s:
        agent = await agent_store.for_call(s, who.partner_id, new.agent_id) if is_uuid(new.agent_id) else None
        if agent is None:
            raise errors.AgentNotFound()
        if new.provider not in agent.allowed_providers:
            raise errors.ProviderNotAllowed(f"Provider {new.provider!r} is not enabled for this account.")
        # The campaign can call only if a call could be started now: the same connection rules.
        conn = await resolve_connection(s, who, StartRequest(new.agent_id, "", new.provider, {}, new.connection_id))
        declared = set(agent.variables)
        unknown = sorted(set(new.variable_mapping or {}) - declared)
        if unknown:
            raise errors.UndeclaredVariable(f"variable_mapping names variables the agent does not declare: {unknown}.")
        row = Campaign(
            id=new_id(),
            partner_id=who.partner_id,
            mode=who.mode,
            name=new.name,
            description=new.description,
            agent_id=agent.id,
            provider=new.provider,
            connection_id=new.connection_id and conn.id,
            concurrency_limit=rules.clamp_concurrency(new.concurrency_limit),
            status=rules.DRAFT,
            variable_mapping=new.variable_mapping or None,
            schedule=check_schedule(new.schedule, ctx.settings.calling_fallback_timezone),
            retry_policy=retry.as_dict(),
            last_dispatch_at=None,
            started_at=None,
            paused_at=None,
            completed_at=None,
            created_at=now,
            updated_at=now,
        )
        await store.add_campaign(s, row)
        return campaign_view(row, agent.agent_name, {})


async def _owned(s, who: Principal, campaign_id: str, *, lock: bool = False) -> Campaign:  # noqa: ANN001
    row = await store.get(s, who.partner_id, who.mode, campaign_id, lock=lock) if is_uuid(campaign_id) else None
    if row is None:
        raise errors.CampaignNotFound()
    return row


async def _view(s, row: Campaign) -> dict[str, Any]:  # noqa: ANN001
    agent = await agent_store.for_call(s, row.partner_id, row.agent_id)
    counts = (await store.counts(s, [row.id]))[row.id]
    return campaign_view(row, agent.agent_name if agent else None, counts)


async def get(ctx: Context, who: Principal, campaign_id: str) -> dict[str, Any]:
    async with ctx.db.transaction() as s:
        return await _view(s, await _owned(s, who, campaign_id))


async def page(ctx: Context, who: Principal, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    async with ctx.db.transaction() as s:
        rows, total = await store.page(s, who.partner_id, who.mode, limit, offset)
        counts = await store.counts(s, [r.id for r in rows])
        names: dict[str, str | None] = {}
        for r in rows:
            if r.agent_id not in names:
                agent = await agent_store.for_call(s, r.partner_id, r.agent_id)
                names[r.agent_id] = agent.agent_name if agent else None
        return [campaign_view(r, names[r.agent_id], counts[r.id]) for r in rows], total


async def add_contacts(ctx: Context, who: Principal, campaign_id: str, contacts: list[NewContact]) -> dict[str, int]:
    """§9.3: {added, duplicates, contacts_created, contacts_existing}. Numbers already in this campaign (or
    repeated in the request) are duplicates; numbers the account already has in another campaign are existing
    contacts, the rest are created. A number on the do-not-call list is added as skipped, never called."""
    if not 1 <= len(contacts) <= MAX_CONTACTS_PER_REQUEST:
        raise errors.ValidationError(f"Send 1-{MAX_CONTACTS_PER_REQUEST} contacts per request.")
    now = ctx.clock()
    async with ctx.db.transaction() as s:
        row = await _owned(s, who, campaign_id, lock=True)
        if row.status in (rules.FINISHED, rules.CANCELLED):
            raise errors.InvalidCampaignState(f"This campaign is {row.status}; contacts cannot be added.")
        unique: dict[str, NewContact] = {}
        for c in contacts:
            unique.setdefault(c.phone, c)
        phones = list(unique)
        present = await store.phones_in(s, row.id, phones)
        fresh = [p for p in phones if p not in present]
        existing = await store.phones_elsewhere(s, who.partner_id, who.mode, row.id, fresh)
        blocked = await dnc_store.listed(s, who.partner_id, who.mode, fresh)
        await store.add_contacts(
            s,
            [
                {
                    "id": new_id(),
                    "campaign_id": row.id,
                    "partner_id": who.partner_id,
                    "mode": who.mode,
                    "phone": p,
                    "name": unique[p].name,
                    "metadata": unique[p].metadata or {},
                    "status": rules.SKIPPED if p in blocked else rules.WAITING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "current_call_id": None,
                    "claimed_until": None,
                    "outcome": "do_not_call" if p in blocked else None,
                    "last_error": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for p in fresh
            ],
        )
        return {
            "added": len(fresh),
            "duplicates": len(contacts) - len(fresh),
            "contacts_created": len(fresh) - len(existing),
            "contacts_existing": len(existing),
            "skipped_do_not_call": len(blocked),
        }


def contacts_from_csv(text: str) -> tuple[list[NewContact], list[dict[str, Any]]]:
    """A header row with `phone` (required) and `name`; every other column goes into the contact's metadata."""
    reader = csv.DictReader(io.StringIO(text, newline=""))  # newline="": the csv module reads \r, \n, \r\n
    try:
        fields = [f.strip() for f in (reader.fieldnames or [])]
        rows = list(reader)  # at most the body's 1 MB
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise errors.InvalidCsv(f"The CSV cannot be read: {exc}.") from None
    if "phone" not in [f.lower() for f in fields]:
        raise errors.InvalidCsv("The CSV needs a header row with a `phone` column (and optionally `name`).")
    good: list[NewContact] = []
    bad: list[dict[str, Any]] = []
    for line, raw in enumerate(rows, start=2):
        record = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        lowered = {k.lower(): v for k, v in record.items()}
        value = lowered.get("phone", "")
        if not value:
            continue
        try:
            phone = parse_e164(value)
        except InvalidPhoneNumber as exc:
            bad.append({"field": f"line {line}", "code": "INVALID_PHONE_NUMBER", "message": f"{value[:40]} {exc}"})
            continue
        metadata = {k: v for k, v in record.items() if k.lower() not in ("phone", "name") and k}
        good.append(NewContact(phone, lowered.get("name") or None, metadata))
        if len(good) > MAX_CONTACTS_PER_REQUEST:
            raise errors.InvalidCsv(f"At most {MAX_CONTACTS_PER_REQUEST} contacts per upload.")
    if not good:
        raise errors.InvalidCsv("The CSV has no valid phone numbers.", details=bad[:100] or None)
    return good, bad


async def _move(
    ctx: Context, who: Principal, campaign_id: str, allowed: tuple[str, ...], target: str
) -> dict[str, Any]:
    now = ctx.clock()
    async with ctx.db.transaction() as s:
        row = await _owned(s, who, campaign_id, lock=True)
        if row.status not in allowed:
            raise errors.InvalidCampaignState(
                f"A {row.status} campaign cannot be {target}; allowed from: {', '.join(allowed)}."
            )
        if target == rules.RUNNING:
            counts = (await store.counts(s, [row.id]))[row.id]
            if not counts:
                raise errors.InvalidCampaignState("Add contacts before starting the campaign.")
            row.started_at = row.started_at or now
            row.paused_at = None
        elif target == rules.PAUSED:
            row.paused_at = now
        elif target == rules.CANCELLED:
            await store.drop_open(s, row.id, rules.DROPPED, now)
            row.completed_at = now
        row.status = target
        row.updated_at = now
        return await _view(s, row)


async def start(ctx: Context, who: Principal, campaign_id: str) -> dict[str, Any]:
    return await _move(ctx, who, campaign_id, (rules.DRAFT,), rules.RUNNING)


async def pause(ctx: Context, who: Principal, campaign_id: str) -> dict[str, Any]:
    return await _move(ctx, who, campaign_id, (rules.RUNNING,), rules.PAUSED)


async def resume(ctx: Context, who: Principal, campaign_id: str) -> dict[str, Any]:
    return await _move(ctx, who, campaign_id, (rules.PAUSED,), rules.RUNNING)


async def cancel(ctx: Context, who: Principal, campaign_id: str) -> dict[str, Any]:
    return await _move(ctx, who, campaign_id, (rules.DRAFT, rules.RUNNING, rules.PAUSED), rules.CANCELLED)


async def contacts(
    ctx: Context, who: Principal, campaign_id: str, status: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    async with ctx.db.transaction() as s:
        row = await _owned(s, who, campaign_id)
        found, total = await store.contacts_page(s, row.id, status, limit, offset)
        attempts = await store.attempts_for(s, [c.id for c in found])
        return [contact_view(c, attempts[c.id]) for c in found], total


EXPORT_COLUMNS = ["phone", "name", "status", "outcome", "attempts", "opted_out", "call_ids", "last_error", "metadata"]


async def export_csv(ctx: Context, who: Principal, campaign_id: str) -> AsyncIterator[str]:
    """The results, one contact a line, in pages (a 10,000-contact campaign is never held whole)."""
    async with ctx.db.transaction() as s:
        row = await _owned(s, who, campaign_id)

    async def lines() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        yield out.getvalue()
        after = ""
        while True:
            async with ctx.db.transaction() as s:
                page_rows = await store.export_rows(s, row.id, after, 1000)
                attempts = await store.attempts_for(s, [c.id for c in page_rows])
            if not page_rows:
                return
            out = io.StringIO()
            writer = csv.writer(out)
            for c in page_rows:
                tried = attempts[c.id]
                writer.writerow(
                    [
                        c.phone,
                        c.name or "",
                        c.status,
                        c.outcome or "",
                        c.attempts,
                        "true" if any(a.opted_out for a in tried) else "false",
                        " ".join(a.call_id for a in tried if a.call_id),
                        c.last_error or "",
                        json.dumps(c.contact_metadata or {}, ensure_ascii=False, sort_keys=True),
                    ]
                )
            yield out.getvalue()
            after = page_rows[-1].id

    return lines()
