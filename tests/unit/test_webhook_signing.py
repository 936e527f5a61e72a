"""The signature scheme and voxline.webhooks.verify(), checked against an independent HMAC."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from voxline.core.timefmt import iso
from voxline.webhooks import WebhookVerificationError, verify
from voxline.webhooks.signer import encode_body, headers, new_secret, signature

SECRET = "whsec_" + "ab" * 32
NOW = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
BODY = b'{"event":"session.completed","data":{"session_id":"s1"}}'


def signed(body: bytes = BODY, at: datetime = NOW, secret: str = SECRET) -> dict[str, str]:
    return headers(secret, iso(at), body, "evt-1", "session.completed", 1)


def test_signature_is_hmac_sha256_of_timestamp_dot_raw_body():
    stamp = "2026-11-25T10:00:00.000Z"
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, stamp, BODY) == f"sha256={expected}"


def test_headers_carry_signature_iso_timestamp_and_a_stable_event_id():
    h = signed()
    assert h["X-Webhook-Timestamp"] == "2026-11-25T10:00:00.000Z"
    assert h["X-Webhook-Signature"].startswith("sha256=") and len(h["X-Webhook-Signature"]) == 7 + 64
    assert h["X-Webhook-Id"] == "evt-1" and h["Content-Type"] == "application/json"


def test_secrets_are_whsec_and_unique():
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and len(a) == 6 + 64 and a != b


def test_verify_accepts_a_genuine_request_and_returns_the_event():
    assert verify(SECRET, signed(), BODY, now=NOW + timedelta(seconds=5)) == {
        "event": "session.completed",
        "data": {"session_id": "s1"},
    }


def test_verify_reads_headers_case_insensitively_and_takes_str_bodies():
    lowered = {k.lower(): v for k, v in signed().items()}
    verify(SECRET, lowered, BODY.decode(), now=NOW)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # body changed by a byte
        lambda h, b: (h, b.replace(b"s1", b"s2")),
        lambda h, b: ({**h, "X-Webhook-Timestamp": "2026-11-25T10:00:01.000Z"}, b),  # timestamp swapped
        lambda h, b: ({**h, "X-Webhook-Signature": "sha256=" + "0" * 64}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "X-Webhook-Signature"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "X-Webhook-Timestamp"}, b),
    ],
)
def test_verify_rejects_tampered_or_incomplete_requests(tamper):
    h, b = tamper(signed(), BODY)
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, h, b, now=NOW)


def test_verify_rejects_another_secret():
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), signed(), BODY, now=NOW)


def test_verify_rejects_stale_and_future_timestamps_outside_the_tolerance():
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(SECRET, signed(), BODY, tolerance=300, now=NOW + timedelta(seconds=301))
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(SECRET, signed(), BODY, tolerance=300, now=NOW - timedelta(seconds=301))
    verify(SECRET, signed(), BODY, tolerance=300, now=NOW + timedelta(seconds=299))


def test_the_signed_body_is_compact_utf8_json():
    assert encode_body({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()


def test_verify_takes_a_web_frameworks_header_mapping():
    """What the README's receiver passes: Starlette/FastAPI `request.headers` (case-insensitive)."""
    from starlette.datastructures import Headers

    raw = [(k.lower().encode(), v.encode()) for k, v in signed().items()]
    verify(SECRET, Headers(raw=raw), BODY, now=NOW)
