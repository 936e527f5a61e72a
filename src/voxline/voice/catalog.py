"""Voices this deployment can speak. Ids are UUIDv5 of engine + voice name, so they never change.

Which engines a deployment offers is its `Settings.tts_engines`: the API passes the settings of the app
it runs in (`ctx.settings`), so two apps in one process may offer different voices.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

_NAMESPACE = uuid.UUID("6f1d9a52-5c1e-4c0b-9a57-2d0f3e4b8a11")


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    engine: str
    engine_voice: str
    language: str
    gender: str
    tier: str
    description: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _voice(engine: str, engine_voice: str, name: str, language: str, gender: str, description: str) -> Voice:
    vid = str(uuid.uuid5(_NAMESPACE, f"{engine}:{engine_voice}"))
    return Voice(vid, name, engine, engine_voice, language, gender, "VA 1", description)


# The offline default engine (Piper) ships one English voice with the `local` extra.
OFFLINE_VOICES: tuple[Voice, ...] = (
    _voice("piper", "en_US-joe-medium", "Joe", "en", "male", "US English, calm; offline (Piper)"),
)


# Cloud engines (Pipecat services); offered only when the deployment lists the engine in its tts_engines.
CLOUD_VOICES: tuple[Voice, ...] = (
    *(
        _voice("openai", name, name.title(), "en", gender, f"OpenAI TTS voice {name}")
        for name, gender in (("alloy", "neutral"), ("echo", "male"), ("nova", "female"), ("shimmer", "female"))
    ),
    _voice("cartesia", "79a125e8-cd45-4c13-8a67-188112f4dd22", "British Lady", "en", "female", "Cartesia"),
    _voice("cartesia", "71a7ad14-091c-4e8e-a314-022ece01c121", "British Reading Lady", "en", "female", "Cartesia"),
    _voice("elevenlabs", "21m00Tcm4TlvDq8ikWAM", "Rachel", "en", "female", "ElevenLabs"),
    _voice("elevenlabs", "pNInz6obpgDQGcFmaJgB", "Adam", "en", "male", "ElevenLabs"),
)
ALL_VOICES: tuple[Voice, ...] = OFFLINE_VOICES + CLOUD_VOICES


def engine_names(spec: str) -> list[str]:
    return [e.strip().lower() for e in spec.split(",") if e.strip()]


def voices(engines: str | None = None) -> tuple[Voice, ...]:
    """Voices of the TTS engines in `engines` (a comma list, as `Settings.tts_engines`; piper when empty).

    The app always passes its own settings' list. Without one (a script holding no settings) the
    settings read from the environment decide.
    """
    if engines is None:
        from voxline.settings import Settings

        engines = Settings().tts_engines
    wanted = engine_names(engines) or ["piper"]
    return tuple(v for v in ALL_VOICES if v.engine in wanted)


def find(voice_id: str, engines: str | None = None) -> Voice | None:
    return next((v for v in voices(engines) if v.id == voice_id), None)


def find_any(voice_id: str) -> Voice | None:
    """Any known voice, configured or not: a running call still speaks with the voice its agent saved."""
    return next((v for v in ALL_VOICES if v.id == voice_id), None)
