"""Concurrent calls: how many conversations a server holds with steady 20 ms outgoing audio, and what
happens past that: calls wait in the dial queue instead of going silent.

Each level offers N sandbox calls (stand-in STT/TTS, the scripted brain) to --processes server processes
(default 1; `voxline serve --workers K` runs K such processes). Every call goes through the dial queue:
each server claims jobs with the dialer's own admission check and claim (dialer/worker.py), so a server
without room leaves calls queued; a claimed call's callee (a Twilio Media Streams peer, in a process of its
own) connects at --cps calls per second and stays on the line until the level ends. Each bot speaks
continuously (a long greeting) while its callee streams line noise back (above the VAD's level gate by
default, so Silero scores every window of every call: the worst case).

Per level, per admitted call: did the bot speak (silent: never, or only after the first-audio watchdog),
the share of its frames that left more than 40 ms after their clock deadline (sender side), and the
longest hole in what its callee hears, and the largest gap between frames its callee received. A carrier
plays the frames it is sent in order from its buffer (we send up to 200 ms ahead: voice/pacing.py), so
the callee hears a hole only when a frame arrives after the one before it has finished playing; a gap
between arrivals shorter than the buffered audio is not heard. Time stamps on both sides share the
machine's monotonic clock, so each frame's transit (write returned → callee read it) is known, and the
worst arrival gap is split into the sender's part and the transit's. A call stutters when its longest
hole exceeds --gap-ms (default 40 ms: two frames) or more than 1% of its frames left after the carrier
needed them (later than the lead). The server's garbage collections are counted per level (full ones and
the longest pause). The level passes when no admitted call is silent or stutters and every bot kept
talking; "waiting" calls were still queued when the level ended (the server had no room).

    python bench/concurrent_calls.py [--levels 20,40,80] [--secs 15] [--processes 1] [--max-calls 80]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
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
SETTLE_SECS = 1.0  # a call's first second of audio is its start-up, not its steady state
FRAME_SECS = 0.020
LEAD_MS = 200.0  # voice/pacing.py LEAD_FRAMES × 20 ms: a frame later than this left after the carrier needed it


# ---- the callees (one child process for the whole run) ---------------------------------------------
def _callees(targets: Any, results: Any, cps: float, noise_dbfs: float) -> None:
    """Starts one Twilio-protocol callee per target the servers send (at most `cps` a second); each stays on
    the line until its level's end. Per level reports every callee's receive times and its own loop lag."""
    import uvloop

    uvloop.run(_callees_main(targets, results, cps, noise_dbfs))


async def _callees_main(targets: Any, results: Any, cps: float, noise_dbfs: float) -> None:
    from voxline.devtools.twilio_peer import SILENCE, TwilioCallee, line_noise

    quiet = line_noise(noise_dbfs) if noise_dbfs > -100 else SILENCE
    levels: dict[int, list[tuple[str, TwilioCallee, asyncio.Task]]] = {}
    lag = [0.0]

    async def sampler() -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.05)
            lag[0] = max(lag[0], loop.time() - before - 0.05)

    async def hold(callee: TwilioCallee, until: float) -> None:
        task = asyncio.create_task(callee.run())
        await asyncio.sleep(max(0.0, until - time.monotonic()))
        task.cancel()
        with contextlib.suppress(BaseException):  # cancelled on purpose
            await task

    side = asyncio.create_task(sampler())
    next_start = 0.0
    cpu0 = os.times()
    while True:
        message = await asyncio.to_thread(targets.get)
        if message[0] == "stop":
            break
        if message[0] == "call":
            _, level_id, ws_url, session_id, call_id, until = message
            wait = next_start - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            next_start = max(next_start, time.monotonic()) + 1.0 / cps
            callee = TwilioCallee(
                ws_url,
                [],
                custom={"session_id": session_id, "call_id": call_id},
                record_timeline=False,
                speaks_first=True,
                quiet=quiet,
            )
            levels.setdefault(level_id, []).append((session_id, callee, asyncio.create_task(hold(callee, until))))
        elif message[0] == "report":
            level_id = message[1]
            held = levels.pop(level_id, [])
            await asyncio.gather(*(t for _, _, t in held), return_exceptions=True)
            cpu1 = os.times()
            results.put(
                {
                    "times": {sid: callee.heard.media_times for sid, callee, _ in held},
                    "cpu_s": cpu1.user - cpu0.user + cpu1.system - cpu0.system,
                    "loop_lag_ms": lag[0] * 1000,
                }
            )
            cpu0, lag[0] = os.times(), 0.0
    side.cancel()


# ---- a server process -------------------------------------------------------------------------------
def _server(conn: Any, targets: Any, max_calls: int | None, ramp: int | None, processes: int) -> None:
    """A loopback Voxline server on uvloop (as `voxline serve` runs) that claims and holds calls."""
    import uvloop

    uvloop.run(_serve(conn, targets, max_calls, ramp, processes))


async def _serve(conn: Any, targets: Any, max_calls: int | None, ramp: int | None, processes: int) -> None:
    from voxline.calls import plan as call_plan
    from voxline.calls.conversation import voice_runtime
    from voxline.devtools import loopback
    from voxline.devtools.demo import quiet_logs
    from voxline.devtools.standins import SECS_PER_CHAR, StandInEngines
    from voxline.dialer.worker import Dialer
    from voxline.voice import pacing, vad
    from voxline.voice.runtime import with_limits
    from voxline.voice.vad import batcher

    quiet_logs()
    pauses: list[tuple[int, float]] = []  # (generation, seconds) of each collection in the current level
    began = [0.0]

    def gc_watch(phase: str, info: dict) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], time.perf_counter() - began[0]))

    gc.callbacks.append(gc_watch)
    original = pacing.PacingStats.__init__

    def keep_samples(self, *a, **kw) -> None:  # noqa: ANN001 - the benchmark wants every frame's lateness
        original(self, *a, **kw)
        self.keep_samples = True

    pacing.PacingStats.__init__ = keep_samples  # type: ignore[method-assign]
    # Stand-in engines speak at once: the bound for them (real engines default to 4 s). The default
    # ceiling of calls shares the cores among the processes, as under `voxline serve --workers`.
    extra: dict[str, Any] = {"first_audio_timeout_secs": 1.5, "server_processes": processes}
    if max_calls:
        extra["max_calls_per_process"] = max_calls
    if ramp is not None:
        extra["admission_max_claims_per_sec"] = ramp
    with tempfile.TemporaryDirectory() as tmp:
        server = await loopback.start(Path(tmp), silence_timeout_secs=600, **extra)
        # Start the stand-in brain (a server thread) and Silero's session before the first level, as a
        # deployment's engines are up before its first call: not on the first call's event loop.
        await asyncio.to_thread(StandInEngines([]).llm_endpoint)
        await asyncio.to_thread(vad._session)  # noqa: SLF001 - the benchmark warms the process's VAD model
        sampler = asyncio.create_task(server.ctx.admission.sample_forever())
        dialer = Dialer(server.ctx)  # its admission check and claim; the "carrier" is the callee process
        try:
            while True:
                message = await asyncio.to_thread(conn.recv)
                if message[0] == "stop":
                    return
                _, level_id, share, level_secs = message
                placed = []
                for i in range(0, share, 25):
                    batch = range(i, min(share, i + 25))
                    placed += await asyncio.gather(*(server.place_call(end_call_enabled=False) for _ in batch))
                greeting = SENTENCE * math.ceil((level_secs + 5) / (len(SENTENCE) * SECS_PER_CHAR))
                runtimes = {}
                for call in placed:
                    rt = voice_runtime(
                        server.ctx, StandInEngines([]), adjust_plan=lambda p, g=greeting: with_limits(p, intro=g)
                    )
                    server.runtimes[call.session_id] = rt
                    runtimes[call.call_id] = rt
                conn.send("placed")
                await asyncio.to_thread(conn.recv)  # go
                refusals0 = dict(server.ctx.admission.refusals)
                pauses.clear()
                cpu0, loop0, scored0, wall0 = os.times(), time.thread_time(), batcher().rows, time.monotonic()
                end = wall0 + level_secs
                claimed: list[str] = []
                peak = 0
                while time.monotonic() < end - 3.0:  # late claims would have no steady state to measure
                    got = []
                    room = await dialer.room()
                    if room > 0:
                        got, _ = await dialer.claim_or_wait(min(room, 32), horizon_secs=0.0)
                    for one in got:
                        server.ctx.admission.claimed(one.call.id)
                        claimed.append(one.call.id)
                        call_plan.prefetch(server.ctx, one.call.session_id)  # as the dialer does as it places a call
                        targets.put(("call", level_id, server.ws_url, one.call.session_id, one.call.id, end))
                    peak = max(peak, server.ctx.admission.calls())
                    await asyncio.sleep(server.ctx.settings.dialer_poll_secs)
                while time.monotonic() < end:
                    peak = max(peak, server.ctx.admission.calls())
                    await asyncio.sleep(0.2)
                cpu1, loop1, scored1, wall1 = os.times(), time.thread_time(), batcher().rows, time.monotonic()
                waiting = [c for c in placed if c.call_id not in set(claimed)]
                for call in waiting:  # still queued: cancel, so the next level starts with an empty queue
                    await server.http.post(f"/calls/{call.call_id}/cancel", headers=call.headers)
                by_id = {c.call_id: c for c in placed}
                for call_id in claimed:
                    with contextlib.suppress(TimeoutError):
                        await server.wait_finished(by_id[call_id].session_id, 60)
                for call_id in claimed:
                    server.ctx.admission.settled(call_id)  # (a callee that never connected)
                refusals = {
                    k: v - refusals0.get(k, 0)
                    for k, v in server.ctx.admission.refusals.items()
                    if v > refusals0.get(k, 0)
                }
                results = []
                for call_id in claimed:
                    r = runtimes[call_id].last_result
                    results.append(
                        None
                        if r is None
                        else {
                            "session_id": by_id[call_id].session_id,
                            "lateness_ms": r.pacing.lateness_ms,
                            "sent_at": r.pacing.sent_at,
                            "written_at": r.pacing.written_at,
                            "first_audio_at": r.turn_clock.first_audio_at,
                            "media_started_at": r.turn_clock.media_started_at,
                            "reason": r.reason.value,
                            "interrupted": any(t.interrupted for t in r.transcript.turns),
                        }
                    )
                conn.send(
                    {
                        "offered": share,
                        "claimed": len(claimed),
                        "waiting": len(waiting),
                        "peak_held": peak,
                        "refusals": refusals,
                        "calls": [x for x in results if x is not None],
                        "missing": sum(1 for x in results if x is None),
                        "cpu_s": cpu1.user - cpu0.user + cpu1.system - cpu0.system,
                        "loop_cpu_s": loop1 - loop0,
                        "wall_s": wall1 - wall0,
                        "vad_windows": scored1 - scored0,
                        "gc_full": sum(1 for g, _ in pauses if g == 2),
                        "gc_max_ms": 1000 * max((d for _, d in pauses), default=0.0),
                    }
                )
        finally:
            sampler.cancel()
            await server.close()


# ---- one level --------------------------------------------------------------------------------------
def _call_gaps(call: dict, received: list[float], gap_ms: float) -> dict:
    """One call's worst gap at its callee, split into the sender's part and the transit's."""
    written = call["written_at"]
    n = min(len(written), len(received))
    if n < 3:
        return {
            "audible_gap_ms": float("nan"),
            "max_gap_ms": float("nan"),
            "stutter": False,
            "transit_ms": [],
            "gaps": [],
            "at": float("nan"),
            "received": [],
        }
    settle = received[0] + SETTLE_SECS
    # What the callee hears: the carrier plays frames in order from its buffer, each 20 ms long; a frame that
    # arrives after the one before it has finished playing leaves a hole of silence that long.
    played_until, holes = received[0] + FRAME_SECS, []
    for k in range(1, n):
        if received[k] > played_until and received[k - 1] >= settle:
            holes.append(received[k] - played_until)
        played_until = max(received[k], played_until) + FRAME_SECS
    audible = max(holes, default=0.0) * 1000
    gaps = [(received[k] - received[k - 1], k) for k in range(1, n) if received[k - 1] >= settle]
    worst, k = max(gaps) if gaps else (float("nan"), 0)
    transit = [(received[i] - written[i]) * 1000 for i in range(n) if received[i] >= settle]
    steady_late = [x for x, t in zip(call["lateness_ms"], call["sent_at"], strict=True) if t >= settle]
    late_share = sum(1 for x in steady_late if x > LEAD_MS) / len(steady_late) if steady_late else 0.0
    return {
        "at": received[k] if gaps else float("nan"),
        "gaps": gaps,
        "received": received,
        "max_gap_ms": worst * 1000,
        "sender_gap_ms": (written[k] - written[k - 1]) * 1000 if gaps else float("nan"),
        "write_ms": (written[k] - call["sent_at"][k]) * 1000 if gaps else float("nan"),
        "transit_ms": transit,
        "audible_gap_ms": audible,
        "stutter": audible > gap_ms or late_share > 0.01,
    }


