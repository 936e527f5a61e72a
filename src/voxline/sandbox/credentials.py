"""Sandbox accounts: the only credentials the carrier emulators accept, derived from the deployment's key.

A sandbox call never presents the partner's own carrier secrets to an emulator. When the dialer places
one, it substitutes this partner's sandbox account for the account and secret fields of the connection
(`Emulator.sandbox_account`); every other field (caller id, applet, executive line) is kept. The emulator
checks what it is shown by recomputing the secret from the account (`Emulator.sandbox_secret`), so every
server process (`voxline serve --workers N`, or several servers on one database) accepts what any other
process dialed, with nothing registered in memory and nothing an outsider can claim: without the
deployment's encryption key nobody can make a valid sandbox account.

    account = HMAC(key, "account|provider|partner_id")      (shaped like the carrier's account ids)
    secret  = HMAC(key, "secret|provider|account")         (shaped like the carrier's tokens)

Each emulator shapes these like its carrier's own ids and tokens (sandbox/<carrier>.py).

MCube has no account id, only a bearer JWT: its sandbox token is an HS256 JWT signed with the key.
Exotel's API key is derived from its account SID, and its token from the key, so the emulator can check a
key and token before it knows which account a request names, and then that the key belongs to the SID.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from typing import Any

_LABEL = b"voxline sandbox accounts v1"
_JWT_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SandboxSeal:
    """Derives and checks sandbox credentials from one deployment key (never the key itself). What a
    carrier's sandbox account looks like is its emulator's to say (`Emulator.sandbox_account`), from these."""

    def __init__(self, deployment_key: bytes) -> None:
        self._key = hmac.new(deployment_key, _LABEL, hashlib.sha256).digest()

    def hex(self, *parts: str) -> str:
        """HMAC-SHA256 of the parts under the sealed key, in hex (64 characters)."""
        return hmac.new(self._key, "|".join(parts).encode(), hashlib.sha256).hexdigest()

    def account(self, provider: str, partner_id: str) -> str:
        """The material of a partner's sandbox account id at one carrier (hex)."""
        return self.hex("account", provider, partner_id)

    def secret(self, provider: str, account: str) -> str:
        """The material of the secret that goes with a sandbox account (hex)."""
        return self.hex("secret", provider, account)

    def observer_token(self) -> str:
        """The bearer token of the emulators' diagnostic log: for the operator (who holds the key) and tests."""
        return self.hex("observer")

    def jwt(self, payload: dict[str, Any]) -> str:
        """An HS256 JWT signed with the sealed key (for carriers whose only credential is a bearer token)."""
        head = _b64url(json.dumps(_JWT_HEADER, separators=(",", ":")).encode())
        body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64url(signature)}"

    def jwt_valid(self, token: str) -> bool:
        head, _, rest = token.partition(".")
        body, _, signature = rest.partition(".")
        if not (head and body and signature):
            return False
        expected = _b64url(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return hmac.compare_digest(expected, signature)


@functools.lru_cache(maxsize=8)
def seal_for_key(deployment_key: bytes) -> SandboxSeal:
    return SandboxSeal(deployment_key)
