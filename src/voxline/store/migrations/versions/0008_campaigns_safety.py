"""campaigns and callee safety: do-not-call list, calling policy, campaigns, contacts, attempts

session_events.session_id becomes nullable: campaign.completed is an event of a campaign, not a session.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "dnc_numbers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("partner_id", sa.String(36), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("call_id", sa.String(36), nullable=True),
        _ts("created_at"),
        sa.UniqueConstraint("partner_id", "mode", "phone", name="uq_dnc_partner_mode_phone"),
    )
    op.create_table(
        "calling_policies",
        sa.Column("partner_id", sa.String(36), sa.ForeignKey("partners.id"), primary_key=True),
        sa.Column("mode", sa.String(8), primary_key=True),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("outside_hours", sa.String(8), nullable=False),
        sa.Column("fallback_timezone", sa.String(64), nullable=False),
        sa.Column("max_attempts_per_day", sa.Integer(), nullable=True),
        sa.Column("max_attempts_per_week", sa.Integer(), nullable=True),
        _ts("updated_at"),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("partner_id", sa.String(36), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("agent_id", sa.String(36), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("connection_id", sa.String(36), nullable=True),
        sa.Column("concurrency_limit", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("variable_mapping", sa.JSON(), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=True),
        sa.Column("retry_policy", sa.JSON(), nullable=False),
        _ts("last_dispatch_at", True),
        _ts("started_at", True),
        _ts("paused_at", True),
        _ts("completed_at", True),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_campaigns_partner_mode_created", "campaigns", ["partner_id", "mode", "created_at"])
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_table(
        "campaign_contacts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("partner_id", sa.String(36), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", True),
        sa.Column("current_call_id", sa.String(36), nullable=True),
        _ts("claimed_until", True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("campaign_id", "phone", name="uq_campaign_contacts_phone"),
    )
    op.create_index("ix_campaign_contacts_due", "campaign_contacts", ["campaign_id", "status", "next_attempt_at"])
    op.create_table(
        "campaign_attempts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "contact_id", sa.String(36), sa.ForeignKey("campaign_contacts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("ended_at", True),
        sa.UniqueConstraint("contact_id", "attempt", name="uq_campaign_attempts_once"),
    )
    op.create_index("ix_campaign_attempts_contact_id", "campaign_attempts", ["contact_id"])
    # The frequency cap counts a partner's recent calls to one number.
    op.create_index("ix_calls_partner_mode_to_created", "calls", ["partner_id", "mode", "to_number", "created_at"])
    with op.batch_alter_table("session_events") as batch:
        batch.alter_column("session_id", existing_type=sa.String(36), nullable=True)


def downgrade() -> None:
    op.execute(
        "DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM session_events WHERE session_id IS NULL)"
    )
    op.execute("DELETE FROM session_events WHERE session_id IS NULL")
    with op.batch_alter_table("session_events") as batch:
        batch.alter_column("session_id", existing_type=sa.String(36), nullable=False)
    op.drop_index("ix_calls_partner_mode_to_created", table_name="calls")
    op.drop_table("campaign_attempts")
    op.drop_table("campaign_contacts")
    op.drop_table("campaigns")
    op.drop_table("calling_policies")
    op.drop_table("dnc_numbers")
