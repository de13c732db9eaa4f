"""Alembic environment: runs on the connection that `store.migrate` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from execution_service.store.tables import metadata


def run_migrations(connection: Connection) -> None:
    """Run on the connection `Database.migrate` hands in, which holds the migration lock."""
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through 'execution-service migrate'")
run_migrations(connection)
