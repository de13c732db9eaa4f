"""Sub-accounts: every order, trade, balance, position and equity snapshot belongs to one.

Rows written before belong to the account 'default', the one orders go to when they name
none. Balances and positions are keyed by (account, asset) and (account, symbol): both
tables are rebuilt under the new key (copy, drop, rename), which PostgreSQL and SQLite do
alike. Orders and trades get an index to read one account's orders and fills per symbol.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DECIMAL = sa.Numeric(38, 18).with_variant(sa.Text(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
_ACCOUNT = sa.String(64)


def _account() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("account", _ACCOUNT, nullable=False, server_default="default")


def upgrade() -> None:
    for table in ("orders", "trades", "equity_snapshots"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(_account())
    op.create_index("ix_orders_account_symbol", "orders", ["account", "symbol", "created_at"])
    op.create_index("ix_trades_account_symbol", "trades", ["account", "symbol", "executed_at"])
    op.create_index("ix_equity_snapshots_account_at", "equity_snapshots", ["account", "at"])
    op.create_table(
        "balances_next",
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("free", DECIMAL, nullable=False),
        sa.Column("locked", DECIMAL, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _account(),
        sa.PrimaryKeyConstraint("account", "asset", name="pk_balances_account_asset"),
        sa.CheckConstraint("CAST(free AS NUMERIC) >= 0", name="ck_balances_free_non_negative"),
        sa.CheckConstraint("CAST(locked AS NUMERIC) >= 0", name="ck_balances_locked_non_negative"),
    )
    op.execute("INSERT INTO balances_next (account, asset, free, locked, updated_at)"
               " SELECT 'default', asset, free, locked, updated_at FROM balances")
    op.drop_table("balances")
    op.rename_table("balances_next", "balances")
    op.create_table(
        "positions_next",
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("quantity", DECIMAL, nullable=False),
        sa.Column("avg_entry_price", DECIMAL, nullable=False),
        sa.Column("realized_pnl", DECIMAL, nullable=False),
        sa.Column("fees", DECIMAL, nullable=False),
        sa.Column("quote_asset", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _account(),
        sa.PrimaryKeyConstraint("account", "symbol", name="pk_positions_account_symbol"),
    )
    op.execute("INSERT INTO positions_next (account, symbol, quantity, avg_entry_price,"
               " realized_pnl, fees, quote_asset, version, updated_at)"
               " SELECT 'default', symbol, quantity, avg_entry_price, realized_pnl, fees,"
               " quote_asset, version, updated_at FROM positions")
    op.drop_table("positions")
    op.rename_table("positions_next", "positions")


def downgrade() -> None:
    raise NotImplementedError("sub-accounts cannot be merged back into one account")
