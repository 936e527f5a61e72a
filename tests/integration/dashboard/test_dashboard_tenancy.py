"""A dashboard session sees exactly what its key sees: another partner's objects, and the other mode's, are
404 on every page that names one (never 200, never 403) and absent from every list; forms aimed at them
change nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from tests.conftest import TWILIO_CREDS, Tenant, create_agent
from tests.integration.dashboard.conftest import csrf_of, post_form, signed_in
from voxline.accounts import partners
from voxline.calls.finish import SessionOutcome, finish_session
from voxline.core import keys

TEST_HOOK = "http://127.0.0.1:9/hook"
LIVE_HOOK = "https://hooks.example.com/voxline"
DNC_PHONE = "+14155550199"


@dataclass
class Owned:
    """What one key made: the ids the dashboard pages name, and strings that would show them in a list."""

    tenant: Tenant
    agent_id: str
    call_id: str
    connection_id: str
    webhook_id: str
    delivery_id: str
    campaign_id: str
    marker: str  # the agent's name


async def make_objects(client, tenant: Tenant, mode: str, agent: dict | None = None) -> Owned:
    h = tenant.headers
    agent = agent or await create_agent(client, tenant)
    r = await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=h)
    assert r.status_code == 200, r.text
    connection_id = r.json()["data"]["connection_id"]
    url = LIVE_HOOK if mode == keys.LIVE else TEST_HOOK
    r = await client.post("/config/webhooks", json={"label": f"h{uuid.uuid4().hex[:8]}", "url": url}, headers=h)
    assert r.status_code == 200, r.text
    webhook_id = r.json()["data"]["id"]
    body = {"agent_id": agent["id"], "to_number": "+919876543210", "provider": "twilio"}
    r = await client.post("/calls/start", json={**body, "variables": {"callee_name": "Ravi"}}, headers=h)
    assert r.status_code == 200, r.text
    started = r.json()["data"]
    return Owned(tenant, agent["id"], started["call_id"], connection_id, webhook_id, "", "", agent["agent_name"])


async def finish_with_delivery(ctx, client, owned: Owned, session_id: str) -> None:
    await finish_session(ctx, session_id, SessionOutcome(status="failed"))
    r = await client.get(f"/config/webhooks/{owned.webhook_id}/deliveries", headers=owned.tenant.headers)
    [delivery] = r.json()["data"]["deliveries"]
    owned.delivery_id = delivery["id"]


async def add_campaign_and_dnc(client, owned: Owned) -> None:
    h = owned.tenant.headers
    body = {"name": f"c-{uuid.uuid4().hex[:8]}", "agent_id": owned.agent_id, "provider": "twilio"}
    r = await client.post("/campaigns", json=body, headers=h)
    assert r.status_code == 200, r.text
    owned.campaign_id = r.json()["data"]["campaign_id"]
    assert (await client.post("/dnc", json={"numbers": [DNC_PHONE]}, headers=h)).status_code == 200


async def owned_by(ctx, client, tenant: Tenant, mode: str, agent: dict | None = None) -> Owned:
    owned = await make_objects(client, tenant, mode, agent)
    r = await client.get(f"/calls/{owned.call_id}", headers=tenant.headers)
    await finish_with_delivery(ctx, client, owned, r.json()["data"]["session_id"])
    await add_campaign_and_dnc(client, owned)
    return owned


def pages_naming(o: Owned) -> list[str]:
    return [
        f"/calls/{o.call_id}",
        f"/calls/{o.call_id}/status.json",
        f"/campaigns/{o.campaign_id}",
    ]


def forms_aimed_at(o: Owned) -> list[tuple[str, dict]]:
    return [
        (f"/calls/{o.call_id}/redeliver", {"endpoint_id": o.webhook_id, "delivery_id": o.delivery_id}),
        (f"/connections/{o.connection_id}/delete", {}),
        (f"/webhooks/{o.webhook_id}/enabled", {"enabled": "false"}),
        ("/dnc/remove", {"phone": DNC_PHONE}),
    ]


def agent_pages(o: Owned) -> list[str]:
    return [f"/agents/{o.agent_id}"]


def agent_forms(o: Owned) -> list[tuple[str, dict]]:
    return [
        (f"/agents/{o.agent_id}", {"agent_name": "Taken over", "prompt": "p", "voice_id": "x"}),
        (f"/agents/{o.agent_id}/call", {"to_number": "+919876543210", "provider": "twilio"}),
        (f"/agents/{o.agent_id}/talk", {}),
    ]


LISTS = ["/calls", "/calls.json", "/agents", "/connections", "/webhooks", "/campaigns", "/dnc"]


async def assert_walled_off(app, key: str, o: Owned, agents_too: bool) -> None:
    async with signed_in(app, key) as c:
        token = csrf_of(await c.get("/agents/new"))
        named = pages_naming(o) + (agent_pages(o) if agents_too else [])
        for path in named:
            r = await c.get(path)
            assert r.status_code == 404, (path, r.status_code)
            assert o.call_id not in r.text
        forms = forms_aimed_at(o) + (agent_forms(o) if agents_too else [])
        for path, data in forms:
            r = await c.post(path, data={"csrf": token, **data})
            assert r.status_code == 404, (path, r.status_code, r.text[:200])
        for path in LISTS:
            r = await c.get(path)
            assert r.status_code == 200, path
            for hidden in (o.call_id, o.connection_id, o.webhook_id, o.campaign_id, DNC_PHONE):
                assert hidden not in r.text, (path, hidden)
            if agents_too:
                assert o.agent_id not in r.text and o.marker not in r.text, path


async def assert_untouched(app, key: str, o: Owned) -> None:
    """The owner still sees everything, unchanged by the other's attempts."""
    async with signed_in(app, key) as c:
        for path in pages_naming(o) + agent_pages(o):
            assert (await c.get(path)).status_code == 200, path
        assert o.connection_id in (await c.get("/connections")).text
        assert "<td data-enabled>enabled</td>" in (await c.get("/webhooks")).text
        assert DNC_PHONE in (await c.get("/dnc")).text
        assert o.marker in (await c.get("/agents")).text


