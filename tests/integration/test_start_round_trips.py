"""How many round trips to PostgreSQL one POST /calls/start costs, counted on the wire (tests/pg_wire.py).

The count does not depend on the machine's load, so it is a test, not a benchmark: a change that adds a
round trip to the hottest path of the API fails here. Statements are prepared during the warm-up starts;
the counted starts reuse them, as a running server does.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Ready, configure_twilio, create_agent, start_body
from tests.pg_wire import round_trips
from voxline.app import create_app
from voxline.context import Context
from voxline.core import keys

WARM_UP, COUNTED = 5, 20


async def _per_start(client: httpx.AsyncClient, relay, body: dict, headers: dict, vary_key: bool = False) -> float:  # noqa: ANN001
    async def start(i: int) -> None:
        h = {**headers, "Idempotency-Key": f"rt-{i}-{id(body)}"} if vary_key else headers
        r = await client.post("/calls/start", json=body, headers=h)
        assert r.status_code == 200, r.text

    for i in range(WARM_UP):
        await start(i)
    before = relay.count
    for i in range(WARM_UP, WARM_UP + COUNTED):
        await start(i)
    return (relay.count - before) / COUNTED


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_start_costs_two_round_trips_on_postgresql(database, make_partner) -> None:  # noqa: ANN001
    async with round_trips() as relay:
        ctx = Context.build(database.settings(database_url=relay.url(database.url)))
        try:
            app = create_app(ctx=ctx)  # no lifespan: no background work shares the count
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver/api/v2") as client:
                live = await make_partner(concurrency=1000)
                ready = Ready(live, await create_agent(client, live))
                await configure_twilio(client, live)
                body = start_body(ready)
                plain = await _per_start(client, relay, body, live.headers)
                keyed = await _per_start(client, relay, body | {"variables": {"callee_name": "K"}}, live.headers, True)
                sandbox = await make_partner(keys.TEST, concurrency=1000)
                agent = await create_agent(client, sandbox)
                await configure_twilio(client, sandbox)
                test_mode = await _per_start(client, relay, start_body(Ready(sandbox, agent)), sandbox.headers)
        finally:
            await ctx.close()
    print(f"round trips per start: plain {plain}, with Idempotency-Key {keyed}, sandbox {test_mode}")
    assert (plain, keyed, test_mode) == (2, 2, 2)
