async def test_start_call_walkthrough(client, ready, database):
    from tests.conftest import start_body

    r = await client.post("/calls/start", json=start_body(ready), headers=ready.tenant.headers)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["status"] == "pending" and data["from_number"] == "+14155551234"
