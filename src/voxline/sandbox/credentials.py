"""Sandbox accounts: the only credentials the carrier emulators accept, derived from the deployment's key.

A sandbox call never presents the partner's own carrier secrets to an emulator. When the dialer places
one, it substitutes this partner's sandbox account for the account and secret fields of the connection
(`SandboxSeal.credentials`); every other field (caller id, applet, executive line) is kept. The emulator
checks what it is shown by recomputing the secret from the account (`SandboxSeal.secret_for`), so every
server process (`voxline serve --workers N`, or several servers on one database) accepts what any other
process dialed, with nothing registered in memory and nothing an outsider can claim: without the
deployment's encryption key nobody can make a valid sandbox account.

    account = HMAC(key, "account|provider|partner_id")      (shaped like the carrier's account ids)
    secret  = HMAC(key, "secret|provider|account")         (shaped like the carrier's tokens)

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
from collections.abc import Mapping
from typing import Any

_LABEL = b"voxline sandbox accounts v1"
_JWT_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SandboxSeal:
    """Derives and checks sandbox credentials from one deployment key (never the key itself)."""

    def __init__(self, deployment_key: bytes) -> None:
        self._key = hmac.new(deployment_key, _LABEL, hashlib.sha256).digest()

    def _hex(self, *parts: str) -> str:
        return hmac.new(self._key, "|".join(parts).encode(), hashlib.sha256).hexdigest()

    # --- what the dialer presents ------------------------------------------------------------------
    def credentials(self, provider: str, partner_id: str, creds: Mapping[str, Any]) -> dict[str, Any]:
        """The connection's credentials with its account and secrets replaced by the partner's sandbox account."""
        out = dict(creds)
        account = self._hex("account", provider, partner_id)
        if provider == "twilio":
            sid = "AC" + account[:32]
            out.update(account_sid=sid, auth_token=self._secret(provider, sid))
        elif provider == "plivo":
            auth_id = "MA" + account[:18].upper()
            out.update(auth_id=auth_id, auth_token=self._secret(provider, auth_id))
        elif provider == "vobiz":
            auth_id = "MA_" + account[:24]
            out.update(auth_id=auth_id, auth_token=self._secret(provider, auth_id))
        elif provider == "exotel":
            sid = "vxsandbox" + account[:16]
            api_key = self._exotel_key(sid)
            out.update(account_sid=sid, api_key=api_key, api_token=self._secret(provider, api_key))
        elif provider == "mcube":
            out.update(jwt_token=self._jwt({"sub": "sandbox-" + account[:24]}))
        elif provider == "sip":  # the digest account the sandbox trunk challenges for
            user = "vxsbx" + account[:24]
            out.update(outbound_username=user, outbound_password=self._secret(provider, user))
        else:
            raise ValueError(f"no sandbox account for provider {provider!r}")
        return out

    # --- what the emulator checks ------------------------------------------------------------------
    def secret_for(self, provider: str, account: str) -> str | None:
        """The secret a sandbox account must present, or None when `account` is not a sandbox account.

        `account` is what the carrier's emulator calls the account: the SID or auth id; Exotel's
        "SID:API key" (or the API key alone, before the SID is known); MCube's whole bearer token."""
        if provider == "mcube":
            return account if self._jwt_valid(account) else None
        if provider == "exotel":
            sid, _, api_key = account.rpartition(":")
            if sid and not hmac.compare_digest(self._exotel_key(sid), api_key):
                return None
            return self._secret(provider, api_key)
        if provider in ("twilio", "plivo", "vobiz", "sip"):
            return self._secret(provider, account)
        return None

    def observer_token(self) -> str:
        """The bearer token of the emulators' diagnostic log: for the operator (who holds the key) and tests."""
        return self._hex("observer")

    # --- shapes -----------------------------------------------------------------------------------
    def _secret(self, provider: str, account: str) -> str:
        digest = self._hex("secret", provider, account)
        return digest[:32] if provider == "twilio" else digest[:40]  # Twilio: 32 hex; Plivo/Vobiz: 40 chars

    def _exotel_key(self, sid: str) -> str:
        return "vxk" + self._hex("exotel-key", sid)[:29]

    def _jwt(self, payload: dict[str, Any]) -> str:
        head = _b64url(json.dumps(_JWT_HEADER, separators=(",", ":")).encode())
        body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64url(signature)}"

    def _jwt_valid(self, token: str) -> bool:
        head, _, rest = token.partition(".")
        body, _, signature = rest.partition(".")
        if not (head and body and signature):
            return False
        expected = _b64url(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return hmac.compare_digest(expected, signature)


@functools.lru_cache(maxsize=8)
def seal_for_key(deployment_key: bytes) -> SandboxSeal:
    return SandboxSeal(deployment_key)
