"""The realistic exchange: resting orders (time in force, stop price, expiry, latency timer,
reservation, version), positions and equity snapshots.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DECIMAL = sa.Numeric(38, 18).with_variant(sa.Text(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.add_column(sa.Column("time_in_force", sa.String(3)))
        orders.add_column(sa.Column("stop_price", DECIMAL))
        orders.add_column(sa.Column("expire_at", TIMESTAMP))
        orders.add_column(sa.Column("due_at", TIMESTAMP))
        orders.add_column(sa.Column("triggered_at", TIMESTAMP))
        orders.add_column(sa.Column("reserved", DECIMAL, nullable=False, server_default="0"))
        orders.add_column(sa.Column("reserved_asset", sa.String(16)))
        orders.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    # Orders stored before: their version is the seq of their latest event.
    op.execute("UPDATE orders SET version = (SELECT COALESCE(MAX(seq), 0) FROM order_events"
               " WHERE order_events.order_id = orders.order_id)")
    op.create_table(
        "positions",
        sa.Column("symbol", sa.String(20), primary_key=True),
        sa.Column("quantity", DECIMAL, nullable=False),
        sa.Column("avg_entry_price", DECIMAL, nullable=False),
        sa.Column("realized_pnl", DECIMAL, nullable=False),
        sa.Column("fees", DECIMAL, nullable=False),
        sa.Column("quote_asset", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "equity_snapshots",
        sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("quote_asset", sa.String(16), nullable=False),
        sa.Column("equity", DECIMAL, nullable=False),
        sa.Column("unpriced", sa.JSON, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_equity_snapshots_at", "equity_snapshots", ["at"])


def downgrade() -> None:
    op.drop_index("ix_equity_snapshots_at", "equity_snapshots")
    op.drop_table("equity_snapshots")
    op.drop_table("positions")
    with op.batch_alter_table("orders") as orders:
        for column in ("version", "reserved_asset", "reserved", "triggered_at", "due_at",
                       "expire_at", "stop_price", "time_in_force"):
            orders.drop_column(column)
