"""The browser test session's join ticket: a hashed single-use token and the line the session holds.

One row per session started with POST /sessions/webrtc (a session without a call). `active_until` is
what the partner's concurrency limit counts, so a server that dies mid-session frees the line by time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from voxline.store.models import Base


class WebrtcJoin(Base):
    __tablename__ = "webrtc_joins"
    __table_args__ = (Index("ix_webrtc_joins_active", "partner_id", "mode", "active_until"),)

    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    mode: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the token; the token is never stored
    expires_at: Mapped[datetime]  # the token's deadline
    used_at: Mapped[datetime | None]  # set once, by the one offer the token admits
    active_until: Mapped[datetime | None]  # counted against concurrency while in the future
    created_at: Mapped[datetime]
