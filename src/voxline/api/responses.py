"""The one success shape, `{"success": true, "data": <model>}`, and the error responses documented on every
route, so the OpenAPI document matches what the server answers."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from voxline.api.schemas import Envelope, ErrorEnvelope

M = TypeVar("M", bound=BaseModel)


def ok(data: M) -> Envelope[M]:
    """Wrap an already-built data model. The handler's return annotation names the same Envelope[...], so
    FastAPI documents it and, finding an instance of that very class, does not validate it a second time."""
    return Envelope[type(data)].model_construct(data=data)  # type: ignore[index]

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
