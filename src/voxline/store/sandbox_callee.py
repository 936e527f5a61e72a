"""What a sandbox call asked its simulated callee to say (read by the carrier emulators when it is answered)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxline.store.models import TEST, Call, Session


async def asked_lines(s: AsyncSession, provider: str, carrier_call_id: str, key: str) -> tuple[bool, str | None]:
    """(found, value): whether a call carries `carrier_call_id` yet, and, for a test-mode call, its variable `key`
    if set (a live call pointed at an emulator is found too, so nobody waits for it, but never steers the callee)."""
    row = (
        await s.execute(
            select(Session.variables, Call.mode)
            .join(Call, Call.session_id == Session.id)
            .where(Call.carrier_call_id == carrier_call_id, Call.provider == provider)
            .limit(1)
        )
    ).first()
    if row is None:
        return False, None
    value = (row[0] or {}).get(key) if row[1] == TEST else None
    return True, None if value is None else str(value)
