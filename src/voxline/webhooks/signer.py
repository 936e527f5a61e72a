"""Signing a webhook: `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">`.

The v2 API signs the ISO 8601 send time together with the exact body bytes, so a receiver can refuse a
replayed request and must verify the raw bytes, never re-serialised JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
ID_HEADER = "X-Webhook-Id"
EVENT_HEADER = "X-Webhook-Event"
ATTEMPT_HEADER = "X-Webhook-Attempt"


def new_secret() -> str:
    """`whsec_` + 32 random bytes as hex: the string a receiver pastes into its config."""
    return SECRET_PREFIX + secrets.token_hex(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Webhook-Signature` value; the whole secret string (prefix included) is the HMAC key."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def encode_body(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def headers(secret: str, timestamp: str, body: bytes, event_id: str, event_type: str, attempt: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        TIMESTAMP_HEADER: timestamp,
        ID_HEADER: event_id,
        EVENT_HEADER: event_type,
        ATTEMPT_HEADER: str(attempt),
    }
