"""The gauges /metrics reads from the database at scrape time: the dial queue (how many due calls wait,
and for how long) and the webhook backlog. Aggregates over every partner; nothing identifies one."""

from __future__ import annotations

from datetime import datetime

from voxline.context import Context
from voxline.core.timefmt import utcnow
from voxline.store import dial_queue as dq
from voxline.store import webhooks as webhook_store


async def refresh(ctx: Context) -> None:
    now = utcnow()
    async with ctx.db.transaction() as s:
        queued, oldest = await dq.queue_stats(s, now)
        backlog, oldest_hook = await webhook_store.backlog(s)
    m = ctx.meters
    m.dial_queue_depth.set(queued)
    m.dial_queue_oldest.set(max(0.0, (now - _aware(oldest, now)).total_seconds()) if oldest else 0.0)
    m.webhook_backlog.set(backlog)
    m.webhook_oldest.set(max(0.0, (now - _aware(oldest_hook, now)).total_seconds()) if oldest_hook else 0.0)


def _aware(at: datetime, now: datetime) -> datetime:
    """An aggregate read back without the column type's conversion could come back naive (UTC)."""
    return at.replace(tzinfo=now.tzinfo) if at.tzinfo is None and now.tzinfo is not None else at
