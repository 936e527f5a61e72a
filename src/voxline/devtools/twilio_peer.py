"""A simulated callee on a Twilio Media Streams websocket: speaks its lines, hears and records the bot.

It is a real websocket client speaking Twilio's wire format (connected/start/media/stop JSON, μ-law
8 kHz in 20 ms frames, paced by the clock like a phone line, silence between lines) so the runtime is
exercised exactly as a carrier would drive it. It records every bot frame it receives on a timeline,
counts `clear` messages (barge-in) and can hang up. Used by the voice tests, the benchmarks and, until
the carrier emulators drive it, `voxline demo`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

FRAME = 160  # 20 ms of 8 kHz μ-law
SILENCE = b"\xff" * FRAME


def line_noise(dbfs: float, seed: int = 0) -> bytes:
    """One 20 ms μ-law frame of white noise at `dbfs` RMS: what a real line carries between words."""
    rng = np.random.default_rng(seed)
    pcm = rng.standard_normal(FRAME) * (32768.0 * 10 ** (dbfs / 20))
    return lin2ulaw(np.clip(pcm, -32768, 32767).astype(np.int16))


def lin2ulaw(pcm: np.ndarray) -> bytes:
    """int16 → G.711 μ-law, bit-identical to the classic audioop table."""
    v = pcm.astype(np.int32) >> 2
    neg = v < 0
    v = np.where(neg, -v, v)
    mask = np.where(neg, 0x7F, 0xFF)
    v = np.minimum(v, 8159) + 33
    seg = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), v)
    u = np.where(seg >= 8, 0x7F, (seg << 4) | ((v >> (seg + 1)) & 0xF))
    return (u ^ mask).astype(np.uint8).tobytes()


def ulaw2lin(data: bytes) -> np.ndarray:
    u = (~np.frombuffer(data, dtype=np.uint8).astype(np.int32)) & 0xFF
    sign, exp, mant = u & 0x80, (u >> 4) & 7, u & 0x0F
    x = (((mant << 3) + 0x84) << exp) - 0x84
    return np.where(sign != 0, -x, x).astype(np.int16)


def to_8k(pcm: np.ndarray, rate: int) -> np.ndarray:
    if rate == 8000:
        return pcm.astype(np.int16)
    import soxr

    return soxr.resample(pcm.astype(np.float32) / 32768.0, rate, 8000).clip(-1, 1).__mul__(32767).astype(np.int16)


@dataclass
class Line:
    """One thing the callee says. `barge_in_after_ms`: start while the bot talks, this long into its turn."""

    text: str
    pcm8k: np.ndarray
    barge_in_after_ms: int | None = None
    pause_before_ms: int = 400


@dataclass
class Heard:
    """What the callee heard: bot audio (8 kHz PCM, on the callee's timeline) and protocol events."""

    audio: bytearray = field(default_factory=bytearray)
    media_times: list[float] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    marks: int = 0
    frames_after_clear: list[int] = field(default_factory=list)
    line_ended_at: list[float] = field(default_factory=list)  # monotonic time each line's last frame was sent
    closed_by_server: bool = False

    def pcm(self) -> np.ndarray:
        return ulaw2lin(bytes(self.audio))

    def answer_delays(self) -> list[float]:
        """For each line the callee said: seconds from its last frame to the bot's next audio frame."""
        out = []
        for ended in self.line_ended_at:
            first = next((t for t in self.media_times if t > ended), None)
            if first is not None:
                out.append(first - ended)
        return out


class TwilioCallee:
    def __init__(
        self,
        url: str,
        lines: list[Line],
        *,
        call_sid: str | None = None,
        custom: dict[str, str] | None = None,
        hang_up_after_lines: bool = False,
        stay_silent_secs: float = 60.0,
        record_timeline: bool = True,
        speaks_first: bool = False,
        reply_quiet_secs: float = 0.8,
        quiet: bytes = SILENCE,
    ) -> None:
        self.url = url
        self.lines = lines
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.custom = custom or {}
        self.hang_up_after_lines = hang_up_after_lines
        self.stay_silent_secs = stay_silent_secs
        self.record_timeline = record_timeline
        self.speaks_first = speaks_first  # an answering machine starts its greeting at once
        self.reply_quiet_secs = reply_quiet_secs  # this much bot silence means its answer is over
        self.quiet = quiet  # what the line carries while the callee says nothing (μ-law, one 20 ms frame)
        self.heard = Heard()
        self._bot_last_media = 0.0
        self._bot_turn_started: float | None = None
        self._t0 = 0.0
        self._sent = 0

    def _media(self, payload: bytes) -> str:
        return json.dumps(
            {
                "event": "media",
                "streamSid": self.stream_sid,
                "media": {"track": "inbound", "payload": base64.b64encode(payload).decode()},
            }
        )

    async def run(self) -> Heard:
        import websockets

        async with websockets.connect(self.url, max_size=None, open_timeout=10, compression=None) as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(
                json.dumps(
                    {
                        "event": "start",
                        "sequenceNumber": "1",
                        "streamSid": self.stream_sid,
                        "start": {
                            "streamSid": self.stream_sid,
                            "callSid": self.call_sid,
                            "accountSid": "AC" + "0" * 32,
                            "tracks": ["inbound"],
                            "customParameters": self.custom,
                            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                        },
                    }
                )
            )
            reader = asyncio.create_task(self._read(ws))
            try:
                await self._speak(ws, reader)
            finally:
                if not reader.done():
                    with contextlib.suppress(Exception):
                        await ws.send(json.dumps({"event": "stop", "streamSid": self.stream_sid}))
                    await ws.close()
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
        return self.heard

    async def _read(self, ws) -> None:  # noqa: ANN001
        try:
            async for raw in ws:
                msg = json.loads(raw)
                event = msg.get("event")
                now = time.monotonic()
                if event == "media":
                    payload = base64.b64decode(msg["media"]["payload"])
                    if (self._bot_last_media and now - self._bot_last_media > 0.3) or self._bot_turn_started is None:
                        self._bot_turn_started = now
                    self._bot_last_media = now
                    self.heard.media_times.append(now)
                    if self.record_timeline:
                        self.heard.audio += payload
                    if self.heard.clears:
                        self.heard.frames_after_clear[-1] += 1
                elif event == "clear":
                    self.heard.clears.append(now)
                    self.heard.frames_after_clear.append(0)
                elif event == "mark":
                    self.heard.marks += 1
                    await ws.send(json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": msg.get("mark")}))
        except Exception:  # noqa: BLE001 - the server closing is how most calls end
            pass
        self.heard.closed_by_server = True

    async def _send_frames(self, ws, frames: list[bytes], reader: asyncio.Task) -> bool:  # noqa: ANN001
        """Send 20 ms frames on the callee's clock. False when the call is over."""
        for frame in frames:
            if reader.done():
                return False
            self._sent += 1
            deadline = self._t0 + self._sent * 0.020
            delay = deadline - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await ws.send(self._media(frame))
            except Exception:  # noqa: BLE001
                return False
        return True

    async def _silence_until(self, ws, reader: asyncio.Task, done) -> bool:  # noqa: ANN001
        start = time.monotonic()
        while not done():
            if time.monotonic() - start > self.stay_silent_secs:
                return not reader.done()
            if not await self._send_frames(ws, [self.quiet], reader):
                return False
        return True

    def _bot_quiet_for(self, secs: float) -> bool:
        return self._bot_last_media > 0 and time.monotonic() - self._bot_last_media > secs

    async def _speak(self, ws, reader: asyncio.Task) -> None:  # noqa: ANN001
        self._t0 = time.monotonic()
        self._sent = 0
        if not self.speaks_first and (not self.lines or self.lines[0].barge_in_after_ms is None):
            # Let the bot's greeting play out (or time out if it has none).
            await self._silence_until(ws, reader, lambda: self._bot_quiet_for(0.6) or time.monotonic() - self._t0 > 8)
        for line in self.lines:
            if line.barge_in_after_ms is not None:
                # Wait for the bot to be talking (its greeting, or its next turn), then talk over it.
                mark = self._bot_last_media if self._bot_quiet_for(0.3) else 0.0
                ok = await self._silence_until(ws, reader, lambda m=mark: self._bot_last_media > m)
                if not ok:
                    return
                started = time.monotonic()
                await self._silence_until(
                    ws, reader, lambda s=started, b=line.barge_in_after_ms: time.monotonic() - s > b / 1000
                )
            else:
                start = time.monotonic()
                await self._silence_until(
                    ws, reader, lambda s=start, p=line.pause_before_ms: time.monotonic() - s > p / 1000
                )
            ulaw = lin2ulaw(line.pcm8k)
            frames = [ulaw[i : i + FRAME].ljust(FRAME, b"\xff") for i in range(0, len(ulaw), FRAME)]
            if not await self._send_frames(ws, frames, reader):
                return
            self.heard.line_ended_at.append(time.monotonic())
            # Wait for the bot's answer to finish.
            mark = time.monotonic()
            ok = await self._silence_until(
                ws, reader, lambda m=mark: self._bot_last_media > m and self._bot_quiet_for(self.reply_quiet_secs)
            )
            if not ok:
                return
        if self.hang_up_after_lines:
            return
        await self._silence_until(ws, reader, lambda: reader.done())
