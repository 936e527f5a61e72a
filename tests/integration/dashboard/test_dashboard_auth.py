"""Dashboard sign-in, sessions and CSRF over plain HTTP: the cookie holds only a random token, every form
needs the session's CSRF token, signing out (or revoking the key) ends the session."""

from __future__ import annotations

from tests.conftest import VOICE_ID
from tests.integration.dashboard.conftest import browser, csrf_of, post_form, sign_in, signed_in
from voxline.accounts import partners
from voxline.core import keys

AGENT_FORM = {
    "agent_name": "Reminder",
    "voice_id": VOICE_ID,
    "prompt": "Remind {{callee_name}} of the visit.",
    "intro_message": "Hi {{callee_name}}",
    "enable_recording": "on",
}


async def test_sign_in_sets_an_httponly_lax_cookie_holding_a_random_token_not_the_key(app, make_partner):
    tenant = await make_partner(keys.TEST)
    async with browser(app) as c:
        r = await sign_in(c, tenant.api_key)
        assert r.status_code == 303 and r.headers["location"] == "/calls"
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("vx_session="))
        token = cookie.split(";")[0].split("=", 1)[1]
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert "secure" not in cookie.lower()  # plain http here; https requests get Secure
        assert tenant.api_key not in cookie and len(token) >= 40
        page = await c.get("/calls")
        assert page.status_code == 200 and "Test mode" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")


async def test_the_cookie_is_secure_when_the_request_is_https(app, make_partner):
    tenant = await make_partner(keys.TEST)
    transport = __import__("httpx").ASGITransport(app=app)
    async with __import__("httpx").AsyncClient(transport=transport, base_url="https://testserver") as c:
        r = await sign_in(c, tenant.api_key)
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("vx_session="))
        assert "secure" in cookie.lower()


async def test_a_bad_key_is_refused_with_a_page_and_no_session(app, make_partner):
    tenant = await make_partner()
    async with browser(app) as c:
        for key in ("rg_live_" + "x" * 32, "not-a-key", tenant.api_key[:-1] + "?"):
            r = await sign_in(c, key)
            assert r.status_code == 401 and "valid" in r.text and 'role="alert"' in r.text
            assert not any(h.startswith("vx_session=") for h in r.headers.get_list("set-cookie"))
        assert (await c.get("/calls")).status_code == 303


async def test_sign_in_without_the_forms_token_is_refused(app, make_partner):
    tenant = await make_partner()
    async with browser(app) as c:
        r = await c.post("/signin", data={"api_key": tenant.api_key})
        assert r.status_code == 403
        await c.get("/signin")  # the cookie half of the token is set, the form half is missing or wrong
        r = await c.post("/signin", data={"api_key": tenant.api_key, "csrf": "x" * 32})
        assert r.status_code == 403 and "vx_session" not in r.headers.get("set-cookie", "")


async def test_pages_need_a_session(app):
    async with browser(app) as c:
        r = await c.get("/agents")
        assert r.status_code == 303 and r.headers["location"] == "/signin?next=/agents"
        assert (await c.get("/calls.json")).status_code == 401
        r = await c.post("/agents", data=AGENT_FORM)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")
        c.cookies.set("vx_session", "made-up-token")
        assert (await c.get("/calls")).status_code == 303


async def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(app, make_partner):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        assert (await c.post("/agents", data=AGENT_FORM)).status_code == 403
        r = await c.post("/agents", data={**AGENT_FORM, "csrf": "wrong-token"})
        assert r.status_code == 403 and "Form refused" in r.text
        assert "Reminder" not in (await c.get("/agents")).text
        r = await post_form(c, "/agents/new", "/agents", AGENT_FORM)
        assert r.status_code == 303 and r.headers["location"].startswith("/agents/")
        assert "Reminder" in (await c.get("/agents")).text


async def test_one_sessions_csrf_token_does_not_work_for_another_session(app, make_partner):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as first, signed_in(app, tenant.api_key) as second:
        token = csrf_of(await first.get("/agents/new"))
        assert (await second.post("/agents", data={**AGENT_FORM, "csrf": token})).status_code == 403


async def test_sign_out_deletes_the_session(app, make_partner):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        token = c.cookies["vx_session"]
        r = await post_form(c, "/calls", "/signout", {})
        assert r.status_code == 303 and r.headers["location"] == "/signin"
    async with browser(app) as replay:
        replay.cookies.set("vx_session", token)  # the old cookie, replayed: the row is gone
        assert (await replay.get("/calls")).status_code == 303


async def test_revoking_the_key_ends_its_dashboard_sessions(app, ctx, make_partner):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        assert (await c.get("/agents")).status_code == 200
        await partners.revoke_key(ctx, tenant.api_key[:16])
        assert (await c.get("/agents")).status_code == 303


async def test_agent_form_errors_come_back_as_a_page_with_the_values_kept(app, make_partner):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        r = await post_form(c, "/agents/new", "/agents", {**AGENT_FORM, "agent_name": "x" * 51})
        assert r.status_code == 400 and "agent name" in r.text and "Remind {{callee_name}}" in r.text
        r = await post_form(c, "/agents/new", "/agents", {**AGENT_FORM, "voice_id": "nope"})
        assert r.status_code == 400 and "INVALID" not in r.text and 'role="alert"' in r.text


