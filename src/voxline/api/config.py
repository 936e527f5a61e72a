"""/config and /telephony/connections: account settings and carrier credentials."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from voxline.accounts import config as config_service
from voxline.accounts import telephony
from voxline.api.deps import CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.responses import ok, raises
from voxline.api.schemas import (
    ConfigOut,
    ConnectionCreate,
    ConnectionEnvelope,
    ConnectionList,
    ConnectionOut,
    ConnectionPatch,
    Envelope,
    Message,
    ProviderCredentialsBody,
    ProviderCredentialsOut,
    VoicemailSetting,
    VoicemailSettingOut,
    any_case,
)
from voxline.core import errors
from voxline.telephony.registry import PROVIDERS

PROVIDER_PATTERN = any_case(PROVIDERS)  # documented; the service answers UNKNOWN_PROVIDER for others

config_router = APIRouter(prefix="/config", tags=["config"], responses=documented(403))
connections_router = APIRouter(prefix="/telephony/connections", tags=["telephony"], responses=documented(403))


@config_router.get("", summary="Account configuration and limits", responses=raises())
async def get_config(ctx: CtxDep, caller: GeneralCaller) -> Envelope[ConfigOut]:
    """This account's limits and settings: agent limit and count, concurrency, voices and languages, allowed carriers
    and which are configured, rate limits, webhook endpoints and the destination policy.
    """
    return ok(ConfigOut(**await config_service.partner_config(ctx, caller)))


@config_router.put(
    "/telephony/{provider}",
    summary="Set or update a provider's credentials (its default connection)",
    responses=raises(errors.UnknownProvider, errors.ProviderNotAllowed, errors.InvalidPhoneNumber),
)
async def put_provider_credentials(
    provider: Annotated[str, Path(json_schema_extra={"pattern": PROVIDER_PATTERN})],
    body: Annotated[ProviderCredentialsBody, Body()],
    ctx: CtxDep,
    caller: GeneralCaller,
) -> Envelope[ProviderCredentialsOut]:
    """Creates or updates the default connection of one carrier. The fields depend on the carrier (see the body
    schema). Secrets are stored encrypted and never returned; `credential_hint` shows their last characters.
    """
    provider = telephony.require_provider(provider)
    conn = await telephony.put_default(ctx, caller, provider, dict(body.model_extra or {}))
    data: dict[str, Any] = {
        **conn.public_settings,  # the provider's non-secret settings, as extra fields
        "provider": provider,
        "configured": bool(conn.from_number),
        "connection_id": conn.id,
        "from_number": conn.from_number,
        "credential_hint": conn.credential_hint,
        "message": f"{provider.capitalize()} credentials updated successfully.",
    }
    return ok(ProviderCredentialsOut(**data))


@config_router.put(
    "/voicemail-detection",
    summary="Turn account-level voicemail detection on or off",
    responses=raises(),
)
async def put_voicemail_detection(
    body: VoicemailSetting, ctx: CtxDep, caller: GeneralCaller
) -> Envelope[VoicemailSettingOut]:
    """Account-level voicemail detection. Calls detect voicemail only when this and the agent's
    `voicemail_detection_enabled` are both on.
    """
    enabled = await config_service.set_voicemail_detection(ctx, caller.partner_id, body.enabled)
    return ok(VoicemailSettingOut(voicemail_detection_enabled=enabled))


def _credential_fields(extra: dict[str, Any] | None) -> dict[str, Any]:
    return dict(extra or {})


@connections_router.post(
    "",
    summary="Create a telephony connection",
    responses=raises(
        errors.UnknownProvider, errors.ProviderNotAllowed, errors.ConnectionNameTaken, errors.InvalidPhoneNumber
    ),
)
async def create_connection(body: ConnectionCreate, ctx: CtxDep, caller: GeneralCaller) -> Envelope[ConnectionEnvelope]:
    """Adds a named set of carrier credentials. Besides `provider`, `name` and `is_default`, send that carrier's
    credential fields (see PUT /config/telephony/{provider}). Use its id as `connection_id` in /calls/start when the
    account has several connections for one carrier.
    """
    conn = await telephony.create(
        ctx, caller, body.provider, body.name, body.is_default, _credential_fields(body.model_extra)
    )
    return _connection(conn)


@connections_router.get("", summary="List telephony connections", responses=raises(errors.UnknownProvider))
async def list_connections(
    ctx: CtxDep,
    caller: GeneralCaller,
    provider: Annotated[str | None, Query(max_length=20, json_schema_extra={"pattern": PROVIDER_PATTERN})] = None,
) -> Envelope[ConnectionList]:
    """This account's telephony connections, optionally for one `provider`. Secrets are never returned."""
    if provider is not None:
        provider = telephony.require_provider(provider)
    conns = await telephony.list_for(ctx, caller, provider)
    return ok(ConnectionList(connections=[ConnectionOut(**telephony.view(c)) for c in conns]))


@connections_router.get("/{connection_id}", summary="Get a connection", responses=raises(errors.ConnectionNotFound))
async def get_connection(connection_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[ConnectionEnvelope]:
    """One telephony connection by id."""
    return _connection(await telephony.get(ctx, caller, connection_id))


@connections_router.patch(
    "/{connection_id}",
    summary="Rename, enable/disable, make default, or update credentials",
    responses=raises(errors.ConnectionNotFound, errors.ConnectionNameTaken, errors.InvalidPhoneNumber),
)
async def patch_connection(
    connection_id: str, body: ConnectionPatch, ctx: CtxDep, caller: GeneralCaller
) -> Envelope[ConnectionEnvelope]:
    """Changes a connection's name, status or default flag, or any of its credential fields; fields not sent stay as
    they are.
    """
    conn = await telephony.patch(
        ctx,
        caller,
        connection_id,
        name=body.name,
        status=body.status,
        is_default=body.is_default,
        fields=_credential_fields(body.model_extra),
    )
    return _connection(conn)


@connections_router.delete(
    "/{connection_id}",
    summary="Delete a connection",
    responses=raises(errors.ConnectionNotFound, errors.ConnectionInUse),
)
async def delete_connection(connection_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[Message]:
    """Deletes a connection that no active call uses (409 `CONNECTION_IN_USE` otherwise)."""
    await telephony.delete(ctx, caller, connection_id)
    return ok(Message(message="Connection deleted successfully"))


def _connection(conn: Any) -> Envelope[ConnectionEnvelope]:
    return ok(ConnectionEnvelope(connection=ConnectionOut(**telephony.view(conn))))
