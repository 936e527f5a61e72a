"""Turn latency: callee stops speaking → first bot audio on the wire.

Stand-in mode (default): instant stand-in STT and TTS, the scripted brain over its real HTTP path,
so what is measured is the platform's own share: transport, Silero VAD, turn taking, the LLM hop,
output pacing. The VAD's stop window (the silence it must hear before it may decide the turn is over)
is subtracted. Measured from the callee's side of the websocket, with the callee's lines trimmed so
the last frame sent is the end of speech. Several calls run at once to gather turns faster.

Offline mode (--engines offline): faster-whisper + Piper + scripted brain; reports the full
voice-to-voice latency (nothing subtracted).

    python bench/turn_latency.py [--turns 200] [--calls 4] [--engines standin|offline]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import print_table, summary_ms, write_json  # noqa: E402
from voxline.voice import callee_voice, loopback  # noqa: E402
from voxline.voice.demo import quiet_logs  # noqa: E402
from voxline.voice.engines import DeploymentEngines  # noqa: E402
from voxline.voice.runtime import VoiceRuntime  # noqa: E402
from voxline.voice.standins import StandInEngines  # noqa: E402
from voxline.voice.twilio_peer import TwilioCallee  # noqa: E402

STANDIN_LINE = "Yes, that works."
OFFLINE_LINES = ["I would like to book an appointment tomorrow.", "Yes, that works for me.",
                 "Can I cancel the other one?", "No, that is all."]


async def one_call(server, engines_kind: str, turns: int) -> tuple[list[float], list[int]]:
    call = await server.place_call(intro_message=None, end_call_enabled=False)
    if engines_kind == "standin":
        texts = [STANDIN_LINE] * turns
        engines = StandInEngines(texts)
    else:
        texts = [OFFLINE_LINES[i % len(OFFLINE_LINES)] for i in range(turns)]
        engines = DeploymentEngines(server.ctx.settings)
    runtime = VoiceRuntime(server.ctx, engines)
    server.runtimes[call.session_id] = runtime
    lines = [callee_voice.line(t, trim=True, pause_before_ms=150) for t in texts]
    callee = TwilioCallee(server.ws_url, lines, custom={"session_id": call.session_id},
                          hang_up_after_lines=True, reply_quiet_secs=0.5 if engines_kind == "standin" else 0.8,
                          record_timeline=False)
    heard = await callee.run()
    await server.wait_finished(call.session_id, 60)
    bot_latencies = [t.latency_ms for t in runtime.last_result.transcript.turns
                     if t.role == "bot" and t.latency_ms is not None]
    return heard.answer_delays(), bot_latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--engines", choices=["standin", "offline"], default="standin")
    args = parser.parse_args()
    quiet_logs()
    calls = args.calls if args.engines == "standin" else 1
    per_call = max(1, args.turns // calls)
    with tempfile.TemporaryDirectory() as tmp:
        server = await loopback.start(Path(tmp))
        try:
            stop_secs = server.ctx.settings.vad_stop_secs
            results = await asyncio.gather(*(one_call(server, args.engines, per_call) for _ in range(calls)))
        finally:
            await server.close()
    delays = [d for r in results for d in r[0]]
    runtime_ms = [ms for r in results for ms in r[1]]
    if args.engines == "standin":
        share = [d - stop_secs for d in delays]
        rows = [{"measure": "platform share (callee-side, minus VAD stop window)", "turns": len(share),
                 **summary_ms(share)},
                {"measure": "callee stops → first bot audio (raw)", "turns": len(delays), **summary_ms(delays)},
                {"measure": "runtime latency_ms minus stop window", "turns": len(runtime_ms),
                 **summary_ms([ms / 1000 - stop_secs for ms in runtime_ms])}]
        goal = {"p99_ms_goal": 30, "p99_ms": rows[0]["p99_ms"], "met": rows[0]["p99_ms"] <= 30}
    else:
        rows = [{"measure": "voice-to-voice (callee-side)", "turns": len(delays), **summary_ms(delays)},
                {"measure": "runtime latency_ms", "turns": len(runtime_ms),
                 **summary_ms([ms / 1000 for ms in runtime_ms])}]
        goal = {}
    print_table(f"Turn latency, {args.engines} engines, {calls} concurrent call(s), VAD stop window {stop_secs}s",
                rows, ["measure", "turns", "p50_ms", "p90_ms", "p99_ms", "mean_ms"])
    write_json(f"turn_latency_{args.engines}", {"engines": args.engines, "calls": calls,
                                                 "vad_stop_secs": stop_secs, "rows": rows, **goal})


if __name__ == "__main__":
    asyncio.run(main())
