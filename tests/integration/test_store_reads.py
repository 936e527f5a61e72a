"""A read never queues behind this process's writers: on SQLite `Database.read()` begins DEFERRED and skips the
writers' turn, so a call's plan (read when its media opens) is not held up by a long write elsewhere."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from tests.conftest import PG_URL
from voxline.store.db import Database


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_read_does_not_wait_for_a_write_in_progress_and_sees_the_last_commit(backend, tmp_path) -> None:
    if backend == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}")
        table = "marks"
    else:
        db = Database(PG_URL)
        table = f"marks_{int(time.time() * 1e6)}"
    try:
        async with db.transaction() as s:
            await s.execute(text(f"CREATE TABLE {table} (n INTEGER)"))
            await s.execute(text(f"INSERT INTO {table} VALUES (1)"))
        writing, release = asyncio.Event(), asyncio.Event()

        async def long_write() -> None:
            async with db.transaction() as s:
                await s.execute(text(f"INSERT INTO {table} VALUES (2)"))
                writing.set()
                await release.wait()  # the write lock (and, on SQLite, the writers' turn) is held meanwhile

        writer = asyncio.create_task(long_write())
        await asyncio.wait_for(writing.wait(), 10)
        started = time.monotonic()
        seen = await asyncio.wait_for(_read_all(db, table), 5)  # queued behind the writer it would never return
        waited = time.monotonic() - started
        assert seen == [1]  # the last commit, not the write still in progress
        assert waited < 1.0, waited
        # A second writer still waits for its turn (the read changed nothing about writes).
        second = asyncio.create_task(_insert(db, table, 3))
        await asyncio.sleep(0.2)
        assert not second.done() or backend == "postgres"
        release.set()
        await asyncio.wait_for(asyncio.gather(writer, second), 10)
        async with db.read() as s:
            assert (await s.execute(text(f"SELECT n FROM {table} ORDER BY n"))).scalars().all() == [1, 2, 3]
    finally:
        if backend == "postgres":
            async with db.transaction() as s:
                await s.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await db.dispose()


async def _read_all(db: Database, table: str) -> list[int]:
    async with db.read() as s:
        return list((await s.execute(text(f"SELECT n FROM {table} ORDER BY n"))).scalars().all())


async def _insert(db: Database, table: str, n: int) -> None:
    async with db.transaction() as s:
        await s.execute(text(f"INSERT INTO {table} VALUES ({n})"))
