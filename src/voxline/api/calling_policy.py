"""/config/calling-policy: calling hours in the callee's local time and frequency caps, per mode."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.schemas import Envelope, Strict, Text
from voxline.safety import policy

router = APIRouter(prefix="/config", tags=["callee safety"], responses=documented())

HHMM = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class WindowIn(Strict):
    days: Annotated[list[Day], Field(min_length=1, max_length=7)] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    start: Annotated[str, Field(pattern=HHMM, examples=["09:00"])]
    end: Annotated[str, Field(pattern=HHMM, examples=["21:00"])]


class PolicyUpdate(Strict):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    calling_windows: Annotated[list[WindowIn], Field(min_length=1, max_length=21)] = None  # type: ignore[assignment]
    outside_hours: Literal["refuse", "defer"] = None  # type: ignore[assignment]
    fallback_timezone: Text(64, 1) = None  # type: ignore[assignment]
    max_attempts_per_day: Annotated[int, Field(ge=1, le=1000)] | None = None
    max_attempts_per_week: Annotated[int, Field(ge=1, le=10_000)] | None = None


class WindowOut(BaseModel):
    days: list[str]
    start: str
    end: str


class PolicyOut(BaseModel):
    calling_windows: list[WindowOut]
    outside_hours: str
    fallback_timezone: str
    max_attempts_per_day: int | None
    max_attempts_per_week: int | None
    is_default: bool


@router.get("/calling-policy", response_model=Envelope[PolicyOut], summary="Calling hours and frequency caps")
async def get_policy(ctx: CtxDep, caller: GeneralCaller) -> dict:
    return {"success": True, "data": await policy.read(ctx, caller)}


@router.put("/calling-policy", response_model=Envelope[PolicyOut], summary="Change calling hours or caps")
async def put_policy(body: PolicyUpdate, ctx: CtxDep, caller: GeneralCaller) -> dict:
    changes = body.model_dump(exclude_unset=True)
    if "calling_windows" in changes:
        changes["calling_windows"] = [w.model_dump() for w in body.calling_windows]
    return {"success": True, "data": await policy.update(ctx, caller, changes)}
