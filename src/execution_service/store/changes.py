"""What a unit of work writes, as rows and changes, whichever backend writes them: the rows
it inserts table by table (`rows_of`) and the columns of what it changes. The column lists
come from `tables.written`, so that a table's columns are named in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table

from execution_service.domain.orders import Order
from execution_service.engine.events import OrderEvent
from execution_service.pipeline.work import EquitySnapshot, OutboxMessage, RejectedMessage, UnitOfWork
from execution_service.store import tables
from execution_service.store.rows import ORDERS, TRADES

_EVENT_COLUMNS = tables.written(tables.order_events)
_OUTBOX_COLUMNS = tables.written(tables.outbox)
_REJECTED_COLUMNS = tables.written(tables.rejected_messages)
_EQUITY_COLUMNS = tables.written(tables.equity_snapshots)
BALANCE_COLUMNS = tables.written(tables.balances)


def rows_of(
    work: UnitOfWork, instance: str,
) -> list[tuple[Table, Sequence[str], list[tuple[Any, ...]]]]:
    """The rows `work` inserts, table by table, in the order foreign keys need (outbox rows
    as `instance`'s)."""
    effects = work.effects
    return [
        (tables.orders, ORDERS.columns, [ORDERS.values(order) for order in effects.created.values()]),
        (tables.trades, TRADES.columns, [TRADES.values(trade) for trade in effects.trades]),
        (tables.order_events, _EVENT_COLUMNS, [_event_values(event) for event in effects.events]),
        (tables.outbox, _OUTBOX_COLUMNS, [_outbox_values(m, instance) for m in work.outbox]),
        (tables.rejected_messages, _REJECTED_COLUMNS, [_rejected_values(r) for r in work.rejected]),
        (tables.equity_snapshots, _EQUITY_COLUMNS, [_equity_values(e) for e in work.equity]),
    ]

def changed_orders(work: UnitOfWork) -> list[Order]:
    """The orders `work` creates or changes, each once, in its final state."""
    changed = dict(work.effects.created)
    changed.update((order_id, order) for order_id, (order, _) in work.effects.updated.items())
    return list(changed.values())

def _event_values(event: OrderEvent) -> tuple[Any, ...]:
    return event.order_id, event.seq, event.status.value, event.detail, event.at

def _outbox_values(message: OutboxMessage, instance: str) -> tuple[Any, ...]:
    return (instance, message.event_id, message.order_id, message.payload.decode(),
            message.created_at)

def _rejected_values(message: RejectedMessage) -> tuple[Any, ...]:
    return (message.source.value, message.intake_ref, message.client_id, message.payload,
            message.payload_bytes, message.reason, message.received_at, message.fingerprint)

def _equity_values(snapshot: EquitySnapshot) -> tuple[Any, ...]:
    return (snapshot.at, snapshot.quote_asset, snapshot.equity, snapshot.unpriced,
            snapshot.detail, snapshot.account)
