"""A SIP call whose audio stops leaving PJSIP is ended as a fault, never left as a silent line.

The voice runtime's first-audio watchdog counts the frames it hands to the gateway; what happens to them in
the SIP worker (a media port not connected to the call's stream, a conference clock that stopped, a stream
that sends no RTP) it cannot see. The agent watches that itself (sip_agent.MEDIA_STALL_SECS): the call
ends, and says why. PJSIP runs in a program of its own here (media_stall), as in a worker process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from voxline.telephony.sip import CARRIER
from voxline.telephony.sip_agent import MEDIA_STALL_SECS

ROOT = Path(__file__).resolve().parents[3]


async def test_a_call_whose_audio_stops_leaving_is_hung_up_as_a_fault() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")) if p)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.sip.media_stall",
        "3",  # seconds of our silence before the cut: a quiet bot is no fault
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    got = json.loads(out.decode().strip().splitlines()[-1])
    print(f"\n{got}")
    assert got["loud_before_cut"] > 10, got  # the call carried our tone before the cut
    assert got["up_while_quiet"], got
    assert "left_silent" not in got, f"the call stayed up with our audio going nowhere: {got}"
    assert got["ended_after_cut_secs"] < MEDIA_STALL_SECS + 1.5, got
    assert got["loud_after_cut"] == 0, got
    assert got["callee_status"] == "ended", got  # our BYE reached the callee
    end = got["end"]
    assert end["answered"] and "our audio stopped reaching the callee" in (end["fault"] or ""), end
    # The call's record says so: failed, with the reason, not completed.
    update = CARRIER.parse_status(
        {"event": "ended", "code": str(end["code"]), "reason": end["reason"], "answered": "1", "fault": end["fault"]}
    )
    assert update.status is not None and update.status.value == "failed", update
    assert "our audio stopped reaching the callee" in (update.error_message or ""), update
