"""calls: keep only the sha256 of each call's callback token, never the token itself

The carrier-facing URLs carry the token; the database keeps what checks it. Calls still in flight keep
working: their tokens are hashed here. Ended calls need no token any more and lose it.

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-30
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ACTIVE = ("pending", "ringing", "in_progress")


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("callback_token_hash", sa.String(64), nullable=True))
    calls = sa.table(
        "calls",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("callback_token", sa.String),
        sa.column("callback_token_hash", sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(calls.c.id, calls.c.callback_token).where(
            calls.c.callback_token.is_not(None), calls.c.status.in_(_ACTIVE)
        )
    ).all()
    for call_id, token in rows:
        digest = hashlib.sha256(token.encode()).hexdigest()
        bind.execute(sa.update(calls).where(calls.c.id == call_id).values(callback_token_hash=digest))
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("callback_token")


def downgrade() -> None:
    # A hash cannot be turned back into its token: calls in flight at a downgrade lose their callbacks.
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("callback_token", sa.String(64), nullable=True))
        batch.drop_column("callback_token_hash")
