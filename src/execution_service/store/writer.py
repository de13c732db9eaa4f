"""The batch writer: the only place that commits.

A batch (`session()`) looks up the orders already stored under its keys, then writes its
`UnitOfWork` (new and changed orders, trades, order events, balance and position
changes, outbox rows, rejected messages, control state, equity snapshots) and raises
this instance's outbox mark over the results published since the previous batch, in one
transaction. On PostgreSQL the batch's writes are one statement whose rows travel as one
JSON document (store/pg_batch.py): a small batch is one round trip, commit included; a
large one's rows go in with COPY first (`PostgresBatchSession`). SQLite gets one
statement per table (`BatchSession`), and that is why there are two builders: SQLite
allows no INSERT or UPDATE inside a WITH clause, and in-process it has no round trips to
save. Both take their column lists from `tables.written`.

Everything that is changed rather than inserted is written compare-and-set: balances
`WHERE free = .. AND locked = <what the batch read>`, orders and positions
`WHERE version = <the version read>`. Two instances sharing a database can never
overdraw the account or fill an order twice: the loser gets `WriteConflict` and re-runs
from the database's state.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from sqlalchemy import (
    JSON,
    LargeBinary,
    Table,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from execution_service.domain.codec import dumps
from execution_service.domain.orders import ZERO, Order, OrderStatus
from execution_service.engine.account import Amounts, BalanceChange
from execution_service.engine.exchange import OrderEvent
from execution_service.engine.positions import Position, PositionChange
from execution_service.errors import WriteConflict
from execution_service.pipeline.work import (
    EquitySnapshot,
    KeptInvalid,
    OutboxMessage,
    RejectedMessage,
    UnitOfWork,
    UnsentMessage,
)
from execution_service.store import pg_batch, tables
from execution_service.store.base import ExchangeState, PipelineStore, Session
from execution_service.store.database import Database
from execution_service.store.rows import (
    ORDER_COLUMNS,
    TRADE_COLUMNS,
    order_from_row,
    order_values,
    position_from_row,
    trade_values,
)
from execution_service.store.upstream import UpstreamTables

_CHUNK = 1000


class BatchWriter:
    """Commits units of work, and reads what the pipeline resumes from; see the module
    docstring."""

    def __init__(self, database: Database, upstream: UpstreamTables | None = None, *,
                 instance: str = "") -> None:
        self._db = database
        self.upstream = upstream  # upstream's tables, written in the same transaction
        self.instance = instance

    @asynccontextmanager
    async def session(self, exclusive: bool = False) -> AsyncIterator[Session]:
        """One batch: look up, then write. Raises DatabaseUnavailable or WriteConflict;
        nothing is written unless the block completes.

        `exclusive`, for a batch that kept losing to other instances: on PostgreSQL the
        balances and positions are locked against every other writer from the start of the
        session to its commit, so what the batch reads in it stays as read and its write
        cannot conflict there. (The others' writes wait those few milliseconds.)"""
        if self._db.backend == "postgresql":
            async with self._db.batch_connection() as conn:
                if not exclusive:
                    yield PostgresBatchSession(conn, self.instance, self.upstream)
                    return
                async with conn.transaction():
                    await conn.execute(f"LOCK TABLE {tables.balances.name}, "
                                       f"{tables.positions.name} IN SHARE ROW EXCLUSIVE MODE")
                    yield PostgresBatchSession(conn, self.instance, self.upstream)
        else:
            async with self._db.transaction() as conn:
                yield BatchSession(conn, self.instance)

    async def commit(self, work: UnitOfWork) -> None:
        """Write `work` in a transaction of its own."""
        if work.is_empty():
            return
        async with self.session() as session:
            await session.write(work)

    async def register(self, at: datetime) -> None:
        """Give this instance its outbox mark, so that its rows are found unsent (by any
        instance's sweep) even if it dies before marking any."""
        async with self._db.transaction() as conn:
            await _raise_marks(conn, {self.instance: 0}, at)

    async def mark_sent(self, marks: Mapping[str, int], at: datetime) -> None:
        if marks:
            async with self._db.transaction() as conn:
                await _raise_marks(conn, marks, at)

    async def unsent(self, limit: int) -> list[UnsentMessage]:
        outbox = tables.outbox
        unsent: list[UnsentMessage] = []
        async with self._db.transaction() as conn:
            marks = (await conn.execute(select(tables.outbox_marks.c.instance,
                                               tables.outbox_marks.c.published_through))).all()
            for instance, through in marks:  # a range of one index for each
                rows = (await conn.execute(
                    select(outbox.c.id, outbox.c.event_id, outbox.c.order_id, outbox.c.payload,
                           outbox.c.created_at)
                    .where(outbox.c.instance == instance, outbox.c.id > through)
                    .order_by(outbox.c.id).limit(limit - len(unsent)))).all()
                unsent += [UnsentMessage(instance, row_id, OutboxMessage(
                    event_id, order_id, _exact_json(payload), payload.encode(), created_at))
                    for row_id, event_id, order_id, payload, created_at in rows]
                if len(unsent) >= limit:
                    break
        return unsent

    async def prune(self, older_than: datetime, limit: int = 10_000) -> int:
        """Delete up to `limit` published outbox rows created before `older_than`; return
        how many went (fewer than `limit`: none is left)."""
        outbox, marks = tables.outbox, tables.outbox_marks
        published = (select(marks.c.published_through)
                     .where(marks.c.instance == outbox.c.instance).scalar_subquery())
        oldest = (select(outbox.c.id)
                  .where(outbox.c.created_at < older_than, outbox.c.id <= published)
                  .limit(limit))
        async with self._db.transaction() as conn:
            result = await conn.execute(delete(outbox).where(outbox.c.id.in_(oldest)))
        return int(result.rowcount or 0)

    async def open_order_ids(self) -> set[str]:
        if self._db.backend == "postgresql":  # the batch connection: a fifth of the CPU
            async with self._db.batch_connection() as driver:
                cursor = await driver.execute(_OPEN_ORDER_IDS)
                return {order_id for (order_id,) in await cursor.fetchall()}
        async with self._db.transaction() as conn:
            rows = await conn.execute(select(tables.orders.c.order_id).where(_IS_OPEN))
            return set(rows.scalars())

    async def prune_marks(self, older_than: datetime) -> int:
        """Delete the outbox marks of other instances that have no row left in the outbox
        and marked nothing since `older_than` (instances that stopped long ago: one row per
        process started). A live instance registers again (`register`) every pruning pass,
        so that its rows are never without a mark for long."""
        outbox, marks = tables.outbox, tables.outbox_marks
        has_rows = select(outbox.c.id).where(outbox.c.instance == marks.c.instance).exists()
        async with self._db.transaction() as conn:
            result = await conn.execute(delete(marks).where(
                marks.c.instance != self.instance, marks.c.updated_at < older_than, ~has_rows))
        return int(result.rowcount or 0)

    async def exchange_state(self, order_ids: Collection[str] | None = None) -> ExchangeState:
        """What the exchange resumes from: balances, positions and the open orders (with
        `order_ids`, those of them only: what another instance accepted)."""
        query = select(tables.orders).where(_IS_OPEN)
        async with self._db.transaction() as conn:
            balances = (await conn.execute(select(tables.balances))).mappings().all()
            positions = (await conn.execute(select(tables.positions))).mappings().all()
            if order_ids is None:
                orders = (await conn.execute(query)).mappings().all()
            else:
                orders = []
                for chunk in _chunks(sorted(order_ids)):
                    orders += (await conn.execute(query.where(
                        tables.orders.c.order_id.in_(chunk)))).mappings().all()
        return ({(row["account"], row["asset"]): Amounts(row["free"], row["locked"])
                 for row in balances},
                [position_from_row(row) for row in positions],
                [order_from_row(row) for row in orders])

    async def open_accounts(self, names: Iterable[str], initial: dict[str, Decimal],
                            at: datetime) -> None:
        """Give each new account its initial balances; an account that holds any balance
        row already is left alone."""
        if not initial:
            return
        table = tables.balances
        try:
            async with self._db.transaction() as conn:
                opened = set((await conn.scalars(select(table.c.account).distinct())).all())
                await _insert(conn, table, [
                    {"account": name, "asset": asset, "free": amount, "locked": ZERO,
                     "updated_at": at}
                    for name in dict.fromkeys(names) if name not in opened
                    for asset, amount in initial.items()])
        except WriteConflict:
            pass  # another instance opened them at the same moment


class BatchSession:
    """The statements of one batch's transaction, portable (SQLite)."""

    def __init__(self, conn: AsyncConnection, instance: str = "") -> None:
        self._conn = conn
        self._instance = instance

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
            for chunk in _chunks(values):
                query = select(tables.orders).where(column.in_(chunk))
                for row in (await self._conn.execute(query)).mappings():
                    found[row["order_id"]] = order_from_row(row)
        return list(found.values())

    async def find_rejected(self, client_ids: Iterable[str], intake_refs: Iterable[str] = ()
                            ) -> KeptInvalid:
        table = tables.rejected_messages
        found = KeptInvalid()
        for chunk in _chunks(sorted(set(client_ids))):
            query = (select(table.c.client_id, table.c.fingerprint)
                     .where(table.c.client_id.in_(chunk), table.c.fingerprint.is_not(None)))
            found.answers.update((row.client_id, row.fingerprint)
                                 for row in await self._conn.execute(query))
        for chunk in _chunks(sorted(set(intake_refs))):
            query = select(table.c.intake_ref).where(table.c.intake_ref.in_(chunk))
            found.entries.update(row.intake_ref for row in await self._conn.execute(query))
        return found

    async def write(self, work: UnitOfWork, published_through: int | None = None) -> int | None:
        for table, columns, rows in _rows(work, self._instance):
            if rows:
                await _insert(self._conn, table, [dict(zip(columns, row, strict=True)) for row in rows])
        await _write_orders(self._conn, work.effects.updated.values(), work.at)
        await _write_balances(self._conn, work.effects.balances, work.at)
        await _write_positions(self._conn, work.effects.positions)
        await _write_control(self._conn, work.control, work.at)
        if published_through is not None:
            await _raise_marks(self._conn, {self._instance: published_through}, work.at)
        if not work.outbox:
            return None
        last = await self._conn.scalar(select(func.max(tables.outbox.c.id))
                                       .where(tables.outbox.c.instance == self._instance))
        return int(last)


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    """SQLite limits a statement's parameters: key lists go in chunks."""
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


class PostgresBatchSession:
    """PostgreSQL, in as few round trips and as little Python as the batch allows, on
    psycopg directly (`Database.batch_connection()`). Key lists travel as one array
    parameter each. The connection is in autocommit mode; the batch's writes are one
    statement (store/pg_batch.py), prepared, its rows one JSON document:

    - Up to `_ONE_TRIP_ROWS` rows to insert: that statement alone, atomic on its own, one
      round trip, commit included.
    - More: in a transaction, one COPY per table (psycopg's C code formats the rows; for
      many rows the server unpacks them faster than from JSON), then the statement with the
      rest (compare-and-set changes, outbox marks, control state).

    Rows that are changed rather than inserted (orders, balances, positions) are written
    compare-and-set, and a change that finds its row no longer as the batch read it fails
    the statement (`execution_expect_rows`, migration 0003, raises a serialization
    failure), so that nothing of the batch is committed. Upstream's rows, when written,
    follow in the same transaction."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], instance: str = "",
                 upstream: UpstreamTables | None = None) -> None:
        self.connection = conn
        self._instance = instance
        self._upstream = upstream

    async def find_orders(
        self, client_ids: Iterable[str], intake_refs: Iterable[str], order_ids: Iterable[str]
    ) -> list[Order]:
        keys = [sorted(set(client_ids)), sorted(set(intake_refs)), sorted(set(order_ids))]
        if not any(keys):
            return []
        async with self.connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(_FIND_ORDERS, keys)
            return [order_from_row(row) for row in await cursor.fetchall()]

    async def find_rejected(self, client_ids: Iterable[str], intake_refs: Iterable[str] = ()
                            ) -> KeptInvalid:
        cursor = await self.connection.execute(
            _FIND_REJECTED, (sorted(set(client_ids)), sorted(set(intake_refs))))
        found = KeptInvalid()
        for client_id, fingerprint, intake_ref in await cursor.fetchall():
            if intake_ref is not None:
                found.entries.add(intake_ref)
            if client_id is not None and fingerprint is not None:
                found.answers.add((client_id, fingerprint))
        return found

    async def write(self, work: UnitOfWork, published_through: int | None = None) -> int | None:
        driver = self.connection
        if work.is_empty() and published_through is None:
            return None  # (autocommit: nothing to commit)
        inserts = [(table, columns, rows)
                   for table, columns, rows in _rows(work, self._instance) if rows]
        copied = inserts if sum(len(rows) for _, _, rows in inserts) > _ONE_TRIP_ROWS else []
        sql, document = _batch_statement(work, self._instance, published_through,
                                         [] if copied else inserts, bool(copied))
        upstream = (self._upstream.statements(_changed_orders(work), work.effects.trades)
                    if self._upstream is not None else [])
        if not copied and not upstream:
            return await _through(await driver.execute(sql, (document,), prepare=True))
        async with driver.transaction():
            for table, columns, rows in copied:
                await _copy(driver, table, columns, rows)
            through = await _through(await driver.execute(sql, (document,), prepare=True))
            for statement, params in upstream:
                await driver.execute(statement, params)
        return through


async def _through(cursor: psycopg.AsyncCursor[Any]) -> int | None:
    """The batch statement's answer: the id of the last outbox row it wrote, if any."""
    row = await cursor.fetchone()
    assert row is not None
    return row[-1]  # type: ignore[no-any-return]


# Lookups are never prepared: their best plan depends on the keys (see store/database.py).
_FIND_ORDERS = (f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE client_id = ANY(%s)"
                " OR intake_ref = ANY(%s) OR order_id = ANY(%s)")
_IS_OPEN = tables.orders.c.status.in_([s.value for s in OrderStatus if s.is_open])
_OPEN_ORDER_IDS = f"SELECT order_id FROM orders WHERE {tables.OPEN_STATUSES}"  # (the partial index)
_FIND_REJECTED = ("SELECT client_id, fingerprint, intake_ref FROM rejected_messages"
                  " WHERE (client_id = ANY(%s) AND fingerprint IS NOT NULL) OR intake_ref = ANY(%s)")


# A batch with at most this many rows to insert sends them in its one statement; a larger
# one uses COPY (`python bench/commit.py`: a batch of 1,000 orders took 203 ms through the
# JSON document against 165 to 190 ms with COPY).
_ONE_TRIP_ROWS = 250

_exact_json = functools.partial(json.loads, parse_float=Decimal)  # as the result went in


def _batch_statement(
    work: UnitOfWork, instance: str, published_through: int | None,
    inserts: list[tuple[Table, Sequence[str], list[tuple[Any, ...]]]], copied: bool,
) -> tuple[str, str]:
    """The batch as one statement (store/pg_batch.py), with these `inserts` (the rest
    `copied` before it), and its JSON document."""
    parts: dict[str, list[dict[str, Any]]] = {}
    inserted: list[tuple[str, tuple[str, ...]]] = []
    for table, columns, rows in inserts:
        if rows:
            binary = [name for name in columns if isinstance(table.c[name].type, LargeBinary)]
            records = [dict(zip(columns, row, strict=True)) for row in rows]
            for record in records:
                for name in binary:
                    record[name] = pg_batch.encode_bytes(record[name])
            parts[str(table.name)] = records  # (a quoted_name, which orjson takes for no str)
            inserted.append((str(table.name), tuple(columns)))
    effects = work.effects
    new_balances = [{"asset": c.asset, "free": c.new.free, "locked": c.new.locked,
                     "updated_at": work.at, "account": c.account}
                    for c in effects.balances if c.previous is None]
    new_positions = [dict(zip(_POSITION_COLUMNS, _position_values(m.position), strict=True))
                     for m in effects.positions if m.previous_version == 0]
    for name, records, columns in (("balances", new_balances, _BALANCE_COLUMNS),
                                   ("positions", new_positions, _POSITION_COLUMNS)):
        if records:
            parts[name] = records
            inserted.append((name, columns))
    changes = {
        "orders": ([{**dict(zip(_ORDER_CHANGES, _order_change(order), strict=True)),
                     "prev_order_id": order.order_id, "prev_version": version}
                    for order, version in effects.updated.values()],
                   _ORDER_CHANGES, ("order_id", "version")),
        "balances": ([{"free": c.new.free, "locked": c.new.locked, "updated_at": work.at,
                       "prev_account": c.account, "prev_asset": c.asset,
                       "prev_free": c.previous.free, "prev_locked": c.previous.locked}
                      for c in effects.balances if c.previous is not None],
                     ("free", "locked", "updated_at"), ("account", "asset", "free", "locked")),
        "positions": ([{**_position_change(m.position), "prev_account": m.position.account,
                        "prev_symbol": m.position.symbol, "prev_version": m.previous_version}
                       for m in effects.positions if m.previous_version != 0],
                      _POSITION_CHANGES, ("account", "symbol", "version")),
    }
    changed: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    for name, (records, setting, matching) in changes.items():
        if records:
            parts[f"changed_{name}"] = records
            changed.append((name, tuple(setting), matching))
    outbox = "copied" if copied and work.outbox else "inserted" if work.outbox else None
    sql = pg_batch.statement(tuple(inserted), tuple(changed), published_through is not None,
                             bool(work.control), outbox)
    return sql, pg_batch.document(parts, work.control, work.at, instance, published_through)


def _changed_orders(work: UnitOfWork) -> list[Order]:
    """The orders `work` creates or changes, each once, in its final state."""
    changed = dict(work.effects.created)
    changed.update((order_id, order) for order_id, (order, _) in work.effects.updated.items())
    return list(changed.values())


async def _insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        await conn.execute(insert(table), rows[start:start + _CHUNK])


def _rows(
    work: UnitOfWork, instance: str,
) -> list[tuple[Table, Sequence[str], list[tuple[Any, ...]]]]:
    """The rows `work` inserts, table by table, in the order foreign keys need (outbox rows
    as `instance`'s)."""
    effects = work.effects
    return [
        (tables.orders, ORDER_COLUMNS, [order_values(order) for order in effects.created.values()]),
        (tables.trades, TRADE_COLUMNS, [trade_values(trade) for trade in effects.trades]),
        (tables.order_events, _EVENT_COLUMNS, [_event_values(event) for event in effects.events]),
        (tables.outbox, _OUTBOX_COLUMNS, [_outbox_values(m, instance) for m in work.outbox]),
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


_EVENT_COLUMNS = tables.written(tables.order_events)


def _event_values(event: OrderEvent) -> tuple[Any, ...]:
    return event.order_id, event.seq, event.status.value, event.detail, event.at


# What can change on a stored order; the rest is fixed when it is created.
_ORDER_CHANGES = ("status", "filled_quantity", "avg_fill_price", "fee", "fee_asset",
                  "slippage_bps", "error_code", "error_message", "due_at", "triggered_at",
                  "reserved", "version", "updated_at", "queue_ahead")


def _order_change(order: Order) -> tuple[Any, ...]:
    return (order.status.value, order.filled_quantity, order.avg_fill_price, order.fee,
            order.fee_asset, order.slippage_bps,
            order.error_code.value if order.error_code else None, order.error_message,
            order.due_at, order.triggered_at, order.reserved, order.version, order.updated_at,
            order.queue_ahead)


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


_BALANCE_COLUMNS = tables.written(tables.balances)
_POSITION_COLUMNS = tables.written(tables.positions)


# What can change on a stored position: all but its key.
_POSITION_CHANGES = tuple(name for name in _POSITION_COLUMNS if name not in ("account", "symbol"))


def _position_values(position: Position) -> tuple[Any, ...]:
    return (position.symbol, position.quantity, position.avg_entry_price, position.realized_pnl,
            position.fees, position.quote_asset, position.version, position.updated_at,
            position.account)


def _position_change(position: Position) -> dict[str, Any]:
    values = dict(zip(_POSITION_COLUMNS, _position_values(position), strict=True))
    return {name: values[name] for name in _POSITION_CHANGES}


async def _write_positions(conn: AsyncConnection, changes: Sequence[PositionChange]) -> None:
    table = tables.positions
    for change in changes:
        values = dict(zip(_POSITION_COLUMNS, _position_values(change.position), strict=True))
        if change.previous_version == 0:
            await conn.execute(insert(table).values(values))
            continue
        result = await conn.execute(
            update(table)
            .where(and_(table.c.account == change.position.account,
                        table.c.symbol == change.position.symbol,
                        table.c.version == change.previous_version))
            .values(_position_change(change.position)))
        if result.rowcount != 1:
            raise WriteConflict(f"position in {change.position.symbol} changed meanwhile")


async def _write_balances(
    conn: AsyncConnection, changes: Sequence[BalanceChange], at: datetime
) -> None:
    table = tables.balances
    for change in changes:
        if change.previous is None:
            await conn.execute(insert(table).values(
                account=change.account, asset=change.asset, free=change.new.free,
                locked=change.new.locked, updated_at=at))
            continue
        result = await conn.execute(
            update(table)
            .where(and_(table.c.account == change.account, table.c.asset == change.asset,
                        table.c.free == change.previous.free,
                        table.c.locked == change.previous.locked))
            .values(free=change.new.free, locked=change.new.locked, updated_at=at)
        )
        if result.rowcount != 1:
            raise WriteConflict(f"balance of {change.asset} changed meanwhile")


async def _write_control(conn: AsyncConnection, control: dict[str, Any], at: datetime) -> None:
    for key, value in control.items():
        await conn.execute(delete(tables.control_state).where(tables.control_state.c.key == key))
        await conn.execute(insert(tables.control_state).values(key=key, value=value, updated_at=at))


_OUTBOX_COLUMNS = tables.written(tables.outbox)
_EQUITY_COLUMNS = tables.written(tables.equity_snapshots)


def _equity_values(snapshot: EquitySnapshot) -> tuple[Any, ...]:
    return (snapshot.at, snapshot.quote_asset, snapshot.equity, snapshot.unpriced,
            snapshot.detail, snapshot.account)


_REJECTED_COLUMNS = tables.written(tables.rejected_messages)


def _outbox_values(message: OutboxMessage, instance: str) -> tuple[Any, ...]:
    return (instance, message.event_id, message.order_id, message.payload.decode(),
            message.created_at)


async def _raise_marks(conn: AsyncConnection, marks: Mapping[str, int], at: datetime) -> None:
    """Each instance's outbox rows published up to its id (a mark never goes back)."""
    table = tables.outbox_marks
    for instance, through in marks.items():
        result = await conn.execute(
            update(table).where(table.c.instance == instance,
                                table.c.published_through < through)
            .values(published_through=through, updated_at=at))
        if result.rowcount == 0 and await conn.scalar(
                select(table.c.instance).where(table.c.instance == instance)) is None:
            await conn.execute(insert(table).values(instance=instance,
                                                    published_through=through, updated_at=at))


def _rejected_values(message: RejectedMessage) -> tuple[Any, ...]:
    return (message.source.value, message.intake_ref, message.client_id, message.payload,
            message.payload_bytes, message.reason, message.received_at, message.fingerprint)


def _conforms(writer: BatchWriter) -> PipelineStore:
    return writer  # mypy checks that the writer keeps to the Protocol
