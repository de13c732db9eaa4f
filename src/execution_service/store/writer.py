"""The batch writer: the only place that commits.

One `UnitOfWork` is one transaction holding a batch's orders, trades, order events,
balance changes, outbox rows, rejected messages and control state. Balances are written
compare-and-set (`WHERE free = <value the batch read>`), so two instances sharing a
database can never overdraw the account: the loser gets `WriteConflict` and re-runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, and_, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from execution_service.domain.codec import dumps
from execution_service.domain.orders import ZERO, Source
from execution_service.engine.exchange import Execution, OrderFilled
from execution_service.errors import WriteConflict
from execution_service.store import tables
from execution_service.store.database import Database
from execution_service.store.rows import order_row, trade_row

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


@dataclass(frozen=True, slots=True)
class BalanceChange:
    asset: str
    previous: Decimal | None  # None: the account never held the asset
    new: Decimal


@dataclass(slots=True)
class UnitOfWork:
    """Everything one batch changes, committed together or not at all."""

    at: datetime
    executions: list[Execution] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    rejected: list[RejectedMessage] = field(default_factory=list)
    balances: list[BalanceChange] = field(default_factory=list)
    control: dict[str, Any] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.executions or self.outbox or self.rejected or self.balances
                    or self.control)


class BatchWriter:
    """Commits units of work; see the module docstring."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def commit(self, work: UnitOfWork) -> None:
        """Write `work` in one transaction. Raises DatabaseUnavailable or WriteConflict."""
        if work.is_empty():
            return
        async with self._db.transaction() as conn:
            await _insert(conn, tables.orders, [order_row(e.order) for e in work.executions])
            await _insert(conn, tables.trades, [
                trade_row(e.trade) for e in work.executions if isinstance(e, OrderFilled)])
            await _insert(conn, tables.order_events, list(_event_rows(work.executions)))
            await _write_balances(conn, work.balances, work.at)
            await _insert(conn, tables.outbox, [_outbox_row(m) for m in work.outbox])
            await _insert(conn, tables.rejected_messages, [_rejected_row(r) for r in work.rejected])
            await _write_control(conn, work.control, work.at)

    async def mark_sent(self, event_ids: Sequence[str], at: datetime) -> None:
        """Record that these outbox messages reached Redis."""
        async with self._db.transaction(plan_each=True) as conn:
            for start in range(0, len(event_ids), _CHUNK):
                chunk = event_ids[start:start + _CHUNK]
                await conn.execute(
                    update(tables.outbox)
                    .where(tables.outbox.c.event_id.in_(chunk))
                    .values(sent_at=at)
                )

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


async def _insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        await conn.execute(insert(table), rows[start:start + _CHUNK])


def _event_rows(executions: Iterable[Execution]) -> Iterable[dict[str, Any]]:
    for execution in executions:
        order = execution.order
        if isinstance(execution, OrderFilled):
            trade = execution.trade
            yield {"order_id": order.order_id, "seq": 1, "status": "NEW", "detail": None,
                   "at": order.created_at}
            yield {"order_id": order.order_id, "seq": 2, "status": order.status.value,
                   "detail": f"{trade.quantity} @ {trade.price}, fee {trade.fee} {trade.fee_asset}",
                   "at": order.updated_at}
        else:
            yield {"order_id": order.order_id, "seq": 1, "status": order.status.value,
                   "detail": f"{order.error_code}: {order.error_message}" if order.error_code else None,
                   "at": order.updated_at}


async def _write_balances(
    conn: AsyncConnection, changes: Sequence[BalanceChange], at: datetime
) -> None:
    table = tables.balances
    for change in changes:
        if change.previous is None:
            await conn.execute(insert(table).values(
                asset=change.asset, free=change.new, locked=ZERO, updated_at=at))
            continue
        result = await conn.execute(
            update(table)
            .where(and_(table.c.asset == change.asset, table.c.free == change.previous))
            .values(free=change.new, updated_at=at)
        )
        if result.rowcount != 1:
            raise WriteConflict(f"balance of {change.asset} changed meanwhile")


async def _write_control(conn: AsyncConnection, control: dict[str, Any], at: datetime) -> None:
    for key, value in control.items():
        await conn.execute(delete(tables.control_state).where(tables.control_state.c.key == key))
        await conn.execute(insert(tables.control_state).values(key=key, value=value, updated_at=at))


def _outbox_row(message: OutboxMessage) -> dict[str, Any]:
    return {"event_id": message.event_id, "order_id": message.order_id,
            "payload": message.payload.decode(), "created_at": message.created_at,
            "sent_at": None}


def _rejected_row(message: RejectedMessage) -> dict[str, Any]:
    return {"source": message.source.value, "intake_ref": message.intake_ref,
            "client_id": message.client_id, "payload": message.payload,
            "payload_bytes": message.payload_bytes, "reason": message.reason,
            "received_at": message.received_at}
