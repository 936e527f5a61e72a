"""/agent: create, list, read, update, delete agents, and the voice catalog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from voxline.agents import service
from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.responses import ok, raises
from voxline.api.schemas import (
    AgentCreate,
    AgentList,
    AgentOut,
    AgentUpdate,
    Envelope,
    Message,
    VoiceList,
    VoiceOut,
    non_null_errors,
)
from voxline.core import errors
from voxline.voice import catalog

router = APIRouter(prefix="/agent", tags=["agents"], responses=documented(403))


def _refuse_nulls(values: dict) -> None:
    bad = non_null_errors(values)
    if bad:
        raise errors.InvalidType(f"{bad[0]['field']}: must not be null", details=bad)


@router.get("/voices", summary="List the voices this deployment can speak", responses=raises())
async def list_voices(ctx: CtxDep, _caller: GeneralCaller) -> Envelope[VoiceList]:
    """The voices this deployment's speech engines can speak. Use an `id` as an agent's `voice_id`; the voice fixes the
    agent's language.
    """
    voices = catalog.voices(ctx.settings.tts_engines)  # the engines of the settings this app was built with
    return ok(VoiceList(voices=[VoiceOut(**v.as_dict()) for v in voices]))


@router.post(
    "",
    summary="Create an agent",
    responses=raises(
        errors.InvalidVoice,
        errors.InvalidVariables,
        errors.InvalidPhoneNumber,
        errors.AgentLimitReached,
        errors.AgentNameTaken,
    ),
)
async def create_agent(body: AgentCreate, ctx: CtxDep, caller: GeneralCaller) -> Envelope[AgentOut]:
    """Creates an agent: its prompt, greeting, voice, declared variables, voicemail, transfer, end-call, recording and
    extraction settings. `{{name}}` placeholders in `prompt` and `intro_message` are filled from each call's
    `variables`. Names are unique per account; the number of agents is capped by `agent_limit` (GET /config).
    """
    values = body.supplied()
    _refuse_nulls(values)
    agent = await service.create(ctx, caller.partner_id, values)
    return ok(AgentOut(**service.view(agent)))


@router.get("", summary="List agents, newest first", responses=raises())
async def list_agents(
    ctx: CtxDep,
    caller: GeneralCaller,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Envelope[AgentList]:
    """Agents of this account, newest first, paginated with `limit` and `offset`. Deleted agents are not listed."""
    agents, total = await service.page(ctx, caller.partner_id, limit, offset)
    views = [AgentOut(**service.view(a)) for a in agents]
    return ok(AgentList(agents=views, total=total, limit=limit, offset=offset))


@router.get("/{agent_id}", summary="Get an agent", responses=raises())
async def get_agent(agent_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[AgentOut]:
    """One agent of this account by id."""
    return ok(AgentOut(**service.view(await service.get(ctx, caller.partner_id, agent_id))))


@router.put(
    "/{agent_id}",
    summary="Update an agent (only sent fields change)",
    responses=raises(
        errors.EmptyUpdate,
        errors.InvalidVoice,
        errors.InvalidVariables,
        errors.InvalidPhoneNumber,
        errors.AgentNameTaken,
    ),
)
async def update_agent(agent_id: str, body: AgentUpdate, ctx: CtxDep, caller: GeneralCaller) -> Envelope[AgentOut]:
    """Partial update: only the fields sent change, at least one is required. `null` clears a nullable field."""
    values = body.supplied()
    _refuse_nulls(values)
    agent = await service.update(ctx, caller.partner_id, agent_id, values)
    return ok(AgentOut(**service.view(agent)))


@router.delete("/{agent_id}", summary="Delete an agent", responses=raises())
async def delete_agent(agent_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[Message]:
    """Deletes the agent. Its past calls and sessions stay readable; it can no longer be called."""
    await service.delete(ctx, caller.partner_id, agent_id)
    return ok(Message(message="Agent deleted successfully"))
