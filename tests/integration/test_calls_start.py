"""POST /calls/start (the seed document) and the call/session reads around it."""

import asyncio

import pytest
from sqlalchemy import text

from tests.conftest import TWILIO_CREDS, configure_twilio, create_agent, start_body
from tests.helpers import assert_error
from voxline.accounts import partners

ACTIVE = ("pending", "ringing", "in_progress")


async def rows(ctx, sql, **params):
    async with ctx.db.transaction() as s:
        return (await s.execute(text(sql), params)).all()


async def test_start_answers_the_seed_shape_and_stores_call_session_and_dial_job(client, ctx, ready):
    r = await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"call_id", "session_id", "status", "provider", "from_number", "to_number", "agent_id"}
    assert data["status"] == "pending" and data["provider"] == "twilio"
    assert data["from_number"] == TWILIO_CREDS["from_number"] and data["to_number"] == "+919876543210"
    assert data["agent_id"] == ready.agent["id"]
    (status,) = (await rows(ctx, "SELECT status FROM calls WHERE id = :i", i=data["call_id"]))[0]
    assert status == "pending"
    (prompt, intro) = (
        await rows(ctx, "SELECT rendered_prompt, rendered_intro FROM sessions WHERE id = :i", i=data["session_id"])
    )[0]
    assert prompt == "You are calling Sajal to confirm an appointment." and intro == "Hello Sajal!"
    jobs = await rows(ctx, "SELECT status FROM dial_jobs WHERE call_id = :i", i=data["call_id"])
    assert jobs == [("queued",)]


async def test_missing_variables_render_as_empty_strings(client, ctx, ready):
    r = await client.post("/calls/start", json=start_body(ready, variables={}), headers=ready.tenant.headers)
    (intro,) = (await rows(ctx, "SELECT rendered_intro FROM sessions WHERE id = :i", i=r.json()["data"]["session_id"]))[
        0
    ]
    assert intro == "Hello !"


async def test_numbers_and_booleans_are_accepted_as_variable_values(client, ctx, tenant):
    agent = await create_agent(client, tenant, prompt="{{n}} {{b}} {{f}}", intro_message=None)
    await configure_twilio(client, tenant)
    body = {
        "agent_id": agent["id"],
        "to_number": "+919876543210",
        "provider": "twilio",
        "variables": {"n": 3, "b": True, "f": 2.5},
    }
    r = await client.post("/calls/start", json=body, headers=tenant.headers)
    (prompt,) = (
        await rows(ctx, "SELECT rendered_prompt FROM sessions WHERE id = :i", i=r.json()["data"]["session_id"])
    )[0]
    assert prompt == "3 true 2.5"


async def test_provider_defaults_to_mcube(client, ready):
    body = start_body(ready)
    del body["provider"]
    assert_error(
        await client.post("/calls/start", json=body, headers=ready.tenant.headers), 400, "PROVIDER_NOT_CONFIGURED"
    )


@pytest.mark.parametrize("number", ["919876543210", "+1 415 555 1234", "+999", "+0000000000", "tel:+14155551234"])
async def test_to_number_must_be_e164_and_possible(client, ready, number):
    r = await client.post("/calls/start", json=start_body(ready, to_number=number), headers=ready.tenant.headers)
    assert_error(r, 400, "VALIDATION_ERROR")


async def test_unknown_agent_is_agent_not_found(client, ready):
    r = await client.post(
        "/calls/start",
        json=start_body(ready, agent_id="00000000-0000-4000-8000-000000000000"),
        headers=ready.tenant.headers,
    )
    assert_error(r, 404, "AGENT_NOT_FOUND")


async def test_deleted_agent_cannot_be_called(client, ready):
    await client.delete(f"/agent/{ready.agent['id']}", headers=ready.tenant.headers)
    assert_error(
        await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers), 404, "AGENT_NOT_FOUND"
    )


