"""/dnc: the account's do-not-call list (per mode). Every call is checked against it when started and again
when dialed; a callee who says they do not want to be called again lands here by themselves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.schemas import Envelope, Message, Phone, Strict, Text
from voxline.core import errors
from voxline.core.phone import E164_PATTERN, InvalidPhoneNumber, parse_e164
from voxline.safety import dnc

router = APIRouter(prefix="/dnc", tags=["do-not-call"], responses=documented(409))
MAX_CSV_CHARS = 1_000_000


class DncAdd(Strict):
    numbers: Annotated[list[Phone], Field(min_length=1, max_length=10_000)]
    reason: Text(500) | None = None


class DncImport(Strict):
    csv: Annotated[str, Field(min_length=1, max_length=MAX_CSV_CHARS, description="CSV text; a `phone` column")]
    reason: Text(500) | None = None


class DncAdded(BaseModel):
    added: int
    already_listed: int
    invalid: list[dict] = []


class DncEntryOut(BaseModel):
    phone: str
    source: str
    reason: str | None
    call_id: str | None
    created_at: str | None


class DncList(BaseModel):
    numbers: list[DncEntryOut]
    total: int
    limit: int
    offset: int


PhonePath = Annotated[str, Path(max_length=32, json_schema_extra={"pattern": E164_PATTERN})]


def _phone(value: str) -> str:
    try:
        return parse_e164(value)
    except InvalidPhoneNumber as exc:
        raise errors.InvalidPhoneNumber(f"phone {exc}.") from None


@router.post("", response_model=Envelope[DncAdded], summary="Add numbers to the do-not-call list")
async def add_numbers(body: DncAdd, ctx: CtxDep, caller: GeneralCaller) -> dict:
    added = await dnc.add(ctx, caller, body.numbers, body.reason)
    unique = len(set(body.numbers))
    return {"success": True, "data": {"added": added, "already_listed": unique - added, "invalid": []}}


@router.post("/import", response_model=Envelope[DncAdded], summary="Import numbers from CSV text")
async def import_numbers(body: DncImport, ctx: CtxDep, caller: GeneralCaller) -> dict:
    numbers, invalid = dnc.numbers_from_csv(body.csv)
    added = await dnc.add(ctx, caller, numbers, body.reason, source=dnc.IMPORT)
    return {
        "success": True,
        "data": {"added": added, "already_listed": len(set(numbers)) - added, "invalid": invalid[:100]},
    }


@router.get("", response_model=Envelope[DncList], summary="List the do-not-call list, newest first")
async def list_numbers(
    ctx: CtxDep,
    caller: GeneralCaller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    rows, total = await dnc.page(ctx, caller, limit, offset)
    return {"success": True, "data": {"numbers": rows, "total": total, "limit": limit, "offset": offset}}


@router.get("/{phone}", response_model=Envelope[DncEntryOut], summary="Is this number on the list?")
async def get_number(phone: PhonePath, ctx: CtxDep, caller: GeneralCaller) -> dict:
    return {"success": True, "data": await dnc.get(ctx, caller, _phone(phone))}


@router.delete("/{phone}", response_model=Envelope[Message], summary="Remove a number from the list")
async def remove_number(phone: PhonePath, ctx: CtxDep, caller: GeneralCaller) -> dict:
    await dnc.remove(ctx, caller, _phone(phone))
    return {"success": True, "data": {"message": "Removed from the do-not-call list."}}
