"""A campaign end to end in sandbox mode: the server's scheduler and dialer call every contact on the Twilio
emulator, whose test numbers answer (…0300), are busy (…0486) or never answer (…0408); busy and unanswered
contacts are retried until the maximum, a listed number is never dialed, and the campaign completes with
every contact's outcome, its CSV export and one campaign.completed event."""

from __future__ import annotations

import asyncio
import csv
import io
import time

from sqlalchemy import select

from tests.integration.telephony.conftest import LiveServer, make_caller
from voxline.store.models import SessionEvent

ANSWERS, ANSWERS_TOO, BUSY, NO_ANSWER, LISTED = (
    "+919876500300",
    "+919876510300",
    "+919876500486",
    "+919876500408",
    "+919876520300",
)


async def _wait_completed(live: LiveServer, headers: dict, cid: str, wait: float = 60.0) -> dict:
    deadline = time.monotonic() + wait
    while True:
        data = (await live.api.get(f"/campaigns/{cid}", headers=headers)).json()["data"]
        if data["status"] == "completed":
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"campaign did not complete: {data}")
        await asyncio.sleep(0.1)


async def test_a_campaign_calls_everyone_retries_busy_and_unanswered_and_completes(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio", concurrency=3)
    h = caller.tenant.headers
    await live.api.post("/dnc", json={"numbers": [LISTED]}, headers=h)
    body = {
        "name": "e2e",
        "agent_id": caller.agent["id"],
        "provider": "twilio",
        "concurrency_limit": 2,
        "retry_policy": {"retry_on": ["busy", "no_answer"], "delays_secs": [1], "max_attempts": 2},
    }
    cid = (await live.api.post("/campaigns", json=body, headers=h)).json()["data"]["campaign_id"]
    text = "phone,name,callee_name\n" + "\n".join(
        f"{p},C{i},Name{i}" for i, p in enumerate([ANSWERS, ANSWERS_TOO, BUSY, NO_ANSWER, LISTED])
    )
    added = (await live.api.post(f"/campaigns/{cid}/contacts/csv", json={"csv": text}, headers=h)).json()["data"]
    assert added["added"] == 5 and added["skipped_do_not_call"] == 1
    assert (await live.api.post(f"/campaigns/{cid}/start", headers=h)).json()["data"]["status"] == "running"
    done = await _wait_completed(live, h, cid)
    assert (done["completed_count"], done["failed_count"], done["skipped_count"]) == (2, 2, 1)
    contacts = {
        c["phone"]: c for c in (await live.api.get(f"/campaigns/{cid}/contacts", headers=h)).json()["data"]["contacts"]
    }
    assert [a["outcome"] for a in contacts[ANSWERS]["calls"]] == ["completed"]
    assert [a["outcome"] for a in contacts[BUSY]["calls"]] == ["busy", "busy"]
    assert [a["outcome"] for a in contacts[NO_ANSWER]["calls"]] == ["no_answer", "no_answer"]
    assert contacts[LISTED]["calls"] == [] and contacts[LISTED]["outcome"] == "do_not_call"
    call_ids = [a["call_id"] for c in contacts.values() for a in c["calls"]]
    assert len(call_ids) == len(set(call_ids)) == 6
    call = (await live.api.get(f"/calls/{contacts[ANSWERS]['calls'][0]['call_id']}", headers=h)).json()["data"]
    assert call["status"] == "completed" and call["session"]["variables"] == {"callee_name": "Name0"}
    # The emulator was asked to create exactly those six calls, and never to call the listed number.
    emulator = live.sandbox["twilio"]
    dialed = [c.to for c in emulator.calls.values() if c.to in contacts]
    assert sorted(dialed) == sorted([ANSWERS, ANSWERS_TOO, BUSY, BUSY, NO_ANSWER, NO_ANSWER])
    export = list(csv.DictReader(io.StringIO((await live.api.get(f"/campaigns/{cid}/export", headers=h)).text)))
    assert {r["phone"]: r["status"] for r in export} == {
        ANSWERS: "completed",
        ANSWERS_TOO: "completed",
        BUSY: "failed",
        NO_ANSWER: "failed",
        LISTED: "skipped",
    }
    async with live.ctx.db.transaction() as s:
        events = list(
            (
                await s.execute(
                    select(SessionEvent).where(
                        SessionEvent.partner_id == caller.tenant.partner_id,
                        SessionEvent.event_type == "campaign.completed",
                    )
                )
            ).scalars()
        )
    assert len(events) == 1 and events[0].payload["data"]["completed_count"] == 2
    assert events[0].payload["livemode"] is False