async def test_provider_not_in_allowed_list_is_forbidden(client, make_partner):
    t = await make_partner(providers=["plivo"])
    agent = await create_agent(client, t)
    r = await client.post(
        "/calls/start",
        json={"agent_id": agent["id"], "to_number": "+919876543210", "provider": "twilio"},
        headers=t.headers,
    )
    assert_error(r, 403, "PROVIDER_NOT_ALLOWED")
    assert "default" not in r.json()["error"]["message"]


async def test_an_omitted_provider_says_the_default_was_used(client, make_partner):
    t = await make_partner(providers=["twilio"])
    agent = await create_agent(client, t)
    body = {"agent_id": agent["id"], "to_number": "+919876543210"}
    r = await client.post("/calls/start", json=body, headers=t.headers)
    assert_error(r, 403, "PROVIDER_NOT_ALLOWED")
    assert "no provider was given, and the API's default is mcube" in r.json()["error"]["message"]


async def test_unknown_provider_value_is_a_validation_error(client, ready):
    r = await client.post("/calls/start", json=start_body(ready, provider="acme"), headers=ready.tenant.headers)
    assert_error(r, 400, "VALIDATION_ERROR")


async def test_unconfigured_provider_is_refused(client, tenant):
    agent = await create_agent(client, tenant)
    r = await client.post(
        "/calls/start",
        json={"agent_id": agent["id"], "to_number": "+919876543210", "provider": "twilio"},
        headers=tenant.headers,
    )
    assert_error(r, 400, "PROVIDER_NOT_CONFIGURED")


async def test_several_active_connections_require_connection_id(client, ready):
    headers = ready.tenant.headers
    second = (
        await client.post(
            "/telephony/connections",
            json={"provider": "twilio", "name": "second", **TWILIO_CREDS, "from_number": "+14155550111"},
            headers=headers,
        )
    ).json()["data"]["connection"]
    assert_error(
        await client.post("/calls/start", json=start_body(ready), headers=headers), 400, "CONNECTION_ID_REQUIRED"
    )
    r = await client.post("/calls/start", json=start_body(ready, connection_id=second["id"]), headers=headers)
    assert r.status_code == 200 and r.json()["data"]["from_number"] == "+14155550111"
    await client.patch(f"/telephony/connections/{second['id']}", json={"status": "INACTIVE"}, headers=headers)
    assert_error(
        await client.post("/calls/start", json=start_body(ready, connection_id=second["id"]), headers=headers),
        400,
        "CONNECTION_INACTIVE",
    )
    r = await client.post("/calls/start", json=start_body(ready), headers=headers)
    assert r.status_code == 200 and r.json()["data"]["from_number"] == TWILIO_CREDS["from_number"]


async def test_connection_must_belong_to_the_partner_and_provider(client, ready, make_partner):
    other = await make_partner()
    foreign = (await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=other.headers)).json()["data"]
    assert_error(
        await client.post(
            "/calls/start", json=start_body(ready, connection_id=foreign["connection_id"]), headers=ready.tenant.headers
        ),
        404,
        "CONNECTION_NOT_FOUND",
    )
    plivo = (
        await client.put(
            "/config/telephony/plivo",
            json={"auth_id": "MAXXXXXXXXXXXXXXXXXX", "auth_token": "t" * 40, "from_number": "+14155551235"},
            headers=ready.tenant.headers,
        )
    ).json()["data"]
    assert_error(
        await client.post(
            "/calls/start", json=start_body(ready, connection_id=plivo["connection_id"]), headers=ready.tenant.headers
        ),
        400,
        "CONNECTION_PROVIDER_MISMATCH",
    )


async def test_undeclared_variables_are_refused_by_name(client, ready):
    r = await client.post(
        "/calls/start",
        json=start_body(ready, variables={"callee_name": "A", "secret": "x"}),
        headers=ready.tenant.headers,
    )
    err = assert_error(r, 400, "UNDECLARED_VARIABLE")
    assert err["error"]["details"][0]["field"] == "variables.secret"


@pytest.mark.parametrize(
    ("value", "code"),
    [("x" * 1001, "STRING_TOO_LONG"), (None, "INVALID_TYPE"), ({"a": 1}, "INVALID_TYPE"), ([1], "INVALID_TYPE")],
)
async def test_variable_values_are_short_scalars(client, ready, value, code):
    r = await client.post(
        "/calls/start", json=start_body(ready, variables={"callee_name": value}), headers=ready.tenant.headers
    )
    assert_error(r, 400, code)


