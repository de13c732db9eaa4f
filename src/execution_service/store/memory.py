"""A `PipelineStore` in memory, for tests of the pipeline without a database.

It keeps what the real store keeps and refuses what the real store refuses: a duplicate
client id with the same fingerprint, or an order, balance or position that changed since
the batch read it (`WriteConflict`); a batch is applied whole or not at all. Set `down`
to make it answer like a database that is away (`DatabaseUnavailable`).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from execution_service.domain.orders import DEFAULT_ACCOUNT, ZERO, Order, OrderStatus, Trade
from execution_service.engine.account import Amounts
from execution_service.engine.events import OrderEvent
from execution_service.engine.positions import Position
from execution_service.errors import DatabaseUnavailable, WriteConflict
from execution_service.pipeline.work import (
    EquitySnapshot,
    KeptInvalid,
    OutboxMessage,
    RejectedMessage,
    UnitOfWork,
    UnsentMessage,
)
from execution_service.store.base import ExchangeState, OrderDetail, PipelineStore, ReadModel

_Row = TypeVar("_Row", Order, Trade)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    instance: str
    message: OutboxMessage


@dataclass
class MemoryStore:
    orders: dict[str, Order] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)
    balances: dict[tuple[str, str], Amounts] = field(default_factory=dict)  # (account, asset)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)  # (account, symbol)
    outbox: list[OutboxRow] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)  # instance: published through
    rejected: list[RejectedMessage] = field(default_factory=list)
    control: dict[str, object] = field(default_factory=dict)
    equity: list[EquitySnapshot] = field(default_factory=list)
    writes: list[tuple[UnitOfWork, int | None]] = field(default_factory=list)  # each commit
    down: bool = False
    instance: str = "memory"
    numbers: int = 0  # the last number given to a row

    def next_number(self) -> int:
        """The next row's number (one counter for orders and trades: unique in each)."""
        self.numbers += 1
        return self.numbers

    def open_account(self, initial: dict[str, Decimal], account: str = DEFAULT_ACCOUNT) -> None:
        self.balances.update(((account, asset), Amounts(amount))
                             for asset, amount in initial.items())

    @asynccontextmanager
    async def session(self, exclusive: bool = False) -> AsyncIterator[MemorySession]:
        self._check()
        yield MemorySession(self)

    async def commit(self, work: UnitOfWork) -> None:
        async with self.session() as session:
            await session.write(work)

    async def mark_sent(self, marks: Mapping[str, int], at: datetime) -> None:
        self._check()
        for instance, through in marks.items():
            self.marks[instance] = max(self.marks.get(instance, 0), through)

    async def unsent(self, limit: int) -> list[UnsentMessage]:
        self._check()
        return [UnsentMessage(row.instance, row.id, row.message) for row in self.outbox
                if row.id > self.marks.get(row.instance, 0)][:limit]

    def is_published(self, row: OutboxRow) -> bool:
        return row.id <= self.marks.get(row.instance, 0)

    async def exchange_state(self, order_ids: Collection[str] | None = None) -> ExchangeState:
        self._check()
        return (dict(self.balances), list(self.positions.values()),
                [copy.deepcopy(order) for order in self.orders.values() if order.status.is_open
                 and (order_ids is None or order.order_id in order_ids)])

    async def open_order_ids(self) -> set[str]:
        self._check()
        return {order.order_id for order in self.orders.values() if order.status.is_open}

    def _check(self) -> None:
        if self.down:
            raise DatabaseUnavailable("the in-memory database is down")


