"""Managing webhook endpoints: the rules of spec §6.1-6.3 as the API enforces them."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tests.integration.webhooks.conftest import add_endpoint
from voxline.core import keys
from voxline.store.webhook_tables import WebhookEndpoint

HTTPS = "https://hooks.example.com/voxline"


async def test_create_returns_the_secret_once_and_stores_it_encrypted(client, tenant, ctx):
    created = await add_endpoint(client, tenant, HTTPS, label="crm")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["enabled"] is True and created["label"] == "crm" and created["url"] == HTTPS
    assert created["last_delivery_at"] is None and created["last_delivery_status"] is None

    for path in (f"/config/webhooks/{created['id']}", "/config/webhooks", "/config"):
        r = await client.get(path, headers=tenant.headers)
        assert r.status_code == 200
        assert created["secret"] not in r.text and "whsec_" not in r.text

    async with ctx.db.transaction() as s:
        row = (await s.execute(select(WebhookEndpoint).where(WebhookEndpoint.id == created["id"]))).scalar_one()
    assert created["secret"] not in row.secret_enc and "whsec_" not in row.secret_enc


async def test_at_most_five_endpoints_per_partner(client, tenant):
    for i in range(5):
        await add_endpoint(client, tenant, HTTPS, label=f"ep{i}")
    r = await client.post("/config/webhooks", json={"label": "sixth", "url": HTTPS}, headers=tenant.headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "WEBHOOK_LIMIT_REACHED"
    r = await client.put("/config/webhook", json={"webhook_url": HTTPS}, headers=tenant.headers)
    assert r.json()["error"]["code"] == "WEBHOOK_LIMIT_REACHED"
    listed = (await client.get("/config/webhooks", headers=tenant.headers)).json()["data"]["webhooks"]
    assert len(listed) == 5
    r = await client.delete(f"/config/webhooks/{listed[0]['id']}", headers=tenant.headers)
    assert r.status_code == 200
    await add_endpoint(client, tenant, HTTPS, label="sixth")


@pytest.mark.parametrize("label", ["", "Upper", "-lead", "has space", "under_score", "a" * 32, "émoji"])
async def test_label_must_match_the_pattern(client, tenant, label):
    r = await client.post("/config/webhooks", json={"label": label, "url": HTTPS}, headers=tenant.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_WEBHOOK_LABEL", r.text


async def test_label_limits_accept_31_chars_and_digits_first(client, tenant):
    await add_endpoint(client, tenant, HTTPS, label="a" * 31)
    await add_endpoint(client, tenant, HTTPS, label="0-crm-eu")


async def test_label_default_is_reserved_for_the_legacy_route(client, tenant):
    r = await client.post("/config/webhooks", json={"label": "default", "url": HTTPS}, headers=tenant.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "RESERVED_WEBHOOK_LABEL"


async def test_labels_are_unique_per_partner_only(client, make_partner):
    a, b = await make_partner(), await make_partner()
    await add_endpoint(client, a, HTTPS, label="crm")
    r = await client.post("/config/webhooks", json={"label": "crm", "url": HTTPS}, headers=a.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "WEBHOOK_LABEL_TAKEN"
    await add_endpoint(client, b, HTTPS, label="crm")


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # not HTTPS
        "ftp://hooks.example.com/x",
        "https://",
        "not a url",
        "https://user:pass@hooks.example.com/x",
        "https://hooks.example.com:99999/x",
    ],
)
async def test_live_keys_need_a_valid_https_url(client, tenant, url):
    r = await client.post("/config/webhooks", json={"label": "x", "url": url}, headers=tenant.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_WEBHOOK_URL", r.text


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/hook",
        "https://172.16.3.4/hook",
        "https://192.168.1.1/hook",
        "https://127.0.0.1/hook",
        "https://127.8.9.10:8443/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://localhost/hook",  # a name that resolves to loopback
        "https://localhost./hook",
    ],
)
async def test_live_keys_cannot_target_private_loopback_or_metadata_addresses(client, tenant, url):
    r = await client.post("/config/webhooks", json={"label": "x", "url": url}, headers=tenant.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "UNSAFE_WEBHOOK_URL", r.text
    r = await client.put("/config/webhook", json={"webhook_url": url}, headers=tenant.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "UNSAFE_WEBHOOK_URL", r.text


async def test_live_keys_cannot_move_an_endpoint_onto_a_private_address(client, tenant):
    created = await add_endpoint(client, tenant, HTTPS)
    r = await client.patch(
        f"/config/webhooks/{created['id']}", json={"url": "https://10.1.2.3/x"}, headers=tenant.headers
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "UNSAFE_WEBHOOK_URL"
    got = (await client.get(f"/config/webhooks/{created['id']}", headers=tenant.headers)).json()["data"]
    assert got["url"] == HTTPS


async def test_sandbox_keys_may_use_http_on_loopback_only(client, make_partner):
    sandbox = await make_partner(mode=keys.TEST)
    await add_endpoint(client, sandbox, "http://127.0.0.1:9/hook")
    await add_endpoint(client, sandbox, "http://localhost:9/hook")
    r = await client.post(
        "/config/webhooks", json={"label": "x", "url": "http://93.184.215.14/hook"}, headers=sandbox.headers
    )
    assert r.json()["error"]["code"] == "INVALID_WEBHOOK_URL"
    r = await client.post(
        "/config/webhooks", json={"label": "x", "url": "https://169.254.169.254/"}, headers=sandbox.headers
    )
    assert r.json()["error"]["code"] == "UNSAFE_WEBHOOK_URL"


async def test_a_development_setting_allows_http_for_live_keys(client, tenant, ctx, monkeypatch):
    monkeypatch.setattr(ctx.settings, "webhook_allow_http", True)
    await add_endpoint(client, tenant, "http://hooks.example.com/x")


async def test_update_changes_url_and_enabled_and_needs_a_field(client, tenant):
    created = await add_endpoint(client, tenant, HTTPS)
    path = f"/config/webhooks/{created['id']}"
    r = await client.patch(path, json={"enabled": False}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["data"]["enabled"] is False
    r = await client.put(path, json={"url": "https://other.example.com/h", "enabled": True}, headers=tenant.headers)
    data = r.json()["data"]
    assert data["url"] == "https://other.example.com/h" and data["enabled"] is True
    assert "secret" not in data
    r = await client.patch(path, json={}, headers=tenant.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "EMPTY_UPDATE"
    r = await client.patch(path, json={"label": "renamed"}, headers=tenant.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "UNKNOWN_FIELD"
    r = await client.patch(path, json={"enabled": "yes"}, headers=tenant.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_TYPE"


async def test_rotate_secret_returns_a_new_secret(client, tenant):
    created = await add_endpoint(client, tenant, HTTPS, label="crm")
    r = await client.post(f"/config/webhooks/{created['id']}/rotate-secret", headers=tenant.headers)
    data = r.json()["data"]
    assert r.status_code == 200 and data["id"] == created["id"] and data["label"] == "crm"
    assert data["secret"].startswith("whsec_") and data["secret"] != created["secret"]


async def test_legacy_put_webhook_creates_then_replaces_the_default_endpoint(client, tenant):
    r = await client.put("/config/webhook", json={"webhook_url": HTTPS}, headers=tenant.headers)
    first = r.json()["data"]
    assert r.status_code == 200 and first["webhook_url"] == HTTPS and first["webhook_secret"].startswith("whsec_")
    r = await client.put("/config/webhook", json={"webhook_url": "https://b.example.com/h"}, headers=tenant.headers)
    second = r.json()["data"]
    assert second["webhook_secret"] != first["webhook_secret"]
    listed = (await client.get("/config/webhooks", headers=tenant.headers)).json()["data"]["webhooks"]
    assert [(w["label"], w["url"]) for w in listed] == [("default", "https://b.example.com/h")]
    config = (await client.get("/config", headers=tenant.headers)).json()["data"]
    assert config["webhook"] == {"configured": True, "url": "https://b.example.com/h", "secret": None}
    assert [w["label"] for w in config["webhooks"]] == ["default"]
    r = await client.put("/config/webhook", json={"url": HTTPS}, headers=tenant.headers)
    assert r.status_code == 400


async def test_config_shows_no_webhook_until_one_exists(client, tenant):
    config = (await client.get("/config", headers=tenant.headers)).json()["data"]
    assert config["webhook"] == {"configured": False, "url": None, "secret": None}
    assert config["webhooks"] == []
    created = await add_endpoint(client, tenant, HTTPS, label="crm")
    config = (await client.get("/config", headers=tenant.headers)).json()["data"]
    assert config["webhook"]["configured"] is False
    assert [(w["id"], w["enabled"]) for w in config["webhooks"]] == [(created["id"], True)]


async def test_another_partners_endpoint_is_not_found(client, make_partner):
    owner, other = await make_partner(), await make_partner()
    created = await add_endpoint(client, owner, HTTPS)
    base = f"/config/webhooks/{created['id']}"
    attempts = [
        client.get(base, headers=other.headers),
        client.patch(base, json={"enabled": False}, headers=other.headers),
        client.delete(base, headers=other.headers),
        client.post(f"{base}/rotate-secret", headers=other.headers),
        client.get(f"{base}/deliveries", headers=other.headers),
        client.post(f"{base}/deliveries/{uuid.uuid4()}/redeliver", headers=other.headers),
    ]
    for pending in attempts:
        r = await pending
        assert r.status_code == 404 and r.json()["error"]["code"] == "WEBHOOK_NOT_FOUND", r.text
    r = await client.get(base, headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["enabled"] is True


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "0" * 300])
async def test_malformed_ids_are_not_found(client, tenant, bad_id):
    r = await client.get(f"/config/webhooks/{bad_id}", headers=tenant.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "WEBHOOK_NOT_FOUND"


async def test_webhook_routes_need_a_key(client):
    r = await client.get("/config/webhooks")
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


async def test_creating_or_repointing_endpoints_is_rate_limited_per_partner(
    client, tenant, ctx, monkeypatch, rate_window
):
    """Each new URL is a new target to probe: at most N creations or URL changes per partner per minute."""
    monkeypatch.setattr(ctx.settings, "webhook_url_changes_per_min", 3)
    created = await add_endpoint(client, tenant, HTTPS, label="one")
    path = f"/config/webhooks/{created['id']}"
    for i in range(2):
        r = await client.patch(path, json={"url": f"{HTTPS}/{i}"}, headers=tenant.headers)
        assert r.status_code == 200, r.text
    r = await client.patch(path, json={"url": f"{HTTPS}/again"}, headers=tenant.headers)
    assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    r = await client.post("/config/webhooks", json={"label": "two", "url": HTTPS}, headers=tenant.headers)
    assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED"
    r = await client.put("/config/webhook", json={"webhook_url": HTTPS}, headers=tenant.headers)
    assert r.status_code == 429
    r = await client.patch(path, json={"enabled": False}, headers=tenant.headers)  # no new URL: not counted
    assert r.status_code == 200
