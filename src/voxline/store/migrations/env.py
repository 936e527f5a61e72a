"""Alembic environment: runs migrations on the async engine named by the Alembic config."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.store import (
    campaign_tables,  # noqa: F401 - registers the campaign and safety tables
    webhook_tables,  # noqa: F401 - registers the webhook tables on Base.metadata
    webrtc_tables,  # noqa: F401 - registers the browser sessions' join tickets
)
from voxline.store.db import Database
from voxline.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    schema = config.attributes.get("schema")
    db = Database(config.get_main_option("sqlalchemy.url"), schema)
    try:
        if db.is_postgres and schema:
            async with db.engine.begin() as conn:
                await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        async with db.engine.connect() as conn:
            conn: AsyncConnection
            if not db.is_postgres:
                # Batch mode rebuilds a SQLite table by copy, drop and rename; with foreign keys enforced, the
                # drop of a table other rows point at fails. Off for this connection (set before any BEGIN: the
                # pragma is a no-op inside a transaction); the engine is disposed when the migration ends.
                await conn.run_sync(lambda sync: sync.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF"))
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await db.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
