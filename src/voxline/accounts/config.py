"""GET /config: the partner's limits, allowed providers and what is configured, with no secret in it.

Seen through the caller's mode: a test key sees the sandbox concurrency limit, its test connections and
test webhook endpoints; a live key the live ones.
"""

from __future__ import annotations

from typing import Any

from voxline.context import Context
from voxline.core.call_limits import concurrency_limit
from voxline.core.destination import DestinationPolicy
from voxline.core.principal import Principal
from voxline.core.timefmt import utcnow
from voxline.store import connections as connection_store
from voxline.store import partners as store
from voxline.telephony.registry import PROVIDERS
from voxline.voice import catalog
from voxline.webhooks import endpoints as webhook_endpoints


async def partner_config(ctx: Context, owner: Principal) -> dict[str, Any]:
    partner_id = owner.partner_id
    async with ctx.db.transaction() as s:
        partner = await store.get_partner(s, partner_id)
        agent_count = await store.count_live_agents(s, partner_id)
        connections = await connection_store.for_partner(s, partner_id, owner.mode)
    telephony: dict[str, Any] = {}
    for provider in PROVIDERS:
        mine = [c for c in connections if c.provider == provider]
        default = next((c for c in mine if c.is_default), mine[0] if mine else None)
        usable = [c for c in mine if c.status == "ACTIVE" and c.from_number]
        telephony[provider] = {
            "configured": bool(usable),
            "from_number": default.from_number if default else None,
            "credential_hint": default.credential_hint if default else None,
            "connection_count": len(mine),
        }
    voices = catalog.voices(ctx.settings.tts_engines)
    webhook, webhooks = await webhook_endpoints.config_state(ctx, owner)
    policy = DestinationPolicy.from_stored(partner.allowed_countries, partner.allowed_number_types)
    return {
        "partner_id": partner.id,
        "name": partner.name,
        "display_name": partner.display_name,
        "status": partner.status,
        "agent_limit": partner.agent_limit,
        "current_agent_count": agent_count,
        "concurrency_limit": concurrency_limit(
            owner.mode, partner.concurrency_limit, partner.sandbox_concurrency_limit, ctx.settings.sandbox_concurrency
        ),
        "allowed_voices": [v.id for v in voices],
        "allowed_languages": sorted({v.language for v in voices}),
        "allowed_telephony_providers": partner.allowed_providers,
        "voicemail_detection_enabled": partner.voicemail_detection_enabled,
        "rate_limits": {
            "general_per_min": partner.rate_limit_per_min or ctx.settings.rate_limit_per_min,
            "calls_per_min": partner.calls_rate_limit_per_min or ctx.settings.calls_rate_limit_per_min,
        },
        "webhook": webhook,
        "webhooks": webhooks,
        "telephony": telephony,
        "destination_policy": {
            "allowed_countries": list(policy.allowed_countries) if policy.allowed_countries is not None else None,
            "blocked_number_types": list(policy.blocked_types),
        },
    }


async def set_voicemail_detection(ctx: Context, partner_id: str, enabled: bool) -> bool:
    async with ctx.db.transaction() as s:
        await store.update_partner(s, partner_id, {"voicemail_detection_enabled": enabled, "updated_at": utcnow()})
    return enabled
