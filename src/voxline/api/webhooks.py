"""/config/webhooks (v2 endpoints, delivery history, redelivery) and the legacy PUT /config/webhook."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.schemas import Envelope, Message, Strict
from voxline.core import errors
from voxline.webhooks import deliveries, endpoints
from voxline.webhooks.urlguard import MAX_URL_CHARS

URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s@/?#]+([/?#]\S*)?$"

router = APIRouter(prefix="/config", tags=["webhooks"], responses=documented(403, 409))

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
    label: Annotated[
        str,
        StringConstraints(max_length=64),
        # Documented, checked by the service so a bad label gets its own error code.
        Field(
            examples=["crm"],
            json_schema_extra={"pattern": "^[a-z0-9][a-z0-9-]{0,30}$", "not": {"const": "default"}},
        ),
    ]
    url: Url
    enabled: bool = True


class WebhookUpdate(Strict):
    """Send url and/or enabled; null is not a value for either."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    url: Url = None  # type: ignore[assignment]  # absent = unchanged
    enabled: bool = None  # type: ignore[assignment]


class LegacyWebhook(Strict):
    webhook_url: Url


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


@router.post("/webhooks", response_model=Envelope[WebhookCreated], summary="Create a webhook endpoint")
async def create_webhook(body: WebhookCreate, ctx: CtxDep, caller: GeneralCaller) -> dict:
    endpoint, secret = await endpoints.create(ctx, caller, body.label, body.url, body.enabled)
    return {"success": True, "data": {**endpoints.view(endpoint), "secret": secret, "message": _SHOWN_ONCE}}


@router.get("/webhooks", response_model=Envelope[WebhookList], summary="List webhook endpoints")
async def list_webhooks(ctx: CtxDep, caller: GeneralCaller) -> dict:
    found = await endpoints.list_for(ctx, caller)
    return {"success": True, "data": {"webhooks": [endpoints.view(e) for e in found]}}


@router.get("/webhooks/{webhook_id}", response_model=Envelope[WebhookOut], summary="Get a webhook endpoint")
async def get_webhook(webhook_id: str, ctx: CtxDep, caller: GeneralCaller) -> dict:
    return {"success": True, "data": endpoints.view(await endpoints.get(ctx, caller, webhook_id))}


async def _update(webhook_id: str, body: WebhookUpdate, ctx: CtxDep, caller: GeneralCaller) -> dict:
    if body.url is None and body.enabled is None:
        raise errors.EmptyUpdate("Send url and/or enabled.")
    endpoint = await endpoints.update(ctx, caller, webhook_id, url=body.url, enabled=body.enabled)
    return {"success": True, "data": endpoints.view(endpoint)}


router.add_api_route(
    "/webhooks/{webhook_id}", _update, methods=["PATCH"], response_model=Envelope[WebhookOut],
    summary="Change a webhook endpoint's url or enabled flag", name="patch_webhook",
)
router.add_api_route(
    "/webhooks/{webhook_id}", _update, methods=["PUT"], response_model=Envelope[WebhookOut],
    summary="Change a webhook endpoint's url or enabled flag (same as PATCH)", name="put_webhook",
)


@router.delete("/webhooks/{webhook_id}", response_model=Envelope[Message], summary="Delete a webhook endpoint")
async def delete_webhook(webhook_id: str, ctx: CtxDep, caller: GeneralCaller) -> dict:
    await endpoints.delete(ctx, caller, webhook_id)
    return {"success": True, "data": {"message": "Webhook endpoint deleted successfully"}}


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=Envelope[SecretRotated],
    summary="Issue a new signing secret; the old one stops working at once",
)
async def rotate_secret(webhook_id: str, ctx: CtxDep, caller: GeneralCaller) -> dict:
    endpoint, secret = await endpoints.rotate_secret(ctx, caller, webhook_id)
    data = {"id": endpoint.id, "label": endpoint.label, "secret": secret, "message": _SHOWN_ONCE}
    return {"success": True, "data": data}


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Envelope[DeliveryList],
    summary="Delivery history of a webhook endpoint, newest first",
)
async def list_deliveries(
    webhook_id: str,
    ctx: CtxDep,
    caller: GeneralCaller,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    status: Annotated[Literal["pending", "delivered", "dead", "canceled"] | None, Query()] = None,
) -> dict:
    data = await deliveries.page(ctx, caller, webhook_id, status, limit, offset)
    return {"success": True, "data": data}


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=Envelope[DeliveryOut],
    summary="Send a delivered, dead or canceled delivery again (same X-Webhook-Id)",
)
async def redeliver(webhook_id: str, delivery_id: str, ctx: CtxDep, caller: GeneralCaller) -> dict:
    return {"success": True, "data": await deliveries.redeliver(ctx, caller, webhook_id, delivery_id)}


@router.put(
    "/webhook",
    response_model=Envelope[LegacyWebhookOut],
    summary="Legacy: set the single webhook URL (creates or replaces the 'default' endpoint, new secret)",
)
async def put_legacy_webhook(body: LegacyWebhook, ctx: CtxDep, caller: GeneralCaller) -> dict:
    endpoint, secret = await endpoints.put_legacy(ctx, caller, body.webhook_url)
    data = {"webhook_url": endpoint.url, "webhook_secret": secret, "message": f"Webhook URL updated. {_SHOWN_ONCE}"}
    return {"success": True, "data": data}
