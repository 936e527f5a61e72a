"""Tables. Everything that must survive a crash (a call to dial, an event to deliver) is a row here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from voxline.core.keys import LIVE, TEST
from voxline.store.types import UTCDateTime

# Test and live are two worlds: every row a key can see or change carries the mode of the key that made it
# (LIVE or TEST), and every read by a key is filtered by the key's mode as well as its partner.
__all__ = ["LIVE", "TEST"]


def _mode() -> Mapped[str]:
    """No default: a row that forgot its mode is an error, never silently live."""
    return mapped_column(String(8))


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")
    agent_limit: Mapped[int] = mapped_column(Integer, default=10)
    concurrency_limit: Mapped[int] = mapped_column(Integer, default=5)
    # Sandbox (test-mode) calls have their own limit, never counted against the live one; None: the
    # deployment's VOXLINE_SANDBOX_CONCURRENCY.
    sandbox_concurrency_limit: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    allowed_providers: Mapped[list[Any]] = mapped_column(JSON)
    rate_limit_per_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    calls_rate_limit_per_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    voicemail_detection_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Destination policy (core/destination.py): null = every country; types lifted from the default blocks.
    allowed_countries: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    allowed_number_types: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    mode: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (
        Index(
            "uq_agents_partner_name_live",
            "partner_id",
            "agent_name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_agents_partner_created", "partner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    agent_name: Mapped[str] = mapped_column(String(50))
    agent_type: Mapped[str] = mapped_column(String(10), default="outbound")
    prompt: Mapped[str] = mapped_column(Text)
    voice_id: Mapped[str] = mapped_column(String(36))
    language: Mapped[str] = mapped_column(String(16))
    intro_message: Mapped[str | None] = mapped_column(Text)
    voicemail_detection_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    voicemail_message: Mapped[str | None] = mapped_column(Text)
    enable_recording: Mapped[bool] = mapped_column(Boolean, default=False)
    end_call_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    end_call_message: Mapped[str | None] = mapped_column(Text)
    end_call_instructions: Mapped[str | None] = mapped_column(Text)
    transfer_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    transfer_number: Mapped[str | None] = mapped_column(String(32))
    transfer_message: Mapped[str | None] = mapped_column(Text)
    transfer_instructions: Mapped[str | None] = mapped_column(Text)
    max_call_duration_secs: Mapped[int | None] = mapped_column(Integer)
    variables: Mapped[list[Any]] = mapped_column(JSON)
    extraction_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    project_id: Mapped[str | None] = mapped_column(String(36))
    # Accepted for wire compatibility with Vocobase clients; kept and echoed back.
    kb_settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    background_audio_id: Mapped[str | None] = mapped_column(String(36))
    background_audio_volume: Mapped[float | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class TelephonyConnection(Base):
    __tablename__ = "telephony_connections"
    __table_args__ = (
        UniqueConstraint("partner_id", "provider", "mode", "name", name="uq_connections_partner_mode_name"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    # Test-mode connections are dialed only by sandbox calls (on the emulators), live ones only by live calls.
    mode: Mapped[str] = _mode()
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="ACTIVE")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    from_number: Mapped[str | None] = mapped_column(String(32))
    credentials_enc: Mapped[str] = mapped_column(Text)
    credential_hint: Mapped[str] = mapped_column(String(64))
    public_settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Dialer pacing: calls per second this account may place (None: the carrier's default), and the
    # earliest moment the next dial may go out, shared by every dialer process on the database.
    calls_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    next_dial_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Call(Base):
    """One outbound (or inbound) phone call; its conversation is the session with the same call_id."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_partner_mode_created", "partner_id", "mode", "created_at"),
        Index("ix_calls_partner_mode_status", "partner_id", "mode", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    session_id: Mapped[str] = mapped_column(String(36), unique=True)
    connection_id: Mapped[str | None] = mapped_column(
        ForeignKey("telephony_connections.id", ondelete="SET NULL"), index=True
    )
    provider: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = _mode()  # 'test': a sandbox call, placed on the carrier emulators
    direction: Mapped[str] = mapped_column(String(10), default="outbound")
    from_number: Mapped[str | None] = mapped_column(String(32))
    to_number: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    disposition: Mapped[str | None] = mapped_column(String(32))
    answered_by: Mapped[str | None] = mapped_column(String(16))
    carrier_call_id: Mapped[str | None] = mapped_column(String(128), index=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[int | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # sha256 (hex) of the unguessable per-call secret in carrier-facing URLs: the URLs carry the token,
    # the database only what checks it (a leaked row does not let anyone forge a callback).
    callback_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    # When the carrier's create-call request went out (ring timeout counts from here).
    dialed_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)
    # When a media websocket took this call: one stream per call, whichever server process the carrier
    # reached (a duplicate answer opens a second stream; two conversations would talk over each other).
    media_started_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @hybrid_property
    def sandbox(self) -> bool:
        """A test-mode call: dialed on this server's carrier emulators (the API's `sandbox` field)."""
        return self.mode == TEST  # on the class: the SQL expression `mode = 'test'`


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    mode: Mapped[str] = _mode()
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    call_id: Mapped[str | None] = mapped_column(String(36))
    agent_name: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16))
    rendered_prompt: Mapped[str] = mapped_column(Text)
    rendered_intro: Mapped[str | None] = mapped_column(Text)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON)
    transcript: Mapped[list[Any]] = mapped_column(JSON)
    latency: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    duration_seconds: Mapped[int | None]
    credits_used: Mapped[float | None]
    recording_path: Mapped[str | None] = mapped_column(Text)
    extraction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    processing_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    pipeline_completed_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class DialJob(Base):
    """A call waiting to be dialed. The dialer claims rows; a row exists before any task does."""

    __tablename__ = "dial_jobs"
    __table_args__ = (
        Index("ix_dial_jobs_ready", "status", "available_at"),
        Index("ix_dial_jobs_partner_status", "partner_id", "mode", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), unique=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    mode: Mapped[str] = _mode()  # the call's: each mode's lines are counted against its own limit
    connection_id: Mapped[str] = mapped_column(ForeignKey("telephony_connections.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class SessionEvent(Base):
    """An event a session emitted (today: session.completed), written in the transaction that caused it."""

    __tablename__ = "session_events"
    __table_args__ = (UniqueConstraint("session_id", "event_type", name="uq_session_events_once"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    mode: Mapped[str] = _mode()  # the session's: a live event goes to live endpoints only, a test one to test ones
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id"))  # None: a campaign's event
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("partner_id", "mode", "key", name="uq_idempotency_partner_mode_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    mode: Mapped[str] = _mode()
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"))
    created_at: Mapped[datetime]


class RateLimitCounter(Base):
    """Fixed one-minute windows per key and bucket, shared by every server process on the database."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
