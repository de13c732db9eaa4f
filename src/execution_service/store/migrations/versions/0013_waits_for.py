"""A pending order of an order list (Binance's OTO, OTOCO) names the working order it waits
for: `orders.waits_for`, that order's id.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("waits_for", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("waits_for")