async def test_a_nul_character_or_an_oversized_form_is_a_400_page_never_a_500(app, make_partner):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        r = await post_form(c, "/agents/new", "/agents", {**AGENT_FORM, "prompt": "a\x00b"})
        assert r.status_code == 400
        token = csrf_of(await c.get("/agents/new"))
        r = await c.post("/agents", data={**AGENT_FORM, "csrf": token, "prompt": "p" * (2 * 1024 * 1024)})
        assert r.status_code == 400


async def test_the_talk_button_starts_a_browser_session_and_opens_its_join_page(app, make_partner):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        r = await post_form(c, "/agents/new", "/agents", AGENT_FORM)
        agent_page = r.headers["location"]
        page = await c.get(agent_page)
        assert 'action="' + agent_page + '/talk"' in page.text
        r = await c.post(agent_page + "/talk", data={"csrf": csrf_of(page)})
        assert r.status_code == 303
        join_url, _, fragment = r.headers["location"].partition("#")
        assert "/talk/" in join_url and fragment.startswith("token=") and len(fragment) > 30
        session_id = join_url.rsplit("/", 1)[1]
        # The session belongs to the signed-in key's partner and mode, as one started over the API would.
        api = await c.get(f"/api/v2/sessions/{session_id}", headers={"Authorization": f"Bearer {tenant.api_key}"})
        assert api.status_code == 200 and api.json()["data"]["agent_id"] == agent_page.rsplit("/", 1)[1]
        assert (await c.post(agent_page + "/talk", data={})).status_code == 403


async def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(app, make_partner):
    tenant = await make_partner(keys.TEST)
    async with browser(app) as c:
        page = await c.get("/signin?next=/agents")
        assert 'name="next" value="/agents"' in page.text
        r = await c.post("/signin", data={"csrf": csrf_of(page), "api_key": tenant.api_key, "next": "/agents"})
        assert r.headers["location"] == "/agents"
    for elsewhere in ("//evil.example/x", "/\\evil.example/x", "https://evil.example/", "/\t/evil.example"):
        async with browser(app) as c:
            page = await c.get("/signin")
            r = await c.post("/signin", data={"csrf": csrf_of(page), "api_key": tenant.api_key, "next": elsewhere})
            assert r.headers["location"] == "/calls", elsewhere


async def test_a_refused_call_comes_back_to_the_agent_page_saying_why(app, client, make_partner):
    from tests.conftest import TWILIO_CREDS, create_agent

    tenant = await make_partner(keys.TEST, concurrency=5)
    agent = await create_agent(client, tenant)
    assert (await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=tenant.headers)).status_code == 200
    assert (await client.post("/dnc", json={"numbers": ["+919876543210"]}, headers=tenant.headers)).status_code == 200
    async with signed_in(app, tenant.api_key) as c:
        page = f"/agents/{agent['id']}"
        for number, words in (("12345", "e.164"), ("+919876543210", "do-not-call")):
            r = await post_form(
                c, page, page + "/call", {"to_number": number, "provider": "twilio", "var_callee_name": "Ravi"}
            )
            assert r.status_code in (400, 403, 409, 422) and 'id="call-error"' in r.text, r.text[:300]
            assert words in r.text.lower() and 'value="Ravi"' in r.text
        assert (await c.get("/calls.json")).json()["total"] == 0


async def test_an_expired_session_signs_nobody_in_and_only_its_hash_is_stored(app, ctx, make_partner):
    import hashlib
    from datetime import timedelta

    from sqlalchemy import select, update

    from voxline.core.timefmt import utcnow
    from voxline.store.dashboard_tables import DashboardSession

    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as c:
        token = c.cookies["vx_session"]
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        async with ctx.db.transaction() as s:
            row = (
                await s.execute(select(DashboardSession).where(DashboardSession.token_hash == token_hash))
            ).scalar_one()
            assert row.partner_id == tenant.partner_id and row.mode == keys.TEST and row.kind == "partner"
            assert token not in (row.token_hash, row.csrf_secret, row.id)
            assert timedelta(hours=11) < row.expires_at - utcnow() <= timedelta(hours=12)
            await s.execute(
                update(DashboardSession)
                .where(DashboardSession.id == row.id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert (await c.get("/calls")).status_code == 303
    from voxline import housekeeping

    await housekeeping.sweep_once(ctx)  # and the periodic sweep deletes the expired row
    async with ctx.db.transaction() as s:
        gone = (await s.execute(select(DashboardSession).where(DashboardSession.token_hash == token_hash))).first()
    assert gone is None


async def test_operator_sign_out_ends_the_operator_session(app, ctx):
    from voxline.accounts import admin_tokens

    issued = await admin_tokens.create(ctx, "tests")
    async with browser(app) as c:
        page = await c.get("/operator/signin")
        await c.post("/operator/signin", data={"csrf": csrf_of(page), "admin_token": issued.token})
        token = c.cookies["vx_operator"]
        r = await post_form(c, "/operator", "/operator/signout", {})
        assert r.status_code == 303 and r.headers["location"] == "/operator/signin"
    async with browser(app) as replay:
        replay.cookies.set("vx_operator", token)
        assert (await replay.get("/operator")).status_code == 303
