"""A session's event goes only to endpoints of its own mode: a live transcript never reaches a test endpoint
(which may be plain http on loopback), and a sandbox one never a live endpoint. Posts say which with
`livemode`."""

from __future__ import annotations

import json
import uuid

from tests.conftest import TWILIO_CREDS, Tenant, create_agent, start_body
from tests.integration.webhooks.conftest import Sandbox, add_endpoint, sample_outcome, wait_for
from voxline.accounts import partners
from voxline.calls.finish import finish_session
from voxline.core import keys


async def _deliveries(client, tenant: Tenant, endpoint_id: str) -> list[dict]:
    r = await client.get(f"/config/webhooks/{endpoint_id}/deliveries", headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]["deliveries"]


async def test_live_events_go_to_live_endpoints_only_and_test_events_to_test_ones(client, ctx, receiver, monkeypatch):
    # This deployment lets every key post to private targets, so both endpoints can be the same loopback
    # receiver; only the mode of the event decides who gets it.
    monkeypatch.setattr(ctx.settings, "webhook_allow_private_targets", True)
    monkeypatch.setattr(ctx.settings, "webhook_allow_http", True)
    issued = await partners.create_partner(ctx, f"wm-{uuid.uuid4().hex[:10]}", partners.Limits(concurrency=5))
    test_issued = await partners.create_key(ctx, issued.partner_id, keys.TEST)
    live = Tenant(issued.partner_id, issued.api_key, "live")
    test = Tenant(issued.partner_id, test_issued.api_key, "test")
    agent = await create_agent(client, live)
    for tenant in (live, test):
        r = await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=tenant.headers)
        assert r.status_code == 200, r.text
    live_hook = await add_endpoint(client, live, receiver.url("/live"), label="crm")
    test_hook = await add_endpoint(client, test, receiver.url("/test"), label="crm")  # same label, other world
    legacy = await client.put(
        "/config/webhook", json={"webhook_url": receiver.url("/test-legacy")}, headers=test.headers
    )
    assert legacy.status_code == 200, legacy.text

    live_call = (await client.post("/calls/start", json=start_body(Sandbox(live, agent)), headers=live.headers)).json()
    test_call = (await client.post("/calls/start", json=start_body(Sandbox(test, agent)), headers=test.headers)).json()
    await finish_session(ctx, live_call["data"]["session_id"], sample_outcome())
    await finish_session(ctx, test_call["data"]["session_id"], sample_outcome())

    await wait_for(lambda: receiver.at("/live") and receiver.at("/test") and receiver.at("/test-legacy"))
    [live_post] = receiver.at("/live")
    live_body = json.loads(live_post.body)
    assert live_body["data"]["session_id"] == live_call["data"]["session_id"] and live_body["livemode"] is True
    for path in ("/test", "/test-legacy"):
        [test_post] = receiver.at(path)
        test_body = json.loads(test_post.body)
        assert test_body["data"]["session_id"] == test_call["data"]["session_id"] and test_body["livemode"] is False

    # The outbox never even queued the crossing deliveries: each endpoint's history holds its own mode's event.
    [only_live] = await _deliveries(client, live, live_hook["id"])
    [only_test] = await _deliveries(client, test, test_hook["id"])
    assert only_live["session_id"] == live_call["data"]["session_id"]
    assert only_test["session_id"] == test_call["data"]["session_id"]
    assert {r.path for r in receiver.requests} == {"/live", "/test", "/test-legacy"} and len(receiver.requests) == 3
