"""Tables for callee safety and campaigns: the do-not-call list, each partner's calling policy, campaigns,
their contacts and every attempt made on a contact.

An attempt is a row before it is a call: `(contact_id, attempt)` is unique, and the call it starts carries
an Idempotency-Key made from that pair, so a contact is never dialed twice for one attempt, whichever
process (or restart) gets to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxline.store.models import Base


class DncEntry(Base):
    """A number this partner must not call in this mode (its test list rehearses the live one)."""

    __tablename__ = "dnc_numbers"
    __table_args__ = (UniqueConstraint("partner_id", "mode", "phone", name="uq_dnc_partner_mode_phone"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    mode: Mapped[str] = mapped_column(String(8))
    phone: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # api | import | opt_out
    reason: Mapped[str | None] = mapped_column(Text)
    call_id: Mapped[str | None] = mapped_column(String(36))  # the call in which the callee opted out
    created_at: Mapped[datetime]


class CallingPolicy(Base):
    """A partner's calling hours and frequency caps for one mode; no row: the deployment's defaults."""

    __tablename__ = "calling_policies"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8), primary_key=True)
    windows: Mapped[list[Any]] = mapped_column(JSON)  # [{"days": [...], "start": "09:00", "end": "21:00"}]
    outside_hours: Mapped[str] = mapped_column(String(8), default="refuse")  # refuse | defer
    fallback_timezone: Mapped[str] = mapped_column(String(64))
    max_attempts_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_attempts_per_week: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime]


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_partner_mode_created", "partner_id", "mode", "created_at"),
        Index("ix_campaigns_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    mode: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    provider: Mapped[str] = mapped_column(String(20))
    connection_id: Mapped[str | None] = mapped_column(String(36))
    concurrency_limit: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16))  # draft | running | paused | completed | canceled
    variable_mapping: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # variable -> metadata key
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    retry_policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Fair share: the scheduler serves the partner's campaigns least recently served first.
    last_dispatch_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CampaignContact(Base):
    """One number of a campaign: waiting (due at `next_attempt_at`) → calling → completed | failed | skipped."""

    __tablename__ = "campaign_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone", name="uq_campaign_contacts_phone"),
        Index("ix_campaign_contacts_due", "campaign_id", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    mode: Mapped[str] = mapped_column(String(8))
    phone: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    contact_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    current_call_id: Mapped[str | None] = mapped_column(String(36))
    claimed_until: Mapped[datetime | None]  # a 'calling' contact whose call is not yet recorded: its lease
    outcome: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CampaignAttempt(Base):
    """Attempt n of a contact, reserved before its call is started; the unique pair forbids a second dial."""

    __tablename__ = "campaign_attempts"
    __table_args__ = (UniqueConstraint("contact_id", "attempt", name="uq_campaign_attempts_once"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("campaign_contacts.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str | None] = mapped_column(String(16))  # the call's final status, when known
    outcome: Mapped[str | None] = mapped_column(String(32))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
