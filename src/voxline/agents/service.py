"""Create, read, update and soft-delete agents, scoped to one partner."""

from __future__ import annotations

from typing import Any

from voxline.agents import rules
from voxline.context import Context
from voxline.core import errors
from voxline.core.ids import is_uuid, new_id
from voxline.core.templating import placeholders
from voxline.core.timefmt import iso, utcnow
from voxline.store import agents as store
from voxline.store import partners as partner_store
from voxline.store.db import Transaction
from voxline.store.errors import Conflict
from voxline.store.models import Agent

KB_FIELDS = (
    "kb_threshold",
    "kb_include_summaries",
    "kb_result_format",
    "kb_enable_llm_processing",
    "kb_llm_system_prompt",
)
_PLAIN_FIELDS = (
    "agent_name",
    "agent_type",
    "prompt",
    "intro_message",
    "voicemail_detection_enabled",
    "voicemail_message",
    "enable_recording",
    "end_call_enabled",
    "end_call_message",
    "end_call_instructions",
    "transfer_enabled",
    "transfer_number",
    "transfer_message",
    "transfer_instructions",
    "max_call_duration_secs",
    "extraction_config",
    "project_id",
    "background_audio_id",
    "background_audio_volume",
)
# null or "" on these means "use the platform default" / "none"
_BLANK_IS_NONE = (
    "intro_message",
    "voicemail_message",
    "end_call_message",
    "transfer_message",
    "transfer_instructions",
    "end_call_instructions",
)


def view(agent: Agent) -> dict[str, Any]:
    kb = agent.kb_settings or {}
    return {
        "id": agent.id,
        "agent_name": agent.agent_name,
        "agent_type": agent.agent_type,
        "prompt": agent.prompt,
        "voice_id": agent.voice_id,
        "language": agent.language,
        "intro_message": agent.intro_message,
        "voicemail_detection_enabled": agent.voicemail_detection_enabled,
        "voicemail_message": agent.voicemail_message,
        "enable_recording": agent.enable_recording,
        "kb_threshold": kb.get("kb_threshold", "medium"),
        "kb_include_summaries": kb.get("kb_include_summaries", False),
        "kb_result_format": kb.get("kb_result_format"),
        "kb_enable_llm_processing": kb.get("kb_enable_llm_processing", False),
        "kb_llm_system_prompt": kb.get("kb_llm_system_prompt"),
        "variables": agent.variables,
        "extraction_config": agent.extraction_config,
        "project_id": agent.project_id,
        "transferEnabled": agent.transfer_enabled,
        "transferNumber": agent.transfer_number,
        "transferMessage": agent.transfer_message or rules.DEFAULT_TRANSFER_MESSAGE,
        "transfer_instructions": agent.transfer_instructions,
        "endCallEnabled": agent.end_call_enabled,
        "endCallMessage": agent.end_call_message or rules.DEFAULT_END_CALL_MESSAGE,
        "end_call_instructions": agent.end_call_instructions,
        "max_call_duration_secs": agent.max_call_duration_secs,
        "background_audio_id": agent.background_audio_id,
        "background_audio_volume": agent.background_audio_volume,
        "document_count": 0,
        "created_at": iso(agent.created_at),
        "updated_at": iso(agent.updated_at),
    }


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name in _BLANK_IS_NONE:
        if name in out and out[name] == "":
            out[name] = None
    return out


