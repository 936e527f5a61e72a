"""NUL characters and non-finite numbers: one 400 with a specific code on SQLite and PostgreSQL alike.

PostgreSQL cannot store either (a 500 before), SQLite stored them silently; the request layer now refuses
them wherever they appear: any JSON key or string, the query, the path.
"""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import VOICE_ID, start_body
from tests.helpers import assert_error

JSON = {"Content-Type": "application/json"}


def _agent(**fields) -> dict:
    body = {"agent_name": f"a-{uuid.uuid4().hex[:8]}", "prompt": "Hello {{callee_name}}", "voice_id": VOICE_ID}
    return body | fields


@pytest.mark.parametrize(
    "fields",
    [
        {"agent_name": "bad\x00name"},
        {"prompt": "hi\x00 {{callee_name}}"},
        {"intro_message": "\x00"},
        {"voicemail_message": "call back\x00"},
    ],
)
async def test_nul_in_an_agent_field_is_refused(client, tenant, fields):
    r = await client.post("/agent", json=_agent(**fields), headers=tenant.headers)
    err = assert_error(r, 400, "INVALID_CHARACTER")
    assert err["error"]["details"][0]["field"] == next(iter(fields))
    assert r.headers.get("connection") != "close"


async def test_nul_in_a_connection_name_is_refused(client, tenant):
    body = {
        "provider": "twilio",
        "name": "main\x00",
        "account_sid": "AC" + "0" * 32,
        "auth_token": "0" * 32,
        "from_number": "+14155551234",
    }
    assert_error(
        await client.post("/telephony/connections", json=body, headers=tenant.headers), 400, "INVALID_CHARACTER"
    )


async def test_nul_in_a_variable_name_or_value_is_refused(client, ready):
    for variables in ({"callee_name": "Sa\x00jal"}, {"callee\x00name": "Sajal"}):
        r = await client.post("/calls/start", json=start_body(ready, variables=variables), headers=ready.tenant.headers)
        assert_error(r, 400, "INVALID_CHARACTER")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
async def test_non_finite_numbers_in_variables_are_refused(client, ready, number):
    body = json.dumps(start_body(ready)).replace('"Sajal"', number).encode()
    r = await client.post("/calls/start", content=body, headers={**ready.tenant.headers, **JSON})
    assert_error(r, 400, "INVALID_NUMBER")
    calls = (await client.get("/calls", headers=ready.tenant.headers)).json()["data"]
    assert calls["total"] == 0


async def test_nul_in_the_query_or_path_is_refused(client, tenant):
    assert_error(await client.get("/calls?status=pending%00", headers=tenant.headers), 400, "INVALID_CHARACTER")
    assert_error(await client.get("/agent/abc%00def", headers=tenant.headers), 400, "INVALID_CHARACTER")
    assert_error(
        await client.get("/telephony/connections?provider=%00", headers=tenant.headers), 400, "INVALID_CHARACTER"
    )


# Any JSON value with a NUL or a non-finite number planted somewhere inside it.
_leaf = st.one_of(st.text(max_size=8), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans())
_poison_text = st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=5), st.text(max_size=5))


def _plant(value, poison: str) -> object:
    """Put the poisoned text inside a JSON tree: as a value next to the filler, and as a key."""
    return {"v": value, "x": poison, f"k{poison}": 1}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    where=st.sampled_from(["agent_name", "prompt", "intro_message", "variables", "extraction_config"]),
    text=_poison_text,
    number=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-9.9e999"]),
    filler=st.recursive(_leaf, lambda inner: st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6),
    kind=st.sampled_from(["text", "number"]),
)
async def test_property_poisoned_bodies_always_get_a_400_never_a_500(client, tenant, where, text, number, filler, kind):
    body = _agent()
    if kind == "text":
        body[where] = text if where not in ("variables", "extraction_config") else _plant(filler, text)
        raw = json.dumps(body).encode()
        expected = "INVALID_CHARACTER"
    else:
        body[where] = "__POISON__"
        raw = json.dumps(body).replace('"__POISON__"', number).encode()
        expected = "INVALID_NUMBER"
    r = await client.post("/agent", content=raw, headers={**tenant.headers, **JSON})
    assert_error(r, 400, expected)


async def test_account_commands_refuse_nul_instead_of_failing_in_the_database(ctx):
    from voxline.accounts import partners

    for call in (
        partners.update_partner(ctx, "acme\x00", partners.Limits()),
        partners.create_key(ctx, "acme\x00"),
        partners.revoke_key(ctx, "rg_live_AbCd\x00efgh"),
        partners.create_partner(ctx, "acme\x00", partners.Limits()),
    ):
        with pytest.raises(partners.AccountError):
            await call
