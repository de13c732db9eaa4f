"""Where each open order waits: for a timer, for its stop price, or on the book.

The index holds the exchange's open orders by id and, per symbol, the resting limit orders
in time priority and the stops not yet triggered, so that a close is one lookup, not a
scan. Timers (latency delays, good-till-date) are a heap; a timer whose order has closed
or moved on is skipped when it comes due.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum

from execution_service.domain.orders import Order


class Timer(StrEnum):
    ARRIVE = "arrive"  # a PENDING_NEW order reaches the exchange
    TAKE = "take"  # a marketable order's fill delay is over
    EXPIRE = "expire"  # good-till-date


class OrderIndex:
    """The open orders and where each waits."""

    def __init__(self) -> None:
        self._open: dict[str, Order] = {}
        self._resting: dict[str, dict[str, Order]] = {}  # per symbol, by id, in arrival order
        self._stops: dict[str, dict[str, Order]] = {}  # per symbol: stops waiting for their price
        self._timers: list[tuple[datetime, int, Timer, str]] = []
        self._priority: dict[str, int] = {}  # time priority of resting orders
        self._lists: dict[str, set[str]] = {}  # an order list's open orders, by its ref
        self._counter = itertools.count()

    def clear(self) -> None:
        for held in (self._open, self._resting, self._stops, self._priority, self._lists):
            held.clear()
        self._timers.clear()

    def get(self, order_id: str) -> Order | None:
        return self._open.get(order_id)

    def orders(self) -> list[Order]:
        return list(self._open.values())

    def open(self, order: Order) -> None:
        self._open[order.order_id] = order
        if order.list_ref is not None:
            self._lists.setdefault(order.list_ref, set()).add(order.order_id)

    def siblings(self, order: Order) -> list[Order]:
        """The other open orders of the order's list, oldest first."""
        if order.list_ref is None:
            return []
        others = [self._open[order_id] for order_id in self._lists.get(order.list_ref, ())
                  if order_id != order.order_id and order_id in self._open]
        return sorted(others, key=lambda other: other.created_at)

    def peers(self, order: Order) -> list[Order]:
        """The orders of its OCO: the other open orders of its list that wait, or not,
        as it does (an OTOCO's working order has none; its two pending orders are peers)."""
        return [other for other in self.siblings(order) if other.waits_for == order.waits_for]

    def waiting_on(self, order: Order) -> list[Order]:
        """The pending orders of its list waiting for it to fill, oldest first."""
        return [other for other in self.siblings(order)
                if other.waits_for == order.order_id and other.waiting]

    def rest(self, order: Order) -> None:
        """The order joins the book behind what rests already (it keeps a priority it had)."""
        self._resting.setdefault(order.symbol, {})[order.order_id] = order
        self._priority.setdefault(order.order_id, next(self._counter))

    def wait_for_stop(self, order: Order) -> None:
        self._stops.setdefault(order.symbol, {})[order.order_id] = order

    def stop_reached(self, order: Order) -> None:
        del self._stops[order.symbol][order.order_id]

    def close(self, order: Order) -> None:
        self._open.pop(order.order_id, None)
        if order.list_ref is not None and (members := self._lists.get(order.list_ref)):
            members.discard(order.order_id)
            if not members:
                del self._lists[order.list_ref]
        self._priority.pop(order.order_id, None)
        for index in (self._resting, self._stops):
            index.get(order.symbol, {}).pop(order.order_id, None)

    def resting(self, symbol: str) -> list[Order]:
        """The limit orders resting on `symbol`'s book, oldest first."""
        return list(self._resting.get(symbol, {}).values())

    def stops(self, symbol: str) -> list[Order]:
        return list(self._stops.get(symbol, {}).values())

    def priority(self, order: Order) -> int:
        """Its place in time among resting orders: lower is older."""
        return self._priority[order.order_id]

    def waiting_symbols(self) -> set[str]:
        """The symbols with orders waiting on the tape: resting or stops."""
        return {symbol for index in (self._resting, self._stops)
                for symbol, orders in index.items() if orders}

    def schedule(self, due: datetime, kind: Timer, order: Order) -> None:
        heapq.heappush(self._timers, (due, next(self._counter), kind, order.order_id))

    def next_due(self) -> datetime | None:
        """When the earliest timer runs out (perhaps one no longer needed)."""
        return self._timers[0][0] if self._timers else None

    def due(self, now: datetime) -> Iterator[tuple[Timer, Order, datetime]]:
        """The timers due by `now`, oldest first, each with its order if still open. (A
        timer scheduled while iterating is seen if it too is due.)"""
        while self._timers and self._timers[0][0] <= now:
            due, _, kind, order_id = heapq.heappop(self._timers)
            order = self._open.get(order_id)
            if order is not None:
                yield kind, order, due
