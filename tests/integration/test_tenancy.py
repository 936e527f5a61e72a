"""Every endpoint is scoped to the caller's partner: another partner's ids are 404, never 403."""

from sqlalchemy import text

from tests.conftest import configure_twilio, create_agent, start_body
from tests.helpers import assert_error


async def test_every_endpoint_hides_other_partners_resources(client, ready, make_partner):
    owner = ready.tenant.headers
    started = (await client.post("/calls/start", json=start_body(ready), headers=owner)).json()["data"]
    conn_id = (await client.get("/telephony/connections", headers=owner)).json()["data"]["connections"][0]["id"]
    agent_id = ready.agent["id"]
    intruder = (await make_partner()).headers

    attempts = [
        ("GET", f"/agent/{agent_id}", None, "NOT_FOUND"),
        ("PUT", f"/agent/{agent_id}", {"prompt": "stolen"}, "NOT_FOUND"),
        ("DELETE", f"/agent/{agent_id}", None, "NOT_FOUND"),
        ("GET", f"/calls/{started['call_id']}", None, "NOT_FOUND"),
        ("GET", f"/sessions/{started['session_id']}", None, "NOT_FOUND"),
        ("GET", f"/telephony/connections/{conn_id}", None, "CONNECTION_NOT_FOUND"),
        ("PATCH", f"/telephony/connections/{conn_id}", {"name": "mine"}, "CONNECTION_NOT_FOUND"),
        ("DELETE", f"/telephony/connections/{conn_id}", None, "CONNECTION_NOT_FOUND"),
    ]
    for method, path, body, code in attempts:
        r = await client.request(method, path, json=body, headers=intruder)
        assert_error(r, 404, code)

    # A start that names the owner's agent is AGENT_NOT_FOUND for the intruder, even with its own carrier.
    r = await client.post("/calls/start", json=start_body(ready), headers=intruder)
    assert_error(r, 404, "AGENT_NOT_FOUND")

    # Lists show only one's own rows.
    for path, key in (("/agent", "agents"), ("/calls", "calls"), ("/telephony/connections", "connections")):
        assert (await client.get(path, headers=intruder)).json()["data"][key] == []

    # And nothing of the owner's changed.
    still = (await client.get(f"/agent/{agent_id}", headers=owner)).json()["data"]
    assert still["prompt"] == ready.agent["prompt"]


async def test_config_and_concurrency_are_the_callers_own(client, ready, make_partner):
    other = await make_partner(concurrency=9)
    await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers)
    conc = (await client.get("/calls/concurrency", headers=other.headers)).json()["data"]
    assert conc["limit"] == 9 and conc["active"] == 0
    cfg = (await client.get("/config", headers=other.headers)).json()["data"]
    assert cfg["partner_id"] == other.partner_id and cfg["telephony"]["twilio"]["configured"] is False


async def test_same_agent_name_and_connection_name_live_side_by_side(client, tenant, make_partner, ctx):
    other = await make_partner()
    await create_agent(client, tenant, agent_name="Shared")
    await create_agent(client, other, agent_name="Shared")
    await configure_twilio(client, tenant)
    await configure_twilio(client, other)
    async with ctx.db.transaction() as s:
        n = (
            await s.execute(
                text("SELECT count(*) FROM telephony_connections WHERE partner_id IN (:a, :b)"),
                {"a": tenant.partner_id, "b": other.partner_id},
            )
        ).scalar_one()
    assert n == 2


async def test_call_webhook_and_recording_endpoints_hide_other_partners_resources(client, ctx, make_partner):
    """The same rule for the endpoints that act on a call or a webhook endpoint."""
    from voxline.calls.finish import SessionOutcome, finish_session

    owner = await make_partner(mode="test")
    agent = await create_agent(client, owner)
    await configure_twilio(client, owner)
    hook = (
        await client.post(
            "/config/webhooks", json={"label": "crm", "url": "http://127.0.0.1:9/hook"}, headers=owner.headers
        )
    ).json()["data"]
    started = (
        await client.post(
            "/calls/start",
            json={"agent_id": agent["id"], "to_number": "+919876543210", "provider": "twilio"},
            headers=owner.headers,
        )
    ).json()["data"]
    await finish_session(ctx, started["session_id"], SessionOutcome(status="failed"))
    deliveries = (await client.get(f"/config/webhooks/{hook['id']}/deliveries", headers=owner.headers)).json()["data"]
    assert len(deliveries["deliveries"]) == 1  # the finished session's event, queued for the owner's endpoint
    delivery_id = deliveries["deliveries"][0]["id"]
    intruder = (await make_partner(mode="test")).headers

    attempts = [
        ("POST", f"/calls/{started['call_id']}/cancel", None),
        ("GET", f"/calls/{started['call_id']}/recording-url", None),
        ("POST", f"/calls/{started['call_id']}/extract", {"dry_run": True}),
        ("GET", f"/config/webhooks/{hook['id']}", None),
        ("PATCH", f"/config/webhooks/{hook['id']}", {"enabled": False}),
        ("POST", f"/config/webhooks/{hook['id']}/rotate-secret", None),
        ("GET", f"/config/webhooks/{hook['id']}/deliveries", None),
        ("POST", f"/config/webhooks/{hook['id']}/deliveries/{delivery_id}/redeliver", None),
        ("DELETE", f"/config/webhooks/{hook['id']}", None),
    ]
    for method, path, body in attempts:
        r = await client.request(method, path, json=body, headers=intruder)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["success"] is False
    assert (await client.get("/config/webhooks", headers=intruder)).json()["data"]["webhooks"] == []
    mine = (await client.get(f"/config/webhooks/{hook['id']}", headers=owner.headers)).json()["data"]
    assert mine["enabled"] is True
