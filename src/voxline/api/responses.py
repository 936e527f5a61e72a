"""The one success shape, `{"success": true, "data": <model>}`, and the error responses documented on every
route (with the codes each can answer), so the OpenAPI document matches what the server answers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

from voxline.api.schemas import Envelope, ErrorEnvelope
from voxline.core import errors as e

M = TypeVar("M", bound=BaseModel)


_ENVELOPES: dict[type[BaseModel], type[Envelope[Any]]] = {}


def ok(data: M) -> Envelope[M]:
    """Wrap an already-built data model. The handler's return annotation names the same Envelope[...], so
    FastAPI documents it and, finding an instance of that very class, does not validate it a second time.

    Measured on /calls/start's body: `Envelope[X]` costs ~6 us per lookup (hence the cache), `model_construct`
    is slower than pydantic-core's validation of an already-built model (~1 us), and the whole is cheaper than
    FastAPI validating a hand-built dict."""
    kind = type(data)
    envelope = _ENVELOPES.get(kind)
    if envelope is None:
        envelope = _ENVELOPES[kind] = Envelope[kind]  # type: ignore[valid-type]
    return envelope(data=data)  # type: ignore[return-value]


_DESCRIPTIONS = {
    400: "Invalid request",
    401: "Missing or invalid API key",
    403: "Not allowed for this account",
    404: "Not found in this account",
    405: "Method not allowed",
    409: "Conflict with the current state",
    410: "No longer valid",
    429: "Rate or concurrency limit reached",
    500: "Internal error",
    503: "This server cannot place the call now (its configuration)",
}

# What any operation can answer: the request checks every body and query goes through, the key check, the
# rate limit, an unknown id, a wrong method.
_COMMON: tuple[type[e.ApiError], ...] = (
    e.ValidationError,
    e.InvalidJson,
    e.InvalidContentType,
    e.BodyTooLarge,
    e.UnknownField,
    e.MissingField,
    e.InvalidType,
    e.StringTooLong,
    e.InvalidCharacter,
    e.InvalidNumber,
    e.Unauthorized,
    e.Forbidden,
    e.NotFound,
    e.MethodNotAllowed,
    e.RateLimited,
    e.InternalError,
)


def _responses(statuses: Iterable[int], raised: tuple[type[e.ApiError], ...]) -> dict[int | str, dict[str, Any]]:
    kinds = [*_COMMON, *raised]
    wanted = sorted({*statuses, *(k.status for k in raised)})
    out: dict[int | str, dict[str, Any]] = {}
    for status in wanted:
        codes = list(dict.fromkeys(k.code for k in kinds if k.status == status))
        listed = ", ".join(f"`{c}`" for c in codes)
        shown = next((k.code for k in raised if k.status == status), codes[0] if codes else None)
        example = {"success": False, "error": {"code": shown, "message": "…"}} if shown else None
        out[status] = {
            "model": ErrorEnvelope,
            "description": f"{_DESCRIPTIONS[status]}. `error.code` is one of: {listed}."
            if codes
            else _DESCRIPTIONS[status],
            **({"content": {"application/json": {"example": example}}} if example else {}),
        }
    return out


_BASE = (400, 401, 404, 405, 429, 500)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A router's error responses: the common ones, plus the statuses its routes add."""
    return _responses({*_BASE, *statuses}, ())


def raises(*kinds: type[e.ApiError], statuses: Iterable[int] = (403,)) -> dict[int | str, dict[str, Any]]:
    """One operation's error responses: its router's statuses, and the specific codes this operation raises
    listed under theirs (route-level responses replace the router's for the same status; a 409 is documented
    only where a conflict code is raised)."""
    return _responses({*_BASE, *statuses}, kinds)