class MemorySession:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def find_orders(self, client_ids: Iterable[str], intake_refs: Iterable[str],
                          order_ids: Iterable[str]) -> list[Order]:
        clients, refs, ids = set(client_ids), set(intake_refs), set(order_ids)
        return [copy.deepcopy(order) for order in self._store.orders.values()
                if order.client_id in clients or order.intake_ref in refs
                or order.order_id in ids]

    async def find_rejected(self, client_ids: Iterable[str], intake_refs: Iterable[str] = ()
                            ) -> KeptInvalid:
        clients, refs = set(client_ids), set(intake_refs)
        rejected = self._store.rejected
        return KeptInvalid(
            {(m.client_id, m.fingerprint) for m in rejected
             if m.client_id in clients and m.fingerprint is not None},
            {m.intake_ref for m in rejected if m.intake_ref is not None and m.intake_ref in refs})

    async def write(self, work: UnitOfWork, published_through: int | None = None) -> int | None:
        store, effects = self._store, work.effects
        store._check()
        self._refuse_conflicts(work)  # every check first: all or nothing
        # Copies, as a database holds: the exchange changes its orders in place. New rows
        # are numbered as the database numbers them (migration 0010).
        for order_id, order in effects.created.items():
            store.orders[order_id] = replace(copy.deepcopy(order), number=store.next_number())
        for order_id, (order, _) in effects.updated.items():
            store.orders[order_id] = replace(copy.deepcopy(order),
                                             number=store.orders[order_id].number)
        store.trades += [replace(trade, number=store.next_number()) for trade in effects.trades]
        store.events += effects.events
        store.balances.update(((change.account, change.asset), change.new)
                              for change in effects.balances)
        store.positions.update(((change.position.account, change.position.symbol),
                                change.position) for change in effects.positions)
        first = len(store.outbox) + 1
        store.outbox += [OutboxRow(first + n, store.instance, message)
                         for n, message in enumerate(work.outbox)]
        store.rejected += work.rejected
        store.control.update(work.control)
        store.equity += work.equity
        store.writes.append((work, published_through))
        if published_through is not None:
            await store.mark_sent({store.instance: published_through}, work.at)
        return store.outbox[-1].id if work.outbox else None

    def _refuse_conflicts(self, work: UnitOfWork) -> None:
        """What the database's constraints and compare-and-set refuse: `WriteConflict`."""
        self._refuse_copies(work)
        store, effects = self._store, work.effects
        for order, version in effects.updated.values():
            if store.orders[order.order_id].version != version:
                raise WriteConflict(f"order {order.order_id} changed meanwhile")
        for change in effects.balances:
            if store.balances.get((change.account, change.asset)) != change.previous:
                raise WriteConflict(f"balance of {change.asset} changed meanwhile")
        for moved in effects.positions:
            position = moved.position
            stored = store.positions.get((position.account, position.symbol))
            if (stored.version if stored else 0) != moved.previous_version:
                raise WriteConflict(f"position in {position.symbol} changed meanwhile")

    def _refuse_copies(self, work: UnitOfWork) -> None:
        """The unique indexes: an order id, a client id with its fingerprint, an invalid
        message's entry or its client id with its fingerprint, each once."""
        store = self._store
        for order in work.effects.created.values():
            if order.order_id in store.orders or any(
                    order.client_id and (stored.client_id, stored.fingerprint)
                    == (order.client_id, order.fingerprint) for stored in store.orders.values()):
                raise WriteConflict(f"order {order.order_id} exists")
        kept_refs = {message.intake_ref for message in store.rejected}
        kept_answers = {(message.client_id, message.fingerprint) for message in store.rejected
                        if message.client_id is not None and message.fingerprint is not None}
        for message in work.rejected:
            if message.intake_ref is not None and message.intake_ref in kept_refs:
                raise WriteConflict(f"entry {message.intake_ref} is kept already")
            if (message.client_id, message.fingerprint) in kept_answers:
                raise WriteConflict(f"an invalid {message.client_id} is kept already")


if TYPE_CHECKING:  # mypy checks that the fake keeps to the Protocol
    _CONFORMS: PipelineStore = MemoryStore()


