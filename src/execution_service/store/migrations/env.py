"""Alembic environment: runs on the connection that `store.migrate` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from execution_service.store.tables import metadata

# Any fixed number: it serializes concurrent migrations of several instances on PostgreSQL.
_MIGRATION_LOCK = 7_215_040_001


def run_migrations(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through 'execution-service migrate'")
run_migrations(connection)
