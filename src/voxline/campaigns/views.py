"""The campaign and contact objects on the wire (§9.3's campaign object, plus progress and settings)."""

from __future__ import annotations

from typing import Any

from voxline.core.campaign_rules import CALLING, DONE, DROPPED, GAVE_UP, SKIPPED, WAITING
from voxline.core.timefmt import iso
from voxline.store.campaign_tables import Campaign, CampaignAttempt, CampaignContact


def campaign_view(c: Campaign, agent_name: str | None, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "campaign_id": c.id,
        "name": c.name,
        "description": c.description,
        "agent_id": c.agent_id,
        "agent_name": agent_name,
        "provider": c.provider,
        "concurrency_limit": c.concurrency_limit,
        "status": c.status,
        "total_contacts": sum(counts.values()),
        "completed_count": counts.get(DONE, 0),
        "failed_count": counts.get(GAVE_UP, 0),
        "skipped_count": counts.get(SKIPPED, 0),
        # Beyond §9.3: what is left, what is on the line now, what a cancel dropped
        "pending_count": counts.get(WAITING, 0),
        "in_progress_count": counts.get(CALLING, 0),
        "canceled_count": counts.get(DROPPED, 0),
        "connection_id": c.connection_id,
        "variable_mapping": c.variable_mapping or {},
        "schedule": c.schedule,
        "retry_policy": c.retry_policy,
        "started_at": iso(c.started_at),
        "paused_at": iso(c.paused_at),
        "completed_at": iso(c.completed_at),
        "created_at": iso(c.created_at),
    }


def attempt_view(a: CampaignAttempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "call_id": a.call_id,
        "status": a.status,
        "outcome": a.outcome,
        "opted_out": a.opted_out,
        "created_at": iso(a.created_at),
        "ended_at": iso(a.ended_at),
    }


def contact_view(c: CampaignContact, attempts: list[CampaignAttempt]) -> dict[str, Any]:
    return {
        "contact_id": c.id,
        "phone": c.phone,
        "name": c.name,
        "metadata": c.contact_metadata or {},
        "status": c.status,
        "outcome": c.outcome,
        "attempts": c.attempts,
        "next_attempt_at": iso(c.next_attempt_at) if c.status == WAITING else None,
        "last_error": c.last_error,
        "calls": [attempt_view(a) for a in attempts],
    }
