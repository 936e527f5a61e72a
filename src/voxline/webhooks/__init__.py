"""Webhooks: endpoints, the signed session.completed event, the durable outbox and its delivery worker.

Receivers need only `verify` (light: no database or server imports):

    from voxline.webhooks import verify
    event = verify(secret, request.headers, raw_body)  # raises WebhookVerificationError
"""

from voxline.webhooks.verification import DEFAULT_TOLERANCE_SECS, WebhookVerificationError, verify

__all__ = ["DEFAULT_TOLERANCE_SECS", "WebhookVerificationError", "verify"]
