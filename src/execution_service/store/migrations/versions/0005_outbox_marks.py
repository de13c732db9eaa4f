"""The outbox becomes append-only: how far each instance's results are published is one
row of `outbox_marks`, not a `sent_at` per result (an UPDATE of an indexed column per
result, and a row version more for vacuum to clean). The unique index on `event_id`
goes (nothing looks a result up by it); open orders get a partial index instead of an
index on every order's status.

Rows already in the outbox become the rows of instance '' (empty), published up to the
first one not sent: anything after it is published again, once, by the next sweep.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OPEN = "status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED')"
# SQLite's unique constraint from 0001 has no name: batch mode names it by this convention.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "outbox_marks",
        sa.Column("instance", sa.String(200), primary_key=True),
        sa.Column("published_through", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO outbox_marks (instance, published_through, updated_at)"
        " SELECT '', COALESCE((SELECT MIN(id) - 1 FROM outbox WHERE sent_at IS NULL),"
        " (SELECT MAX(id) FROM outbox), 0), CURRENT_TIMESTAMP")
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    with op.batch_alter_table("outbox", naming_convention=_NAMES) as batch:
        batch.add_column(sa.Column("instance", sa.String(200), nullable=False, server_default=""))
        batch.drop_constraint("outbox_event_id_key" if postgresql else "uq_outbox_event_id",
                              type_="unique")
        batch.drop_column("sent_at")
    op.create_index("ix_outbox_instance_id", "outbox", ["instance", "id"])
    op.drop_index("ix_orders_status", table_name="orders")
    op.create_index("ix_orders_open", "orders", ["status"], postgresql_where=sa.text(_OPEN),
                    sqlite_where=sa.text(_OPEN))
