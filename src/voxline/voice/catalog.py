"""Voices this deployment can speak. Ids are UUIDv5 of engine + voice name, so they never change."""

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


def voices() -> tuple[Voice, ...]:
    return OFFLINE_VOICES


def find(voice_id: str) -> Voice | None:
    return next((v for v in voices() if v.id == voice_id), None)
