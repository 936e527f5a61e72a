"""Concurrent calls: how many conversations a server holds with steady 20 ms outgoing audio.

N sandbox calls at once, with stand-in STT/TTS and the scripted brain, on --processes server processes
(default 1: the issue's "one process"; `voxline serve --workers K` runs K such processes, each holding
the calls whose media websocket it accepted). Each bot speaks continuously (a long greeting) while its
callee, a Twilio Media Streams peer, streams its own 20 ms frames back: line noise above the VAD's level
gate by default, so Silero scores every window of every call (the worst case). The callees run in a
process of their own; they connect at --cps calls per second (as a dialer's calls-per-second limit
would bring them), and the steady state is measured once every call is up.

For each N: frames per call per second in the steady state (50 when every bot talks throughout), calls
the VAD wrongly interrupted, the share of outgoing frames that left more than 40 ms after their clock
deadline (sender side), the worst lateness, the largest gap between frames a callee received (the
callee process's own delays included), CPU of the server processes together and of their busiest
event-loop thread. The result is the largest N at which 99% of steady-state frames leave on time,
every bot kept talking and none was interrupted.

    python bench/concurrent_calls.py [--levels 10,25,50,75,100] [--secs 15] [--processes 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import percentile, print_table, write_json  # noqa: E402

SENTENCE = "I am reading you a long message so that you keep hearing me. "
SPAWN = mp.get_context("spawn")


# ---- the callees (one child process) ----------------------------------------------------------------
def _callees(targets: list[tuple[str, str]], secs: float, cps: float, noise_dbfs: float, out: Any) -> None:
    """One Twilio-protocol callee per (websocket URL, session); reports the largest inter-frame gap seen."""
    import uvloop

    from voxline.devtools.twilio_peer import SILENCE, TwilioCallee, line_noise

    quiet = line_noise(noise_dbfs) if noise_dbfs > -100 else SILENCE

    async def one(index: int, ws_url: str, session_id: str) -> float:
        await asyncio.sleep(index / cps)
        callee = TwilioCallee(
            ws_url, [], custom={"session_id": session_id}, record_timeline=False, speaks_first=True, quiet=quiet
        )
        task = asyncio.create_task(callee.run())
        await asyncio.sleep(secs + (len(targets) - index) / cps)
        task.cancel()
        with contextlib.suppress(BaseException):  # cancelled on purpose
            await task
        times = callee.heard.media_times
        settled = [t for t in times if t > times[0] + 1.0] if times else []  # skip the start-up second
        gaps = [b - a for a, b in zip(settled, settled[1:], strict=False)]
        return max(gaps) if gaps else float("nan")

    async def all_() -> list[float]:
        return await asyncio.gather(*(one(i, url, s) for i, (url, s) in enumerate(targets)))

    t0 = os.times()
    gaps = uvloop.run(all_())
    t1 = os.times()
    out.put((gaps, t1.user - t0.user + t1.system - t0.system))


# ---- a server process -------------------------------------------------------------------------------
def _server(conn: Any) -> None:
    """A loopback Voxline server on uvloop (as `voxline serve` runs) that holds the calls it is given."""
    import uvloop

    uvloop.run(_serve(conn))


async def _serve(conn: Any) -> None:
    from voxline.calls.conversation import voice_runtime
    from voxline.devtools import loopback
    from voxline.devtools.demo import quiet_logs
    from voxline.devtools.standins import SECS_PER_CHAR, StandInEngines
    from voxline.voice import pacing
    from voxline.voice.runtime import with_limits
    from voxline.voice.vad import batcher

    quiet_logs()
    original = pacing.PacingStats.__init__

    def keep_samples(self, *a, **kw) -> None:  # noqa: ANN001 - the benchmark wants every frame's lateness
        original(self, *a, **kw)
        self.keep_samples = True

    pacing.PacingStats.__init__ = keep_samples  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        server = await loopback.start(Path(tmp), silence_timeout_secs=600)
        try:
            while True:
                message = await asyncio.to_thread(conn.recv)
                if message[0] == "stop":
                    return
                calls = [await server.place_call(end_call_enabled=False) for _ in range(message[1])]
                # The bot talks for longer than the level lasts (the stand-in TTS speaks SECS_PER_CHAR a char).
                greeting = SENTENCE * math.ceil(message[2] / (len(SENTENCE) * SECS_PER_CHAR))
                runtimes = []
                for call in calls:
                    # The API caps a greeting at 500 characters; the bot must talk the whole time here.
                    rt = voice_runtime(
                        server.ctx, StandInEngines([]), adjust_plan=lambda p, g=greeting: with_limits(p, intro=g)
                    )
                    server.runtimes[call.session_id] = rt
                    runtimes.append(rt)
                conn.send([(server.ws_url, c.session_id) for c in calls])
                await asyncio.to_thread(conn.recv)  # the callees start
                cpu0, loop0, scored0 = os.times(), time.thread_time(), batcher().rows
                await asyncio.to_thread(conn.recv)  # the callees are done
                cpu1, loop1, scored1 = os.times(), time.thread_time(), batcher().rows
                for call in calls:
                    await server.wait_finished(call.session_id, 120)
                results = [rt.last_result for rt in runtimes if rt.last_result is not None]
                conn.send(
                    {
                        "calls": [
                            {
                                "lateness_ms": r.pacing.lateness_ms,
                                "sent_at": r.pacing.sent_at,
                                "first_audio_at": r.turn_clock.first_audio_at,
                                "interrupted": any(t.interrupted for t in r.transcript.turns),
                            }
                            for r in results
                        ],
                        "missing": len(calls) - len(results),
                        "cpu_s": cpu1.user - cpu0.user + cpu1.system - cpu0.system,
                        "loop_cpu_s": loop1 - loop0,
                        "vad_windows": scored1 - scored0,
                    }
                )
        finally:
            await server.close()


# ---- one level --------------------------------------------------------------------------------------
def level(servers: list[Any], n: int, secs: float, cps: float, noise_dbfs: float) -> dict:
    shares = [n // len(servers) + (1 if i < n % len(servers) else 0) for i in range(len(servers))]
    for conn, share in zip(servers, shares, strict=True):
        conn.send(("level", share, secs + n / cps + 10))
    per_server = [conn.recv() for conn in servers]
    # Interleave so that consecutive callees land on different processes, as a shared listening socket
    # spreads connections.
    targets = [t for group in zip(*per_server, strict=False) for t in group]
    targets += [t for group in per_server for t in group[min(map(len, per_server)) :]]
    queue = SPAWN.Queue()
    child = SPAWN.Process(target=_callees, args=(targets, secs, cps, noise_dbfs, queue))
    for conn in servers:
        conn.send("go")
    wall0 = time.monotonic()
    child.start()
    gaps, callee_cpu_s = queue.get(True, secs + n / cps + 120)
    wall1 = time.monotonic()
    for conn in servers:
        conn.send("done")
    child.join(30)
    reports = [conn.recv() for conn in servers]
    calls = [c for r in reports for c in r["calls"]]
    missing = sum(r["missing"] for r in reports)
    firsts = [c["first_audio_at"] for c in calls]
    never = sum(1 for f in firsts if f is None)
    # Steady state: from one second after the last call began to talk.
    steady_from = max((f for f in firsts if f is not None), default=wall0) + 1.0
    sent = [t for c in calls for t in c["sent_at"]]
    steady_to = max(sent, default=steady_from)
    steady = [x for c in calls for x, t in zip(c["lateness_ms"], c["sent_at"], strict=True) if t >= steady_from]
    ramp = [x for c in calls for x, t in zip(c["lateness_ms"], c["sent_at"], strict=True) if t < steady_from]
    late = sum(1 for x in steady if x > 40)
    wall = wall1 - wall0
    steady_secs = max(1e-9, steady_to - steady_from)
    frames_per_call_s = len(steady) / n / steady_secs
    interrupted = sum(1 for c in calls if c["interrupted"])
    return {
        "calls": n,
        "processes": len(servers),
        "steady_s": round(steady_secs, 1),
        "steady_frames": len(steady),
        "frames_per_call_s": round(frames_per_call_s, 1),
        "silent_calls": never + missing,  # calls whose bot never spoke (no media stream held: `missing`)
        "unheld_calls": missing,
        "interrupted_calls": interrupted,
        "late_pct": round(100 * late / len(steady), 3) if steady else float("nan"),
        "p99_late_ms": round(percentile(steady, 99), 1),
        "max_late_ms": round(max(steady), 1) if steady else float("nan"),
        "ramp_late_pct": round(100 * sum(1 for x in ramp if x > 40) / len(ramp), 1) if ramp else float("nan"),
        "max_gap_ms_at_callee": round(1000 * max(g for g in gaps if g == g), 1) if gaps else float("nan"),
        "server_cpu_pct": round(100 * sum(r["cpu_s"] for r in reports) / wall, 1),
        "busiest_loop_cpu_pct": round(100 * max(r["loop_cpu_s"] for r in reports) / wall, 1),
        "callee_cpu_pct": round(100 * callee_cpu_s / wall, 1),  # the load generator, on the same cores
        "vad_windows_per_call_s": round(sum(r["vad_windows"] for r in reports) / n / wall, 1),
        "on_time": bool(steady)
        and steady_secs >= 2
        and late / len(steady) <= 0.01
        and frames_per_call_s >= 49
        and interrupted == 0
        and never + missing == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="10,25,50,75,100")
    parser.add_argument("--secs", type=float, default=15.0, help="seconds each callee stays on the line")
    parser.add_argument("--cps", type=float, default=10.0, help="calls connecting per second")
    parser.add_argument("--processes", type=int, default=1, help="server processes the calls are spread over")
    parser.add_argument(
        "--line-noise-dbfs",
        type=float,
        default=-45.0,
        help="noise the callees' lines carry; the default is above the VAD's level gate, so "
        "Silero scores every window of every call (the worst case); -120 sends digital silence",
    )
    args = parser.parse_args()
    servers, procs = [], []
    for _ in range(args.processes):
        mine, theirs = SPAWN.Pipe()
        proc = SPAWN.Process(target=_server, args=(theirs,), daemon=True)
        proc.start()
        servers.append(mine)
        procs.append(proc)
    rows = []
    try:
        for n in (int(x) for x in args.levels.split(",")):
            row = level(servers, n, args.secs, args.cps, args.line_noise_dbfs)
            rows.append(row)
            print(row, flush=True)
    finally:
        for conn in servers:
            conn.send(("stop",))
        for proc in procs:
            proc.join(30)
    best = max((r["calls"] for r in rows if r["on_time"]), default=0)
    print_table(
        f"Concurrent calls on {args.processes} server process(es), {os.cpu_count()} cores, "
        f"callees {args.secs:.0f} s each, line noise {args.line_noise_dbfs} dBFS",
        rows,
        [
            "calls",
            "steady_s",
            "frames_per_call_s",
            "silent_calls",
            "interrupted_calls",
            "late_pct",
            "p99_late_ms",
            "max_late_ms",
            "ramp_late_pct",
            "max_gap_ms_at_callee",
            "server_cpu_pct",
            "busiest_loop_cpu_pct",
            "callee_cpu_pct",
            "vad_windows_per_call_s",
            "on_time",
        ],
    )
    print(f"\nlargest N with 99% of frames on time (< 40 ms late), every bot talking: {best}  (goal >= 100)")
    name = "concurrent_calls" if args.processes == 1 else f"concurrent_calls_{args.processes}proc"
    write_json(
        name,
        {
            "levels": rows,
            "largest_on_time": best,
            "goal": 100,
            "processes": args.processes,
            "secs_per_level": args.secs,
            "cps": args.cps,
            "line_noise_dbfs": args.line_noise_dbfs,
        },
    )


if __name__ == "__main__":
    main()
