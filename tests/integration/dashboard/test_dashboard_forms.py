"""The dashboard's forms: secrets are shown once and never again, and no input makes a page answer 500 (on
PostgreSQL too, where an over-long value or a malformed id would otherwise reach the database)."""

from __future__ import annotations

import pytest

from tests.conftest import TWILIO_CREDS, VOICE_ID, create_agent
from tests.integration.dashboard.conftest import csrf_of, post_form, signed_in
from voxline.core import keys


async def test_a_connections_secret_is_never_shown_and_a_webhook_secret_only_once(app, make_partner):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        r = await post_form(
            c,
            "/connections/new?provider=twilio",
            "/connections",
            {"provider": "twilio", "name": "main", **TWILIO_CREDS},
        )
        assert r.status_code == 303
        listing = await c.get("/connections")
        assert TWILIO_CREDS["from_number"] in listing.text and TWILIO_CREDS["auth_token"] not in listing.text
        assert TWILIO_CREDS["account_sid"] not in listing.text  # only its masked hint
        form = await c.get("/connections/new?provider=twilio")
        assert 'type="password"' in form.text  # the token field is a password input

        r = await post_form(c, "/webhooks", "/webhooks", {"label": "crm", "url": "http://127.0.0.1:9/hook"})
        assert r.status_code == 200 and "whsec_" in r.text
        secret = r.text.split('value="whsec_', 1)[1].split('"', 1)[0]
        assert "no-store" in r.headers["cache-control"]
        assert secret not in (await c.get("/webhooks")).text

        webhook_id = (await c.get("/webhooks")).text.split('data-webhook-id="', 1)[1].split('"', 1)[0]
        r = await post_form(c, "/webhooks", f"/webhooks/{webhook_id}/enabled", {"enabled": "false"})
        assert r.status_code == 303
        assert "<td data-enabled>disabled</td>" in (await c.get("/webhooks")).text


LONG = "x" * 5000


@pytest.mark.parametrize(
    ("page", "action", "data"),
    [
        ("/agents/new", "/agents", {"agent_name": LONG, "prompt": LONG, "voice_id": LONG}),
        (
            "/agents/new",
            "/agents",
            {"agent_name": "ok", "prompt": "p", "voice_id": VOICE_ID, "max_call_duration_secs": "9" * 20},
        ),
        ("/connections", "/connections", {"provider": "twilio", "name": LONG, **TWILIO_CREDS}),
        ("/connections", "/connections", {"provider": "twilio", "name": "n", "account_sid": LONG, "auth_token": LONG}),
        ("/connections", "/connections", {"provider": "nope"}),
        ("/connections", "/connections/not-an-id/delete", {}),
        ("/webhooks", "/webhooks", {"label": LONG, "url": "http://" + LONG}),
        ("/webhooks", "/webhooks/not-an-id/enabled", {"enabled": "true"}),
        ("/dnc", "/dnc", {"numbers": LONG, "reason": LONG}),
        ("/dnc", "/dnc/remove", {"phone": LONG}),
        ("/calls", "/calls/not-an-id/redeliver", {"endpoint_id": LONG, "delivery_id": LONG}),
    ],
)
async def test_no_form_input_makes_a_500(app, make_partner, page, action, data):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        r = await post_form(c, page, action, data)
        assert 300 <= r.status_code < 500, (r.status_code, r.text[:300])


async def test_no_call_form_or_agent_form_input_makes_a_500(app, client, make_partner):
    tenant = await make_partner(keys.TEST, concurrency=5)
    agent = await create_agent(client, tenant)
    await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=tenant.headers)
    page = f"/agents/{agent['id']}"
    async with signed_in(app, tenant.api_key) as c:
        token = csrf_of(await c.get(page))
        for data in (
            {"to_number": LONG, "provider": LONG},
            {"to_number": "+919876543210", "provider": "acme"},
            {"to_number": "+919876543210", "provider": "twilio", "var_callee_name": LONG},
        ):
            r = await c.post(page + "/call", data={"csrf": token, **data})
            assert 400 <= r.status_code < 500 and 'id="call-error"' in r.text, (data.keys(), r.status_code)
        r = await c.post(page, data={"csrf": token, "agent_name": "", "prompt": "", "voice_id": ""})
        assert r.status_code == 400
        for path in ("/calls/" + LONG, "/agents/" + LONG, "/campaigns/" + LONG, "/calls/x/status.json"):
            assert (await c.get(path)).status_code == 404, path


async def test_the_do_not_call_list_adds_and_removes_numbers(app, make_partner):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        r = await post_form(c, "/dnc", "/dnc", {"numbers": "+14155550101\n+919876543210", "reason": "asked"})
        assert r.status_code == 303
        page = await c.get("/dnc")
        assert "+14155550101" in page.text and "+919876543210" in page.text and "asked" in page.text
        bad = await post_form(c, "/dnc", "/dnc", {"numbers": "+14155550102\n12"})
        assert bad.status_code == 400 and "+14155550102" not in (await c.get("/dnc")).text
        assert (await post_form(c, "/dnc", "/dnc/remove", {"phone": "+14155550101"})).status_code == 303
        page = await c.get("/dnc")
        assert "+14155550101" not in page.text and "+919876543210" in page.text
        assert (await post_form(c, "/dnc", "/dnc/remove", {"phone": "+14155550101"})).status_code == 404


async def test_editing_an_agent_keeps_its_variables_following_its_texts(app, client, make_partner):
    tenant = await make_partner(keys.TEST)
    agent = await create_agent(client, tenant)
    page = f"/agents/{agent['id']}"
    async with signed_in(app, tenant.api_key) as c:
        form = {
            "agent_name": "Renamed",
            "voice_id": VOICE_ID,
            "prompt": "Call {{first_name}} about {{topic}}.",
            "intro_message": "Hi {{first_name}}",
            "max_call_duration_secs": "120",
        }
        r = await post_form(c, page, page, form)
        assert r.status_code == 303 and r.headers["location"] == page + "?saved=1"
        shown = await c.get(page)
        assert "Renamed" in shown.text and "<code>first_name</code> <code>topic</code>" in shown.text
    r = await client.get(f"/agent/{agent['id']}", headers=tenant.headers)
    data = r.json()["data"]
    assert data["variables"] == ["first_name", "topic"] and data["max_call_duration_secs"] == 120
    assert data["enable_recording"] is False  # an unticked box turns it off
