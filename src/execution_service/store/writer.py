"""The batch writer: the only place that commits.

A batch (`session()`) looks up the orders already stored under its keys, then writes its
`UnitOfWork` (new and changed orders, trades, order events, balance and position
changes, outbox rows, rejected messages, control state, equity snapshots) and marks the
results published since the previous batch, in one transaction. On PostgreSQL a small
batch's writes take one round trip, commit included, and a large one's rows go in with
COPY (`PostgresBatchSession`). Everything that is changed rather than inserted is
written compare-and-set: balances `WHERE free = .. AND locked = <what the batch read>`,
orders and positions `WHERE version = <the version read>`. Two instances sharing a
database can never overdraw the account or fill an order twice: the loser gets
`WriteConflict` and re-runs from the database's state.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from execution_service.domain.codec import dumps
from execution_service.domain.orders import ZERO, Order, Source
from execution_service.engine.account import BalanceChange
from execution_service.engine.exchange import Effects, OrderEvent
from execution_service.engine.positions import PositionChange
from execution_service.errors import WriteConflict
from execution_service.store import tables
from execution_service.store.database import Database
from execution_service.store.rows import (
    ORDER_COLUMNS,
    TRADE_COLUMNS,
    order_from_row,
    order_values,
    trade_values,
)
from execution_service.store.upstream import UpstreamTables

_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A result to publish once its transaction has committed."""

    event_id: str
    order_id: str | None
    result: dict[str, Any]
    payload: bytes  # the result as JSON, serialized once
    created_at: datetime

    @classmethod
    def of(cls, event_id: str, order_id: str | None, result: dict[str, Any],
           created_at: datetime) -> OutboxMessage:
        return cls(event_id, order_id, result, dumps(result), created_at)


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    """An intake payload that could not become a command, kept for inspection."""

    source: Source
    intake_ref: str | None
    client_id: str | None
    payload: bytes
    payload_bytes: int
    reason: str
    received_at: datetime
    fingerprint: str | None = None  # with `client_id`: a copy of it is not kept again


@dataclass(frozen=True, slots=True)
class EquitySnapshot:
    """The account's value in one quote asset at one moment (`GET /equity`)."""

    at: datetime
    quote_asset: str
    equity: Decimal
    unpriced: list[str]  # assets held that have no price in the quote asset
    detail: dict[str, Any]


@dataclass(slots=True)
class UnitOfWork:
    """Everything one batch changes, committed together or not at all."""

    at: datetime
    effects: Effects = field(default_factory=Effects)
    outbox: list[OutboxMessage] = field(default_factory=list)
    rejected: list[RejectedMessage] = field(default_factory=list)
    control: dict[str, Any] = field(default_factory=dict)
    equity: list[EquitySnapshot] = field(default_factory=list)

    def is_empty(self) -> bool:
        e = self.effects
        return not (e.created or e.updated or e.trades or e.events or e.balances or e.positions
                    or self.outbox or self.rejected or self.control or self.equity)


class BatchWriter:
    """Commits units of work; see the module docstring."""

    def __init__(self, database: Database, upstream: UpstreamTables | None = None) -> None:
        self._db = database
        self.upstream = upstream  # upstream's tables, written in the same transaction

    @asynccontextmanager
    async def session(self) -> AsyncIterator[BatchSession]:
        """One transaction for one batch: look up, then write. Raises DatabaseUnavailable or
        WriteConflict; nothing is written unless the block completes."""
        if self._db.backend == "postgresql":
            async with self._db.transaction(autocommit=True) as conn:
                yield PostgresBatchSession(conn, self.upstream)
        else:
            async with self._db.transaction() as conn:
                yield BatchSession(conn)

    async def commit(self, work: UnitOfWork) -> None:
        """Write `work` in a transaction of its own."""
        if work.is_empty():
            return
        async with self.session() as session:
            await session.write(work)

    async def mark_sent(self, event_ids: Sequence[str], at: datetime) -> None:
        """Record that these outbox messages reached Redis."""
        async with self.session() as session:
            await session.mark_sent(event_ids, at)

    async def open_account(self, initial: dict[str, Decimal], at: datetime) -> None:
        """Give a new account its initial balances; an account that exists is left alone."""
        try:
            async with self._db.transaction() as conn:
                existing = await conn.scalar(tables.balances.select().limit(1))
                if existing is None and initial:
                    await _insert(conn, tables.balances, [
                        {"asset": asset, "free": amount, "locked": ZERO, "updated_at": at}
                        for asset, amount in initial.items()])
        except WriteConflict:
            pass  # another instance opened it at the same moment


