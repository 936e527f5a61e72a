"""Finishing a session writes its final state and exactly one session.completed event, atomically."""

from datetime import UTC, datetime

from sqlalchemy import text

from tests.conftest import start_body
from voxline.calls.finish import SessionOutcome, finish_session


async def test_finish_writes_session_and_one_event(client, ctx, ready):
    started = (await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers)).json()["data"]
    outcome = SessionOutcome(
        transcript=[
            {"role": "bot", "content": "Hello Sajal!", "timestamp": "2026-11-25T10:00:00.000Z", "latency_ms": None}
        ],
        latency={"min_ms": 300, "max_ms": 500, "avg_ms": 400},
        duration_seconds=42,
        started_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    )
    event = await finish_session(ctx, started["session_id"], outcome)
    assert event is not None and event.payload["event"] == "session.completed"
    data = event.payload["data"]
    assert data["session_id"] == started["session_id"] and data["variables"] == {"callee_name": "Sajal"}
    assert data["processing_complete"] is True and data["pipeline_completed_at"]
    assert data["call"]["call_id"] == started["call_id"] and data["call"]["direction"] == "outbound"
    assert await finish_session(ctx, started["session_id"], outcome) is None  # second finish: no-op

    async with ctx.db.transaction() as s:
        n = (
            await s.execute(
                text("SELECT count(*) FROM session_events WHERE session_id = :i"), {"i": started["session_id"]}
            )
        ).scalar_one()
    assert n == 1
    session = (await client.get(f"/sessions/{started['session_id']}", headers=ready.tenant.headers)).json()["data"]
    assert session["duration_seconds"] == 42 and session["transcript"][0]["content"] == "Hello Sajal!"
    assert session["latency"] == {"min_ms": 300, "max_ms": 500, "avg_ms": 400}
    assert session["processing_complete"] is True and session["started_at"] == "2026-11-25T10:00:00.000Z"


async def test_racing_finishers_file_the_session_once(client, ctx, ready):
    import asyncio

    started = (await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers)).json()["data"]
    results = await asyncio.gather(
        *[finish_session(ctx, started["session_id"], SessionOutcome(duration_seconds=i)) for i in range(8)]
    )
    assert sum(r is not None for r in results) == 1
    async with ctx.db.transaction() as s:
        n = (
            await s.execute(
                text("SELECT count(*) FROM session_events WHERE session_id = :i"), {"i": started["session_id"]}
            )
        ).scalar_one()
    assert n == 1
