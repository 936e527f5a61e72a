"""Turn latency: callee stops speaking → first bot audio on the wire.

Stand-in mode (default): instant stand-in STT and TTS, the scripted brain over its real HTTP path,
so what is measured is the platform's own share: transport, Silero VAD, turn taking, the LLM hop,
output pacing. The VAD's stop window (the silence it must hear before it may decide the turn is over)
is subtracted. Measured from the callee's side of the websocket, with the callee's lines trimmed so
the last frame sent is the end of speech. Several calls run at once to gather turns faster.

The callees run in processes of their own and the scripted brain in another (as a real model server
would), so that neither shares the measured process's event loop or interpreter lock.

Offline mode (--engines offline): faster-whisper + Piper + scripted brain; reports the full
voice-to-voice latency (nothing subtracted).

    python bench/turn_latency.py [--turns 200] [--calls 4] [--engines standin|offline] [--trace]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import print_table, summary_ms, write_json  # noqa: E402
from voxline.calls.conversation import voice_runtime  # noqa: E402
from voxline.devtools import callee_voice, loopback  # noqa: E402
from voxline.devtools.demo import quiet_logs  # noqa: E402
from voxline.devtools.standins import StandInEngines  # noqa: E402
from voxline.devtools.twilio_peer import TwilioCallee  # noqa: E402
from voxline.voice import scripted_brain  # noqa: E402
from voxline.voice.engines import DeploymentEngines, LLMEndpoint  # noqa: E402

STANDIN_LINE = "Yes, that works."
OFFLINE_LINES = [
    "I would like to book an appointment tomorrow.",
    "Yes, that works for me.",
    "Can I cancel the other one?",
    "No, that is all.",
]


def _callee_process(ws_url: str, session_id: str, texts: list[str], reply_quiet_secs: float, out) -> None:  # noqa: ANN001
    """Child process: the callee, so that its own sending and listening do not share the server's loop."""
    import uvloop

    lines = [callee_voice.line(t, trim=True, pause_before_ms=150) for t in texts]
    callee = TwilioCallee(
        ws_url,
        lines,
        custom={"session_id": session_id},
        hang_up_after_lines=True,
        reply_quiet_secs=reply_quiet_secs,
        record_timeline=False,
    )
    out.put(uvloop.run(callee.run()).answer_delays())


class HopTrace:
    """--trace: when each step after the VAD's decision first happened, per turn (one call at a time).

    Wraps Pipecat's FrameProcessor.push_frame and our TurnClock in this process, so it costs a little on every
    frame: a diagnostic, not the figure itself."""

    STEPS = ("transcription", "context to LLM", "first LLM text", "first TTS audio", "first audio sent")

    def __init__(self) -> None:
        self.turns: list[dict[str, float]] = []
        self._open: dict[str, float] | None = None

    def install(self) -> None:
        import time

        from pipecat.frames import frames as pf
        from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

        from voxline.voice.pacing import TurnClock

        kinds = (
            (pf.TranscriptionFrame, "transcription"),
            (pf.LLMContextFrame, "context to LLM"),
            (pf.LLMTextFrame, "first LLM text"),
            (pf.TTSAudioRawFrame, "first TTS audio"),
        )
        trace = self
        push, stopped, sent = FrameProcessor.push_frame, TurnClock.user_stopped, TurnClock.audio_sent

        async def push_frame(proc, frame, direction=FrameDirection.DOWNSTREAM):  # noqa: ANN001, ANN202
            turn = trace._open
            if turn is not None:
                for kind, name in kinds:
                    if isinstance(frame, kind) and name not in turn:
                        turn[name] = time.monotonic()
            return await push(proc, frame, direction)

        def user_stopped(clock, vad_frame):  # noqa: ANN001, ANN202
            stopped(clock, vad_frame)
            trace._open = {"vad": clock.user_stopped_at + vad_frame.stop_secs}

        def audio_sent(clock):  # noqa: ANN001, ANN202
            ms = sent(clock)
            if ms is not None and trace._open is not None:
                trace._open["first audio sent"] = time.monotonic()
                trace.turns.append(trace._open)
                trace._open = None
            return ms

        FrameProcessor.push_frame = push_frame  # type: ignore[method-assign]
        TurnClock.user_stopped = user_stopped  # type: ignore[method-assign]
        TurnClock.audio_sent = audio_sent  # type: ignore[method-assign]

    def rows(self) -> list[dict]:
        out = []
        for step in self.STEPS:
            after = [t[step] - t["vad"] for t in self.turns if step in t]
            out.append({"measure": f"VAD decision → {step}", "turns": len(after), **summary_ms(after)})
        both = [t for t in self.turns if "first LLM text" in t and "context to LLM" in t]
        hop = [t["first LLM text"] - t["context to LLM"] for t in both]
        out.append({"measure": "LLM hop: context → first LLM text", "turns": len(hop), **summary_ms(hop)})
        return out