class MemoryReadModel:
    """The API's `ReadModel` over a `MemoryStore`: the same answers the database's `Store`
    gives, from what the in-memory store holds (tests of the API without a database)."""

    backend = "memory"

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def get_recent_orders(self, limit: int = 20, symbol: str | None = None,
                                status: OrderStatus | None = None,
                                account: str | None = None) -> list[Order]:
        found = [o for o in self._orders() if symbol in (None, o.symbol)
                 and status in (None, o.status) and account in (None, o.account)]
        return sorted(found, key=lambda o: o.created_at, reverse=True)[:limit]

    async def get_order_by_id(self, order_id: str) -> OrderDetail | None:
        order = self._store.orders.get(order_id)
        if order is None:
            return None
        trades = sorted((t for t in self._store.trades if t.order_id == order_id),
                        key=lambda t: t.executed_at)
        events = sorted((e for e in self._store.events if e.order_id == order_id),
                        key=lambda e: e.seq)
        return OrderDetail(copy.deepcopy(order), trades, [
            {"order_id": e.order_id, "seq": e.seq, "status": e.status.value,
             "detail": e.detail, "at": e.at} for e in events])

    async def account_orders(self, account: str, symbol: str | None = None, *,
                             open_only: bool = False, start: datetime | None = None,
                             end: datetime | None = None, limit: int | None = None,
                             from_number: int | None = None) -> list[Order]:
        found = [o for o in self._orders() if o.account == account
                 and o.status is not OrderStatus.REJECTED
                 and symbol in (None, o.symbol) and (o.status.is_open or not open_only)]
        if from_number is not None:
            return _from_number(found, lambda o: o.created_at, from_number, start, end, limit)
        return _window(found, lambda o: (o.created_at, o.number or 0), start, end, limit)

    async def account_order(self, account: str, symbol: str, *, number: int | None = None,
                            client_id: str | None = None) -> Order | None:
        found = [o for o in self._orders() if (o.account, o.symbol) == (account, symbol)
                 and o.status is not OrderStatus.REJECTED
                 and number in (None, o.number) and client_id in (None, o.client_id)]
        return max(found, key=lambda o: o.created_at, default=None)

    async def account_trades(self, account: str, symbol: str, *, order_id: str | None = None,
                             start: datetime | None = None, end: datetime | None = None,
                             limit: int = 500, from_number: int | None = None) -> list[Trade]:
        found = [t for t in self._store.trades if (t.account, t.symbol) == (account, symbol)
                 and order_id in (None, t.order_id)]
        if from_number is not None:
            return _from_number(found, lambda t: t.executed_at, from_number, start, end, limit)
        return _window(found, lambda t: (t.executed_at, t.number or 0), start, end, limit)

    async def account_lists(self, account: str, *, open_only: bool = False,
                            limit: int = 500) -> list[list[Order]]:
        lists: dict[str, list[Order]] = {}
        for order in sorted(self._orders(), key=lambda o: o.number or 0):
            if order.account == account and order.list_ref is not None:
                lists.setdefault(order.list_ref, []).append(order)
        kept = [orders for orders in lists.values()
                if not open_only or any(o.status.is_open for o in orders)]
        return kept[-limit:]

    async def account_list(self, account: str, *, number: int | None = None,
                           client_id: str | None = None) -> list[Order]:
        firsts = [o for o in self._orders() if o.account == account and o.list_ref == o.order_id
                  and number in (None, o.number)
                  and client_id in (None, o.metadata.get("list_client_id"))]
        if not firsts:
            return []
        return sorted((o for o in self._orders() if o.list_ref == firsts[0].order_id),
                      key=lambda o: o.number or 0)

    async def order_numbers(self, order_ids: Collection[str]) -> dict[str, int]:
        return {order.order_id: order.number for order in self._orders()
                if order.order_id in order_ids and order.number is not None}

    async def trade_numbers(self, trade_ids: Collection[str]) -> dict[str, int]:
        return {trade.trade_id: trade.number for trade in self._store.trades
                if trade.trade_id in trade_ids and trade.number is not None}

    async def fill_quality(self, account: str | None, trades: int = 1_000,
                           orders: int = 10_000) -> tuple[list[Trade], dict[str, int]]:
        fills = [t for t in self._store.trades if account in (None, t.account)]
        recent = await self.get_recent_orders(orders, account=account)
        reasons = Counter(str(o.error_code or "UNKNOWN") for o in recent
                          if o.status is OrderStatus.REJECTED)
        return sorted(fills, key=lambda t: t.executed_at, reverse=True)[:trades], dict(reasons)

    async def get_trades(self, limit: int = 20, symbol: str | None = None,
                         account: str | None = None) -> list[Trade]:
        found = [t for t in self._store.trades if symbol in (None, t.symbol)
                 and account in (None, t.account)]
        return sorted(found, key=lambda t: t.executed_at, reverse=True)[:limit]

    async def get_balances(self, account: str = DEFAULT_ACCOUNT
                           ) -> dict[str, dict[str, Decimal]]:
        return {asset: {"free": amounts.free, "locked": amounts.locked}
                for (holder, asset), amounts in sorted(self._store.balances.items())
                if holder == account}

    async def get_positions(self, account: str = DEFAULT_ACCOUNT) -> list[Position]:
        return [position for (holder, _), position in sorted(self._store.positions.items())
                if holder == account]

    async def get_equity(self, limit: int, since: datetime | None = None,
                         account: str = DEFAULT_ACCOUNT) -> list[dict[str, Any]]:
        found = [s for s in self._store.equity if s.account == account
                 and (since is None or s.at > since)]
        return [{"at": s.at.isoformat(), "quote_asset": s.quote_asset, "equity": s.equity,
                 "unpriced": s.unpriced} for s in sorted(found, key=lambda s: s.at)[-limit:]]

    async def get_stats(self) -> dict[str, Any]:
        volume: dict[str, Decimal] = {}
        for trade in self._store.trades:
            volume[trade.fee_asset] = volume.get(trade.fee_asset, ZERO) + trade.notional
        by_status = Counter(o.status.value for o in self._store.orders.values())
        return {"total_orders": len(self._store.orders), "orders_by_status": dict(by_status),
                "total_trades": len(self._store.trades), "volume": volume}

    async def count_unsent(self) -> int:
        return len(await self._store.unsent(len(self._store.outbox) + 1))

    async def count_rejected_messages(self) -> int:
        return len(self._store.rejected)

    def _orders(self) -> list[Order]:
        self._store._check()
        return [copy.deepcopy(order) for order in self._store.orders.values()]


def _window(rows: list[_Row], key: Callable[[_Row], Any], start: datetime | None,
            end: datetime | None, limit: int | None) -> list[_Row]:
    """As `Store._window`: within [start, end] by the key's moment, oldest first; the
    `limit` newest, or with `start` the `limit` oldest from it."""
    inside = sorted((row for row in rows if (start is None or key(row)[0] >= start)
                     and (end is None or key(row)[0] <= end)), key=key)
    if limit is None:
        return inside
    return inside[:limit] if start is not None else inside[max(len(inside) - limit, 0):]


def _from_number(rows: list[_Row], moment: Callable[[_Row], datetime], first: int,
                 start: datetime | None, end: datetime | None, limit: int | None) -> list[_Row]:
    """As `Store._from_number`: numbered `first` and on, by number."""
    inside = sorted((row for row in rows if (row.number or 0) >= first
                     and (start is None or moment(row) >= start)
                     and (end is None or moment(row) <= end)), key=lambda row: row.number or 0)
    return inside if limit is None else inside[:limit]


if TYPE_CHECKING:  # mypy checks that the fake keeps to the Protocol
    _READS: type[ReadModel] = MemoryReadModel
