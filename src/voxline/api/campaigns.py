"""/campaigns (§9.3): create a campaign, add contacts (JSON or CSV), start/pause/resume/cancel, follow its
progress and each contact's attempts, export the results as CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from voxline.api.calling_windows import TimeZone, WindowIn, WindowOut
from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.responses import ok, raises
from voxline.api.schemas import Envelope, ErrorDetail, Integer, Phone, Provider, Strict, Text, Uuid, VarName
from voxline.campaigns import service
from voxline.core import errors
from voxline.core.campaign_rules import RETRYABLE

router = APIRouter(prefix="/campaigns", tags=["campaigns"], responses=documented(403))

ISO_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:\d\d)$"
MetaValue = Annotated[str, Field(max_length=1000)] | int | float | bool | None
CampaignStatus = Literal["draft", "running", "paused", "completed", "canceled"]
ContactStatus = Literal["waiting", "calling", "completed", "failed", "skipped", "canceled"]
Retryable = Literal[RETRYABLE]  # type: ignore[valid-type]


# ---- requests ----
class ScheduleIn(Strict):
    start_at: Annotated[str, Field(max_length=40, pattern=ISO_UTC, examples=["2026-12-01T09:30:00Z"])] | None = None
    """ISO 8601 time with a zone (`Z` or an offset) before which no contact is called; default: at start."""
    timezone: TimeZone | None = None
    """IANA zone for numbers whose zone is unknown; default: the calling policy's `fallback_timezone`."""
    windows: Annotated[list[WindowIn], Field(min_length=1, max_length=21)] | None = None
    """Calling windows in each callee's local time, on top of the account's calling policy (a contact is called
    only when both allow it); default: the policy's windows alone."""


class RetryIn(Strict):
    retry_on: Annotated[list[Retryable], Field(max_length=4)] = ["no_answer", "busy"]
    """Outcomes that earn the contact another attempt; default `no_answer`, `busy`."""
    delays_secs: Annotated[list[Integer(0, 7 * 86400)], Field(min_length=1, max_length=10)] = [1800, 3600]
    """Seconds to wait before the 2nd attempt, the 3rd, …; the last repeats. Default 1800, 3600."""
    max_attempts: Integer(1, 10) = 3
    """Attempts per contact, the first included (1-10); default 3."""


class CampaignCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "December appointment reminders",
                    "agent_id": "3f0b9a52-8d1e-4c7a-9a43-0f6c2d1e5b7a",
                    "provider": "twilio",
                    "description": "Clinic patients with an appointment next week",
                    "concurrency_limit": 3,
                    "variable_mapping": {"callee_name": "name"},
                    "schedule": {
                        "timezone": "Asia/Kolkata",
                        "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "10:00", "end": "18:00"}],
                    },
                    "retry_policy": {"retry_on": ["no_answer", "busy"], "delays_secs": [3600], "max_attempts": 2},
                }
            ]
        }
    )
    name: Text(200, 1)
    """Name of the campaign (1-200 characters)."""
    agent_id: Uuid
    """The agent that holds every call."""
    provider: Provider
    """Carrier to dial through; must be allowed for the account and configured for this key's mode."""
    description: Text(2000) | None = None
    """Free text for your own records."""
    concurrency_limit: Integer(-1_000_000, 1_000_000) = 1
    """Calls of this campaign on the line at once; clamped to 1-10 (default 1)."""
    connection_id: Uuid | None = None
    """Telephony connection to use; required when the account has several active ones for `provider`."""
    variable_mapping: Annotated[dict[VarName, Text(100, 1)], Field(max_length=100)] | None = None
    """Agent variable -> contact field it is filled from: a `metadata` key, `name` or `phone`. Unmapped
    variables are filled from the metadata key of the same name."""
    schedule: ScheduleIn | None = None
    """When contacts may be called: a start time, calling windows and a fallback zone."""
    retry_policy: RetryIn | None = None
    """Which outcomes are tried again, after how long, and how many attempts a contact gets."""


class ContactIn(Strict):
    phone: Phone
    """Number to call, E.164."""
    name: Text(200) | None = None
    """Name of the callee; fills a variable mapped to `name`."""
    metadata: Annotated[dict[Annotated[str, Field(max_length=100)], MetaValue], Field(max_length=50)] | None = None
    """Values for the agent's variables (see `variable_mapping`) and your own records, up to 50 keys."""


class ContactsAdd(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contacts": [
                        {"phone": "+919876543210", "name": "Sajal", "metadata": {"appointment": "10:00"}},
                        {"phone": "+14155551234", "name": "Maya"},
                    ]
                }
            ]
        }
    )
    contacts: Annotated[list[ContactIn], Field(min_length=1, max_length=10_000)]
    """The contacts to add (1-10,000); a number already in the campaign is a duplicate, not an error."""


