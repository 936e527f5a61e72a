"""webrtc_joins: the single-use join token of a browser test session, and how long it holds a line

A browser session (POST /sessions/webrtc) has a session row and no call. Its join token is kept only as
a sha256; `active_until` is what the concurrency limit counts: the join deadline until the browser joins,
then the session's hard cap, cleared when the conversation is filed (a crashed server frees it by time).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webrtc_joins",
        sa.Column("session_id", sa.String(36), sa.ForeignKey("sessions.id"), primary_key=True),
        sa.Column("partner_id", sa.String(36), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webrtc_joins_active", "webrtc_joins", ["partner_id", "mode", "active_until"])


def downgrade() -> None:
    op.drop_index("ix_webrtc_joins_active", table_name="webrtc_joins")
    op.drop_table("webrtc_joins")
