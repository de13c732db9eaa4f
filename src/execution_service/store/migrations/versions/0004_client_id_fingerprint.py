"""A client_id names one order per fingerprint: a different order under a used client_id
executes (upstream's risk manager makes its client ids per second), a copy does not.

`orders.client_id` is no longer unique by itself; `(client_id, fingerprint)` is. Invalid
messages are kept once per `(client_id, fingerprint)` as well, so the copy of an invalid
order that arrives on the other intake is answered once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# SQLite's unique constraint from 0001 has no name: batch mode names it by this convention.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("orders", naming_convention=_NAMES) as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(16)))
        batch.drop_constraint("orders_client_id_key" if postgresql else "uq_orders_client_id",
                              type_="unique")
    op.create_index("ux_orders_client_id_fingerprint", "orders", ["client_id", "fingerprint"],
                    unique=True)
    op.add_column("rejected_messages", sa.Column("fingerprint", sa.String(16)))
    op.create_index("ux_rejected_messages_client_id_fingerprint", "rejected_messages",
                    ["client_id", "fingerprint"], unique=True)
