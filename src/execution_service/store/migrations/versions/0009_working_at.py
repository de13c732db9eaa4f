"""Since when an order works on the book (Binance's `workingTime`): `orders.working_at`.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("working_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("working_at")
