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
    """Unknown fields and silent type coercion are both errors. A field's docstring is its description."""

    model_config = ConfigDict(extra="forbid", strict=True, use_attribute_docstrings=True)


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


def Integer(ge: int, le: int):  # noqa: N802, ANN201
    """An integer in [ge, le]; an integral float such as 3.0 counts (see _integral)."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_integral)]


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
    """Key of the value in `extraction.values`."""
    type: ExtractionType = "string"
    """JSON type of the value; dates as ISO 8601 strings."""
    description: Text(1000) | None = None
    """What to extract, in words the model can follow."""


class ExtractionConfig(Strict):
    prompt: Text(120_000) = ""
    """Instructions for the extraction run, added to each key's description."""
    keys: Annotated[list[ExtractionKey], Field(min_length=1, max_length=50)]
    """The values to extract from the transcript (1-50)."""
    include_tool_logs: bool = Field(
        default=False,
        validation_alias=AliasChoices("includeToolLogs", "include_tool_logs"),
        serialization_alias="includeToolLogs",
        description="Give the extraction the agent's tool calls too (also `include_tool_logs`).",
    )


def _alias(snake: str, camel: str) -> Any:
    return Field(validation_alias=AliasChoices(snake, camel))


class _AgentFields(Strict):
    agent_type: Literal["inbound", "outbound"] | None = None
    """Direction the agent handles; default `outbound`."""
    intro_message: Text(500) | None = None
    """First words the agent says when the callee answers; supports `{{name}}` variables."""
    voicemail_detection_enabled: bool | None = None
    """Detect answering machines (needs account-level voicemail detection too); default false."""
    voicemail_message: Text(500) | None = None
    """Said to an answering machine before hanging up; null or \"\" hangs up silently."""
    enable_recording: bool | None = None
    """Record the call; the session then has a `recording_url`; default false."""
    project_id: Uuid | None = None
    """Project the agent belongs to; the default project when omitted."""
    kb_threshold: Literal["low", "medium", "high"] | None = None
    """How closely knowledge-base passages must match to be used (stored; no knowledge base yet)."""
    kb_include_summaries: bool | None = None
    """Include document summaries in knowledge-base results (stored)."""
    kb_result_format: Text(2000) | None = None
    """Template for knowledge-base results (stored)."""
    kb_enable_llm_processing: bool | None = None
    """Post-process knowledge-base results with the language model (stored)."""
    kb_llm_system_prompt: Text(120_000) | None = None
    """System prompt of that post-processing (stored)."""
    end_call_enabled: Annotated[bool | None, _alias("end_call_enabled", "endCallEnabled")] = None
    """Let the agent end the call itself (also `endCallEnabled`); default false."""
    end_call_message: Annotated[Text(500) | None, _alias("end_call_message", "endCallMessage")] = None
    """Said before the agent hangs up (also `endCallMessage`)."""
    end_call_instructions: Text(2000) | None = None
    """When the agent should end the call."""
    transfer_enabled: Annotated[bool | None, _alias("transfer_enabled", "transferEnabled")] = None
    """Let the agent transfer the call to a person (also `transferEnabled`); default false."""
    transfer_number: Annotated[Phone | None, _alias("transfer_number", "transferNumber")] = None
    """E.164 number transfers go to (also `transferNumber`)."""
    transfer_message: Annotated[Text(500) | None, _alias("transfer_message", "transferMessage")] = None
    """Said before transferring (also `transferMessage`)."""
    transfer_instructions: Text(2000) | None = None
    """When the agent should transfer."""
    max_call_duration_secs: Annotated[int, Field(ge=60, le=3600), BeforeValidator(_integral)] | None = Field(
        default=None, description="60-3600 seconds; default 600; null disables the cap"
    )
    background_audio_id: Uuid | None = None
    """Background audio asset played under the agent's voice (stored)."""
    background_audio_volume: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    """Volume of the background audio, 0.0-1.0."""
    variables: Annotated[list[VarName], Field(max_length=100)] | None = Field(
        default=None, description="Declared variable names; derived from {{name}} placeholders when omitted"
    )
    extraction_config: ExtractionConfig | None = None
    """Values to extract from each finished call (see `extraction` on the session); null turns it off."""

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


EXAMPLE_VOICE = "6176b5f2-e8df-572a-92e9-54414a621127"  # the default engine's first voice
AGENT_EXAMPLE = {
    "agent_name": "Appointment reminder",
    "prompt": "You are Asha from City Clinic. Remind {{callee_name}} of tomorrow's 10:00 appointment and ask "
    "whether they will come.",
    "voice_id": EXAMPLE_VOICE,
    "intro_message": "Hello {{callee_name}}, this is Asha from City Clinic.",
    "enable_recording": True,
    "extraction_config": {"keys": [{"name": "will_attend", "type": "boolean", "description": "Will they come?"}]},
}


def _example(example: dict[str, Any]) -> ConfigDict:
    """A request example shown by /docs (and sent by schema fuzzers, so it must be one the server accepts)."""
    return ConfigDict(json_schema_extra={"examples": [example]})


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


def _create_schema(schema: dict[str, Any]) -> None:
    _non_null_in_schema(schema)
    schema["examples"] = [AGENT_EXAMPLE]


class AgentCreate(_AgentFields):
    model_config = ConfigDict(json_schema_extra=_create_schema)
    agent_name: Text(50, 1)
    """Name, unique in this account (1-50 characters)."""
    prompt: Text(120_000, 1)
    """System prompt: who the agent is and what the call is for; supports `{{name}}` variables."""
    voice_id: Uuid
    """A voice `id` from GET /agent/voices; it fixes the language."""


