"""/openapi.json says what the server does: null only where null is accepted, the patterns the server checks."""

import re

from tests.conftest import VOICE_ID, create_agent


async def _components(client) -> dict:
    return (await client.get("http://testserver/openapi.json")).json()["components"]["schemas"]


def _allows_null(prop: dict) -> bool:
    return prop.get("type") == "null" or any(b.get("type") == "null" for b in prop.get("anyOf", []))


async def test_agent_fields_the_server_refuses_null_for_are_not_nullable(client):
    schemas = await _components(client)
    for model in ("AgentCreate", "AgentUpdate"):
        props = schemas[model]["properties"]
        for name in ("agent_type", "enable_recording", "transfer_enabled", "voicemail_detection_enabled"):
            assert not _allows_null(props[name]), (model, name)
        assert _allows_null(props["intro_message"]) and _allows_null(props["max_call_duration_secs"])
        assert props["voice_id"]["enum"] == [VOICE_ID]
    assert schemas["AgentUpdate"]["minProperties"] == 1


async def test_webhook_urls_phone_numbers_and_filters_carry_the_server_rules(client):
    schemas = await _components(client)
    update = schemas["WebhookUpdate"]
    assert update["minProperties"] == 1 and not _allows_null(update["properties"]["url"])
    assert update["properties"]["url"]["minLength"] == 1
    assert schemas["WebhookCreate"]["properties"]["label"]["not"] == {"const": "default"}
    to_number = schemas["StartCallBody"]["properties"]["to_number"]
    assert re.fullmatch(to_number["pattern"], "+14155551234") and not re.fullmatch(to_number["pattern"], "")
    paths = (await client.get("http://testserver/openapi.json")).json()["paths"]
    [status] = [p for p in paths["/api/v2/calls"]["get"]["parameters"] if p["name"] == "status"]
    assert re.fullmatch(status["schema"]["pattern"], "In_Progress") and not re.fullmatch(
        status["schema"]["pattern"], ""
    )


async def test_an_integral_number_is_an_integer(client, tenant):
    """JSON Schema counts 600.0 as an integer; so does the server."""
    agent = await create_agent(client, tenant, max_call_duration_secs=600.0)
    assert agent["max_call_duration_secs"] == 600
    r = await client.put(f"/agent/{agent['id']}", json={"max_call_duration_secs": 90.5}, headers=tenant.headers)
    assert r.status_code == 400


async def test_webhook_update_refuses_null(client, tenant):
    created = await client.post(
        "/config/webhooks", json={"label": "n", "url": "https://hooks.example.com/x"}, headers=tenant.headers
    )
    path = f"/config/webhooks/{created.json()['data']['id']}"
    r = await client.patch(path, json={"url": None, "enabled": True}, headers=tenant.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_TYPE"