class BatchSession:
    """The statements of one batch's transaction, portable (SQLite)."""

    def __init__(self, conn: AsyncConnection, upstream: UpstreamTables | None = None) -> None:
        self._conn = conn
        self._upstream = upstream

    @property
    def connection(self) -> AsyncConnection:
        return self._conn

    async def find_orders(
        self, client_ids: Iterable[str], intake_refs: Iterable[str], order_ids: Iterable[str]
    ) -> list[Order]:
        """Orders already stored under any of these client ids, intake refs or order ids."""
        keys = [(tables.orders.c.client_id, sorted(set(client_ids))),
                (tables.orders.c.intake_ref, sorted(set(intake_refs))),
                (tables.orders.c.order_id, sorted(set(order_ids)))]
        found: dict[str, Order] = {}
        for column, values in keys:
            for chunk in self._chunks(values):
                query = select(tables.orders).where(self._matches(column, chunk))
                for row in (await self._conn.execute(query)).mappings():
                    found[row["order_id"]] = order_from_row(row)
        return list(found.values())

    async def find_rejected(self, client_ids: Iterable[str]) -> set[tuple[str, str]]:
        """The (client_id, fingerprint) of the invalid messages kept under these client ids."""
        table = tables.rejected_messages
        found: set[tuple[str, str]] = set()
        for chunk in self._chunks(sorted(set(client_ids))):
            query = (select(table.c.client_id, table.c.fingerprint)
                     .where(self._matches(table.c.client_id, chunk), table.c.fingerprint.is_not(None)))
            found.update((row.client_id, row.fingerprint) for row in await self._conn.execute(query))
        return found

    async def write(self, work: UnitOfWork, published: Sequence[str] = ()) -> None:
        """Write `work`, and mark the `published` outbox rows sent."""
        for table, columns, rows in _rows(work):
            if rows:
                await _insert(self._conn, table, [dict(zip(columns, row, strict=True)) for row in rows])
        await _write_orders(self._conn, work.effects.updated.values(), work.at)
        await _write_balances(self._conn, work.effects.balances, work.at)
        await _write_positions(self._conn, work.effects.positions)
        await _write_control(self._conn, work.control, work.at)
        await self.mark_sent(published, work.at)

    async def mark_sent(self, event_ids: Sequence[str], at: datetime) -> None:
        for chunk in self._chunks(event_ids):
            await self._conn.execute(update(tables.outbox)
                                     .where(self._matches(tables.outbox.c.event_id, chunk))
                                     .values(sent_at=at))

    def _chunks(self, values: Sequence[str]) -> Iterator[Sequence[str]]:
        for start in range(0, len(values), _CHUNK):
            yield values[start:start + _CHUNK]

    def _matches(self, column: ColumnElement[str], values: Sequence[str]) -> ColumnElement[bool]:
        return column.in_(values)


