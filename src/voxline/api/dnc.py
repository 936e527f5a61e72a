"""/dnc: the account's do-not-call list (per mode). Every call is checked against it when started and again
when dialed; a callee who says they do not want to be called again lands here by themselves."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.responses import ok, raises
from voxline.api.schemas import Envelope, ErrorDetail, Message, Phone, Strict, Text
from voxline.core import errors
from voxline.core.phone import E164_PATTERN, InvalidPhoneNumber, parse_e164
from voxline.safety import dnc

router = APIRouter(prefix="/dnc", tags=["do-not-call"], responses=documented(403))
MAX_CSV_CHARS = 1_000_000


class DncAdd(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"numbers": ["+919876543210"], "reason": "Asked by email not to be called"}]}
    )
    numbers: Annotated[list[Phone], Field(min_length=1, max_length=10_000)]
    """E.164 numbers to list (1-10,000); numbers already listed are counted, not refused."""
    reason: Text(500) | None = None
    """Why they are listed, kept with each new entry."""


class DncImport(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"csv": "phone\n+919876543210\n+14155551234\n", "reason": "CRM opt-outs"}]}
    )
    csv: Annotated[str, Field(min_length=1, max_length=MAX_CSV_CHARS)]
    """CSV text with a `phone` column (or numbers in the first column, no header); bad rows are reported in
    `invalid`, not refused."""
    reason: Text(500) | None = None
    """Why they are listed, kept with each new entry."""


class DncAdded(BaseModel):
    added: int = Field(description="Numbers newly listed")
    already_listed: int = Field(description="Numbers that were on the list already")
    invalid: list[ErrorDetail] = Field(default=[], description="Rows that hold no valid number (the first 100)")


class DncEntryOut(BaseModel):
    phone: str
    source: Literal["api", "import", "opt_out"] = Field(
        description="`api` (POST /dnc), `import` (POST /dnc/import) or `opt_out` (the callee asked during a call)"
    )
    reason: str | None
    call_id: str | None = Field(description="The call in which the callee opted out (source `opt_out`)")
    created_at: str | None


class DncList(BaseModel):
    numbers: list[DncEntryOut]
    total: int
    limit: int
    offset: int


PhonePath = Annotated[
    str,
    Path(
        max_length=32,
        description="E.164 number",
        examples=["+919876543210"],
        # Documented, checked by _phone (which also asks whether the number is possible for its country).
        json_schema_extra={"pattern": E164_PATTERN, "format": "e164"},
    ),
]


def _phone(value: str) -> str:
    if value == "import":  # the literal path /dnc/import wins over /dnc/{phone}, as OpenAPI says: POST only
        raise errors.MethodNotAllowed(headers={"Allow": "POST"})
    try:
        return parse_e164(value)
    except InvalidPhoneNumber as exc:
        raise errors.InvalidPhoneNumber(f"phone {exc}.") from None


@router.post("", summary="Add numbers to the do-not-call list", responses=raises())
async def add_numbers(body: DncAdd, ctx: CtxDep, caller: GeneralCaller) -> Envelope[DncAdded]:
    """Lists the numbers for this key's mode (live or test): calls to them are refused when started
    (403 NUMBER_ON_DO_NOT_CALL) and never dialed; campaign contacts with them are skipped.
    """
    added = await dnc.add(ctx, caller, body.numbers, body.reason)
    unique = len(set(body.numbers))
    return ok(DncAdded(added=added, already_listed=unique - added, invalid=[]))


@router.post("/import", summary="Import numbers from CSV text", responses=raises(errors.InvalidCsv))
async def import_numbers(body: DncImport, ctx: CtxDep, caller: GeneralCaller) -> Envelope[DncAdded]:
    """Lists every valid number of a CSV (a `phone` column, or the first column when there is no header, up to
    100,000 numbers); rows with no valid number are reported in `invalid` (the first 100).
    """
    numbers, invalid = dnc.numbers_from_csv(body.csv)
    added = await dnc.add(ctx, caller, numbers, body.reason, source=dnc.IMPORT)
    already = len(set(numbers)) - added
    return ok(DncAdded(added=added, already_listed=already, invalid=[ErrorDetail(**i) for i in invalid[:100]]))


@router.get("", summary="List the do-not-call list, newest first", responses=raises())
async def list_numbers(
    ctx: CtxDep,
    caller: GeneralCaller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Envelope[DncList]:
    """The numbers listed for this key's mode, newest first, paginated with `limit` and `offset`, each with how it
    was listed (`source`) and why.
    """
    rows, total = await dnc.page(ctx, caller, limit, offset)
    found = [DncEntryOut(**r) for r in rows]
    return ok(DncList(numbers=found, total=total, limit=limit, offset=offset))


@router.get(
    "/{phone}",
    summary="Is this number on the list?",
    responses=raises(errors.InvalidPhoneNumber, errors.DncEntryNotFound),
)
async def get_number(phone: PhonePath, ctx: CtxDep, caller: GeneralCaller) -> Envelope[DncEntryOut]:
    """The entry of one E.164 number: how and why it was listed; 404 DNC_ENTRY_NOT_FOUND when it is not listed."""
    return ok(DncEntryOut(**await dnc.get(ctx, caller, _phone(phone))))


@router.delete(
    "/{phone}",
    summary="Remove a number from the list",
    responses=raises(errors.InvalidPhoneNumber, errors.DncEntryNotFound),
)
async def remove_number(phone: PhonePath, ctx: CtxDep, caller: GeneralCaller) -> Envelope[Message]:
    """Takes the number off the list for this key's mode; it may be called again. A callee who opted out asked
    not to be called: remove such entries only with their consent.
    """
    await dnc.remove(ctx, caller, _phone(phone))
    return ok(Message(message="Removed from the do-not-call list."))
