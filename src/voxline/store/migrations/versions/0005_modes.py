"""modes: test and live are two worlds; every row a key can see or change says which one it belongs to

Backfill: a call's mode comes from its old `sandbox` flag; its session, dial-queue row, session events
and idempotency record follow the call. Telephony connections made before modes existed served both
kinds of key; they become live, so an existing deployment's live calls keep dialing exactly as before
(a test key configures its own test credentials, which the carrier emulators accept). Webhook endpoints
already recorded the mode of the key that set them and keep it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_MODE_TABLES = ("calls", "sessions", "session_events", "dial_jobs", "idempotency_keys", "telephony_connections")


def upgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.add_column(sa.Column("sandbox_concurrency_limit", sa.Integer(), nullable=True))
    for table in _MODE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("mode", sa.String(8), nullable=True))

    op.execute("UPDATE calls SET mode = CASE WHEN sandbox THEN 'test' ELSE 'live' END")
    op.execute(
        "UPDATE sessions SET mode = COALESCE("
        "(SELECT calls.mode FROM calls WHERE calls.session_id = sessions.id), 'live')"
    )
    op.execute(
        "UPDATE session_events SET mode = COALESCE("
        "(SELECT sessions.mode FROM sessions WHERE sessions.id = session_events.session_id), 'live')"
    )
    op.execute(
        "UPDATE dial_jobs SET mode = COALESCE((SELECT calls.mode FROM calls WHERE calls.id = dial_jobs.call_id), 'live')"
    )
    op.execute(
        "UPDATE idempotency_keys SET mode = COALESCE("
        "(SELECT calls.mode FROM calls WHERE calls.id = idempotency_keys.call_id), 'live')"
    )
    op.execute("UPDATE telephony_connections SET mode = 'live'")
    # Before modes, a session's event went to every endpoint of the partner: drop the deliveries that
    # crossed modes (a live transcript queued for a test endpoint), so no retry or redelivery sends them.
    op.execute(
        "DELETE FROM webhook_deliveries WHERE EXISTS (SELECT 1 FROM session_events AS e, webhook_endpoints AS w "
        "WHERE e.id = webhook_deliveries.event_id AND w.id = webhook_deliveries.endpoint_id AND e.mode <> w.mode)"
    )

    for table in _MODE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("mode", existing_type=sa.String(8), nullable=False)

    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_partner_created")
        batch.drop_index("ix_calls_partner_status")
        batch.drop_column("sandbox")
        batch.create_index("ix_calls_partner_mode_created", ["partner_id", "mode", "created_at"])
        batch.create_index("ix_calls_partner_mode_status", ["partner_id", "mode", "status"])
    with op.batch_alter_table("dial_jobs") as batch:
        batch.drop_index("ix_dial_jobs_partner_status")
        batch.create_index("ix_dial_jobs_partner_status", ["partner_id", "mode", "status"])
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_constraint("uq_idempotency_partner_key", type_="unique")
        batch.create_unique_constraint("uq_idempotency_partner_mode_key", ["partner_id", "mode", "key"])
    with op.batch_alter_table("telephony_connections") as batch:
        batch.drop_constraint("uq_connections_partner_name", type_="unique")
        batch.create_unique_constraint("uq_connections_partner_mode_name", ["partner_id", "provider", "mode", "name"])
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_constraint("uq_webhook_endpoints_label", type_="unique")
        batch.create_unique_constraint("uq_webhook_endpoints_mode_label", ["partner_id", "mode", "label"])


def downgrade() -> None:
    # One world again: test rows that would collide with live ones under the old unique keys are renamed
    # (connections, endpoints) or dropped (idempotency records are a 24-hour cache).
    op.execute("DELETE FROM idempotency_keys WHERE mode = 'test'")
    op.execute(
        "UPDATE telephony_connections SET name = SUBSTR(name, 1, 94) || '-test' WHERE mode = 'test' AND EXISTS "
        "(SELECT 1 FROM telephony_connections AS l WHERE l.mode = 'live' AND l.partner_id = "
        "telephony_connections.partner_id AND l.provider = telephony_connections.provider "
        "AND l.name = telephony_connections.name)"
    )
    op.execute(
        "UPDATE webhook_endpoints SET label = SUBSTR(label, 1, 26) || '-test' WHERE mode = 'test' AND EXISTS "
        "(SELECT 1 FROM webhook_endpoints AS l WHERE l.mode = 'live' AND l.partner_id = webhook_endpoints.partner_id "
        "AND l.label = webhook_endpoints.label)"
    )
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_constraint("uq_webhook_endpoints_mode_label", type_="unique")
        batch.create_unique_constraint("uq_webhook_endpoints_label", ["partner_id", "label"])
    with op.batch_alter_table("telephony_connections") as batch:
        batch.drop_constraint("uq_connections_partner_mode_name", type_="unique")
        batch.create_unique_constraint("uq_connections_partner_name", ["partner_id", "provider", "name"])
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_constraint("uq_idempotency_partner_mode_key", type_="unique")
        batch.create_unique_constraint("uq_idempotency_partner_key", ["partner_id", "key"])
    with op.batch_alter_table("dial_jobs") as batch:
        batch.drop_index("ix_dial_jobs_partner_status")
        batch.create_index("ix_dial_jobs_partner_status", ["partner_id", "status"])
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("sandbox", sa.Boolean(), nullable=True))
    op.execute("UPDATE calls SET sandbox = (mode = 'test')")
    with op.batch_alter_table("calls") as batch:
        batch.alter_column("sandbox", existing_type=sa.Boolean(), nullable=False)
        batch.drop_index("ix_calls_partner_mode_created")
        batch.drop_index("ix_calls_partner_mode_status")
        batch.create_index("ix_calls_partner_created", ["partner_id", "created_at"])
        batch.create_index("ix_calls_partner_status", ["partner_id", "status"])
    for table in _MODE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("mode")
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("sandbox_concurrency_limit")
