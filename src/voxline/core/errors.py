"""Every error the API can answer, one type per code. Raised by use-cases, shaped once by `api/errors.py`.

The HTTP status travels with the error because the v2 API fixes it per code (UNAUTHORIZED is always 401).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status: int = 400
    code: str = "VALIDATION_ERROR"
    default_message: str = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


# 400: the request itself is wrong
class ValidationError(ApiError):
    code = "VALIDATION_ERROR"


class InvalidJson(ApiError):
    code = "INVALID_JSON"
    default_message = "The request body is not valid JSON."


class InvalidContentType(ApiError):
    code = "INVALID_CONTENT_TYPE"
    default_message = "Send the body as JSON with Content-Type: application/json."


class BodyTooLarge(ApiError):
    code = "BODY_TOO_LARGE"
    default_message = "The request body is larger than 1 MiB."


class InvalidCharacter(ApiError):
    code = "INVALID_CHARACTER"
    default_message = "Text must not contain the NUL character (\\u0000)."


class InvalidNumber(ApiError):
    code = "INVALID_NUMBER"
    default_message = "Numbers must be finite: NaN, Infinity and values beyond a 64-bit float are refused."


class UnknownField(ApiError):
    code = "UNKNOWN_FIELD"


class MissingField(ApiError):
    code = "MISSING_FIELD"


class InvalidType(ApiError):
    code = "INVALID_TYPE"


class StringTooLong(ApiError):
    code = "STRING_TOO_LONG"


class EmptyUpdate(ApiError):
    code = "EMPTY_UPDATE"
    default_message = "Send at least one field to update."


class InvalidPhoneNumber(ApiError):
    code = "INVALID_PHONE_NUMBER"


class InvalidVoice(ApiError):
    code = "INVALID_VOICE"
    default_message = "voice_id is not a voice of this deployment; see GET /agent/voices."


class InvalidVariables(ApiError):
    code = "INVALID_VARIABLES"


class UndeclaredVariable(ApiError):
    code = "UNDECLARED_VARIABLE"


class InvalidVariableValue(ApiError):
    code = "INVALID_VARIABLE_VALUE"


class UnknownProvider(ApiError):
    code = "UNKNOWN_PROVIDER"


class ProviderNotConfigured(ApiError):
    code = "PROVIDER_NOT_CONFIGURED"


class ConnectionRequired(ApiError):
    code = "CONNECTION_ID_REQUIRED"


class ConnectionProviderMismatch(ApiError):
    code = "CONNECTION_PROVIDER_MISMATCH"


class ConnectionInactive(ApiError):
    code = "CONNECTION_INACTIVE"


class InvalidIdempotencyKey(ApiError):
    code = "INVALID_IDEMPOTENCY_KEY"


class ExtractionNotConfigured(ApiError):
    code = "EXTRACTION_NOT_CONFIGURED"
    default_message = "This call's agent has no extraction_config; set one with PUT /agent/{id} first."


class InvalidWebhookUrl(ApiError):
    code = "INVALID_WEBHOOK_URL"


class UnsafeWebhookUrl(ApiError):
    code = "UNSAFE_WEBHOOK_URL"


class InvalidWebhookLabel(ApiError):
    code = "INVALID_WEBHOOK_LABEL"


class ReservedWebhookLabel(ApiError):
    code = "RESERVED_WEBHOOK_LABEL"
    default_message = "The label 'default' is reserved for PUT /config/webhook."


# 401 / 403
class Unauthorized(ApiError):
    status = 401
    code = "UNAUTHORIZED"
    default_message = "Missing or invalid API key. Send it as 'Authorization: Bearer rg_live_…'."


class Forbidden(ApiError):
    status = 403
    code = "FORBIDDEN"
    default_message = "This account may not do that."


class ProviderNotAllowed(ApiError):
    status = 403
    code = "PROVIDER_NOT_ALLOWED"


class DestinationNotAllowed(ApiError):
    status = 403
    code = "DESTINATION_NOT_ALLOWED"
    default_message = "This account may not call that number."


class AgentLimitReached(ApiError):
    status = 403
    code = "AGENT_LIMIT_REACHED"


class WebhookLimitReached(ApiError):
    status = 403
    code = "WEBHOOK_LIMIT_REACHED"
    default_message = "An account may have at most 5 webhook endpoints."


# 404 / 405 / 409
class NotFound(ApiError):
    status = 404
    code = "NOT_FOUND"
    default_message = "Not found."


class AgentNotFound(ApiError):
    status = 404
    code = "AGENT_NOT_FOUND"
    default_message = "No agent with that id in this account."


class RecordingNotFound(ApiError):
    status = 404
    code = "RECORDING_NOT_FOUND"
    default_message = "This call has no recording (recording was off, or the call has not finished)."


class InvalidRecordingLink(ApiError):
    status = 403
    code = "FORBIDDEN"
    default_message = "This recording link is invalid or has expired; get a new one from GET /calls/{id}/recording-url."


class ConnectionNotFound(ApiError):
    status = 404
    code = "CONNECTION_NOT_FOUND"
    default_message = "No telephony connection with that id in this account."


class WebhookNotFound(ApiError):
    status = 404
    code = "WEBHOOK_NOT_FOUND"
    default_message = "No webhook endpoint with that id in this account."


class WebhookDeliveryNotFound(ApiError):
    status = 404
    code = "WEBHOOK_DELIVERY_NOT_FOUND"
    default_message = "No delivery with that id for this webhook endpoint."


class MethodNotAllowed(ApiError):
    status = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "That method is not allowed on this path."


class AgentNameTaken(ApiError):
    status = 409
    code = "AGENT_NAME_TAKEN"


class ConnectionNameTaken(ApiError):
    status = 409
    code = "CONNECTION_NAME_TAKEN"


class ConnectionInUse(ApiError):
    status = 409
    code = "CONNECTION_IN_USE"


class WebhookLabelTaken(ApiError):
    status = 409
    code = "WEBHOOK_LABEL_TAKEN"


class WebhookDeliveryPending(ApiError):
    status = 409
    code = "WEBHOOK_DELIVERY_PENDING"
    default_message = "This delivery is still pending; it will be attempted again on its own."


class CallNotCancelable(ApiError):
    status = 409
    code = "CALL_NOT_CANCELABLE"
    default_message = "Only pending or ringing calls can be canceled."


class IdempotencyConflict(ApiError):
    status = 409
    code = "IDEMPOTENCY_CONFLICT"
    default_message = "This Idempotency-Key was already used with a different request body."


# Callee safety and campaigns
class NumberOnDoNotCall(ApiError):
    status = 403
    code = "NUMBER_ON_DO_NOT_CALL"
    default_message = "This number is on the account's do-not-call list."


class OutsideCallingHours(ApiError):
    status = 403
    code = "OUTSIDE_CALLING_HOURS"


class FrequencyCapReached(ApiError):
    status = 403
    code = "FREQUENCY_CAP_REACHED"


class InvalidCallingPolicy(ApiError):
    code = "INVALID_CALLING_POLICY"


class InvalidSchedule(ApiError):
    code = "INVALID_SCHEDULE"


class InvalidCsv(ApiError):
    code = "INVALID_CSV"


class CampaignNotFound(ApiError):
    status = 404
    code = "CAMPAIGN_NOT_FOUND"
    default_message = "No campaign with that id in this account."


class DncEntryNotFound(ApiError):
    status = 404
    code = "DNC_ENTRY_NOT_FOUND"
    default_message = "That number is not on this account's do-not-call list."


class InvalidCampaignState(ApiError):
    status = 409
    code = "INVALID_CAMPAIGN_STATE"


# 429
class ConcurrencyLimit(ApiError):
    status = 429
    code = "CONCURRENCY_LIMIT"


class RateLimited(ApiError):
    status = 429
    code = "RATE_LIMITED"


# The browser test session's join token (POST /sessions/webrtc): the token alone admits the offer.
class JoinTokenInvalid(ApiError):
    status = 401
    code = "JOIN_TOKEN_INVALID"
    default_message = "The join token does not belong to this session."


class JoinTokenUsed(ApiError):
    status = 409
    code = "JOIN_TOKEN_USED"
    default_message = "This join token has been used already; start a new session with POST /sessions/webrtc."


class JoinTokenExpired(ApiError):
    status = 410
    code = "JOIN_TOKEN_EXPIRED"
    default_message = "This join token has expired; start a new session with POST /sessions/webrtc."


class InvalidSdpOffer(ApiError):
    code = "INVALID_SDP_OFFER"
    default_message = "The body must carry the browser's SDP offer (type 'offer')."


class BrowserSessionsUnavailable(ApiError):
    status = 503
    code = "BROWSER_SESSIONS_UNAVAILABLE"
    default_message = "This server runs no conversation runtime, so a browser session cannot be held."


class PublicUrlUnreachable(ApiError):
    status = 503
    code = "PUBLIC_URL_UNREACHABLE"
    default_message = "Carriers cannot reach this server's public URL, so live calls cannot be placed."


class InternalError(ApiError):
    status = 500
    code = "INTERNAL_ERROR"
    default_message = "Something went wrong on our side; nothing was changed."
