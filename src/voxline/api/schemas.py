"""Request and response models: what /openapi.json promises and what every body is checked against."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from voxline.core.call_status import CallStatus
from voxline.core.ids import is_uuid
from voxline.core.phone import E164_PATTERN, InvalidPhoneNumber, parse_e164
from voxline.core.templating import VARIABLE_NAME
from voxline.telephony.registry import Provider

T = TypeVar("T")


class Strict(BaseModel):
    """Unknown fields and silent type coercion are both errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _uuid(value: str) -> str:
    if not is_uuid(value):
        raise ValueError("must be a UUID")
    return value.lower()


def _e164(value: str) -> str:
    try:
        return parse_e164(value)
    except InvalidPhoneNumber as exc:
        raise ValueError(f"phone number {exc}") from None


def _integral(value: Any) -> Any:
    """JSON has one number type: 600.0 is the integer 600 (as JSON Schema says), 600.5 is not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _var_name(value: str) -> str:
    if not VARIABLE_NAME.match(value):
        raise ValueError("variable names must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    return value


Uuid = Annotated[
    str, StringConstraints(max_length=36), AfterValidator(_uuid), Field(json_schema_extra={"format": "uuid"})
]
Phone = Annotated[
    str,
    StringConstraints(max_length=32),
    AfterValidator(_e164),
    # Documented, checked by _e164 (which also asks libphonenumber whether the number is possible).
    Field(examples=["+919876543210"], json_schema_extra={"pattern": E164_PATTERN, "format": "e164"}),
]
VarName = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_var_name),
    Field(json_schema_extra={"pattern": VARIABLE_NAME.pattern}),  # documented; _var_name says why it fails
]


def any_case(words) -> str:  # noqa: ANN001
    """A schema pattern for values the server matches case-insensitively (JSON Schema patterns have no flags)."""
    spelled = ("".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in w) for w in words)
    return "^(" + "|".join(spelled) + ")$"


CALL_STATUS_PATTERN = any_case(s.value for s in CallStatus)


def Text(max_length: int, min_length: int = 0):  # noqa: N802, ANN201
    return Annotated[str, StringConstraints(max_length=max_length, min_length=min_length)]


# ---- envelopes ----
class Envelope(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: T


class ErrorDetail(BaseModel):
    field: str
    code: str
    message: str


class ErrorBody(BaseModel):
    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str
    details: list[ErrorDetail] | None = None


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: ErrorBody


class Message(BaseModel):
    message: str


# ---- agents ----
ExtractionType = Literal["string", "number", "integer", "boolean", "array", "date", "datetime"]


class ExtractionKey(Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
    type: ExtractionType = "string"
    description: Text(1000) | None = None


class ExtractionConfig(Strict):
    prompt: Text(120_000) = ""
    keys: Annotated[list[ExtractionKey], Field(min_length=1, max_length=50)]
    include_tool_logs: bool = Field(
        default=False,
        validation_alias=AliasChoices("includeToolLogs", "include_tool_logs"),
        serialization_alias="includeToolLogs",
    )


def _alias(snake: str, camel: str) -> Any:
    return Field(validation_alias=AliasChoices(snake, camel))


class _AgentFields(Strict):
    agent_type: Literal["inbound", "outbound"] | None = None
    intro_message: Text(500) | None = None
    voicemail_detection_enabled: bool | None = None
    voicemail_message: Text(500) | None = None
    enable_recording: bool | None = None
    project_id: Uuid | None = None
    kb_threshold: Literal["low", "medium", "high"] | None = None
    kb_include_summaries: bool | None = None
    kb_result_format: Text(2000) | None = None
    kb_enable_llm_processing: bool | None = None
    kb_llm_system_prompt: Text(120_000) | None = None
    end_call_enabled: Annotated[bool | None, _alias("end_call_enabled", "endCallEnabled")] = None
    end_call_message: Annotated[Text(500) | None, _alias("end_call_message", "endCallMessage")] = None
    end_call_instructions: Text(2000) | None = None
    transfer_enabled: Annotated[bool | None, _alias("transfer_enabled", "transferEnabled")] = None
    transfer_number: Annotated[Phone | None, _alias("transfer_number", "transferNumber")] = None
    transfer_message: Annotated[Text(500) | None, _alias("transfer_message", "transferMessage")] = None
    transfer_instructions: Text(2000) | None = None
    max_call_duration_secs: Annotated[int, Field(ge=60, le=3600), BeforeValidator(_integral)] | None = Field(
        default=None, description="60-3600 seconds; default 600; null disables the cap"
    )
    background_audio_id: Uuid | None = None
    background_audio_volume: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    variables: Annotated[list[VarName], Field(max_length=100)] | None = Field(
        default=None, description="Declared variable names; derived from {{name}} placeholders when omitted"
    )
    extraction_config: ExtractionConfig | None = None

    def supplied(self) -> dict[str, Any]:
        """Only the fields the client sent, by their canonical (snake_case) names."""
        out = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            out[name] = value.model_dump(by_alias=True) if isinstance(value, BaseModel) else value
        return out


_NON_NULL = (
    "agent_type",
    "voicemail_detection_enabled",
    "enable_recording",
    "end_call_enabled",
    "transfer_enabled",
    "kb_include_summaries",
    "kb_enable_llm_processing",
    "agent_name",
    "prompt",
    "voice_id",
)


def _non_null_in_schema(schema: dict[str, Any]) -> None:
    """The schema of these fields says what the server does: null is refused (see non_null_errors)."""
    for name in _NON_NULL:
        prop = schema.get("properties", {}).get(name)
        if prop and "anyOf" in prop:
            kept = [branch for branch in prop["anyOf"] if branch.get("type") != "null"]
            del prop["anyOf"]
            prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        if prop is not None and prop.get("default", "") is None:
            del prop["default"]


def non_null_errors(values: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"field": k, "code": "INVALID_TYPE", "message": "must not be null"}
        for k in _NON_NULL
        if k in values and values[k] is None
    ]


class AgentCreate(_AgentFields):
    model_config = ConfigDict(json_schema_extra=_non_null_in_schema)
    agent_name: Text(50, 1)
    prompt: Text(120_000, 1)
    voice_id: Uuid


def _update_schema(schema: dict[str, Any]) -> None:
    _non_null_in_schema(schema)
    schema["minProperties"] = 1  # an empty update is EMPTY_UPDATE


class AgentUpdate(_AgentFields):
    model_config = ConfigDict(json_schema_extra=_update_schema)
    agent_name: Text(50, 1) | None = None
    prompt: Text(120_000, 1) | None = None
    voice_id: Uuid | None = None


class AgentOut(BaseModel):
    id: str
    agent_name: str
    agent_type: str
    prompt: str
    voice_id: str
    language: str
    intro_message: str | None
    voicemail_detection_enabled: bool
    voicemail_message: str | None
    enable_recording: bool
    kb_threshold: str | None
    kb_include_summaries: bool
    kb_result_format: str | None
    kb_enable_llm_processing: bool
    kb_llm_system_prompt: str | None
    variables: list[str]
    extraction_config: dict[str, Any] | None
    project_id: str | None
    transferEnabled: bool  # noqa: N815 - the v2 API's own casing
    transferNumber: str | None  # noqa: N815
    transferMessage: str | None  # noqa: N815
    transfer_instructions: str | None
    endCallEnabled: bool  # noqa: N815
    endCallMessage: str | None  # noqa: N815
    end_call_instructions: str | None
    max_call_duration_secs: int | None
    background_audio_id: str | None
    background_audio_volume: float | None
    document_count: int
    created_at: str
    updated_at: str


class AgentList(BaseModel):
    agents: list[AgentOut]
    total: int
    limit: int
    offset: int


class VoiceOut(BaseModel):
    id: str
    name: str
    engine: str
    engine_voice: str
    language: str
    gender: str
    tier: str
    description: str


class VoiceList(BaseModel):
    voices: list[VoiceOut]


# ---- calls ----
VariableValue = Annotated[str, StringConstraints(max_length=1000)] | int | float | bool


class StartCallBody(Strict):
    agent_id: Uuid
    to_number: Phone
    provider: Provider = "mcube"
    variables: Annotated[dict[str, VariableValue], Field(max_length=100)] = Field(default_factory=dict)
    connection_id: Uuid | None = None


class StartedCall(BaseModel):
    call_id: str
    session_id: str
    status: str
    provider: str
    from_number: str | None
    to_number: str
    agent_id: str


class TranscriptTurn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str
    timestamp: str | None = None
    latency_ms: int | None = None


class SessionOut(BaseModel):
    session_id: str
    agent_id: str
    agent_name: str
    call_id: str | None
    status: str
    duration_seconds: int | None
    credits_used: float | None
    transcript: list[TranscriptTurn]
    latency: dict[str, Any] | None
    recording_url: str | None
    variables: dict[str, Any]
    extraction: dict[str, Any] | None
    processing_complete: bool
    pipeline_completed_at: str | None
    started_at: str | None
    ended_at: str | None


class CallOut(BaseModel):
    call_id: str
    agent_id: str
    session_id: str
    connection_id: str | None
    direction: str
    from_number: str | None
    to_number: str
    status: str
    provider: str
    disposition: str | None
    answered_by: str | None
    sandbox: bool
    duration_seconds: int | None
    error_message: str | None
    started_at: str | None
    ended_at: str | None
    created_at: str


class CallDetail(CallOut):
    variables: dict[str, Any]
    session: SessionOut


class CallList(BaseModel):
    calls: list[CallOut]
    total: int
    limit: int
    offset: int


class ConcurrencyOut(BaseModel):
    limit: int
    limit_source: str
    active: int
    remaining: int
    statuses_counted: list[str]


# ---- config & telephony ----
class PhoneNumberOut(BaseModel):
    id: str
    phone_number: str
    friendly_name: str | None
    status: str
    is_default: bool


class ConnectionOut(BaseModel):
    id: str
    connection_id: str
    provider: str
    provider_key: str
    name: str
    status: str
    is_default: bool
    configured: bool
    from_number: str | None
    credential_hint: str
    settings: dict[str, Any]
    phone_numbers: list[PhoneNumberOut]
    created_at: str
    updated_at: str


class ConnectionEnvelope(BaseModel):
    connection: ConnectionOut


class ConnectionList(BaseModel):
    connections: list[ConnectionOut]


ConnectionProvider = Provider  # the registry's providers, as for calls


class ConnectionCreate(BaseModel):
    """Provider-specific fields are checked against that provider's credential schema."""

    model_config = ConfigDict(extra="allow", strict=True)
    provider: ConnectionProvider
    name: Text(100, 1)
    is_default: bool | None = None