@pytest.mark.parametrize("mode", [keys.TEST, keys.LIVE])
async def test_another_partner_gets_404_on_every_page_and_form_and_sees_nothing_in_lists(
    app, ctx, client, make_partner, mode
):
    owner = await make_partner(mode, concurrency=5)
    intruder = await make_partner(mode, concurrency=5)
    owned = await owned_by(ctx, client, owner, mode)
    await assert_walled_off(app, intruder.api_key, owned, agents_too=True)
    await assert_untouched(app, owner.api_key, owned)


@pytest.mark.parametrize("owner_mode", [keys.LIVE, keys.TEST])
async def test_the_other_modes_key_of_the_same_partner_sees_none_of_its_objects(app, ctx, client, owner_mode):
    name = f"m-{uuid.uuid4().hex[:10]}"
    live = await partners.create_partner(ctx, name, partners.Limits(concurrency=5, sandbox_concurrency=5))
    test = await partners.create_key(ctx, live.partner_id, keys.TEST)
    tenants = {
        keys.LIVE: Tenant(live.partner_id, live.api_key, name),
        keys.TEST: Tenant(test.partner_id, test.api_key, name),
    }
    other = keys.TEST if owner_mode == keys.LIVE else keys.LIVE
    owned = await owned_by(ctx, client, tenants[owner_mode], owner_mode)
    # Agents belong to the partner in both modes (as in the API); everything else is the mode's own.
    await assert_walled_off(app, tenants[other].api_key, owned, agents_too=False)
    await assert_untouched(app, tenants[owner_mode].api_key, owned)


async def test_the_calls_list_filters_by_status_agent_number_and_date(app, client, make_partner):
    tenant = await make_partner(keys.TEST, concurrency=10)
    first = await create_agent(client, tenant)
    second = await create_agent(client, tenant)
    await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=tenant.headers)
    ids = {}
    for agent, number in ((first, "+919876543210"), (second, "+14155550111")):
        body = {"agent_id": agent["id"], "to_number": number, "provider": "twilio", "variables": {"callee_name": "A"}}
        r = await client.post("/calls/start", json=body, headers=tenant.headers)
        ids[number] = r.json()["data"]["call_id"]
    async with signed_in(app, tenant.api_key) as c:

        async def listed(query: str) -> set[str]:
            r = await c.get("/calls.json?" + query)
            assert r.status_code == 200, r.text
            return {row["call_id"] for row in r.json()["calls"]}

        assert await listed("") == set(ids.values())
        assert await listed(f"agent={second['id']}") == {ids["+14155550111"]}
        assert await listed("number=98765") == {ids["+919876543210"]}
        assert await listed("status=pending") == set(ids.values())
        assert await listed("status=completed") == set()
        assert await listed("from=2000-01-01&to=2000-01-02") == set()
        assert await listed("from=2000-01-01") == set(ids.values())
        assert await listed("agent=not-a-uuid") == set()
        page = await c.get("/calls?number=4155550111")
        assert ids["+14155550111"] in page.text and ids["+919876543210"] not in page.text
        assert (await c.get("/calls?status=nonsense")).status_code == 400
        for bad in ("from=yesterday", "to=9999-12-31", "from=0001-01-01", "to=2024-02-30"):
            assert (await c.get("/calls?" + bad)).status_code == 400, bad


async def test_a_call_page_shows_its_deliveries_and_redelivers_one(app, ctx, client, make_partner):
    tenant = await make_partner(keys.TEST, concurrency=5)
    owned = await owned_by(ctx, client, tenant, keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        page = await c.get(f"/calls/{owned.call_id}")
        assert owned.delivery_id in page.text
        # The delivery is still being tried (127.0.0.1:9 refuses): a pending one cannot be redelivered.
        r = await post_form(
            c,
            f"/calls/{owned.call_id}",
            f"/calls/{owned.call_id}/redeliver",
            {"endpoint_id": owned.webhook_id, "delivery_id": owned.delivery_id},
        )
        assert r.status_code in (303, 409), r.text
