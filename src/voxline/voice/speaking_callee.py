"""A simulated callee that speaks real lines on a carrier emulator's media leg.

The carrier emulators (sandbox/) play a tone as their callee. For the demo (and its end-to-end test)
the callee should say words a speech recogniser can hear: this replaces the emulator's talk task for
one emulator instance with one that plays the given lines (8 kHz PCM16) in the carrier's own wire
format, waits for the bot to answer each (it listens to what the emulator receives), and then stays
on the line silently until someone hangs up.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

SILENCE_FRAME = bytes(320)  # 20 ms of 8 kHz PCM16
FRAME_SECS = 0.020


def speaking_talk(lines: list[bytes], on_line: Callable[[int], None] | None = None):  # noqa: ANN201
    """An emulator talk task that says `lines`, each after the bot has finished speaking."""

    async def talk(emulator: Any, call: Any, ws: Any, stream_id: str) -> None:
        seq = 0
        started = time.monotonic()
        last_heard = [0, time.monotonic()]  # bytes heard, when that count last grew

        def bot_quiet_for(secs: float) -> bool:
            size = len(call.heard)
            if size != last_heard[0]:
                last_heard[0], last_heard[1] = size, time.monotonic()
            return size > 0 and time.monotonic() - last_heard[1] > secs

        async def send(pcm: bytes) -> None:
            nonlocal seq
            await ws.send(json.dumps(emulator.wire.media(call, stream_id, pcm, seq)))
            seq += 1
            await asyncio.sleep(max(0.0, started + seq * FRAME_SECS - time.monotonic()))

        async def silence_until(done: Callable[[], bool], limit: float) -> None:
            deadline = time.monotonic() + limit
            while not done() and time.monotonic() < deadline:
                await send(SILENCE_FRAME)

        await silence_until(lambda: bot_quiet_for(0.8), 10.0)  # the bot's greeting
        for index, pcm in enumerate(lines):
            await silence_until(lambda: False, 0.3)
            if on_line:
                on_line(index)
            for i in range(0, len(pcm), 320):
                await send(pcm[i:i + 320].ljust(320, b"\x00"))
            mark = len(call.heard)
            await silence_until(lambda m=mark: len(call.heard) > m and bot_quiet_for(0.8), 20.0)
        while True:
            await send(SILENCE_FRAME)

    return talk


def install(emulator: Any, lines: list[bytes], on_line: Callable[[int], None] | None = None) -> None:
    """Make this emulator instance's callee speak `lines` (the instance attribute shadows its talk task)."""
    task = speaking_talk(lines, on_line)

    async def bound(call: Any, ws: Any, stream_id: str) -> None:
        await task(emulator, call, ws, stream_id)

    emulator._talk = bound
