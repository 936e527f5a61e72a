"""The operator view (/operator): its own sign-in with an admin token, walled off from partner sessions both
ways; it lists partners, creates partners and keys (shown once), changes limits and revokes keys."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.integration.dashboard.conftest import browser, csrf_of, post_form, signed_in
from voxline.accounts import admin_tokens, partners
from voxline.core import keys


@asynccontextmanager
async def operator_signed_in(app, ctx) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    issued = await admin_tokens.create(ctx, "tests")
    async with browser(app) as client:
        page = await client.get("/operator/signin")
        r = await client.post("/operator/signin", data={"csrf": csrf_of(page), "admin_token": issued.token})
        assert r.status_code == 303 and r.headers["location"] == "/operator", r.text
        yield client


async def test_operator_sign_in_needs_a_valid_admin_token(app, ctx, make_partner):
    tenant = await make_partner()
    async with browser(app) as c:
        assert (await c.get("/operator")).headers["location"] == "/operator/signin?next=/operator"
        for wrong in ("vx_admin_" + "a" * 32, tenant.api_key, ""):
            page = await c.get("/operator/signin")
            r = await c.post("/operator/signin", data={"csrf": csrf_of(page), "admin_token": wrong})
            assert r.status_code == 401 and "vx_operator" not in r.headers.get("set-cookie", "")
        assert (await c.post("/operator/signin", data={"admin_token": "x"})).status_code == 403


async def test_partner_and_operator_sessions_do_not_open_each_others_pages(app, ctx, make_partner):
    tenant = await make_partner(keys.TEST)
    async with signed_in(app, tenant.api_key) as partner:
        r = await partner.get("/operator")
        assert r.status_code == 303 and r.headers["location"].startswith("/operator/signin")
    async with operator_signed_in(app, ctx) as operator:
        r = await operator.get("/calls")
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")
        assert (await operator.get("/operator")).status_code == 200


async def test_the_operator_creates_a_partner_and_keys_changes_limits_and_revokes_a_key(app, ctx):
    async with operator_signed_in(app, ctx) as op:
        name = f"op-{uuid.uuid4().hex[:8]}"
        r = await post_form(op, "/operator", "/operator/partners", {"name": name, "concurrency": "3"})
        assert r.status_code == 200
        live_key = re.search(r'value="(rg_live_[^"]+)"', r.text).group(1)
        partner = await partners.get_partner(ctx, name)
        assert partner.concurrency_limit == 3
        page = await op.get(f"/operator/partners/{partner.id}")
        assert live_key not in page.text and live_key[:16] in page.text  # only the prefix, ever again
        r = await post_form(
            op, f"/operator/partners/{partner.id}", f"/operator/partners/{partner.id}/keys", {"mode": "test"}
        )
        test_key = re.search(r'value="(rg_test_[^"]+)"', r.text).group(1)
        async with signed_in(app, test_key) as c:
            assert "Test mode" in (await c.get("/calls")).text
        limits = {
            "providers_sent": "1",
            "providers": ["twilio", "plivo"],
            "concurrency": "7",
            "rate_limit_per_min": "90",
            "status": "active",
        }
        r = await post_form(op, f"/operator/partners/{partner.id}", f"/operator/partners/{partner.id}/limits", limits)
        assert r.status_code == 303
        partner = await partners.get_partner(ctx, name)
        assert partner.concurrency_limit == 7 and partner.rate_limit_per_min == 90
        assert partner.allowed_providers == ["twilio", "plivo"]
        bad = await post_form(
            op, f"/operator/partners/{partner.id}", f"/operator/partners/{partner.id}/limits", {"concurrency": "0"}
        )
        assert bad.status_code == 400 and "concurrency" in bad.text
        r = await post_form(
            op,
            f"/operator/partners/{partner.id}",
            f"/operator/partners/{partner.id}/keys/revoke",
            {"prefix": live_key[:16]},
        )
        assert r.status_code == 303
        async with browser(app) as c:
            page = await c.get("/signin")
            r = await c.post("/signin", data={"csrf": csrf_of(page), "api_key": live_key})
            assert r.status_code == 401
        # A key of another partner cannot be revoked from this partner's page.
        other = await partners.create_partner(ctx, f"op-{uuid.uuid4().hex[:8]}", partners.Limits())
        r = await post_form(
            op,
            f"/operator/partners/{partner.id}",
            f"/operator/partners/{partner.id}/keys/revoke",
            {"prefix": other.prefix},
        )
        assert r.status_code == 404
        assert (await op.get(f"/operator/partners/{uuid.uuid4()}")).status_code == 404
        assert (await op.post("/operator/partners", data={"name": "nope"})).status_code == 403
