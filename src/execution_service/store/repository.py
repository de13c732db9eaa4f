"""The read side of the store, and the seed's store methods (`save_order`, `get_stats`, ...)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Float, cast, func, select

from execution_service.domain.orders import DEFAULT_ACCOUNT, Order, OrderStatus, Trade
from execution_service.engine.events import OrderEvent
from execution_service.engine.exchange import Effects
from execution_service.engine.positions import Position
from execution_service.pipeline.work import UnitOfWork
from execution_service.store import tables
from execution_service.store.base import OrderDetail, ReadModel
from execution_service.store.database import Database
from execution_service.store.rows import ORDERS, POSITIONS, TRADES
from execution_service.store.writer import BatchWriter


class Store:
    """Queries over the tables; every write goes through the `BatchWriter`."""

    def __init__(self, database: Database, writer: BatchWriter) -> None:
        self.database = database
        self._writer = writer

    @property
    def backend(self) -> str:
        return self.database.backend

    # The seed's methods

    async def save_order(self, order: Order) -> None:
        """Store one order (and, if it is filled, nothing else: see `save_trade`)."""
        await self._writer.commit(UnitOfWork(at=order.updated_at,
                                             effects=Effects(
            created={order.order_id: order}, events=[_event(order)])))

    async def save_trade(self, order: Order, trade: Trade) -> None:
        """Store a filled order with its trade."""
        await self._writer.commit(UnitOfWork(at=trade.executed_at, effects=Effects(
            created={order.order_id: order}, trades=[trade], events=[_event(order)])))

    async def get_stats(self) -> dict[str, Any]:
        """Totals: orders by status, trades, and traded volume per quote asset."""
        async with self.database.transaction() as conn:
            by_status: dict[str, int] = dict((await conn.execute(
                select(tables.orders.c.status, func.count()).group_by(tables.orders.c.status)
            )).all())
            trade_count = await conn.scalar(select(func.count()).select_from(tables.trades))
            volume_rows = (await conn.execute(self._volume_query())).all()
        return {
            "total_orders": sum(by_status.values()),
            "orders_by_status": by_status,
            "total_trades": trade_count or 0,
            "volume": {asset: Decimal(str(total)) for asset, total in volume_rows},
        }

    async def count_orders(self) -> int:
        async with self.database.transaction() as conn:
            return int(await conn.scalar(select(func.count()).select_from(tables.orders)) or 0)

    async def get_recent_orders(
        self, limit: int = 20, symbol: str | None = None, status: OrderStatus | None = None,
        account: str | None = None,
    ) -> list[Order]:
        query = select(tables.orders).order_by(tables.orders.c.created_at.desc()).limit(limit)
        if symbol:
            query = query.where(tables.orders.c.symbol == symbol)
        if status:
            query = query.where(tables.orders.c.status == status.value)
        if account:
            query = query.where(tables.orders.c.account == account)
        async with self.database.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ORDERS.load(row) for row in rows]

    async def get_order_by_id(self, order_id: str) -> OrderDetail | None:
        async with self.database.transaction() as conn:
            row = (await conn.execute(
                select(tables.orders).where(tables.orders.c.order_id == order_id)
            )).mappings().first()
            if row is None:
                return None
            trades = (await conn.execute(
                select(tables.trades).where(tables.trades.c.order_id == order_id)
                .order_by(tables.trades.c.executed_at)
            )).mappings().all()
            events = (await conn.execute(
                select(tables.order_events).where(tables.order_events.c.order_id == order_id)
                .order_by(tables.order_events.c.seq)
            )).mappings().all()
        return OrderDetail(ORDERS.load(row), [TRADES.load(t) for t in trades],
                           [{str(key): value for key, value in e.items()} for e in events])

    # One account's orders and trades (the Binance-compatible API: as Binance, which keeps
    # no order it rejected, none of them lists a rejected one)

    async def account_orders(
        self, account: str, symbol: str | None = None, *, open_only: bool = False,
        start: datetime | None = None, end: datetime | None = None, limit: int | None = None,
        from_number: int | None = None,
    ) -> list[Order]:
        """An account's orders, oldest first: the `limit` newest of those created within
        [start, end] (with `start`, the oldest from it; with `from_number`, the first by
        number from it)."""
        table = tables.orders
        query = select(table).where(table.c.account == account, _LISTED)
        if symbol:
            query = query.where(table.c.symbol == symbol)
        if open_only:
            query = query.where(table.c.status.in_([s.value for s in OrderStatus if s.is_open]))
        if from_number is not None:
            rows = await self._from_number(query, table, from_number, start, end, limit)
        else:
            rows = await self._window(query, table.c.created_at, table.c.number, start, end,
                                      limit)
        return [ORDERS.load(row) for row in rows]

    async def account_order(self, account: str, symbol: str, *, number: int | None = None,
                            client_id: str | None = None) -> Order | None:
        """One of an account's orders on `symbol`: by number (and then its client id must
        match, when given), else the newest under `client_id`."""
        table = tables.orders
        query = select(table).where(table.c.account == account, table.c.symbol == symbol,
                                    _LISTED)
        if number is not None:
            query = query.where(table.c.number == number)
        if client_id is not None:
            query = query.where(table.c.client_id == client_id)
        query = query.order_by(table.c.created_at.desc()).limit(1)
        async with self.database.transaction() as conn:
            row = (await conn.execute(query)).mappings().first()
        return ORDERS.load(row) if row else None

    async def account_trades(
        self, account: str, symbol: str, *, order_id: str | None = None,
        start: datetime | None = None, end: datetime | None = None, limit: int = 500,
        from_number: int | None = None,
    ) -> list[Trade]:
        """An account's fills on `symbol`, oldest first: the `limit` newest of those within
        [start, end] (with `start`, the oldest from it; with `from_number`, the first by
        number from it)."""
        table = tables.trades
        query = select(table).where(table.c.account == account, table.c.symbol == symbol)
        if order_id is not None:
            query = query.where(table.c.order_id == order_id)
        if from_number is not None:
            rows = await self._from_number(query, table, from_number, start, end, limit)
        else:
            rows = await self._window(query, table.c.executed_at, table.c.number, start, end,
                                      limit)
        return [TRADES.load(row) for row in rows]

    async def _from_number(self, query: Any, table: Any, first: int, start: datetime | None,
                           end: datetime | None, limit: int | None) -> list[Any]:
        """`query`'s rows numbered `first` and on, by number (as Binance pages by id)."""
        moment = table.c.created_at if table is tables.orders else table.c.executed_at
        query = query.where(table.c.number >= first).order_by(table.c.number)
        if start is not None:
            query = query.where(moment >= start)
        if end is not None:
            query = query.where(moment <= end)
        if limit is not None:
            query = query.limit(limit)
        async with self.database.transaction() as conn:
            return list((await conn.execute(query)).mappings().all())

    async def account_lists(self, account: str, *, open_only: bool = False,
                            limit: int = 500) -> list[list[Order]]:
        """An account's order lists (each its orders, oldest first), the `limit` newest,
        oldest first: with `open_only`, those with an order still open."""
        table = tables.orders
        query = select(table.c.list_ref).where(table.c.account == account,
                                               table.c.list_ref.is_not(None))
        if open_only:
            query = query.where(table.c.status.in_([s.value for s in OrderStatus if s.is_open]))
        newest = (query.group_by(table.c.list_ref)
                  .order_by(func.min(table.c.number).desc()).limit(limit))
        async with self.database.transaction() as conn:
            refs = list((await conn.execute(newest)).scalars())
            rows = (await conn.execute(select(table).where(table.c.list_ref.in_(refs))
                                       .order_by(table.c.number))).mappings().all()
        return _grouped([ORDERS.load(row) for row in rows])

    async def account_list(self, account: str, *, number: int | None = None,
                           client_id: str | None = None) -> list[Order]:
        """One of an account's order lists, named by its id (its first order's number) or
        its client id; empty if it has none such."""
        table = tables.orders
        first = select(table.c.order_id).where(table.c.account == account,
                                               table.c.list_ref == table.c.order_id)
        if number is not None:
            first = first.where(table.c.number == number)
        if client_id is not None:
            first = first.where(table.c.metadata["list_client_id"].as_string() == client_id)
        async with self.database.transaction() as conn:
            rows = (await conn.execute(select(table).where(
                table.c.list_ref.in_(first.scalar_subquery()), table.c.account == account)
                .order_by(table.c.number))).mappings().all()
        return [ORDERS.load(row) for row in rows]

    async def order_numbers(self, order_ids: Collection[str]) -> dict[str, int]:
        """The numbers of these orders (Binance's `orderId`s), by order id."""
        return await self._numbers(tables.orders.c.order_id, order_ids)

    async def trade_numbers(self, trade_ids: Collection[str]) -> dict[str, int]:
        """The numbers of these trades (Binance's `tradeId`s), by trade id."""
        return await self._numbers(tables.trades.c.trade_id, trade_ids)

    async def _numbers(self, key: Column[str], ids: Collection[str]) -> dict[str, int]:
        """The `number` of each row of `key`'s table whose `key` is among `ids`."""
        if not ids:
            return {}
        query = select(key, key.table.c.number).where(key.in_(ids))
        async with self.database.transaction() as conn:
            return {row[0]: row[1] for row in await conn.execute(query)}

    async def fill_quality(self, account: str | None, trades: int = 1_000,
                           orders: int = 10_000) -> tuple[list[Trade], dict[str, int]]:
        """The newest `trades` fills, and the rejections among the newest `orders` orders
        by error code: of one account, or of all."""
        fills = select(tables.trades).order_by(tables.trades.c.executed_at.desc()).limit(trades)
        recent = select(tables.orders.c.status, tables.orders.c.error_code).order_by(
            tables.orders.c.created_at.desc()).limit(orders)
        if account:
            fills = fills.where(tables.trades.c.account == account)
            recent = recent.where(tables.orders.c.account == account)
        window = recent.subquery()
        rejected = (select(window.c.error_code, func.count())
                    .where(window.c.status == OrderStatus.REJECTED.value)
                    .group_by(window.c.error_code))
        async with self.database.transaction() as conn:
            rows = (await conn.execute(fills)).mappings().all()
            reasons = (await conn.execute(rejected)).all()
        return ([TRADES.load(row) for row in rows],
                {str(code or "UNKNOWN"): int(count) for code, count in reasons})

    async def _window(self, query: Any, moment: Any, key: Any, start: datetime | None,
                      end: datetime | None, limit: int | None) -> list[Any]:
        """`query`'s rows within [start, end] by `moment`, oldest first: the `limit` newest,
        or with `start` the `limit` oldest from it (as Binance's history endpoints page)."""
        if start is not None:
            query = query.where(moment >= start)
        if end is not None:
            query = query.where(moment <= end)
        newest_first = start is None
        query = query.order_by(*((moment.desc(), key.desc()) if newest_first else (moment, key)))
        if limit is not None:
            query = query.limit(limit)
        async with self.database.transaction() as conn:
            rows = list((await conn.execute(query)).mappings().all())
        return rows[::-1] if newest_first else rows

    # Everything else

    async def get_trades(self, limit: int = 20, symbol: str | None = None,
                         account: str | None = None) -> list[Trade]:
        query = select(tables.trades).order_by(tables.trades.c.executed_at.desc()).limit(limit)
        if symbol:
            query = query.where(tables.trades.c.symbol == symbol)
        if account:
            query = query.where(tables.trades.c.account == account)
        async with self.database.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [TRADES.load(row) for row in rows]

    async def get_balances(self, account: str = DEFAULT_ACCOUNT) -> dict[str, dict[str, Decimal]]:
        table = tables.balances
        async with self.database.transaction() as conn:
            rows = (await conn.execute(select(table).where(table.c.account == account)
                                       .order_by(table.c.asset))).mappings().all()
        return {row["asset"]: {"free": row["free"], "locked": row["locked"]} for row in rows}

    async def get_positions(self, account: str = DEFAULT_ACCOUNT) -> list[Position]:
        table = tables.positions
        async with self.database.transaction() as conn:
            rows = (await conn.execute(select(table).where(table.c.account == account)
                                       .order_by(table.c.symbol))).mappings().all()
        return [POSITIONS.load(row) for row in rows]

    async def get_equity(self, limit: int, since: datetime | None = None,
                         account: str = DEFAULT_ACCOUNT) -> list[dict[str, Any]]:
        """An account's stored equity snapshots, oldest first: the `limit` most recent
        (after `since`)."""
        table = tables.equity_snapshots
        query = (select(table).where(table.c.account == account)
                 .order_by(table.c.at.desc()).limit(limit))
        if since is not None:
            query = query.where(table.c.at > since)
        async with self.database.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [{"at": row["at"].isoformat(), "quote_asset": row["quote_asset"],
                 "equity": row["equity"], "unpriced": row["unpriced"]} for row in reversed(rows)]

    async def count_unsent(self) -> int:
        """Outbox rows above their instance's mark: a range of one index per instance."""
        outbox, marks = tables.outbox, tables.outbox_marks
        per_instance = (select(func.count()).select_from(outbox)
                        .where(outbox.c.instance == marks.c.instance,
                               outbox.c.id > marks.c.published_through)
                        .correlate(marks).scalar_subquery())
        async with self.database.transaction() as conn:
            return int(await conn.scalar(select(func.sum(per_instance)).select_from(marks)) or 0)

    async def control_state(self) -> dict[str, Any]:
        async with self.database.transaction() as conn:
            rows = (await conn.execute(select(tables.control_state))).mappings().all()
        return {row["key"]: row["value"] for row in rows}

    async def count_rejected_messages(self) -> int:
        async with self.database.transaction() as conn:
            return int(await conn.scalar(
                select(func.count()).select_from(tables.rejected_messages)) or 0)

    def _volume_query(self) -> Any:
        trades = tables.trades
        if self.database.backend == "sqlite":
            # SQLite keeps decimals as text; a float sum is close enough for a status page.
            notional: Any = cast(trades.c.quantity, Float) * cast(trades.c.price, Float)
        else:
            notional = trades.c.quantity * trades.c.price
        return select(trades.c.fee_asset, func.sum(notional)).group_by(trades.c.fee_asset)


_LISTED = tables.orders.c.status != OrderStatus.REJECTED.value


def _grouped(orders: list[Order]) -> list[list[Order]]:
    """Orders by the list they belong to, lists in the order of their first order."""
    lists: dict[str, list[Order]] = {}
    for order in orders:
        lists.setdefault(order.list_ref or order.order_id, []).append(order)
    return list(lists.values())


def _event(order: Order) -> OrderEvent:
    return OrderEvent(order.order_id, max(order.version, 1), order.status, None, order.updated_at)


if TYPE_CHECKING:  # mypy checks that the store keeps to the Protocol
    _CONFORMS: type[ReadModel] = Store
