"""A task cancelled in the middle of a query must not leave SQLite locked for everyone else.

Servers cancel tasks routinely (a call's watcher when its conversation ends, workers at shutdown); if one
is cancelled while awaiting the database, the next writer of any process must still get in at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from sqlalchemy import text

from voxline.store.db import Database

# A read that keeps SQLite busy for about a second, so the cancellation lands while it runs.
SLOW_READ = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT count(*) FROM c"


def _seconds_until_writable(path: str, limit: float) -> float | None:
    """How long another connection (as another process would) waits to start a write; None if it never could."""
    started = time.monotonic()
    other = sqlite3.connect(path, timeout=limit, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return time.monotonic() - started
    except sqlite3.OperationalError:
        return None
    finally:
        other.close()


async def test_a_transaction_cancelled_mid_query_releases_the_write_lock(tmp_path) -> None:
    path = str(tmp_path / "cancel.db")
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.transaction() as s:
            await s.execute(text("CREATE TABLE marks (n INTEGER)"))
        busy = asyncio.Event()

        async def write_then_read() -> None:
            async with db.transaction() as s:
                await s.execute(text("INSERT INTO marks VALUES (1)"))
                busy.set()
                await s.execute(text(SLOW_READ))

        task = asyncio.create_task(write_then_read())
        await busy.wait()
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()

        # Without a rollback on invalidation the lock outlived the cancelled task until garbage collection.
        waited = await asyncio.to_thread(_seconds_until_writable, path, 10.0)
        assert waited is not None and waited < 5.0, waited
        async with db.transaction() as s:  # this process goes on too, and the cancelled write is gone
            assert (await s.execute(text("SELECT count(*) FROM marks"))).scalar_one() == 0
    finally:
        await db.dispose()
