"""Dashboard tables: signed-in browser sessions (partner or operator) and the operator's admin credentials.

Only hashes of the random session tokens and admin tokens are stored: a leaked row signs nobody in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from voxline.store.models import Base


class DashboardSession(Base):
    """One browser signed in: as a partner's key (partner, key and its mode) or as the deployment's operator."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # "partner" or "operator"
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), nullable=True)
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=True)
    mode: Mapped[str | None] = mapped_column(String(8), nullable=True)
    admin_token_id: Mapped[str | None] = mapped_column(ForeignKey("admin_tokens.id", ondelete="CASCADE"), nullable=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AdminToken(Base):
    """A credential for the operator view, made with `voxline admin create-token` and shown once."""

    __tablename__ = "admin_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
