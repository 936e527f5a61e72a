"""Delivering session.completed: payload, signature, retries, dead letters, isolation (spec §6.4-6.6)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from tests.conftest import configure_twilio, create_agent
from tests.integration.webhooks.conftest import (
    Sandbox,
    add_endpoint,
    ended_session,
    free_port,
    sample_outcome,
    start_call,
    wait_for,
)
from voxline.calls.finish import finish_session
from voxline.core import keys
from voxline.store.models import Call
from voxline.store.webhook_tables import WebhookDelivery, WebhookEndpoint
from voxline.webhooks import WebhookVerificationError, verify


def independent_signature(secret: str, timestamp: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()


async def deliveries(client, tenant, endpoint_id: str, **params) -> list[dict]:
    r = await client.get(f"/config/webhooks/{endpoint_id}/deliveries", params=params, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]["deliveries"]


async def test_session_completed_is_signed_over_the_raw_body(client, ctx, sandbox, receiver):
    endpoint = await add_endpoint(client, sandbox.tenant, receiver.url("/hook"))
    started, event = await ended_session(ctx, client, sandbox)
    got = (await wait_for(lambda: receiver.at("/hook")))[0]

    stamp = got.headers["x-webhook-timestamp"]
    assert got.headers["x-webhook-signature"] == independent_signature(endpoint["secret"], stamp, got.body)
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-webhook-id"] == event.id
    sent_at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 30
    assert verify(endpoint["secret"], got.headers, got.body)["data"]["session_id"] == started["session_id"]


async def test_payload_matches_the_documented_session_completed_shape(client, ctx, sandbox, receiver):
    await add_endpoint(client, sandbox.tenant, receiver.url("/hook"))
    started, _ = await ended_session(ctx, client, sandbox)
    body = json.loads((await wait_for(lambda: receiver.at("/hook")))[0].body)

    assert body["event"] == "session.completed" and body["timestamp"].endswith("Z")
    data = body["data"]
    assert data["session_id"] == started["session_id"] and data["agent_id"] == sandbox.agent["id"]
    assert data["agent_name"] == sandbox.agent["agent_name"]
    assert data["duration_seconds"] == 19 and data["credits_used"] == 1.8
    assert data["processing_complete"] is True and data["pipeline_completed_at"].endswith("Z")
    assert [t["role"] for t in data["transcript"]] == ["bot", "user", "bot"]
    assert all("latency_ms" in t for t in data["transcript"]) and data["transcript"][2]["latency_ms"] == 640
    assert data["latency"] == {"min_ms": 640, "max_ms": 640, "avg_ms": 640}
    assert data["recording_url"] is None
    assert data["variables"] == {"callee_name": "Sajal"}
    assert data["extraction"] == {"status": "success", "values": {"confirmed": True}}
    call = data["call"]
    assert call["call_id"] == started["call_id"] and call["direction"] == "outbound"
    assert call["provider"] == "twilio" and call["from_number"] == "+14155551234"
    assert call["to_number"] == "+919876543210"
    assert {"status", "disposition", "answered_by"} <= call.keys()


async def test_calls_that_never_connected_still_send_the_event(client, ctx, sandbox, receiver):
    await add_endpoint(client, sandbox.tenant, receiver.url("/hook"))
    started = await start_call(client, sandbox)
    async with ctx.db.transaction() as s:
        await s.execute(
            update(Call)
            .where(Call.id == started["call_id"])
            .values(status="busy", disposition="busy", answered_by="not_answered")
        )
    await finish_session(
        ctx,
        started["session_id"],
        sample_outcome(status="busy", transcript=[], duration_seconds=0, credits_used=0.0, extraction=None),
    )
    data = json.loads((await wait_for(lambda: receiver.at("/hook")))[0].body)["data"]
    assert data["transcript"] == [] and data["duration_seconds"] == 0 and data["latency"] is None
    assert data["call"]["status"] == "busy" and data["call"]["disposition"] == "busy"
    assert data["call"]["answered_by"] == "not_answered" and "extraction" not in data


async def test_every_enabled_endpoint_gets_it_signed_with_its_own_secret(client, ctx, sandbox, receiver):
    a = await add_endpoint(client, sandbox.tenant, receiver.url("/a"))
    b = await add_endpoint(client, sandbox.tenant, receiver.url("/b"))
    _, event = await ended_session(ctx, client, sandbox)
    await wait_for(lambda: receiver.at("/a") and receiver.at("/b"))
    for endpoint, path in ((a, "/a"), (b, "/b")):
        got = receiver.at(path)[0]
        assert got.headers["x-webhook-id"] == event.id
        verify(endpoint["secret"], got.headers, got.body)
    with pytest.raises(WebhookVerificationError):
        verify(a["secret"], receiver.at("/b")[0].headers, receiver.at("/b")[0].body)


async def test_a_disabled_endpoint_gets_nothing(client, ctx, sandbox, receiver):
    off = await add_endpoint(client, sandbox.tenant, receiver.url("/off"), enabled=False)
    toggled = await add_endpoint(client, sandbox.tenant, receiver.url("/toggled"))
    await client.patch(f"/config/webhooks/{toggled['id']}", json={"enabled": False}, headers=sandbox.tenant.headers)
    await add_endpoint(client, sandbox.tenant, receiver.url("/on"))
    await ended_session(ctx, client, sandbox)
    await wait_for(lambda: receiver.at("/on"))
    await asyncio.sleep(0.3)
    assert receiver.at("/off") == [] and receiver.at("/toggled") == []
    assert await deliveries(client, sandbox.tenant, off["id"]) == []


async def test_disabling_cancels_pending_deliveries(client, ctx, sandbox, receiver):
    receiver.script("/flaky", lambda _r: 503)
    endpoint = await add_endpoint(client, sandbox.tenant, receiver.url("/flaky"))
    ctx.settings.webhook_retry_schedule = "5"
    await ended_session(ctx, client, sandbox)
    await wait_for(lambda: receiver.at("/flaky"))
    await client.patch(f"/config/webhooks/{endpoint['id']}", json={"enabled": False}, headers=sandbox.tenant.headers)
    [row] = await deliveries(client, sandbox.tenant, endpoint["id"])
    assert row["status"] == "canceled" and row["last_error"] == "endpoint disabled"


async def test_rotation_old_secret_fails_new_secret_passes(client, ctx, sandbox, receiver):
    endpoint = await add_endpoint(client, sandbox.tenant, receiver.url("/hook"))
    r = await client.post(f"/config/webhooks/{endpoint['id']}/rotate-secret", headers=sandbox.tenant.headers)
    new_secret = r.json()["data"]["secret"]
    await ended_session(ctx, client, sandbox)
    got = (await wait_for(lambda: receiver.at("/hook")))[0]
    stamp = got.headers["x-webhook-timestamp"]
    assert got.headers["x-webhook-signature"] == independent_signature(new_secret, stamp, got.body)
    assert got.headers["x-webhook-signature"] != independent_signature(endpoint["secret"], stamp, got.body)
    with pytest.raises(WebhookVerificationError):
        verify(endpoint["secret"], got.headers, got.body)
    verify(new_secret, got.headers, got.body)


async def test_500_twice_then_200_is_delivered_once_after_three_attempts(client, ctx, sandbox, receiver):
    answers = iter([500, 500, 200])
    receiver.script("/hook", lambda _r: next(answers))
    endpoint = await add_endpoint(client, sandbox.tenant, receiver.url("/hook"))
    _, event = await ended_session(ctx, client, sandbox)

    [row] = await wait_for(lambda: _delivered(client, sandbox.tenant, endpoint["id"]), within=10)
    assert row["status"] == "delivered" and row["attempts"] == 3 and row["last_status_code"] == 200
    assert row["last_error"] is None and row["event_id"] == event.id and row["delivered_at"]
    got = receiver.at("/hook")
    assert len(got) == 3 and {r.event_id for r in got} == {event.id}
    assert [r.headers["x-webhook-attempt"] for r in got] == ["1", "2", "3"]
    await asyncio.sleep(0.3)
    assert len(receiver.at("/hook")) == 3
    shown = (await client.get(f"/config/webhooks/{endpoint['id']}", headers=sandbox.tenant.headers)).json()["data"]
    assert shown["last_delivery_status"] == "success" and shown["last_delivery_status_code"] == 200
    assert shown["last_delivery_at"] is not None


async def _delivered(client, tenant, endpoint_id: str) -> list[dict] | None:
    rows = await deliveries(client, tenant, endpoint_id)
    return rows if rows and all(r["status"] == "delivered" for r in rows) else None


async def test_a_receiver_down_through_all_retries_is_dead_lettered_and_redeliverable(client, ctx, sandbox, receiver):
    receiver.script("/hook", lambda _r: 503)
    endpoint = await add_endpoint(client, sandbox.tenant, receiver.url("/hook"))
    _, event = await ended_session(ctx, client, sandbox)

    async def dead():
        rows = await deliveries(client, sandbox.tenant, endpoint["id"], status="dead")
        return rows or None

    [row] = await wait_for(dead, within=10)
    assert row["attempts"] == 4 and row["last_status_code"] == 503 and row["last_error"] == "HTTP 503"
    assert row["next_attempt_at"] is None and len(receiver.at("/hook")) == 4
    shown = (await client.get(f"/config/webhooks/{endpoint['id']}", headers=sandbox.tenant.headers)).json()["data"]
    assert shown["last_delivery_status"] == "failed" and shown["last_delivery_status_code"] == 503

    receiver.script("/hook", lambda _r: 204)
    r = await client.post(
        f"/config/webhooks/{endpoint['id']}/deliveries/{row['id']}/redeliver", headers=sandbox.tenant.headers
    )
    assert r.status_code == 200 and r.json()["data"]["status"] == "pending"
    [done] = await wait_for(lambda: _delivered(client, sandbox.tenant, endpoint["id"]))
    assert done["attempts"] == 5 and done["last_status_code"] == 204
    assert receiver.at("/hook")[-1].event_id == event.id


async def test_a_refused_connection_counts_as_a_failure(client, ctx, sandbox):
    endpoint = await add_endpoint(client, sandbox.tenant, f"http://127.0.0.1:{free_port()}/nobody")
    await ended_session(ctx, client, sandbox)

    async def dead():
        return await deliveries(client, sandbox.tenant, endpoint["id"], status="dead") or None

    [row] = await wait_for(dead, within=10)
    assert row["attempts"] == 4 and row["last_status_code"] is None
    # A sandbox endpoint may target any loopback port: its history says "failed", never why (no port scanner).
    assert row["last_error"] == "failed"
    async with ctx.db.transaction() as s:
        stored = (await s.execute(select(WebhookDelivery.last_error).where(WebhookDelivery.id == row["id"]))).scalar()
    assert stored == "failed"


async def test_redeliver_rules(client, ctx, sandbox, receiver):
    endpoint = await add_endpoint(client, sandbox.tenant, receiver.url("/hook"))
    base = f"/config/webhooks/{endpoint['id']}/deliveries"
    r = await client.post(f"{base}/00000000-0000-4000-8000-000000000000/redeliver", headers=sandbox.tenant.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "WEBHOOK_DELIVERY_NOT_FOUND"
    await ended_session(ctx, client, sandbox)
    [row] = await wait_for(lambda: _delivered(client, sandbox.tenant, endpoint["id"]))
    r = await client.post(f"{base}/{row['id']}/redeliver", headers=sandbox.tenant.headers)
    assert r.status_code == 200
    await wait_for(lambda: len(receiver.at("/hook")) == 2)
    assert receiver.at("/hook")[0].event_id == receiver.at("/hook")[1].event_id
    r = await client.get(base, params={"limit": 0}, headers=sandbox.tenant.headers)
    assert r.status_code == 400


async def test_a_slow_receiver_does_not_hold_up_other_endpoints_or_calls(
    client, ctx, sandbox, receiver, make_partner, monkeypatch
):
    monkeypatch.setattr(ctx.settings, "webhook_max_in_flight", 8)
    monkeypatch.setattr(ctx.settings, "webhook_max_in_flight_per_endpoint", 4)
    ctx.settings.webhook_timeout_secs = 8.0  # the slow posts stay in flight for the whole test

    async def hang(_r):
        await asyncio.sleep(10)
        return 200

    receiver.script("/slow", hang)
    slow = await add_endpoint(client, sandbox.tenant, receiver.url("/slow"))
    for _ in range(12):  # three times what the slow endpoint may have in flight
        await ended_session(ctx, client, sandbox)
    await wait_for(lambda: len(receiver.at("/slow")) >= 4)

    other_tenant = await make_partner(mode=keys.TEST, concurrency=50)
    other = Sandbox(other_tenant, await create_agent(client, other_tenant))
    await configure_twilio(client, other_tenant)
    await add_endpoint(client, other_tenant, receiver.url("/fast"))
    began = time.monotonic()
    await ended_session(ctx, client, other)
    finish_took = time.monotonic() - began
    await wait_for(lambda: receiver.at("/fast"), within=2)
    assert time.monotonic() - began < 1.0 and finish_took < 0.5
    assert len(receiver.at("/slow")) == 4  # its own share, still hanging; the rest wait their turn
    await client.patch(f"/config/webhooks/{slow['id']}", json={"enabled": False}, headers=sandbox.tenant.headers)


async def test_delivery_time_check_refuses_a_url_that_now_points_inside(client, ctx, tenant, ready):
    """A live endpoint whose URL resolves to loopback at delivery time is refused, not posted (SSRF)."""
    endpoint = await add_endpoint(client, tenant, "https://hooks.example.com/x")
    async with ctx.db.transaction() as s:  # what a DNS change after the save would amount to
        await s.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint["id"]).values(url="https://127.0.0.1:9/x")
        )
    started = await start_call(client, Sandbox(tenant, ready.agent))
    await finish_session(ctx, started["session_id"], sample_outcome())

    async def dead():
        return await deliveries(client, tenant, endpoint["id"], status="dead") or None

    [row] = await wait_for(dead, within=10)
    assert row["attempts"] == 1 and "loopback" in row["last_error"]


async def test_finished_deliveries_older_than_the_history_window_are_purged_pending_ones_never(
    client, ctx, sandbox, receiver
):
    from datetime import timedelta

    from voxline.core.timefmt import utcnow
    from voxline.store.webhook_tables import WebhookDelivery
    from voxline.webhooks.worker import DeliveryWorker

    done = await add_endpoint(client, sandbox.tenant, receiver.url("/done"))
    await ended_session(ctx, client, sandbox)
    [row] = await wait_for(lambda: _delivered(client, sandbox.tenant, done["id"]))
    stuck = await add_endpoint(client, sandbox.tenant, receiver.url("/stuck"))
    ctx.settings.webhook_retry_schedule = "3600"
    receiver.script("/stuck", lambda _r: 500)
    await ended_session(ctx, client, sandbox)
    await wait_for(lambda: receiver.at("/stuck"))

    async def both_done():
        rows = await _delivered(client, sandbox.tenant, done["id"])
        return rows and len(rows) == 2

    await wait_for(both_done)
    long_ago = utcnow() - timedelta(days=ctx.settings.webhook_history_days + 1)
    async with ctx.db.transaction() as s:
        await s.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.partner_id == sandbox.tenant.partner_id)
            .values(updated_at=long_ago)
        )

    assert await DeliveryWorker(ctx).purge_history() >= 2  # both finished deliveries of /done
    assert await deliveries(client, sandbox.tenant, done["id"]) == []
    [pending] = await deliveries(client, sandbox.tenant, stuck["id"])
    assert pending["status"] == "pending" and row["id"] != pending["id"]
