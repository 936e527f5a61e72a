"""Periodic clean-up of short-lived rows: rate-limit windows, expired idempotency keys, expired dashboard
sessions, and browser sessions whose join token expired unused."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from voxline.accounts.access import WINDOW_SECS
from voxline.calls import browser_session
from voxline.context import Context
from voxline.core.timefmt import utcnow
from voxline.store import dashboard, idempotency, ratelimit

log = logging.getLogger("voxline.housekeeping")


async def sweep_once(ctx: Context) -> None:
    current_window = int(time.time() // WINDOW_SECS)
    async with ctx.db.transaction() as s:
        await ratelimit.purge_before(s, current_window - 1)
        await idempotency.purge_older_than(s, utcnow() - timedelta(seconds=ctx.settings.idempotency_ttl_secs))
        await dashboard.purge_expired(s, utcnow())
    await browser_session.close_unjoined(ctx)


async def run(ctx: Context, every_secs: float = 60.0) -> None:
    while True:
        try:
            await sweep_once(ctx)
        except Exception:  # a failed sweep must never take the server down; the next one retries
            log.exception("housekeeping sweep failed")
        await asyncio.sleep(every_secs)
