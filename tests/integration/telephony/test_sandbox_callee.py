"""The sandbox's simulated callee, as an integrator meets it through the public API (sandbox/callee.py).

With no test number, the callee talks: real speech (offline Piper), heard by the real offline engines
(Whisper), answered by the agent, so the session has user turns and latency. A call can give the callee its
own lines (`variables.sandbox_callee_say`, test keys only). Test numbers choose the outcome.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.telephony.conftest import (
    LiveServer,
    make_caller,
    start,
    wait_session_done,
    wait_status,
)
from voxline.calls.conversation import voice_runtime
from voxline.core import keys
from voxline.devtools.standins import StandInEngines
from voxline.sandbox.callee import TEST_NUMBERS, markdown_table
from voxline.voice import engines


def _emucall(live: LiveServer, provider: str, to: str):  # noqa: ANN202
    return next(c for c in live.sandbox[provider].calls.values() if c.to.lstrip("+")[-10:] == to[-10:])


@pytest.fixture
def talking(live: LiveServer):  # noqa: ANN201
    """This module's server answers unscripted numbers with the talking callee (the product default)."""
    saved = {name: emu.default_script for name, emu in live.sandbox.emulators.items()}
    for emu in live.sandbox.emulators.values():
        emu.default_script = None
    yield live
    for name, emu in live.sandbox.emulators.items():
        emu.default_script = saved[name]
    if hasattr(live.app.state, "call_runtime_factory"):
        del live.app.state.call_runtime_factory


async def test_the_default_callee_holds_a_spoken_conversation(talking: LiveServer) -> None:
    live = talking
    live.app.state.call_runtime_factory = voice_runtime  # the offline engines, as `voxline serve` runs them
    # ...warmed before the first call, as `voxline serve` does (this test server skips its warm-up gate): a
    # cold Piper on a busy machine can miss the first-audio bound, and the call then rightly ends as a fault.
    await asyncio.to_thread(engines.warm_up, live.ctx.settings)
    caller = await make_caller(live, "twilio")
    to = "+919815500001"
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], ("completed",), wait=150)
    done = await wait_session_done(live, caller, started["call_id"], wait=60)
    session = done["session"]
    user = " ".join(t["content"] for t in session["transcript"] if t["role"] == "user").lower()
    bot = [t["content"] for t in session["transcript"] if t["role"] == "bot"]
    assert "appointment" in user and "speaking" in user, session["transcript"]
    assert len(bot) >= 3, "the agent answered the callee's turns"
    assert session["latency"] and session["latency"]["avg_ms"] is not None
    assert call["disposition"] == "completed", call
    emucall = _emucall(live, "twilio", to)
    assert emucall.lines_said == 3 and emucall.error is None, (emucall.lines_said, emucall.error)


async def test_a_call_gives_the_callee_its_own_lines(talking: LiveServer) -> None:
    live = talking
    asked = ["I would like to reschedule.", "Thursday works. Bye."]
    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx, StandInEngines(asked))
    caller = await make_caller(live, "plivo")
    to = "+919815500002"
    body = {
        "agent_id": caller.agent["id"],
        "to_number": to,
        "provider": "plivo",
        "variables": {"callee_name": "Asha", "sandbox_callee_say": " | ".join(asked)},
    }
    r = await live.api.post("/calls/start", json=body, headers=caller.tenant.headers)
    assert r.status_code == 200, r.text
    call_id = r.json()["data"]["call_id"]
    await wait_status(live, caller, call_id, ("completed",), wait=90)
    done = await wait_session_done(live, caller, call_id, wait=60)
    emucall = _emucall(live, "plivo", to)
    assert emucall.script.texts == tuple(asked) and emucall.lines_said == 2
    user = [t["content"] for t in done["session"]["transcript"] if t["role"] == "user"]
    assert user == asked, done["session"]["transcript"]


async def test_callee_lines_are_a_sandbox_only_variable(live: LiveServer) -> None:
    caller = await make_caller(live, "twilio", mode=keys.LIVE)
    body = {
        "agent_id": caller.agent["id"],
        "to_number": "+919815500003",
        "provider": "twilio",
        "variables": {"callee_name": "Asha", "sandbox_callee_say": "hello"},
    }
    r = await live.api.post("/calls/start", json=body, headers=caller.tenant.headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "UNDECLARED_VARIABLE"


@pytest.mark.parametrize(
    ("suffix", "status", "lines"),
    [("0486", "busy", 0), ("0408", "no_answer", 0), ("0500", "failed", 0), ("0666", "completed", 1)],
)
async def test_test_numbers_choose_the_outcome(talking: LiveServer, suffix: str, status: str, lines: int) -> None:
    """(The machine's AMD verdict and the voicemail disposition are test_twilio_e2e.py's.)"""
    live = talking
    caller = await make_caller(live, "twilio")
    to = "+91981556" + suffix
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], (status,), wait=60)
    assert _emucall(live, "twilio", to).lines_said == lines, "an answering machine plays its greeting"


async def test_the_opt_out_number_ends_on_the_do_not_call_list(talking: LiveServer) -> None:
    """…0333 says it does not want to be called again: the agent acknowledges and ends the call, the number is
    listed, and the next /calls/start to it is refused (the stand-in STT hears what the callee says)."""
    live = talking
    said = "Please don't call me again. Remove my number."
    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx, StandInEngines([said]))
    caller = await make_caller(live, "vobiz")
    to = "+919815570333"
    started = await start(live, caller, to)
    call = await wait_status(live, caller, started["call_id"], ("completed",), wait=90)
    assert _emucall(live, "vobiz", to).lines_said == 1
    assert call["disposition"] == "opted_out", call
    again = {"agent_id": caller.agent["id"], "to_number": to, "provider": "vobiz", "variables": {"callee_name": "A"}}
    r = await live.api.post("/calls/start", json=again, headers=caller.tenant.headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "NUMBER_ON_DO_NOT_CALL", r.text


async def test_the_interrupting_callee_talks_over_the_greeting(talking: LiveServer) -> None:
    live = talking
    live.app.state.call_runtime_factory = lambda ctx: voice_runtime(ctx, StandInEngines(["Who is calling?", "Bye."]))
    caller = await make_caller(live, "vobiz")
    to = "+919815570222"
    started = await start(live, caller, to)
    await wait_status(live, caller, started["call_id"], ("completed",), wait=90)
    emucall = _emucall(live, "vobiz", to)
    assert emucall.lines_said == 2


def test_the_readme_documents_every_test_number() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[3] / "README.md").read_text()
    assert markdown_table() in readme, "README's sandbox test-number table is out of date"
    assert len({t.suffix for t in TEST_NUMBERS}) == len(TEST_NUMBERS)
