"""Orders from Binance's API keep Binance's rules for their later fills (the commission in
the asset received): `orders.binance_rules`, false for the orders stored before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("binance_rules", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("binance_rules")
