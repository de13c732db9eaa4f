"""The database connection: an async SQLAlchemy engine for PostgreSQL (psycopg) or SQLite."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.types.json import set_json_loads
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from execution_service.domain.codec import dumps
from execution_service.errors import DatabaseUnavailable, WriteConflict

MIGRATIONS = "execution_service.store:migrations"
# Any fixed number: it serializes the migrations of several instances starting at once.
_MIGRATION_LOCK = 7_215_040_001
# A deadlock or serialization failure: another writer won; the server is fine.
_LOST_RACE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
_NEVER = 2**62  # executions before psycopg prepares a statement by itself


class Database:
    """Owns the engine; `transaction()` maps driver errors to the service's own."""

    def __init__(self, url: URL, *, schema: str = "", connect_timeout_s: float = 3.0) -> None:
        self.url = url
        self.backend = url.get_backend_name()
        # PostgreSQL: every connection sees this schema alone, so the tables of a shared
        # database (upstream's `orders`, `trades`) are never taken for this service's own.
        self.schema = schema if self.backend == "postgresql" else ""
        self.engine: AsyncEngine = create_async_engine(
            url,
            json_serializer=lambda value: dumps(value).decode(),
            # Numbers in stored JSON come back as exact decimals, as they went in.
            json_deserializer=_load_json,
            # No pre-ping: a connection that died is found by its first statement, which
            # invalidates the whole pool, and the batch is retried like any outage.
            **_engine_options(url, self.schema, connect_timeout_s),
        )
        if self.backend == "sqlite":
            _configure_sqlite(self.engine)
        self._connect_timeout_s = connect_timeout_s
        self._batch_conn: psycopg.AsyncConnection[Any] | None = None
        self._batch_lock = asyncio.Lock()

    def display_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed on success. Raises DatabaseUnavailable or WriteConflict."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise WriteConflict(_first_line(exc)) from exc
        except DBAPIError as exc:
            if isinstance(exc.orig, _LOST_RACE):
                raise WriteConflict(_first_line(exc)) from exc
            if not _is_outage(exc):
                raise
            raise DatabaseUnavailable(_first_line(exc)) from exc
        except (PoolTimeout, OSError) as exc:
            raise DatabaseUnavailable(_first_line(exc)) from exc

    @asynccontextmanager
    async def batch_connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """PostgreSQL: the connection batches are written on, psycopg's own, in autocommit
        mode. A batch is a statement or two (store/pg_batch.py): SQLAlchemy's pool and its
        bridge between asyncio and its synchronous core cost about a millisecond of the
        event loop per batch to check a connection out and in, more than the statement's
        own work. Errors are mapped as in `transaction()`; a connection that failed is
        closed, and the next batch connects anew."""
        async with self._batch_lock:
            try:
                if self._batch_conn is None or self._batch_conn.closed:
                    self._batch_conn = await self._connect_for_batches()
                yield self._batch_conn
            except (psycopg.IntegrityError, *_LOST_RACE) as exc:
                raise WriteConflict(_first_line(exc)) from exc
            except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as exc:
                await self._close_batch_connection()
                raise DatabaseUnavailable(_first_line(exc)) from exc
            finally:  # a batch left mid-way (cancelled) leaves no half transaction behind
                conn = self._batch_conn
                if conn is not None and conn.info.transaction_status is not TransactionStatus.IDLE:
                    await self._close_batch_connection()

    async def _connect_for_batches(self) -> psycopg.AsyncConnection[Any]:
        options = "-c timezone=UTC" + (f" -c search_path={self.schema}" if self.schema else "")
        conn = await psycopg.AsyncConnection.connect(
            self.url.set(drivername="postgresql").render_as_string(hide_password=False),
            autocommit=True, prepare_threshold=_NEVER, options=options,
            connect_timeout=max(1, round(self._connect_timeout_s)))
        set_json_loads(_load_json, conn)  # exact decimals, as through the engine
        return conn

    async def _close_batch_connection(self) -> None:
        conn, self._batch_conn = self._batch_conn, None
        if conn is not None:
            await conn.close()

    async def ping(self) -> bool:
        try:
            async with self.transaction() as conn:
                await conn.execute(text("SELECT 1"))
        except DatabaseUnavailable:
            return False
        return True

    async def migrate(self) -> None:
        """Create the schema if need be and apply every Alembic migration not yet applied
        (idempotent); the migration history lives in the schema too."""
        async with self.transaction() as conn:
            if self.backend == "postgresql":  # instances starting at once take turns
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _MIGRATION_LOCK})
            if self.schema:  # (IF NOT EXISTS alone is no guard against a concurrent CREATE)
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            await conn.run_sync(_upgrade)

    async def dispose(self) -> None:
        async with self._batch_lock:
            await self._close_batch_connection()
        await self.engine.dispose()


_load_json = functools.partial(json.loads, parse_float=Decimal)


def _engine_options(url: URL, schema: str, connect_timeout_s: float) -> dict[str, Any]:
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
        return {"connect_args": {"timeout": 5.0}}
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, round(connect_timeout_s)),
        # Never prepare on its own: PostgreSQL would keep a generic plan chosen while the
        # tables were small (a sequential scan for the duplicate lookup) that slows with
        # every order. A statement executed with `prepare=True` (the batch statement,
        # store/pg_batch.py) is prepared all the same; None would refuse that too.
        "prepare_threshold": _NEVER,
    }
    if schema:
        connect_args["options"] = f"-c search_path={schema}"
    return {"pool_size": 5, "max_overflow": 5, "pool_timeout": 5.0, "connect_args": connect_args}


def _configure_sqlite(engine: AsyncEngine) -> None:
    # The sqlite3 module's own transaction handling defers BEGIN; take it over so that a
    # transaction really starts where SQLAlchemy says (the documented recipe for aiosqlite).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across process crashes
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _is_outage(exc: DBAPIError) -> bool:
    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0][:300]