def _update_schema(schema: dict[str, Any]) -> None:
    _non_null_in_schema(schema)
    schema["minProperties"] = 1  # an empty update is EMPTY_UPDATE
    schema["examples"] = [
        {"intro_message": "Hi {{callee_name}}, Asha here from City Clinic.", "transferEnabled": False}
    ]


class AgentUpdate(_AgentFields):
    model_config = ConfigDict(json_schema_extra=_update_schema)
    agent_name: Text(50, 1) | None = None
    """New name, unique in this account."""
    prompt: Text(120_000, 1) | None = None
    """New system prompt."""
    voice_id: Uuid | None = None
    """A voice `id` from GET /agent/voices."""


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
    model_config = _example(
        {
            "agent_id": "3f0b9a52-8d1e-4c7a-9a43-0f6c2d1e5b7a",
            "to_number": "+919876543210",
            "provider": "twilio",
            "variables": {"callee_name": "Sajal"},
        }
    )
    agent_id: Uuid
    """The agent that holds the conversation."""
    to_number: Phone
    """Number to call, E.164."""
    provider: Provider = "mcube"
    """Carrier to dial through; default `mcube`. Must be allowed for the account and configured."""
    variables: Annotated[dict[str, VariableValue], Field(max_length=100)] = Field(default_factory=dict)
    """Values for the agent's declared `{{name}}` placeholders; echoed in the webhook."""
    connection_id: Uuid | None = None
    """Telephony connection to use; required when the account has several active ones for `provider`."""


class BrowserSessionBody(Strict):
    model_config = _example({"agent_id": "3f0b9a52-8d1e-4c7a-9a43-0f6c2d1e5b7a", "variables": {"callee_name": "Sajal"}})
    agent_id: Uuid
    """The agent to talk to."""
    variables: Annotated[dict[str, VariableValue], Field(max_length=100)] = Field(default_factory=dict)
    """Values for the agent's declared `{{name}}` placeholders, as in POST /calls/start."""


class BrowserSessionOut(BaseModel):
    session_id: str
    agent_id: str
    daily_room_url: str
    """Vocobase's field name, our value: the absolute URL of this server's join page for the session
    (open `{daily_room_url}#token={daily_token}` in a browser)."""
    daily_token: str
    """Vocobase's field name, our value: a single-use join token, valid until `expires_at`."""
    expires_at: str
    """When the join token stops admitting the browser (a few minutes after the start)."""


class WebrtcOfferBody(Strict):
    model_config = _example({"token": "join-token-from-POST-sessions-webrtc", "sdp": "v=0\r\n…", "type": "offer"})
    token: Annotated[str, StringConstraints(max_length=200)]
    """The session's `daily_token` (single use)."""
    sdp: Annotated[str, StringConstraints(max_length=100_000)]
    """The browser's SDP offer, ICE candidates included (wait for gathering to complete)."""
    type: Annotated[str, StringConstraints(max_length=16)] = "offer"
    """Always `offer`."""


class WebrtcAnswer(BaseModel):
    sdp: str
    """The server's SDP answer, its ICE candidates included."""
    type: str


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
    queued: int = Field(
        0, description="Of the active calls, those started and still waiting in the dial queue to be dialed"
    )
    waiting_reason: str | None = Field(
        None,
        description="Why queued calls wait: `concurrency_limit` (this account's), `server_max_calls`, "
        "`server_loop_lag`, `server_frames_late`, `server_cpu`, `server_warming_up` or `server_ramp` "
        "(the server has no room to voice another call "
        "now: calls wait rather than ring and go silent), `dialer` (a dialer's next claim: the connection's calls "
        "per second, or no dialer has looked yet); null when none waits",
    )


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

    model_config = ConfigDict(
        extra="allow",
        strict=True,
        use_attribute_docstrings=True,
        json_schema_extra={
            "examples": [
                {
                    "provider": "twilio",
                    "name": "US numbers",
                    "account_sid": "AC" + "0123456789abcdef" * 2,
                    "auth_token": "0123456789abcdef" * 2,
                    "from_number": "+14155551234",
                }
            ]
        },
    )
    provider: ConnectionProvider
    """Carrier of this connection; the other fields are its credentials (see PUT /config/telephony/{provider})."""
    name: Text(100, 1)
    """Name, unique in this account."""
    is_default: bool | None = None
    """Make it the provider's default connection (the first one is)."""


class ConnectionPatch(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        strict=True,
        use_attribute_docstrings=True,
        json_schema_extra={"examples": [{"name": "US numbers (backup)", "is_default": False}]},
    )
    name: Text(100, 1) | None = None
    """New name."""
    status: Literal["ACTIVE", "INACTIVE"] | None = None
    """INACTIVE connections are not used for calls."""
    is_default: bool | None = None
    """Make it the provider's default connection (the first one is)."""


class ProviderCredentialsBody(BaseModel):
    """Fields per provider — twilio: account_sid, auth_token, from_number; plivo/vobiz: auth_id, auth_token,
    from_number; exotel: account_sid, api_key, api_token, subdomain, caller_id, applet_id; mcube: jwt_token,
    exe_number; sip: sip_host, outbound_username, outbound_password, source_ips, did_number, transport."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "account_sid": "AC" + "0123456789abcdef" * 2,
                    "auth_token": "0123456789abcdef" * 2,
                    "from_number": "+14155551234",
                }
            ]
        },
    )


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
    model_config = _example({"enabled": True})
    enabled: bool
    """Whether calls may detect voicemail (with the agent's `voicemail_detection_enabled`)."""


class VoicemailSettingOut(BaseModel):
    voicemail_detection_enabled: bool
