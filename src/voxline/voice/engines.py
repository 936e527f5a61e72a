"""Which STT, LLM and TTS hold a call, chosen per deployment by settings, built fresh for every call.

Cloud engines are Pipecat's own services; the offline default (faster-whisper + Piper, the `local`
extra) shares one loaded model per process. With no LLM configured the scripted brain answers, through
the same OpenAI-compatible service a real model would use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.llm_service import LLMService

from voxline.settings import Settings
from voxline.voice import local_models
from voxline.voice.catalog import Voice, voices
from voxline.voice.llm_stream import StreamingChatLLM


@dataclass(frozen=True)
class LLMEndpoint:
    base_url: str
    api_key: str
    model: str
    scripted: bool  # True when this is the scripted brain, not a model


class Engines(Protocol):
    """What the runtime asks for, once per call."""

    def llm_endpoint(self) -> LLMEndpoint: ...

    def stt(self) -> FrameProcessor: ...

    def tts(self, voice: Voice) -> FrameProcessor: ...


def llm_endpoint(settings: Settings) -> LLMEndpoint:
    if settings.llm_base_url:
        return LLMEndpoint(settings.llm_base_url, settings.llm_api_key or "not-needed", settings.llm_model, False)
    from voxline.voice import scripted_brain

    return LLMEndpoint(scripted_brain.shared().base_url, "scripted", scripted_brain.MODEL_NAME, True)


def make_llm(endpoint: LLMEndpoint, system_prompt: str) -> LLMService:
    """Pipecat's OpenAI LLM service with the turn's request and stream in plain JSON (see llm_stream)."""
    return StreamingChatLLM(
        api_key=endpoint.api_key,
        base_url=endpoint.base_url,
        settings=StreamingChatLLM.Settings(model=endpoint.model, system_instruction=system_prompt),
    )


class _GreedyWhisper:
    """The shared WhisperModel, decoding greedily: on a phone line, beam search costs ~2x for no gain we saw."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.supported_languages = getattr(model, "supported_languages", None)

    def transcribe(self, audio: Any, **options: Any) -> Any:
        options.setdefault("beam_size", 1)
        options.setdefault("without_timestamps", True)
        options.setdefault("condition_on_previous_text", False)
        return self._model.transcribe(audio, **options)


def _local_whisper(model_dir: Path) -> FrameProcessor:
    from pipecat.services.whisper.stt import WhisperSTTService

    class LocalWhisperSTT(WhisperSTTService):
        def _load(self) -> None:
            self._model = _GreedyWhisper(local_models.whisper_model(str(model_dir)))

    return LocalWhisperSTT(
        settings=WhisperSTTService.Settings(model=str(model_dir), language="en"), device="cpu", compute_type="int8"
    )


def _local_piper(voice: Voice) -> FrameProcessor:
    from pipecat.services.piper.tts import PiperTTSService
    from pipecat.services.tts_service import TTSService

    class LocalPiperTTS(PiperTTSService):
        """PiperTTSService with the bundled voice, loaded once per process (Pipecat's init would reload it)."""

        def __init__(self, voice_name: str) -> None:
            TTSService.__init__(
                self,
                push_start_frame=True,
                push_stop_frames=True,
                settings=PiperTTSService.Settings(model=None, voice=voice_name, language=None),
            )
            self._voice = local_models.piper_voice(voice_name)

    return LocalPiperTTS(voice.engine_voice)


def warm_up(settings: Settings) -> None:
    """Load the offline engines this deployment uses and run each once (blocking: call it on a thread).

    A cold Whisper or Piper takes seconds to load and to produce its first output, far longer on a busy CPU;
    paid by the first call, that is a caller hearing silence (or the first-audio watchdog ending the call).
    Cloud engines need no warming."""
    import numpy as np

    if settings.stt_engine == "whisper-local":
        model = local_models.whisper_model(str(local_models.whisper_model_dir(settings.data_dir / "models")))
        _GreedyWhisper(model).transcribe(np.zeros(8000, dtype=np.float32), language="en")
    for voice in voices(settings.tts_engines):
        if voice.engine == "piper":
            piper = local_models.piper_voice(voice.engine_voice)
            for _ in piper.synthesize("Hello."):
                pass


class DeploymentEngines:
    """The engines named by settings (VOXLINE_STT_ENGINE, VOXLINE_TTS_ENGINES, VOXLINE_LLM_*)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._endpoint: LLMEndpoint | None = None

    def llm_endpoint(self) -> LLMEndpoint:
        if self._endpoint is None:
            self._endpoint = llm_endpoint(self.settings)
        return self._endpoint

    def stt(self) -> FrameProcessor:
        s = self.settings
        if s.stt_engine == "whisper-local":
            return _local_whisper(local_models.whisper_model_dir(s.data_dir / "models"))
        if s.stt_engine == "deepgram":
            from pipecat.services.deepgram.stt import DeepgramSTTService

            return DeepgramSTTService(api_key=_need(s.deepgram_api_key or s.stt_api_key, "VOXLINE_DEEPGRAM_API_KEY"))
        from pipecat.services.openai.stt import OpenAISTTService

        return OpenAISTTService(api_key=_need(s.openai_api_key or s.stt_api_key, "VOXLINE_OPENAI_API_KEY"))

    def tts(self, voice: Voice) -> FrameProcessor:
        s = self.settings
        kind: Any
        if voice.engine == "piper":
            return _local_piper(voice)
        if voice.engine == "openai":
            from pipecat.services.openai.tts import OpenAITTSService as kind  # noqa: N813 - one name for the engine class

            key = _need(s.openai_api_key, "VOXLINE_OPENAI_API_KEY")
        elif voice.engine == "cartesia":
            from pipecat.services.cartesia.tts import CartesiaTTSService as kind  # noqa: N813

            key = _need(s.cartesia_api_key, "VOXLINE_CARTESIA_API_KEY")
        elif voice.engine == "elevenlabs":
            from pipecat.services.elevenlabs.tts import ElevenLabsTTSService as kind  # noqa: N813

            key = _need(s.elevenlabs_api_key, "VOXLINE_ELEVENLABS_API_KEY")
        else:
            raise ValueError(f"unknown TTS engine {voice.engine}")
        return kind(api_key=key, settings=kind.Settings(voice=voice.engine_voice))


def _need(value: str | None, name: str) -> str:
    if not value:
        raise RuntimeError(f"{name} is not set")
    return value
