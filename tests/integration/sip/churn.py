"""Many short SIP calls against SIPp, more at once than PJSIP holds: through a worker pool (the tests), or
through one in-process SipAgent when run as a program (`python -m tests.integration.sip.churn SECS`: a
PJSIP endpoint of its own, for stress runs of several at once).

Each call is answered and hung up at once, so media ports come and go while PJSIP's conference clock runs;
calls beyond PJSIP's limit are refused (SipBusy) and placed again. Prints one JSON line of counts."""

from __future__ import annotations

import faulthandler
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from voxline.telephony.sip_agent import SipAgent, SipBusy, SipEnd, SipTarget

SCENARIO = Path(__file__).resolve().parents[2] / "sip" / "answer_then_bye.xml"
AT_ONCE = 5  # one more than the wheel's PJSIP holds: the fifth is refused and placed again


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Events:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.end: SipEnd | None = None

    def ringing(self, code: int) -> None: ...

    def answered(self) -> None: ...

    def audio(self, pcm: bytes) -> None: ...

    def dtmf(self, digit: str) -> None: ...

    def ended(self, end: SipEnd) -> None:
        self.end = end
        self.done.set()


def churn(agent: Any, target: SipTarget, secs: float, at_once: int = AT_ONCE) -> dict:
    """Place `at_once` calls, wait for their ends, again, for `secs`; counts of how they went."""
    counts = {"answered": 0, "refused": 0, "other": 0, "stuck": 0}
    reasons: set[str] = set()
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        live: list[tuple[str, _Events]] = []
        for _ in range(at_once):
            events = _Events()
            key, placed = agent.place(target, events)
            try:
                placed.result(10)
            except SipBusy:
                counts["refused"] += 1
                continue
            agent.send_audio(key, b"\x10\x00" * 800)
            live.append((key, events))
        for _key, events in live:
            if not events.done.wait(10):
                counts["stuck"] += 1
            elif events.end and events.end.answered and events.end.code == 200:
                counts["answered"] += 1
            else:
                counts["other"] += 1
                reasons.add(events.end.reason if events.end else "?")
        if not live:
            time.sleep(0.05)
    counts["reasons"] = sorted(reasons)  # type: ignore[assignment]
    return counts


def sipp_trunk(secs: float) -> tuple[subprocess.Popen, SipTarget]:
    """SIPp answering every call at once and hanging up (answer_then_bye with no talk)."""
    sipp_bin = shutil.which("sipp")
    assert sipp_bin, "SIPp (sip-tester) is not installed"
    port = _free_port()
    args = [sipp_bin, "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port), "-mp", str(_free_port())]
    args += ["-d", "0", "-nostdin", "-timeout", f"{int(secs) + 30}s"]
    sipp = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    time.sleep(0.2)
    return sipp, SipTarget(uri=f"sip:+15550001@127.0.0.1:{port};transport=udp", from_uri="sip:+15550002@127.0.0.1")


def main(secs: float) -> dict:
    sipp, target = sipp_trunk(secs)
    agent = SipAgent(bind_host="127.0.0.1", log_level=0)
    agent.start()
    try:
        counts = churn(agent, target, secs)
        counts["media_ports_created"] = agent.media_ports_created
    finally:
        agent.stop()
        sipp.kill()
    return counts


if __name__ == "__main__":
    faulthandler.enable()
    os.environ.setdefault("PYTHONFAULTHANDLER", "1")
    print(json.dumps(main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)), flush=True)
