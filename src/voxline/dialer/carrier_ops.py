"""Ask a call's carrier something over REST (hang up, current state), wherever the call went.

Sandbox calls (made with a test key) talk to this server's emulator of the carrier, live calls to the
carrier's API base from settings: that choice is made here once, by the call's `sandbox` flag.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from voxline.accounts.telephony import open_credentials
from voxline.calls import lifecycle
from voxline.context import Context
from voxline.core.call_status import CallStatus
from voxline.core.phone import InvalidPhoneNumber, parse_e164
from voxline.dialer.urls import TELEPHONY_PREFIX, sandbox_base, sandbox_credentials
from voxline.store import dial_queue as dq
from voxline.store.models import Call, TelephonyConnection
from voxline.telephony.base import CarrierCredentials
from voxline.telephony.carrier import Carrier, CarrierError, StatusUpdate, transfer_support
from voxline.telephony.registry import carrier as carrier_for

log = logging.getLogger("voxline.dialer")


@dataclass(frozen=True)
class Target:
    carrier: Carrier[Any]
    base: str
    creds: CarrierCredentials  # the carrier's own model (e.g. twilio.Credentials), as `carrier` expects


def target(ctx: Context, call: Call, conn: TelephonyConnection) -> Target:
    carrier = carrier_for(call.provider)
    if carrier is None:
        raise CarrierError(f"calls over {call.provider} cannot be placed by this server")
    creds = open_credentials(ctx, conn)
    if call.sandbox:
        # The emulator serves only sandbox accounts: the partner's own carrier secrets never go there.
        # Callbacks from the emulator are then signed with, and checked against, the same sandbox account.
        creds = sandbox_credentials(ctx.settings, call.provider, call.partner_id, creds)
        return Target(carrier, sandbox_base(ctx.settings, call.provider), creds)
    return Target(carrier, carrier.api_base(ctx.settings, creds), creds)


async def target_for_call(ctx: Context, call: Call) -> Target | None:
    if not call.connection_id:
        return None
    async with ctx.db.transaction() as s:
        conn = await dq.get_connection(s, call.connection_id)
    if conn is None:
        return None
    return target(ctx, call, conn)


def client(ctx: Context) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=ctx.settings.carrier_timeout_secs)


async def hang_up(ctx: Context, call: Call) -> bool:
    """End the call at its carrier; True when the carrier confirmed (or had already ended it)."""
    if not call.carrier_call_id:
        return False
    try:
        t = await target_for_call(ctx, call)
        if t is None:
            return False
        async with client(ctx) as http:
            await t.carrier.hang_up(http, t.base, t.creds, call.carrier_call_id)
        return True
    except CarrierError as exc:
        ctx.meters.carrier_errors.labels(call.provider).inc()
        log.warning("hang-up of call %s failed: %s", call.id, exc.message)
        return False


async def fetch_status(ctx: Context, call: Call) -> StatusUpdate | None:
    """The carrier's view of the call (None: it has no record). Raises CarrierError."""
    if not call.carrier_call_id:
        return None
    t = await target_for_call(ctx, call)
    if t is None:
        return None
    async with client(ctx) as http:
        return await t.carrier.fetch_status(http, t.base, t.creds, call.carrier_call_id)


class CallControl:
    """The carrier's REST side of one live call, handed to the conversation runtime (core.media)."""

    def __init__(self, ctx: Context, call_id: str, carrier: Carrier[Any] | None = None, *, token: str = "") -> None:
        self._ctx = ctx
        self._call_id = call_id
        self._carrier = carrier
        self._token = token  # the call's token as its carrier presented it (for the transfer URL)
        self.transferred_to: str | None = None  # a transfer the carrier accepted (or is being asked for)

    @property
    def supports_transfer(self) -> bool:
        return self._carrier is not None and transfer_support(self._carrier) is not None

    async def hang_up(self) -> None:
        async with self._ctx.db.transaction() as s:
            call = await dq.get_call(s, self._call_id)
        if call is not None:
            await hang_up(self._ctx, call)

    async def fail(self, reason: str) -> None:
        """End the call as a fault: failed with `reason` (what the call record and its webhook show), then
        hung up at the carrier. The status is written first, so the carrier's report of the end changes nothing."""
        applied = await lifecycle.apply(
            self._ctx, self._call_id, lifecycle.Transition(CallStatus.FAILED, error_message=reason)
        )
        if applied is not None:
            await hang_up(self._ctx, applied.call)

    async def transfer(self, to_number: str) -> None:
        """Cold-transfer the callee to `to_number` at the carrier. Raises CarrierError."""
        if self._carrier is not None and not self.supports_transfer:
            raise CarrierError(f"calls over {self._carrier.provider} cannot be transferred by this server")
        # Marked before asking: the carrier may close the stream (and the runtime stop) before it answers.
        self.transferred_to = to_number
        try:
            await transfer(self._ctx, self._call_id, to_number, self._token)
        except Exception:
            self.transferred_to = None
            raise


def transfer_url(ctx: Context, call: Call, to_number: str, token: str) -> str:
    """Our URL that answers with the document dialing `to_number` (for carriers that fetch one)."""
    base = ctx.settings.public_base_url.rstrip("/")
    query = urlencode({"token": token, "transfer_to": to_number})
    return f"{base}{TELEPHONY_PREFIX}/{call.provider}/transfer/{call.id}?{query}"


async def transfer(ctx: Context, call_id: str, to_number: str, token: str) -> None:
    try:
        number = parse_e164(to_number)
    except InvalidPhoneNumber as exc:
        raise CarrierError(f"cannot transfer to {to_number!r}: the number {exc}") from None
    async with ctx.db.transaction() as s:
        call = await dq.get_call(s, call_id)
    if call is None or not call.carrier_call_id:
        raise CarrierError("the call has no live carrier leg to transfer")
    t = await target_for_call(ctx, call)
    if t is None:
        raise CarrierError("the call's carrier connection is gone")
    transferring = transfer_support(t.carrier)
    if transferring is None:
        raise CarrierError(f"calls over {call.provider} cannot be transferred by this server")
    dial_url = transfer_url(ctx, call, number, token)
    async with client(ctx) as http:
        await transferring.transfer(http, t.base, t.creds, call.carrier_call_id, number, dial_url)
    log.info("call %s transferred at its carrier", call.id)
