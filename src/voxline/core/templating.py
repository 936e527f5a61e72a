"""`{{name}}` placeholders in prompts and greetings: discovery and substitution."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_VARIABLES = 100
MAX_VALUE_CHARS = 1000
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")


def placeholders(*texts: str | None) -> list[str]:
    """Names used as `{{name}}` in the texts, in first-seen order, without repeats."""
    seen: dict[str, None] = {}
    for text in texts:
        for match in _PLACEHOLDER.finditer(text or ""):
            seen.setdefault(match.group(1), None)
    return list(seen)


def render(text: str | None, values: Mapping[str, str]) -> str | None:
    """Substitute `{{name}}` placeholders; names without a value render as ""."""
    if text is None:
        return None
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)


def stringify(value: str | int | float | bool) -> str:
    """How a call variable reads inside a prompt: booleans as true/false, whole floats without .0."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def undeclared(names: Iterable[str], declared: Iterable[str]) -> list[str]:
    allowed = set(declared)
    return sorted(n for n in names if n not in allowed)
