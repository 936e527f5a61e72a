"""Engine and transactions.

SQLite: WAL, a busy timeout, and every transaction opened with BEGIN IMMEDIATE, so that writers from any
process queue up instead of failing half-way (a deferred read-then-write upgrade can't be retried).
PostgreSQL: asyncpg, optional schema via search_path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias

from sqlalchemy import event
from sqlalchemy.engine import Row, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import greenlet_spawn

from voxline.private_files import private_sqlite
from voxline.store.errors import conflicts

# What use-cases hold while a unit of work is open, and a row read by a store function: named here so that
# nothing outside the store needs to import SQLAlchemy to type them.
Transaction: TypeAlias = AsyncSession
READ_ONLY = "voxline_read_only"  # execution option of the connections `Database.read()` hands out
Record: TypeAlias = Row


class Database:
    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self.engine = _make_engine(url, self.dialect, schema)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # Reads on SQLite begin DEFERRED (WAL: a reader never waits for the writer) and skip the writers' queue.
        self._reads = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False, autoflush=False
        )
        # SQLite admits one writer at a time. Queue this process's transactions here, in order, rather than in
        # SQLite's busy handler, whose growing sleeps turn contention into multi-second tails.
        self._sqlite_turn = asyncio.Lock() if self.dialect == "sqlite" else None

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One unit of work: committed when the block ends, rolled back on any exception.

        A unique constraint broken inside the block or at its commit leaves it as `Conflict`.
        Never open a transaction inside another: on SQLite the inner one would wait for the outer forever.
        """
        with conflicts():
            if self._sqlite_turn is None:
                async with self._sessions() as session, session.begin():
                    yield session
                return
            async with self._sqlite_turn, self._sessions() as session, session.begin():
                yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        """A unit of work that only reads: one consistent snapshot, never queued behind this process's writers.

        On SQLite a `transaction()` takes the write lock up front (BEGIN IMMEDIATE) and waits its turn behind
        every other transaction of the process; under load that queue is seconds long. A read needs neither:
        in WAL mode it sees the last commit and blocks nobody. Writing inside `read()` is a bug (SQLite
        would have to upgrade the lock mid-transaction, and may refuse).
        """
        async with self._reads() as session, session.begin():
            yield session

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[Any]:
        """PostgreSQL only: the asyncpg connection itself, outside any transaction, for one statement that is a
        whole unit of work. It saves the BEGIN and COMMIT round trips and SQLAlchemy's per-statement work, which
        on the hottest paths cost more than the statement itself."""
        assert self.is_postgres, "asyncpg only"
        # Straight from the pool, without SQLAlchemy's Connection around it (a third of this checkout's cost).
        # Nothing is executed through SQLAlchemy, so no transaction is begun; returning it rolls back nothing.
        pooled = await self.engine.raw_connection()
        try:
            yield pooled.driver_connection
        finally:
            await greenlet_spawn(pooled.close)

    async def dispose(self) -> None:
        await self.engine.dispose()


def after_commit(s: Transaction, callback: Callable[[], None]) -> None:
    """Run `callback` once the open transaction `s` has committed; never if it rolls back."""
    event.listen(s.sync_session, "after_commit", lambda _session: callback(), once=True)


def prepare_sqlite_file(url: str) -> None:
    """An SQLite file database is created owner-only before anything opens it (no-op for other URLs)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:" and "mode=memory" not in url:
        private_sqlite(Path(database))


def _make_engine(url: str, dialect: str, schema: str | None) -> AsyncEngine:
    if dialect == "sqlite":
        prepare_sqlite_file(url)
        engine = create_async_engine(url, pool_size=4, max_overflow=4, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    connect_args = {}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(url, pool_size=20, max_overflow=0, pool_pre_ping=False, connect_args=connect_args)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001 - the DB-API driver's own objects
        # Let us issue BEGIN ourselves; pysqlite's implicit transactions would begin DEFERRED.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _on_invalidate(dbapi_conn, _record, _exc) -> None:  # noqa: ANN001
        # A task cancelled while awaiting a query gets its connection invalidated and closed. SQLite cannot
        # close a connection whose statement is still open: it lingers, holding the write lock, until the
        # garbage collector frees that statement, and every other writer (in any process) waits out its busy
        # timeout meanwhile. Roll back first: that ends the transaction and lets the lock go at once.
        with contextlib.suppress(Exception):  # e.g. invalidated outside a greenlet, when nothing can be awaited
            dbapi_conn.rollback()
