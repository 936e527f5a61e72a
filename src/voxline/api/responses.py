"""Error responses documented on every route, so the OpenAPI document matches what the server answers."""

from __future__ import annotations

from typing import Any

from voxline.api.schemas import ErrorEnvelope

_DESCRIPTIONS = {
    400: "Invalid request (see error.code)",
    401: "Missing or invalid API key",
    403: "Not allowed for this account",
    404: "Not found in this account",
    405: "Method not allowed",
    409: "Conflict",
    429: "Rate or concurrency limit reached",
    500: "Internal error",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    wanted = {400, 401, 404, 405, 429, 500, *codes}
    return {c: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[c]} for c in sorted(wanted)}
