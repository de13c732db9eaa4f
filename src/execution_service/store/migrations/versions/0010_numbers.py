"""Orders and trades get a number (Binance's integer `orderId` and `tradeId`): unique,
increasing, given by the database to each new row, so that instances sharing it never
give one twice and a restart never changes one. Rows stored before are numbered in the
order they were made.

PostgreSQL draws it from a sequence (the column's default); SQLite sets it in a trigger
after the insert (the largest number plus one: SQLite has one writer at a time).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# (table, its key, the time that orders its rows)
_TABLES = (("orders", "order_id", "created_at"), ("trades", "trade_id", "executed_at"))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, key, moment in _TABLES:
        op.add_column(table, sa.Column("number", sa.BigInteger))
        op.execute(
            f"UPDATE {table} SET number = ranked.n FROM (SELECT {key} AS k, row_number()"
            f" OVER (ORDER BY {moment}, {key}) AS n FROM {table}) AS ranked"
            f" WHERE {table}.{key} = ranked.k")
        op.create_index(f"ux_{table}_number", table, ["number"], unique=True)
        if postgres:
            sequence = f"{table}_number_seq"
            op.execute(f"CREATE SEQUENCE {sequence} OWNED BY {table}.number")
            op.execute(f"SELECT setval('{sequence}', COALESCE((SELECT max(number) FROM {table}),"
                       " 0) + 1, false)")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN number SET DEFAULT"
                       f" nextval('{sequence}')")
        else:
            op.execute(
                f"CREATE TRIGGER {table}_number AFTER INSERT ON {table} WHEN NEW.number IS NULL"
                f" BEGIN UPDATE {table} SET number = (SELECT COALESCE(max(number), 0) + 1"
                f" FROM {table}) WHERE rowid = NEW.rowid; END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, _, _ in _TABLES:
        if not postgres:
            op.execute(f"DROP TRIGGER {table}_number")
        op.drop_index(f"ux_{table}_number", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("number")
