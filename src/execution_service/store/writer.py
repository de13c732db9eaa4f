"""The batch writer: the only place that commits.

A batch (`session()`) looks up the orders already stored under its keys, then writes its
`UnitOfWork` (new and changed orders, trades, order events, balance and position
changes, outbox rows, rejected messages, control state, equity snapshots) and raises
this instance's outbox mark over the results published since the previous batch, in one
transaction. On PostgreSQL the batch's writes are one statement whose rows travel as one
JSON document (store/pg_batch.py): a small batch is one round trip, commit included; a
large one's rows go in with COPY first (`PostgresBatchSession`, store/postgres.py). SQLite
gets one statement per table (`BatchSession`, store/portable.py), and that is why there
are two builders: SQLite allows no INSERT or UPDATE inside a WITH clause, and in-process it
has no round trips to save. Both take their rows and columns from store/changes.py.

Everything that is changed rather than inserted is written compare-and-set: balances
`WHERE free = .. AND locked = <what the batch read>`, orders and positions
`WHERE version = <the version read>`. Two instances sharing a database can never
overdraw the account or fill an order twice: the loser gets `WriteConflict` and re-runs
from the database's state.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, select

from execution_service.domain.orders import ZERO
from execution_service.engine.account import Amounts
from execution_service.errors import WriteConflict
from execution_service.pipeline.work import OutboxMessage, UnitOfWork, UnsentMessage
from execution_service.store import tables
from execution_service.store.base import ExchangeState, PipelineStore, Session
from execution_service.store.database import Database
from execution_service.store.portable import IS_OPEN, BatchSession, chunks, insert_rows, raise_marks
from execution_service.store.postgres import OPEN_ORDER_IDS, PostgresBatchSession
from execution_service.store.rows import ORDERS, POSITIONS
from execution_service.store.upstream import UpstreamTables, find_upstream_tables

log = logging.getLogger(__name__)


class BatchWriter:
    """Commits units of work, and reads what the pipeline resumes from; see the module
    docstring."""

    def __init__(self, database: Database, *, instance: str = "", upstream_tables: str = "off",
                 upstream_schema: str = "public") -> None:
        self._db = database
        self.instance = instance
        self._upstream_wanted = (upstream_tables, upstream_schema)  # (UPSTREAM_TABLES, its schema)
        self.upstream: UpstreamTables | None = None  # found by `register`, written alongside

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
        """Find upstream's tables to write (UPSTREAM_TABLES), and give this instance its
        outbox mark, so that its rows are found unsent (by any instance's sweep) even if it
        dies before marking any."""
        async with self._db.transaction() as conn:
            self.upstream = await find_upstream_tables(conn, *self._upstream_wanted)
            await raise_marks(conn, {self.instance: 0}, at)
        if self.upstream is not None:
            log.info("writing each order into upstream's %s.orders%s too", self.upstream.schema,
                     " and .trades" if self.upstream.trades else "")

    async def mark_sent(self, marks: Mapping[str, int], at: datetime) -> None:
        if marks:
            async with self._db.transaction() as conn:
                await raise_marks(conn, marks, at)

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
                cursor = await driver.execute(OPEN_ORDER_IDS)
                return {order_id for (order_id,) in await cursor.fetchall()}
        async with self._db.transaction() as conn:
            rows = await conn.execute(select(tables.orders.c.order_id).where(IS_OPEN))
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
        query = select(tables.orders).where(IS_OPEN)
        async with self._db.transaction() as conn:
            balances = (await conn.execute(select(tables.balances))).mappings().all()
            positions = (await conn.execute(select(tables.positions))).mappings().all()
            if order_ids is None:
                orders = (await conn.execute(query)).mappings().all()
            else:
                orders = []
                for chunk in chunks(sorted(order_ids)):
                    orders += (await conn.execute(query.where(
                        tables.orders.c.order_id.in_(chunk)))).mappings().all()
        return ({(row["account"], row["asset"]): Amounts(row["free"], row["locked"])
                 for row in balances},
                [POSITIONS.load(row) for row in positions],
                [ORDERS.load(row) for row in orders])

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
                await insert_rows(conn, table, [
                    {"account": name, "asset": asset, "free": amount, "locked": ZERO,
                     "updated_at": at}
                    for name in dict.fromkeys(names) if name not in opened
                    for asset, amount in initial.items()])
        except WriteConflict:
            pass  # another instance opened them at the same moment


_exact_json = functools.partial(json.loads, parse_float=Decimal)  # as the result went in


def _conforms(writer: BatchWriter) -> PipelineStore:
    return writer  # mypy checks that the writer keeps to the Protocol
