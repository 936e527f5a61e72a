"""Stand-in STT and TTS engines, for tests and benchmarks only: instant and deterministic.

They sit behind the same Pipecat service interfaces as the real engines (a segmented STT fed by the
real Silero VAD, a TTS service whose audio goes through the real output transport), so everything
around them runs for real. What they fake, and say so: the stand-in STT does not recognise speech, it
returns the next line of a script the test gave it for each speech segment the VAD found; the stand-in
TTS does not speak words, it emits a quiet tone as long as the text would take to say.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncGenerator, Iterable

from pipecat.frames.frames import ErrorFrame, Frame, TranscriptionFrame, TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.settings import STTSettings, TTSSettings
from pipecat.services.stt_service import SegmentedSTTService
from pipecat.services.tts_service import TTSService
from pipecat.utils.time import time_now_iso8601

from voxline.voice.catalog import Voice
from voxline.voice.engines import LLMEndpoint, llm_endpoint

SECS_PER_CHAR = 0.012  # a stand-in "speaking rate": 60 characters ≈ 0.7 s of audio


class StandInSTT(SegmentedSTTService):
    """Returns the script's next line for every speech segment (stand-in: no recognition happens)."""

    def __init__(self, script: Iterable[str], **kwargs) -> None:
        super().__init__(settings=STTSettings(model=None, language=None), trailing_silence_secs=0, **kwargs)
        self._script = deque(script)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        if not self._script:
            yield ErrorFrame("stand-in STT: the script has no more lines")
            return
        yield TranscriptionFrame(self._script.popleft(), "", time_now_iso8601(), finalized=True)


class StandInTTS(TTSService):
    """A quiet 440 Hz tone with the length the text would take to say (stand-in: no words)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            push_start_frame=True, push_stop_frames=True,
            settings=TTSSettings(model=None, voice="standin", language=None), **kwargs,
        )

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        rate = self.sample_rate
        samples = max(1, int(len(text) * SECS_PER_CHAR * rate))
        chunk = rate // 50  # 20 ms
        for start in range(0, samples, chunk * 10):
            n = min(chunk * 10, samples - start)
            pcm = b"".join(
                int(2000 * math.sin(2 * math.pi * 440 * (start + i) / rate)).to_bytes(2, "little", signed=True)
                for i in range(n)
            )
            yield TTSAudioRawFrame(pcm, rate, 1, context_id=context_id)


class StandInEngines:
    """Stand-in STT and TTS with the configured (by default scripted) LLM endpoint."""

    def __init__(self, script: Iterable[str] = (), endpoint: LLMEndpoint | None = None) -> None:
        self._script = list(script)
        self._endpoint = endpoint

    def llm_endpoint(self) -> LLMEndpoint:
        if self._endpoint is None:
            from voxline.settings import Settings

            self._endpoint = llm_endpoint(Settings(llm_base_url=None))
        return self._endpoint

    def stt(self) -> FrameProcessor:
        return StandInSTT(self._script)

    def tts(self, voice: Voice) -> FrameProcessor:
        return StandInTTS()
