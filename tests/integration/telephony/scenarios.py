"""The same promises, checked for every carrier: a call is placed with a correct request, answered,
streamed both ways, and ends with the right status; busy, no answer, failure and forged callbacks
each end (or change nothing) as a user expects. Each carrier's test module runs these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from tests.integration.telephony.conftest import LiveServer, make_caller, start, wait_session_done, wait_status
from voxline.sandbox.audio import dominant_hz, seconds
from voxline.sandbox.emulator import Emulator, Received, Script
from voxline.sandbox.responder import RESPONDER_HZ

ToOf = Callable[[Received], str | None]  # the callee number a create-call request names, per carrier


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def creates_to(emu: Emulator, to: str, to_of: ToOf) -> list[Received]:
    # MCube's wire carries ten digits, the others the full number: the last ten digits name the callee.
    digits = to.lstrip("+")[-10:]
    return [r for r in emu.received if r.method == "POST" and (to_of(r) or "").lstrip("+")[-10:] == digits]


async def answered_call_streams_audio_both_ways(live: LiveServer, provider: str, to: str, to_of: ToOf) -> dict:
    caller = await make_caller(live, provider)
    emu = live.sandbox[provider]
    emu.scripts[to] = Script("human", talk_secs=1.2, hz=440.0)
    started = await start(live, caller, to)
    assert started["status"] == "pending"
    call = await wait_status(live, caller, started["call_id"], ("completed",))
    assert call["disposition"] == "completed"
    assert call["answered_by"] in ("unknown", "human")
    assert call["error_message"] is None
    assert call["started_at"] and _ts(call["started_at"]) <= _ts(call["ended_at"])
    assert call["duration_seconds"] >= 1
    requests = creates_to(emu, to, to_of)
    assert len(requests) == 1, "dialed exactly once"
    emucall = next(c for c in emu.calls.values() if c.to.lstrip("+").endswith(to.lstrip("+")[-10:]))
    assert seconds(bytes(emucall.heard)) >= 0.3, "the callee heard our side"
    assert abs(dominant_hz(bytes(emucall.heard)) - RESPONDER_HZ) < 20
    done = await wait_session_done(live, caller, started["call_id"])  # the conversation has wound up
    assert done["session"]["processing_complete"] is True
    heard = live.sandbox.heard[started["session_id"]]
    assert seconds(heard) >= 0.5, "our side heard the callee"
    assert abs(dominant_hz(heard) - 440.0) < 20
    return {"call": call, "request": requests[0], "emucall": emucall, "started": started, "caller": caller}


async def unanswered_outcome(
    live: LiveServer, provider: str, to: str, status: str, *, reason: str | None = None
) -> dict:
    caller = await make_caller(live, provider)
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], (status,))
    assert call["disposition"] == status
    assert call["answered_by"] == "not_answered"
    assert call["started_at"] is None and call["duration_seconds"] == 0
    if reason:
        assert reason in (call["error_message"] or ""), call["error_message"]
    done = await wait_session_done(live, caller, started["call_id"])
    assert done["session"]["processing_complete"] is True
    return call


async def forged_callbacks_are_refused(
    live: LiveServer,
    provider: str,
    to: str,
    status_url_of: Callable[[Received], str],
    forged: dict[str, Any],
    extra_forgeries: list[tuple[str, dict[str, str]]] | None = None,
) -> None:
    caller = await make_caller(live, provider)
    emu = live.sandbox[provider]
    emu.scripts[to] = Script("human", talk_secs=None)
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], ("in_progress",))
    request = next(r for r in emu.received if started["call_id"] in (status_url_of(r) or ""))
    status_url = status_url_of(request)
    guessed = status_url.split("token=")[0] + "token=guessed"
    attempts = [(status_url, {}), (guessed, {}), *(extra_forgeries or [])]
    async with httpx.AsyncClient() as http:
        for url, headers in attempts:
            if url == status_url and not headers and provider in ("exotel", "mcube"):
                continue  # carriers that do not sign: the right token is the credential
            r = await http.post(url, data=forged, headers=headers)
            assert r.status_code == 403, (url, headers, r.text)
            assert r.json()["error"]["code"] == "FORBIDDEN"
    from tests.integration.telephony.conftest import get_call

    call = await get_call(live, caller, started["call_id"])
    assert call["status"] == "in_progress", "a forged callback changed nothing"
    emucall = next(c for c in emu.calls.values() if c.to.lstrip("+").endswith(to.lstrip("+")[-10:]))
    emucall.hangup.set()
    await wait_status(live, caller, started["call_id"], ("completed",))
