"""API keys: `rg_live_` / `rg_test_` + 32 url-safe characters, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

LIVE = "live"
TEST = "test"
_PREFIXES = {LIVE: "rg_live_", TEST: "rg_test_"}
_RANDOM_CHARS = 32
PREFIX_CHARS = 8  # random characters kept in clear after "rg_live_" to name a key


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    hash: str
    mode: str


def generate(mode: str = LIVE) -> NewKey:
    body = ""
    while len(body) < _RANDOM_CHARS:
        body += secrets.token_urlsafe(_RANDOM_CHARS)
    plaintext = _PREFIXES[mode] + body[:_RANDOM_CHARS]
    return NewKey(plaintext, display_prefix(plaintext), hash_key(plaintext), mode)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def display_prefix(plaintext: str) -> str:
    return plaintext[: len("rg_live_") + PREFIX_CHARS]


def mode_of(plaintext: str) -> str | None:
    for mode, prefix in _PREFIXES.items():
        if plaintext.startswith(prefix) and len(plaintext) == len(prefix) + _RANDOM_CHARS:
            return mode
    return None


def hashes_match(stored_hash: str, presented: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_key(presented))
