"""Authorization: Bearer keys only; unknown, revoked and suspended keys are 401 in the envelope."""

from tests.helpers import assert_error
from voxline.accounts import partners
from voxline.core import keys


async def test_missing_key_is_unauthorized(client):
    assert_error(await client.get("/config"), 401, "UNAUTHORIZED")


async def test_malformed_authorization_headers_are_unauthorized(client, tenant):
    for header in ("Basic abc", f"Token {tenant.api_key}", "Bearer", "Bearer rg_live_tooshort", tenant.api_key):
        assert_error(await client.get("/config", headers={"Authorization": header}), 401, "UNAUTHORIZED")


async def test_unknown_key_is_unauthorized(client):
    fake = keys.generate(keys.LIVE).plaintext
    assert_error(await client.get("/config", headers={"Authorization": f"Bearer {fake}"}), 401, "UNAUTHORIZED")


async def test_key_in_query_string_is_not_accepted(client, tenant):
    assert_error(await client.get(f"/config?api_key={tenant.api_key}"), 401, "UNAUTHORIZED")


async def test_revoked_key_is_unauthorized_and_other_keys_keep_working(client, ctx, tenant):
    second = await partners.create_key(ctx, tenant.partner_id)
    assert (await client.get("/config", headers=tenant.headers)).status_code == 200
    revoked = await partners.revoke_key(ctx, tenant.api_key[:16])
    assert revoked.revoked_at is not None
    assert_error(await client.get("/config", headers=tenant.headers), 401, "UNAUTHORIZED")
    r = await client.get("/config", headers={"Authorization": f"Bearer {second.api_key}"})
    assert r.status_code == 200


async def test_suspended_partner_keys_are_unauthorized(client, ctx, tenant):
    await partners.update_partner(ctx, tenant.partner_id, partners.Limits(status="suspended"))
    assert_error(await client.get("/config", headers=tenant.headers), 401, "UNAUTHORIZED")


async def test_keys_are_stored_as_hashes_only(ctx, tenant):
    from sqlalchemy import text

    async with ctx.db.transaction() as s:
        rows = (await s.execute(text("SELECT prefix, key_hash FROM api_keys"))).all()
    stored = " ".join(f"{p} {h}" for p, h in rows)
    assert tenant.api_key not in stored
    assert tenant.api_key[:16] in stored  # the short clear prefix that names the key


async def test_a_key_sharing_a_real_prefix_but_not_its_secret_is_unauthorized(client, tenant):
    forged = tenant.api_key[:16] + ("A" if tenant.api_key[16] != "A" else "B") + tenant.api_key[17:]
    assert_error(await client.get("/config", headers={"Authorization": f"Bearer {forged}"}), 401, "UNAUTHORIZED")
