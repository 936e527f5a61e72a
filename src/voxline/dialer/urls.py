"""Our carrier-facing URLs for a call, built from the public base URL the carrier can reach."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TypeVar
from urllib.parse import quote

from voxline.sandbox.credentials import seal_for_key
from voxline.sandbox.mount import load_stand_in
from voxline.settings import Settings
from voxline.telephony import registry
from voxline.telephony.base import CarrierCredentials
from voxline.telephony.carrier import CallUrls

TELEPHONY_PREFIX = "/telephony"
SANDBOX_PREFIX = "/sandbox"
CC = TypeVar("CC", bound=CarrierCredentials)


def new_token() -> str:
    """An unguessable per-call secret (256 bits)."""
    return secrets.token_urlsafe(32)


def issue_token() -> tuple[str, str]:
    """A new call token and the hash the database keeps of it."""
    token = new_token()
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """What the database keeps of a call's token (sha256, hex): enough to check one, never to show one."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(stored_hash: str | None, token: str | None) -> bool:
    """`token` is the call's token (compared in constant time)."""
    return bool(stored_hash and token and hmac.compare_digest(stored_hash, token_hash(token)))


def call_urls(settings: Settings, provider: str, call_id: str, session_id: str, token: str) -> CallUrls:
    base = settings.public_base_url.rstrip("/")
    ws_base = "wss://" + base[len("https://") :] if base.startswith("https://") else "ws://" + base.split("://", 1)[-1]
    t = quote(token, safe="")
    root = f"{base}{TELEPHONY_PREFIX}/{provider}"
    return CallUrls(
        answer=f"{root}/answer/{call_id}?token={t}",
        status=f"{root}/status/{call_id}?token={t}",
        amd=f"{root}/amd/{call_id}?token={t}",
        media=f"{ws_base}{TELEPHONY_PREFIX}/{provider}/media/{session_id}",
        token=token,
    )


def sandbox_base(settings: Settings, provider: str) -> str:
    """Where sandbox calls go instead of the carrier: this server's own emulator of that carrier."""
    return f"{settings.public_base_url.rstrip('/')}{SANDBOX_PREFIX}/{provider}"


def sandbox_credentials(settings: Settings, provider: str, partner_id: str, creds: CC) -> CC:
    """The partner's sandbox account at this server's emulator (shaped by the emulator the registry names for
    the carrier), in place of the connection's account and secrets."""
    spec = registry.spec(provider)
    stand_in = spec.emulator or spec.sandbox
    if stand_in is None:
        raise ValueError(f"no sandbox account for provider {provider!r}")
    account = load_stand_in(stand_in).sandbox_account(seal_for_key(settings.resolved_encryption_key), partner_id)
    return creds.model_copy(update=account)
