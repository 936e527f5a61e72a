"""Every bad request is a 400 with a specific code in the envelope; nothing leaks FastAPI's 422 shape."""

import pytest

from tests.conftest import VOICE_ID
from tests.integration.test_auth import assert_error


async def test_malformed_json_is_invalid_json(client, tenant):
    r = await client.post(
        "/agent", content=b'{"agent_name": ', headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert_error(r, 400, "INVALID_JSON")
    error = r.json()["error"]
    assert error["details"][0]["field"] == "body", "the field is the body, not the character offset"
    assert error["message"].startswith("The request body is not valid JSON at character 15"), error


async def test_json_that_is_not_an_object_is_invalid_json(client, tenant):
    r = await client.post("/agent", json=["a"], headers=tenant.headers)
    assert_error(r, 400, "INVALID_JSON")


async def test_empty_body_is_invalid_json(client, tenant):
    r = await client.post("/agent", headers=tenant.headers)
    assert_error(r, 400, "INVALID_JSON")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_wrong_content_type_is_refused(client, tenant, content_type):
    headers = dict(tenant.headers)
    if content_type:
        headers["Content-Type"] = content_type
    r = await client.post("/agent", content=b'{"agent_name":"x"}', headers=headers)
    assert_error(r, 400, "INVALID_CONTENT_TYPE")


async def test_body_over_one_mebibyte_is_refused(client, tenant):
    big = b'{"prompt": "' + b"a" * (1024 * 1024) + b'"}'
    r = await client.post("/agent", content=big, headers={**tenant.headers, "Content-Type": "application/json"})
    assert_error(r, 400, "BODY_TOO_LARGE")


async def test_unknown_field_is_refused_and_named(client, tenant):
    body = {"agent_name": "a", "prompt": "p", "voice_id": VOICE_ID, "colour": "blue"}
    err = assert_error(await client.post("/agent", json=body, headers=tenant.headers), 400, "UNKNOWN_FIELD")
    assert err["error"]["details"][0]["field"] == "colour"


async def test_wrong_type_is_refused_and_named(client, tenant):
    body = {"agent_name": "a", "prompt": "p", "voice_id": VOICE_ID, "enable_recording": "yes"}
    err = assert_error(await client.post("/agent", json=body, headers=tenant.headers), 400, "INVALID_TYPE")
    assert err["error"]["details"][0]["field"] == "enable_recording"


async def test_over_long_string_is_refused(client, tenant):
    body = {"agent_name": "n" * 51, "prompt": "p", "voice_id": VOICE_ID}
    err = assert_error(await client.post("/agent", json=body, headers=tenant.headers), 400, "STRING_TOO_LONG")
    assert err["error"]["details"][0]["field"] == "agent_name"


async def test_missing_required_field_is_named(client, tenant):
    err = assert_error(
        await client.post("/agent", json={"agent_name": "a"}, headers=tenant.headers), 400, "MISSING_FIELD"
    )
    assert {d["field"] for d in err["error"]["details"]} == {"prompt", "voice_id"}


async def test_bad_query_parameter_is_a_validation_error(client, tenant):
    r = await client.get("/calls?limit=0", headers=tenant.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    r = await client.get("/calls?limit=abc", headers=tenant.headers)
    assert_error(r, 400, "INVALID_TYPE")


async def test_unknown_route_is_not_found_in_the_envelope(client, tenant):
    assert_error(await client.get("/nope", headers=tenant.headers), 404, "NOT_FOUND")


async def test_wrong_method_is_method_not_allowed(client, tenant):
    assert_error(await client.delete("/config", headers=tenant.headers), 405, "METHOD_NOT_ALLOWED")


async def test_method_not_allowed_names_every_allowed_method(client, tenant):
    """RFC 9110: a 405 carries Allow, listing all methods of the path (here served by several routes)."""
    r = await client.delete("/config/webhooks", headers=tenant.headers)
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    r = await client.post("/agent/00000000-0000-0000-0000-000000000000", json={}, headers=tenant.headers)
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert set(r.headers["allow"].split(", ")) == {"GET", "PUT", "DELETE"}
    r = await client.options("/agent/voices", headers=tenant.headers)  # the literal path, not /agent/{agent_id}
    assert r.status_code == 405 and r.headers["allow"] == "GET"


async def test_no_fastapi_422_in_openapi(client):
    r = await client.get("http://testserver/openapi.json")
    assert r.status_code == 200
    assert '"422"' not in r.text and "HTTPValidationError" not in r.text
