"""POST /calls/{id}/cancel: stop a call that has not been answered yet.

A queued call is never dialed; a call whose create-call request is in flight is hung up as soon as
the carrier names it (dialer/dial.py); a ringing call is hung up at the carrier now.
"""

from __future__ import annotations

from voxline.calls import lifecycle
from voxline.context import Context
from voxline.core import errors
from voxline.core.call_status import CallStatus
from voxline.core.ids import is_uuid
from voxline.core.principal import Principal
from voxline.dialer import carrier_ops
from voxline.store import calls as call_store
from voxline.store.models import Call

CANCELABLE = (CallStatus.PENDING, CallStatus.RINGING)


async def cancel_call(ctx: Context, owner: Principal, call_id: str) -> Call:
    """Only the key's own mode's calls: a test key cannot cancel a live call (it is not found)."""
    async with ctx.db.transaction() as s:
        call = await call_store.get_call(s, owner.partner_id, owner.mode, call_id) if is_uuid(call_id) else None
    if call is None:
        raise errors.NotFound("Call not found.")
    if CallStatus(call.status) not in CANCELABLE:
        raise errors.CallNotCancelable(f"The call is {call.status}; only pending or ringing calls can be canceled.")
    applied = await lifecycle.apply(
        ctx,
        call.id,
        lifecycle.Transition(CallStatus.CANCELED, error_message="Canceled by request."),
        only_from=CANCELABLE,
    )
    if applied is None or not applied.moved:
        current = applied.call.status if applied else call.status
        raise errors.CallNotCancelable(f"The call is {current}; only pending or ringing calls can be canceled.")
    if applied.call.carrier_call_id:
        await carrier_ops.hang_up(ctx, applied.call)
    return applied.call