class ContactsCsv(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"csv": "phone,name,appointment\n+919876543210,Sajal,10:00\n"}]}
    )
    csv: Annotated[str, Field(min_length=1, max_length=1_000_000)]
    """CSV text: a header row with `phone` (required) and `name`; every other column goes into the contact's
    `metadata`. Rows with an invalid number are reported in `invalid`."""


# ---- responses ----
class ContactsAdded(BaseModel):
    added: int = Field(description="Contacts added to the campaign")
    duplicates: int = Field(description="Numbers already in the campaign or repeated in the request")
    contacts_created: int = Field(description="Added numbers this account had in no other campaign")
    contacts_existing: int = Field(description="Added numbers this account has in another campaign")
    skipped_do_not_call: int = Field(description="Added numbers on the do-not-call list: added as skipped")
    invalid: list[ErrorDetail] | None = Field(
        default=None, description="CSV uploads only: rows with no valid number (the first 100)"
    )


class ScheduleOut(BaseModel):
    start_at: str | None
    timezone: str
    windows: list[WindowOut] | None


class RetryPolicyOut(BaseModel):
    retry_on: list[str]
    delays_secs: list[int]
    max_attempts: int


class CampaignOut(BaseModel):
    campaign_id: str
    name: str
    description: str | None
    agent_id: str
    agent_name: str | None
    provider: str
    concurrency_limit: int
    status: CampaignStatus
    total_contacts: int
    completed_count: int
    failed_count: int
    skipped_count: int
    pending_count: int = Field(description="Contacts still to be called (first call or a retry)")
    in_progress_count: int = Field(description="Contacts on a call now")
    canceled_count: int = Field(description="Contacts dropped by a cancel")
    connection_id: str | None
    variable_mapping: dict[str, str]
    schedule: ScheduleOut | None
    retry_policy: RetryPolicyOut
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
    status: str | None = Field(description="The call's status")
    outcome: str | None
    opted_out: bool = Field(description="The callee asked not to be called again during this call")
    created_at: str | None
    ended_at: str | None


class ContactOut(BaseModel):
    contact_id: str
    phone: str
    name: str | None
    metadata: dict[str, Any]
    status: ContactStatus
    outcome: str | None = Field(
        description="How the last attempt ended: completed, no_answer, busy, failed, voicemail, canceled, "
        "opted_out, do_not_call, or the lower-cased code of the error that refused the call"
    )
    attempts: int
    next_attempt_at: str | None = Field(description="When a waiting contact is next due")
    last_error: str | None
    calls: list[AttemptOut]


class ContactList(BaseModel):
    contacts: list[ContactOut]
    total: int
    limit: int
    offset: int


CampaignId = Annotated[str, Field(max_length=36)]
_FOUND = (errors.CampaignNotFound,)
_MOVE = (errors.CampaignNotFound, errors.InvalidCampaignState)


@router.post(
    "",
    summary="Create a campaign (draft)",
    responses=raises(
        errors.AgentNotFound,
        errors.ProviderNotAllowed,
        errors.ConnectionNotFound,
        errors.ConnectionProviderMismatch,
        errors.ConnectionInactive,
        errors.ProviderNotConfigured,
        errors.ConnectionRequired,
        errors.UndeclaredVariable,
        errors.InvalidSchedule,
    ),
)
async def create_campaign(body: CampaignCreate, ctx: CtxDep, caller: GeneralCaller) -> Envelope[CampaignOut]:
    """Creates a campaign in `draft`: one agent calls every contact through `provider`, at most
    `concurrency_limit` at once, within the account's calling hours and the campaign's `schedule`, retrying
    as `retry_policy` says. The connection is checked as for POST /calls/start. Add contacts, then start it.
    """
    new = service.NewCampaign(
        body.name,
        body.agent_id,
        body.provider,
        body.description,
        body.concurrency_limit,
        body.connection_id,
        body.variable_mapping,
        body.schedule.model_dump() if body.schedule else None,
        body.retry_policy.model_dump() if body.retry_policy else None,
    )
    return ok(CampaignOut(**await service.create(ctx, caller, new)))