async def test_a_failed_start_writes_nothing(client, ctx, ready):
    before = await rows(ctx, "SELECT count(*) FROM calls WHERE partner_id = :p", p=ready.tenant.partner_id)
    await client.post("/calls/start", json=start_body(ready, variables={"nope": 1}), headers=ready.tenant.headers)
    after = await rows(ctx, "SELECT count(*) FROM calls WHERE partner_id = :p", p=ready.tenant.partner_id)
    sessions = await rows(ctx, "SELECT count(*) FROM sessions WHERE partner_id = :p", p=ready.tenant.partner_id)
    assert before == after == [(0,)] and sessions == [(0,)]


async def test_test_keys_start_sandbox_calls(client, make_partner):
    t = await make_partner(mode="test")
    agent = await create_agent(client, t)
    await configure_twilio(client, t)
    r = await client.post(
        "/calls/start",
        json={"agent_id": agent["id"], "to_number": "+919876543210", "provider": "twilio"},
        headers=t.headers,
    )
    call = (await client.get(f"/calls/{r.json()['data']['call_id']}", headers=t.headers)).json()["data"]
    assert call["sandbox"] is True


# ---- idempotency ----


async def test_same_idempotency_key_and_body_returns_the_original_call(client, ctx, ready):
    headers = {**ready.tenant.headers, "Idempotency-Key": "order-42"}
    first = await client.post("/calls/start", json=start_body(ready), headers=headers)
    again = await client.post("/calls/start", json=start_body(ready), headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    count = await rows(ctx, "SELECT count(*) FROM calls WHERE partner_id = :p", p=ready.tenant.partner_id)
    assert count == [(1,)]


async def test_same_idempotency_key_with_another_body_conflicts(client, ready):
    headers = {**ready.tenant.headers, "Idempotency-Key": "order-43"}
    await client.post("/calls/start", json=start_body(ready), headers=headers)
    r = await client.post("/calls/start", json=start_body(ready, to_number="+14155550123"), headers=headers)
    assert_error(r, 409, "IDEMPOTENCY_CONFLICT")


async def test_an_expired_idempotency_key_starts_a_new_call(client, ctx, ready):
    headers = {**ready.tenant.headers, "Idempotency-Key": "order-44"}
    first = (await client.post("/calls/start", json=start_body(ready), headers=headers)).json()["data"]
    async with ctx.db.transaction() as s:
        await s.execute(
            text("UPDATE idempotency_keys SET created_at = created_at - make_interval(secs => :d) WHERE key = :k")
            if ctx.db.is_postgres
            else text(
                "UPDATE idempotency_keys SET created_at = datetime(created_at, '-' || :d || ' seconds') WHERE key = :k"
            ),
            {"d": ctx.settings.idempotency_ttl_secs + 60, "k": "order-44"},
        )
    again = await client.post("/calls/start", json=start_body(ready, to_number="+14155550123"), headers=headers)
    assert again.status_code == 200 and "idempotent-replayed" not in again.headers
    assert again.json()["data"]["call_id"] != first["call_id"]
    replay = await client.post("/calls/start", json=start_body(ready, to_number="+14155550123"), headers=headers)
    assert replay.json()["data"]["call_id"] == again.json()["data"]["call_id"]
    stored = await rows(
        ctx,
        "SELECT call_id FROM idempotency_keys WHERE key = 'order-44' AND partner_id = :p",
        p=ready.tenant.partner_id,
    )
    assert stored == [(again.json()["data"]["call_id"],)]


async def test_idempotency_keys_are_per_partner(client, ready, make_partner):
    other = await make_partner()
    agent = await create_agent(client, other)
    await configure_twilio(client, other)
    body = {"agent_id": agent["id"], "to_number": "+919876543210", "provider": "twilio"}
    a = await client.post(
        "/calls/start", json=start_body(ready), headers={**ready.tenant.headers, "Idempotency-Key": "k1"}
    )
    b = await client.post("/calls/start", json=body, headers={**other.headers, "Idempotency-Key": "k1"})
    assert a.status_code == b.status_code == 200 and a.json()["data"]["call_id"] != b.json()["data"]["call_id"]


async def test_idempotency_key_longer_than_255_is_refused(client, ready):
    r = await client.post(
        "/calls/start", json=start_body(ready), headers={**ready.tenant.headers, "Idempotency-Key": "k" * 256}
    )
    assert r.status_code == 400 and r.json()["success"] is False


async def test_concurrent_requests_with_one_key_create_exactly_one_call(client, ctx, ready):
    headers = {**ready.tenant.headers, "Idempotency-Key": "burst-1"}
    results = await asyncio.gather(
        *[client.post("/calls/start", json=start_body(ready), headers=headers) for _ in range(20)]
    )
    assert all(r.status_code == 200 for r in results), [r.text for r in results if r.status_code != 200]
    assert len({r.json()["data"]["call_id"] for r in results}) == 1
    count = await rows(ctx, "SELECT count(*) FROM calls WHERE partner_id = :p", p=ready.tenant.partner_id)
    assert count == [(1,)]


# ---- concurrency limit ----


async def test_fifty_parallel_starts_against_a_limit_of_five_create_exactly_five(client, ctx, make_partner):
    t = await make_partner(concurrency=5)
    agent = await create_agent(client, t)
    await configure_twilio(client, t)
    body = {
        "agent_id": agent["id"],
        "to_number": "+919876543210",
        "provider": "twilio",
        "variables": {"callee_name": "A"},
    }
    results = await asyncio.gather(*[client.post("/calls/start", json=body, headers=t.headers) for _ in range(50)])
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 5 and codes.count(429) == 45, codes
    assert all(r.json()["error"]["code"] == "CONCURRENCY_LIMIT" for r in results if r.status_code == 429)
    assert await rows(ctx, "SELECT count(*) FROM calls WHERE partner_id = :p", p=t.partner_id) == [(5,)]
    assert await rows(ctx, "SELECT count(*) FROM dial_jobs WHERE partner_id = :p", p=t.partner_id) == [(5,)]
    conc = (await client.get("/calls/concurrency", headers=t.headers)).json()["data"]
    assert conc == {
        "limit": 5,
        "limit_source": "partner",
        "active": 5,
        "remaining": 0,
        "statuses_counted": ["PENDING", "RINGING", "IN_PROGRESS"],
        # No dialer runs here: all five wait in the queue for a dialer's claim.
        "queued": 5,
        "waiting_reason": "dialer",
    }


async def test_ended_calls_free_their_slot(client, ctx, make_partner):
    t = await make_partner(concurrency=1)
    agent = await create_agent(client, t)
    await configure_twilio(client, t)
    body = {"agent_id": agent["id"], "to_number": "+919876543210", "provider": "twilio"}
    first = (await client.post("/calls/start", json=body, headers=t.headers)).json()["data"]
    assert_error(await client.post("/calls/start", json=body, headers=t.headers), 429, "CONCURRENCY_LIMIT")
    async with ctx.db.transaction() as s:
        await s.execute(text("UPDATE calls SET status = 'completed' WHERE id = :i"), {"i": first["call_id"]})
    assert (await client.post("/calls/start", json=body, headers=t.headers)).status_code == 200


# ---- reads ----


async def test_get_call_returns_call_and_session(client, ready):
    started = (await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers)).json()["data"]
    call = (await client.get(f"/calls/{started['call_id']}", headers=ready.tenant.headers)).json()["data"]
    assert call["call_id"] == started["call_id"] and call["direction"] == "outbound" and call["status"] == "pending"
    assert call["variables"] == {"callee_name": "Sajal"}
    session = call["session"]
    assert session["session_id"] == started["session_id"] and session["transcript"] == []
    assert session["processing_complete"] is False and session["pipeline_completed_at"] is None
    s = (await client.get(f"/sessions/{started['session_id']}", headers=ready.tenant.headers)).json()["data"]
    assert s["agent_name"] == ready.agent["agent_name"] and s["variables"] == {"callee_name": "Sajal"}


