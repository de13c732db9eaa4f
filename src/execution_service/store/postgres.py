"""PostgreSQL's batch session: in as few round trips and as little Python as the batch
allows, on psycopg directly (`Database.batch_connection()`); see `PostgresBatchSession`."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from sqlalchemy import JSON, LargeBinary, Table

from execution_service.domain.codec import dumps
from execution_service.domain.orders import Order
from execution_service.pipeline.work import KeptInvalid, UnitOfWork
from execution_service.store import pg_batch, tables
from execution_service.store.changes import BALANCE_COLUMNS, changed_orders, rows_of
from execution_service.store.rows import ORDERS, POSITIONS
from execution_service.store.upstream import UpstreamTables


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
            return [ORDERS.load(row) for row in await cursor.fetchall()]

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
                   for table, columns, rows in rows_of(work, self._instance) if rows]
        copied = inserts if sum(len(rows) for _, _, rows in inserts) > _ONE_TRIP_ROWS else []
        sql, document = _batch_statement(work, self._instance, published_through,
                                         [] if copied else inserts, bool(copied))
        upstream = (self._upstream.statements(changed_orders(work), work.effects.trades)
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
_FIND_ORDERS = (f"SELECT {', '.join(ORDERS.selected)} FROM orders WHERE client_id = ANY(%s)"
                " OR intake_ref = ANY(%s) OR order_id = ANY(%s)")
OPEN_ORDER_IDS = f"SELECT order_id FROM orders WHERE {tables.OPEN_STATUSES}"  # (the partial index)

_FIND_REJECTED = ("SELECT client_id, fingerprint, intake_ref FROM rejected_messages"
                  " WHERE (client_id = ANY(%s) AND fingerprint IS NOT NULL) OR intake_ref = ANY(%s)")


# A batch with at most this many rows to insert sends them in its one statement; a larger
# one uses COPY (`python bench/commit.py`: a batch of 1,000 orders took 203 ms through the
# JSON document against 165 to 190 ms with COPY).
_ONE_TRIP_ROWS = 250


def _batch_statement(
    work: UnitOfWork, instance: str, published_through: int | None,
    inserts: list[tuple[Table, Sequence[str], list[tuple[Any, ...]]]], copied: bool,
) -> tuple[str, str]:
    """The batch as one statement (store/pg_batch.py), with these `inserts` (the rest
    `copied` before it), and its JSON document."""
    parts: dict[str, list[dict[str, Any]]] = {}
    inserted = _inserted_parts(work, inserts, parts)
    changed = _changed_parts(work, parts)
    outbox = "copied" if copied and work.outbox else "inserted" if work.outbox else None
    sql = pg_batch.statement(tuple(inserted), tuple(changed), published_through is not None,
                             bool(work.control), outbox)
    return sql, pg_batch.document(parts, work.control, work.at, instance, published_through)


def _inserted_parts(
    work: UnitOfWork, inserts: list[tuple[Table, Sequence[str], list[tuple[Any, ...]]]],
    parts: dict[str, list[dict[str, Any]]],
) -> list[tuple[str, tuple[str, ...]]]:
    """Add the new rows to `parts`, by table; the (table, columns) of each part."""
    inserted: list[tuple[str, tuple[str, ...]]] = []
    effects = work.effects
    new_balances = [{"asset": c.asset, "free": c.new.free, "locked": c.new.locked,
                     "updated_at": work.at, "account": c.account}
                    for c in effects.balances if c.previous is None]
    new_positions = [POSITIONS.row(m.position)
                     for m in effects.positions if m.previous_version == 0]
    records_of = [(str(table.name), tuple(columns), _records(table, columns, rows))
                  for table, columns, rows in inserts]
    records_of += [("balances", BALANCE_COLUMNS, new_balances),
                   ("positions", POSITIONS.columns, new_positions)]
    for name, columns, records in records_of:  # (a table's name is a quoted_name: made str)
        if records:
            parts[name] = records
            inserted.append((name, columns))
    return inserted


def _records(table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
             ) -> list[dict[str, Any]]:
    """Rows as objects keyed by column, binary values in base64."""
    binary = [name for name in columns if isinstance(table.c[name].type, LargeBinary)]
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    for record in records:
        for name in binary:
            record[name] = pg_batch.encode_bytes(record[name])
    return records


def _changed_parts(work: UnitOfWork, parts: dict[str, list[dict[str, Any]]]
                   ) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """Add the compare-and-set changes to `parts`; per table, the columns each sets and
    the ones its WHERE compares (a `prev_` value of each in the record)."""
    effects = work.effects
    changes = {
        "orders": ([{**ORDERS.changed(order),
                     "prev_order_id": order.order_id, "prev_version": version}
                    for order, version in effects.updated.values()],
                   ORDERS.changes, ("order_id", "version")),
        "balances": ([{"free": c.new.free, "locked": c.new.locked, "updated_at": work.at,
                       "prev_account": c.account, "prev_asset": c.asset,
                       "prev_free": c.previous.free, "prev_locked": c.previous.locked}
                      for c in effects.balances if c.previous is not None],
                     ("free", "locked", "updated_at"), ("account", "asset", "free", "locked")),
        "positions": ([{**POSITIONS.changed(m.position), "prev_account": m.position.account,
                        "prev_symbol": m.position.symbol, "prev_version": m.previous_version}
                       for m in effects.positions if m.previous_version != 0],
                      POSITIONS.changes, ("account", "symbol", "version")),
    }
    changed: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    for name, (records, setting, matching) in changes.items():
        if records:
            parts[f"changed_{name}"] = records
            changed.append((name, tuple(setting), matching))
    return changed


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
