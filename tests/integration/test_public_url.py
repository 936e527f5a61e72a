"""A live call fails at once when carriers could not reach this server's public URL (a loopback default),
and writes nothing; sandbox calls, which dial this server's own emulators, work on any URL."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import TWILIO_CREDS, VOICE_ID
from voxline.accounts import partners
from voxline.app import create_app
from voxline.context import Context
from voxline.core import keys


async def _start(client: httpx.AsyncClient, key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    agent = await client.post(
        "/agent",
        headers=headers,
        json={"agent_name": f"a-{uuid.uuid4().hex[:8]}", "prompt": "Hi {{name}}", "voice_id": VOICE_ID},
    )
    assert agent.status_code == 200, agent.text
    assert (await client.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=headers)).status_code == 200
    body = {
        "agent_id": agent.json()["data"]["id"],
        "to_number": "+919876543210",
        "provider": "twilio",
        "variables": {"name": "Asha"},
    }
    return await client.post("/calls/start", json=body, headers=headers)


async def test_live_calls_need_a_reachable_public_url(database) -> None:  # noqa: ANN001
    ctx = Context.build(database.settings(public_base_url="http://127.0.0.1:8000"))
    app = create_app(ctx=ctx)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver/api/v2") as client:
                live = await partners.create_partner(ctx, f"p-{uuid.uuid4().hex[:8]}", partners.Limits())
                r = await _start(client, live.api_key)
                assert r.status_code == 503, r.text
                error = r.json()["error"]
                assert error["code"] == "PUBLIC_URL_UNREACHABLE"
                assert "VOXLINE_PUBLIC_BASE_URL" in error["message"] and "127.0.0.1:8000" in error["message"]
                listed = await client.get("/calls", headers={"Authorization": f"Bearer {live.api_key}"})
                assert listed.json()["data"]["calls"] == [], "a refused start writes nothing"

                test = await partners.create_key(ctx, live.partner_id, keys.TEST)
                r = await _start(client, test.api_key)
                assert r.status_code == 200, r.text
    finally:
        await ctx.close()
