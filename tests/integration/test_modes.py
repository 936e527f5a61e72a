"""Test and live are two worlds: a key sees and changes only its own mode's objects (the other mode's are
404, never 403), Idempotency-Keys and concurrency limits are counted per mode, and agents are shared."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from tests.conftest import TWILIO_CREDS, Tenant, create_agent
from tests.helpers import assert_error
from voxline.accounts import partners
from voxline.calls.finish import SessionOutcome, finish_session
from voxline.core import keys

# Live endpoints must be public HTTPS; a name that does not resolve is accepted at save time.
LIVE_HOOK = "https://hooks.example.com/voxline"
TEST_HOOK = "http://127.0.0.1:9/hook"
OTHER_TWILIO = {**TWILIO_CREDS, "auth_token": "fedcba9876543210" * 2, "from_number": "+14155550000"}


@dataclass
class Account:
    """One partner seen through both of its keys."""

    partner_id: str
    live: Tenant
    test: Tenant

    def key(self, mode: str) -> Tenant:
        return self.live if mode == keys.LIVE else self.test


async def make_account(ctx, **limits) -> Account:  # noqa: ANN001
    name = f"m-{uuid.uuid4().hex[:10]}"
    live = await partners.create_partner(ctx, name, partners.Limits(**limits))
    test = await partners.create_key(ctx, live.partner_id, keys.TEST)
    return Account(
        live.partner_id, Tenant(live.partner_id, live.api_key, name), Tenant(test.partner_id, test.api_key, name)
    )


def other(mode: str) -> str:
    return keys.TEST if mode == keys.LIVE else keys.LIVE


def body_for(agent: dict, **fields) -> dict:
    return {"agent_id": agent["id"], "to_number": "+919876543210", "provider": "twilio", **fields}


BOTH_WAYS = pytest.mark.parametrize("owner_mode", [keys.LIVE, keys.TEST], ids=["live-owner", "test-owner"])


@BOTH_WAYS
async def test_a_key_cannot_see_or_change_the_other_modes_objects(client, ctx, owner_mode):
    account = await make_account(ctx, concurrency=5, sandbox_concurrency=5)
    owner = account.key(owner_mode).headers
    intruder = account.key(other(owner_mode)).headers
    agent = await create_agent(client, account.key(owner_mode))
    assert (await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=owner)).status_code == 200
    [conn] = (await client.get("/telephony/connections", headers=owner)).json()["data"]["connections"]
    hook_url = LIVE_HOOK if owner_mode == keys.LIVE else TEST_HOOK
    r = await client.post("/config/webhooks", json={"label": "crm", "url": hook_url}, headers=owner)
    assert r.status_code == 200, r.text
    hook = r.json()["data"]
    r = await client.put("/config/webhook", json={"webhook_url": hook_url}, headers=owner)
    assert r.status_code == 200, r.text
    started = (await client.post("/calls/start", json=body_for(agent), headers=owner)).json()["data"]
    await finish_session(ctx, started["session_id"], SessionOutcome(status="failed"))
    r = await client.get(f"/config/webhooks/{hook['id']}/deliveries", headers=owner)
    [delivery] = r.json()["data"]["deliveries"]
    call_id, session_id = started["call_id"], started["session_id"]

    attempts = [
        ("GET", f"/calls/{call_id}", None, "NOT_FOUND"),
        ("GET", f"/sessions/{session_id}", None, "NOT_FOUND"),
        ("POST", f"/calls/{call_id}/cancel", None, "NOT_FOUND"),
        ("GET", f"/calls/{call_id}/recording-url", None, "NOT_FOUND"),
        ("POST", f"/calls/{call_id}/extract", {"dry_run": True}, "NOT_FOUND"),
        ("GET", f"/telephony/connections/{conn['id']}", None, "CONNECTION_NOT_FOUND"),
        ("PATCH", f"/telephony/connections/{conn['id']}", {"status": "INACTIVE"}, "CONNECTION_NOT_FOUND"),
        ("DELETE", f"/telephony/connections/{conn['id']}", None, "CONNECTION_NOT_FOUND"),
        ("GET", f"/config/webhooks/{hook['id']}", None, "WEBHOOK_NOT_FOUND"),
        ("PATCH", f"/config/webhooks/{hook['id']}", {"enabled": False}, "WEBHOOK_NOT_FOUND"),
        ("PUT", f"/config/webhooks/{hook['id']}", {"url": f"{LIVE_HOOK}/x"}, "WEBHOOK_NOT_FOUND"),
        ("POST", f"/config/webhooks/{hook['id']}/rotate-secret", None, "WEBHOOK_NOT_FOUND"),
        ("GET", f"/config/webhooks/{hook['id']}/deliveries", None, "WEBHOOK_NOT_FOUND"),
        ("POST", f"/config/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver", None, "WEBHOOK_NOT_FOUND"),
        ("DELETE", f"/config/webhooks/{hook['id']}", None, "WEBHOOK_NOT_FOUND"),
    ]
    for method, path, body, code in attempts:
        r = await client.request(method, path, json=body, headers=intruder)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == code, (method, path, r.text)

    # A start naming the owner's connection does not find it (the agent is shared; the connection is not).
    r = await client.post("/calls/start", json=body_for(agent, connection_id=conn["id"]), headers=intruder)
    assert_error(r, 404, "CONNECTION_NOT_FOUND")
    # With no connection of its own mode, the intruder has no carrier configured at all.
    assert_error(
        await client.post("/calls/start", json=body_for(agent), headers=intruder), 400, "PROVIDER_NOT_CONFIGURED"
    )

    # Lists and the account view show only the intruder's own mode.
    assert (await client.get("/calls", headers=intruder)).json()["data"]["calls"] == []
    assert (await client.get("/telephony/connections", headers=intruder)).json()["data"]["connections"] == []
    assert (await client.get("/config/webhooks", headers=intruder)).json()["data"]["webhooks"] == []
    cfg = (await client.get("/config", headers=intruder)).json()["data"]
    assert cfg["telephony"]["twilio"]["configured"] is False and cfg["telephony"]["twilio"]["connection_count"] == 0
    assert cfg["webhooks"] == [] and cfg["webhook"]["configured"] is False

    # The intruder's own credentials and legacy webhook make its own objects; the owner's stay as they were.
    r = await client.put("/config/telephony/twilio", json=OTHER_TWILIO, headers=intruder)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["connection_id"] != conn["id"]
    intruder_url = f"{LIVE_HOOK}/intruder" if owner_mode == keys.TEST else "http://127.0.0.1:9/intruder"
    r = await client.put("/config/webhook", json={"webhook_url": intruder_url}, headers=intruder)
    assert r.status_code == 200, r.text
    mine = (await client.get(f"/telephony/connections/{conn['id']}", headers=owner)).json()["data"]["connection"]
    assert mine["from_number"] == TWILIO_CREDS["from_number"] and mine["status"] == "ACTIVE" and mine["is_default"]
    cfg = (await client.get("/config", headers=owner)).json()["data"]
    assert cfg["telephony"]["twilio"]["from_number"] == TWILIO_CREDS["from_number"]
    assert cfg["webhook"]["url"] == hook_url
    assert {w["id"] for w in cfg["webhooks"]} >= {hook["id"]}
    still = (await client.get(f"/config/webhooks/{hook['id']}", headers=owner)).json()["data"]
    assert still["enabled"] is True and still["url"] == hook_url
    call = (await client.get(f"/calls/{call_id}", headers=owner)).json()["data"]
    assert call["status"] == "pending" and call["sandbox"] is (owner_mode == keys.TEST)
    assert [c["call_id"] for c in (await client.get("/calls", headers=owner)).json()["data"]["calls"]] == [call_id]
    assert (await client.get(f"/sessions/{session_id}", headers=owner)).status_code == 200


@BOTH_WAYS
async def test_agents_are_shared_by_both_modes(client, ctx, owner_mode):
    """An agent is configuration: the one tried in the sandbox is the one that makes live calls."""
    account = await make_account(ctx)
    agent = await create_agent(client, account.key(owner_mode))
    theirs = account.key(other(owner_mode)).headers
    assert (await client.get(f"/agent/{agent['id']}", headers=theirs)).json()["data"]["id"] == agent["id"]
    await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=theirs)
    r = await client.post("/calls/start", json=body_for(agent, variables={"callee_name": "A"}), headers=theirs)
    assert r.status_code == 200, r.text


@BOTH_WAYS
async def test_the_same_idempotency_key_in_the_other_mode_places_a_new_call(client, ctx, owner_mode):
    account = await make_account(ctx)
    first_key, second_key = account.key(owner_mode).headers, account.key(other(owner_mode)).headers
    agent = await create_agent(client, account.live)
    for headers in (first_key, second_key):
        assert (await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=headers)).status_code == 200
    body = body_for(agent, variables={"callee_name": "Sajal"})
    idem = {"Idempotency-Key": f"reminder-{uuid.uuid4().hex[:8]}"}

    first = await client.post("/calls/start", json=body, headers={**first_key, **idem})
    second = await client.post("/calls/start", json=body, headers={**second_key, **idem})
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert "Idempotent-Replayed" not in second.headers, "the other mode's call must not answer for this one"
    second_call = second.json()["data"]["call_id"]
    assert second_call != first.json()["data"]["call_id"]
    placed = (await client.get(f"/calls/{second_call}", headers=second_key)).json()["data"]
    assert placed["sandbox"] is (owner_mode == keys.LIVE)  # the second key's mode, a real call for a live key

    # Within each mode the key still replays its own call.
    again = await client.post("/calls/start", json=body, headers={**second_key, **idem})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["data"]["call_id"] == second_call
    again = await client.post("/calls/start", json=body, headers={**first_key, **idem})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["data"]["call_id"] == first.json()["data"]["call_id"]


@BOTH_WAYS
async def test_one_modes_load_at_its_limit_never_refuses_the_other_modes_calls(client, ctx, owner_mode):
    account = await make_account(ctx, concurrency=2, sandbox_concurrency=2)
    busy, idle = account.key(owner_mode).headers, account.key(other(owner_mode)).headers
    agent = await create_agent(client, account.live)
    for headers in (busy, idle):
        await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=headers)
    body = body_for(agent, variables={"callee_name": "A"})
    for _ in range(2):
        assert (await client.post("/calls/start", json=body, headers=busy)).status_code == 200
    assert_error(await client.post("/calls/start", json=body, headers=busy), 429, "CONCURRENCY_LIMIT")

    r = await client.post("/calls/start", json=body, headers=idle)
    assert r.status_code == 200, r.text
    conc = (await client.get("/calls/concurrency", headers=idle)).json()["data"]
    assert (conc["limit"], conc["active"], conc["remaining"]) == (2, 1, 1)
    conc = (await client.get("/calls/concurrency", headers=busy)).json()["data"]
    assert (conc["limit"], conc["active"], conc["remaining"]) == (2, 2, 0)


async def test_the_sandbox_limit_is_its_own_setting(client, ctx, monkeypatch):
    """Unset on the partner: the deployment's sandbox default; set: the partner's own. Never the live limit."""
    account = await make_account(ctx, concurrency=7)
    monkeypatch.setattr(ctx.settings, "sandbox_concurrency", 3)
    test_view = (await client.get("/calls/concurrency", headers=account.test.headers)).json()["data"]
    live_view = (await client.get("/calls/concurrency", headers=account.live.headers)).json()["data"]
    assert test_view["limit"] == 3 and live_view["limit"] == 7
    assert (await client.get("/config", headers=account.test.headers)).json()["data"]["concurrency_limit"] == 3
    await partners.update_partner(ctx, account.partner_id, partners.Limits(sandbox_concurrency=4))
    assert (await client.get("/calls/concurrency", headers=account.test.headers)).json()["data"]["limit"] == 4
    assert (await client.get("/calls/concurrency", headers=account.live.headers)).json()["data"]["limit"] == 7


async def test_parallel_sandbox_starts_stop_at_exactly_the_sandbox_limit_while_live_ones_go_through(client, ctx):
    import asyncio

    account = await make_account(ctx, concurrency=3, sandbox_concurrency=3)
    agent = await create_agent(client, account.live)
    for tenant in (account.live, account.test):
        await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=tenant.headers)
    body = body_for(agent, variables={"callee_name": "A"})
    results = await asyncio.gather(
        *(client.post("/calls/start", json=body, headers=t.headers) for t in [account.test, account.live] * 8)
    )
    by_mode = {keys.TEST: results[0::2], keys.LIVE: results[1::2]}
    for mode, answers in by_mode.items():
        codes = sorted(r.status_code for r in answers)
        assert codes.count(200) == 3 and codes.count(429) == 5, (mode, codes)