async def one_call(server, engines_kind: str, turns: int, brain: LLMEndpoint) -> tuple[list[float], list[int]]:
    call = await server.place_call(intro_message=None, end_call_enabled=False)
    if engines_kind == "standin":
        texts = [STANDIN_LINE] * turns
        engines = StandInEngines(texts, endpoint=brain)
    else:
        texts = [OFFLINE_LINES[i % len(OFFLINE_LINES)] for i in range(turns)]
        engines = DeploymentEngines(server.ctx.settings)
    runtime = voice_runtime(server.ctx, engines)
    server.runtimes[call.session_id] = runtime
    spawn = mp.get_context("spawn")
    out = spawn.Queue()
    child = spawn.Process(
        target=_callee_process,
        args=(server.ws_url, call.session_id, texts, 0.5 if engines_kind == "standin" else 0.8, out),
    )
    child.start()
    delays = await asyncio.to_thread(out.get, True, 600)
    await asyncio.to_thread(child.join, 30)
    await server.wait_finished(call.session_id, 60)
    bot_latencies = [
        t.latency_ms for t in runtime.last_result.transcript.turns if t.role == "bot" and t.latency_ms is not None
    ]
    return delays, bot_latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--engines", choices=["standin", "offline"], default="standin")
    parser.add_argument("--trace", action="store_true", help="also time each step after the VAD (one call)")
    args = parser.parse_args()
    quiet_logs()
    calls = args.calls if args.engines == "standin" and not args.trace else 1
    trace = HopTrace() if args.trace else None
    if trace is not None:
        trace.install()
    per_call = max(1, args.turns // calls)
    # The stand-in model runs in a process of its own, as a real model server would: in this process its
    # HTTP handling would queue behind the calls for the interpreter lock and be counted as ours.
    brain_process = scripted_brain.start_process()
    brain = LLMEndpoint(brain_process.base_url, "scripted", scripted_brain.MODEL_NAME, True)
    with tempfile.TemporaryDirectory() as tmp:
        server = await loopback.start(Path(tmp))
        try:
            stop_secs = server.ctx.settings.vad_stop_secs
            cpu0 = time.process_time()
            results = await asyncio.gather(*(one_call(server, args.engines, per_call, brain) for _ in range(calls)))
            cpu_s = time.process_time() - cpu0
        finally:
            await server.close()
            brain_process.stop()
    delays = [d for r in results for d in r[0]]
    runtime_ms = [ms for r in results for ms in r[1]]
    if args.engines == "standin":
        # Silero decides on 32 ms windows: the stop window it actually waits is a whole number of them.
        window = 512 / 16000
        effective = round(stop_secs / window) * window
        share = [d - effective for d in delays]
        after_vad = [ms / 1000 - stop_secs for ms in runtime_ms]  # the runtime stamps from (decision - stop_secs)
        rows = [
            {"measure": "callee stops → first bot audio (raw)", "turns": len(delays), **summary_ms(delays)},
            {
                "measure": f"callee-side minus the VAD's stop window ({effective * 1000:.0f} ms)",
                "turns": len(share),
                **summary_ms(share),
            },
            {
                "measure": "VAD decided the turn is over → first bot audio sent",
                "turns": len(after_vad),
                **summary_ms(after_vad),
            },
        ]
        # The callee-side share still holds the VAD's quantization (the end of speech falls anywhere in a
        # 32 ms window, and input arrives in 40 ms frames); after the decision is the platform alone.
        goal = {
            "p99_ms_goal": 30,
            "after_vad_p99_ms_goal": 20,
            "callee_side_p99_ms": rows[1]["p99_ms"],
            "after_vad_p99_ms": rows[2]["p99_ms"],
            "met_after_vad": rows[2]["p99_ms"] <= 20,
            "met_callee_side": rows[1]["p99_ms"] <= 30,
        }
    else:
        rows = [
            {"measure": "voice-to-voice (callee-side)", "turns": len(delays), **summary_ms(delays)},
            {"measure": "runtime latency_ms", "turns": len(runtime_ms), **summary_ms([ms / 1000 for ms in runtime_ms])},
        ]
        goal = {}
    if trace is not None:
        rows += trace.rows()
    # This process's CPU (server, pipelines; the callees and the brain run elsewhere) per bot turn: less
    # sensitive to other jobs' load than the wall figures. Includes the calls' set-up and idle listening.
    cpu_per_turn = cpu_s / max(1, len(runtime_ms)) * 1000
    print(f"\nserver process CPU per bot turn: {cpu_per_turn:.1f} ms ({cpu_s:.1f} s over {len(runtime_ms)} turns)")
    goal["cpu_ms_per_turn"] = round(cpu_per_turn, 2)
    print_table(
        f"Turn latency, {args.engines} engines, {calls} concurrent call(s), VAD stop window {stop_secs}s",
        rows,
        ["measure", "turns", "p50_ms", "p90_ms", "p99_ms", "mean_ms"],
    )
    write_json(
        f"turn_latency_{args.engines}",
        {"engines": args.engines, "calls": calls, "vad_stop_secs": stop_secs, "rows": rows, **goal},
    )


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())  # the event loop `voxline serve` runs on (uvicorn picks uvloop when installed)
