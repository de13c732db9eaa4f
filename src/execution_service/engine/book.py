"""The order book taker orders walk: a real one when a depth feed keeps it current, else a
synthetic one around the last price of the symbol.

The synthetic levels come from a `BookShape` and sit on the symbol's tick grid. What this
service's own orders take from a level stays taken until the last price moves (a new
trade on the tape, or a step of the random walk): then the book is rebuilt around the new
price, as a real book refills. A real book (`apply`, from MARKET_DEPTH_CHANNEL) is walked
as it was last sent; what was taken from it stays taken until the next update, and it
gives way to the synthetic one when no update came for the live-price age.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from execution_service.domain.commands import BookUpdate
from execution_service.domain.orders import ZERO, Side
from execution_service.engine.filters import SymbolFilters
from execution_service.engine.models import BPS, BookShape


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    quantity: Decimal | None  # None: unlimited


@dataclass(slots=True)
class Walk:
    """What a taker order would get: quantity and value taken, level by level."""

    taken: list[tuple[int, Decimal, Decimal]] = field(default_factory=list)  # level, qty, price
    quantity: Decimal = ZERO
    notional: Decimal = ZERO

    def add(self, level: int, quantity: Decimal, price: Decimal) -> None:
        self.taken.append((level, quantity, price))
        self.quantity += quantity
        self.notional += quantity * price


@dataclass(slots=True)
class _Side:
    """One side of one symbol's book around `mid`; levels are built as walks reach them
    (most orders need only the first, and the random walk moves the price every order)."""

    mid: Decimal
    side: Side
    filters: SymbolFilters
    shape: BookShape
    levels: list[Level] = field(default_factory=list)
    used: list[Decimal] = field(default_factory=list)
    held: Decimal = ZERO  # quote units the built levels hold
    complete: bool = False  # no level beyond the last built one
    real: bool = False  # levels from a depth feed, not from the shape

    @classmethod
    def of_levels(cls, side: Side, filters: SymbolFilters, shape: BookShape,
             levels: list[tuple[Decimal, Decimal]]) -> _Side:
        best = levels[0][0] if levels else ZERO
        return cls(best, side, filters, shape, [Level(p, q) for p, q in levels],
                   [ZERO] * len(levels), complete=True, real=True)

    def level(self, index: int) -> Level | None:
        while len(self.levels) <= index and not self.complete:
            self._build_next()
        return self.levels[index] if index < len(self.levels) else None

    def _build_next(self) -> None:
        shape = self.shape
        index = len(self.levels)
        while True:
            if index >= shape.levels or (index and not shape.impact_bps):
                self.complete = True
                return
            offset = (shape.spread_bps + index * shape.level_bps) / BPS
            buy = self.side is Side.BUY
            price = self.filters.round_price(self.mid * (1 + offset) if buy else self.mid * (1 - offset),
                                             up=buy)
            if price <= 0:
                self.complete = True
                return
            if self.levels and price == self.levels[-1].price:
                index += 1  # a coarse tick: this level sits on the last one's price
                continue
            cumulative = shape.cumulative_notional(index)
            if cumulative is None:
                self.levels.append(Level(price, None))
            else:
                self.levels.append(Level(price, self.filters.floor_to_step(
                    (cumulative - self.held) / price)))
                self.held = cumulative
            self.used.append(ZERO)
            return


class SyntheticBooks:
    """One book per symbol and side: the real one while a depth feed keeps it current,
    else a synthetic one, rebuilt whenever the last price moves."""

    def __init__(self, shape: BookShape) -> None:
        self.shape = shape
        self._sides: dict[tuple[str, Side], _Side] = {}
        self._real: dict[tuple[str, Side], dict[Decimal, Decimal]] = {}  # price: quantity
        self._walked: dict[tuple[str, Side], _Side] = {}  # the real levels, as walked
        self._updated_ms: dict[str, int] = {}

    # The real book

    def apply(self, update: BookUpdate, filters: SymbolFilters, now_ms: int) -> None:
        """Take a depth message: a snapshot replaces the symbol's levels, a diff changes
        the ones it names. A taker BUY meets the asks, a SELL the bids."""
        for side, levels in ((Side.BUY, update.asks), (Side.SELL, update.bids)):
            key = (update.symbol, side)
            known = {} if update.snapshot else dict(self._real.get(key, {}))
            for price, quantity in levels:
                if quantity > 0:
                    known[price] = quantity
                else:
                    known.pop(price, None)
            self._real[key] = known
            ordered = sorted(known.items(), reverse=side is Side.SELL)  # best first
            self._walked[key] = _Side.of_levels(side, filters, self.shape, ordered)
        self._updated_ms[update.symbol] = now_ms

    def expire(self, symbol: str, now_ms: int, max_age_ms: int) -> None:
        """Forget a real book that no update kept current."""
        updated = self._updated_ms.get(symbol)
        if updated is not None and now_ms - updated > max_age_ms:
            del self._updated_ms[symbol]
            for side in Side:
                self._real.pop((symbol, side), None)
                self._walked.pop((symbol, side), None)

    def resting_at(self, symbol: str, side: Side, price: Decimal, mid: Decimal,
                   filters: SymbolFilters) -> Decimal:
        """What the book holds at `price` on the side a resting `side` order joins (a
        BUY joins the bids): the real book's level, else the synthetic one's; 0 at a price
        with no level (the order opens it)."""
        taker = Side.SELL if side is Side.BUY else Side.BUY
        real = self._real.get((symbol, taker))
        if real is not None:
            return real.get(price, ZERO)
        book = self._side(symbol, taker, mid, filters)
        for index in range(self.shape.levels):
            level = book.level(index)
            if level is None or (level.price < price if side is Side.BUY else level.price > price):
                break
            if level.price == price:
                return level.quantity or ZERO
        return ZERO

    # Both

    def best(self, symbol: str, side: Side, mid: Decimal, filters: SymbolFilters) -> Decimal:
        """The price a taker on `side` would get first (the best ask for a BUY)."""
        level = self._side(symbol, side, mid, filters).level(0)
        return level.price if level else mid

    def walk(
        self, symbol: str, side: Side, mid: Decimal, filters: SymbolFilters, quantity: Decimal,
        limit: Decimal | None = None, budget: Decimal | None = None, fee_rate: Decimal = ZERO,
    ) -> Walk:
        """Take up to `quantity`, at prices no worse than `limit`, spending at most `budget`
        (quote units, fee at `fee_rate` included; BUY only). Changes nothing: see `consume`."""
        book = self._side(symbol, side, mid, filters)
        walk = Walk()
        left = quantity
        index = 0
        while left > 0 and (level := book.level(index)) is not None:
            if limit is not None and (level.price > limit if side is Side.BUY else level.price < limit):
                break
            available = left if level.quantity is None else min(left, level.quantity - book.used[index])
            if budget is not None:
                affordable = (budget - walk.notional * (1 + fee_rate)) / (level.price * (1 + fee_rate))
                available = min(available, filters.floor_to_step(affordable))
                if available <= 0 and (level.quantity is None or book.used[index] < level.quantity):
                    break  # out of money, not out of depth
            if available > 0:
                walk.add(index, available, level.price)
                left -= available
            index += 1
        return walk

    def depth(self, symbol: str, side: Side, mid: Decimal, filters: SymbolFilters,
              count: int) -> list[Level]:
        """The first `count` levels a taker on `side` would meet, with what is left at each
        (what this service's orders took stays taken until the price moves). Changes
        nothing: a book around another price is built aside, not kept."""
        book = self._walked.get((symbol, side)) or self._sides.get((symbol, side))
        if book is None or (not book.real and book.mid != mid):
            book = _Side(mid, side, filters, self.shape)
        levels = []
        for index in range(count):
            level = book.level(index)
            if level is None:
                break
            left = None if level.quantity is None else level.quantity - book.used[index]
            if left is None or left > 0:
                levels.append(Level(level.price, left))
        return levels

    def consume(self, symbol: str, side: Side, walk: Walk) -> None:
        """Mark what `walk` took as used."""
        book = self._walked.get((symbol, side)) or self._sides[(symbol, side)]
        for index, quantity, _price in walk.taken:
            book.used[index] += quantity

    def _side(self, symbol: str, side: Side, mid: Decimal, filters: SymbolFilters) -> _Side:
        real = self._walked.get((symbol, side))
        if real is not None:
            return real
        book = self._sides.get((symbol, side))
        if book is None or book.mid != mid:
            book = self._sides[(symbol, side)] = _Side(mid, side, filters, self.shape)
        return book

