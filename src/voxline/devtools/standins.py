"""Stand-in STT and TTS engines, for tests and benchmarks only: instant and deterministic.

They sit behind the same Pipecat service interfaces as the real engines (a segmented STT fed by the
real Silero VAD, a TTS service whose audio goes through the real output transport), so everything
around them runs for real. What they fake, and say so: the stand-in STT does not recognise speech, it
returns the next line of a script the test gave it for each speech segment the VAD found; the stand-in
TTS does not speak words, it emits a quiet tone as long as the text would take to say.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Iterable
from functools import lru_cache
from typing import Any

import numpy as np
from pipecat.frames.frames import ErrorFrame, Frame, TranscriptionFrame, TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.settings import STTSettings, TTSSettings
from pipecat.services.stt_service import SegmentedSTTService
from pipecat.services.tts_service import TTSService
from pipecat.utils.time import time_now_iso8601

from voxline.voice.catalog import Voice
from voxline.voice.engines import LLMEndpoint

SECS_PER_CHAR = 0.012  # a stand-in "speaking rate": 60 characters ≈ 0.7 s of audio


class StandInSTT(SegmentedSTTService):
    """Returns the script's next line for every speech segment (stand-in: no recognition happens)."""

    def __init__(self, script: Iterable[str], **kwargs: Any) -> None:
        super().__init__(settings=STTSettings(model=None, language=None), trailing_silence_secs=0, **kwargs)
        self._script = deque(script)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        if not self._script:
            yield ErrorFrame("stand-in STT: the script has no more lines")
            return
        yield TranscriptionFrame(self._script.popleft(), "", time_now_iso8601(), finalized=True)


class StandInTTS(TTSService):
    """A quiet 440 Hz tone with the length the text would take to say (stand-in: no words)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model=None, voice="standin", language=None),
            **kwargs,
        )

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        rate = self.sample_rate
        pcm = _tone(rate)
        total = max(2, int(len(text) * SECS_PER_CHAR * rate)) * 2  # bytes of PCM16
        step = rate // 5 * 2  # 200 ms per frame pushed, as a streaming TTS would
        for start in range(0, total, step):
            n = min(step, total - start)
            chunk = (pcm * (n // len(pcm) + 1))[:n] if n > len(pcm) else pcm[:n]
            yield TTSAudioRawFrame(chunk, rate, 1, context_id=context_id)


@lru_cache(maxsize=1)
def _scripted_endpoint() -> LLMEndpoint:
    from voxline.voice import scripted_brain

    return LLMEndpoint(scripted_brain.shared().base_url, "scripted", scripted_brain.MODEL_NAME, True)


@lru_cache(maxsize=4)
def _tone(rate: int) -> bytes:
    """200 ms of a quiet 440 Hz tone (a whole number of cycles, so chunks join without clicks)."""
    t = np.arange(rate // 5) / rate
    return (2000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).tobytes()


class StandInEngines:
    """Stand-in STT and TTS with the configured (by default scripted) LLM endpoint."""

    def __init__(self, script: Iterable[str] = (), endpoint: LLMEndpoint | None = None) -> None:
        self._script = list(script)
        self._endpoint = endpoint

    def llm_endpoint(self) -> LLMEndpoint:
        if self._endpoint is None:
            self._endpoint = _scripted_endpoint()
        return self._endpoint

    def stt(self) -> FrameProcessor:
        return StandInSTT(self._script)

    def tts(self, voice: Voice) -> FrameProcessor:
        return StandInTTS()
