"""Our carrier-facing URLs for a call, built from the public base URL the carrier can reach."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from voxline.settings import Settings
from voxline.telephony.carrier import CallUrls

TELEPHONY_PREFIX = "/telephony"
SANDBOX_PREFIX = "/sandbox"


def new_token() -> str:
    """An unguessable per-call secret (256 bits)."""
    return secrets.token_urlsafe(32)


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
