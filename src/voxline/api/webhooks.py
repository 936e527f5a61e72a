"""/config/webhooks (v2 endpoints, delivery history, redelivery) and the legacy PUT /config/webhook."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.responses import ok, raises
from voxline.api.schemas import Envelope, Message, Strict
from voxline.core import errors
from voxline.webhooks import deliveries, endpoints
from voxline.webhooks.urlguard import MAX_URL_CHARS

URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s@/?#]+([/?#]\S*)?$"

router = APIRouter(prefix="/config", tags=["webhooks"], responses=documented(403))

Url = Annotated[
    str,
    StringConstraints(max_length=4096),
    # Documented, checked by the service (urlguard) so a bad URL gets its own error code; where the URL
    # may point (a public address for live keys) is checked there too and cannot be said in a schema.
    Field(
        examples=["https://example.com/hooks/voxline"],
        json_schema_extra={"minLength": 1, "maxLength": MAX_URL_CHARS, "pattern": URL_PATTERN, "format": "webhook-url"},
    ),
]


class WebhookCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"label": "crm", "url": "https://hooks.example.com/voxline", "enabled": True}]}
    )
    label: Annotated[
        str,
        StringConstraints(max_length=64),
        # Documented, checked by the service so a bad label gets its own error code.
        Field(
            examples=["crm"],
            json_schema_extra={"pattern": "^[a-z0-9][a-z0-9-]{0,30}$", "not": {"const": "default"}},
        ),
    ]
    """Name of the endpoint: lowercase letters, digits and '-', 1-31 characters; `default` is reserved."""
    url: Url
    """Where events are POSTed; https (or http) with a public host for live keys."""
    enabled: bool = True
    """Disabled endpoints receive nothing."""


class WebhookUpdate(Strict):
    """Send url and/or enabled; null is not a value for either."""

    model_config = ConfigDict(
        json_schema_extra={"minProperties": 1, "examples": [{"url": "https://hooks.example.com/v2", "enabled": True}]}
    )
    url: Url = None  # type: ignore[assignment]  # absent = unchanged
    """New URL; absent leaves it unchanged."""
    enabled: bool = None  # type: ignore[assignment]
    """Turn the endpoint on or off; absent leaves it unchanged."""


class LegacyWebhook(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"webhook_url": "https://hooks.example.com/voxline"}]})
    webhook_url: Url
    """Where events are POSTed (replaces the `default` endpoint)."""


class WebhookOut(BaseModel):
    id: str
    label: str
    url: str
    enabled: bool
    last_delivery_at: str | None
    last_delivery_status: Literal["success", "failed"] | None
    last_delivery_status_code: int | None
    created_at: str
    updated_at: str


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown only now; sign-verification key for this endpoint")
    message: str


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class SecretRotated(BaseModel):
    id: str
    label: str
    secret: str
    message: str


class LegacyWebhookOut(BaseModel):
    webhook_url: str
    webhook_secret: str
    message: str


class DeliveryOut(BaseModel):
    id: str
    endpoint_id: str
    event_id: str = Field(description="Also sent as X-Webhook-Id; the same on every retry")
    event: str
    session_id: str | None  # None: an event of a campaign (campaign.completed), not of a session
    status: Literal["pending", "delivered", "dead", "canceled"]
    attempts: int
    attempts_this_round: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: str | None
    next_attempt_at: str | None
    delivered_at: str | None
    created_at: str
    updated_at: str


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    total: int
    limit: int
    offset: int


_SHOWN_ONCE = "Store this secret now; it will not be shown again."


@router.post(
    "/webhooks",
    summary="Create a webhook endpoint",
    responses=raises(
        errors.InvalidWebhookUrl,
        errors.UnsafeWebhookUrl,
        errors.InvalidWebhookLabel,
        errors.ReservedWebhookLabel,
        errors.WebhookLabelTaken,
        errors.WebhookLimitReached,
    ),
)
async def create_webhook(body: WebhookCreate, ctx: CtxDep, caller: GeneralCaller) -> Envelope[WebhookCreated]:
    """Adds an endpoint that receives signed `session.completed` events. The response's `secret` (`whsec_…`) verifies
    the `X-Webhook-Signature` header and is shown only here. Up to 5 endpoints; live keys need a public https/http
    URL.
    """
    endpoint, secret = await endpoints.create(ctx, caller, body.label, body.url, body.enabled)
    return ok(WebhookCreated(**endpoints.view(endpoint), secret=secret, message=_SHOWN_ONCE))


@router.get("/webhooks", summary="List webhook endpoints", responses=raises())
async def list_webhooks(ctx: CtxDep, caller: GeneralCaller) -> Envelope[WebhookList]:
    """This account's webhook endpoints with their last delivery result. Secrets are never listed."""
    found = await endpoints.list_for(ctx, caller)
    return ok(WebhookList(webhooks=[WebhookOut(**endpoints.view(e)) for e in found]))


