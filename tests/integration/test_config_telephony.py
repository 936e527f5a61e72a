"""Partner config (spec §5): GET /config, per-provider credentials, named connections, secrets at rest."""

import pytest
from sqlalchemy import text

from tests.conftest import TWILIO_CREDS, configure_twilio
from tests.integration.test_auth import assert_error
from voxline.telephony.registry import PROVIDERS

VALID = {
    "twilio": TWILIO_CREDS,
    "plivo": {"auth_id": "MAXXXXXXXXXXXXXXXXXX", "auth_token": "t" * 40, "from_number": "+14155551235"},
    "vobiz": {"auth_id": "MA_ABCDEFGH", "auth_token": "vobiz-secret-token", "from_number": "+919876500001"},
    "exotel": {
        "account_sid": "acme1",
        "api_key": "exo-key",
        "api_token": "exo-secret-token",
        "subdomain": "api.in.exotel.com",
        "caller_id": "+918047100000",
        "applet_id": "123456",
    },
    "mcube": {"jwt_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "exe_number": "08047100001"},
    "sip": {
        "sip_host": "sip.example.net:5060",
        "outbound_username": "u1",
        "outbound_password": "sip-pass",
        "source_ips": ["203.0.113.0/24"],
        "did_number": "+14155550199",
        "transport": "TLS",
    },
}
SECRETS = {
    "twilio": "auth_token",
    "plivo": "auth_token",
    "vobiz": "auth_token",
    "exotel": "api_token",
    "mcube": "jwt_token",
    "sip": "outbound_password",
}


async def test_config_shows_limits_providers_and_nothing_configured_at_first(client, make_partner):
    t = await make_partner(concurrency=3, agent_limit=7, providers=["twilio", "plivo"])
    data = (await client.get("/config", headers=t.headers)).json()["data"]
    assert data["name"] == t.name and data["agent_limit"] == 7 and data["concurrency_limit"] == 3
    assert data["current_agent_count"] == 0 and data["status"] == "active"
    assert data["allowed_telephony_providers"] == ["twilio", "plivo"]
    assert data["telephony"]["twilio"] == {
        "configured": False,
        "from_number": None,
        "credential_hint": None,
        "connection_count": 0,
    }
    assert data["webhook"] == {"configured": False, "url": None, "secret": None}
    assert data["allowed_voices"] and data["allowed_languages"] == ["en"]


@pytest.mark.parametrize("provider", PROVIDERS)  # every carrier the registry knows needs a VALID example
async def test_each_provider_stores_credentials_and_never_returns_the_secret(client, ctx, tenant, provider):
    creds = VALID[provider]
    r = await client.put(f"/config/telephony/{provider}", json=creds, headers=tenant.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["configured"] is True and data["from_number"] is not None
    secret = creds[SECRETS[provider]]
    assert secret not in r.text
    config = await client.get("/config", headers=tenant.headers)
    assert config.json()["data"]["telephony"][provider]["configured"] is True
    assert secret not in config.text
    listing = await client.get("/telephony/connections", headers=tenant.headers)
    assert secret not in listing.text
    async with ctx.db.transaction() as s:
        stored = (
            await s.execute(
                text("SELECT credentials_enc FROM telephony_connections WHERE id = :i"), {"i": data["connection_id"]}
            )
        ).scalar_one()
    assert secret not in stored and stored.startswith("v1:")


async def test_exotel_response_masks_the_account_and_echoes_routing_fields(client, tenant):
    data = (await client.put("/config/telephony/exotel", json=VALID["exotel"], headers=tenant.headers)).json()["data"]
    assert data["subdomain"] == "api.in.exotel.com" and data["caller_id"] == "+918047100000"
    assert data["applet_id"] == "123456" and "account_sid" not in data and "api_key" not in data


@pytest.mark.parametrize(
    ("provider", "patch", "code"),
    [
        ("twilio", {"account_sid": "XX123"}, "VALIDATION_ERROR"),
        ("twilio", {"from_number": "4155551234"}, "VALIDATION_ERROR"),
        ("plivo", {"auth_token": "short"}, "VALIDATION_ERROR"),
        ("exotel", {"subdomain": "evil.example.com"}, "VALIDATION_ERROR"),
        ("twilio", {"region": "us1"}, "UNKNOWN_FIELD"),
        ("twilio", {"auth_token": 1234}, "INVALID_TYPE"),
    ],
)
async def test_bad_credentials_are_refused_with_a_named_field(client, tenant, provider, patch, code):
    r = await client.put(f"/config/telephony/{provider}", json={**VALID[provider], **patch}, headers=tenant.headers)
    assert_error(r, 400, code)


async def test_missing_credential_field_is_named(client, tenant):
    body = {k: v for k, v in TWILIO_CREDS.items() if k != "auth_token"}
    err = assert_error(
        await client.put("/config/telephony/twilio", json=body, headers=tenant.headers), 400, "MISSING_FIELD"
    )
    assert err["error"]["details"][0]["field"] == "auth_token"


async def test_unknown_provider_is_refused(client, tenant):
    assert_error(await client.put("/config/telephony/acme", json={}, headers=tenant.headers), 400, "UNKNOWN_PROVIDER")


async def test_provider_outside_the_allowed_list_is_forbidden(client, make_partner):
    t = await make_partner(providers=["plivo"])
    assert_error(
        await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=t.headers), 403, "PROVIDER_NOT_ALLOWED"
    )


async def test_putting_credentials_again_replaces_the_default_connection(client, tenant):
    first = await configure_twilio(client, tenant)
    second = await configure_twilio(client, tenant, from_number="+14155559999")
    assert first["connection_id"] == second["connection_id"] and second["from_number"] == "+14155559999"
    conns = (await client.get("/telephony/connections?provider=twilio", headers=tenant.headers)).json()["data"]
    assert len(conns["connections"]) == 1


async def test_named_connections_crud(client, tenant):
    body = {"provider": "plivo", "name": "India line", **VALID["plivo"]}
    r = await client.post("/telephony/connections", json=body, headers=tenant.headers)
    conn = r.json()["data"]["connection"]
    assert conn["provider_key"] == "PLIVO" and conn["status"] == "ACTIVE" and conn["is_default"] is True
    assert conn["connection_id"] == conn["id"] and conn["phone_numbers"][0]["phone_number"] == "+14155551235"
    assert_error(
        await client.post("/telephony/connections", json=body, headers=tenant.headers), 409, "CONNECTION_NAME_TAKEN"
    )
    second = (
        await client.post(
            "/telephony/connections",
            json={**body, "name": "Backup", "is_default": True, "from_number": "+14155551236"},
            headers=tenant.headers,
        )
    ).json()["data"]["connection"]
    first = (await client.get(f"/telephony/connections/{conn['id']}", headers=tenant.headers)).json()["data"]
    assert second["is_default"] is True and first["connection"]["is_default"] is False
    r = await client.patch(
        f"/telephony/connections/{conn['id']}",
        json={"status": "INACTIVE", "name": "Old line", "from_number": "+14155551237"},
        headers=tenant.headers,
    )
    patched = r.json()["data"]["connection"]
    assert patched["status"] == "INACTIVE" and patched["name"] == "Old line"
    assert patched["from_number"] == "+14155551237"
    assert_error(
        await client.patch(f"/telephony/connections/{conn['id']}", json={"auth_token": "x"}, headers=tenant.headers),
        400,
        "VALIDATION_ERROR",
    )
    r = await client.delete(f"/telephony/connections/{conn['id']}", headers=tenant.headers)
    assert r.status_code == 200
    assert_error(
        await client.get(f"/telephony/connections/{conn['id']}", headers=tenant.headers), 404, "CONNECTION_NOT_FOUND"
    )


async def test_connection_needs_a_known_provider_and_a_name(client, tenant):
    assert_error(
        await client.post("/telephony/connections", json={"provider": "acme", "name": "x"}, headers=tenant.headers),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(
        await client.post(
            "/telephony/connections", json={"provider": "twilio", **TWILIO_CREDS}, headers=tenant.headers
        ),
        400,
        "MISSING_FIELD",
    )


async def test_account_level_voicemail_detection_flag(client, tenant):
    r = await client.put("/config/voicemail-detection", json={"enabled": True}, headers=tenant.headers)
    assert r.json()["data"] == {"voicemail_detection_enabled": True}
    assert (await client.get("/config", headers=tenant.headers)).json()["data"]["voicemail_detection_enabled"]
