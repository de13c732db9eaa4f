"""`execution_expect_rows`: fails the transaction of a compare-and-set UPDATE that did not
change the rows it was given (PostgreSQL), so that the COMMIT sent with it cannot follow.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite batches check each UPDATE's row count before they commit
    op.execute("""
        CREATE OR REPLACE FUNCTION execution_expect_rows(what text, given bigint, changed bigint)
        RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            IF changed <> given THEN
                RAISE EXCEPTION '% changed meanwhile (% of % rows still as read)',
                    what, changed, given USING ERRCODE = 'serialization_failure';
            END IF;
        END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS execution_expect_rows(text, bigint, bigint)")