class ConnectionPatch(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    name: Text(100, 1) | None = None
    status: Literal["ACTIVE", "INACTIVE"] | None = None
    is_default: bool | None = None


class ProviderCredentialsBody(BaseModel):
    """Fields per provider — twilio: account_sid, auth_token, from_number; plivo/vobiz: auth_id, auth_token,
    from_number; exotel: account_sid, api_key, api_token, subdomain, caller_id, applet_id; mcube: jwt_token,
    exe_number; sip: sip_host, outbound_username, outbound_password, source_ips, did_number, transport."""

    model_config = ConfigDict(extra="allow")


class ProviderCredentialsOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    provider: str
    configured: bool
    connection_id: str
    from_number: str | None
    credential_hint: str
    message: str


class TelephonyState(BaseModel):
    configured: bool
    from_number: str | None
    credential_hint: str | None
    connection_count: int


class WebhookState(BaseModel):
    configured: bool
    url: str | None
    secret: None = None


class RateLimitsOut(BaseModel):
    general_per_min: int
    calls_per_min: int


class DestinationPolicyOut(BaseModel):
    allowed_countries: list[str] | None = Field(description="ISO 3166 alpha-2 codes this account may call; null = all")
    blocked_number_types: list[str] = Field(description="Number types this account may not call")


class ConfigOut(BaseModel):
    partner_id: str
    name: str
    display_name: str
    status: str
    agent_limit: int
    current_agent_count: int
    concurrency_limit: int
    allowed_voices: list[str]
    allowed_languages: list[str]
    allowed_telephony_providers: list[str]
    voicemail_detection_enabled: bool
    rate_limits: RateLimitsOut
    webhook: WebhookState
    webhooks: list[dict[str, Any]]
    telephony: dict[str, TelephonyState]
    destination_policy: DestinationPolicyOut


class VoicemailSetting(Strict):
    enabled: bool


class VoicemailSettingOut(BaseModel):
    voicemail_detection_enabled: bool
