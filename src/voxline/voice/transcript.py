"""The call's transcript as it happens: user turns from the STT, bot turns from what was actually spoken.

Bot text is taken after the output transport, in the units the TTS engine reports (sentences for Piper,
words for engines with timestamps), so an interrupted reply keeps what had started to go out, and is
marked `interrupted`. Each bot turn that answers the callee carries `latency_ms` (callee stopped speaking → first bot
audio sent to the carrier, stamped by the paced transport). Listeners (the demo's live view) get every
finished turn.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipecat.frames.frames import (
    AggregatedTextFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voxline.core.timefmt import iso


def _now_iso() -> str:
    return iso(datetime.now(UTC))


@dataclass
class Turn:
    role: str  # "user" | "bot"
    content: str
    timestamp: str
    latency_ms: int | None = None
    interrupted: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content, "timestamp": self.timestamp}
        if self.role == "bot":
            out["latency_ms"] = self.latency_ms
        else:
            out["latency_ms"] = None
        if self.interrupted:
            out["interrupted"] = True
        return out


@dataclass
class Transcript:
    turns: list[Turn] = field(default_factory=list)
    listeners: list[Callable[[Turn], None]] = field(default_factory=list)
    _bot: Turn | None = None
    _pending_latency: int | None = None
    _closed_at: float | None = None
    _last_closed: Turn | None = None
    _reopened: bool = False

    # user side
    def user_said(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        last = self.turns[-1] if self.turns else None
        if last is not None and last.role == "user" and self._bot is None:
            last.content = f"{last.content} {text}"
            return
        self._close_bot()
        turn = Turn("user", text, _now_iso())
        self.turns.append(turn)
        self._emit(turn)

    # bot side
    def answered_after(self, latency_ms: int) -> None:
        if self._bot is not None and self._bot.latency_ms is None:
            self._bot.latency_ms = latency_ms
        else:
            self._pending_latency = latency_ms

    def bot_started(self) -> None:
        if self._bot is None:
            self._bot = Turn("bot", "", _now_iso(), latency_ms=self._pending_latency)
            self._pending_latency = None

    def bot_text(self, text: str) -> None:
        if self._bot is None and self._just_closed():
            # Pipecat's "bot stopped speaking" is a system frame and may overtake the text frame of the
            # sentence that just finished playing: that text belongs to the turn that just ended.
            self._bot, self._reopened = self._last_closed, True
            self.bot_text(text)
            self._close_bot()
            return
        if self._bot is None:
            self.bot_started()
        assert self._bot is not None
        self._bot.content = (
            (self._bot.content + text)
            if text.startswith(" ") or not self._bot.content
            else (self._bot.content + " " + text)
        )

    def bot_stopped(self, interrupted: bool = False, cut_sentence: str | None = None) -> None:
        """End the bot's turn. On an interruption, `cut_sentence` is the sentence that was playing."""
        if interrupted and self._bot is None and self._just_closed():
            # The transport reports "bot stopped" just before the interruption that caused it passes by.
            self._bot, self._reopened = self._last_closed, True
        if self._bot is not None:
            self._bot.interrupted = self._bot.interrupted or interrupted
            if interrupted and cut_sentence:
                self.bot_text(cut_sentence)
        self._close_bot()

    def _just_closed(self) -> bool:
        return (
            self._last_closed is not None and self._closed_at is not None and time.monotonic() - self._closed_at < 0.5
        )

    def _close_bot(self) -> None:
        bot, self._bot = self._bot, None
        reopened, self._reopened = self._reopened, False
        self._closed_at = time.monotonic()
        self._last_closed = bot
        if bot is None or not bot.content.strip():
            return
        bot.content = " ".join(bot.content.split())
        if reopened and any(turn is bot for turn in self.turns):
            return  # already written down (and announced) when it first closed
        self.turns.append(bot)
        self._emit(bot)

    def finish(self) -> None:
        self._close_bot()

    def _emit(self, turn: Turn) -> None:
        for listener in self.listeners:
            with contextlib.suppress(Exception):  # a broken listener must not break the call
                listener(turn)

    # results
    def as_list(self) -> list[dict[str, Any]]:
        return [t.as_dict() for t in self.turns]

    def latency_summary(self) -> dict[str, int] | None:
        values = [t.latency_ms for t in self.turns if t.role == "bot" and t.latency_ms is not None]
        if not values:
            return None
        return {"min_ms": min(values), "max_ms": max(values), "avg_ms": round(sum(values) / len(values))}

    def said(self, role: str) -> list[str]:
        return [t.content for t in self.turns if t.role == role]


class BotTap(FrameProcessor):
    """After the output transport: records what the bot actually said, turn by turn."""

    def __init__(
        self,
        transcript: Transcript,
        take_latency: Callable[[], int | None],
        on_bot_stopped: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._t = transcript
        self._take_latency = take_latency
        self._on_bot_stopped = on_bot_stopped
        self._speaking: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame) and direction == FrameDirection.DOWNSTREAM:
            self._t.bot_started()
        elif isinstance(frame, OutputAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
            # Audio passes here only after the transport sent it: the turn's latency is known now.
            latency = self._take_latency()
            if latency is not None:
                self._t.answered_after(latency)
        elif isinstance(frame, TTSTextFrame):
            self._t.bot_text(frame.text)
            if self._speaking:
                self._speaking.pop(0)
        elif isinstance(frame, AggregatedTextFrame) and direction == FrameDirection.DOWNSTREAM:
            # Sent as the TTS starts a sentence, before its audio plays: what the bot is about to say.
            self._speaking.append(frame.text)
        elif isinstance(frame, BotStoppedSpeakingFrame) and direction == FrameDirection.DOWNSTREAM:
            self._t.bot_stopped()
            if self._on_bot_stopped:
                self._on_bot_stopped()
        elif isinstance(frame, InterruptionFrame):
            cut = self._speaking[0] if self._speaking else None
            self._speaking.clear()
            self._t.bot_stopped(interrupted=True, cut_sentence=cut)
        await self.push_frame(frame, direction)