class PostgresBatchSession(BatchSession):
    """PostgreSQL, in as few round trips as the batch allows. Key lists travel as one array
    parameter. The connection is in autocommit mode and the batch makes its own
    transaction, one of two ways:

    - Up to `_ONE_TRIP_ROWS` rows to insert: BEGIN, the INSERTs, the other statements and
      COMMIT, all in one psycopg pipeline: one round trip for the whole batch, commit
      included.
    - More: BEGIN, one COPY per table (a round trip each; psycopg's C code formats the
      rows, cheaper per row than parameters), then the other statements and COMMIT as one
      pipeline.

    Rows that are changed rather than inserted (orders, balances, positions) are written
    compare-and-set, and a change that finds its row no longer as the batch read it fails
    on the server (`execution_expect_rows`, migration 0003, raises a serialization
    failure), so that the COMMIT behind it in the pipeline is refused."""

    def _chunks(self, values: Sequence[str]) -> Iterator[Sequence[str]]:
        if values:
            yield values

    def _matches(self, column: ColumnElement[str], values: Sequence[str]) -> ColumnElement[bool]:
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))

    async def write(self, work: UnitOfWork, published: Sequence[str] = ()) -> None:
        driver = (await self._conn.get_raw_connection()).driver_connection
        assert isinstance(driver, psycopg.AsyncConnection)
        assert driver.autocommit  # the batch makes its own transaction
        inserts = [(table, columns, rows) for table, columns, rows in _rows(work) if rows]
        statements = _statements(work, published)
        if self._upstream is not None:
            statements += self._upstream.statements(_changed_orders(work), work.effects.trades)
        if sum(len(rows) for _, _, rows in inserts) <= _ONE_TRIP_ROWS:
            try:  # (a failed statement leaves the transaction open and aborted)
                async with driver.pipeline():
                    await driver.execute("BEGIN")
                    for table, columns, rows in inserts:
                        await _insert_rows(driver, table, columns, rows)
                    for sql, params in statements:
                        await driver.execute(sql, params)
                    await driver.execute("COMMIT")
            except BaseException:
                await driver.rollback()
                raise
            return
        async with driver.transaction():
            for table, columns, rows in inserts:
                await _copy(driver, table, columns, rows)
            async with driver.pipeline():
                for sql, params in statements:
                    await driver.execute(sql, params)


# A batch with at most this many rows to insert sends them as INSERTs in its one round trip;
# a larger one uses COPY, which costs less per row.
_ONE_TRIP_ROWS = 64


def _statements(work: UnitOfWork, published: Sequence[str]) -> list[tuple[str, tuple[Any, ...]]]:
    """Everything a PostgreSQL batch writes besides its inserted rows."""
    statements: list[tuple[str, tuple[Any, ...]]] = []
    effects = work.effects
    for order, version in effects.updated.values():
        statements.append((_ORDER_CAS_SQL, (*_order_change(order), order.order_id, version,
                                            f"order {order.order_id}")))
    for change in effects.balances:
        if change.previous is None:
            statements.append((_insert_sql(tables.balances, _BALANCE_COLUMNS),
                               (change.asset, change.new.free, change.new.locked, work.at)))
        else:
            statements.append((_BALANCE_CAS_SQL, (
                change.new.free, change.new.locked, work.at, change.asset, change.previous.free,
                change.previous.locked, f"balance of {change.asset}")))
    for moved in effects.positions:
        values = _position_values(moved.position)
        if moved.previous_version == 0:
            statements.append((_insert_sql(tables.positions, _POSITION_COLUMNS), values))
        else:
            statements.append((_POSITION_CAS_SQL, (*values[1:], moved.position.symbol,
                                                   moved.previous_version,
                                                   f"position in {moved.position.symbol}")))
    for key, value in work.control.items():
        statements.append(("DELETE FROM control_state WHERE key = %s", (key,)))
        statements.append((_insert_sql(tables.control_state, _CONTROL_COLUMNS),
                           (key, Json(value, dumps=_json_text), work.at)))
    if published:
        statements.append(("UPDATE outbox SET sent_at = %s WHERE event_id = ANY(%s)",
                           (work.at, list(published))))
    return statements


def _changed_orders(work: UnitOfWork) -> list[Order]:
    """The orders `work` creates or changes, each once, in its final state."""
    changed = dict(work.effects.created)
    changed.update((order_id, order) for order_id, (order, _) in work.effects.updated.items())
    return list(changed.values())


