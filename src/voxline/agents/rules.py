"""Agent rules the API enforces beyond field shapes: voices, declared variables, transfer settings."""

from __future__ import annotations

from typing import Any

from voxline.core import errors
from voxline.core.templating import MAX_VARIABLES, VARIABLE_NAME, placeholders
from voxline.voice import catalog

DEFAULT_END_CALL_MESSAGE = "Thank you for your time. Goodbye!"
DEFAULT_TRANSFER_MESSAGE = "Please hold while I transfer your call."
DEFAULT_MAX_CALL_DURATION_SECS = 600


def voice_or_error(voice_id: str, engines: str) -> catalog.Voice:
    """The voice, when it belongs to one of the deployment's TTS `engines` (its settings' tts_engines)."""
    voice = catalog.find(voice_id, engines)
    if voice is None:
        raise errors.InvalidVoice()
    return voice


def declared_variables(explicit: list[str] | None, prompt: str, intro: str | None) -> list[str]:
    """The names a call may fill: the explicit list when given, else the `{{name}}`s the texts use."""
    names = list(dict.fromkeys(explicit)) if explicit is not None else placeholders(prompt, intro)
    bad = [n for n in names if not VARIABLE_NAME.match(n)]
    if bad:
        raise errors.InvalidVariables(
            f"Variable names must match ^[A-Za-z_][A-Za-z0-9_]{{0,63}}$: {', '.join(map(repr, bad[:5]))}."
        )
    if len(names) > MAX_VARIABLES:
        raise errors.InvalidVariables(f"An agent declares at most {MAX_VARIABLES} variables ({len(names)} found).")
    return names


def check_transfer(enabled: bool, number: str | None) -> None:
    if enabled and not number:
        raise errors.ValidationError(
            "transfer_number is required when transfer is enabled.",
            details=[{"field": "transfer_number", "code": "MISSING_FIELD", "message": "required"}],
        )


def check_extraction_keys(config: dict[str, Any] | None) -> None:
    if not config:
        return
    names = [k["name"] for k in config.get("keys", [])]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise errors.ValidationError(f"extraction_config.keys has repeated names: {', '.join(dupes)}.")
