"""Agents (spec §4): fields, limits, defaults, declared variables, per-partner uniqueness and limit."""

import uuid

import httpx
import pytest

from tests.conftest import VOICE_ID, create_agent
from tests.helpers import assert_error
from voxline.app import create_app
from voxline.context import Context
from voxline.voice import catalog


def agent_body(**fields):
    body = {"agent_name": "Reminder bot", "prompt": "Call {{callee_name}} about {{topic}}.", "voice_id": VOICE_ID}
    body.update(fields)
    return body


async def test_create_returns_the_agent_with_documented_defaults(client, tenant):
    r = await client.post("/agent", json=agent_body(intro_message="Hi {{callee_name}}"), headers=tenant.headers)
    assert r.status_code == 200, r.text
    a = r.json()["data"]
    assert a["agent_name"] == "Reminder bot" and a["voice_id"] == VOICE_ID and a["language"] == "en"
    assert a["max_call_duration_secs"] == 600
    assert a["enable_recording"] is False and a["voicemail_detection_enabled"] is False
    assert a["transferEnabled"] is False and a["endCallEnabled"] is True
    assert a["endCallMessage"]  # platform default farewell
    assert a["kb_threshold"] == "medium"
    r = await client.get(f"/agent/{a['id']}", headers=tenant.headers)
    assert r.json()["data"] == a


async def test_declared_variables_are_derived_from_placeholders_when_not_given(client, tenant):
    a = await create_agent(
        client,
        tenant,
        prompt="Call {{ callee_name }} about {{topic}}",
        intro_message="Hello {{callee_name}}, {{greeting_word}}",
    )
    assert a["variables"] == ["callee_name", "topic", "greeting_word"]


async def test_explicit_variables_win_over_placeholders(client, tenant):
    a = await create_agent(client, tenant, variables=["callee_name", "mobile_number", "callee_name"])
    assert a["variables"] == ["callee_name", "mobile_number"]


@pytest.mark.parametrize("name", ["1abc", "has-dash", "a" * 65, "with space"])
async def test_variable_names_must_match_the_pattern(client, tenant, name):
    r = await client.post("/agent", json=agent_body(variables=[name]), headers=tenant.headers)
    assert_error(r, 400, "VALIDATION_ERROR" if len(name) <= 64 else "STRING_TOO_LONG")


async def test_at_most_100_variables(client, tenant):
    r = await client.post("/agent", json=agent_body(variables=[f"v{i}" for i in range(101)]), headers=tenant.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    prompt = " ".join(f"{{{{v{i}}}}}" for i in range(101))
    r = await client.post("/agent", json=agent_body(prompt=prompt), headers=tenant.headers)
    assert_error(r, 400, "INVALID_VARIABLES")


async def test_voice_must_come_from_the_catalog(client, tenant):
    r = await client.post(
        "/agent", json=agent_body(voice_id="00000000-0000-4000-8000-000000000000"), headers=tenant.headers
    )
    assert_error(r, 400, "INVALID_VOICE")


async def test_voice_catalog_lists_stable_ids(client, tenant):
    r = await client.get("/agent/voices", headers=tenant.headers)
    voices = r.json()["data"]["voices"]
    assert any(v["id"] == VOICE_ID for v in voices)
    assert all({"id", "name", "language", "gender"} <= set(v) for v in voices)


async def test_each_app_offers_the_voices_of_its_own_settings(database, tenant, monkeypatch):
    """Two apps built with different tts_engines, in one process, list and accept different voices; the
    process environment plays no part."""
    monkeypatch.setenv("VOXLINE_TTS_ENGINES", "elevenlabs")
    offline_only = catalog.voices("piper")
    with_openai = catalog.voices("piper,openai")
    openai_voice = next(v for v in with_openai if v.engine == "openai")
    seen: dict[str, dict] = {}
    for engines in ("piper", "piper,openai"):
        ctx = Context.build(database.settings(tts_engines=engines))
        app = create_app(ctx=ctx)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://testserver/api/v2"
                ) as client,
            ):
                voices = (await client.get("/agent/voices", headers=tenant.headers)).json()["data"]["voices"]
                config = (await client.get("/config", headers=tenant.headers)).json()["data"]
                created = await client.post(
                    "/agent",
                    json=agent_body(agent_name=f"v-{uuid.uuid4().hex[:8]}", voice_id=openai_voice.id),
                    headers=tenant.headers,
                )
        finally:
            await ctx.close()
        seen[engines] = {
            "voices": [v["id"] for v in voices],
            "allowed": config["allowed_voices"],
            "status": created.status_code,
        }
    assert seen["piper"]["voices"] == [v.id for v in offline_only] == seen["piper"]["allowed"]
    assert seen["piper,openai"]["voices"] == [v.id for v in with_openai] == seen["piper,openai"]["allowed"]
    assert seen["piper"]["status"] == 400 and seen["piper,openai"]["status"] == 200  # the voice of an engine it offers


@pytest.mark.parametrize("value", [59, 3601])
async def test_max_call_duration_is_bounded(client, tenant, value):
    r = await client.post("/agent", json=agent_body(max_call_duration_secs=value), headers=tenant.headers)
    assert_error(r, 400, "VALIDATION_ERROR")


async def test_max_call_duration_null_disables_the_cap(client, tenant):
    a = await create_agent(client, tenant, max_call_duration_secs=None)
    assert a["max_call_duration_secs"] is None


