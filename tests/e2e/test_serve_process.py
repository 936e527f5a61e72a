"""A real `voxline serve` process, driven by the real CLI and real HTTP, as the README walks it."""

import uuid

import httpx

from tests.conftest import TWILIO_CREDS, VOICE_ID, room_in_rate_window
from tests.e2e.server import cli, cli_json, free_port, process_env, serving


def test_readme_walkthrough_through_a_real_server_and_cli(database):
    env = process_env(database)
    name = f"acme-{uuid.uuid4().hex[:8]}"
    created = cli_json(env, "partner", "create", name, "--providers", "twilio,plivo", "--concurrency", "2")
    key = created["api_key"]
    assert key.startswith("rg_live_")
    headers = {"Authorization": f"Bearer {key}"}
    with serving(env) as base:
        api = f"{base}/api/v2"
        agent = httpx.post(
            f"{api}/agent",
            headers=headers,
            json={
                "agent_name": "Reminder",
                "prompt": "Remind {{callee_name}} of the appointment.",
                "voice_id": VOICE_ID,
                "intro_message": "Hi {{callee_name}}",
            },
        ).json()["data"]
        assert httpx.put(f"{api}/config/telephony/twilio", headers=headers, json=TWILIO_CREDS).status_code == 200
        started = httpx.post(
            f"{api}/calls/start",
            headers=headers,
            json={
                "agent_id": agent["id"],
                "to_number": "+919876543210",
                "provider": "twilio",
                "variables": {"callee_name": "Sajal"},
            },
        )
        assert started.status_code == 200, started.text
        call_id = started.json()["data"]["call_id"]
        call = httpx.get(f"{api}/calls/{call_id}", headers=headers).json()["data"]
        assert call["status"] == "pending" and call["session"]["variables"] == {"callee_name": "Sajal"}
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "Voxline API"
        assert httpx.get(f"{base}/docs").status_code == 200

        revoked = cli(env, "key", "revoke", key[:16])
        assert revoked.returncode == 0, revoked.stderr
        r = httpx.get(f"{api}/config", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


def test_cli_rejects_bad_input_with_a_message_and_exit_code(database):
    env = process_env(database)
    bad = cli(env, "partner", "create", "Bad Name!")
    assert bad.returncode == 2 and "partner name" in bad.stderr
    unknown = cli(env, "partner", "create", f"x-{uuid.uuid4().hex[:6]}", "--providers", "twilio,acme")
    assert unknown.returncode == 2 and "acme" in unknown.stderr
    missing = cli(env, "key", "create", "no-such-partner")
    assert missing.returncode == 2 and "no partner" in missing.stderr
    short = cli(env, "key", "revoke", "rg_live_")
    assert short.returncode == 2


def test_test_keys_and_partner_update_from_the_cli(database):
    env = process_env(database)
    name = f"sbx-{uuid.uuid4().hex[:8]}"
    created = cli_json(env, "partner", "create", name, "--test")
    assert created["api_key"].startswith("rg_test_") and created["mode"] == "test"
    second = cli_json(env, "key", "create", name, "--test")
    assert second["api_key"].startswith("rg_test_") and second["partner_id"] == created["partner_id"]
    updated = cli_json(
        env, "partner", "update", name, "--rate-limit", "7", "--calls-rate-limit", "3", "--voicemail-detection"
    )
    assert updated["rate_limit_per_min"] == 7 and updated["calls_rate_limit_per_min"] == 3
    assert updated["voicemail_detection_enabled"] is True
    assert updated["allowed_countries"] == "all" and "PREMIUM_RATE" in updated["blocked_number_types"]
    policy = cli_json(
        env, "partner", "update", name, "--allowed-countries", "in,US", "--allow-number-types", "PREMIUM_RATE"
    )
    assert policy["allowed_countries"] == ["IN", "US"] and "PREMIUM_RATE" not in policy["blocked_number_types"]
    assert "SATELLITE" in policy["blocked_number_types"]
    bad = cli(env, "partner", "update", name, "--allowed-countries", "IN,XX")
    assert bad.returncode == 2 and "XX" in bad.stderr


def test_two_server_processes_share_rate_limits(database):
    """The limit is the partner's, not one process's: two servers on one database count together."""
    env = process_env(database)
    key = cli_json(env, "partner", "create", f"rl-{uuid.uuid4().hex[:8]}", "--rate-limit", "6")["api_key"]
    headers = {"Authorization": f"Bearer {key}"}
    with serving(env, free_port()) as a, serving(env, free_port()) as b:
        room_in_rate_window()
        codes = [httpx.get(f"{(a, b)[i % 2]}/api/v2/config", headers=headers).status_code for i in range(10)]
    assert codes.count(200) == 6 and codes.count(429) == 4, codes
