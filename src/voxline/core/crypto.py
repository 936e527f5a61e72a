"""Secrets at rest: AES-256-GCM with a versioned envelope so the key can be rotated later."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"


class DecryptionError(Exception):
    pass


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, context: str) -> str:
        """`context` (e.g. the row id) is bound as associated data: a ciphertext moved to another row fails."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return f"{_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str) -> bytes:
        version, _, body = token.partition(":")
        if version != _VERSION:
            raise DecryptionError(f"unknown envelope version {version!r}")
        raw = base64.urlsafe_b64decode(body.encode())
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode())
        except InvalidTag:
            raise DecryptionError("ciphertext does not match key or context") from None

    def encrypt_json(self, value: dict[str, Any], context: str) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":")).encode(), context)

    def decrypt_json(self, token: str, context: str) -> dict[str, Any]:
        return json.loads(self.decrypt(token, context))


def mask(secret: str, keep: int = 4) -> str:
    """`AC12****cdef`-style hint: enough to recognise a credential, not to use it."""
    if len(secret) <= keep * 2:
        return "*" * len(secret)
    return f"{secret[:keep]}****{secret[-keep:]}"
