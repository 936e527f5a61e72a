"""Concurrent calls: how many conversations one process holds with steady 20 ms outgoing audio.

N sandbox calls at once on one server process, with stand-in STT/TTS and the scripted brain. Each
bot speaks continuously (a long greeting) while its callee, a Twilio Media Streams peer, streams its
own 20 ms frames back. The callees run in a separate process so the server's CPU is its own; they
connect at --cps calls per second (as a dialer's calls-per-second limit would bring them), and the
steady state is measured once every call is up. For each N: the share of outgoing frames that left
more than 40 ms after their clock deadline (sender side), the worst lateness, the largest gap between
frames a callee received, and the server's CPU use. Frames during the ramp-up are reported apart.
The result is the largest N at which 99% of steady-state frames leave on time.

    python bench/concurrent_calls.py [--levels 10,25,50,75,100,150] [--secs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import percentile, print_table, write_json  # noqa: E402

GREETING = "I am reading you a long message so that you keep hearing me. " * 40  # ~30 s of stand-in audio


def _callees(ws_url: str, sessions: list[str], secs: float, cps: float, noise_dbfs: float, out: mp.Queue) -> None:
    """Child process: one Twilio-protocol callee per session; reports the largest inter-frame gap seen."""
    from voxline.voice.twilio_peer import SILENCE, TwilioCallee, line_noise

    quiet = line_noise(noise_dbfs) if noise_dbfs > -100 else SILENCE

    async def one(index: int, session_id: str) -> float:
        await asyncio.sleep(index / cps)
        callee = TwilioCallee(ws_url, [], custom={"session_id": session_id}, record_timeline=False,
                              speaks_first=True, quiet=quiet)
        task = asyncio.create_task(callee.run())
        await asyncio.sleep(secs + (len(sessions) - index) / cps)
        task.cancel()
        try:
            await task
        except BaseException:  # noqa: BLE001 - cancelled on purpose
            pass
        times = callee.heard.media_times
        settled = [t for t in times if t > times[0] + 1.0] if times else []  # skip the start-up second
        gaps = [b - a for a, b in zip(settled, settled[1:], strict=False)]
        return max(gaps) if gaps else float("nan")

    async def all_() -> list[float]:
        return await asyncio.gather(*(one(i, s) for i, s in enumerate(sessions)))

    import uvloop

    out.put(uvloop.run(all_()))


async def level(server, n: int, secs: float, cps: float, noise_dbfs: float) -> dict:
    from voxline.voice.runtime import VoiceRuntime, with_limits
    from voxline.voice.standins import StandInEngines

    calls = [await server.place_call(end_call_enabled=False) for _ in range(n)]
    runtimes = []
    for call in calls:
        # The API caps a greeting at 500 characters; the benchmark wants the bot talking the whole time.
        rt = VoiceRuntime(server.ctx, StandInEngines([]), adjust_plan=lambda p: with_limits(p, intro=GREETING))
        server.runtimes[call.session_id] = rt
        runtimes.append(rt)
    queue: mp.Queue = mp.get_context("spawn").Queue()
    child = mp.get_context("spawn").Process(target=_callees, args=(server.ws_url, [c.session_id for c in calls],
                                                                    secs, cps, noise_dbfs, queue))
    from voxline.voice.vad import batcher

    scored0 = batcher().rows
    cpu0, wall0, loop0 = os.times(), time.monotonic(), time.thread_time()
    child.start()
    gaps = await asyncio.to_thread(queue.get, True, secs + 120)
    cpu1, wall1, loop1 = os.times(), time.monotonic(), time.thread_time()
    scored = batcher().rows - scored0
    await asyncio.to_thread(child.join, 30)
    for call in calls:
        await server.wait_finished(call.session_id, 120)
    results = [rt.last_result for rt in runtimes if rt.last_result is not None]
    stats = [r.pacing for r in results]
    # Steady state: from one second after the last call began to talk.
    firsts = sorted((r.turn_clock.first_audio_at or 0.0) - wall0 for r in results)
    print(f"  {len(results)} results; first bot audio from {firsts[0]:.1f} s to {firsts[-1]:.1f} s; "
          f"last frame {max((t for s in stats for t in s.sent_at), default=0) - wall0:.1f} s", flush=True)
    steady_from = max((r.turn_clock.first_audio_at or 0.0) for r in results) + 1.0
    steady = [x for s in stats for x, t in zip(s.lateness_ms, s.sent_at, strict=True) if t >= steady_from]
    ramp = [x for s in stats for x, t in zip(s.lateness_ms, s.sent_at, strict=True) if t < steady_from]
    late = sum(1 for x in steady if x > 40)
    steady_secs = max(1e-9, max((t for s in stats for t in s.sent_at), default=steady_from) - steady_from)
    interrupted = sum(1 for r in results if any(t.interrupted for t in r.transcript.turns))
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (wall1 - wall0)
    return {
        "calls": n,
        "steady_frames": len(steady),
        "frames_per_call_s": round(len(steady) / n / steady_secs, 1),  # 50 when every bot talks throughout
        "interrupted_calls": interrupted,  # the VAD took line noise for speech (should stay 0)
        "late_pct": round(100 * late / len(steady), 3) if steady else float("nan"),
        "p99_late_ms": round(percentile(steady, 99), 1),
        "max_late_ms": round(max(steady), 1) if steady else float("nan"),
        "ramp_late_pct": round(100 * sum(1 for x in ramp if x > 40) / len(ramp), 1) if ramp else float("nan"),
        "max_gap_ms_at_callee": round(1000 * max(g for g in gaps if g == g), 1) if gaps else float("nan"),
        "server_cpu_pct": round(100 * cpu, 1),
        "loop_cpu_pct": round(100 * (loop1 - loop0) / (wall1 - wall0), 1),  # the event-loop thread alone
        "vad_windows_per_call_s": round(scored / n / (wall1 - wall0), 1),
        "on_time": bool(steady) and late / len(steady) <= 0.01,
    }


async def main() -> None:
    from voxline.voice import loopback, pacing
    from voxline.voice.demo import quiet_logs

    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="10,25,50,75,100,150")
    parser.add_argument("--secs", type=float, default=15.0, help="steady-state seconds per level")
    parser.add_argument("--cps", type=float, default=10.0, help="calls connecting per second")
    parser.add_argument("--line-noise-dbfs", type=float, default=-45.0,
                        help="noise the callees' lines carry; the default is above the VAD's level gate, so "
                             "Silero scores every window of every call (the worst case); -120 sends digital silence")
    args = parser.parse_args()
    quiet_logs()
    original = pacing.PacingStats.__init__

    def keep_samples(self, *a, **kw) -> None:  # noqa: ANN001 - benchmark wants every frame's lateness
        original(self, *a, **kw)
        self.keep_samples = True

    pacing.PacingStats.__init__ = keep_samples  # type: ignore[method-assign]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server = await loopback.start(Path(tmp), silence_timeout_secs=600)
        try:
            for n in (int(x) for x in args.levels.split(",")):
                row = await level(server, n, args.secs, args.cps, args.line_noise_dbfs)
                rows.append(row)
                print(row, flush=True)
        finally:
            await server.close()
    best = max((r["calls"] for r in rows if r["on_time"]), default=0)
    print_table(f"Concurrent calls on one process ({os.cpu_count()} cores), {args.secs:.0f} s each level",
                rows, ["calls", "steady_frames", "frames_per_call_s", "interrupted_calls", "late_pct",
                       "p99_late_ms", "max_late_ms", "ramp_late_pct", "max_gap_ms_at_callee", "server_cpu_pct",
                       "loop_cpu_pct", "vad_windows_per_call_s", "on_time"])
    print(f"\nlargest N with 99% of frames on time (< 40 ms late): {best}  (goal >= 100)")
    write_json("concurrent_calls", {"levels": rows, "largest_on_time": best, "goal": 100,
                                    "secs_per_level": args.secs, "cps": args.cps,
                                    "line_noise_dbfs": args.line_noise_dbfs})


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())  # the event loop `voxline serve` runs on (uvicorn picks uvloop when installed)
