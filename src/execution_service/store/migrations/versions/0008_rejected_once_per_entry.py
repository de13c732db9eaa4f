"""An invalid message is kept once per intake entry, however often it is delivered: a
unique index on `rejected_messages.intake_ref`. Copies kept before (a redelivery after a
crash, say) go first, the oldest of each staying.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM rejected_messages WHERE intake_ref IS NOT NULL AND id > ("
        " SELECT MIN(kept.id) FROM rejected_messages kept"
        " WHERE kept.intake_ref = rejected_messages.intake_ref)")
    op.create_index("ux_rejected_messages_intake_ref", "rejected_messages", ["intake_ref"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ux_rejected_messages_intake_ref", table_name="rejected_messages")