async def test_transfer_needs_an_e164_number(client, tenant):
    r = await client.post("/agent", json=agent_body(transfer_enabled=True), headers=tenant.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    r = await client.post(
        "/agent", json=agent_body(transfer_enabled=True, transfer_number="12345"), headers=tenant.headers
    )
    assert_error(r, 400, "VALIDATION_ERROR")


async def test_camel_case_transfer_and_end_call_fields_are_accepted(client, tenant):
    a = await create_agent(
        client,
        tenant,
        transferEnabled=True,
        transferNumber="+14155550100",
        transferMessage="Connecting you now",
        endCallEnabled=False,
        endCallMessage="Bye now",
    )
    assert a["transferEnabled"] is True and a["transferNumber"] == "+14155550100"
    assert a["transferMessage"] == "Connecting you now"
    assert a["endCallEnabled"] is False and a["endCallMessage"] == "Bye now"


async def test_extraction_config_is_validated_and_returned(client, tenant):
    config = {
        "prompt": "Extract",
        "keys": [{"name": "booked", "type": "boolean", "description": "did they book"}],
        "includeToolLogs": False,
    }
    a = await create_agent(client, tenant, extraction_config=config)
    assert a["extraction_config"]["keys"][0] == {"name": "booked", "type": "boolean", "description": "did they book"}
    bad = {"keys": [{"name": "x", "type": "color"}]}
    assert_error(
        await client.post("/agent", json=agent_body(extraction_config=bad), headers=tenant.headers),
        400,
        "VALIDATION_ERROR",
    )
    dup = {"keys": [{"name": "x"}, {"name": "x"}]}
    assert_error(
        await client.post("/agent", json=agent_body(agent_name="dup", extraction_config=dup), headers=tenant.headers),
        400,
        "VALIDATION_ERROR",
    )


async def test_agent_names_are_unique_per_partner_only(client, tenant, make_partner):
    await create_agent(client, tenant, agent_name="Same")
    assert_error(
        await client.post("/agent", json=agent_body(agent_name="Same"), headers=tenant.headers), 409, "AGENT_NAME_TAKEN"
    )
    other = await make_partner()
    await create_agent(client, other, agent_name="Same")


async def test_agent_limit_is_enforced(client, make_partner):
    small = await make_partner(agent_limit=2)
    await create_agent(client, small)
    await create_agent(client, small)
    assert_error(
        await client.post("/agent", json=agent_body(agent_name="third"), headers=small.headers),
        403,
        "AGENT_LIMIT_REACHED",
    )


async def test_update_changes_only_the_fields_sent(client, tenant):
    a = await create_agent(client, tenant, enable_recording=True)
    r = await client.put(f"/agent/{a['id']}", json={"intro_message": "Hey {{callee_name}}"}, headers=tenant.headers)
    b = r.json()["data"]
    assert b["intro_message"] == "Hey {{callee_name}}" and b["enable_recording"] is True
    assert b["prompt"] == a["prompt"] and b["updated_at"] >= a["updated_at"]


async def test_update_with_no_fields_is_refused(client, tenant):
    a = await create_agent(client, tenant)
    assert_error(await client.put(f"/agent/{a['id']}", json={}, headers=tenant.headers), 400, "EMPTY_UPDATE")


async def test_update_semantics_for_nulls(client, tenant):
    a = await create_agent(
        client, tenant, transfer_enabled=True, transfer_number="+14155550100", variables=["callee_name"]
    )
    r = await client.put(
        f"/agent/{a['id']}",
        json={"transfer_enabled": False, "variables": None, "intro_message": "", "max_call_duration_secs": None},
        headers=tenant.headers,
    )
    b = r.json()["data"]
    assert b["transferEnabled"] is False and b["transferNumber"] is None
    assert b["variables"] == [] and b["intro_message"] is None and b["max_call_duration_secs"] is None
    r = await client.put(f"/agent/{a['id']}", json={"agent_name": None}, headers=tenant.headers)
    assert_error(r, 400, "INVALID_TYPE")


async def test_derived_variables_follow_prompt_changes(client, tenant):
    a = await create_agent(client, tenant, prompt="Hi {{a}}", intro_message=None)
    r = await client.put(f"/agent/{a['id']}", json={"prompt": "Hi {{b}} and {{c}}"}, headers=tenant.headers)
    assert r.json()["data"]["variables"] == ["b", "c"]


async def test_delete_is_soft_and_frees_the_name(client, tenant):
    a = await create_agent(client, tenant, agent_name="Temp")
    r = await client.delete(f"/agent/{a['id']}", headers=tenant.headers)
    assert r.json() == {"success": True, "data": {"message": "Agent deleted successfully"}}
    assert_error(await client.get(f"/agent/{a['id']}", headers=tenant.headers), 404, "NOT_FOUND")
    assert_error(await client.delete(f"/agent/{a['id']}", headers=tenant.headers), 404, "NOT_FOUND")
    await create_agent(client, tenant, agent_name="Temp")


async def test_list_is_newest_first_and_paginated(client, make_partner):
    t = await make_partner()
    ids = [(await create_agent(client, t, agent_name=f"n{i}"))["id"] for i in range(3)]
    r = await client.get("/agent?limit=2", headers=t.headers)
    data = r.json()["data"]
    assert data["total"] == 3 and data["limit"] == 2 and data["offset"] == 0
    assert [a["id"] for a in data["agents"]] == ids[::-1][:2]
    r = await client.get("/agent?limit=2&offset=2", headers=t.headers)
    assert [a["id"] for a in r.json()["data"]["agents"]] == [ids[0]]


async def test_unknown_or_malformed_agent_ids_are_not_found(client, tenant):
    for agent_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        assert_error(await client.get(f"/agent/{agent_id}", headers=tenant.headers), 404, "NOT_FOUND")
