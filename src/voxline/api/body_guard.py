"""Reject oversized and non-JSON bodies before any route runs (pure ASGI: no per-request task overhead).

Also the one rule for values no field may hold (core/unsupported.py): a NUL character in the path, the query
or any JSON key or string, and NaN/Infinity/overflowing numbers in a JSON body.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxline.api.errors import error_response
from voxline.core import errors
from voxline.core.unsupported import NUL, invalid_character, loads_checked

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class BodyGuard:
    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/api/") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        refusal = _nul_in_url(scope)
        if refusal is not None:
            # A body we did not read may still be on the wire: close rather than misread it as a request.
            await self._reject(scope, receive, send, refusal, close=scope["method"] in _BODY_METHODS)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send, errors.BodyTooLarge())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(scope, receive, send, errors.BodyTooLarge())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and not _is_json(headers.get("content-type", "")):
            await self._reject(scope, receive, send, errors.InvalidContentType())
            return
        if body:
            try:
                loads_checked(body)
            except errors.ApiError as exc:
                await self._reject(scope, receive, send, exc, close=False)  # the body was read whole
                return
            except (ValueError, RecursionError):
                pass  # not JSON: the route's own parsing answers INVALID_JSON

        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, err: errors.ApiError, close: bool = True) -> None:
        response = error_response(err)
        if close:
            response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _nul_in_url(scope: Scope) -> errors.ApiError | None:
    if NUL in scope["path"]:
        return invalid_character("path")
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for pair in query.decode("latin-1").split("&"):
            name, _, value = pair.partition("=")
            if NUL in unquote_plus(name) or NUL in unquote_plus(value):
                return invalid_character(unquote_plus(name).replace(NUL, "\\u0000") or "query")
    return None