@router.get("/webhooks/{webhook_id}", summary="Get a webhook endpoint", responses=raises(errors.WebhookNotFound))
async def get_webhook(webhook_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[WebhookOut]:
    """One webhook endpoint by id."""
    return ok(WebhookOut(**endpoints.view(await endpoints.get(ctx, caller, webhook_id))))


_UPDATE_ERRORS = raises(errors.WebhookNotFound, errors.EmptyUpdate, errors.InvalidWebhookUrl, errors.UnsafeWebhookUrl)


async def _update(webhook_id: str, body: WebhookUpdate, ctx: CtxDep, caller: GeneralCaller) -> Envelope[WebhookOut]:
    """Changes the endpoint's `url` and/or turns it on or off (`enabled`); the secret stays the same."""
    if body.url is None and body.enabled is None:
        raise errors.EmptyUpdate("Send url and/or enabled.")
    endpoint = await endpoints.update(ctx, caller, webhook_id, url=body.url, enabled=body.enabled)
    return ok(WebhookOut(**endpoints.view(endpoint)))


router.add_api_route(
    "/webhooks/{webhook_id}",
    _update,
    methods=["PATCH"],
    responses=_UPDATE_ERRORS,
    summary="Change a webhook endpoint's url or enabled flag",
    name="patch_webhook",
)
router.add_api_route(
    "/webhooks/{webhook_id}",
    _update,
    methods=["PUT"],
    responses=_UPDATE_ERRORS,
    summary="Change a webhook endpoint's url or enabled flag (same as PATCH)",
    name="put_webhook",
)


@router.delete("/webhooks/{webhook_id}", summary="Delete a webhook endpoint", responses=raises(errors.WebhookNotFound))
async def delete_webhook(webhook_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[Message]:
    """Deletes the endpoint; deliveries still queued for it are canceled."""
    await endpoints.delete(ctx, caller, webhook_id)
    return ok(Message(message="Webhook endpoint deleted successfully"))


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    summary="Issue a new signing secret; the old one stops working at once",
    responses=raises(errors.WebhookNotFound),
)
async def rotate_secret(webhook_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[SecretRotated]:
    """Issues a new signing secret for the endpoint; the old one stops working at once."""
    endpoint, secret = await endpoints.rotate_secret(ctx, caller, webhook_id)
    return ok(SecretRotated(id=endpoint.id, label=endpoint.label, secret=secret, message=_SHOWN_ONCE))


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    summary="Delivery history of a webhook endpoint, newest first",
    responses=raises(errors.WebhookNotFound),
)
async def list_deliveries(
    webhook_id: str,
    ctx: CtxDep,
    caller: GeneralCaller,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    status: Annotated[Literal["pending", "delivered", "dead", "canceled"] | None, Query()] = None,
) -> Envelope[DeliveryList]:
    """Deliveries to this endpoint, newest first, with attempts, last status code and error; filter by `status`."""
    return ok(DeliveryList(**await deliveries.page(ctx, caller, webhook_id, status, limit, offset)))


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    summary="Send a delivered, dead or canceled delivery again (same X-Webhook-Id)",
    responses=raises(errors.WebhookNotFound, errors.WebhookDeliveryNotFound, errors.WebhookDeliveryPending),
)
async def redeliver(webhook_id: str, delivery_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[DeliveryOut]:
    """Queues a delivered, dead or canceled delivery for a new round of attempts with the same event id. A pending one
    answers 409 `WEBHOOK_DELIVERY_PENDING`.
    """
    return ok(DeliveryOut(**await deliveries.redeliver(ctx, caller, webhook_id, delivery_id)))


@router.put(
    "/webhook",
    summary="Legacy: set the single webhook URL (creates or replaces the 'default' endpoint, new secret)",
    responses=raises(errors.InvalidWebhookUrl, errors.UnsafeWebhookUrl, errors.WebhookLabelTaken),
)
async def put_legacy_webhook(body: LegacyWebhook, ctx: CtxDep, caller: GeneralCaller) -> Envelope[LegacyWebhookOut]:
    """The v1-style single webhook: creates or replaces the endpoint labelled `default` and returns a new secret.
    Prefer POST /config/webhooks.
    """
    endpoint, secret = await endpoints.put_legacy(ctx, caller, body.webhook_url)
    message = f"Webhook URL updated. {_SHOWN_ONCE}"
    return ok(LegacyWebhookOut(webhook_url=endpoint.url, webhook_secret=secret, message=message))
