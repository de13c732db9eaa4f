"""Initial schema: orders, trades, order_events, balances, outbox, rejected_messages, control_state.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Exact decimals: NUMERIC on PostgreSQL, decimal text on SQLite (whose NUMERIC is a float).
DECIMAL = sa.Numeric(38, 18).with_variant(sa.Text(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), unique=True),
        sa.Column("intake_ref", sa.String(200), unique=True),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("order_type", sa.String(24), nullable=False),
        sa.Column("quantity", DECIMAL, nullable=False),
        sa.Column("price", DECIMAL),
        sa.Column("filled_quantity", DECIMAL, nullable=False),
        sa.Column("avg_fill_price", DECIMAL),
        sa.Column("fee", DECIMAL, nullable=False),
        sa.Column("fee_asset", sa.String(16)),
        sa.Column("slippage_bps", DECIMAL),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(32)),
        sa.Column("error_message", sa.Text),
        sa.Column("strategy_id", sa.String(256)),
        sa.Column("bot_id", sa.String(256)),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_orders_created_at", "orders", ["created_at"])
    op.create_index("ix_orders_status", "orders", ["status"])

    op.create_table(
        "trades",
        sa.Column("trade_id", sa.String(80), primary_key=True),
        sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", DECIMAL, nullable=False),
        sa.Column("price", DECIMAL, nullable=False),
        sa.Column("fee", DECIMAL, nullable=False),
        sa.Column("fee_asset", sa.String(16), nullable=False),
        sa.Column("slippage_bps", DECIMAL, nullable=False),
        sa.Column("liquidity", sa.String(8), nullable=False),
        sa.Column("executed_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_trades_order_id", "trades", ["order_id"])
    op.create_index("ix_trades_executed_at", "trades", ["executed_at"])

    op.create_table(
        "order_events",
        sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("at", TIMESTAMP, nullable=False),
    )

    op.create_table(
        "balances",
        sa.Column("asset", sa.String(16), primary_key=True),
        sa.Column("free", DECIMAL, nullable=False),
        sa.Column("locked", DECIMAL, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("CAST(free AS NUMERIC) >= 0", name="ck_balances_free_non_negative"),
        sa.CheckConstraint("CAST(locked AS NUMERIC) >= 0", name="ck_balances_locked_non_negative"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(100), nullable=False, unique=True),
        sa.Column("order_id", sa.String(64)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["id"],
                    postgresql_where=sa.text("sent_at IS NULL"),
                    sqlite_where=sa.text("sent_at IS NULL"))

    op.create_table(
        "rejected_messages",
        sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("intake_ref", sa.String(200)),
        sa.Column("client_id", sa.String(64)),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("payload_bytes", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
    )

    op.create_table(
        "control_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    for table in ("control_state", "rejected_messages", "outbox", "balances", "order_events",
                  "trades", "orders"):
        op.drop_table(table)