@router.get("", summary="List campaigns, newest first", responses=raises())
async def list_campaigns(
    ctx: CtxDep,
    caller: GeneralCaller,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Envelope[CampaignList]:
    """Campaigns of this key's mode, newest first, with their progress, paginated with `limit` and `offset`."""
    rows, total = await service.page(ctx, caller, limit, offset)
    found = [CampaignOut(**r) for r in rows]
    return ok(CampaignList(campaigns=found, total=total, limit=limit, offset=offset))


@router.get("/{campaign_id}", summary="A campaign with its progress", responses=raises(*_FOUND))
async def get_campaign(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> Envelope[CampaignOut]:
    """One campaign: its settings, status and how many contacts are waiting, on a call, done, failed or skipped."""
    return ok(CampaignOut(**await service.get(ctx, caller, campaign_id)))


@router.post(
    "/{campaign_id}/contacts",
    summary="Add contacts (1-10,000)",
    responses=raises(*_MOVE),
)
async def add_contacts(
    campaign_id: CampaignId, body: ContactsAdd, ctx: CtxDep, caller: GeneralCaller
) -> Envelope[ContactsAdded]:
    """Adds contacts to a draft, running or paused campaign (409 INVALID_CAMPAIGN_STATE once it is completed or
    canceled). Numbers already in it are counted as duplicates; numbers on the do-not-call list are added as
    skipped and never called.
    """
    contacts = [service.NewContact(c.phone, c.name, c.metadata) for c in body.contacts]
    return ok(ContactsAdded(**await service.add_contacts(ctx, caller, campaign_id, contacts)))


@router.post(
    "/{campaign_id}/contacts/csv",
    summary="Add contacts from CSV",
    responses=raises(*_MOVE, errors.InvalidCsv),
)
async def add_contacts_csv(
    campaign_id: CampaignId, body: ContactsCsv, ctx: CtxDep, caller: GeneralCaller
) -> Envelope[ContactsAdded]:
    """As POST /campaigns/{campaign_id}/contacts, from CSV text: a `phone` column (required), `name`, and any
    other columns as metadata. Rows with an invalid number are reported in `invalid` (the first 100); a CSV with
    no valid number is 400 INVALID_CSV.
    """
    contacts, invalid = service.contacts_from_csv(body.csv)
    added = await service.add_contacts(ctx, caller, campaign_id, contacts)
    return ok(ContactsAdded(**added, invalid=[ErrorDetail(**i) for i in invalid[:100]]))


@router.get("/{campaign_id}/contacts", summary="Contacts with their attempts", responses=raises(*_FOUND))
async def list_contacts(
    campaign_id: CampaignId,
    ctx: CtxDep,
    caller: GeneralCaller,
    status: Annotated[ContactStatus | None, Query(description="Only contacts with this status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Envelope[ContactList]:
    """The campaign's contacts in the order they were added, each with its status, last outcome, next due time
    and every call attempt; filter by `status`, paginate with `limit` and `offset`.
    """
    rows, total = await service.contacts(ctx, caller, campaign_id, status, limit, offset)
    found = [ContactOut(**r) for r in rows]
    return ok(ContactList(contacts=found, total=total, limit=limit, offset=offset))


@router.get(
    "/{campaign_id}/export",
    summary="The results as CSV",
    response_class=StreamingResponse,
    responses={
        **raises(*_FOUND),
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "A header row (" + ", ".join(service.EXPORT_COLUMNS) + "), then one line per contact",
        },
    },
)
async def export_csv(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> StreamingResponse:
    """The campaign's results as a CSV download, one line per contact: status, outcome, attempts, whether the
    callee opted out, the call ids, the last error and the metadata (as JSON).
    """
    lines = await service.export_csv(ctx, caller, campaign_id)
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )


@router.post("/{campaign_id}/start", summary="Start calling", responses=raises(*_MOVE))
async def start_campaign(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> Envelope[CampaignOut]:
    """Starts a draft campaign that has contacts; calls begin within seconds (at `schedule.start_at` at the
    earliest). Any other status, or no contacts: 409 INVALID_CAMPAIGN_STATE.
    """
    return ok(CampaignOut(**await service.start(ctx, caller, campaign_id)))


@router.post("/{campaign_id}/pause", summary="Pause (calls on the line finish)", responses=raises(*_MOVE))
async def pause_campaign(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> Envelope[CampaignOut]:
    """Pauses a running campaign: no new calls are placed; calls already on the line finish and count."""
    return ok(CampaignOut(**await service.pause(ctx, caller, campaign_id)))


@router.post("/{campaign_id}/resume", summary="Resume a paused campaign", responses=raises(*_MOVE))
async def resume_campaign(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> Envelope[CampaignOut]:
    """Resumes a paused campaign where it stopped; other statuses answer 409 INVALID_CAMPAIGN_STATE."""
    return ok(CampaignOut(**await service.resume(ctx, caller, campaign_id)))


@router.post("/{campaign_id}/cancel", summary="Cancel; waiting contacts dropped", responses=raises(*_MOVE))
async def cancel_campaign(campaign_id: CampaignId, ctx: CtxDep, caller: GeneralCaller) -> Envelope[CampaignOut]:
    """Cancels a draft, running or paused campaign for good: contacts still waiting are dropped (`canceled`);
    calls already on the line finish.
    """
    return ok(CampaignOut(**await service.cancel(ctx, caller, campaign_id)))
