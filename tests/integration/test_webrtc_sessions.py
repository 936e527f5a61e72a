"""POST /sessions/webrtc and its signaling endpoint over HTTP: the join token, tenancy, modes and limits.

The SDP offers come from a real WebRTC peer (aiortc, as a browser would make them). The conversation
itself, in a real browser, is tests/browser/test_browser_call.py.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from aiortc import RTCPeerConnection

from tests.conftest import create_agent, start_body
from tests.helpers import assert_error
from voxline.accounts import partners
from voxline.core import keys
from voxline.core.timefmt import utcnow


@contextlib.asynccontextmanager
async def browser_offer():
    """A real SDP offer with one audio transceiver, from a peer kept open while the test uses it."""
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        yield pc.localDescription.sdp
    finally:
        await pc.close()


async def start_session(client, tenant, agent_id, **body):
    return await client.post("/sessions/webrtc", json={"agent_id": agent_id, **body}, headers=tenant.headers)


async def offer(client, session_id, token, sdp):
    return await client.post(f"/sessions/{session_id}/webrtc/offer", json={"token": token, "sdp": sdp, "type": "offer"})


async def test_start_answers_with_vocobase_fields_filled_with_our_join_page_and_token(client, ctx, tenant):
    agent = await create_agent(client, tenant, variables=["callee_name"])
    r = await start_session(client, tenant, agent["id"], variables={"callee_name": "Sajal"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["agent_id"] == agent["id"]
    assert data["daily_room_url"] == f"{ctx.settings.public_base_url}/talk/{data['session_id']}"
    assert len(data["daily_token"]) >= 40 and data["expires_at"].endswith("Z")
    # A session with no call, readable like any other, and its greeting already filled in.
    r = await client.get(f"/sessions/{data['session_id']}", headers=tenant.headers)
    session = r.json()["data"]
    assert session["call_id"] is None and session["status"] == "pending"
    assert session["variables"] == {"callee_name": "Sajal"}


async def test_the_join_token_is_stored_only_as_its_hash(client, ctx, tenant):
    from sqlalchemy import text

    agent = await create_agent(client, tenant)
    data = (await start_session(client, tenant, agent["id"])).json()["data"]
    async with ctx.db.transaction() as s:
        row = (
            await s.execute(
                text("SELECT token_hash FROM webrtc_joins WHERE session_id = :s"), {"s": data["session_id"]}
            )
        ).one()
    assert data["daily_token"] not in row[0] and len(row[0]) == 64


async def test_start_errors_have_specific_codes(client, tenant):
    agent = await create_agent(client, tenant, variables=["callee_name"])
    assert_error(await start_session(client, tenant, "3f0b9a52-8d1e-4c7a-9a43-0f6c2d1e5b7a"), 404, "AGENT_NOT_FOUND")
    r = await start_session(client, tenant, agent["id"], variables={"not_declared": "x"})
    assert_error(r, 400, "UNDECLARED_VARIABLE")
    assert_error(await start_session(client, tenant, "not-a-uuid"), 400, "VALIDATION_ERROR")
    r = await client.post("/sessions/webrtc", json={"agent_id": agent["id"]})
    assert_error(r, 401, "UNAUTHORIZED")


async def test_the_join_token_admits_one_offer_only(client, tenant):
    agent = await create_agent(client, tenant)
    data = (await start_session(client, tenant, agent["id"])).json()["data"]
    sid, token = data["session_id"], data["daily_token"]
    async with browser_offer() as sdp:
        r = await offer(client, sid, token, sdp)
        assert r.status_code == 200, r.text
        answer = r.json()["data"]
        assert answer["type"] == "answer" and "m=audio" in answer["sdp"] and "a=candidate" in answer["sdp"]
        assert_error(await offer(client, sid, token, sdp), 409, "JOIN_TOKEN_USED")
    # Joined: the session is in progress.
    r = await client.get(f"/sessions/{sid}", headers=tenant.headers)
    assert r.json()["data"]["status"] == "in_progress"


async def test_a_wrong_token_or_a_malformed_offer_spends_nothing(client, tenant):
    agent = await create_agent(client, tenant)
    data = (await start_session(client, tenant, agent["id"])).json()["data"]
    sid, token = data["session_id"], data["daily_token"]
    async with browser_offer() as sdp:
        assert_error(await offer(client, sid, "x" * 43, sdp), 401, "JOIN_TOKEN_INVALID")
        assert_error(await offer(client, sid, token, "v=0\r\nnot an offer"), 400, "INVALID_SDP_OFFER")
        r = await client.post(f"/sessions/{sid}/webrtc/offer", json={"token": token, "sdp": sdp, "type": "answer"})
        assert_error(r, 400, "INVALID_SDP_OFFER")
        assert_error(await offer(client, "not-a-session", token, sdp), 401, "JOIN_TOKEN_INVALID")
        assert (await offer(client, sid, token, sdp)).status_code == 200  # the right one still works


async def test_an_expired_token_is_refused(client, ctx, tenant):
    agent = await create_agent(client, tenant)
    data = (await start_session(client, tenant, agent["id"])).json()["data"]
    real_clock = ctx.clock
    ctx.clock = lambda: utcnow() + timedelta(minutes=6)  # past the token's few minutes
    try:
        async with browser_offer() as sdp:
            assert_error(await offer(client, data["session_id"], data["daily_token"], sdp), 410, "JOIN_TOKEN_EXPIRED")
    finally:
        ctx.clock = real_clock


async def test_another_partner_can_neither_read_nor_join_a_session(client, make_partner):
    a, b = await make_partner(concurrency=5), await make_partner(concurrency=5)
    agent_a, agent_b = await create_agent(client, a), await create_agent(client, b)
    assert_error(await start_session(client, b, agent_a["id"]), 404, "AGENT_NOT_FOUND")
    session_a = (await start_session(client, a, agent_a["id"])).json()["data"]
    session_b = (await start_session(client, b, agent_b["id"])).json()["data"]
    assert_error(await client.get(f"/sessions/{session_a['session_id']}", headers=b.headers), 404, "NOT_FOUND")
    async with browser_offer() as sdp:
        # B's own token does not open A's session.
        r = await offer(client, session_a["session_id"], session_b["daily_token"], sdp)
        assert_error(r, 401, "JOIN_TOKEN_INVALID")


async def test_test_and_live_sessions_are_separate_worlds(client, ctx, make_partner):
    live = await make_partner(concurrency=1, sandbox_concurrency=1)
    test_key = (await partners.create_key(ctx, live.partner_id, keys.TEST)).api_key
    test_headers = {"Authorization": f"Bearer {test_key}"}
    agent = await create_agent(client, live)  # agents are shared by both modes
    r = await client.post("/sessions/webrtc", json={"agent_id": agent["id"]}, headers=test_headers)
    assert r.status_code == 200, r.text
    test_session = r.json()["data"]["session_id"]
    # The live key neither sees the test session nor has its line taken by it.
    assert_error(await client.get(f"/sessions/{test_session}", headers=live.headers), 404, "NOT_FOUND")
    assert (await client.get(f"/sessions/{test_session}", headers=test_headers)).status_code == 200
    assert (await start_session(client, live, agent["id"])).status_code == 200
    r = await client.post("/sessions/webrtc", json={"agent_id": agent["id"]}, headers=test_headers)
    assert_error(r, 429, "CONCURRENCY_LIMIT")


async def test_browser_sessions_count_against_the_concurrency_limit_with_calls(client, ready, ctx):
    await partners.update_partner(ctx, ready.tenant.partner_id, partners.Limits(concurrency=2))
    t, agent_id = ready.tenant, ready.agent["id"]
    assert (await start_session(client, t, agent_id, variables={"callee_name": "A"})).status_code == 200
    assert (await client.post("/calls/start", json=start_body(ready), headers=t.headers)).status_code == 200
    r = await client.get("/calls/concurrency", headers=t.headers)
    assert r.json()["data"]["active"] == 2 and r.json()["data"]["remaining"] == 0
    r = await start_session(client, t, agent_id)
    body = assert_error(r, 429, "CONCURRENCY_LIMIT")
    assert "browser sessions" in body["error"]["message"] and r.headers["retry-after"] == "5"
    # and a call is refused while a browser session holds the line
    assert_error(await client.post("/calls/start", json=start_body(ready), headers=t.headers), 429, "CONCURRENCY_LIMIT")


async def test_an_unjoined_session_frees_its_line_when_its_token_expires(client, ctx, make_partner):
    t = await make_partner(concurrency=1)
    agent = await create_agent(client, t)
    assert (await start_session(client, t, agent["id"])).status_code == 200
    assert_error(await start_session(client, t, agent["id"]), 429, "CONCURRENCY_LIMIT")
    real_clock = ctx.clock
    ctx.clock = lambda: utcnow() + timedelta(minutes=6)
    try:
        assert (await start_session(client, t, agent["id"])).status_code == 200
    finally:
        ctx.clock = real_clock


@pytest.mark.usefixtures("rate_window")
async def test_starts_are_limited_to_ten_a_minute_per_key_in_their_own_bucket(client, ready, ctx):
    await partners.update_partner(ctx, ready.tenant.partner_id, partners.Limits(calls_rate_limit_per_min=10))
    t, agent_id = ready.tenant, ready.agent["id"]
    for i in range(10):
        r = await start_session(client, t, agent_id)
        assert r.status_code == 200, r.text
        assert r.headers["x-ratelimit-remaining"] == str(9 - i)
    r = await start_session(client, t, agent_id)
    assert_error(r, 429, "RATE_LIMITED")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # Browser starts do not use up the calls bucket.
    assert (await client.post("/calls/start", json=start_body(ready), headers=t.headers)).status_code == 200


async def test_the_join_page_is_served_from_the_package_without_the_token(client):
    base = str(client.base_url).rstrip("/").removesuffix("/api/v2")
    sid = "3f0b9a52-8d1e-4c7a-9a43-0f6c2d1e5b7a"
    r = await client.get(f"{base}/talk/{sid}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert f'data-session-id="{sid}"' in r.text and 'role="status"' in r.text
    assert 'data-ice-servers="[]"' in r.text  # no STUN servers configured: host addresses only
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    assert 'src="/talk-static/talk.js"' in r.text and "http" not in r.text.split("<body", 1)[1].split("</main>")[0]
    js = await client.get(f"{base}/talk-static/talk.js")
    assert js.status_code == 200 and "RTCPeerConnection" in js.text and "location.hash" in js.text
    assert (await client.get(f"{base}/talk-static/../app.py")).status_code == 404
    assert (await client.get(f"{base}/talk/not-a-session")).status_code == 404


async def test_a_session_nobody_joined_ends_canceled_once_its_token_expires(client, ctx, make_partner):
    from voxline import housekeeping

    t = await make_partner(concurrency=1)
    agent = await create_agent(client, t)
    sid = (await start_session(client, t, agent["id"])).json()["data"]["session_id"]
    await housekeeping.sweep_once(ctx)  # not expired yet: untouched
    assert (await client.get(f"/sessions/{sid}", headers=t.headers)).json()["data"]["status"] == "pending"
    real_clock = ctx.clock
    ctx.clock = lambda: utcnow() + timedelta(minutes=6)
    try:
        await housekeeping.sweep_once(ctx)
    finally:
        ctx.clock = real_clock
    session = (await client.get(f"/sessions/{sid}", headers=t.headers)).json()["data"]
    assert session["status"] == "canceled" and session["processing_complete"] is True
    assert (await client.get("/calls/concurrency", headers=t.headers)).json()["data"]["active"] == 0


async def test_a_server_shutting_down_before_the_browser_connects_still_ends_the_session(database, make_partner):
    """The join spent the token and the peer is still connecting when the server stops: the session is not
    left in progress forever (it ends failed, with its session.completed) and its line is released."""
    import httpx

    from voxline.app import create_app
    from voxline.context import Context

    t = await make_partner(concurrency=1)
    ctx = Context.build(database.settings())
    app = create_app(ctx=ctx)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver/api/v2") as c:
                agent = await create_agent(c, t)
                data = (await start_session(c, t, agent["id"])).json()["data"]
                async with browser_offer() as sdp:  # never completes its side: it stays connecting
                    assert (await offer(c, data["session_id"], data["daily_token"], sdp)).status_code == 200
                assert len(app.state.browser_peers) == 1
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver/api/v2") as c:
            session = (await c.get(f"/sessions/{data['session_id']}", headers=t.headers)).json()["data"]
            assert session["status"] == "failed" and session["processing_complete"] is True
            assert (await c.get("/calls/concurrency", headers=t.headers)).json()["data"]["active"] == 0
    finally:
        await ctx.close()


def test_only_stun_urls_are_accepted_as_ice_servers(tmp_path):
    """They are written into the join page: nothing but stun: URLs, no spaces or quotes, may get there."""
    from pydantic import ValidationError

    from voxline.settings import Settings

    urls = "stun:stun.example.net:3478,stuns:stun.example.org"
    assert Settings(data_dir=tmp_path, webrtc_ice_servers=urls).webrtc_ice_servers == urls
    for bad in ('stun:x" onload="alert(1)', "turn:user:pass@relay.example.net", "http://example.net", "stun:a,,stun:b"):
        with pytest.raises(ValidationError):
            Settings(data_dir=tmp_path, webrtc_ice_servers=bad)
