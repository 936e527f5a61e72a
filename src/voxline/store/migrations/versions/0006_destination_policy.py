"""partners: destination policy (allowed countries, number types lifted from the default blocks)

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.add_column(sa.Column("allowed_countries", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("allowed_number_types", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("allowed_number_types")
        batch.drop_column("allowed_countries")
