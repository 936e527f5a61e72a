"""Campaigns over HTTP (§9.3 shapes): create → draft, add contacts with their four counts, CSV upload,
start/pause/resume/cancel, list/get with progress, contacts with attempts, CSV export."""

from __future__ import annotations

import csv
import io

from tests.integration.test_auth import assert_error

CAMPAIGN_FIELDS = {
    "campaign_id",
    "name",
    "description",
    "agent_id",
    "agent_name",
    "provider",
    "concurrency_limit",
    "status",
    "total_contacts",
    "completed_count",
    "failed_count",
    "skipped_count",
    "started_at",
    "paused_at",
    "completed_at",
    "created_at",
}


async def make_campaign(client, ready, **fields) -> dict:
    body = {"name": "Reminders", "agent_id": ready.agent["id"], "provider": "twilio", **fields}
    r = await client.post("/campaigns", json=body, headers=ready.tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_create_answers_a_draft_with_the_documented_fields(client, ready):
    c = await make_campaign(client, ready, description="December", concurrency_limit=50)
    assert set(c) >= CAMPAIGN_FIELDS
    assert c["status"] == "draft" and c["concurrency_limit"] == 10  # clamped to 1-10, as §9.3 says
    assert c["agent_name"] == ready.agent["agent_name"] and c["total_contacts"] == 0
    assert c["started_at"] is None and c["retry_policy"]["max_attempts"] == 3
    assert (await make_campaign(client, ready, concurrency_limit=0))["concurrency_limit"] == 1


async def test_create_checks_agent_provider_and_schedule(client, ready):
    h = ready.tenant.headers
    base = {"name": "x", "agent_id": ready.agent["id"], "provider": "twilio"}
    assert_error(
        await client.post("/campaigns", json={**base, "agent_id": "6f1c1f4e-8b7e-4c47-9d51-8c6b2a5a0f00"}, headers=h),
        404,
        "AGENT_NOT_FOUND",
    )
    assert_error(
        await client.post("/campaigns", json={**base, "provider": "plivo"}, headers=h), 400, "PROVIDER_NOT_CONFIGURED"
    )
    bad = {**base, "schedule": {"windows": [{"start": "18:00", "end": "10:00"}]}}
    assert_error(await client.post("/campaigns", json=bad, headers=h), 400, "INVALID_SCHEDULE")
    bad = {**base, "variable_mapping": {"not_declared": "x"}}
    assert_error(await client.post("/campaigns", json=bad, headers=h), 400, "UNDECLARED_VARIABLE")


async def test_contacts_count_added_duplicates_created_and_existing(client, ready):
    h = ready.tenant.headers
    first = await make_campaign(client, ready)
    r = await client.post(
        f"/campaigns/{first['campaign_id']}/contacts",
        json={"contacts": [{"phone": "+919800000001"}, {"phone": "+919800000002"}]},
        headers=h,
    )
    assert r.json()["data"] == {
        "added": 2,
        "duplicates": 0,
        "contacts_created": 2,
        "contacts_existing": 0,
        "skipped_do_not_call": 0,
        "invalid": None,
    }
    second = await make_campaign(client, ready)
    contacts = [
        {"phone": "+919800000001", "name": "Asha", "metadata": {"callee_name": "Asha"}},
        {"phone": "+919800000003"},
        {"phone": "+919800000003"},
    ]
    r = await client.post(f"/campaigns/{second['campaign_id']}/contacts", json={"contacts": contacts}, headers=h)
    data = r.json()["data"]
    assert (data["added"], data["duplicates"], data["contacts_created"], data["contacts_existing"]) == (2, 1, 1, 1)
    r = await client.post(f"/campaigns/{second['campaign_id']}/contacts", json={"contacts": contacts[:1]}, headers=h)
    assert r.json()["data"]["added"] == 0 and r.json()["data"]["duplicates"] == 1
    got = (await client.get(f"/campaigns/{second['campaign_id']}", headers=h)).json()["data"]
    assert got["total_contacts"] == 2 and got["pending_count"] == 2


async def test_contacts_per_request_are_one_to_ten_thousand(client, ready):
    c = await make_campaign(client, ready)
    url = f"/campaigns/{c['campaign_id']}/contacts"
    assert (await client.post(url, json={"contacts": []}, headers=ready.tenant.headers)).status_code == 400
    many = [{"phone": f"+9198{i:08d}"} for i in range(10_001)]
    assert (await client.post(url, json={"contacts": many}, headers=ready.tenant.headers)).status_code == 400
    r = await client.post(url, json={"contacts": many[:10_000]}, headers=ready.tenant.headers)
    assert r.status_code == 200 and r.json()["data"]["added"] == 10_000


async def test_a_number_on_the_do_not_call_list_is_added_as_skipped(client, ready):
    h = ready.tenant.headers
    await client.post("/dnc", json={"numbers": ["+919800000011"]}, headers=h)
    c = await make_campaign(client, ready)
    r = await client.post(
        f"/campaigns/{c['campaign_id']}/contacts",
        json={"contacts": [{"phone": "+919800000011"}, {"phone": "+919800000012"}]},
        headers=h,
    )
    assert r.json()["data"]["skipped_do_not_call"] == 1
    got = (await client.get(f"/campaigns/{c['campaign_id']}", headers=h)).json()["data"]
    assert got["skipped_count"] == 1 and got["pending_count"] == 1
    skipped = (await client.get(f"/campaigns/{c['campaign_id']}/contacts?status=skipped", headers=h)).json()["data"]
    assert [x["outcome"] for x in skipped["contacts"]] == ["do_not_call"]


async def test_csv_upload_takes_phone_name_and_metadata_columns(client, ready):
    c = await make_campaign(client, ready)
    text = "phone,name,callee_name,plan\n+919800000021,Asha,Asha K,gold\nbad,Ravi,,\n+919800000022,Meera,,silver\n"
    r = await client.post(
        f"/campaigns/{c['campaign_id']}/contacts/csv", json={"csv": text}, headers=ready.tenant.headers
    )
    data = r.json()["data"]
    assert data["added"] == 2 and [i["field"] for i in data["invalid"]] == ["line 3"]
    rows = (await client.get(f"/campaigns/{c['campaign_id']}/contacts", headers=ready.tenant.headers)).json()["data"]
    first = next(x for x in rows["contacts"] if x["phone"] == "+919800000021")
    assert first["name"] == "Asha" and first["metadata"] == {"callee_name": "Asha K", "plan": "gold"}
    r = await client.post(
        f"/campaigns/{c['campaign_id']}/contacts/csv",
        json={"csv": "number\n+919800000023\n"},
        headers=ready.tenant.headers,
    )
    assert_error(r, 400, "INVALID_CSV")
    huge = 'phone,note\n+919800000024,"' + "x" * 200_000 + '"\n'  # one field over the csv module's limit
    r = await client.post(
        f"/campaigns/{c['campaign_id']}/contacts/csv", json={"csv": huge}, headers=ready.tenant.headers
    )
    assert_error(r, 400, "INVALID_CSV")
    r = await client.post(
        f"/campaigns/{c['campaign_id']}/contacts/csv",
        json={"csv": "phone\r+919800000025\r"},
        headers=ready.tenant.headers,
    )
    assert r.status_code == 200 and r.json()["data"]["added"] == 1, r.text


async def test_lifecycle_moves_and_refusals(client, ready):
    h = ready.tenant.headers
    c = await make_campaign(client, ready)
    cid = c["campaign_id"]
    assert_error(await client.post(f"/campaigns/{cid}/start", headers=h), 409, "INVALID_CAMPAIGN_STATE")  # no contacts
    await client.post(f"/campaigns/{cid}/contacts", json={"contacts": [{"phone": "+919800000031"}]}, headers=h)
    assert_error(await client.post(f"/campaigns/{cid}/resume", headers=h), 409, "INVALID_CAMPAIGN_STATE")
    started = (await client.post(f"/campaigns/{cid}/start", headers=h)).json()["data"]
    assert started["status"] == "running" and started["started_at"]
    paused = (await client.post(f"/campaigns/{cid}/pause", headers=h)).json()["data"]
    assert paused["status"] == "paused" and paused["paused_at"]
    resumed = (await client.post(f"/campaigns/{cid}/resume", headers=h)).json()["data"]
    assert resumed["status"] == "running" and resumed["paused_at"] is None
    canceled = (await client.post(f"/campaigns/{cid}/cancel", headers=h)).json()["data"]
    assert canceled["status"] == "canceled" and canceled["canceled_count"] == 1
    assert_error(await client.post(f"/campaigns/{cid}/start", headers=h), 409, "INVALID_CAMPAIGN_STATE")
    r = await client.post(f"/campaigns/{cid}/contacts", json={"contacts": [{"phone": "+919800000032"}]}, headers=h)
    assert_error(r, 409, "INVALID_CAMPAIGN_STATE")


async def test_list_get_and_isolation(client, ready, make_partner):
    c = await make_campaign(client, ready, name="Listed")
    listing = (await client.get("/campaigns?limit=100", headers=ready.tenant.headers)).json()["data"]
    assert c["campaign_id"] in [x["campaign_id"] for x in listing["campaigns"]]
    other = await make_partner()
    assert_error(await client.get(f"/campaigns/{c['campaign_id']}", headers=other.headers), 404, "CAMPAIGN_NOT_FOUND")
    assert_error(await client.get("/campaigns/not-a-uuid", headers=other.headers), 404, "CAMPAIGN_NOT_FOUND")


async def test_export_is_csv_with_one_line_per_contact(client, ready):
    c = await make_campaign(client, ready)
    contacts = [{"phone": f"+91980000005{i}", "metadata": {"k": i}} for i in range(3)]
    await client.post(
        f"/campaigns/{c['campaign_id']}/contacts", json={"contacts": contacts}, headers=ready.tenant.headers
    )
    r = await client.get(f"/campaigns/{c['campaign_id']}/export", headers=ready.tenant.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 3 and {row["status"] for row in rows} == {"waiting"}
    assert rows[0]["metadata"].startswith('{"k": ')
