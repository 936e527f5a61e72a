"""SIP calls: how fast our user agent sets calls up and how many it holds with RTP on time.

SIPp plays the trunk (tests/sip/answer_wait_bye.xml, echoing our RTP back with -rtp_echo) on loopback.
For each level N, our SIP user agent (PJSIP on its own thread, one endpoint, as the server runs it) places
N calls at --cps calls per second, each sending 20 ms frames of audio (a stand-in for the TTS) and taking
the frames it hears (a stand-in for the STT), holds them --secs seconds in the steady state, then hangs up.

Measured: calls set up per second, INVITE → 200 OK p50/p99, and RTP timing in the steady state: the
share of 20 ms frames our port was asked for more than 20 ms late (the gap between two requests above
40 ms), the worst gap, frames heard per call per second (50 when the echo keeps up), and the process's
CPU. The result is the largest N whose frames were 99% on time and whose calls all stayed up. The media
websocket between the gateway and the voice runtime is the same as a websocket carrier's: see
bench/concurrent_calls.py for what the runtime holds per process.

With --workers N (the server's default: 4) the calls go through N SIP worker processes, as the server
places them; the clock's own timing is then not visible from here, and the frames heard back per call per
second (the echo) tell whether RTP kept time; CPU is this process's only. With --workers 0, one in-process
PJSIP endpoint: its limit of 4 calls shows as "busy".

    python bench/sip_calls.py [--levels 4,8,16] [--secs 10] [--cps 50] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from bench._common import percentile, print_table, write_json  # noqa: E402
from voxline.telephony.sip_agent import FRAME_BYTES, SipAgent, SipBusy, SipEnd, SipTarget  # noqa: E402
from voxline.telephony.sip_workers import SipWorkerPool  # noqa: E402

SCENARIO = Path(__file__).resolve().parent.parent / "tests" / "sip" / "answer_wait_bye.xml"
TONE = bytes(b"\x00\x10" * (FRAME_BYTES // 2))


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port % 2 == 0 and port < 60000:
            return port


class Probe:
    """One call's events (PJSIP's threads) and its audio timing."""

    def __init__(self) -> None:
        self.sent_at = time.monotonic()
        self.answered_at: float | None = None
        self.end: SipEnd | None = None
        self.heard = 0
        self.lock = threading.Lock()

    def ringing(self, code: int) -> None:
        pass

    def answered(self) -> None:
        self.answered_at = time.monotonic()

    def audio(self, pcm: bytes) -> None:
        self.heard += 1

    def dtmf(self, digit: str) -> None:
        pass

    def ended(self, end: SipEnd) -> None:
        self.end = end


async def run_level(agent: SipAgent | SipWorkerPool, n: int, secs: float, cps: float, sipp: str, tmp: Path) -> dict:
    port = _free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - a benchmark; the loop has nothing else to do
        [
            sipp,
            "-sf",
            str(SCENARIO),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mp",
            str(_free_port()),
            "-rtp_echo",
            "-m",
            str(n),
            "-l",
            str(n + 10),
            "-timeout",
            str(int(secs + n / cps + 60)) + "s",
            "-nostdin",
        ],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    await asyncio.sleep(0.3)
    probes: list[tuple[str, Probe]] = []
    t0 = time.monotonic()
    for i in range(n):
        probe = Probe()
        target = SipTarget(uri=f"sip:+1415555{i:04d}@127.0.0.1:{port}", from_uri="sip:+14155550100@127.0.0.1")
        key, placed = agent.place(target, probe)
        try:
            await asyncio.wrap_future(placed)
        except SipBusy:
            probe.end = SipEnd(0, "busy: PJSIP's call limit", False, False, 0.0)
        probes.append((key, probe))
        await asyncio.sleep(1 / cps)
    while any(p.answered_at is None and p.end is None for _, p in probes):
        if time.monotonic() - t0 > 60:
            break
        await asyncio.sleep(0.01)
    setup_secs = max((p.answered_at or t0) for _, p in probes) - t0
    gaps_seen = agent.frame_gaps if isinstance(agent, SipAgent) else None
    if gaps_seen is not None:
        gaps_seen.clear()
    heard_before = sum(p.heard for _, p in probes)
    cpu0, w0 = time.process_time(), time.monotonic()
    end = time.monotonic() + secs
    while time.monotonic() < end:  # the stand-in TTS: keep a second of audio queued on every call
        for key, _ in probes:
            agent.send_audio(key, TONE * 10)
        await asyncio.sleep(0.2)
    cpu = (time.process_time() - cpu0) / (time.monotonic() - w0)
    heard = sum(p.heard for _, p in probes) - heard_before
    gaps = list(gaps_seen) if gaps_seen is not None else []
    for key, _ in probes:
        agent.hang_up(key)
    await asyncio.sleep(1.0)
    proc.terminate()
    proc.wait(timeout=10)
    answered = [p for _, p in probes if p.answered_at is not None]
    setup_ms = [(p.answered_at - p.sent_at) * 1000 for p in answered]  # type: ignore[operator]
    up = sum(1 for _, p in probes if p.end is None or p.answered_at is not None)
    late = sum(1 for g in gaps if g > 0.040)
    return {
        "calls": n,
        "answered": len(answered),
        "setup_per_s": round(len(answered) / setup_secs, 1) if setup_secs > 0 else float("nan"),
        "invite_200_p50_ms": round(percentile(setup_ms, 50), 1),
        "invite_200_p99_ms": round(percentile(setup_ms, 99), 1),
        "late_frames_pct": round(100 * late / max(1, len(gaps)), 2) if gaps else float("nan"),
        "worst_gap_ms": round(max(gaps) * 1000, 1) if gaps else float("nan"),
        "heard_fps_per_call": round(heard / max(1, len(answered)) / secs, 1),
        "cpu_pct": round(cpu * 100, 1),
        "stayed_up": up,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="4,8,16")
    parser.add_argument("--secs", type=float, default=10.0)
    parser.add_argument("--cps", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=4, help="SIP worker processes; 0: PJSIP in this process")
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed: apt-get install -y sip-tester")
    agent: SipAgent | SipWorkerPool
    if args.workers:
        agent = SipWorkerPool(max_workers=args.workers, bind_host="127.0.0.1", log_level=0)
    else:
        agent = SipAgent(bind_host="127.0.0.1", max_calls=1000, log_level=0)
        agent.measure_frames = True
    agent.start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in (int(x) for x in args.levels.split(",")):
                row = await run_level(agent, n, args.secs, args.cps, sipp, Path(tmp))
                rows.append(row)
                print(row, flush=True)
                await asyncio.sleep(2)
    finally:
        agent.stop()
    where = f"{args.workers} SIP worker processes" if args.workers else "one in-process PJSIP endpoint"
    print_table(f"SIP calls against SIPp ({where})", rows, list(rows[0]))

    def on_time(r: dict) -> bool:
        if args.workers:
            return r["heard_fps_per_call"] >= 49
        return r["late_frames_pct"] <= 1

    ok = [r["calls"] for r in rows if on_time(r) and r["answered"] == r["calls"]]
    print(f"\nmost simultaneous calls with 99% of frames on time: {max(ok) if ok else 0}")
    write_json(
        "sip_calls",
        {"levels": rows, "secs": args.secs, "cps": args.cps, "workers": args.workers, "cpus": os.cpu_count()},
    )


if __name__ == "__main__":
    asyncio.run(main())
