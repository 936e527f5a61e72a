"""One SIP call to the sandbox callee whose audio is cut off inside PJSIP, to prove the agent's media watch:
`python -m tests.integration.sip.media_stall QUIET_SECS` (a PJSIP endpoint of its own, so it runs as a
program, not inside the test process).

The call is answered; our tone reaches the callee; we stay quiet for QUIET_SECS (a healthy call must
survive that); then the call's media port is disconnected from its stream, as a port left unconnected or a
conference clock that stopped would leave it: our audio queues up and never leaves. Prints one JSON line:
what the callee heard before the cut, how the call ended, and how long after the cut."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import json
import math
import struct
import sys
import threading
import time
from typing import Any

from voxline.sandbox.callee import Script
from voxline.sandbox.sip_callee import SipCallee
from voxline.telephony.sip_agent import SipAgent, SipEnd, SipTarget

NUMBER = "+15550111"


def _tone(hz: float, secs: float) -> bytes:
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / 8000))) for i in range(int(8000 * secs))
    )


def _cut_our_audio(agent: SipAgent, key: str, done: threading.Event) -> None:
    """On the agent's thread: the call's port no longer feeds (or hears) the call's stream."""
    live = agent._calls[key]  # noqa: SLF001 - fault injection: nothing outside PJSIP can break this link
    audio = live.call.getAudioMedia(-1)
    live.port.stopTransmit(audio)
    audio.stopTransmit(live.port)
    done.set()


async def run(quiet_secs: float) -> dict[str, Any]:
    callee = SipCallee(seal=None)
    port = await callee.start()
    callee.accounts["stall"] = "stall-password"
    callee.scripts[NUMBER] = Script("human", talk_secs=None, hz=0.0)  # stays on the line until we hang up
    loop = asyncio.get_running_loop()
    answered, ended = asyncio.Event(), asyncio.Event()
    end: list[SipEnd] = []

    class Events:
        def ringing(self, code: int) -> None: ...

        def answered(self) -> None:
            loop.call_soon_threadsafe(answered.set)

        def audio(self, pcm: bytes) -> None: ...

        def dtmf(self, digit: str) -> None: ...

        def ended(self, e: SipEnd) -> None:
            end.append(e)
            loop.call_soon_threadsafe(ended.set)

    agent = SipAgent(bind_host="127.0.0.1", log_level=0)
    agent.start()
    target = SipTarget(
        uri=f"sip:{NUMBER}@127.0.0.1:{port}",
        from_uri="sip:+15550112@127.0.0.1",
        username="stall",
        password="stall-password",
    )
    result: dict[str, Any] = {}
    try:
        key, _ = agent.place(target, Events())
        await asyncio.wait_for(answered.wait(), 10)
        call = next(c for c in callee.calls.values() if c.to == NUMBER)
        agent.send_audio(key, _tone(660, 0.6))
        await asyncio.sleep(1.0)
        result["loud_before_cut"] = call.loud_frames
        await asyncio.sleep(quiet_secs)  # nothing to say: the line carries our silence, and must stay up
        result["up_while_quiet"] = not ended.is_set()
        cut_done = threading.Event()
        agent._commands.put(lambda: _cut_our_audio(agent, key, cut_done))  # noqa: SLF001
        assert await asyncio.to_thread(cut_done.wait, 5)
        await asyncio.sleep(0.1)  # PJSIP's conference applies the disconnection on its next frame
        cut = time.monotonic()
        agent.send_audio(key, _tone(660, 1.0))  # the bot speaks on, unheard
        loud_at_cut = call.loud_frames
        try:
            await asyncio.wait_for(ended.wait(), agent.media_stall_secs + 3.0)
        except TimeoutError:
            agent.hang_up(key)
            await asyncio.wait_for(ended.wait(), 5)
            result["left_silent"] = True
        result["ended_after_cut_secs"] = round(time.monotonic() - cut, 2)
        result["loud_after_cut"] = call.loud_frames - loud_at_cut
        with contextlib.suppress(TimeoutError):  # PJSIP reports the end as our BYE leaves
            await asyncio.wait_for(call.ended.wait(), 3)
        result["callee_status"] = call.status
        result["end"] = {
            "code": end[0].code,
            "reason": end[0].reason,
            "answered": end[0].answered,
            "fault": end[0].fault,
        }
    finally:
        agent.stop()
        await callee.aclose()
    return result


if __name__ == "__main__":
    faulthandler.enable()
    print(json.dumps(asyncio.run(run(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0))), flush=True)
