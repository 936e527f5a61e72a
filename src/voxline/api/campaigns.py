"""/campaigns (§9.3): create a campaign, add contacts (JSON or CSV), start/pause/resume/cancel, follow its
progress and each contact's attempts, export the results as CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.schemas import Envelope, Phone, Provider, Strict, Text, Uuid, VarName
from voxline.campaigns import service
from voxline.core.campaign_rules import RETRYABLE

router = APIRouter(prefix="/campaigns", tags=["campaigns"], responses=documented(403, 409))

HHMM = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ISO_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:\d\d)$"
MetaValue = Annotated[str, Field(max_length=1000)] | int | float | bool | None


class WindowIn(Strict):
    days: Annotated[list[Day], Field(min_length=1, max_length=7)] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    start: Annotated[str, Field(pattern=HHMM, examples=["10:00"])]
    end: Annotated[str, Field(pattern=HHMM, examples=["18:00"])]


class ScheduleIn(Strict):
    start_at: Annotated[str, Field(max_length=40, pattern=ISO_UTC)] | None = None
    timezone: Text(64, 1) | None = Field(default=None, description="Zone for numbers with no known zone")
    windows: Annotated[list[WindowIn], Field(min_length=1, max_length=21)] | None = Field(
        default=None, description="Calling windows in each callee's local time (within the account's hours)"
    )


class RetryIn(Strict):
    retry_on: Annotated[list[Literal[RETRYABLE]], Field(max_length=4)] = ["no_answer", "busy"]  # type: ignore[valid-type]
    delays_secs: Annotated[list[Annotated[int, Field(ge=0, le=7 * 86400)]], Field(min_length=1, max_length=10)] = [
        1800, 3600]
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3


class CampaignCreate(Strict):
    name: Text(200, 1)
    agent_id: Uuid
    provider: Provider
    description: Text(2000) | None = None
    concurrency_limit: Annotated[int, Field(ge=-1_000_000, le=1_000_000, description="Clamped to 1-10")] = 1
    connection_id: Uuid | None = None
    variable_mapping: Annotated[dict[VarName, Text(100, 1)], Field(max_length=100)] | None = Field(
        default=None, description="agent variable -> contact metadata key (default: the same name)"
    )
    schedule: ScheduleIn | None = None
    retry_policy: RetryIn | None = None


class ContactIn(Strict):
    phone: Phone
    name: Text(200) | None = None
    metadata: Annotated[dict[Annotated[str, Field(max_length=100)], MetaValue], Field(max_length=50)] | None = None


class ContactsAdd(Strict):
    contacts: Annotated[list[ContactIn], Field(min_length=1, max_length=10_000)]


class ContactsCsv(Strict):
    csv: Annotated[str, Field(min_length=1, max_length=1_000_000, description="CSV: phone, name, metadata columns")]


class ContactsAdded(BaseModel):
    added: int
    duplicates: int
    contacts_created: int
    contacts_existing: int
    skipped_do_not_call: int
    invalid: list[dict[str, Any]] | None = None


class CampaignOut(BaseModel):
    campaign_id: str
    name: str
    description: str | None
    agent_id: str
    agent_name: str | None
    provider: str
    concurrency_limit: int
    status: str
    total_contacts: int
    completed_count: int
    failed_count: int
    skipped_count: int
    pending_count: int
    in_progress_count: int
    canceled_count: int
    connection_id: str | None
    variable_mapping: dict[str, str]
    schedule: dict[str, Any] | None
    retry_policy: dict[str, Any]
    started_at: str | None
    paused_at: str | None
    completed_at: str | None
    created_at: str | None


class CampaignList(BaseModel):
    campaigns: list[CampaignOut]
    total: int
    limit: int
    offset: int


class AttemptOut(BaseModel):
    attempt: int
    call_id: str | None
    status: str | None
    outcome: str | None
    opted_out: bool
    created_at: str | None
    ended_at: str | None


class ContactOut(BaseModel):
    contact_id: str
    phone: str
    name: str | None
    metadata: dict[str, Any]
    status: str
    outcome: str | None
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    calls: list[AttemptOut]


class ContactList(BaseModel):
    contacts: list[ContactOut]
    total: int
    limit: int
    offset: int


CampaignId = Annotated[str, Field(max_length=36)]


@router.post("", response_model=Envelope[CampaignOut], summary="Create a campaign (draft)")
async def create_campaign(body: CampaignCreate, ctx: CtxDep, caller: GeneralCaller) -> dict:
    new = service.NewCampaign(
        body.name, body.agent_id, body.provider, body.description, body.concurrency_limit, body.connection_id,
        body.variable_mapping, body.schedule.model_dump() if body.schedule else None,
        body.retry_policy.model_dump() if body.retry_policy else None,
    )
    return {"success": True, "data": await service.create(ctx, caller, new)}


@router.get("", response_model=Envelope[CampaignList], summary="List campaigns, newest first")
async def list_campaigns(
    ctx: CtxDep,
    caller: GeneralCaller,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict:
    rows, total = await service.page(ctx, caller, limit, offset)
    return {"success": True, "data": {"campaigns": rows, "total": total, "limit": limit, "offset": offset}}


@router.get("/{campaign_id}", response_model=Envelope[CampaignOut], summary="A campaign with its progress")
async def get_campaign(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> dict:
    return {"success": True, "data": await service.get(ctx, caller, campaign_id)}


@router.post("/{campaign_id}/contacts", response_model=Envelope[ContactsAdded], summary="Add contacts (1-10,000)")
async def add_contacts(campaign_id: CampaignId, body: ContactsAdd, ctx: CtxDep, caller: GeneralCaller) -> dict:
    contacts = [service.NewContact(c.phone, c.name, c.metadata) for c in body.contacts]
    return {"success": True, "data": await service.add_contacts(ctx, caller, campaign_id, contacts)}


@router.post("/{campaign_id}/contacts/csv", response_model=Envelope[ContactsAdded], summary="Add contacts from CSV")
async def add_contacts_csv(campaign_id: CampaignId, body: ContactsCsv, ctx: CtxDep, caller: GeneralCaller) -> dict:
    contacts, invalid = service.contacts_from_csv(body.csv)
    added = await service.add_contacts(ctx, caller, campaign_id, contacts)
    return {"success": True, "data": {**added, "invalid": invalid[:100]}}


@router.get("/{campaign_id}/contacts", response_model=Envelope[ContactList], summary="Contacts with their attempts")
async def list_contacts(
    campaign_id: CampaignId,
    ctx: CtxDep,
    caller: GeneralCaller,
    status: Annotated[
        Literal["waiting", "calling", "completed", "failed", "skipped", "canceled"] | None, Query()
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    rows, total = await service.contacts(ctx, caller, campaign_id, status, limit, offset)
    return {"success": True, "data": {"contacts": rows, "total": total, "limit": limit, "offset": offset}}


@router.get(
    "/{campaign_id}/export",
    summary="The results as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "one line per contact"}},
)
async def export_csv(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> StreamingResponse:
    lines = await service.export_csv(ctx, caller, campaign_id)
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )


@router.post("/{campaign_id}/start", response_model=Envelope[CampaignOut], summary="Start calling")
async def start_campaign(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> dict:
    return {"success": True, "data": await service.start(ctx, caller, campaign_id)}


@router.post("/{campaign_id}/pause", response_model=Envelope[CampaignOut], summary="Pause (calls on the line finish)")
async def pause_campaign(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> dict:
    return {"success": True, "data": await service.pause(ctx, caller, campaign_id)}


@router.post("/{campaign_id}/resume", response_model=Envelope[CampaignOut], summary="Resume a paused campaign")
async def resume_campaign(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> dict:
    return {"success": True, "data": await service.resume(ctx, caller, campaign_id)}


@router.post("/{campaign_id}/cancel", response_model=Envelope[CampaignOut], summary="Cancel; waiting contacts dropped")
async def cancel_campaign(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> dict:
    return {"success": True, "data": await service.cancel(ctx, caller, campaign_id)}
