"""The do-not-call list: add, list, remove, import; refused at /calls/start with its own code, and a call
already queued when its number is listed is never dialed."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import start_body
from tests.integration.test_auth import assert_error
from voxline.dialer.dial import dial
from voxline.safety import gate
from voxline.store import dial_queue as dq
from voxline.store.models import Call, DialJob


async def test_numbers_are_added_listed_read_and_removed(client, ready):
    h = ready.tenant.headers
    r = await client.post(
        "/dnc",
        json={"numbers": ["+919876500001", "+919876500002", "+919876500001"], "reason": "asked by email"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"added": 2, "already_listed": 0, "invalid": []}
    r = await client.post("/dnc", json={"numbers": ["+919876500002", "+919876500003"]}, headers=h)
    assert r.json()["data"]["added"] == 1 and r.json()["data"]["already_listed"] == 1
    listing = (await client.get("/dnc", headers=h)).json()["data"]
    assert listing["total"] == 3 and {n["phone"] for n in listing["numbers"]} == {
        "+919876500001",
        "+919876500002",
        "+919876500003",
    }
    one = (await client.get("/dnc/+919876500001", headers=h)).json()["data"]
    assert one["source"] == "api" and one["reason"] == "asked by email"
    assert (await client.delete("/dnc/+919876500001", headers=h)).status_code == 200
    assert_error(await client.get("/dnc/+919876500001", headers=h), 404, "DNC_ENTRY_NOT_FOUND")
    assert_error(await client.delete("/dnc/+919876500001", headers=h), 404, "DNC_ENTRY_NOT_FOUND")


async def test_bulk_import_takes_a_phone_column_and_reports_bad_lines(client, ready):
    h = ready.tenant.headers
    csv = "name,phone\nAsha,+919876500011\nRavi,not-a-number\nMeera,+919876500012\n,\n"
    r = await client.post("/dnc/import", json={"csv": csv}, headers=h)
    data = r.json()["data"]
    assert data["added"] == 2 and data["already_listed"] == 0
    assert [i["field"] for i in data["invalid"]] == ["line 3"]
    assert (await client.get("/dnc/+919876500012", headers=h)).json()["data"]["source"] == "import"


async def test_lists_are_per_partner_and_mode(client, ready, make_partner):
    await client.post("/dnc", json={"numbers": ["+919876500021"]}, headers=ready.tenant.headers)
    other = await make_partner()
    assert_error(await client.get("/dnc/+919876500021", headers=other.headers), 404, "DNC_ENTRY_NOT_FOUND")
    assert (await client.get("/dnc", headers=other.headers)).json()["data"]["total"] == 0


async def test_start_refuses_a_listed_number_with_its_own_code(client, ready):
    h = ready.tenant.headers
    await client.post("/dnc", json={"numbers": ["+919876543210"]}, headers=h)
    r = await client.post("/calls/start", json=start_body(ready), headers=h)
    assert_error(r, 403, "NUMBER_ON_DO_NOT_CALL")
    await client.delete("/dnc/+919876543210", headers=h)
    assert (await client.post("/calls/start", json=start_body(ready), headers=h)).status_code == 200


async def test_a_queued_call_whose_number_is_listed_later_is_never_dialed(client, ctx, ready):
    h = ready.tenant.headers
    r = await client.post("/calls/start", json=start_body(ready, to_number="+919876500031"), headers=h)
    call_id = r.json()["data"]["call_id"]
    await client.post("/dnc", json={"numbers": ["+919876500031"]}, headers=h)
    async with ctx.db.transaction() as s:  # as the dialer leaves it when it claims the row
        job = (await s.execute(select(DialJob).where(DialJob.call_id == call_id))).scalar_one()
        job.status = dq.DIALING
        call = await s.get(Call, call_id)
    claimed = dq.Claimed(job, call, None, None, None)  # type: ignore[arg-type]
    assert await gate.admit_dial(ctx, claimed) is gate.DialVerdict.LISTED
    await dial(ctx, None, claimed)  # type: ignore[arg-type] - the dialer never reaches its HTTP client here
    detail = (await client.get(f"/calls/{call_id}", headers=h)).json()["data"]
    assert detail["status"] == "canceled" and "do-not-call" in detail["error_message"]
    async with ctx.db.transaction() as s:
        job = (await s.execute(select(DialJob).where(DialJob.call_id == call_id))).scalar_one()
        assert job.status == dq.CANCELED and (await s.get(Call, call_id)).dialed_at is None


async def test_import_reads_any_line_ending_and_refuses_an_unreadable_csv(client, ready):
    h = ready.tenant.headers
    r = await client.post("/dnc/import", json={"csv": "phone\r+919876500031\r\n+919876500032\n"}, headers=h)
    assert r.status_code == 200 and r.json()["data"]["added"] == 2, r.text
    huge = 'phone\n"' + "1" * 200_000 + '"\n'  # one field over the csv module's limit
    assert_error(await client.post("/dnc/import", json={"csv": huge}, headers=h), 400, "INVALID_CSV")


async def test_the_import_path_is_not_a_phone_number(client, ready):
    h = ready.tenant.headers
    for method in ("GET", "DELETE"):
        r = await client.request(method, "/dnc/import", headers=h)
        assert_error(r, 405, "METHOD_NOT_ALLOWED")
        assert r.headers["allow"] == "POST"
