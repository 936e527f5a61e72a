"""/config/calling-policy: calling hours in the callee's local time and frequency caps, per mode."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from voxline.api.calling_windows import TimeZone, WindowIn, WindowOut
from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.responses import ok, raises
from voxline.api.schemas import Envelope, Integer, Strict
from voxline.core import errors
from voxline.safety import policy

router = APIRouter(prefix="/config", tags=["callee safety"], responses=documented(403))


class PolicyUpdate(Strict):
    """Send the fields to change; the others keep their current (or default) values. null is a value only for
    the two caps (no cap)."""

    model_config = ConfigDict(
        json_schema_extra={
            "minProperties": 1,  # an empty update is EMPTY_UPDATE
            "examples": [
                {
                    "calling_windows": [
                        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "20:00"},
                        {"days": ["sat"], "start": "10:00", "end": "14:00"},
                    ],
                    "outside_hours": "defer",
                    "fallback_timezone": "Asia/Kolkata",
                    "max_attempts_per_day": 2,
                }
            ],
        }
    )
    calling_windows: Annotated[list[WindowIn], Field(min_length=1, max_length=21)] = None  # type: ignore[assignment]
    """When calls may ring, in each callee's local time (1-21 windows; a moment any window covers is allowed)."""
    outside_hours: Literal["refuse", "defer"] = None  # type: ignore[assignment]
    """What POST /calls/start does outside the windows: `refuse` (403 OUTSIDE_CALLING_HOURS) or `defer` (queue
    the call until the next allowed moment). Campaigns always wait for the next window."""
    fallback_timezone: TimeZone = None  # type: ignore[assignment]
    """IANA zone used for numbers whose zone is unknown."""
    max_attempts_per_day: Integer(1, 1000) | None = None
    """Calls that may be started to one number in any 24 hours (1-1000); null: no cap."""
    max_attempts_per_week: Integer(1, 10_000) | None = None
    """Calls that may be started to one number in any 7 days (1-10000); null: no cap."""


class PolicyOut(BaseModel):
    calling_windows: list[WindowOut]
    outside_hours: Literal["refuse", "defer"]
    fallback_timezone: str
    max_attempts_per_day: int | None
    max_attempts_per_week: int | None
    is_default: bool = Field(description="True until this account sets its own policy (the deployment's default)")


@router.get("/calling-policy", summary="Calling hours and frequency caps", responses=raises())
async def get_policy(ctx: CtxDep, caller: GeneralCaller) -> Envelope[PolicyOut]:
    """The calling policy of this key's mode (live or test): the windows, in each callee's local time, when calls
    may ring, what happens to a call started outside them, and how often one number may be called.
    """
    return ok(PolicyOut(**await policy.read(ctx, caller)))


@router.put(
    "/calling-policy",
    summary="Change calling hours or caps",
    responses=raises(errors.EmptyUpdate, errors.InvalidCallingPolicy),
)
async def put_policy(body: PolicyUpdate, ctx: CtxDep, caller: GeneralCaller) -> Envelope[PolicyOut]:
    """Changes the fields sent, at least one; the others keep their current values. A window's end must be after
    its start and the zone must be a known IANA zone (INVALID_CALLING_POLICY otherwise).
    """
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise errors.EmptyUpdate("Send at least one of: " + ", ".join(PolicyUpdate.model_fields) + ".")
    if "calling_windows" in changes:
        changes["calling_windows"] = [w.model_dump() for w in body.calling_windows]
    return ok(PolicyOut(**await policy.update(ctx, caller, changes)))
