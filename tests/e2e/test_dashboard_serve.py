"""`voxline serve` serves the dashboard at / next to the API: the sign-in page, its stylesheet and script
from the package, and the operator view behind a token made with `voxline admin create-token`."""

import re
import uuid

import httpx

from tests.e2e.server import cli_json, process_env, serving

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def test_serve_has_the_dashboard_at_the_root_and_the_api_where_it_was(database):
    env = process_env(database)
    key = cli_json(env, "partner", "create", f"web-{uuid.uuid4().hex[:8]}", "--test")["api_key"]
    token = cli_json(env, "admin", "create-token", "--label", "ops")["admin_token"]
    assert token.startswith("vx_admin_")
    with serving(env) as base:
        r = httpx.get(f"{base}/")
        assert r.status_code == 303 and r.headers["location"] == "/calls"
        r = httpx.get(f"{base}/calls")
        assert r.status_code == 303 and r.headers["location"] == "/signin?next=/calls"
        for path, kind in (("/static/dashboard.css", "text/css"), ("/static/dashboard.js", "javascript")):
            r = httpx.get(base + path)
            assert r.status_code == 200 and kind in r.headers["content-type"], path
        assert httpx.get(f"{base}/docs").status_code == 200
        assert httpx.get(f"{base}/api/v2/config", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert httpx.get(f"{base}/api/v2/no-such-thing").json()["error"]["code"] == "NOT_FOUND"

        with httpx.Client(base_url=base) as browser:
            page = browser.get("/operator/signin")
            csrf = CSRF.search(page.text).group(1)
            r = browser.post("/operator/signin", data={"csrf": csrf, "admin_token": token})
            assert r.status_code == 303
            assert "web-" in browser.get("/operator").text