def _compare_and_set_sql(update: str) -> str:
    """`update` (ending in its WHERE, a `%s` after it naming the row) as one statement
    that fails the transaction unless it changed exactly one row."""
    return (f"WITH changed AS ({update} RETURNING 1)"
            " SELECT execution_expect_rows(%s, 1, count(*)) FROM changed")


@functools.cache
def _insert_sql(table: Table, columns: Sequence[str]) -> str:
    return (f"INSERT INTO {table.name} ({', '.join(columns)})"
            f" VALUES ({', '.join(['%s'] * len(columns))})")


async def _insert_rows(
    driver: psycopg.AsyncConnection[Any], table: Table, columns: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:
    """One single-row INSERT per row, in the pipeline: the statement's text stays the same
    (psycopg converts it once and caches it; a multi-row VALUES list of more than 50
    parameters it would parse again, in Python, for every batch)."""
    json_at = _json_positions(table, columns)
    async with driver.cursor() as cursor:
        await cursor.executemany(_insert_sql(table, columns), [
            tuple(Json(v, dumps=_json_text) if i in json_at else v for i, v in enumerate(row))
            if json_at else row for row in rows])


async def _insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        await conn.execute(insert(table), rows[start:start + _CHUNK])


def _rows(work: UnitOfWork) -> list[tuple[Table, Sequence[str], list[tuple[Any, ...]]]]:
    """The rows `work` inserts, table by table, in the order foreign keys need."""
    effects = work.effects
    return [
        (tables.orders, ORDER_COLUMNS, [order_values(order) for order in effects.created.values()]),
        (tables.trades, TRADE_COLUMNS, [trade_values(trade) for trade in effects.trades]),
        (tables.order_events, _EVENT_COLUMNS, [_event_values(event) for event in effects.events]),
        (tables.outbox, _OUTBOX_COLUMNS, [_outbox_values(m) for m in work.outbox]),
        (tables.rejected_messages, _REJECTED_COLUMNS, [_rejected_values(r) for r in work.rejected]),
        (tables.equity_snapshots, _EQUITY_COLUMNS, [_equity_values(e) for e in work.equity]),
    ]


async def _copy(
    driver: psycopg.AsyncConnection[Any], table: Table, columns: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:
    """COPY FROM STDIN: all the rows in one exchange, formatted by psycopg's C code."""
    json_at = _json_positions(table, columns)
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    async with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            if json_at:  # JSON goes in as its text; psycopg adapts everything else
                row = tuple(_json_text(v) if i in json_at else v for i, v in enumerate(row))
            await copy.write_row(row)


@functools.cache
def _json_positions(table: Table, columns: Sequence[str]) -> frozenset[int]:
    return frozenset(i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON))


def _json_text(value: Any) -> str:
    return dumps(value).decode()


_EVENT_COLUMNS = ("order_id", "seq", "status", "detail", "at")


def _event_values(event: OrderEvent) -> tuple[Any, ...]:
    return event.order_id, event.seq, event.status.value, event.detail, event.at


# What can change on a stored order; the rest is fixed when it is created.
_ORDER_CHANGES = ("status", "filled_quantity", "avg_fill_price", "fee", "fee_asset",
                  "slippage_bps", "error_code", "error_message", "due_at", "triggered_at",
                  "reserved", "version", "updated_at")
_ORDER_CAS_SQL = _compare_and_set_sql(
    f"UPDATE orders SET {', '.join(f'{c} = %s' for c in _ORDER_CHANGES)}"
    " WHERE order_id = %s AND version = %s")
_BALANCE_CAS_SQL = _compare_and_set_sql(
    "UPDATE balances SET free = %s, locked = %s, updated_at = %s"
    " WHERE asset = %s AND free = %s AND locked = %s")
_POSITION_CAS_SQL = _compare_and_set_sql(
    "UPDATE positions SET quantity = %s, avg_entry_price = %s, realized_pnl = %s, fees = %s,"
    " quote_asset = %s, version = %s, updated_at = %s WHERE symbol = %s AND version = %s")


def _order_change(order: Order) -> tuple[Any, ...]:
    return (order.status.value, order.filled_quantity, order.avg_fill_price, order.fee,
            order.fee_asset, order.slippage_bps,
            order.error_code.value if order.error_code else None, order.error_message,
            order.due_at, order.triggered_at, order.reserved, order.version, order.updated_at)


async def _write_orders(
    conn: AsyncConnection, changed: Iterable[tuple[Order, int]], at: datetime
) -> None:
    table = tables.orders
    for order, version in changed:
        result = await conn.execute(
            update(table)
            .where(and_(table.c.order_id == order.order_id, table.c.version == version))
            .values(dict(zip(_ORDER_CHANGES, _order_change(order), strict=True))))
        if result.rowcount != 1:
            raise WriteConflict(f"order {order.order_id} changed meanwhile")


_BALANCE_COLUMNS = ("asset", "free", "locked", "updated_at")
_CONTROL_COLUMNS = ("key", "value", "updated_at")
_POSITION_COLUMNS = ("symbol", "quantity", "avg_entry_price", "realized_pnl", "fees",
                     "quote_asset", "version", "updated_at")


def _position_values(position: Any) -> tuple[Any, ...]:
    return (position.symbol, position.quantity, position.avg_entry_price, position.realized_pnl,
            position.fees, position.quote_asset, position.version, position.updated_at)


async def _write_positions(conn: AsyncConnection, changes: Sequence[PositionChange]) -> None:
    table = tables.positions
    for change in changes:
        values = dict(zip(_POSITION_COLUMNS, _position_values(change.position), strict=True))
        if change.previous_version == 0:
            await conn.execute(insert(table).values(values))
            continue
        result = await conn.execute(
            update(table)
            .where(and_(table.c.symbol == change.position.symbol,
                        table.c.version == change.previous_version))
            .values(values))
        if result.rowcount != 1:
            raise WriteConflict(f"position in {change.position.symbol} changed meanwhile")


async def _write_balances(
    conn: AsyncConnection, changes: Sequence[BalanceChange], at: datetime
) -> None:
    table = tables.balances
    for change in changes:
        if change.previous is None:
            await conn.execute(insert(table).values(
                asset=change.asset, free=change.new.free, locked=change.new.locked,
                updated_at=at))
            continue
        result = await conn.execute(
            update(table)
            .where(and_(table.c.asset == change.asset, table.c.free == change.previous.free,
                        table.c.locked == change.previous.locked))
            .values(free=change.new.free, locked=change.new.locked, updated_at=at)
        )
        if result.rowcount != 1:
            raise WriteConflict(f"balance of {change.asset} changed meanwhile")


async def _write_control(conn: AsyncConnection, control: dict[str, Any], at: datetime) -> None:
    for key, value in control.items():
        await conn.execute(delete(tables.control_state).where(tables.control_state.c.key == key))
        await conn.execute(insert(tables.control_state).values(key=key, value=value, updated_at=at))


_OUTBOX_COLUMNS = ("event_id", "order_id", "payload", "created_at")
_EQUITY_COLUMNS = ("at", "quote_asset", "equity", "unpriced", "detail")


def _equity_values(snapshot: EquitySnapshot) -> tuple[Any, ...]:
    return (snapshot.at, snapshot.quote_asset, snapshot.equity, snapshot.unpriced,
            snapshot.detail)


_REJECTED_COLUMNS = ("source", "intake_ref", "client_id", "payload", "payload_bytes", "reason",
                     "received_at", "fingerprint")


def _outbox_values(message: OutboxMessage) -> tuple[Any, ...]:
    return message.event_id, message.order_id, message.payload.decode(), message.created_at


def _rejected_values(message: RejectedMessage) -> tuple[Any, ...]:
    return (message.source.value, message.intake_ref, message.client_id, message.payload,
            message.payload_bytes, message.reason, message.received_at, message.fingerprint)
