"""Do-not-call use-cases: add, remove, list, import in bulk, and the callee's own spoken opt-out."""

from __future__ import annotations

import csv
import io
from typing import Any

from voxline.context import Context
from voxline.core import errors
from voxline.core.phone import InvalidPhoneNumber, parse_e164
from voxline.core.principal import Principal
from voxline.core.timefmt import iso
from voxline.store import dnc as store
from voxline.store.campaign_tables import DncEntry

API, IMPORT, OPT_OUT = "api", "import", "opt_out"
MAX_IMPORT = 100_000


def view(row: DncEntry) -> dict[str, Any]:
    return {
        "phone": row.phone,
        "source": row.source,
        "reason": row.reason,
        "call_id": row.call_id,
        "created_at": iso(row.created_at),
    }


async def add(ctx: Context, principal: Principal, phones: list[str], reason: str | None, source: str = API) -> int:
    async with ctx.db.transaction() as s:
        return await store.add_many(
            s, principal.partner_id, principal.mode, phones, source=source, now=ctx.clock(), reason=reason
        )


async def remove(ctx: Context, principal: Principal, phone: str) -> None:
    async with ctx.db.transaction() as s:
        if not await store.remove(s, principal.partner_id, principal.mode, phone):
            raise errors.DncEntryNotFound()


async def get(ctx: Context, principal: Principal, phone: str) -> dict[str, Any]:
    async with ctx.db.transaction() as s:
        row = await store.get(s, principal.partner_id, principal.mode, phone)
    if row is None:
        raise errors.DncEntryNotFound()
    return view(row)


async def page(ctx: Context, principal: Principal, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    async with ctx.db.transaction() as s:
        rows, total = await store.page(s, principal.partner_id, principal.mode, limit, offset)
    return [view(r) for r in rows], total


def numbers_from_csv(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Numbers from a CSV (a `phone` column, or the first column when there is no header); bad rows reported."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))  # newline="": the csv module reads \r, \n, \r\n
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise errors.InvalidCsv(f"The CSV cannot be read: {exc}.") from None
    if not rows:
        return [], []
    header = [c.strip().lower() for c in rows[0]]
    column = header.index("phone") if "phone" in header else 0
    body = rows[1:] if "phone" in header else rows
    good: list[str] = []
    bad: list[dict[str, Any]] = []
    for line, row in enumerate(body, start=2 if "phone" in header else 1):
        value = row[column].strip() if len(row) > column else ""
        if not value:
            continue
        try:
            good.append(parse_e164(value))
        except InvalidPhoneNumber as exc:
            bad.append({"field": f"line {line}", "code": "INVALID_PHONE_NUMBER", "message": f"{value[:40]} {exc}"})
    if len(good) > MAX_IMPORT:
        raise errors.InvalidCsv(f"At most {MAX_IMPORT} numbers per import.")
    return good, bad


async def record_opt_out(ctx: Context, partner_id: str, mode: str, phone: str, call_id: str, said: str) -> None:
    """The callee asked not to be called again: on the list at once, before the call has even ended."""
    async with ctx.db.transaction() as s:
        await store.add_many(
            s, partner_id, mode, [phone], source=OPT_OUT, now=ctx.clock(), reason=said[:500], call_id=call_id
        )