async def test_list_calls_is_newest_first_with_paging_and_status_filter(client, ctx, ready):
    ids = []
    for _ in range(3):
        ids.append(
            (await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers)).json()["data"][
                "call_id"
            ]
        )
    async with ctx.db.transaction() as s:
        await s.execute(text("UPDATE calls SET status = 'busy' WHERE id = :i"), {"i": ids[0]})
    data = (await client.get("/calls?limit=2", headers=ready.tenant.headers)).json()["data"]
    assert data["total"] == 3 and [c["call_id"] for c in data["calls"]] == ids[::-1][:2]
    busy = (await client.get("/calls?status=BUSY", headers=ready.tenant.headers)).json()["data"]
    assert [c["call_id"] for c in busy["calls"]] == [ids[0]]
    assert_error(await client.get("/calls?status=dialing", headers=ready.tenant.headers), 400, "VALIDATION_ERROR")


async def test_unknown_call_and_session_ids_are_not_found(client, tenant):
    for path in (
        "/calls/00000000-0000-4000-8000-000000000000",
        "/calls/xyz",
        "/sessions/00000000-0000-4000-8000-000000000000",
    ):
        assert_error(await client.get(path, headers=tenant.headers), 404, "NOT_FOUND")


@pytest.mark.parametrize("number", ["+1415555\u0660\u0663\u0660\u0660", "+14155550300\n"])
async def test_to_number_in_other_scripts_or_with_a_newline_is_refused_not_normalised(client, ctx, ready, number):
    r = await client.post("/calls/start", json=start_body(ready, to_number=number), headers=ready.tenant.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    assert await rows(ctx, "SELECT id FROM calls WHERE partner_id = :p", p=ready.tenant.partner_id) == []


@pytest.mark.parametrize("number", ["+19005550100", "+449090000000", "+882345678901", "+447012345678"])
async def test_premium_satellite_and_personal_numbers_are_refused_by_default(client, ctx, ready, number):
    r = await client.post("/calls/start", json=start_body(ready, to_number=number), headers=ready.tenant.headers)
    assert_error(r, 403, "DESTINATION_NOT_ALLOWED")
    assert await rows(ctx, "SELECT id FROM calls WHERE partner_id = :p", p=ready.tenant.partner_id) == []


async def test_a_call_to_the_caller_id_itself_is_refused(client, ready):
    body = start_body(ready, to_number=TWILIO_CREDS["from_number"])
    r = await client.post("/calls/start", json=body, headers=ready.tenant.headers)
    assert_error(r, 403, "DESTINATION_NOT_ALLOWED")


async def test_the_partner_destination_policy_narrows_countries_and_lifts_types(client, ctx, ready):
    name = ready.tenant.name
    await partners.update_partner(ctx, name, partners.Limits(allowed_countries=["US"], set_countries=True))
    config = (await client.get("/config", headers=ready.tenant.headers)).json()["data"]
    assert config["destination_policy"]["allowed_countries"] == ["US"]
    assert "PREMIUM_RATE" in config["destination_policy"]["blocked_number_types"]
    r = await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers)  # +91…: India
    assert_error(r, 403, "DESTINATION_NOT_ALLOWED")
    r = await client.post(
        "/calls/start", json=start_body(ready, to_number="+14155550100"), headers=ready.tenant.headers
    )
    assert r.status_code == 200, r.text

    await partners.update_partner(ctx, name, partners.Limits(allowed_number_types=["PREMIUM_RATE"]))
    r = await client.post(
        "/calls/start", json=start_body(ready, to_number="+19005550100"), headers=ready.tenant.headers
    )
    assert r.status_code == 200, r.text
    await partners.update_partner(ctx, name, partners.Limits(allowed_countries=None, set_countries=True))
    config = (await client.get("/config", headers=ready.tenant.headers)).json()["data"]
    assert config["destination_policy"]["allowed_countries"] is None
    assert "PREMIUM_RATE" not in config["destination_policy"]["blocked_number_types"]
