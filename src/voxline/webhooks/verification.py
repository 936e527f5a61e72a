"""`voxline.webhooks.verify()`: what a receiver calls to trust a webhook before acting on it.

It checks the HMAC over the raw body with a constant-time compare and refuses timestamps outside a
tolerance window, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from voxline.webhooks.signer import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature

DEFAULT_TOLERANCE_SECS = 300.0


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh webhook from this endpoint's secret."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; HTTP header names are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WebhookVerificationError("X-Webhook-Timestamp is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: float = DEFAULT_TOLERANCE_SECS,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Return the parsed event if the signature matches and the timestamp is within `tolerance` seconds.

    Raises WebhookVerificationError otherwise. Pass the body exactly as received (bytes).
    """
    if not isinstance(body, bytes | bytearray | memoryview | str):
        raise TypeError(
            f"verify() needs the raw request body (bytes or str) exactly as received, not a {type(body).__name__}: "
            "the signature covers the bytes, and a parsed body cannot be re-serialized to them"
        )
    raw = body.encode() if isinstance(body, str) else bytes(body)
    sent = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not sent or not stamp:
        raise WebhookVerificationError("missing X-Webhook-Signature or X-Webhook-Timestamp")
    if not hmac.compare_digest(signature(secret, stamp, raw).encode(), sent.strip().encode()):
        raise WebhookVerificationError("signature does not match")
    age = ((now or datetime.now(UTC)) - _parse_time(stamp)).total_seconds()
    if tolerance is not None and abs(age) > tolerance:
        raise WebhookVerificationError(f"timestamp is {age:.0f} s away from now (tolerance {tolerance:.0f} s)")
    try:
        return json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("body is not JSON") from None
