"""Migration 0005 on a database that was in use before modes: every row lands in the right world, and an
existing deployment's live calls keep their carrier connection."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from tests.conftest import empty_database
from voxline.store.db import Database as Store
from voxline.store.migrate import alembic_config

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _filler(column: sa.Column):  # noqa: ANN202
    """A value for a NOT NULL column the test does not care about."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer | sa.Float):
        return 0
    if isinstance(kind, sa.DateTime):
        return NOW
    if isinstance(kind, sa.JSON):
        return []
    return "x"


async def _insert(db: Store, table: str, **values) -> str:
    async with db.engine.begin() as conn:
        meta = sa.MetaData()
        await conn.run_sync(lambda sync: meta.reflect(sync, only=[table]))
        t = meta.tables[table]
        row = {c.name: _filler(c) for c in t.columns if not c.nullable and c.name not in values}
        row["id"] = values.pop("id", None) or str(uuid.uuid4())
        row.update(values)
        await conn.execute(t.insert().values(**row))
        return row["id"]


async def _column(db: Store, sql: str, **params) -> list:
    async with db.engine.connect() as conn:
        return [r[0] for r in await conn.execute(sa.text(sql), params)]


@pytest.fixture
async def old_database(database, tmp_path):  # noqa: ANN001
    """An empty database of the session's backend at revision 0004 (before modes)."""

    def to_0004(url: str, schema: str | None) -> None:
        command.upgrade(alembic_config(url, schema), "0004")

    async with empty_database(database.backend, tmp_path, "mig", migrate=to_0004) as db:
        yield db


async def test_upgrade_puts_existing_rows_in_their_mode_and_downgrade_undoes_it(old_database):  # noqa: ANN001
    cfg = alembic_config(old_database.url, old_database.schema)
    db = Store(old_database.url, old_database.schema)
    try:
        partner = await _insert(db, "partners", name="old", allowed_providers=["twilio"], concurrency_limit=5)
        agent = await _insert(db, "agents", partner_id=partner, variables=[], kb_settings={})
        conn = await _insert(
            db,
            "telephony_connections",
            partner_id=partner,
            provider="twilio",
            name="default",
            is_default=True,
            public_settings={},
        )
        calls = {}
        for label, sandbox in (("live", False), ("test", True)):
            session = await _insert(db, "sessions", partner_id=partner, agent_id=agent, variables={}, transcript=[])
            call = await _insert(
                db,
                "calls",
                partner_id=partner,
                agent_id=agent,
                session_id=session,
                connection_id=conn,
                provider="twilio",
                sandbox=sandbox,
                to_number="+1",
                status="pending",
            )
            await _insert(db, "dial_jobs", call_id=call, partner_id=partner, connection_id=conn, status="queued")
            await _insert(db, "idempotency_keys", partner_id=partner, key=f"k-{label}", call_id=call)
            event = await _insert(
                db, "session_events", partner_id=partner, session_id=session, event_type="e", payload={}
            )
            calls[label] = (call, session, event)
        endpoints = {}
        for mode in ("live", "test"):
            endpoints[mode] = await _insert(
                db, "webhook_endpoints", partner_id=partner, label=f"l-{mode}", url="https://h.example.com", mode=mode
            )
        # Before modes, each event was queued for every endpoint of the partner, across modes.
        for _call, _session, event in calls.values():
            for endpoint in endpoints.values():
                await _insert(db, "webhook_deliveries", partner_id=partner, endpoint_id=endpoint, event_id=event)
        await db.engine.dispose()

        await asyncio.to_thread(command.upgrade, cfg, "head")

        for label, (call, session, event) in calls.items():
            assert await _column(db, "SELECT mode FROM calls WHERE id = :i", i=call) == [label]
            assert await _column(db, "SELECT mode FROM sessions WHERE id = :i", i=session) == [label]
            assert await _column(db, "SELECT mode FROM dial_jobs WHERE call_id = :i", i=call) == [label]
            assert await _column(db, "SELECT mode FROM idempotency_keys WHERE call_id = :i", i=call) == [label]
            assert await _column(db, "SELECT mode FROM session_events WHERE id = :i", i=event) == [label]
            # Only the delivery to the endpoint of the event's own mode is left.
            sent_to = await _column(db, "SELECT endpoint_id FROM webhook_deliveries WHERE event_id = :i", i=event)
            assert sent_to == [endpoints[label]]
        # Connections from before modes served live calls: they stay live, so those keep dialing.
        assert await _column(db, "SELECT mode FROM telephony_connections WHERE id = :i", i=conn) == ["live"]
        assert await _column(db, "SELECT sandbox_concurrency_limit FROM partners") == [None]
        # The same names may now exist once per mode.
        await _insert(
            db,
            "telephony_connections",
            partner_id=partner,
            provider="twilio",
            name="default",
            mode="test",
            is_default=True,
            public_settings={},
        )
        await _insert(db, "webhook_endpoints", partner_id=partner, label="l-live", url="x", mode="test")
        await db.engine.dispose()

        await asyncio.to_thread(command.downgrade, cfg, "0004")
        sandbox = await _column(db, "SELECT sandbox FROM calls WHERE id = :i", i=calls["test"][0])
        assert [bool(v) for v in sandbox] == [True]
        names = await _column(db, "SELECT name FROM telephony_connections ORDER BY name")
        assert names == ["default", "default-test"]
        await db.engine.dispose()
        await asyncio.to_thread(command.upgrade, cfg, "head")
    finally:
        await db.dispose()