def _recv_at(g: dict, k: int) -> float:
    return g["received"][k]


def level(
    servers: list[Any], targets: Any, results: Any, level_id: int, n: int, secs: float, cps: float, gap_ms: float
) -> dict:
    shares = [n // len(servers) + (1 if i < n % len(servers) else 0) for i in range(len(servers))]
    level_secs = secs + n / cps + 3.0
    for conn, share in zip(servers, shares, strict=True):
        conn.send(("level", level_id, share, level_secs))
    for conn in servers:
        conn.recv()  # placed
    for conn in servers:
        conn.send("go")
    reports = [conn.recv() for conn in servers]
    targets.put(("report", level_id))
    heard = results.get(True, 120)
    calls = [c for r in reports for c in r["calls"]]
    missing = sum(r["missing"] for r in reports)
    admitted = sum(r["claimed"] for r in reports)
    silent = missing + sum(1 for c in calls if c["first_audio_at"] is None or c["reason"] == "no_first_audio")
    first_delay = [c["first_audio_at"] - c["media_started_at"] for c in calls if c["first_audio_at"] is not None]
    per_call = [_call_gaps(c, heard["times"].get(c["session_id"], []), gap_ms) for c in calls]
    stuttering = sum(1 for g in per_call if g["stutter"])
    worst = max((g for g in per_call if g["max_gap_ms"] == g["max_gap_ms"]), key=lambda g: g["max_gap_ms"], default={})
    transit = [x for g in per_call for x in g["transit_ms"]]
    # The ramp: until the last admitted call's bot began to speak (new calls' start-up shares the loop).
    ramp_end = max((c["first_audio_at"] for c in calls if c["first_audio_at"] is not None), default=0.0)
    after_ramp = [gap for g in per_call for gap, k in g["gaps"] if k and gap == gap and _recv_at(g, k) > ramp_end]
    steady = [
        x
        for c in calls
        if c["first_audio_at"] is not None
        for x, t in zip(c["lateness_ms"], c["sent_at"], strict=True)
        if t >= c["first_audio_at"] + SETTLE_SECS
    ]
    late = sum(1 for x in steady if x > 40)
    wall = max(r["wall_s"] for r in reports)
    interrupted = sum(1 for c in calls if c["interrupted"])
    refusals: dict[str, int] = {}
    for r in reports:
        for k, v in r["refusals"].items():
            refusals[k] = refusals.get(k, 0) + v
    return {
        "offered": n,
        "processes": len(servers),
        "admitted": admitted,
        "peak_held": sum(r["peak_held"] for r in reports),
        "waiting": sum(r["waiting"] for r in reports),
        "silent": silent,
        "stuttering": stuttering,
        "interrupted": interrupted,
        "late_pct": round(100 * late / len(steady), 3) if steady else float("nan"),
        "p99_late_ms": round(percentile(steady, 99), 1),
        "first_audio_p99_ms": round(1000 * percentile(first_delay, 99), 1),
        "max_audible_gap_ms": round(
            max(
                (g["audible_gap_ms"] for g in per_call if g["audible_gap_ms"] == g["audible_gap_ms"]),
                default=float("nan"),
            ),
            1,
        ),
        "max_gap_ms": round(worst.get("max_gap_ms", float("nan")), 1),
        "its_sender_gap_ms": round(worst.get("sender_gap_ms", float("nan")), 1),
        "its_write_ms": round(worst.get("write_ms", float("nan")), 1),
        "worst_in_ramp": bool(worst) and worst["at"] <= ramp_end,
        "max_gap_after_ramp_ms": round(1000 * max(after_ramp), 1) if after_ramp else float("nan"),
        "transit_p99_ms": round(percentile(transit, 99), 1),
        "transit_max_ms": round(max(transit), 1) if transit else float("nan"),
        "callee_loop_lag_ms": round(heard["loop_lag_ms"], 1),
        "refusals": refusals,
        "server_cpu_pct": round(100 * sum(r["cpu_s"] for r in reports) / wall, 1),
        "busiest_loop_cpu_pct": round(100 * max(r["loop_cpu_s"] for r in reports) / wall, 1),
        "callee_cpu_pct": round(100 * heard["cpu_s"] / wall, 1),
        "gc_full": sum(r["gc_full"] for r in reports),
        "gc_max_ms": round(max(r["gc_max_ms"] for r in reports), 1),
        "vad_windows_per_call_s": round(sum(r["vad_windows"] for r in reports) / max(1, admitted) / wall, 1),
        "passed": admitted > 0 and silent == 0 and stuttering == 0 and interrupted == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="20,40,80")
    parser.add_argument("--secs", type=float, default=15.0, help="seconds the last admitted callee stays on the line")
    parser.add_argument("--cps", type=float, default=10.0, help="calls connecting per second")
    parser.add_argument("--processes", type=int, default=1, help="server processes the calls are spread over")
    parser.add_argument("--max-calls", type=int, default=None, help="VOXLINE_MAX_CALLS_PER_PROCESS (default: its)")
    parser.add_argument("--ramp", type=int, default=None, help="VOXLINE_ADMISSION_MAX_CLAIMS_PER_SEC (default: its)")
    parser.add_argument("--warmup", type=int, default=5, help="calls per process placed once before the levels")
    parser.add_argument(
        "--gap-ms", type=float, default=40.0, help="a longer hole in what the callee hears is a stutter"
    )
    parser.add_argument(
        "--line-noise-dbfs",
        type=float,
        default=-45.0,
        help="noise the callees' lines carry; the default is above the VAD's level gate, so "
        "Silero scores every window of every call (the worst case); -120 sends digital silence",
    )
    args = parser.parse_args()
    targets, results = SPAWN.Queue(), SPAWN.Queue()
    callee_proc = SPAWN.Process(target=_callees, args=(targets, results, args.cps, args.line_noise_dbfs), daemon=True)
    callee_proc.start()
    servers, procs = [], []
    for _ in range(args.processes):
        mine, theirs = SPAWN.Pipe()
        proc = SPAWN.Process(
            target=_server, args=(theirs, targets, args.max_calls, args.ramp, args.processes), daemon=True
        )
        proc.start()
        servers.append(mine)
        procs.append(proc)
    rows = []
    try:
        if args.warmup:  # a fresh process's first calls pay one-time set-up (imports, first pipelines): not measured
            level(servers, targets, results, 0, args.warmup * len(servers), 3.0, args.cps, args.gap_ms)
        for level_id, n in enumerate((int(x) for x in args.levels.split(",")), start=1):
            row = level(servers, targets, results, level_id, n, args.secs, args.cps, args.gap_ms)
            rows.append(row)
            print(row, flush=True)
    finally:
        for conn in servers:
            conn.send(("stop",))
        targets.put(("stop",))
        for proc in procs:
            proc.join(30)
        callee_proc.join(10)
    best = max((r["admitted"] for r in rows if r["passed"] and r["waiting"] == 0), default=0)
    print_table(
        f"Concurrent calls on {args.processes} server process(es), {os.cpu_count()} cores, "
        f"callees {args.secs:.0f} s, line noise {args.line_noise_dbfs} dBFS, stutter = a hole > {args.gap_ms:g} ms",
        rows,
        [
            "offered",
            "admitted",
            "peak_held",
            "waiting",
            "silent",
            "stuttering",
            "late_pct",
            "p99_late_ms",
            "first_audio_p99_ms",
            "max_audible_gap_ms",
            "max_gap_ms",
            "its_sender_gap_ms",
            "its_write_ms",
            "worst_in_ramp",
            "max_gap_after_ramp_ms",
            "transit_p99_ms",
            "transit_max_ms",
            "callee_loop_lag_ms",
            "gc_full",
            "gc_max_ms",
            "refusals",
            "server_cpu_pct",
            "busiest_loop_cpu_pct",
            "callee_cpu_pct",
            "passed",
        ],
    )
    print(f"\nlargest level held with no silent or stuttering call and none waiting: {best}")
    name = "concurrent_calls" if args.processes == 1 else f"concurrent_calls_{args.processes}proc"
    write_json(
        name,
        {
            "levels": rows,
            "largest_passed": best,
            "processes": args.processes,
            "secs_per_level": args.secs,
            "cps": args.cps,
            "gap_ms": args.gap_ms,
            "max_calls": args.max_calls,
            "ramp": args.ramp,
            "warmup": args.warmup,
            "line_noise_dbfs": args.line_noise_dbfs,
        },
    )


if __name__ == "__main__":
    main()
