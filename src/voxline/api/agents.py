"""/agent: create, list, read, update, delete agents, and the voice catalog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from voxline.agents import service
from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.schemas import (
    AgentCreate,
    AgentList,
    AgentOut,
    AgentUpdate,
    Envelope,
    Message,
    VoiceList,
    non_null_errors,
)
from voxline.core import errors
from voxline.voice import catalog

router = APIRouter(prefix="/agent", tags=["agents"], responses=documented(403, 409))


def _refuse_nulls(values: dict) -> None:
    bad = non_null_errors(values)
    if bad:
        raise errors.InvalidType(f"{bad[0]['field']}: must not be null", details=bad)


@router.get("/voices", response_model=Envelope[VoiceList], summary="List the voices this deployment can speak")
async def list_voices(ctx: CtxDep, _caller: GeneralCaller) -> dict:
    voices = catalog.voices(ctx.settings.tts_engines)  # the engines of the settings this app was built with
    return {"success": True, "data": {"voices": [v.as_dict() for v in voices]}}


@router.post("", response_model=Envelope[AgentOut], summary="Create an agent")
async def create_agent(body: AgentCreate, ctx: CtxDep, caller: GeneralCaller) -> dict:
    values = body.supplied()
    _refuse_nulls(values)
    agent = await service.create(ctx, caller.partner_id, values)
    return {"success": True, "data": service.view(agent)}


@router.get("", response_model=Envelope[AgentList], summary="List agents, newest first")
async def list_agents(
    ctx: CtxDep,
    caller: GeneralCaller,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict:
    agents, total = await service.page(ctx, caller.partner_id, limit, offset)
    data = {"agents": [service.view(a) for a in agents], "total": total, "limit": limit, "offset": offset}
    return {"success": True, "data": data}


@router.get("/{agent_id}", response_model=Envelope[AgentOut], summary="Get an agent")
async def get_agent(agent_id: str, ctx: CtxDep, caller: GeneralCaller) -> dict:
    return {"success": True, "data": service.view(await service.get(ctx, caller.partner_id, agent_id))}


@router.put("/{agent_id}", response_model=Envelope[AgentOut], summary="Update an agent (only sent fields change)")
async def update_agent(agent_id: str, body: AgentUpdate, ctx: CtxDep, caller: GeneralCaller) -> dict:
    values = body.supplied()
    _refuse_nulls(values)
    agent = await service.update(ctx, caller.partner_id, agent_id, values)
    return {"success": True, "data": service.view(agent)}


@router.delete("/{agent_id}", response_model=Envelope[Message], summary="Delete an agent")
async def delete_agent(agent_id: str, ctx: CtxDep, caller: GeneralCaller) -> dict:
    await service.delete(ctx, caller.partner_id, agent_id)
    return {"success": True, "data": {"message": "Agent deleted successfully"}}