async def create(ctx: Context, partner_id: str, values: dict[str, Any]) -> Agent:
    values = _normalise(values)
    voice = rules.voice_or_error(values["voice_id"], ctx.settings.tts_engines)
    rules.check_transfer(values.get("transfer_enabled", False), values.get("transfer_number"))
    rules.check_extraction_keys(values.get("extraction_config"))
    variables = rules.declared_variables(values.get("variables"), values["prompt"], values.get("intro_message"))
    now = utcnow()
    agent = Agent(
        id=new_id(),
        partner_id=partner_id,
        voice_id=voice.id,
        language=voice.language,
        variables=variables,
        kb_settings={k: values[k] for k in KB_FIELDS if values.get(k) is not None},
        max_call_duration_secs=rules.DEFAULT_MAX_CALL_DURATION_SECS,
        agent_type="outbound",
        voicemail_detection_enabled=False,
        enable_recording=False,
        end_call_enabled=True,
        transfer_enabled=False,
        created_at=now,
        updated_at=now,
        deleted_at=None,
    )
    for name in _PLAIN_FIELDS:
        if name in values:
            setattr(agent, name, values[name])
    async with ctx.db.transaction() as s:
        partner = await partner_store.lock_partner(s, partner_id)
        if await partner_store.count_live_agents(s, partner_id) >= partner.agent_limit:
            raise errors.AgentLimitReached(f"This account may have at most {partner.agent_limit} agents.")
        if await store.name_in_use(s, partner_id, agent.agent_name):
            raise errors.AgentNameTaken(f"An agent named {agent.agent_name!r} already exists.")
        try:
            await store.add(s, agent)
        except Conflict:
            raise errors.AgentNameTaken(f"An agent named {agent.agent_name!r} already exists.") from None
        return agent


async def get(ctx: Context, partner_id: str, agent_id: str) -> Agent:
    async with ctx.db.transaction() as s:
        return await _require(s, partner_id, agent_id)


async def page(ctx: Context, partner_id: str, limit: int, offset: int) -> tuple[list[Agent], int]:
    async with ctx.db.transaction() as s:
        return await store.page(s, partner_id, limit, offset)


async def update(ctx: Context, partner_id: str, agent_id: str, values: dict[str, Any]) -> Agent:
    if not values:
        raise errors.EmptyUpdate()
    values = _normalise(values)
    async with ctx.db.transaction() as s:
        agent = await _require(s, partner_id, agent_id)
        if "voice_id" in values:
            voice = rules.voice_or_error(values["voice_id"], ctx.settings.tts_engines)
            agent.voice_id, agent.language = voice.id, voice.language
        if (
            "agent_name" in values
            and values["agent_name"] != agent.agent_name
            and await store.name_in_use(s, partner_id, values["agent_name"], except_id=agent.id)
        ):
            raise errors.AgentNameTaken(f"An agent named {values['agent_name']!r} already exists.")
        old_derived = placeholders(agent.prompt, agent.intro_message)
        texts_changed = "prompt" in values or "intro_message" in values
        for name in _PLAIN_FIELDS:
            if name in values:
                setattr(agent, name, values[name])
        if values.get("transfer_enabled") is False:
            agent.transfer_number = agent.transfer_message = agent.transfer_instructions = None
        rules.check_transfer(agent.transfer_enabled, agent.transfer_number)
        rules.check_extraction_keys(agent.extraction_config)
        if "variables" in values:
            explicit = values["variables"]
            agent.variables = rules.declared_variables(explicit if explicit is not None else [], "", None)
        elif texts_changed and list(agent.variables) == old_derived:
            # The names were derived from the texts before, so they follow the texts now.
            agent.variables = rules.declared_variables(None, agent.prompt, agent.intro_message)
        kb = dict(agent.kb_settings or {})
        for k in KB_FIELDS:
            if k in values:
                if values[k] is None:
                    kb.pop(k, None)
                else:
                    kb[k] = values[k]
        agent.kb_settings = kb
        agent.updated_at = utcnow()
        try:
            await store.flush(s)
        except Conflict:
            raise errors.AgentNameTaken(f"An agent named {agent.agent_name!r} already exists.") from None
        return agent


async def delete(ctx: Context, partner_id: str, agent_id: str) -> None:
    async with ctx.db.transaction() as s:
        agent = await _require(s, partner_id, agent_id)
        agent.deleted_at = utcnow()
        await store.flush(s)


async def _require(s: Transaction, partner_id: str, agent_id: str) -> Agent:
    agent = await store.get(s, partner_id, agent_id) if is_uuid(agent_id) else None
    if agent is None:
        raise errors.NotFound("Agent not found.")
    return agent
