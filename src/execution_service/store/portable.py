"""A batch's statements in SQLAlchemy Core, portable: SQLite's session (`BatchSession`: one
statement per table; SQLite allows no INSERT or UPDATE inside a WITH clause, and in-process
it has no round trips to save), and the statements the writer runs on either backend.

Everything that is changed rather than inserted is written compare-and-set: balances
`WHERE free = .. AND locked = <what the batch read>`, orders and positions
`WHERE version = <the version read>`; a row no longer as read is a `WriteConflict`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from execution_service.domain.orders import Order, OrderStatus
from execution_service.engine.account import BalanceChange
from execution_service.engine.positions import PositionChange
from execution_service.errors import WriteConflict
from execution_service.pipeline.work import KeptInvalid, UnitOfWork
from execution_service.store import tables
from execution_service.store.changes import rows_of
from execution_service.store.rows import ORDERS, POSITIONS

_CHUNK = 1000  # keys per statement: SQLite limits a statement's parameters
IS_OPEN = tables.orders.c.status.in_([s.value for s in OrderStatus if s.is_open])


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
            for chunk in chunks(values):
                query = select(tables.orders).where(column.in_(chunk))
                for row in (await self._conn.execute(query)).mappings():
                    found[row["order_id"]] = ORDERS.load(row)
        return list(found.values())

    async def find_rejected(self, client_ids: Iterable[str], intake_refs: Iterable[str] = ()
                            ) -> KeptInvalid:
        table = tables.rejected_messages
        found = KeptInvalid()
        for chunk in chunks(sorted(set(client_ids))):
            query = (select(table.c.client_id, table.c.fingerprint)
                     .where(table.c.client_id.in_(chunk), table.c.fingerprint.is_not(None)))
            found.answers.update((row.client_id, row.fingerprint)
                                 for row in await self._conn.execute(query))
        for chunk in chunks(sorted(set(intake_refs))):
            query = select(table.c.intake_ref).where(table.c.intake_ref.in_(chunk))
            found.entries.update(row.intake_ref for row in await self._conn.execute(query))
        return found

    async def write(self, work: UnitOfWork, published_through: int | None = None) -> int | None:
        for table, columns, rows in rows_of(work, self._instance):
            if rows:
                await insert_rows(self._conn, table, [dict(zip(columns, row, strict=True)) for row in rows])
        await write_orders(self._conn, work.effects.updated.values(), work.at)
        await write_balances(self._conn, work.effects.balances, work.at)
        await write_positions(self._conn, work.effects.positions)
        await write_control(self._conn, work.control, work.at)
        if published_through is not None:
            await raise_marks(self._conn, {self._instance: published_through}, work.at)
        if not work.outbox:
            return None
        last = await self._conn.scalar(select(func.max(tables.outbox.c.id))
                                       .where(tables.outbox.c.instance == self._instance))
        return int(last)


def chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    """SQLite limits a statement's parameters: key lists go in chunks."""
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]

async def insert_rows(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        await conn.execute(insert(table), rows[start:start + _CHUNK])

async def write_orders(
    conn: AsyncConnection, changed: Iterable[tuple[Order, int]], at: datetime
) -> None:
    table = tables.orders
    for order, version in changed:
        result = await conn.execute(
            update(table)
            .where(and_(table.c.order_id == order.order_id, table.c.version == version))
            .values(ORDERS.changed(order)))
        if result.rowcount != 1:
            raise WriteConflict(f"order {order.order_id} changed meanwhile")

async def write_positions(conn: AsyncConnection, changes: Sequence[PositionChange]) -> None:
    table = tables.positions
    for change in changes:
        values = POSITIONS.row(change.position)
        if change.previous_version == 0:
            await conn.execute(insert(table).values(values))
            continue
        result = await conn.execute(
            update(table)
            .where(and_(table.c.account == change.position.account,
                        table.c.symbol == change.position.symbol,
                        table.c.version == change.previous_version))
            .values(POSITIONS.changed(change.position)))
        if result.rowcount != 1:
            raise WriteConflict(f"position in {change.position.symbol} changed meanwhile")

async def write_balances(
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

async def write_control(conn: AsyncConnection, control: dict[str, Any], at: datetime) -> None:
    for key, value in control.items():
        await conn.execute(delete(tables.control_state).where(tables.control_state.c.key == key))
        await conn.execute(insert(tables.control_state).values(key=key, value=value, updated_at=at))

async def raise_marks(conn: AsyncConnection, marks: Mapping[str, int], at: datetime) -> None:
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
