"""Resting orders keep their place in the queue (QUEUE_MODEL): `orders.queue_ahead`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DECIMAL = sa.Numeric(38, 18).with_variant(sa.Text(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("queue_ahead", DECIMAL))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("queue_ahead")
