"""Reading a submitted form (application/x-www-form-urlencoded) without a multipart parser: forms here
never upload files. Bodies are capped like the API's, and a NUL character is refused (no database stores it)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from voxline.core import errors
from voxline.core.unsupported import NUL, invalid_character


class Form:
    """The submitted fields: `get` for single values (stripped), `getlist` for repeated ones."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value.strip()
        return default

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.pairs)


async def read(request: Request) -> Form:
    cached = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    limit = request.app.state.ctx.settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise errors.BodyTooLarge()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise errors.BodyTooLarge()
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if body and media != "application/x-www-form-urlencoded":
        raise errors.InvalidContentType("Send the form as application/x-www-form-urlencoded.")
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    for key, value in pairs:
        if NUL in key or NUL in value:
            raise invalid_character(key.replace(NUL, "\\u0000") or "form")
    form = Form(pairs)
    request.state.form = form
    return form
