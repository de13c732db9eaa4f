"""Orders of one order list (Binance's OCO) name it: `orders.list_ref`, the order id of the
list's first order, indexed to find a list's orders.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("list_ref", sa.Text()))
    op.create_index("ix_orders_list_ref", "orders", ["list_ref"])


def downgrade() -> None:
    op.drop_index("ix_orders_list_ref", "orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("list_ref")
