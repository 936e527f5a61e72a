"""dialer: carrier call state, per-call callback token, per-connection pacing

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("callback_token", sa.String(64), nullable=True))
        batch.add_column(sa.Column("dialed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("telephony_connections") as batch:
        batch.add_column(sa.Column("calls_per_second", sa.Float(), nullable=True))
        batch.add_column(sa.Column("next_dial_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_dial_jobs_partner_status", "dial_jobs", ["partner_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_dial_jobs_partner_status", table_name="dial_jobs")
    with op.batch_alter_table("telephony_connections") as batch:
        batch.drop_column("next_dial_at")
        batch.drop_column("calls_per_second")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("dialed_at")
        batch.drop_column("callback_token")
