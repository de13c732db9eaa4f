"""Matching against the market: which resting orders a print or a book reaches, and how much.

The functions here decide and change no order; the exchange records what they decide (a
book crossing takes what it fills from the book it reads).
A trade on the tape fills resting limit orders at their own limit, as makers, best price
first and then oldest, up to the traded quantity (`FillMode`, and with a queue model the
queue ahead at the order's price: engine/queue.py). Stops trigger on a print at or
through their stop price.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from execution_service.domain.commands import BookUpdate, MarketTrade
from execution_service.domain.orders import ZERO, Order, OrderType, Side
from execution_service.engine.book import SyntheticBooks
from execution_service.engine.filters import SymbolFilters


class FillMode(StrEnum):
    """When a trade on the tape fills a resting limit order."""

    TRADE_THROUGH = "trade_through"  # only a trade beyond the limit (the queue ahead is unknown)
    TOUCH = "touch"  # a trade at the limit is enough
    OPTIMISTIC = "optimistic"  # touch, and fill in full whatever the trade's quantity


# The resting orders a tape trade can fill: a seller who took liquidity traded with the
# bids, a buyer with the asks; without a side, either may have been on the other end.
_RESTING_SIDES: dict[Side | None, tuple[Side, ...]] = {
    Side.SELL: (Side.BUY,), Side.BUY: (Side.SELL,), None: (Side.BUY, Side.SELL)}
_BUY_STOP_ABOVE = frozenset({OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT})


@dataclass(frozen=True, slots=True)
class Match:
    """What a print does to one resting order."""

    order: Order
    quantity: Decimal  # what fills at its limit (zero: nothing, though its queue may move)
    ahead: Decimal | None  # the queue ahead of it now, where that changed
    traded_here: Decimal  # what traded at its price, for the queue model's next depth


def tape_matches(resting: list[Order], trade: MarketTrade, mode: FillMode, queued: bool,
                 filters: SymbolFilters, priority: Callable[[Order], int]) -> Iterator[Match]:
    """What `trade` does to the `resting` orders it may reach, in the order they fill.
    With a queue model (`queued`), the queue at the price decides, not `mode`."""
    capacity = None if mode is FillMode.OPTIMISTIC else trade.quantity
    strict = mode is FillMode.TRADE_THROUGH and not queued
    for side in _RESTING_SIDES[trade.aggressor]:
        reached = [o for o in resting if o.side is side and crossed(o, trade.price, strict)]
        reached.sort(key=lambda o: (_better_first(o), priority(o)))
        yield from _side_matches(reached, trade.price, capacity, queued, filters)


def _side_matches(reached: list[Order], price: Decimal, capacity: Decimal | None, queued: bool,
                  filters: SymbolFilters) -> Iterator[Match]:
    left = capacity
    at_price: Decimal | None = None  # what traded at the price, for the queue there
    for order in reached:
        ahead = None
        traded = ZERO
        if queued and order.price == price:
            at_price = (left or ZERO) if at_price is None else at_price
            before = order.queue_ahead or ZERO  # it takes what is ahead first
            ahead, traded = max(ZERO, before - at_price), at_price
            quantity = min(order.remaining, max(ZERO, at_price - before))
        else:
            quantity = order.remaining if left is None else min(order.remaining, left)
            if queued and order.queue_ahead:  # traded through: the whole level went
                ahead = ZERO
        quantity = filters.floor_to_step(quantity)
        if quantity <= 0 and not queued:
            return
        yield Match(order, max(quantity, ZERO), ahead, traded)
        if left is not None and quantity > 0:
            left -= quantity


def crossing_fills(resting: list[Order], books: SyntheticBooks, reference: Decimal,
                   filters: SymbolFilters, priority: Callable[[Order], int]
                   ) -> Iterator[tuple[Order, Decimal]]:
    """The resting orders a real book crosses (asks at or below a bid's limit, bids at or
    above an ask's), each with what it fills at once, as an exchange matches them without
    waiting for a print: up to what is on offer at or through its limit, best price first,
    then oldest. What each takes is taken from `books` (until the next update)."""
    if not resting:
        return
    # The best ask and bid once per message: fills only take from the book, so an order
    # not crossed before them is not crossed after.
    best = {side: books.depth(resting[0].symbol, side, reference, filters, 1) for side in Side}
    reached = by_priority([o for o in resting
                           if best[o.side] and crossed(o, best[o.side][0].price, strict=False)],
                          priority)
    for order in reached:
        assert order.price is not None
        # A resting BUY meets the asks, the side a taker BUY walks (and a SELL the bids).
        walk = books.walk(order.symbol, order.side, reference, filters,
                          filters.floor_to_step(order.remaining), order.price)
        quantity = filters.floor_to_step(walk.quantity)
        if quantity <= 0:
            continue
        if quantity != walk.quantity:
            walk = books.walk(order.symbol, order.side, reference, filters, quantity, order.price)
        books.consume(order.symbol, order.side, walk)
        yield order, quantity


def _better_first(order: Order) -> Decimal:
    """The sort key that puts the best-priced resting order first: highest bid, lowest ask."""
    assert order.price is not None
    return -order.price if order.side is Side.BUY else order.price


def by_priority(orders: list[Order], priority: Callable[[Order], int]) -> list[Order]:
    """`orders` best price first, then oldest."""
    return sorted(orders, key=lambda o: (_better_first(o), priority(o)))


def stop_hit(order: Order, price: Decimal) -> bool:
    """Whether a trade at `price` reaches the stop: a stop-loss buy above, a take-profit buy
    below, and the other way round for sells."""
    stop = order.stop_price
    assert stop is not None
    above = (order.order_type in _BUY_STOP_ABOVE) == (order.side is Side.BUY)
    return price >= stop if above else price <= stop


def crossed(order: Order, price: Decimal, strict: bool) -> bool:
    """Whether a print at `price` reaches the resting order's limit (through it, if `strict`)."""
    limit = order.price
    assert limit is not None
    if order.side is Side.BUY:
        return price < limit if strict else price <= limit
    return price > limit if strict else price >= limit


def names_level(update: BookUpdate, order: Order) -> bool:
    """Whether a depth message says what the book holds at the order's price on the side
    it rests on (a BUY rests among the bids): a diff that lists the price, a snapshot whose
    levels reach it (a level within them and not listed is empty)."""
    prices = [price for price, _ in (update.bids if order.side is Side.BUY else update.asks)]
    if not update.snapshot:
        return order.price in prices
    return bool(prices) and min(prices) <= order.price <= max(prices)  # type: ignore[operator]
